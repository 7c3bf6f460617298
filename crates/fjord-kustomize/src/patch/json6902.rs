//! JSON patch (RFC 6902) operations on a JSON value: add, remove, replace, move, copy, test.

use serde_json::Value;

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("invalid JSON pointer {path:?}"));
    };
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(
    root: &'a mut Value,
    segs: &[String],
    path: &str,
) -> Result<&'a mut Value, String> {
    let mut cur = root;
    for seg in &segs[..segs.len().saturating_sub(1)] {
        cur = match cur {
            Value::Object(m) => m.get_mut(seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("path {path:?} not found"))?;
    }
    Ok(cur)
}

fn get<'a>(root: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut cur = root;
    for seg in split_pointer(path)? {
        cur = match cur {
            Value::Object(m) => m.get(&seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| format!("path {path:?} not found"))?;
    }
    Ok(cur)
}

fn add(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segs = split_pointer(path)?;
    let Some(last) = segs.last().cloned() else {
        *root = value;
        return Ok(());
    };
    match parent_mut(root, &segs, path)? {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index in {path:?}"))?;
            if i > a.len() {
                return Err(format!("array index out of range in {path:?}"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("path {path:?}: parent is not a container")),
    }
}

fn remove(root: &mut Value, path: &str) -> Result<Value, String> {
    let segs = split_pointer(path)?;
    let Some(last) = segs.last().cloned() else {
        return Err("cannot remove the document root".into());
    };
    match parent_mut(root, &segs, path)? {
        Value::Object(m) => m
            .remove(&last)
            .ok_or_else(|| format!("path {path:?} not found")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index in {path:?}"))?;
            if i >= a.len() {
                return Err(format!("array index out of range in {path:?}"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("path {path:?} not found")),
    }
}

/// Applies a list of operations in order.
pub fn apply(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation without 'op'")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation without 'path'")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("{name} at {path:?} without 'value'"))
        };
        match name {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                let v = value()?;
                if split_pointer(path)?.is_empty() {
                    *doc = v;
                } else {
                    remove(doc, path).map_err(|_| {
                        format!("replace operation does not apply: doc is missing key: {path}")
                    })?;
                    add(doc, path, v)?;
                }
            }
            "move" | "copy" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("move/copy without 'from'")?;
                let v = if name == "move" {
                    remove(doc, from)?
                } else {
                    get(doc, from)?.clone()
                };
                add(doc, path, v)?;
            }
            "test" => {
                if get(doc, path)? != &value()? {
                    return Err(format!("test operation failed at {path:?}"));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ops_apply_in_order() {
        let mut d = json!({"a": [1, 2], "b": {"c": 1}});
        apply(
            &mut d,
            &[
                json!({"op": "add", "path": "/a/-", "value": 3}),
                json!({"op": "replace", "path": "/b/c", "value": 2}),
                json!({"op": "copy", "from": "/b", "path": "/d"}),
                json!({"op": "remove", "path": "/a/0"}),
            ],
        )
        .unwrap();
        assert_eq!(d, json!({"a": [2, 3], "b": {"c": 2}, "d": {"c": 2}}));
    }

    #[test]
    fn replace_of_missing_path_fails() {
        let mut d = json!({});
        assert!(
            apply(
                &mut d,
                &[json!({"op": "replace", "path": "/x", "value": 1})]
            )
            .is_err()
        );
    }
}
