//! Unknown fields: what a write holds that its kind's schema does not declare. Built-in kinds drop
//! them (the Go structs have nowhere to put them); custom resources prune them by their structural
//! schema unless `x-kubernetes-preserve-unknown-fields` says otherwise. `fieldValidation` decides
//! whether that is silent, a warning or a 400.

use serde_json::{Map, Value};

/// Where `$ref`s point.
pub trait Definitions {
    /// The schema a `$ref` names.
    fn resolve(&self, reference: &str) -> Option<&Value>;
}

impl Definitions for Value {
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let name = reference.rsplit('/').next()?;
        self.get(name)
    }
}

/// No `$ref`s (CRD schemas are self-contained).
pub struct NoDefinitions;

impl Definitions for NoDefinitions {
    fn resolve(&self, _: &str) -> Option<&Value> {
        None
    }
}

/// How schemas without properties are treated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Built-in kinds: an object schema with neither properties nor additionalProperties is free
    /// form (RawExtension, JSON).
    Builtin,
    /// CRD structural schemas: such an object schema prunes everything unless
    /// `x-kubernetes-preserve-unknown-fields`.
    Structural,
}

/// Removes fields the schema does not declare from `value` and returns their paths
/// (`.spec.foo`), in document order.
pub fn prune_unknown(
    schema: &Value,
    defs: &dyn Definitions,
    mode: Mode,
    value: &mut Value,
) -> Vec<String> {
    let mut removed = Vec::new();
    walk(schema, defs, mode, value, "", true, &mut removed);
    removed
}

fn resolve<'a>(mut schema: &'a Value, defs: &'a dyn Definitions) -> &'a Value {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match defs.resolve(r) {
                Some(s) => schema = s,
                None => return schema,
            },
            None => {
                // `allOf: [{$ref}]` wrappers carry a field-level description next to a reference.
                if let Some([only]) = schema
                    .get("allOf")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                {
                    schema = only;
                    continue;
                }
                return schema;
            }
        }
    }
    schema
}

fn preserves(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn walk(
    schema: &Value,
    defs: &dyn Definitions,
    mode: Mode,
    value: &mut Value,
    path: &str,
    root: bool,
    removed: &mut Vec<String>,
) {
    let schema = resolve(schema, defs);
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let embedded = schema
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if props.is_none() && additional.is_none() {
                let free = preserves(schema)
                    || schema.get("x-kubernetes-int-or-string").is_some()
                    || mode == Mode::Builtin
                    || schema.get("type").is_none();
                if !free {
                    prune_all(map, path, root || embedded, removed);
                }
                return;
            }
            let keep_unknown = preserves(schema);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = format!("{path}.{key}");
                let child_schema = props.and_then(|p| p.get(&key)).or(additional);
                match child_schema {
                    Some(cs) => {
                        // The root's (and embedded objects') metadata is ObjectMeta whatever the
                        // CRD says; CRD schemas may only constrain name and generateName.
                        if (root || embedded) && key == "metadata" && mode == Mode::Structural {
                            continue;
                        }
                        if let Some(child) = map.get_mut(&key) {
                            walk(cs, defs, mode, child, &child_path, false, removed);
                        }
                    }
                    None => {
                        let type_meta = (root || embedded)
                            && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
                        if !keep_unknown && !type_meta {
                            map.remove(&key);
                            removed.push(child_path);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(
                        item_schema,
                        defs,
                        mode,
                        item,
                        &format!("{path}[{i}]"),
                        false,
                        removed,
                    );
                }
            }
        }
        _ => {}
    }
}

fn prune_all(
    map: &mut Map<String, Value>,
    path: &str,
    keep_type_meta: bool,
    removed: &mut Vec<String>,
) {
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if keep_type_meta && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        map.remove(&key);
        removed.push(format!("{path}.{key}"));
    }
}

/// The schema of a built-in kind, found by its group-version-kind marker.
pub fn builtin_root(group: &str, version: &str, kind: &str) -> Option<&'static Value> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static INDEX: OnceLock<HashMap<(String, String, String), String>> = OnceLock::new();
    let defs = fjord_smd::builtin_definitions();
    let index = INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        if let Some(map) = defs.as_object() {
            for (name, d) in map {
                if let Some(gvks) = d
                    .get("x-kubernetes-group-version-kind")
                    .and_then(Value::as_array)
                {
                    for g in gvks {
                        let s =
                            |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        m.insert((s("group"), s("version"), s("kind")), name.clone());
                    }
                }
            }
        }
        m
    });
    let name = index.get(&(group.to_string(), version.to_string(), kind.to_string()))?;
    defs.get(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structural_schemas_prune_undeclared_fields() {
        let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            "empty": {"type": "object"}
        }}}});
        let mut v = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": 1, "typo": 2, "free": {"any": 1}, "tags": [{"k": "a", "z": 1}], "empty": {"gone": 1}},
            "extra": true});
        let removed = prune_unknown(&schema, &NoDefinitions, Mode::Structural, &mut v);
        assert_eq!(
            removed,
            vec![
                ".spec.typo",
                ".spec.tags[0].z",
                ".spec.empty.gone",
                ".extra"
            ]
        );
        assert_eq!(v["spec"]["free"]["any"], 1);
        assert_eq!(v["metadata"]["name"], "a");
    }

    #[test]
    fn builtin_definitions_follow_refs() {
        let defs = json!({
            "Dep": {"properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "metadata": {"$ref": "#/$defs/Meta"}, "spec": {"$ref": "#/$defs/Spec"}}},
            "Meta": {"properties": {"name": {"type": "string"}}},
            "Spec": {"properties": {"replicas": {"type": "integer"}, "raw": {"$ref": "#/$defs/Raw"}}},
            "Raw": {"type": "object"}
        });
        let mut v = json!({"apiVersion": "apps/v1", "kind": "Dep", "metadata": {"name": "a", "nmae": "b"},
            "spec": {"replicas": 1, "replicaz": 2, "raw": {"anything": 1}}});
        let removed = prune_unknown(&defs["Dep"], &defs, Mode::Builtin, &mut v);
        assert_eq!(removed, vec![".metadata.nmae", ".spec.replicaz"]);
        assert_eq!(v["spec"]["raw"]["anything"], 1);
    }
}
