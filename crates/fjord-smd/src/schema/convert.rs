//! OpenAPI / JSON-schema → SMD schema document, following kube-openapi's `schemaconv` rules:
//! list-type markers (atomic / set / map + keys), patch-strategy merge as a fallback, unmarked
//! arrays atomic, `x-kubernetes-map-type`, `additionalProperties` maps, untyped for
//! int-or-string / Quantity / non-trivial string formats / typeless nodes, RawExtension as
//! untyped-atomic, `$ref` as a named type. Output uses structured-merge-diff's document shape
//! so it can be compared with the conformance fixture `schema.json`.

use super::{SchemaError, UNTYPED_ATOMIC, UNTYPED_DEDUCED};
use serde_json::{Map, Value, json};

/// Key fields whose `+default` markers the JSON-schema rendering dropped (k8s.io/api v0.33.0):
/// SMD fills a missing list-map key from these.
const KEY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.LocalObjectReference", "name", ""),
];

const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";

pub(crate) struct Converter<'a> {
    /// Definitions `$ref`s point into (for field-level map-type overrides).
    pub defs: Option<&'a Map<String, Value>>,
    /// The definition being converted (for key defaults and errors).
    pub type_name: String,
}

impl Converter<'_> {
    fn err(&self, at: &str, reason: impl Into<String>) -> SchemaError {
        SchemaError::ConvertFailed {
            type_name: self.type_name.clone(),
            at: at.to_string(),
            reason: reason.into(),
        }
    }

    /// Converts a schema node used as a field / element type into a TypeRef value.
    pub fn type_ref(&self, node: &Value, at: &str) -> Result<Value, SchemaError> {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            if name == RAW_EXTENSION {
                return Ok(json!({"namedType": UNTYPED_ATOMIC}));
            }
            if let Some(mt) = node.get("x-kubernetes-map-type").and_then(Value::as_str) {
                // Field-level override: inline a copy of the target with the new relationship.
                let target = self
                    .defs
                    .and_then(|d| d.get(name))
                    .ok_or_else(|| self.err(at, format!("$ref to unknown definition {name}")))?;
                let inner = Converter {
                    defs: self.defs,
                    type_name: name.to_string(),
                };
                let mut atom = inner.atom(target, at)?;
                if let Some(Value::Object(m)) = atom.get_mut("map") {
                    let rel = if mt == "atomic" {
                        "atomic"
                    } else {
                        "separable"
                    };
                    m.insert("elementRelationship".into(), json!(rel));
                }
                return Ok(Value::Object(atom));
            }
            return Ok(json!({"namedType": name}));
        }
        if is_deduced(node) {
            return Ok(json!({"namedType": UNTYPED_DEDUCED}));
        }
        Ok(Value::Object(self.atom(node, at)?))
    }

    /// Converts a schema node into an atom (`{"scalar": ..}`, `{"list": ..}`, `{"map": ..}`).
    pub fn atom(&self, node: &Value, at: &str) -> Result<Map<String, Value>, SchemaError> {
        let mut out = Map::new();
        if node.get("oneOf").is_some()
            || node.get("anyOf").is_some()
            || node
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                == Some(true)
        {
            out.insert("scalar".into(), json!("untyped"));
            return Ok(out);
        }
        match node_type(node) {
            Some("object") => {
                out.insert("map".into(), Value::Object(self.map(node, at)?));
            }
            Some("array") => {
                out.insert("list".into(), Value::Object(self.list(node, at)?));
            }
            Some("string") => {
                let format = node.get("format").and_then(Value::as_str).unwrap_or("");
                let kind = if format.is_empty() || format == "byte" {
                    "string"
                } else {
                    "untyped"
                };
                out.insert("scalar".into(), json!(kind));
            }
            Some("integer") | Some("number") => {
                out.insert("scalar".into(), json!("numeric"));
            }
            Some("boolean") => {
                out.insert("scalar".into(), json!("boolean"));
            }
            Some(other) => return Err(self.err(at, format!("unsupported type {other:?}"))),
            None => return Ok(deduced_atom()),
        }
        Ok(out)
    }

    fn map(&self, node: &Value, at: &str) -> Result<Map<String, Value>, SchemaError> {
        let mut m = Map::new();
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            let mut names: Vec<&String> = props.keys().collect();
            names.sort();
            let mut fields = Vec::with_capacity(names.len());
            for name in names {
                let prop = &props[name.as_str()];
                let ty = self.type_ref(prop, &format!("{at}/properties/{name}"))?;
                let mut f = Map::new();
                f.insert("name".into(), json!(name));
                f.insert("type".into(), ty);
                if let Some(d) = prop.get("default") {
                    f.insert("default".into(), d.clone());
                } else if let Some((_, _, d)) = KEY_DEFAULTS
                    .iter()
                    .find(|(t, field, _)| *t == self.type_name && *field == name.as_str())
                {
                    f.insert("default".into(), json!(d));
                }
                fields.push(Value::Object(f));
            }
            if !fields.is_empty() {
                m.insert("fields".into(), Value::Array(fields));
            }
        }
        let preserve = node
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true);
        match node.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => {
                let ty = self.type_ref(ap, &format!("{at}/additionalProperties"))?;
                m.insert("elementType".into(), ty);
            }
            Some(Value::Bool(true)) => {
                m.insert("elementType".into(), json!({"namedType": UNTYPED_DEDUCED}));
            }
            _ if preserve || !m.contains_key("fields") => {
                m.insert("elementType".into(), json!({"namedType": UNTYPED_DEDUCED}));
            }
            _ => {}
        }
        match node.get("x-kubernetes-map-type").and_then(Value::as_str) {
            Some("atomic") => {
                m.insert("elementRelationship".into(), json!("atomic"));
            }
            Some("granular") => {
                m.insert("elementRelationship".into(), json!("separable"));
            }
            None => {}
            Some(other) => {
                return Err(self.err(at, format!("unknown x-kubernetes-map-type {other:?}")));
            }
        }
        Ok(m)
    }

    fn list(&self, node: &Value, at: &str) -> Result<Map<String, Value>, SchemaError> {
        let mut l = Map::new();
        let elem = match node.get("items") {
            Some(items @ Value::Object(_)) => self.type_ref(items, &format!("{at}/items"))?,
            _ => json!({"namedType": UNTYPED_ATOMIC}),
        };
        l.insert("elementType".into(), elem);
        let list_type = node.get("x-kubernetes-list-type").and_then(Value::as_str);
        let keys: Vec<Value> = node
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match list_type {
            Some("atomic") => {
                l.insert("elementRelationship".into(), json!("atomic"));
            }
            Some("set") => {
                l.insert("elementRelationship".into(), json!("associative"));
            }
            Some("map") => {
                if keys.is_empty() {
                    return Err(self.err(at, "x-kubernetes-list-type map without list-map-keys"));
                }
                l.insert("elementRelationship".into(), json!("associative"));
                l.insert("keys".into(), Value::Array(keys));
            }
            Some(other) => {
                return Err(self.err(at, format!("unknown x-kubernetes-list-type {other:?}")));
            }
            None => {
                let merge = node
                    .get("x-kubernetes-patch-strategy")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.split(',').any(|p| p == "merge"));
                if merge {
                    l.insert("elementRelationship".into(), json!("associative"));
                    if let Some(k) = node.get("x-kubernetes-patch-merge-key") {
                        l.insert("keys".into(), json!([k]));
                    }
                } else {
                    l.insert("elementRelationship".into(), json!("atomic"));
                }
            }
        }
        Ok(l)
    }
}

/// The node's JSON-schema type, ignoring `"null"` in type arrays; a typeless node with
/// `properties` / `items` counts as object / array.
fn node_type(node: &Value) -> Option<&str> {
    match node.get("type") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ if node.get("properties").is_some() || node.get("additionalProperties").is_some() => {
            Some("object")
        }
        _ if node.get("items").is_some() => Some("array"),
        _ => None,
    }
}

fn is_deduced(node: &Value) -> bool {
    node_type(node).is_none()
        && node.get("oneOf").is_none()
        && node.get("anyOf").is_none()
        && node
            .get("x-kubernetes-int-or-string")
            .and_then(Value::as_bool)
            != Some(true)
}

fn deduced_atom() -> Map<String, Value> {
    let v = json!({
        "scalar": "untyped",
        "list": {"elementType": {"namedType": UNTYPED_ATOMIC}, "elementRelationship": "atomic"},
        "map": {"elementType": {"namedType": UNTYPED_DEDUCED}, "elementRelationship": "separable"}
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The two untyped types every document carries.
pub(crate) fn untyped_types() -> Vec<Value> {
    let mut deduced = Map::new();
    deduced.insert("name".into(), json!(UNTYPED_DEDUCED));
    deduced.extend(deduced_atom());
    vec![
        json!({
            "name": UNTYPED_ATOMIC,
            "scalar": "untyped",
            "list": {"elementType": {"namedType": UNTYPED_ATOMIC}, "elementRelationship": "atomic"},
            "map": {"elementType": {"namedType": UNTYPED_ATOMIC}, "elementRelationship": "atomic"}
        }),
        Value::Object(deduced),
    ]
}

/// Converts every definition of an OpenAPI v3 / JSON-schema `$defs` map into SMD document
/// types (`{"name": ..., "map"|"list"|"scalar": ...}`), plus the two untyped types.
pub fn convert_definitions(defs: &Map<String, Value>) -> Result<Vec<Value>, SchemaError> {
    let mut out = Vec::with_capacity(defs.len() + 2);
    for (name, def) in defs {
        let c = Converter {
            defs: Some(defs),
            type_name: name.clone(),
        };
        let mut t = Map::new();
        t.insert("name".into(), json!(name));
        t.extend(c.atom(def, "")?);
        out.push(Value::Object(t));
    }
    out.extend(untyped_types());
    Ok(out)
}
