//! Live objects of an Application, read on demand through kube-rs: each managed resource
//! (from `status.resources`), the objects they own (ReplicaSets, Pods, Jobs, found by
//! `ownerReferences`), and Events. Kinds are resolved by discovery once and remembered.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use fjord_engine::types::{Application, ResourceStatus};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::discovery::Scope;
use serde_json::Value;

use super::error::ApiError;

/// A resolved kind: how to reach it and whether it is namespaced.
#[derive(Clone, Debug)]
pub struct Kind {
    /// kube-rs' description.
    pub resource: ApiResource,
    /// Namespaced (else cluster-scoped).
    pub namespaced: bool,
}

/// Discovery results by (group, version, kind); `None` for kinds the server does not serve.
#[derive(Default)]
pub struct Kinds {
    known: Mutex<HashMap<(String, String, String), Option<Kind>>>,
}

impl Kinds {
    /// Resolves a kind (one discovery request the first time).
    pub async fn resolve(
        &self,
        client: &kube::Client,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<Option<Kind>, ApiError> {
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(k.clone());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = match kube::discovery::pinned_kind(client, &gvk).await {
            Ok((resource, caps)) => Some(Kind {
                resource,
                namespaced: caps.scope == Scope::Namespaced,
            }),
            Err(kube::Error::Api(e)) if e.code == 404 => None,
            Err(kube::Error::Discovery(_)) => None,
            Err(e) => {
                return Err(ApiError::Cluster {
                    step: format!("discovering {}", gvk.api_version()),
                    source: e,
                });
            }
        };
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }
}

fn api_for(client: &kube::Client, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
    if kind.namespaced {
        Api::namespaced_with(client.clone(), namespace, &kind.resource)
    } else {
        Api::all_with(client.clone(), &kind.resource)
    }
}

/// Reads one object; `None` when it does not exist.
pub async fn get(
    client: &kube::Client,
    kind: &Kind,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let obj = api_for(client, kind, namespace)
        .get_opt(name)
        .await
        .map_err(ApiError::cluster(format!(
            "reading {} {namespace}/{name}",
            kind.resource.kind
        )))?;
    Ok(obj.and_then(|o| serde_json::to_value(o).ok()))
}

/// Lists one kind in a namespace.
pub async fn list(
    client: &kube::Client,
    kind: &Kind,
    namespace: &str,
) -> Result<Vec<Value>, ApiError> {
    let list = api_for(client, kind, namespace)
        .list(&ListParams::default())
        .await
        .map_err(ApiError::cluster(format!(
            "listing {} in {namespace}",
            kind.resource.plural
        )))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect())
}

/// The managed resources' live objects (`None` where missing), in `status.resources` order.
pub async fn managed(
    client: &kube::Client,
    kinds: &Kinds,
    app: &Application,
) -> Result<Vec<(ResourceStatus, Option<Value>)>, ApiError> {
    let resources = app
        .status
        .as_ref()
        .map(|s| s.resources.clone())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(resources.len());
    for r in resources {
        let live = match kinds.resolve(client, &r.group, &r.version, &r.kind).await? {
            Some(kind) => get(client, &kind, &r.namespace, &r.name).await?,
            None => None,
        };
        out.push((r, live));
    }
    Ok(out)
}

/// Kinds whose objects are commonly owned by managed resources.
const CHILD_KINDS: [(&str, &str, &str); 4] = [
    ("apps", "v1", "ReplicaSet"),
    ("apps", "v1", "ControllerRevision"),
    ("", "v1", "Pod"),
    ("batch", "v1", "Job"),
];

/// Candidate children: ReplicaSets, ControllerRevisions, Pods and Jobs in the managed resources' namespaces.
pub async fn child_candidates(
    client: &kube::Client,
    kinds: &Kinds,
    managed: &[(ResourceStatus, Option<Value>)],
) -> Result<Vec<Value>, ApiError> {
    let namespaces: BTreeSet<&str> = managed
        .iter()
        .map(|(r, _)| r.namespace.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    let mut out = Vec::new();
    for (g, v, k) in CHILD_KINDS {
        let Some(kind) = kinds.resolve(client, g, v, k).await? else {
            continue;
        };
        for ns in &namespaces {
            out.extend(list(client, &kind, ns).await?);
        }
    }
    Ok(out)
}

/// Events about the Application (in its namespace) and about its managed resources, newest
/// first.
pub async fn events(
    client: &kube::Client,
    kinds: &Kinds,
    app: &Application,
) -> Result<Vec<Value>, ApiError> {
    let Some(kind) = kinds.resolve(client, "", "v1", "Event").await? else {
        return Ok(Vec::new());
    };
    let resources = app
        .status
        .as_ref()
        .map(|s| s.resources.clone())
        .unwrap_or_default();
    let mut namespaces: BTreeSet<String> = resources
        .iter()
        .map(|r| r.namespace.clone())
        .filter(|n| !n.is_empty())
        .collect();
    namespaces.insert(app.namespace().to_string());
    let concerns = |e: &Value| {
        let io = e.get("involvedObject").unwrap_or(&Value::Null);
        let s = |k: &str| io.get(k).and_then(Value::as_str).unwrap_or("");
        (s("kind") == "Application" && s("name") == app.name() && s("namespace") == app.namespace())
            || resources.iter().any(|r| {
                r.kind == s("kind") && r.name == s("name") && r.namespace == s("namespace")
            })
    };
    let mut out = Vec::new();
    for ns in &namespaces {
        out.extend(list(client, &kind, ns).await?.into_iter().filter(concerns));
    }
    let when = |e: &Value| {
        ["lastTimestamp", "eventTime", "firstTimestamp"]
            .iter()
            .find_map(|k| e.get(*k).and_then(Value::as_str).map(String::from))
            .or_else(|| {
                e.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_default()
    };
    out.sort_by_key(|e| std::cmp::Reverse(when(e)));
    for e in &mut out {
        if let Some(m) = e.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
    }
    Ok(out)
}
