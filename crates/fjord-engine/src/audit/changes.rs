//! The field-level change summary of one object: the paths where the compared live side
//! (before the sync) and the desired side differ, with both values, except where a value
//! could be a secret.
//!
//! Lists whose elements carry a key field (`name`, `containerPort`, `mountPath`, ...) are
//! matched by that key and named by it (`containers[name=app].image`), so a reordered or
//! inserted element does not show up as every later index changing. Secret-like objects
//! ([`is_secret_like`]) never show a value, old or new: their changes read
//! `data.password: changed`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// Longest value shown in a change (longer ones are cut, with `…`).
const MAX_VALUE_CHARS: usize = 120;
/// Most changes listed per object; the rest are counted.
pub const MAX_CHANGES_PER_OBJECT: usize = 50;
/// The annotation `kubectl apply` keeps the whole applied object in (Secret data included).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Element fields that identify list entries, tried in this order.
const LIST_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "key",
    "ip",
    "type",
    "topologyKey",
];

/// What happened at one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Present on both sides with different values.
    Changed,
    /// Only desired has it.
    Added,
    /// Only live had it.
    Removed,
}

impl ChangeKind {
    /// `changed`, `added` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Changed => "changed",
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One changed path. `old`/`new` are absent where masked (and where the side is absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// `spec.template.spec.containers[name=app].image`.
    pub path: String,
    /// What happened.
    pub change: ChangeKind,
    /// The value before, rendered (strings bare, everything else as compact JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// True when the values are withheld (Secret data).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
}

impl fmt::Display for FieldChange {
    /// `spec.replicas: 2 → 3`, `data.password: changed`, `spec.paused: (none) → true`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.masked {
            return write!(f, "{}: {}", self.path, self.change.as_str());
        }
        let old = self.old.as_deref().unwrap_or("(none)");
        let new = self.new.as_deref().unwrap_or("(none)");
        write!(f, "{}: {old} → {new}", self.path)
    }
}

/// True for objects whose values may be secrets: kind `Secret`, or any kind ending in
/// `Secret` (`SealedSecret`, `ExternalSecret`, ...). Their changes never carry a value.
pub fn is_secret_like(obj: &Value) -> bool {
    obj.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("Secret"))
}

/// The changes from `before` to `after` (the compared live and desired sides), in path
/// order, at most [`MAX_CHANGES_PER_OBJECT`]; the second value counts the ones left out.
/// `secret` withholds every value.
pub fn summarize(before: &Value, after: &Value, secret: bool) -> (Vec<FieldChange>, usize) {
    let mut out = Vec::new();
    walk(
        &mut String::new(),
        Some(before),
        Some(after),
        secret,
        &mut out,
    );
    let omitted = out.len().saturating_sub(MAX_CHANGES_PER_OBJECT);
    out.truncate(MAX_CHANGES_PER_OBJECT);
    (out, omitted)
}

fn push_segment(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{}]", Value::String(key.to_string())));
    }
}

fn render(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn leaf(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    mask: bool,
    out: &mut Vec<FieldChange>,
) {
    let change = match (old, new) {
        (Some(_), Some(_)) => ChangeKind::Changed,
        (None, Some(_)) => ChangeKind::Added,
        (Some(_), None) => ChangeKind::Removed,
        (None, None) => return,
    };
    out.push(FieldChange {
        path: path.to_string(),
        change,
        old: if mask { None } else { old.map(render) },
        new: if mask { None } else { new.map(render) },
        masked: mask,
    });
}

/// The key field that identifies every element of both lists (unique on each side).
fn list_key(a: &[Value], b: &[Value]) -> Option<&'static str> {
    if a.is_empty() && b.is_empty() {
        return None;
    }
    LIST_KEYS.iter().copied().find(|k| {
        [a, b].iter().all(|list| {
            let mut seen = BTreeSet::new();
            list.iter().all(|e| {
                e.get(*k)
                    .filter(|v| v.is_string() || v.is_number())
                    .is_some_and(|v| seen.insert(render(v)))
            })
        })
    })
}

fn walk(
    path: &mut String,
    old: Option<&Value>,
    new: Option<&Value>,
    secret: bool,
    out: &mut Vec<FieldChange>,
) {
    if old == new {
        return;
    }
    let mask = secret || path.ends_with(&format!("[{}]", Value::String(LAST_APPLIED.into())));
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let len = path.len();
                push_segment(path, k);
                walk(path, a.get(k), b.get(k), secret, out);
                path.truncate(len);
            }
        }
        // A map only one side has: name its leaves (a Secret's keys, a new label set).
        (None, Some(Value::Object(m))) | (Some(Value::Object(m)), None) if !m.is_empty() => {
            let added = old.is_none();
            for (k, v) in m {
                let len = path.len();
                push_segment(path, k);
                let (o, n) = if added {
                    (None, Some(v))
                } else {
                    (Some(v), None)
                };
                walk(path, o, n, secret, out);
                path.truncate(len);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            if let Some(key) = list_key(a, b) {
                let id = |e: &Value| e.get(key).map(render).unwrap_or_default();
                let mut ids: Vec<String> = a.iter().map(id).collect();
                for e in b {
                    let i = id(e);
                    if !ids.contains(&i) {
                        ids.push(i);
                    }
                }
                for i in ids {
                    let len = path.len();
                    path.push_str(&format!("[{key}={i}]"));
                    let before = a.iter().find(|e| id(e) == i);
                    let after = b.iter().find(|e| id(e) == i);
                    match (before, after) {
                        (Some(_), Some(_)) => walk(path, before, after, secret, out),
                        _ => leaf(path, before, after, mask, out),
                    }
                    path.truncate(len);
                }
            } else if a.len() == b.len() {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(path, Some(x), Some(y), secret, out);
                    path.truncate(len);
                }
            } else {
                leaf(path, old, new, mask, out);
            }
        }
        _ => leaf(path, old, new, mask, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(changes: &[FieldChange]) -> Vec<String> {
        changes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn scalar_and_keyed_list_paths_are_named() {
        let before = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "sidecar", "image": "proxy:1"},
            {"name": "app", "image": "shop:1", "ports": [{"containerPort": 80}]}
        ]}}}});
        let after = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "app", "image": "shop:2", "ports": [{"containerPort": 80}, {"containerPort": 9090}]},
            {"name": "sidecar", "image": "proxy:1"}
        ]}}}});
        let (changes, omitted) = summarize(&before, &after, false);
        assert_eq!(omitted, 0);
        assert_eq!(
            texts(&changes),
            [
                "spec.replicas: 2 → 3",
                "spec.template.spec.containers[name=app].image: shop:1 → shop:2",
                "spec.template.spec.containers[name=app].ports[containerPort=9090]: (none) → {\"containerPort\":9090}",
            ],
            "reordering the containers is no change; elements are named by key"
        );
    }

    #[test]
    fn a_secret_change_shows_no_value() {
        let before =
            json!({"kind": "Secret", "data": {"password": "b2xkLXB3", "user": "YWRtaW4="}});
        let after = json!({"kind": "Secret", "data": {"password": "bmV3LXB3", "token": "dG9r"},
                           "stringData": {"extra": "plain-new"}});
        assert!(is_secret_like(&after));
        let (changes, _) = summarize(&before, &after, is_secret_like(&after));
        assert_eq!(
            texts(&changes),
            [
                "data.password: changed",
                "data.token: added",
                "data.user: removed",
                "stringData.extra: added"
            ]
        );
        let text = serde_json::to_string(&changes).unwrap();
        for value in [
            "b2xkLXB3",
            "bmV3LXB3",
            "YWRtaW4=",
            "dG9r",
            "plain-new",
            "old-pw",
            "new-pw",
        ] {
            assert!(!text.contains(value), "{value} leaked: {text}");
        }
        assert!(
            changes
                .iter()
                .all(|c| c.masked && c.old.is_none() && c.new.is_none())
        );
    }

    #[test]
    fn unkeyed_lists_use_indexes_or_change_whole() {
        let (c, _) = summarize(
            &json!({"args": ["a", "b"]}),
            &json!({"args": ["a", "c"]}),
            false,
        );
        assert_eq!(texts(&c), ["args[1]: b → c"]);
        let (c, _) = summarize(&json!({"args": ["a"]}), &json!({"args": ["a", "c"]}), false);
        assert_eq!(texts(&c), ["args: [\"a\"] → [\"a\",\"c\"]"]);
    }

    #[test]
    fn odd_keys_are_quoted_and_last_applied_is_masked() {
        let before = json!({"metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"p\":\"x\"}}"},
                                         "labels": {"app.kubernetes.io/name": "a"}}});
        let after = json!({"metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"p\":\"y\"}}"},
                                        "labels": {"app.kubernetes.io/name": "b"}}});
        let (c, _) = summarize(&before, &after, false);
        assert_eq!(
            texts(&c),
            [
                "metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]: changed",
                "metadata.labels[\"app.kubernetes.io/name\"]: a → b",
            ]
        );
    }

    #[test]
    fn long_lists_of_changes_are_cut_and_counted() {
        let before: serde_json::Map<String, Value> =
            (0..60).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let after: serde_json::Map<String, Value> = (0..60)
            .map(|i| (format!("k{i:02}"), json!(i + 1)))
            .collect();
        let (c, omitted) = summarize(&Value::Object(before), &Value::Object(after), false);
        assert_eq!(c.len(), MAX_CHANGES_PER_OBJECT);
        assert_eq!(omitted, 10);
        let long = "x".repeat(500);
        let (c, _) = summarize(&json!({"a": "y"}), &json!({"a": long}), false);
        assert!(c[0].new.as_ref().unwrap().chars().count() <= MAX_VALUE_CHARS + 1);
    }
}
