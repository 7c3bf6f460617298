//! Merge of an applied configuration into the live object (`Merge`): the configuration wins at
//! every leaf; granular maps merge per key; associative lists merge per item name, ordered the
//! way SMD >= v4.2 orders them (items of the configuration in its order, live-only items kept
//! where they were); duplicated live items named by the configuration are replaced by it.

use super::{Handle, as_list, as_map, handle, item_pes, pick};
use crate::fieldpath::PathElement;
use crate::schema::{ListType, Schema, TypeRef};
use crate::value::equals;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Merges `rhs` (configuration) into `lhs` (live) under type `ty`.
pub(crate) fn merge(schema: &Schema, ty: TypeRef, lhs: &Value, rhs: &Value) -> Value {
    node(schema, ty, Some(lhs), Some(rhs)).unwrap_or(Value::Null)
}

fn node(schema: &Schema, ty: TypeRef, l: Option<&Value>, r: Option<&Value>) -> Option<Value> {
    let (l, r) = match (l, r) {
        (None, None) => return None,
        (Some(l), None) => return Some(l.clone()),
        (None, Some(r)) => return Some(r.clone()),
        (Some(l), Some(r)) => (l, r),
    };
    if equals(l, r) {
        // Merging equal values yields the configuration's value.
        return Some(r.clone());
    }
    let atom = schema.atom(ty);
    let (pl, pr) = (pick(atom, Some(l)), pick(atom, Some(r)));
    if pl != pr {
        return Some(r.clone());
    }
    match handle(atom, pr) {
        Some(Handle::Scalar(_)) | None => Some(r.clone()),
        Some(Handle::List(lt)) => {
            let (la, ra) = (as_list(Some(l)), as_list(Some(r)));
            let empty = la.is_none_or(Vec::is_empty) && ra.is_none_or(Vec::is_empty);
            if lt.atomic || empty {
                return Some(r.clone());
            }
            let out = merge_list(
                schema,
                lt,
                la.map_or(&[][..], |v| v),
                ra.map_or(&[][..], |v| v),
            );
            Some(Value::Array(out))
        }
        Some(Handle::Map(m)) => {
            let (lm, rm) = (as_map(Some(l)), as_map(Some(r)));
            let empty = lm.is_none_or(|x| x.is_empty()) && rm.is_none_or(|x| x.is_empty());
            if m.atomic || empty {
                return Some(r.clone());
            }
            let mut out = Map::new();
            if let Some(lm) = lm {
                for (k, lv) in lm {
                    let rv = rm.and_then(|x| x.get(k));
                    let merged = match m.child_type(k) {
                        Some(t) => node(schema, t, Some(lv), rv),
                        None => rv.or(Some(lv)).cloned(),
                    };
                    if let Some(v) = merged {
                        out.insert(k.clone(), v);
                    }
                }
            }
            if let Some(rm) = rm {
                for (k, rv) in rm {
                    if !out.contains_key(k) {
                        out.insert(k.clone(), rv.clone());
                    }
                }
            }
            Some(Value::Object(out))
        }
    }
}

fn merge_list(schema: &Schema, lt: &ListType, la: &[Value], ra: &[Value]) -> Vec<Value> {
    let lp = item_pes(lt, la);
    let rp = item_pes(lt, ra);
    // Live items by name; a duplicated name maps to None (replaced by the configuration).
    let mut observed_l: BTreeMap<&PathElement, Option<&Value>> = BTreeMap::new();
    for (item, pe) in la.iter().zip(&lp) {
        if let Some(pe) = pe {
            observed_l
                .entry(pe)
                .and_modify(|v| *v = None)
                .or_insert(Some(item));
        }
    }
    let mut observed_r: BTreeMap<&PathElement, &Value> = BTreeMap::new();
    for (item, pe) in ra.iter().zip(&rp) {
        if let Some(pe) = pe {
            observed_r.entry(pe).or_insert(item);
        }
    }
    let lhs: Vec<(usize, &PathElement)> = lp
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, p.as_ref()?)))
        .collect();
    let rhs: Vec<&PathElement> = rp.iter().flatten().collect();
    let mut shared = rhs
        .iter()
        .filter(|pe| observed_l.contains_key(**pe))
        .copied();
    let mut next_shared = shared.next();
    let mut merged_r: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(la.len().max(ra.len()));
    // At least one side is always present, so an item never merges to nothing.
    let item =
        |l: Option<&Value>, r: Option<&Value>| node(schema, lt.elem, l, r).unwrap_or(Value::Null);
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = lhs[li].1;
            if pe == rhs[ri] {
                merged_r.insert(pe);
                let l = observed_l.get(pe).copied().flatten();
                out.push(item(l, observed_r.get(pe).copied()));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if observed_r.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let (idx, pe) = lhs[li];
            if !observed_r.contains_key(pe) {
                out.push(item(Some(&la[idx]), None));
                li += 1;
                continue;
            } else if merged_r.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = rhs[ri];
            merged_r.insert(pe);
            let l = observed_l.get(pe).copied().flatten();
            out.push(item(l, observed_r.get(pe).copied()));
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.next();
            }
        }
    }
    out
}
