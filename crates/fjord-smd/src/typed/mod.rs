//! Schema-directed walkers over JSON objects: validation (typing), field-set extraction,
//! comparison, merge and removal. Each follows structured-merge-diff's rules for which part
//! of an untyped atom applies to a value, how list items are named, and when an empty or null
//! container counts as a leaf.

mod compare;
mod fieldset;
mod merge;
mod remove;
mod unknown;
mod validate;

pub(crate) use compare::{Comparison, compare};
pub(crate) use fieldset::{ensure_named_fields, to_field_set};
pub(crate) use merge::merge;
pub(crate) use remove::remove_items;
pub use unknown::prune_unknown_fields;
pub(crate) use validate::validate;

use crate::fieldpath::PathElement;
use crate::schema::{Atom, ListType, MapType, ScalarKind};
use crate::value::{Kind, kind};
use serde_json::Value;

/// Which parts of an atom apply to a value (`deduceAtom`): (scalar, list, map).
pub(crate) type Pick = (bool, bool, bool);

pub(crate) fn pick(atom: &Atom, v: Option<&Value>) -> Pick {
    let full = (
        atom.scalar.is_some(),
        atom.list.is_some(),
        atom.map.is_some(),
    );
    match v.map(kind) {
        Some(Kind::Bool | Kind::Number | Kind::String) if full.0 => (true, false, false),
        Some(Kind::List) if full.1 => (false, true, false),
        Some(Kind::Map) if full.2 => (false, false, true),
        _ => full,
    }
}

/// The handler a pick dispatches to: map first, then scalar, then list (`handleAtom`).
pub(crate) enum Handle<'a> {
    Scalar(ScalarKind),
    List(&'a ListType),
    Map(&'a MapType),
}

pub(crate) fn handle(atom: &Atom, p: Pick) -> Option<Handle<'_>> {
    if p.2
        && let Some(m) = &atom.map
    {
        return Some(Handle::Map(m));
    }
    if p.0
        && let Some(s) = atom.scalar
    {
        return Some(Handle::Scalar(s));
    }
    if p.1
        && let Some(l) = &atom.list
    {
        return Some(Handle::List(l));
    }
    None
}

/// Names a list item: `k:` from the key fields (filling schema defaults), `v:` for sets,
/// `i:` for atomic lists.
pub(crate) fn item_pe(list: &ListType, index: usize, item: &Value) -> Result<PathElement, String> {
    if list.atomic {
        return Ok(PathElement::Index(index as i64));
    }
    if list.keys.is_empty() {
        return match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            _ => Ok(PathElement::Value(item.clone())),
        };
    }
    if item.is_null() {
        return Err("associative list with keys may not have a null element".into());
    }
    let Value::Object(m) = item else {
        return Err("associative list with keys may not have non-map elements".into());
    };
    let mut fields = Vec::with_capacity(list.keys.len());
    for (k, default) in list.keys.iter().zip(&list.key_defaults) {
        match (m.get(k), default) {
            (Some(v), _) => fields.push((k.clone(), v.clone())),
            (None, Some(d)) => fields.push((k.clone(), d.clone())),
            (None, None) => {
                return Err(format!(
                    "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                ));
            }
        }
    }
    Ok(PathElement::key(fields))
}

/// Checks that [`item_pe`] would succeed, without building the element.
pub(crate) fn check_item(list: &ListType, item: &Value) -> Result<(), String> {
    if list.atomic {
        return Ok(());
    }
    if list.keys.is_empty() {
        return match item {
            Value::Object(_) | Value::Array(_) => item_pe(list, 0, item).map(|_| ()),
            _ => Ok(()),
        };
    }
    match item {
        Value::Object(m) => {
            for (k, default) in list.keys.iter().zip(&list.key_defaults) {
                if default.is_none() && !m.contains_key(k) {
                    return item_pe(list, 0, item).map(|_| ());
                }
            }
            Ok(())
        }
        _ => item_pe(list, 0, item).map(|_| ()),
    }
}

/// Names every item of a list; items that cannot be named are skipped (callers validated).
pub(crate) fn item_pes(list: &ListType, items: &[Value]) -> Vec<Option<PathElement>> {
    items
        .iter()
        .enumerate()
        .map(|(i, it)| item_pe(list, i, it).ok())
        .collect()
}

/// A value as an array, treating null as absent.
pub(crate) fn as_list(v: Option<&Value>) -> Option<&Vec<Value>> {
    v.and_then(Value::as_array)
}

/// A value as an object, treating null as absent.
pub(crate) fn as_map(v: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    v.and_then(Value::as_object)
}

/// For each item: is its name shared with another item (a duplicate key)?
pub(crate) fn duplicate_flags(pes: &[Option<PathElement>]) -> Vec<bool> {
    let mut flags = vec![false; pes.len()];
    if pes.len() < 2 {
        return flags;
    }
    let mut order: Vec<usize> = (0..pes.len()).filter(|&i| pes[i].is_some()).collect();
    order.sort_by(|&a, &b| pes[a].cmp(&pes[b]));
    for w in order.windows(2) {
        if pes[w[0]] == pes[w[1]] {
            flags[w[0]] = true;
            flags[w[1]] = true;
        }
    }
    flags
}
