//! SMD schema document → arena. Named types get the first ids so `namedType` references are
//! plain indices; inline types are appended as they are met; a second pass fills each
//! map-list's key defaults from its element type's fields.

use super::{Atom, Field, ListType, MapType, ScalarKind, Schema, SchemaError, TypeRef};
use serde_json::Value;

pub(crate) fn compile(types: &[Value]) -> Result<Schema, SchemaError> {
    let mut schema = Schema::default();
    for (i, t) in types.iter().enumerate() {
        let name =
            t.get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| SchemaError::DocumentInvalid {
                    type_name: format!("#{i}"),
                    reason: "type without name".into(),
                })?;
        schema.names.insert(name.to_string(), TypeRef(i as u32));
    }
    schema.atoms = vec![Atom::default(); types.len()];
    for (i, t) in types.iter().enumerate() {
        let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
        let atom = compile_atom(&mut schema, t, name)?;
        schema.atoms[i] = atom;
    }
    // Key defaults: needs every element type compiled first.
    for i in 0..schema.atoms.len() {
        let Some(list) = &schema.atoms[i].list else {
            continue;
        };
        if list.keys.is_empty() {
            continue;
        }
        let defaults = {
            let elem = schema.atom(list.elem);
            list.keys
                .iter()
                .map(|k| {
                    elem.map
                        .as_ref()
                        .and_then(|m| m.field(k))
                        .and_then(|f| f.default.clone())
                })
                .collect()
        };
        if let Some(list) = &mut schema.atoms[i].list {
            list.key_defaults = defaults;
        }
    }
    Ok(schema)
}

fn invalid(name: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError::DocumentInvalid {
        type_name: name.to_string(),
        reason: reason.into(),
    }
}

fn compile_ref(schema: &mut Schema, r: &Value, owner: &str) -> Result<TypeRef, SchemaError> {
    if let Some(n) = r.get("namedType").and_then(Value::as_str) {
        return schema
            .names
            .get(n)
            .copied()
            .ok_or_else(|| SchemaError::UnknownType {
                name: n.to_string(),
                from: owner.to_string(),
            });
    }
    let atom = compile_atom(schema, r, owner)?;
    schema.atoms.push(atom);
    Ok(TypeRef((schema.atoms.len() - 1) as u32))
}

fn compile_atom(schema: &mut Schema, t: &Value, owner: &str) -> Result<Atom, SchemaError> {
    let mut atom = Atom::default();
    if let Some(s) = t.get("scalar") {
        atom.scalar = Some(match s.as_str() {
            Some("string") => ScalarKind::String,
            Some("numeric") => ScalarKind::Numeric,
            Some("boolean") => ScalarKind::Boolean,
            Some("untyped") => ScalarKind::Untyped,
            _ => return Err(invalid(owner, format!("unknown scalar {s}"))),
        });
    }
    if let Some(l) = t.get("list") {
        let elem = l
            .get("elementType")
            .ok_or_else(|| invalid(owner, "list without elementType"))?;
        let elem = compile_ref(schema, elem, owner)?;
        let rel = l
            .get("elementRelationship")
            .and_then(Value::as_str)
            .unwrap_or("atomic");
        let keys: Vec<String> = l
            .get("keys")
            .and_then(Value::as_array)
            .map(|ks| {
                ks.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        atom.list = Some(ListType {
            elem,
            atomic: rel == "atomic",
            key_defaults: vec![None; keys.len()],
            keys,
        });
    }
    if let Some(m) = t.get("map") {
        let mut fields = Vec::new();
        if let Some(fs) = m.get("fields").and_then(Value::as_array) {
            for f in fs {
                let name = f
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(owner, "field without name"))?;
                let ty = f
                    .get("type")
                    .ok_or_else(|| invalid(owner, format!("field {name} without type")))?;
                let ty = compile_ref(schema, ty, owner)?;
                fields.push(Field {
                    name: name.to_string(),
                    ty,
                    default: f.get("default").cloned(),
                });
            }
        }
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        let elem = match m.get("elementType") {
            Some(e) => Some(compile_ref(schema, e, owner)?),
            None => None,
        };
        atom.map = Some(MapType {
            fields,
            elem,
            atomic: m.get("elementRelationship").and_then(Value::as_str) == Some("atomic"),
        });
    }
    if atom.scalar.is_none() && atom.list.is_none() && atom.map.is_none() {
        return Err(invalid(owner, "type is neither scalar, list nor map"));
    }
    Ok(atom)
}
