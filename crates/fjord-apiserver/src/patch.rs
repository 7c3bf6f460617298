//! Non-apply patches: JSON patch (RFC 6902), JSON merge patch (RFC 7396, from the json-patch crate)
//! and strategic merge patch, whose list semantics come from the built-in schemas'
//! `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` markers.

use serde_json::{Map, Value};

use crate::http::error::{ApiError, ApiResult};
use crate::registry::ResourceType;

/// Applies a JSON patch document.
pub fn json_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("the JSON patch is malformed: {e}")))?;
    json_patch::patch(target, &ops).map_err(|e| ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("the server rejected our request due to an error in our request: {e}"),
        details: None,
    })
}

/// Applies a strategic merge patch to a built-in kind.
pub fn strategic_merge(rt: &ResourceType, target: &mut Value, patch: &Value) -> ApiResult<()> {
    let Value::Object(patch_map) = patch else {
        return Err(ApiError::bad_request(
            "the strategic merge patch must be a JSON object",
        ));
    };
    let defs = fjord_smd::builtin_definitions();
    let root = builtin_root(&rt.group, &rt.version, &rt.kind);
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made an object");
    merge_map(map, patch_map, root, defs)
}

fn resolve<'a>(schema: Option<&'a Value>, defs: &'a Value) -> Option<&'a Value> {
    let mut s = schema?;
    for _ in 0..16 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => s = defs.get(r.rsplit('/').next()?)?,
            None => return Some(s),
        }
    }
    Some(s)
}

/// Merges `patch` into `orig`. Returns Err for malformed directives.
fn merge_map(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<&Value>,
    defs: &Value,
) -> ApiResult<()> {
    let schema = resolve(schema, defs);
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *orig = strip_directives_map(patch);
            return Ok(());
        }
        Some("delete") => {
            orig.clear();
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unknown patch type: {other} in map"
            )));
        }
    }
    let props = schema.and_then(|s| s.get("properties"));
    let additional = schema.and_then(|s| s.get("additionalProperties"));
    for (key, pv) in patch {
        if key.starts_with('$') {
            continue;
        }
        let field_schema = props.and_then(|p| p.get(key)).or(additional);
        if pv.is_null() {
            orig.remove(key);
            continue;
        }
        match pv {
            Value::Array(items) => {
                let strategy = field_schema
                    .and_then(|f| f.get("x-kubernetes-patch-strategy"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if strategy.split(',').any(|s| s == "merge") {
                    let merge_key = field_schema
                        .and_then(|f| f.get("x-kubernetes-patch-merge-key"))
                        .and_then(Value::as_str);
                    let item_schema = field_schema.and_then(|f| f.get("items"));
                    let existing = orig
                        .entry(key.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if !existing.is_array() {
                        *existing = Value::Array(Vec::new());
                    }
                    let list = existing.as_array_mut().expect("made an array");
                    merge_list(list, items, merge_key, item_schema, defs)?;
                } else {
                    orig.insert(
                        key.clone(),
                        Value::Array(items.iter().map(strip_directives).collect()),
                    );
                }
            }
            Value::Object(pm) => {
                let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
                if delete {
                    orig.remove(key);
                    continue;
                }
                match orig.get_mut(key) {
                    Some(Value::Object(om)) => merge_map(om, pm, field_schema, defs)?,
                    _ => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, pm, field_schema, defs)?;
                        orig.insert(key.clone(), Value::Object(fresh));
                    }
                }
            }
            scalar => {
                orig.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, pv) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let remove: Vec<&Value> = pv
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            if let Some(Value::Array(list)) = orig.get_mut(field) {
                list.retain(|v| !remove.contains(&v));
            }
        }
    }
    for (key, pv) in patch {
        if let Some(field) = key.strip_prefix("$setElementOrder/") {
            let merge_key = props
                .and_then(|p| p.get(field))
                .and_then(|f| f.get("x-kubernetes-patch-merge-key"))
                .and_then(Value::as_str);
            if let (Some(Value::Array(list)), Some(order)) = (orig.get_mut(field), pv.as_array()) {
                reorder(list, order, merge_key);
            }
        }
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(
    orig: &mut Vec<Value>,
    patch: &[Value],
    merge_key: Option<&str>,
    item_schema: Option<&Value>,
    defs: &Value,
) -> ApiResult<()> {
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *orig = patch
            .iter()
            .filter(|p| p.get("$patch").is_none())
            .map(strip_directives)
            .collect();
        return Ok(());
    }
    let Some(mk) = merge_key else {
        // A merged list of scalars is a union.
        for p in patch {
            if !orig.contains(p) {
                orig.push(p.clone());
            }
        }
        return Ok(());
    };
    for p in patch {
        let Value::Object(pm) = p else {
            return Err(ApiError::bad_request(format!(
                "the patch item {p} of a list merged by \"{mk}\" is not an object"
            )));
        };
        let key_value = pm.get(mk);
        let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
        if delete {
            orig.retain(|o| o.get(mk) != key_value);
            continue;
        }
        match orig
            .iter_mut()
            .find(|o| o.get(mk) == key_value && key_value.is_some())
        {
            Some(Value::Object(om)) => merge_map(om, pm, item_schema, defs)?,
            _ => {
                let mut fresh = Map::new();
                merge_map(&mut fresh, pm, item_schema, defs)?;
                orig.push(Value::Object(fresh));
            }
        }
    }
    Ok(())
}

fn reorder(list: &mut Vec<Value>, order: &[Value], merge_key: Option<&str>) {
    let position = |v: &Value| {
        order.iter().position(|o| match merge_key {
            Some(k) => o.get(k).is_some() && o.get(k) == v.get(k),
            None => o == v,
        })
    };
    // Items named in the order first, in that order; the rest keep their relative order after.
    let mut indexed: Vec<(usize, usize, Value)> = list
        .drain(..)
        .enumerate()
        .map(|(i, v)| (position(&v).unwrap_or(usize::MAX), i, v))
        .collect();
    indexed.sort_by_key(|(p, i, _)| (*p, *i));
    list.extend(indexed.into_iter().map(|(_, _, v)| v));
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives_map(m)),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn strip_directives_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip_directives(v)))
        .collect()
}

/// The schema of a built-in kind, found by its group-version-kind marker.
fn builtin_root(group: &str, version: &str, kind: &str) -> Option<&'static Value> {
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
    use crate::registry::Registry;
    use serde_json::json;

    fn deployment() -> std::sync::Arc<ResourceType> {
        Registry::new()
            .snapshot()
            .get("apps", "v1", "deployments")
            .unwrap()
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "s:1"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:2", "env": [{"name": "B", "value": "2"}]},
            {"name": "side", "$patch": "delete"},
            {"name": "new", "image": "n:1"}]}}}});
        strategic_merge(&deployment(), &mut d, &patch).unwrap();
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().unwrap().len(), 2);
        assert_eq!(cs[0]["image"], "a:2");
        assert_eq!(cs[0]["env"].as_array().unwrap().len(), 2);
        assert_eq!(cs[1]["name"], "new");
    }

    #[test]
    fn retain_keys_drops_rolling_update_when_switching_to_recreate() {
        let mut d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        strategic_merge(&deployment(), &mut d, &patch).unwrap();
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn lists_without_a_strategy_are_replaced_and_null_deletes() {
        let mut d = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"template": {"spec": {"containers": [
            {"name": "app", "args": ["x", "y"]}]}}}});
        let patch = json!({"metadata": {"labels": {"a": null}}, "spec": {"template": {"spec": {"containers": [
            {"name": "app", "args": ["z"]}]}}}});
        strategic_merge(&deployment(), &mut d, &patch).unwrap();
        assert_eq!(d["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["z"])
        );
    }

    #[test]
    fn json_patch_test_failures_are_invalid() {
        let mut v = json!({"a": 1});
        let e = json_patch(&mut v, &json!([{"op": "test", "path": "/a", "value": 2}])).unwrap_err();
        assert_eq!(e.code, 422);
        json_patch(
            &mut v,
            &json!([{"op": "replace", "path": "/a", "value": 3}]),
        )
        .unwrap();
        assert_eq!(v["a"], 3);
    }
}
