//! OpenAPI v3, as much as kubectl's validation needs: per group-version documents whose operations
//! carry `x-kubernetes-group-version-kind` and the `fieldValidation` parameter, so that kubectl
//! 1.29+ `apply` (client- and server-side) validates by asking this server to do it. The
//! strategic-merge-patch media type is left out of request bodies on purpose: without it kubectl
//! computes client-side apply patches from its compiled-in scheme, which matches what this server
//! merges.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde_json::{Value, json};

use crate::registry::{ResourceType, Types};

/// `GET /openapi/v3`
pub fn index(types: &Types) -> Value {
    let mut paths = BTreeMap::new();
    for (group, version) in group_versions(types) {
        let prefix = gv_path(&group, &version);
        let doc = document(types, &group, &version);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        doc.to_string().hash(&mut h);
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
        "components": {"schemas": {}},
    })
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
        let index = index(&reg.snapshot());
        assert!(
            index["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/apps/v1?hash=")
        );
    }
}
