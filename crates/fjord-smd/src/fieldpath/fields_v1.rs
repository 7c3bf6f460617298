//! `fieldsV1` encoding: the JSON trie stored in `metadata.managedFields[].fieldsV1`. Writing
//! reproduces SMD's `Set.ToJSON` byte for byte (`.` first, then children in path-element order);
//! reading validates every key so malformed entries are reported, not half-decoded.

use super::element::PathElement;
use super::set::FieldSet;
use serde_json::{Map, Value};

/// Why a `fieldsV1` document could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid fieldsV1 at {at:?}: {reason}")]
pub struct FieldsV1Error {
    /// The object key (or chain of keys) where decoding failed.
    pub at: String,
    /// What was wrong.
    pub reason: String,
}

impl FieldSet {
    /// Encodes the set as a `fieldsV1` JSON object.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(encode_node(self, false))
    }

    /// Decodes a `fieldsV1` JSON object.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldsV1Error> {
        let Value::Object(m) = v else {
            return Err(FieldsV1Error {
                at: String::new(),
                reason: "expected a JSON object".into(),
            });
        };
        let mut set = FieldSet::new();
        decode_node(m, &mut set, "")?;
        set.compact();
        Ok(set)
    }

    /// Decodes a `fieldsV1` document given as JSON text.
    pub fn from_fields_v1_str(s: &str) -> Result<FieldSet, FieldsV1Error> {
        let v: Value = serde_json::from_str(s).map_err(|e| FieldsV1Error {
            at: String::new(),
            reason: e.to_string(),
        })?;
        FieldSet::from_fields_v1(&v)
    }
}

fn encode_node(set: &FieldSet, self_member: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if self_member {
        out.insert(".".into(), Value::Object(Map::new()));
    }
    let (mut i, mut j) = (0, 0);
    let (m, c) = (&set.members, &set.children);
    while i < m.len() || j < c.len() {
        let take_member = match (m.get(i), c.get(j)) {
            (Some(a), Some(b)) => a < &b.0,
            (Some(_), None) => true,
            _ => false,
        };
        if take_member {
            out.insert(m[i].to_fields_v1_key(), Value::Object(Map::new()));
            i += 1;
        } else {
            let (pe, child) = &c[j];
            let is_member = m.get(i).is_some_and(|x| x == pe);
            if is_member {
                i += 1;
            }
            out.insert(
                pe.to_fields_v1_key(),
                Value::Object(encode_node(child, is_member)),
            );
            j += 1;
        }
    }
    out
}

fn decode_node(m: &Map<String, Value>, set: &mut FieldSet, at: &str) -> Result<(), FieldsV1Error> {
    let here = |k: &str| format!("{at}/{k}");
    for (k, v) in m {
        if k == "." {
            continue;
        }
        let pe = parse_key(k).map_err(|reason| FieldsV1Error {
            at: here(k),
            reason,
        })?;
        let Value::Object(child) = v else {
            return Err(FieldsV1Error {
                at: here(k),
                reason: "expected a JSON object".into(),
            });
        };
        if child.is_empty() {
            set.insert_member(pe);
            continue;
        }
        if let Some(dot) = child.get(".") {
            if dot.as_object().is_none_or(|o| !o.is_empty()) {
                return Err(FieldsV1Error {
                    at: format!("{}/.", here(k)),
                    reason: "\".\" must map to an empty object".into(),
                });
            }
            set.insert_member(pe.clone());
        }
        if child.len() > usize::from(child.contains_key(".")) {
            decode_node(child, set.child_mut(&pe), &here(k))?;
        }
    }
    Ok(())
}

/// Parses one `fieldsV1` key (`f:`, `k:`, `v:`, `i:`).
pub(crate) fn parse_key(k: &str) -> Result<PathElement, String> {
    let (prefix, rest) = k
        .split_at_checked(2)
        .ok_or_else(|| format!("key {k:?} is too short"))?;
    match prefix {
        "f:" => Ok(PathElement::Field(rest.to_string())),
        "k:" => {
            let v: Value = serde_json::from_str(rest).map_err(|e| format!("key {k:?}: {e}"))?;
            let Value::Object(fields) = v else {
                return Err(format!("key {k:?}: k: must hold a JSON object"));
            };
            if fields.is_empty() {
                return Err(format!("key {k:?}: k: must name at least one field"));
            }
            let mut fields: Vec<(String, Value)> = fields.into_iter().collect();
            for (_, v) in &mut fields {
                crate::value::normalize_numbers(v);
            }
            Ok(PathElement::key(fields))
        }
        "v:" => {
            let mut v: Value = serde_json::from_str(rest).map_err(|e| format!("key {k:?}: {e}"))?;
            crate::value::normalize_numbers(&mut v);
            Ok(PathElement::Value(v))
        }
        "i:" => rest
            .parse::<i64>()
            .map(PathElement::Index)
            .map_err(|e| format!("key {k:?}: {e}")),
        _ => Err(format!("key {k:?} has an unknown prefix")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_byte_identical() {
        let text = r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{}},"f:tags":{"v:\"a\"":{},"v:\"b\"":{}}}}"#;
        let set = FieldSet::from_fields_v1_str(text).unwrap();
        assert_eq!(serde_json::to_string(&set.to_fields_v1()).unwrap(), text);
    }

    #[test]
    fn lone_dot_is_a_member() {
        let set = FieldSet::from_fields_v1_str(r#"{"f:a":{".":{}}}"#).unwrap();
        assert!(set.contains(&[PathElement::Field("a".into())]));
        assert_eq!(set.to_fields_v1().to_string(), r#"{"f:a":{}}"#);
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(FieldSet::from_fields_v1_str(r#"{"x:a":{}}"#).is_err());
        assert!(FieldSet::from_fields_v1_str(r#"{"k:[1]":{}}"#).is_err());
        assert!(FieldSet::from_fields_v1_str(r#"{"f:a":1}"#).is_err());
        assert!(FieldSet::from_fields_v1_str(r#"{"f:a":{".":{"f:b":{}}}}"#).is_err());
    }
}
