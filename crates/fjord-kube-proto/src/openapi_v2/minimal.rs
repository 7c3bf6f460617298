//! The smallest Swagger document that lets kubectl validate `apply` input server-side.
//!
//! kubectl (1.27–1.28 always, 1.29–1.33 when `/openapi/v3` is 404) asks OpenAPI v2 whether the
//! server supports the `fieldValidation` query parameter for a kind: it looks for a PATCH operation
//! tagged `x-kubernetes-group-version-kind` with that kind listing the parameter. If found it skips
//! client-side schema validation and sends `fieldValidation=Strict`. Kinds without such an operation
//! (custom resources) fall back to the Namespace operation plus a CRD lookup. Measured against the
//! real binaries in tests/kubectl_openapi_v2.rs.

use serde_json::{Map, Value, json};

/// One kind the server serves, for [`field_validation_swagger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedKind<'a> {
    /// API group; empty for the core group.
    pub group: &'a str,
    /// API version, e.g. `v1`.
    pub version: &'a str,
    /// Kind, e.g. `ConfigMap`.
    pub kind: &'a str,
    /// Resource (plural) name in URLs, e.g. `configmaps`.
    pub plural: &'a str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

/// A Swagger 2.0 document with one PATCH operation per kind (plus the core Namespace operation
/// custom resources rely on), each tagged with its group/version/kind and listing the
/// `fieldValidation` query parameter. Feed it to [`crate::encode_openapi_v2`] and serve the bytes
/// at `/openapi/v2`. The server must then validate strictly itself.
pub fn field_validation_swagger(kinds: &[ServedKind<'_>]) -> Value {
    let namespace = ServedKind {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        namespaced: false,
    };
    let mut paths = Map::new();
    for served in std::iter::once(&namespace).chain(kinds) {
        let prefix = if served.group.is_empty() {
            format!("/api/{}", served.version)
        } else {
            format!("/apis/{}/{}", served.group, served.version)
        };
        let scope = if served.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let path = format!("{prefix}{scope}/{}/{{name}}", served.plural);
        paths.insert(
            path,
            json!({"patch": {
                "parameters": [{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind":
                    {"group": served.group, "version": served.version, "kind": served.kind}
            }}),
        );
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_group_and_scope_and_always_include_namespace() {
        let doc = field_validation_swagger(&[
            ServedKind {
                group: "",
                version: "v1",
                kind: "ConfigMap",
                plural: "configmaps",
                namespaced: true,
            },
            ServedKind {
                group: "rbac.authorization.k8s.io",
                version: "v1",
                kind: "ClusterRole",
                plural: "clusterroles",
                namespaced: false,
            },
        ]);
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 3);
        let cm = &paths["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(cm["x-kubernetes-group-version-kind"]["kind"], "ConfigMap");
        assert_eq!(cm["parameters"][0]["name"], "fieldValidation");
        let cr = &paths["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["patch"];
        assert_eq!(
            cr["x-kubernetes-group-version-kind"]["group"],
            "rbac.authorization.k8s.io"
        );
        assert!(paths.contains_key("/api/v1/namespaces/{name}"));
        assert!(crate::encode_openapi_v2(&doc).is_ok());
    }
}
