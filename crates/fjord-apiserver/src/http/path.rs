//! Request paths → what they address.

use std::sync::Arc;

use crate::registry::{ResourceType, Types};

/// What a request path addresses.
#[derive(Debug)]
pub enum Target {
    /// `/version`
    Version,
    /// `/healthz`, `/livez`, `/readyz` (and their sub-checks)
    Health,
    /// `/metrics` (Prometheus text)
    Metrics,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    ResourceList {
        /// API group.
        group: String,
        /// Version.
        version: String,
    },
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3`
    OpenApiV3Index,
    /// `/openapi/v3/<api/v1 | apis/g/v>`
    OpenApiV3 {
        /// API group.
        group: String,
        /// Version.
        version: String,
    },
    /// A resource, a collection or an object.
    Resource(ResourceRequest),
    /// `/api/v1/namespaces/<ns>/services/<[scheme:]name[:port]>/proxy[/<path>]`
    ServiceProxy {
        /// The Service's namespace.
        namespace: String,
        /// The path segment naming the service, scheme and port as clients write it.
        service: String,
        /// The path to request from the endpoint (always starts with `/`).
        path: String,
    },
}

/// A path that addresses a served resource.
#[derive(Debug)]
pub struct ResourceRequest {
    /// The type.
    pub rt: Arc<ResourceType>,
    /// The namespace in the path (namespaced requests), None for cluster-scoped or all-namespace ones.
    pub namespace: Option<String>,
    /// The object's name, None for collection requests.
    pub name: Option<String>,
    /// `status`, `scale`, `finalize`...
    pub subresource: Option<String>,
}

/// Why a path is not served.
#[derive(Debug)]
pub enum PathError {
    /// Nothing is served there.
    NotFound,
}

/// Parses a request path against the served types.
pub fn parse(path: &str, types: &Types) -> Result<Target, PathError> {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
    match segs.as_slice() {
        ["version"] => Ok(Target::Version),
        ["healthz" | "livez" | "readyz", ..] => Ok(Target::Health),
        ["metrics"] => Ok(Target::Metrics),
        ["api"] => Ok(Target::CoreVersions),
        ["apis"] => Ok(Target::Groups),
        ["openapi", "v2"] => Ok(Target::OpenApiV2),
        ["openapi", "v3"] => Ok(Target::OpenApiV3Index),
        ["openapi", "v3", "api", v] => Ok(Target::OpenApiV3 {
            group: String::new(),
            version: v.to_string(),
        }),
        ["openapi", "v3", "apis", g, v] => Ok(Target::OpenApiV3 {
            group: g.to_string(),
            version: v.to_string(),
        }),
        ["apis", g] => {
            if types.groups().iter().any(|x| x == g) {
                Ok(Target::Group(g.to_string()))
            } else {
                Err(PathError::NotFound)
            }
        }
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "services",
            service,
            "proxy",
            ..,
        ] => Ok(Target::ServiceProxy {
            namespace: ns.to_string(),
            service: service.to_string(),
            path: proxied_path(path, service),
        }),
        ["api", v] => served_version(types, "", v),
        ["apis", g, v] => served_version(types, g, v),
        ["api", v, rest @ ..] => resource(types, "", v, rest),
        ["apis", g, v, rest @ ..] => resource(types, g, v, rest),
        _ => Err(PathError::NotFound),
    }
}

/// What follows `/proxy` in a service proxy path, kept as written (trailing slash included).
fn proxied_path(path: &str, service: &str) -> String {
    let marker = format!("/services/{service}/proxy");
    let rest = path
        .split_once(&marker)
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    }
}

fn served_version(types: &Types, group: &str, version: &str) -> Result<Target, PathError> {
    if types.versions_of(group).iter().any(|v| v == version) {
        Ok(Target::ResourceList {
            group: group.to_string(),
            version: version.to_string(),
        })
    } else {
        Err(PathError::NotFound)
    }
}

fn resource(types: &Types, group: &str, version: &str, rest: &[&str]) -> Result<Target, PathError> {
    // `namespaces/<ns>/<resource>...` addresses a namespaced resource when <resource> is one;
    // otherwise `namespaces/...` is the Namespace resource itself (core group only).
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(rt) = types.get(group, version, plural)
        && rt.namespaced
    {
        let (name, sub) = name_and_sub(tail)?;
        return Ok(Target::Resource(ResourceRequest {
            rt,
            namespace: Some(ns.to_string()),
            name,
            subresource: sub,
        }));
    }
    let [plural, tail @ ..] = rest else {
        return Err(PathError::NotFound);
    };
    let rt = types
        .get(group, version, plural)
        .ok_or(PathError::NotFound)?;
    let (name, sub) = name_and_sub(tail)?;
    // A namespaced resource addressed without a namespace: only list/watch across namespaces.
    if rt.namespaced && name.is_some() {
        return Err(PathError::NotFound);
    }
    Ok(Target::Resource(ResourceRequest {
        rt,
        namespace: None,
        name,
        subresource: sub,
    }))
}

fn name_and_sub(tail: &[&str]) -> Result<(Option<String>, Option<String>), PathError> {
    match tail {
        [] => Ok((None, None)),
        [name] => Ok((Some(name.to_string()), None)),
        [name, sub] => Ok((Some(name.to_string()), Some(sub.to_string()))),
        _ => Err(PathError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn res(path: &str) -> ResourceRequest {
        let reg = Registry::new();
        match parse(path, &reg.snapshot()).unwrap() {
            Target::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaces_are_told_apart_from_namespaced_resources() {
        let r = res("/api/v1/namespaces/default/configmaps/x");
        assert_eq!(
            (
                r.rt.plural.as_str(),
                r.namespace.as_deref(),
                r.name.as_deref()
            ),
            ("configmaps", Some("default"), Some("x"))
        );
        let r = res("/api/v1/namespaces/default");
        assert_eq!(
            (r.rt.plural.as_str(), r.namespace, r.name.as_deref()),
            ("namespaces", None, Some("default"))
        );
        let r = res("/api/v1/namespaces/foo/finalize");
        assert_eq!(
            (r.name.as_deref(), r.subresource.as_deref()),
            (Some("foo"), Some("finalize"))
        );
        let r = res("/apis/apps/v1/namespaces/a/deployments/web/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/apis/apps/v1/deployments");
        assert!(r.namespace.is_none() && r.name.is_none());
    }

    #[test]
    fn service_proxy_paths_keep_what_follows_proxy() {
        let reg = Registry::new();
        let types = reg.snapshot();
        let path = "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:/proxy/v1/cert.pem";
        match parse(path, &types) {
            Ok(Target::ServiceProxy {
                namespace,
                service,
                path,
            }) => {
                assert_eq!(namespace, "kube-system");
                assert_eq!(service, "http:sealed-secrets-controller:");
                assert_eq!(path, "/v1/cert.pem");
            }
            other => panic!("not a service proxy: {other:?}"),
        }
        match parse("/api/v1/namespaces/a/services/proxy/proxy", &types) {
            Ok(Target::ServiceProxy { path, .. }) => assert_eq!(path, "/"),
            other => panic!("not a service proxy: {other:?}"),
        }
    }

    #[test]
    fn unknown_paths_are_not_found() {
        let reg = Registry::new();
        let t = reg.snapshot();
        assert!(parse("/apis/nope/v1/things", &t).is_err());
        assert!(parse("/api/v2", &t).is_err());
        assert!(parse("/apis/apps/v1/deployments/x", &t).is_err());
    }
}
