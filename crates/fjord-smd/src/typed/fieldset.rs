//! Field-set extraction (`ToFieldSet`): what a value "sets". Scalars and atomic lists/maps are
//! leaves; list items are members themselves (hence `"."` under every `k:`); map entries are
//! members when their key is not a declared struct field or their value is null or `{}`;
//! duplicated list items (allowed in live objects) are one atomic leaf. Also
//! `EnsureNamedFieldsAreMembers`, used by pruning.

use super::{Handle, duplicate_flags, handle, item_pes, pick};
use crate::fieldpath::{FieldSet, PathElement};
use crate::schema::{Schema, TypeRef};
use serde_json::{Map, Value};

/// The set of paths `v` sets under type `ty`.
pub(crate) fn to_field_set(schema: &Schema, ty: TypeRef, v: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    let atom = schema.atom(ty);
    match (handle(atom, pick(atom, Some(v))), v) {
        (Some(Handle::Map(m)), Value::Object(obj)) if !m.atomic => {
            map_items(schema, m, obj, &mut set);
        }
        (Some(Handle::List(l)), Value::Array(items)) if !l.atomic => {
            list_items(schema, l, items, &mut set);
        }
        _ => {}
    }
    set.compact();
    set
}

/// Adds what `v` (found at `parent`/`pe`) sets, below and including `pe` as SMD would.
pub(crate) fn node_fields(
    schema: &Schema,
    ty: TypeRef,
    v: &Value,
    parent: &mut FieldSet,
    pe: &PathElement,
) {
    node_fields_owned(schema, ty, v, parent, pe.clone());
}

/// [`node_fields`] taking the element by value (saves a copy per node).
fn node_fields_owned(
    schema: &Schema,
    ty: TypeRef,
    v: &Value,
    parent: &mut FieldSet,
    pe: PathElement,
) {
    let atom = schema.atom(ty);
    match handle(atom, pick(atom, Some(v))) {
        Some(Handle::Scalar(_)) => parent.insert_member(pe),
        Some(Handle::List(l)) => {
            if l.atomic {
                parent.insert_member(pe);
            } else if let Value::Array(items) = v {
                list_items(schema, l, items, parent.child_mut_owned(pe));
            }
        }
        Some(Handle::Map(m)) => {
            if m.atomic {
                parent.insert_member(pe);
            } else if let Value::Object(obj) = v {
                map_items(schema, m, obj, parent.child_mut_owned(pe));
            }
        }
        None => {}
    }
}

fn map_items(
    schema: &Schema,
    m: &crate::schema::MapType,
    obj: &Map<String, Value>,
    node: &mut FieldSet,
) {
    for (k, val) in obj {
        let declared = m.field(k);
        let Some(t) = declared.map(|f| f.ty).or(m.elem) else {
            continue;
        };
        let pe = PathElement::Field(k.clone());
        let empty = val.is_null() || val.as_object().is_some_and(Map::is_empty);
        if declared.is_none() || empty {
            node_fields_owned(schema, t, val, node, pe.clone());
            node.insert_member(pe);
        } else {
            node_fields_owned(schema, t, val, node, pe);
        }
    }
}

fn list_items(schema: &Schema, l: &crate::schema::ListType, items: &[Value], node: &mut FieldSet) {
    let pes = item_pes(l, items);
    let dups = duplicate_flags(&pes);
    for ((item, pe), duplicated) in items.iter().zip(pes).zip(dups) {
        let Some(pe) = pe else { continue };
        if !duplicated {
            node_fields_owned(schema, l.elem, item, node, pe.clone());
        }
        node.insert_member(pe);
    }
}

/// Adds every ancestor that is a declared struct field as a member (so removing the set removes
/// emptied parent fields too).
pub(crate) fn ensure_named_fields(schema: &Schema, ty: TypeRef, set: &FieldSet) -> FieldSet {
    ensure(schema, Some(ty), set)
}

fn ensure(schema: &Schema, ty: Option<TypeRef>, set: &FieldSet) -> FieldSet {
    let atom = ty.map(|t| schema.atom(t));
    let mut out = FieldSet {
        members: set.members.clone(),
        children: Vec::with_capacity(set.children.len()),
    };
    for (pe, child) in &set.children {
        let child_ty = match (pe, atom) {
            (PathElement::Field(name), Some(a)) => a.map.as_ref().and_then(|m| {
                if m.field(name).is_some() {
                    out.insert_member(pe.clone());
                }
                m.child_type(name)
            }),
            (_, Some(a)) => a.list.as_ref().map(|l| l.elem),
            (_, None) => None,
        };
        out.children
            .push((pe.clone(), ensure(schema, child_ty, child)));
    }
    out
}
