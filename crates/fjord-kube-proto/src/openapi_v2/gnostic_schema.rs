//! gnostic's `openapi.v2` message definitions, read from the vendored `data/gnostic/OpenAPIv2.proto`
//! so that field numbers and types come from gnostic's own file rather than from constants here.
//!
//! Only the subset of proto3 syntax that file uses is understood: `message X { ... }`, fields
//! `[repeated] Type name = N;` and `oneof oneof { ... }` blocks.

use std::collections::HashMap;
use std::sync::OnceLock;

const GNOSTIC_PROTO: &str = include_str!("../../data/gnostic/OpenAPIv2.proto");

/// One field of a gnostic message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtoField {
    pub(crate) number: u32,
    pub(crate) type_name: &'static str,
    pub(crate) repeated: bool,
    /// Member of a `oneof`: written even at its default value.
    pub(crate) in_oneof: bool,
}

/// gnostic's messages: name → field name → field.
#[derive(Debug, Default)]
pub(crate) struct GnosticSchema {
    messages: HashMap<&'static str, HashMap<&'static str, ProtoField>>,
}

impl GnosticSchema {
    pub(crate) fn get() -> &'static GnosticSchema {
        static SCHEMA: OnceLock<GnosticSchema> = OnceLock::new();
        SCHEMA.get_or_init(|| GnosticSchema::parse(GNOSTIC_PROTO))
    }

    pub(crate) fn field(&self, message: &str, field: &str) -> Option<&ProtoField> {
        self.messages.get(message)?.get(field)
    }

    /// A map-shaped message: its only field is `repeated Named* additional_properties`.
    pub(crate) fn is_map(&self, message: &str) -> bool {
        self.messages
            .get(message)
            .is_some_and(|fields| fields.len() == 1 && fields.contains_key("additional_properties"))
    }

    pub(crate) fn has_message(&self, message: &str) -> bool {
        self.messages.contains_key(message)
    }

    fn parse(text: &'static str) -> GnosticSchema {
        let mut schema = GnosticSchema::default();
        let mut current: Option<&'static str> = None;
        let mut in_oneof = false;
        for line in text.lines() {
            let line = line.split("//").next().unwrap_or("").trim();
            if let Some(rest) = line.strip_prefix("message ") {
                let name = rest.trim_end_matches('{').trim();
                schema.messages.insert(name, HashMap::new());
                current = Some(name);
            } else if line.starts_with("oneof ") {
                in_oneof = true;
            } else if line == "}" {
                if in_oneof {
                    in_oneof = false;
                } else {
                    current = None;
                }
            } else if let (Some(message), Some(decl)) = (current, line.strip_suffix(';')) {
                let words: Vec<&'static str> = decl.split_whitespace().collect();
                let (repeated, words) = match words.as_slice() {
                    ["repeated", rest @ ..] => (true, rest),
                    rest => (false, rest),
                };
                if let [type_name, name, "=", number] = words
                    && let (Ok(number), Some(fields)) =
                        (number.parse(), schema.messages.get_mut(message))
                {
                    fields.insert(
                        *name,
                        ProtoField {
                            number,
                            type_name,
                            repeated,
                            in_oneof,
                        },
                    );
                }
            }
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_proto_yields_known_field_numbers() {
        let s = GnosticSchema::get();
        assert_eq!(s.field("Document", "paths").unwrap().number, 8);
        assert_eq!(s.field("Operation", "vendor_extension").unwrap().number, 13);
        let ext = s.field("Schema", "vendor_extension").unwrap();
        assert_eq!(
            (ext.number, ext.type_name, ext.repeated),
            (31, "NamedAny", true)
        );
        let query = s
            .field("NonBodyParameter", "query_parameter_sub_schema")
            .unwrap();
        assert_eq!((query.number, query.in_oneof), (3, true));
        assert_eq!(
            s.field("QueryParameterSubSchema", "name").unwrap().number,
            4
        );
        assert_eq!(
            s.field("HeaderParameterSubSchema", "type").unwrap().number,
            5
        );
        assert!(s.field("Any", "yaml").is_some() && !s.field("Any", "yaml").unwrap().in_oneof);
    }
}
