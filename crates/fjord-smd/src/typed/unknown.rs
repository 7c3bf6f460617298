//! Unknown-field pruning: the apiserver drops fields a schema does not declare before the
//! field manager sees an object (built-ins through their Go structs, custom resources through
//! structural pruning), or rejects them under `fieldValidation=Strict`. The merge engine treats
//! undeclared fields as typing errors, so callers prune first.

use super::{Handle, handle, pick};
use crate::schema::{Schema, TypeRef};
use serde_json::Value;

/// Removes every field `ty` does not declare (maps with an element type accept any key) and
/// returns their paths in the apiserver's form (`spec.template.spec.containers[0].foo`).
pub fn prune_unknown_fields(schema: &Schema, ty: &TypeRef, obj: &mut Value) -> Vec<String> {
    let mut removed = Vec::new();
    walk(schema, *ty, obj, &mut String::new(), &mut removed);
    removed
}

fn walk(schema: &Schema, ty: TypeRef, v: &mut Value, path: &mut String, removed: &mut Vec<String>) {
    let atom = schema.atom(ty);
    match (handle(atom, pick(atom, Some(v))), v) {
        (Some(Handle::Map(m)), Value::Object(obj)) => {
            let mut unknown = Vec::new();
            for (k, child) in obj.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match m.child_type(k) {
                    Some(t) => walk(schema, t, child, path, removed),
                    None => {
                        removed.push(path.clone());
                        unknown.push(k.clone());
                    }
                }
                path.truncate(len);
            }
            for k in unknown {
                obj.remove(&k);
            }
        }
        (Some(Handle::List(l)), Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(schema, l.elem, item, path, removed);
                path.truncate(len);
            }
        }
        _ => {}
    }
}
