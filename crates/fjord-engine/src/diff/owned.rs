//! Field ownership from `metadata.managedFields`, and the projection of a live object onto
//! the fields a diff compares.
//!
//! The compared fields are those desired sets plus those Fjord's manager owns in live. A
//! field desired sets that another manager changed (`kubectl edit`) is still compared — that
//! is the drift self-heal must see — while fields nobody asked for (defaults, fields other
//! controllers own, items a webhook injected) are left out. A field Fjord owns that desired
//! no longer sets is kept in the live view, because the next apply removes it.

use super::normalize::equivalent;
use fjord_smd::{FieldSet, PathElement};
use serde_json::{Map, Value};

/// A field set as a tree that can be walked beside a JSON value.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct OwnedTree {
    /// The path ending here is a member (a leaf value, or an atomic/whole item).
    pub leaf: bool,
    /// Paths continuing below.
    pub children: Vec<(PathElement, OwnedTree)>,
}

impl OwnedTree {
    pub fn from_set(set: &FieldSet) -> Self {
        let mut root = OwnedTree::default();
        for path in set.paths() {
            root.insert(&path);
        }
        root
    }

    fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else {
            self.leaf = true;
            return;
        };
        let i = match self.children.iter().position(|(p, _)| p == first) {
            Some(i) => i,
            None => {
                self.children.push((first.clone(), OwnedTree::default()));
                self.children.len() - 1
            }
        };
        self.children[i].1.insert(rest);
    }

    pub fn field(&self, name: &str) -> Option<&OwnedTree> {
        self.children.iter().find_map(|(p, t)| match p {
            PathElement::Field(f) if f == name => Some(t),
            _ => None,
        })
    }

    /// The subtree for list item `index` with value `item`.
    pub fn item(&self, index: usize, item: &Value) -> Option<&OwnedTree> {
        self.children
            .iter()
            .find(|(p, _)| element_matches(p, index, item))
            .map(|(_, t)| t)
    }

    /// The key field names of an associative list, from the first keyed child.
    pub fn key_fields(&self) -> Option<Vec<String>> {
        self.children.iter().find_map(|(p, _)| match p {
            PathElement::Key(fields) => Some(fields.iter().map(|(n, _)| n.clone()).collect()),
            _ => None,
        })
    }
}

/// True when list item `index` (value `item`) is the one `pe` names.
pub(crate) fn element_matches(pe: &PathElement, index: usize, item: &Value) -> bool {
    match pe {
        // A key field the item lacks was defaulted by the schema (e.g. `protocol: TCP`).
        PathElement::Key(fields) => {
            fields.iter().any(|(n, _)| item.get(n).is_some())
                && fields
                    .iter()
                    .all(|(n, v)| item.get(n).is_none_or(|x| x == v))
        }
        PathElement::Value(v) => item == v,
        PathElement::Index(i) => usize::try_from(*i).is_ok_and(|i| i == index),
        PathElement::Field(_) => false,
    }
}

/// Removes the value at a field path (object keys, keyed/valued/indexed list items).
pub(crate) fn remove_path(value: &mut Value, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, value) {
        (PathElement::Field(name), Value::Object(map)) => {
            if rest.is_empty() {
                map.shift_remove(name);
            } else if let Some(child) = map.get_mut(name) {
                remove_path(child, rest);
            }
        }
        (pe, Value::Array(items)) => {
            let Some(i) = items
                .iter()
                .enumerate()
                .position(|(i, item)| element_matches(pe, i, item))
            else {
                return;
            };
            if rest.is_empty() {
                items.remove(i);
            } else {
                remove_path(&mut items[i], rest);
            }
        }
        _ => {}
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// Same list item: every key field both sides set is equal, and at least one is set.
fn same_key(a: &Value, b: &Value, keys: &[String]) -> bool {
    let mut any = false;
    for k in keys {
        if let (Some(x), Some(y)) = (a.get(k), b.get(k)) {
            if x != y {
                return false;
            }
            any = true;
        }
    }
    any
}

/// `name` when every item (live and desired) is an object with a string `name`.
fn name_key(live: &[Value], desired: Option<&Vec<Value>>) -> Option<Vec<String>> {
    let named = |v: &Value| v.get("name").is_some_and(Value::is_string);
    let all = live.iter().all(named) && desired.is_none_or(|d| d.iter().all(named));
    all.then(|| vec!["name".to_string()])
}

/// The part of `live` a diff compares: what `desired` sets plus what `owned` holds.
/// Scalars equivalent to desired's (quantities, numbers, int-or-string ports) take
/// desired's spelling. `field` and `parent` are the names of this value and its parent.
pub(crate) fn project(
    live: &Value,
    desired: Option<&Value>,
    owned: Option<&OwnedTree>,
    field: &str,
    parent: &str,
) -> Option<Value> {
    if desired.is_none() && owned.is_none() {
        return None;
    }
    if let Some(d) = desired
        && is_scalar(d)
        && is_scalar(live)
    {
        let same = equivalent(field, parent, d, live);
        return Some(if same { d.clone() } else { live.clone() });
    }
    let owned_leaf_only = owned.is_some_and(|o| o.leaf && o.children.is_empty());
    if desired.is_none() && owned_leaf_only {
        return Some(live.clone());
    }
    let keep_empty = desired.is_some() || owned.is_some_and(|o| o.leaf);
    match live {
        Value::Object(lm) => {
            let dm = match desired {
                Some(Value::Object(m)) => Some(m),
                Some(_) => return Some(live.clone()),
                None => None,
            };
            let mut out = Map::new();
            for (k, lv) in lm {
                let dv = dm.and_then(|m| m.get(k));
                let ov = owned.and_then(|o| o.field(k));
                if let Some(v) = project(lv, dv, ov, k, field) {
                    out.insert(k.clone(), v);
                }
            }
            (keep_empty || !out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(la) => {
            let da = match desired {
                Some(Value::Array(a)) => Some(a),
                Some(_) => return Some(live.clone()),
                None => None,
            };
            let objects = la.iter().all(Value::is_object)
                && da.is_none_or(|a| a.iter().all(Value::is_object));
            if !objects {
                return Some(live.clone());
            }
            let keys = owned
                .and_then(OwnedTree::key_fields)
                .or_else(|| name_key(la, da));
            let mut out = Vec::new();
            for (i, item) in la.iter().enumerate() {
                let di = da.and_then(|da| match &keys {
                    Some(keys) => da.iter().find(|d| same_key(d, item, keys)),
                    None => da.get(i),
                });
                let oi = owned.and_then(|o| o.item(i, item));
                if let Some(v) = project(item, di, oi, field, parent) {
                    out.push(v);
                }
            }
            (keep_empty || !out.is_empty()).then_some(Value::Array(out))
        }
        _ => Some(live.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned(fields_v1: Value) -> OwnedTree {
        OwnedTree::from_set(&FieldSet::from_fields_v1(&fields_v1).unwrap())
    }

    #[test]
    fn projection_keeps_desired_shape_and_drops_defaults() {
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10,
            "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1", "imagePullPolicy": "IfNotPresent"},
                {"name": "istio-proxy", "image": "istio"}]}}}});
        let desired = json!({"spec": {"replicas": 3,
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}}});
        let view = project(&live, Some(&desired), None, "", "").unwrap();
        assert_eq!(
            view,
            json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1"}]}}}})
        );
    }

    #[test]
    fn owned_fields_missing_from_desired_stay_in_view() {
        let live = json!({"metadata": {"labels": {"app": "web", "tier": "x", "other": "y"}},
                          "spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}});
        let desired = json!({"metadata": {"labels": {"app": "web"}},
                             "spec": {"ports": [{"port": 80}]}});
        let o = owned(
            json!({"f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}},
            "f:spec": {"f:ports": {
                "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}},
                "k:{\"port\":443,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}}),
        );
        let view = project(&live, Some(&desired), Some(&o), "", "").unwrap();
        assert_eq!(
            view,
            json!({"metadata": {"labels": {"app": "web", "tier": "x"}},
                   "spec": {"ports": [{"port": 80}, {"port": 443}]}})
        );
    }

    #[test]
    fn remove_path_handles_keys_and_fields() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let path = vec![
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
            PathElement::key(vec![("name".into(), json!("b"))]),
            PathElement::Field("image".into()),
        ];
        remove_path(&mut v, &path);
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}})
        );
        remove_path(&mut v, &path[..3]);
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"name": "a", "image": "x"}]}})
        );
    }
}
