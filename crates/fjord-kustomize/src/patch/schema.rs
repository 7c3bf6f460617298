//! Strategic-merge metadata for built-in kinds: which lists merge by which key. Extracted from
//! the vendored Kubernetes 1.33 schema by `tools/extract_patch_schema.py` into `schema.tsv`.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A type in a schema: a named built-in type, or a node of a custom schema (`openapi:`).
#[derive(Debug, Clone)]
pub enum TypeRef {
    /// A type of the built-in Kubernetes schema.
    Builtin(String),
    /// A schema node of a custom OpenAPI document (whole document, node).
    Custom(Arc<Value>, Value),
}

/// What the schema says about one field.
#[derive(Debug, Clone, Default)]
pub struct FieldInfo {
    /// The field's type (for objects and lists of objects), if known.
    pub type_name: Option<TypeRef>,
    /// `x-kubernetes-patch-strategy` (e.g. `merge`, `retainKeys`, `merge,retainKeys`).
    pub strategy: String,
    /// `x-kubernetes-patch-merge-key`.
    pub merge_key: String,
}

struct Schema {
    kinds: HashMap<&'static str, &'static str>,
    types: HashMap<&'static str, HashMap<&'static str, StaticField>>,
}

#[derive(Clone, Copy)]
struct StaticField {
    type_name: &'static str,
    strategy: &'static str,
    merge_key: &'static str,
}

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let mut kinds = HashMap::new();
        let mut types: HashMap<&'static str, HashMap<&'static str, StaticField>> = HashMap::new();
        for line in include_str!("schema.tsv").lines() {
            let mut parts = line.split('\t');
            match parts.next() {
                Some("K") => {
                    if let (Some(k), Some(t)) = (parts.next(), parts.next()) {
                        kinds.insert(k, t);
                    }
                }
                Some("F") => {
                    let cols: Vec<&'static str> = parts.collect();
                    if cols.len() >= 5 {
                        types.entry(cols[0]).or_default().insert(
                            cols[1],
                            StaticField {
                                type_name: cols[2],
                                strategy: cols[3],
                                merge_key: cols[4],
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        Schema { kinds, types }
    })
}

/// The root type of a kind: from the custom schema when it defines the kind, else built-in.
pub fn root_type(custom: Option<&Arc<Value>>, api_version: &str, kind: &str) -> Option<TypeRef> {
    if let Some(doc) = custom
        && let Some(node) = custom_root(doc, api_version, kind)
    {
        return Some(TypeRef::Custom(doc.clone(), node));
    }
    builtin_root(api_version, kind).map(TypeRef::Builtin)
}

fn custom_defs(doc: &Value) -> Option<&serde_json::Map<String, Value>> {
    doc.get("definitions")
        .or_else(|| doc.get("$defs"))
        .and_then(Value::as_object)
}

fn custom_root(doc: &Value, api_version: &str, kind: &str) -> Option<Value> {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    custom_defs(doc)?
        .values()
        .find(|d| {
            d.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|gvks| {
                    gvks.iter().any(|g| {
                        g.get("kind").and_then(Value::as_str) == Some(kind)
                            && g.get("group").and_then(Value::as_str).unwrap_or("") == group
                            && g.get("version").and_then(Value::as_str) == Some(version)
                    })
                })
        })
        .cloned()
}

fn resolve_custom<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => custom_defs(doc)
            .and_then(|d| d.get(r.rsplit('/').next().unwrap_or(r)))
            .unwrap_or(node),
        None => node,
    }
}

/// What the schema says about `field` of type `t`.
pub fn field_of(t: &TypeRef, name: &str) -> Option<FieldInfo> {
    match t {
        TypeRef::Builtin(type_name) => field(type_name, name),
        TypeRef::Custom(doc, node) => {
            let prop = resolve_custom(doc, node).get("properties")?.get(name)?;
            let text = |k: &str| {
                prop.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let node = prop.get("items").unwrap_or(prop);
            // A $ref the custom document does not define falls back to the built-in type.
            let type_name = match node.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let name = r.rsplit('/').next().unwrap_or(r);
                    if custom_defs(doc).is_some_and(|d| d.contains_key(name)) {
                        Some(TypeRef::Custom(
                            doc.clone(),
                            resolve_custom(doc, node).clone(),
                        ))
                    } else if schema().types.contains_key(name) {
                        Some(TypeRef::Builtin(name.to_string()))
                    } else {
                        None
                    }
                }
                None => Some(TypeRef::Custom(doc.clone(), node.clone())),
            };
            Some(FieldInfo {
                type_name,
                strategy: text("x-kubernetes-patch-strategy"),
                merge_key: text("x-kubernetes-patch-merge-key"),
            })
        }
    }
}

/// API versions kustomize's built-in schema (Kubernetes 1.21) still has but the vendored 1.33
/// schema dropped, mapped to the version with the same merge metadata.
const RENAMED_VERSIONS: &[(&str, &str)] = &[
    ("batch/v1beta1", "batch/v1"),
    ("extensions/v1beta1/Ingress", "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "networking.k8s.io/v1"),
    ("policy/v1beta1", "policy/v1"),
    (
        "rbac.authorization.k8s.io/v1beta1",
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "admissionregistration.k8s.io/v1",
    ),
    ("apiextensions.k8s.io/v1beta1", "apiextensions.k8s.io/v1"),
    ("autoscaling/v2beta1", "autoscaling/v2"),
    ("autoscaling/v2beta2", "autoscaling/v2"),
    ("storage.k8s.io/v1beta1", "storage.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "events.k8s.io/v1"),
    ("discovery.k8s.io/v1beta1", "discovery.k8s.io/v1"),
    ("certificates.k8s.io/v1beta1", "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "coordination.k8s.io/v1"),
    ("scheduling.k8s.io/v1beta1", "scheduling.k8s.io/v1"),
    ("node.k8s.io/v1beta1", "node.k8s.io/v1"),
];

/// The root type of a built-in kind, by apiVersion and kind. Versions the schema no longer
/// has map to their successor; other unknown versions (e.g. extensions/v1beta1 Deployments,
/// which kustomize does not know either) have no schema, so their lists are replaced.
fn builtin_root(api_version: &str, kind: &str) -> Option<String> {
    let s = schema();
    if let Some(t) = s.kinds.get(format!("{api_version}/{kind}").as_str()) {
        return Some((*t).to_string());
    }
    let with_kind = format!("{api_version}/{kind}");
    let successor = RENAMED_VERSIONS
        .iter()
        .find(|(old, _)| *old == with_kind || *old == api_version)
        .map(|(_, new)| *new)?;
    s.kinds
        .get(format!("{successor}/{kind}").as_str())
        .map(|t| (*t).to_string())
}

/// What the built-in schema says about `field` of type `type_name`.
fn field(type_name: &str, field: &str) -> Option<FieldInfo> {
    let f = schema().types.get(type_name)?.get(field)?;
    Some(FieldInfo {
        type_name: (!f.type_name.is_empty()).then(|| TypeRef::Builtin(f.type_name.to_string())),
        strategy: f.strategy.to_string(),
        merge_key: f.merge_key.to_string(),
    })
}
