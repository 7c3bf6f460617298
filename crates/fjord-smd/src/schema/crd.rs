//! CRD `openAPIV3Schema` → schema. The CRD schema goes through the same converter as the
//! built-in definitions (CRDs carry no patch strategies, so unmarked lists end up atomic), after
//! the apiserver's additions: `apiVersion`, `kind` and `metadata` (ObjectMeta) at the root and
//! in every `x-kubernetes-embedded-resource` object. Named types the result refers to
//! (ObjectMeta and what it uses) are taken from the built-in document.

use super::convert::{Converter, untyped_types};
use super::{Schema, SchemaError, TypeRef, builtin_document, compile};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The definition name the apiserver gives a CR root: reversed group, version, kind.
pub(crate) fn root_type_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').filter(|s| !s.is_empty()).collect();
    parts.reverse();
    parts.push(version);
    parts.push(kind);
    parts.join(".")
}

fn add_object_meta(node: &mut Map<String, Value>) {
    let props = node
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = props {
        props.insert("apiVersion".into(), json!({"type": "string"}));
        props.insert("kind".into(), json!({"type": "string"}));
        props.insert(
            "metadata".into(),
            json!({"$ref": format!("#/definitions/{OBJECT_META}")}),
        );
    }
}

fn add_embedded_meta(node: &mut Value) {
    match node {
        Value::Object(m) => {
            if m.get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true)
            {
                add_object_meta(m);
            }
            for (k, v) in m.iter_mut() {
                match k.as_str() {
                    "properties" => {
                        if let Value::Object(ps) = v {
                            ps.values_mut().for_each(add_embedded_meta);
                        }
                    }
                    "items" | "additionalProperties" => add_embedded_meta(v),
                    _ => {}
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(add_embedded_meta),
        _ => {}
    }
}

fn collect_named(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(n) = m.get("namedType").and_then(Value::as_str) {
                out.push(n.to_string());
            }
            m.values().for_each(|x| collect_named(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_named(x, out)),
        _ => {}
    }
}

/// Converts the CRD root schema to a document type named like the apiserver names it.
pub(crate) fn convert_root(
    group: &str,
    version: &str,
    kind: &str,
    open_api_v3_schema: &Value,
) -> Result<Value, SchemaError> {
    let name = root_type_name(group, version, kind);
    let mut root = open_api_v3_schema.clone();
    let Value::Object(m) = &mut root else {
        return Err(SchemaError::ConvertFailed {
            type_name: name,
            at: String::new(),
            reason: "openAPIV3Schema is not an object".into(),
        });
    };
    m.insert("type".into(), json!("object"));
    add_embedded_meta(&mut root);
    if let Value::Object(m) = &mut root {
        add_object_meta(m);
    }
    let c = Converter {
        defs: None,
        type_name: name.clone(),
    };
    let mut t = Map::new();
    t.insert("name".into(), json!(name));
    t.extend(c.atom(&root, "")?);
    Ok(Value::Object(t))
}

pub(crate) fn from_crd_schema(
    group: &str,
    version: &str,
    kind: &str,
    open_api_v3_schema: &Value,
) -> Result<(Schema, TypeRef), SchemaError> {
    let root = convert_root(group, version, kind, open_api_v3_schema)?;
    let builtin: HashMap<&str, &Value> = builtin_document()
        .iter()
        .filter_map(|t| Some((t.get("name")?.as_str()?, t)))
        .collect();
    let mut types = vec![root];
    let mut seen: HashSet<String> = HashSet::new();
    let mut pending = Vec::new();
    collect_named(&types[0], &mut pending);
    while let Some(n) = pending.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(t) = builtin.get(n.as_str()) {
            collect_named(t, &mut pending);
            if n != super::UNTYPED_ATOMIC && n != super::UNTYPED_DEDUCED {
                types.push((*t).clone());
            }
        }
    }
    types.extend(untyped_types());
    let mut schema = compile::compile(&types)?;
    let root = TypeRef(0);
    schema.register_gvk(root, group, version, kind);
    Ok((schema, root))
}
