//! Removal of a field set from a value (`RemoveItems`, SMD v4 semantics): members are dropped
//! with everything below them, prefixes are descended into, and a map or list emptied by the
//! removal becomes null.

use super::{Handle, handle, item_pe, pick};
use crate::fieldpath::FieldSet;
use crate::schema::{Schema, TypeRef};
use serde_json::{Map, Value};

/// `v` without the paths of `set`.
pub(crate) fn remove_items(schema: &Schema, ty: TypeRef, v: &Value, set: &FieldSet) -> Value {
    if set.is_empty() {
        return v.clone();
    }
    let atom = schema.atom(ty);
    match handle(atom, pick(atom, Some(v))) {
        Some(Handle::Scalar(_)) | None => v.clone(),
        Some(Handle::List(lt)) => {
            let Value::Array(items) = v else {
                return Value::Null;
            };
            if items.is_empty() || lt.atomic {
                return Value::Null;
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Ok(pe) = item_pe(lt, i, item) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has_member(&pe) {
                    continue;
                }
                match set.child(&pe) {
                    Some(c) => out.push(remove_items(schema, lt.elem, item, c)),
                    None => out.push(item.clone()),
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Array(out)
            }
        }
        Some(Handle::Map(m)) => {
            let Value::Object(obj) = v else {
                return Value::Null;
            };
            if obj.is_empty() || m.atomic {
                return Value::Null;
            }
            let mut out = Map::new();
            for (k, val) in obj {
                if set.has_field_member(k) {
                    continue;
                }
                let kept = match (set.field_child(k), m.child_type(k)) {
                    (Some(c), Some(t)) => remove_items(schema, t, val, c),
                    _ => val.clone(),
                };
                out.insert(k.clone(), kept);
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
    }
}
