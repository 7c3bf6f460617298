//! Swagger 2.0 JSON to gnostic's `openapi.v2.Document` protobuf, the only form in which
//! client-go (and so kubectl 1.27–1.28) reads `/openapi/v2`.
//!
//! The walk is driven by gnostic's own message definitions ([`gnostic_schema`]): a Swagger key
//! `basePath` is gnostic field `base_path`, `$ref` is `_ref`, `x-*` keys become `vendor_extension`
//! `NamedAny` entries whose `Any.yaml` holds the value (as JSON text, which is valid YAML). Only the
//! places where gnostic's messages differ from the JSON shape are written out here: maps
//! (`Named*` entries), and the `oneof` wrappers chosen by `$ref`, `in`, `type` or the value's type.

mod gnostic_schema;
mod minimal;

pub use minimal::{ServedKind, field_validation_swagger};

use serde_json::{Map, Value};

use crate::error::EncodeError;
use crate::wire::MessageWriter;
use gnostic_schema::{GnosticSchema, ProtoField};

/// The `Accept` header client-go sends for `GET /openapi/v2` (it only ever asks for protobuf).
pub const OPENAPI_V2_PROTOBUF_ACCEPT: &str =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The `Content-Type` to answer `/openapi/v2` protobuf with. Not the Accept value: Go's
/// `mime.ParseMediaType` rejects its `@`, and client-go then fails with "mime: unexpected content
/// after media subtype" (measured with kubectl 1.27/1.28).
pub const OPENAPI_V2_PROTOBUF_CONTENT_TYPE: &str = "application/octet-stream";

/// Encodes a Swagger 2.0 document as gnostic `openapi.v2.Document` protobuf bytes.
///
/// Supports every Swagger 2.0 object gnostic models (info, paths and operations, parameters of all
/// kinds, responses, definitions and schemas with `$ref`, `type`, `items`, `properties`,
/// `additionalProperties`, `allOf`, security) and vendor extensions (`x-kubernetes-*`) at every level
/// that allows them. Keys Swagger 2.0 does not define are reported as [`EncodeError::UnsupportedKey`].
pub fn encode_openapi_v2(swagger: &Value) -> Result<Vec<u8>, EncodeError> {
    let encoder = Encoder {
        schema: GnosticSchema::get(),
    };
    Ok(encoder.message("Document", swagger, "#")?.into_bytes())
}

struct Encoder {
    schema: &'static GnosticSchema,
}

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, EncodeError> {
    value.as_object().ok_or_else(|| EncodeError::WrongType {
        path: path.to_string(),
        expected: "an object",
    })
}

fn child(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// Swagger's JSON key to gnostic's proto field name: `basePath` → `base_path`, `$ref` → `_ref`.
fn proto_name(key: &str) -> String {
    if key == "$ref" {
        return "_ref".to_string();
    }
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Encoder {
    fn field(
        &self,
        message: &'static str,
        name: &str,
        path: &str,
    ) -> Result<&'static ProtoField, EncodeError> {
        self.schema
            .field(message, name)
            .ok_or_else(|| EncodeError::UnsupportedKey {
                path: path.to_string(),
                key: name.to_string(),
            })
    }

    /// Encodes `value` as gnostic message `message`.
    fn message(
        &self,
        message: &'static str,
        value: &Value,
        path: &str,
    ) -> Result<MessageWriter, EncodeError> {
        match message {
            "Any" => {
                let mut w = MessageWriter::new();
                w.string(self.field("Any", "yaml", path)?.number, &value.to_string());
                Ok(w)
            }
            "Paths" => self.keyed(message, value, path, "path", true),
            "Responses" => self.keyed(message, value, path, "response_code", true),
            "ParametersItem" => self.reference_or(message, value, path, "parameter"),
            "ResponseValue" => self.reference_or(message, value, path, "response"),
            "Parameter" => {
                let member = if self.location(value, path)? == "body" {
                    "body_parameter"
                } else {
                    "non_body_parameter"
                };
                self.oneof(message, member, value, path)
            }
            "NonBodyParameter" => {
                let member = match self.location(value, path)? {
                    "header" => "header_parameter_sub_schema",
                    "formData" => "form_data_parameter_sub_schema",
                    "query" => "query_parameter_sub_schema",
                    "path" => "path_parameter_sub_schema",
                    _ => {
                        return Err(EncodeError::WrongType {
                            path: child(path, "in"),
                            expected: "one of body, header, formData, query, path",
                        });
                    }
                };
                self.oneof(message, member, value, path)
            }
            "SchemaItem" => {
                let member = if value.get("type") == Some(&Value::from("file")) {
                    "file_schema"
                } else {
                    "schema"
                };
                self.oneof(message, member, value, path)
            }
            "AdditionalPropertiesItem" => match value {
                Value::Bool(allowed) => {
                    let mut w = MessageWriter::new();
                    w.bool_always(self.field(message, "boolean", path)?.number, *allowed);
                    Ok(w)
                }
                _ => self.oneof(message, "schema", value, path),
            },
            "SecurityDefinitionsItem" => {
                let kind = value
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let flow = value
                    .get("flow")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let member = match (kind, flow) {
                    ("basic", _) => "basic_authentication_security",
                    ("apiKey", _) => "api_key_security",
                    ("oauth2", "implicit") => "oauth2_implicit_security",
                    ("oauth2", "password") => "oauth2_password_security",
                    ("oauth2", "application") => "oauth2_application_security",
                    ("oauth2", "accessCode") => "oauth2_access_code_security",
                    _ => {
                        return Err(EncodeError::WrongType {
                            path: child(path, "type"),
                            expected: "basic, apiKey or oauth2 with a known flow",
                        });
                    }
                };
                self.oneof(message, member, value, path)
            }
            // A bare value or a list of values stands for the single repeated field.
            "TypeItem" | "StringArray" => self.single_list(message, "value", value, path),
            "ItemsItem" => self.single_list(message, "schema", value, path),
            _ if self.schema.is_map(message) => {
                self.keyed(message, value, path, "additional_properties", false)
            }
            _ => self.fields(message, value, path),
        }
    }

    /// A plain object: each key is the proto field of the same (snake_case) name; `x-*` keys are
    /// vendor extensions.
    fn fields(
        &self,
        message: &'static str,
        value: &Value,
        path: &str,
    ) -> Result<MessageWriter, EncodeError> {
        if !self.schema.has_message(message) {
            return Err(EncodeError::UnsupportedKey {
                path: path.to_string(),
                key: message.to_string(),
            });
        }
        let mut w = MessageWriter::new();
        for (key, value) in object(value, path)? {
            let key_path = child(path, key);
            if key.starts_with("x-") {
                let ext = self.field(message, "vendor_extension", &key_path)?;
                let entry = self.named(ext.type_name, key, value, &key_path)?;
                w.message(ext.number, entry);
                continue;
            }
            let field = self
                .schema
                .field(message, &proto_name(key))
                .ok_or_else(|| EncodeError::UnsupportedKey {
                    path: path.to_string(),
                    key: key.clone(),
                })?;
            self.write(&mut w, field, value, &key_path)?;
        }
        Ok(w)
    }

    /// Writes one field's value (each element, for a repeated field).
    fn write(
        &self,
        w: &mut MessageWriter,
        field: &ProtoField,
        value: &Value,
        path: &str,
    ) -> Result<(), EncodeError> {
        if field.repeated {
            let items = value.as_array().ok_or_else(|| EncodeError::WrongType {
                path: path.to_string(),
                expected: "an array",
            })?;
            for (i, item) in items.iter().enumerate() {
                self.write_one(w, field, item, &format!("{path}/{i}"))?;
            }
            return Ok(());
        }
        self.write_one(w, field, value, path)
    }

    fn write_one(
        &self,
        w: &mut MessageWriter,
        field: &ProtoField,
        value: &Value,
        path: &str,
    ) -> Result<(), EncodeError> {
        let wrong = |expected| EncodeError::WrongType {
            path: path.to_string(),
            expected,
        };
        match field.type_name {
            "string" => {
                let s = value.as_str().ok_or_else(|| wrong("a string"))?;
                if field.repeated {
                    w.bytes(field.number, s.as_bytes());
                } else {
                    w.string(field.number, s);
                }
            }
            "bool" => w.bool(
                field.number,
                value.as_bool().ok_or_else(|| wrong("a boolean"))?,
            ),
            "int64" => w.int64(
                field.number,
                value.as_i64().ok_or_else(|| wrong("an integer"))?,
            ),
            "double" => w.double(
                field.number,
                value.as_f64().ok_or_else(|| wrong("a number"))?,
            ),
            message => {
                let encoded = self.message(message, value, path)?;
                w.message(field.number, encoded);
            }
        }
        Ok(())
    }

    /// A map-shaped object: each entry becomes a `Named*{name, value}` in `entries_field`;
    /// with `extensions`, `x-*` keys go to the message's `vendor_extension` instead.
    fn keyed(
        &self,
        message: &'static str,
        value: &Value,
        path: &str,
        entries_field: &str,
        extensions: bool,
    ) -> Result<MessageWriter, EncodeError> {
        let entries = self.field(message, entries_field, path)?;
        let mut w = MessageWriter::new();
        for (key, value) in object(value, path)? {
            let key_path = child(path, key);
            let field = if extensions && key.starts_with("x-") {
                self.field(message, "vendor_extension", &key_path)?
            } else {
                entries
            };
            let entry = self.named(field.type_name, key, value, &key_path)?;
            w.message(field.number, entry);
        }
        Ok(w)
    }

    /// A `Named*` entry: `name = 1`, `value = 2` of the entry type's value type.
    fn named(
        &self,
        named: &'static str,
        key: &str,
        value: &Value,
        path: &str,
    ) -> Result<MessageWriter, EncodeError> {
        let mut w = MessageWriter::new();
        w.string(self.field(named, "name", path)?.number, key);
        let value_field = self.field(named, "value", path)?;
        if value_field.type_name == "string" {
            // NamedString (oauth2 scopes): the value is written even when empty.
            let s = value.as_str().ok_or_else(|| EncodeError::WrongType {
                path: path.to_string(),
                expected: "a string",
            })?;
            w.bytes(value_field.number, s.as_bytes());
        } else {
            self.write_one(&mut w, value_field, value, path)?;
        }
        Ok(w)
    }

    /// `{"$ref": ...}` → the `json_reference` member, anything else → `member`.
    fn reference_or(
        &self,
        message: &'static str,
        value: &Value,
        path: &str,
        member: &str,
    ) -> Result<MessageWriter, EncodeError> {
        let member = if object(value, path)?.contains_key("$ref") {
            "json_reference"
        } else {
            member
        };
        self.oneof(message, member, value, path)
    }

    fn oneof(
        &self,
        message: &'static str,
        member: &str,
        value: &Value,
        path: &str,
    ) -> Result<MessageWriter, EncodeError> {
        let field = self.field(message, member, path)?;
        let encoded = self.message(field.type_name, value, path)?;
        let mut w = MessageWriter::new();
        w.message(field.number, encoded);
        Ok(w)
    }

    /// Messages holding one repeated field that Swagger writes either as one value or as a list.
    fn single_list(
        &self,
        message: &'static str,
        member: &str,
        value: &Value,
        path: &str,
    ) -> Result<MessageWriter, EncodeError> {
        let field = self.field(message, member, path)?;
        let mut w = MessageWriter::new();
        match value {
            Value::Array(_) => self.write(&mut w, field, value, path)?,
            single => self.write_one(&mut w, field, single, path)?,
        }
        Ok(w)
    }

    fn location<'v>(&self, value: &'v Value, path: &str) -> Result<&'v str, EncodeError> {
        object(value, path)?
            .get("in")
            .and_then(Value::as_str)
            .ok_or_else(|| EncodeError::Missing {
                path: path.to_string(),
                member: "in",
            })
    }
}

#[cfg(test)]
mod tests;
