//! Path elements: one step from a node to a child (`f:`, `k:`, `v:`, `i:`), ordered exactly as
//! structured-merge-diff orders them (field names < keys < values < indices), because that order
//! decides the byte layout of `fieldsV1`.

use crate::value;
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// One step of a field path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A struct field or a map key (`f:<name>`).
    Field(String),
    /// An item of an associative list, named by its key fields sorted by name (`k:{...}`).
    Key(Vec<(String, Value)>),
    /// An item of a set list, named by its value (`v:<json>`).
    Value(Value),
    /// An item of an atomic list, named by its position (`i:<n>`).
    Index(i64),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `fieldsV1` object key for this element (`f:name`, `k:{"name":"x"}`, `v:1`, `i:0`).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut out = String::from("k:{");
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    value::write_go_string(name, &mut out);
                    out.push(':');
                    value::write_go_json(v, &mut out);
                }
                out.push('}');
                out
            }
            PathElement::Value(v) => format!("v:{}", value::go_json(v)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Builds a key element, sorting the fields by name.
    pub fn key(mut fields: Vec<(String, Value)>) -> Self {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(fields)
    }
}

fn compare_keys(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b) {
        let c = an.cmp(bn);
        if c != Ordering::Equal {
            return c;
        }
        let c = value::compare(av, bv);
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.as_bytes().cmp(b.as_bytes()),
            (PathElement::Key(a), PathElement::Key(b)) => compare_keys(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => value::compare(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

/// The human form used in conflict messages: `.name`, `[k=v,k2=v2]`, `[=v]`, `[3]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                f.write_str("[")?;
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}={}", value::go_json(v))?;
                }
                f.write_str("]")
            }
            PathElement::Value(v) => write!(f, "[={}]", value::go_json(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the object root: a sequence of path elements.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FieldPath(pub Vec<PathElement>);

impl FieldPath {
    /// A path of field names only, written with dots: `"spec.finalizers"` or `".status"`.
    pub fn from_dotted(path: &str) -> Self {
        FieldPath(
            path.split('.')
                .filter(|s| !s.is_empty())
                .map(|s| PathElement::Field(s.to_string()))
                .collect(),
        )
    }

    /// The elements of the path.
    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

/// Renders a slice of elements like [`FieldPath`]'s `Display`.
pub(crate) fn path_string(path: &[PathElement]) -> String {
    let mut s = String::new();
    for pe in path {
        s.push_str(&pe.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_is_fields_then_keys_then_values() {
        let mut v = [
            PathElement::Value(json!("a")),
            PathElement::key(vec![("name".into(), json!("x"))]),
            PathElement::Field("b".into()),
            PathElement::Field("a".into()),
        ];
        v.sort();
        let keys: Vec<String> = v.iter().map(|p| p.to_fields_v1_key()).collect();
        assert_eq!(keys, ["f:a", "f:b", r#"k:{"name":"x"}"#, r#"v:"a""#]);
    }

    #[test]
    fn display_matches_conflict_paths() {
        let p = FieldPath(vec![
            PathElement::Field("spec".into()),
            PathElement::key(vec![
                ("protocol".into(), json!("TCP")),
                ("port".into(), json!(80)),
            ]),
            PathElement::Value(json!("2")),
        ]);
        assert_eq!(p.to_string(), r#".spec[port=80,protocol="TCP"][="2"]"#);
    }
}
