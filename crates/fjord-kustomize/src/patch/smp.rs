//! Strategic merge patch, as kustomize applies it (kyaml's merge): maps merge, `null` deletes,
//! lists of objects merge by the merge key the schema gives (patch elements first, then
//! the ones only the target has), other lists are replaced, and the `$patch` directive
//! (delete, replace) is honored; other `$` keys are plain fields to kyaml.

use super::schema::{self, FieldInfo, TypeRef};
use serde_json::{Map, Value};

/// Outcome of merging into an object.
#[derive(Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The object stays (merged).
    Kept,
    /// The patch said `$patch: delete`.
    Deleted,
}

/// Applies `patch` to the object `dst` of type `type_name` (None when unknown).
pub fn merge_object(
    dst: &mut Value,
    patch: &Map<String, Value>,
    type_name: Option<&TypeRef>,
) -> Result<MergeOutcome, String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(MergeOutcome::Deleted),
        Some("replace") => {
            *dst = Value::Object(clean(patch));
            return Ok(MergeOutcome::Kept);
        }
        _ => {}
    }
    if !dst.is_object() {
        *dst = Value::Object(Map::new());
    }
    let Value::Object(d) = dst else {
        return Ok(MergeOutcome::Kept);
    };
    for (k, pv) in patch {
        // Only `$patch` is a directive for kustomize; `$retainKeys`, `$setElementOrder/...` and
        // `$deleteFromPrimitiveList/...` are kept as ordinary fields, as kyaml does.
        if k == "$patch" {
            continue;
        }
        let info = type_name
            .and_then(|t| schema::field_of(t, k))
            .unwrap_or_default();
        merge_field(d, k, pv, &info)?;
    }
    Ok(MergeOutcome::Kept)
}

fn node_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

fn merge_field(
    d: &mut Map<String, Value>,
    k: &str,
    pv: &Value,
    info: &FieldInfo,
) -> Result<(), String> {
    if let Some(existing) = d.get(k)
        && !existing.is_null()
        && !pv.is_null()
        && node_kind(existing) != node_kind(pv)
    {
        return Err(format!(
            "wrong node kind: expected {} but got {}: field {k:?}",
            node_kind(existing),
            node_kind(pv)
        ));
    }
    match pv {
        Value::Null => {
            d.remove(k);
        }
        Value::Object(pm) => {
            if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                d.remove(k);
                return Ok(());
            }
            match d.get_mut(k) {
                Some(existing) if existing.is_object() => {
                    merge_object(existing, pm, info.type_name.as_ref())?;
                }
                _ => {
                    d.insert(k.to_string(), Value::Object(clean(pm)));
                }
            }
        }
        Value::Array(pl) => {
            let existing = d.remove(k);
            let merged = match existing {
                Some(Value::Array(dl)) => merge_list(dl, pl, info)?,
                // A list the target lacks: kyaml merges an associative one element by element
                // (dropping directives) and copies any other list as written.
                _ if info.strategy.split(',').any(|x| x == "merge")
                    && !info.merge_key.is_empty() =>
                {
                    clean_list(pl)
                }
                _ => pl.clone(),
            };
            d.insert(k.to_string(), Value::Array(merged));
        }
        scalar => {
            d.insert(k.to_string(), scalar.clone());
        }
    }
    Ok(())
}

fn merge_list(dst: Vec<Value>, patch: &[Value], info: &FieldInfo) -> Result<Vec<Value>, String> {
    let is_replace = |p: &Value| p.get("$patch").and_then(Value::as_str) == Some("replace");
    // A bare `{$patch: replace}` element replaces the list with the other elements; an element
    // that carries `$patch: replace` beside other fields is ignored, as kyaml does.
    if patch
        .iter()
        .any(|p| is_replace(p) && p.as_object().is_some_and(|m| m.len() == 1))
    {
        return Ok(clean_list(
            &patch
                .iter()
                .filter(|p| !is_replace(p))
                .cloned()
                .collect::<Vec<_>>(),
        ));
    }
    let patch: Vec<Value> = patch.iter().filter(|p| !is_replace(p)).cloned().collect();
    let patch = patch.as_slice();
    let all_objects = dst.iter().chain(patch.iter()).all(Value::is_object);
    let all_scalars = dst
        .iter()
        .chain(patch.iter())
        .all(|v| !v.is_object() && !v.is_array());
    let strategy_merge = info.strategy.split(',').any(|s| s == "merge");
    if all_scalars {
        if strategy_merge {
            let mut out: Vec<Value> = Vec::new();
            for p in patch.iter().chain(dst.iter()) {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            return Ok(out);
        }
        return Ok(patch.to_vec());
    }
    if !all_objects || info.merge_key.is_empty() || !strategy_merge {
        // Not associative: the patch's list replaces the target's as written.
        return Ok(patch.to_vec());
    }
    let keys: Vec<&str> = info.merge_key.split(',').collect();
    let key_value = |e: &Value, k: &str| -> String {
        e.get(k)
            .and_then(crate::kustomization::scalar_string)
            .unwrap_or_default()
    };
    // Keys that some element (on either side) actually sets: with more than one, elements are
    // identified by all of them (e.g. containerPort and protocol).
    let valid: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| {
            dst.iter()
                .chain(patch.iter())
                .any(|e| !key_value(e, k).is_empty())
        })
        .collect();
    if valid.len() > 1 {
        return merge_list_multi_key(dst, patch, &valid, info);
    }
    let key = valid.first().copied().unwrap_or(keys[0]).to_string();
    // A patch element without the merge key makes kyaml drop it and every element only the
    // target has.
    let keyless = patch.iter().any(|p| key_value(p, &key).is_empty());
    // Patch elements first, in patch order (merged with their counterpart), then the
    // elements only the destination has: the order kustomize produces.
    let mut dst: Vec<Option<Value>> = dst.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for p in patch {
        let Value::Object(pm) = p else { continue };
        let pkey = pm.get(&key);
        let pos = pkey.and_then(|kv| {
            dst.iter()
                .position(|e| e.as_ref().and_then(|e| e.get(&key)) == Some(kv))
        });
        if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                dst[i] = None;
            }
            continue;
        }
        match pos.and_then(|i| dst[i].take()) {
            Some(mut existing) => {
                merge_object(&mut existing, pm, info.type_name.as_ref())?;
                out.push(existing);
            }
            None if key_value(p, &key).is_empty() => {}
            None => out.push(Value::Object(clean(pm))),
        }
    }
    if !keyless {
        out.extend(dst.into_iter().flatten());
    }
    Ok(out)
}

/// Lists identified by several keys, as kustomize v5.5 (kyaml) merges them: a patch element
/// whose key values all equal a target element's merges into it in place; one that matches only
/// partly (a key set on one side and missing on the other) is dropped; any other is new, and new
/// elements come first, in patch order.
fn merge_list_multi_key(
    dst: Vec<Value>,
    patch: &[Value],
    keys: &[&str],
    info: &FieldInfo,
) -> Result<Vec<Value>, String> {
    let values = |e: &Value| -> Vec<String> {
        keys.iter()
            .map(|k| {
                e.get(*k)
                    .and_then(crate::kustomization::scalar_string)
                    .unwrap_or_default()
            })
            .collect()
    };
    let partial = |a: &[String], b: &[String]| {
        a.iter().zip(b).any(|(x, y)| x == y && !x.is_empty())
            && a.iter()
                .zip(b)
                .all(|(x, y)| x == y || x.is_empty() || y.is_empty())
    };
    let mut dst: Vec<Option<Value>> = dst.into_iter().map(Some).collect();
    let mut fresh = Vec::new();
    for p in patch {
        let Value::Object(pm) = p else { continue };
        let pv = values(p);
        let exact = dst
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| values(e) == pv));
        let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
        match exact {
            Some(i) if delete => dst[i] = None,
            Some(i) => {
                if let Some(existing) = dst[i].as_mut() {
                    merge_object(existing, pm, info.type_name.as_ref())?;
                }
            }
            None => {
                let overlaps = dst.iter().flatten().any(|e| partial(&values(e), &pv));
                if !delete && !overlaps {
                    fresh.push(Value::Object(clean(pm)));
                }
            }
        }
    }
    fresh.extend(dst.into_iter().flatten());
    Ok(fresh)
}

/// Removes `$patch` directives (and nulls) from a value that is inserted as a whole.
pub fn clean(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, v)| *k != "$patch" && !v.is_null())
        .map(|(k, v)| (k.clone(), clean_value(v)))
        .collect()
}

fn clean_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(clean(m)),
        // Lists inside a newly added map are copied as written (kyaml has no target to merge into).
        Value::Array(a) => Value::Array(a.clone()),
        other => other.clone(),
    }
}

fn clean_list(a: &[Value]) -> Vec<Value> {
    a.iter()
        .filter(|v| v.get("$patch").and_then(Value::as_str) != Some("delete"))
        .map(clean_value)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(dst: Value, patch: Value) -> Value {
        let mut d = dst;
        let t = schema::root_type(None, "apps/v1", "Deployment");
        merge_object(&mut d, patch.as_object().unwrap(), t.as_ref()).unwrap();
        d
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let out = apply(
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]},
                {"name": "b", "image": "y"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "env": [{"name": "F", "value": "2"}]},
                {"name": "c", "image": "z"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "a", "image": "x", "env": [{"name": "F", "value": "2"}, {"name": "E", "value": "1"}]},
                {"name": "c", "image": "z"},
                {"name": "b", "image": "y"}])
        );
    }

    #[test]
    fn null_deletes_and_directive_deletes_element() {
        let out = apply(
            json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}),
            json!({"spec": {"replicas": null, "template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b"}]}}}})
        );
    }

    #[test]
    fn args_lists_are_replaced() {
        let out = apply(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["1", "2"]}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["3"]}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["3"])
        );
    }
}
