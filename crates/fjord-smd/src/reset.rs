//! Reset fields: the fields an endpoint ignores (`status` on the main resource of a kind with a
//! status subresource, `spec` on `/status`, Namespace `spec.finalizers`). They are excluded from
//! ownership by the merge engine, and their values are put back to the live ones after the
//! field manager ran, as the registry strategies' PrepareForCreate / PrepareForUpdate do.

use crate::fieldpath::{FieldPath, FieldSet, PathElement};
use serde_json::{Map, Value};

pub(crate) fn reset_set(paths: &[FieldPath]) -> FieldSet {
    let mut s = FieldSet::new();
    for p in paths {
        s.insert(p.elements());
    }
    s
}

/// Field-name path of a reset field, if it is one (only those can be reset in values).
fn field_names(p: &FieldPath) -> Option<Vec<&str>> {
    p.elements()
        .iter()
        .map(|pe| match pe {
            PathElement::Field(n) => Some(n.as_str()),
            _ => None,
        })
        .collect()
}

fn get_path<'v>(v: &'v Value, names: &[&str]) -> Option<&'v Value> {
    names.iter().try_fold(v, |cur, n| cur.get(*n))
}

fn remove_path(v: &mut Value, names: &[&str]) {
    let Some((last, prefix)) = names.split_last() else {
        return;
    };
    let mut cur = v;
    for n in prefix {
        match cur.get_mut(*n) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(*last);
    }
}

fn set_path(v: &mut Value, names: &[&str], new: Value) {
    let Some((last, prefix)) = names.split_last() else {
        return;
    };
    let mut cur = v;
    for n in prefix {
        let Value::Object(m) = cur else { return };
        cur = m
            .entry(n.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Value::Object(m) = cur {
        m.insert(last.to_string(), new);
    }
}

/// Makes `obj` carry the live value at every reset path (or nothing).
pub(crate) fn reset_values(obj: &mut Value, live: Option<&Value>, paths: &[FieldPath]) {
    for p in paths {
        let Some(names) = field_names(p) else {
            continue;
        };
        match live.and_then(|l| get_path(l, &names)) {
            Some(v) => set_path(obj, &names, v.clone()),
            None => remove_path(obj, &names),
        }
    }
}
