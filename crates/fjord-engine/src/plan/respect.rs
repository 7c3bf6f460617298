//! `RespectIgnoreDifferences=true`: before an existing object is applied, the fields its
//! `ignoreDifferences` rules cover take their live values, so a sync does not overwrite what
//! the Application said to ignore (a replica count an autoscaler owns, say).

use crate::diff::IgnoreRules;
use crate::resource::ResourceKey;
use fjord_smd::FieldSet;
use serde_json::Value;

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

/// The parts of `full` missing from `stripped` (what the rules removed), as paths.
fn removed(full: &Value, stripped: &Value, path: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, Value)>) {
    match (full, stripped) {
        (Value::Object(f), Value::Object(s)) => {
            for (k, fv) in f {
                path.push(Seg::Key(k.clone()));
                match s.get(k) {
                    None => out.push((path.clone(), fv.clone())),
                    Some(sv) => removed(fv, sv, path, out),
                }
                path.pop();
            }
        }
        (Value::Array(f), Value::Array(s)) if f.len() == s.len() => {
            for (i, (fv, sv)) in f.iter().zip(s).enumerate() {
                path.push(Seg::Index(i));
                removed(fv, sv, path, out);
                path.pop();
            }
        }
        _ if full != stripped => out.push((path.clone(), full.clone())),
        _ => {}
    }
}

fn set_path(target: &mut Value, path: &[Seg], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    match first {
        Seg::Key(k) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(m) = target {
                let child = m.entry(k.clone()).or_insert(Value::Null);
                set_path(child, rest, value);
            }
        }
        Seg::Index(i) => {
            if let Some(child) = target.as_array_mut().and_then(|a| a.get_mut(*i)) {
                set_path(child, rest, value);
            }
        }
    }
}

/// `desired` with the ignored fields of `key` taken from `live` (removed when live has
/// none).
pub fn respect_ignored(
    rules: &IgnoreRules,
    key: &ResourceKey,
    desired: &Value,
    live: &Value,
) -> Value {
    let none = FieldSet::new();
    let mut out = desired.clone();
    rules.apply(key, &mut out, &none);
    let mut live_stripped = live.clone();
    rules.apply(key, &mut live_stripped, &none);
    let mut ignored = Vec::new();
    removed(live, &live_stripped, &mut Vec::new(), &mut ignored);
    for (path, value) in ignored {
        set_path(&mut out, &path, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ResourceIgnoreDifferences;
    use serde_json::json;

    #[test]
    fn ignored_fields_keep_their_live_values() {
        let (rules, errors) = IgnoreRules::compile(&[ResourceIgnoreDifferences {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            json_pointers: vec![
                "/spec/replicas".into(),
                "/spec/template/spec/containers/0/image".into(),
            ],
            ..Default::default()
        }]);
        assert!(errors.is_empty());
        let key = ResourceKey::new("apps", "Deployment", "ns", "web");
        let desired = json!({"spec": {"replicas": 1, "paused": false, "template": {"spec": {
            "containers": [{"name": "web", "image": "web:2", "args": ["a"]}]}}}});
        let live = json!({"spec": {"replicas": 7, "paused": true, "template": {"spec": {
            "containers": [{"name": "web", "image": "web:1"}]}}}});
        let out = respect_ignored(&rules, &key, &desired, &live);
        assert_eq!(
            out,
            json!({"spec": {"replicas": 7, "paused": false, "template": {"spec": {
                "containers": [{"name": "web", "image": "web:1", "args": ["a"]}]}}}})
        );
        // Other objects are left alone.
        let other = ResourceKey::new("", "ConfigMap", "ns", "c");
        assert_eq!(respect_ignored(&rules, &other, &desired, &live), desired);
    }
}
