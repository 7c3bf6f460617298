//! Strategic-merge metadata for built-in kinds: which lists merge by which key. Extracted from
//! the vendored Kubernetes 1.33 schema by `tools/extract_patch_schema.py` into `schema.json`.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// What the schema says about one field.
#[derive(Debug, Clone, Default)]
pub struct FieldInfo {
    /// The field's type (for objects and lists of objects), if known.
    pub type_name: Option<String>,
    /// `x-kubernetes-patch-strategy` (e.g. `merge`, `retainKeys`, `merge,retainKeys`).
    pub strategy: String,
    /// `x-kubernetes-patch-merge-key`.
    pub merge_key: String,
}

struct Schema {
    kinds: HashMap<String, String>,
    types: HashMap<String, HashMap<String, FieldInfo>>,
}

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let raw: Value = serde_json::from_str(include_str!("schema.json")).unwrap_or(Value::Null);
        let mut kinds = HashMap::new();
        if let Some(m) = raw.get("kinds").and_then(Value::as_object) {
            for (k, v) in m {
                if let Some(s) = v.as_str() {
                    kinds.insert(k.clone(), s.to_string());
                }
            }
        }
        let mut types = HashMap::new();
        if let Some(m) = raw.get("types").and_then(Value::as_object) {
            for (t, fields) in m {
                let mut fm = HashMap::new();
                if let Some(fields) = fields.as_object() {
                    for (f, info) in fields {
                        let get = |i: usize| {
                            info.get(i)
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string()
                        };
                        let tn = get(0);
                        fm.insert(
                            f.clone(),
                            FieldInfo {
                                type_name: (!tn.is_empty()).then_some(tn),
                                strategy: get(1),
                                merge_key: get(2),
                            },
                        );
                    }
                }
                types.insert(t.clone(), fm);
            }
        }
        Schema { kinds, types }
    })
}

/// The root type of a built-in kind, by apiVersion and kind; falls back to the same kind in
/// another version of the same group, then in any group.
pub fn root_type(api_version: &str, kind: &str) -> Option<String> {
    let s = schema();
    if let Some(t) = s.kinds.get(&format!("{api_version}/{kind}")) {
        return Some(t.clone());
    }
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let mut candidates: Vec<(&String, &String)> = s
        .kinds
        .iter()
        .filter(|(k, _)| k.rsplit('/').next() == Some(kind))
        .collect();
    candidates.sort();
    candidates
        .iter()
        .find(|(k, _)| k.starts_with(&format!("{group}/")) && !group.is_empty())
        .or_else(|| {
            candidates.iter().find(|(k, _)| {
                k.starts_with("apps/") || k.starts_with("v1/") || k.starts_with("batch/")
            })
        })
        .map(|(_, t)| (*t).clone())
}

/// What the schema says about `field` of type `type_name`.
pub fn field(type_name: &str, field: &str) -> Option<FieldInfo> {
    schema().types.get(type_name)?.get(field).cloned()
}
