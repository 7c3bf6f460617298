//! Defaults of custom resources from their CRD version's `openAPIV3Schema`: every `default` of a
//! property that the object leaves out (or sets to null where the schema is not nullable) is filled
//! in, recursively, including inside defaults just filled in and inside list items and
//! `additionalProperties` maps (apiextensions-apiserver `schema/defaulting`).

use serde_json::Value;

/// Applies the `default` keywords of `schema` to `obj`.
pub fn apply(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    let Some(default) = prop.get("default") else {
                        continue;
                    };
                    let nullable = prop.get("nullable") == Some(&Value::Bool(true));
                    match map.get(name) {
                        None => {
                            map.insert(name.clone(), default.clone());
                        }
                        Some(Value::Null) if !nullable => {
                            map.insert(name.clone(), default.clone());
                        }
                        Some(_) => {}
                    }
                }
                for (name, value) in map.iter_mut() {
                    if let Some(prop) = props.get(name) {
                        apply(prop, value);
                    }
                }
            } else if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                for value in map.values_mut() {
                    apply(extra, value);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::apply;

    #[test]
    fn fills_missing_and_null_fields_recursively() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "default": {}, "properties": {
                "size": {"type": "integer", "default": 3},
                "mode": {"type": "string", "default": "fast"},
                "note": {"type": "string", "nullable": true, "default": "n"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "protocol": {"type": "string", "default": "TCP"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                    "weight": {"type": "integer", "default": 1}}}},
            }},
        }});
        let mut obj = json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w"}});
        apply(&schema, &mut obj);
        assert_eq!(obj["spec"], json!({"size": 3, "mode": "fast", "note": "n"}));

        let mut obj = json!({"spec": {"size": 5, "mode": null, "note": null,
            "ports": [{"port": 80}, {"protocol": "UDP"}], "labels": {"a": {}}}});
        apply(&schema, &mut obj);
        assert_eq!(
            obj["spec"],
            json!({"size": 5, "mode": "fast", "note": null,
                   "ports": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
                   "labels": {"a": {"weight": 1}}})
        );
    }
}
