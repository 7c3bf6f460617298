//! OpenAPI v3: per group-version documents whose operations carry
//! `x-kubernetes-group-version-kind` and the `fieldValidation` parameter, so that kubectl 1.29+
//! `apply` (client- and server-side) hands validation to this server, and whose
//! `components.schemas` hold the kinds' schemas (from the vendored Kubernetes definitions, or the
//! CRD's own) for `kubectl explain`. The strategic-merge-patch media type is left out of request
//! bodies on purpose: without it kubectl computes client-side apply patches from its compiled-in
//! scheme, which matches what this server merges.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::registry::{Origin, ResourceType, Types};

/// `GET /openapi/v3`
pub fn index(types: &Types) -> Value {
    let mut paths = BTreeMap::new();
    for (group, version) in group_versions(types) {
        let prefix = gv_path(&group, &version);
        // The document is a function of the group-version's types: hash those, not the document.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for t in types
            .all()
            .filter(|t| t.group == group && t.version == version)
        {
            format!("{t:?}").hash(&mut h);
        }
        paths.insert(
            prefix.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{prefix}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn group_versions(types: &Types) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in types.all() {
        let gv = (t.group.clone(), t.version.clone());
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// `GET /openapi/v3/<api/v1 | apis/g/v>`
pub fn document(types: &Types, group: &str, version: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for rt in types
        .all()
        .filter(|t| t.group == group && t.version == version)
    {
        let (collection, item) = paths_of(rt);
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let op = |action: &str, write: bool, body: Option<Value>| {
            let mut params =
                vec![json!({"name": "pretty", "in": "query", "schema": {"type": "string"}})];
            if write {
                for p in ["dryRun", "fieldManager", "fieldValidation"] {
                    params.push(json!({"name": p, "in": "query", "schema": {"type": "string"}}));
                }
            }
            let mut o = json!({
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
            });
            if let Some(b) = body {
                o["requestBody"] = json!({"content": b});
            }
            o
        };
        let json_body = json!({"application/json": {}, "application/yaml": {}});
        let patch_body = json!({"application/json-patch+json": {}, "application/merge-patch+json": {}, "application/apply-patch+yaml": {}});
        paths.insert(
            collection,
            json!({
                "get": op("list", false, None),
                "post": op("post", true, Some(json_body.clone())),
                "delete": op("deletecollection", false, None),
            }),
        );
        paths.insert(
            item.clone(),
            json!({
                "get": op("get", false, None),
                "put": op("put", true, Some(json_body.clone())),
                "patch": op("patch", true, Some(patch_body.clone())),
                "delete": op("delete", false, None),
            }),
        );
        if rt.status_subresource {
            paths.insert(
                format!("{item}/status"),
                json!({"get": op("get", false, None), "put": op("put", true, Some(json_body.clone())), "patch": op("patch", true, Some(patch_body.clone()))}),
            );
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas(types, group, version)},
    })
}

/// The schemas of a group-version's kinds and everything they reference, in OpenAPI v3 form.
fn schemas(types: &Types, group: &str, version: &str) -> Map<String, Value> {
    let defs = fjord_smd::builtin_definitions();
    let mut out = Map::new();
    let mut pending: Vec<String> = Vec::new();
    for rt in types
        .all()
        .filter(|t| t.group == group && t.version == version)
    {
        match &rt.origin {
            Origin::Builtin => {
                if let Some(name) = builtin_definition_name(defs, rt) {
                    pending.push(name);
                }
            }
            Origin::Crd { schema, .. } => {
                let mut root = schema.clone().unwrap_or_else(|| json!({"type": "object"}));
                if let Some(props) = root
                    .as_object_mut()
                    .map(|o| o.entry("properties").or_insert_with(|| json!({})))
                    .and_then(Value::as_object_mut)
                {
                    props.insert(
                        "metadata".into(),
                        json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}),
                    );
                }
                root["x-kubernetes-group-version-kind"] =
                    json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]);
                let reversed: Vec<&str> = rt.group.split('.').rev().collect();
                out.insert(
                    format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind),
                    root,
                );
                pending.push("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into());
            }
        }
    }
    while let Some(name) = pending.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(def) = defs.get(&name) else { continue };
        let converted = to_openapi_v3(def, &mut pending);
        out.insert(name, converted);
    }
    out
}

fn builtin_definition_name(defs: &Value, rt: &ResourceType) -> Option<String> {
    defs.as_object()?.iter().find_map(|(name, d)| {
        let gvks = d.get("x-kubernetes-group-version-kind")?.as_array()?;
        gvks.iter()
            .any(|g| {
                g.get("group").and_then(Value::as_str) == Some(rt.group.as_str())
                    && g.get("version").and_then(Value::as_str) == Some(rt.version.as_str())
                    && g.get("kind").and_then(Value::as_str) == Some(rt.kind.as_str())
            })
            .then(|| name.clone())
    })
}

/// JSON-schema (kubernetes-validate's rendering) → OpenAPI v3: references into
/// `#/components/schemas`, single types instead of `[type, "null"]`, int-or-string marked the way
/// the Kubernetes OpenAPI marks it. Referenced names are queued on `refs`.
fn to_openapi_v3(schema: &Value, refs: &mut Vec<String>) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(alts)) = map.get("oneOf") {
                let kinds: Vec<&str> = alts
                    .iter()
                    .filter_map(|a| single_type(a.get("type")))
                    .collect();
                if kinds == ["string", "integer"] {
                    return json!({"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]});
                }
                if kinds == ["string", "number"] {
                    // Quantity: the Kubernetes OpenAPI calls it a string.
                    let mut q = json!({"type": "string"});
                    if let Some(d) = map.get("description") {
                        q["description"] = d.clone();
                    }
                    return q;
                }
            }
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "$ref" => {
                        let name = v.as_str().and_then(|r| r.rsplit('/').next()).unwrap_or("");
                        refs.push(name.to_string());
                        out.insert("$ref".into(), json!(format!("#/components/schemas/{name}")));
                    }
                    "type" => {
                        if let Some(t) = single_type(Some(v)) {
                            out.insert("type".into(), json!(t));
                        }
                    }
                    "properties" => {
                        let props: Map<String, Value> = v
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(pk, pv)| (pk.clone(), to_openapi_v3(pv, refs)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    "items" | "additionalProperties" => {
                        out.insert(k.clone(), to_openapi_v3(v, refs));
                    }
                    "$schema" | "$id" | "x-kubernetes-unions" => {}
                    "enum" => {
                        let values: Vec<Value> = v
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|x| !x.is_null())
                            .cloned()
                            .collect();
                        out.insert(k.clone(), Value::Array(values));
                    }
                    _ => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// `"string"` or `["string", "null"]` → `string`.
fn single_type(t: Option<&Value>) -> Option<&str> {
    match t? {
        Value::String(s) => Some(s),
        Value::Array(a) => a.iter().filter_map(Value::as_str).find(|s| *s != "null"),
        _ => None,
    }
}

/// `GET /openapi/v2`: kubectl 1.27–1.28 fetch only this, and only as gnostic protobuf; it carries
/// the same per-kind PATCH operations as the v3 documents. Returns (content type, body).
pub fn v2(types: &Types, protobuf: bool) -> Result<(&'static str, Vec<u8>), String> {
    let kinds: Vec<fjord_kube_proto::ServedKind<'_>> = types
        .all()
        .map(|t| fjord_kube_proto::ServedKind {
            group: &t.group,
            version: &t.version,
            kind: &t.kind,
            plural: &t.plural,
            namespaced: t.namespaced,
        })
        .collect();
    let swagger = fjord_kube_proto::field_validation_swagger(&kinds);
    if protobuf {
        let bytes = fjord_kube_proto::encode_openapi_v2(&swagger).map_err(|e| e.to_string())?;
        // kubectl refuses the Accept value echoed back as a Content-Type.
        Ok((fjord_kube_proto::OPENAPI_V2_PROTOBUF_CONTENT_TYPE, bytes))
    } else {
        Ok((
            "application/json",
            serde_json::to_vec(&swagger).map_err(|e| e.to_string())?,
        ))
    }
}

fn paths_of(rt: &ResourceType) -> (String, String) {
    let base = format!("/{}", gv_path(&rt.group, &rt.version));
    let collection = if rt.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{base}/{}", rt.plural)
    };
    let item = format!("{collection}/{{name}}");
    (collection, item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn patch_operations_name_their_kind_and_take_field_validation() {
        let reg = Registry::new();
        let doc = document(&reg.snapshot(), "", "v1");
        let op = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "ConfigMap");
        assert!(
            op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let cm = &schemas["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(cm["properties"]["data"]["type"], "object");
        assert_eq!(
            cm["properties"]["metadata"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
        let index = index(&reg.snapshot());
        assert!(
            index["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/apps/v1?hash=")
        );
    }
}
