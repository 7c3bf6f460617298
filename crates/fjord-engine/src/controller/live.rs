//! Live objects through kube-rs: GVK → API resource (discovery, cached), read, apply, delete.
//!
//! Objects cross this boundary as `serde_json::Value`, the engine's currency. Discovery is
//! asked once per kind (a kind the server does not serve is retried on the next reconcile,
//! so installing a CRD later fixes the Application).

use super::{ControllerError, kube_err};
use crate::resource::ResourceKey;
use kube::api::{DeleteParams, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Api, Client};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// A served kind (or one a CRD in the same render will serve: `pending`).
#[derive(Clone, Debug)]
pub(crate) struct Kind {
    pub resource: ApiResource,
    pub namespaced: bool,
    /// Defined by a CRD of the same render, not served yet.
    pub pending: bool,
}

/// The kind `gvk` as defined by one of `objects` (a CustomResourceDefinition with that group,
/// kind and version), for objects whose CRD is applied in the same sync.
pub(crate) fn kind_from_crds<'a>(
    objects: impl IntoIterator<Item = &'a Value>,
    gvk: &GroupVersionKind,
) -> Option<Kind> {
    objects.into_iter().find_map(|o| {
        if o.get("kind")?.as_str()? != "CustomResourceDefinition" {
            return None;
        }
        let spec = o.get("spec")?;
        let names = spec.get("names")?;
        if spec.get("group")?.as_str()? != gvk.group || names.get("kind")?.as_str()? != gvk.kind {
            return None;
        }
        let served = spec
            .get("versions")?
            .as_array()?
            .iter()
            .any(|v| v.get("name").and_then(Value::as_str) == Some(gvk.version.as_str()));
        if !served {
            return None;
        }
        let plural = names.get("plural")?.as_str()?;
        Some(Kind {
            resource: ApiResource::from_gvk_with_plural(gvk, plural),
            namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
            pending: true,
        })
    })
}

/// Discovery results by GVK.
#[derive(Default)]
pub(crate) struct KindCache {
    kinds: Mutex<HashMap<GroupVersionKind, Kind>>,
}

/// The GVK of an `apiVersion` and kind.
pub(crate) fn gvk_of(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    GroupVersionKind::gvk(group, version, kind)
}

impl KindCache {
    /// The served kind, or `None` when the server does not serve it.
    pub async fn lookup(
        &self,
        client: &Client,
        gvk: &GroupVersionKind,
    ) -> Result<Option<Kind>, ControllerError> {
        if let Some(k) = self
            .kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(gvk)
        {
            return Ok(Some(k.clone()));
        }
        match kube::discovery::pinned_kind(client, gvk).await {
            Ok((resource, caps)) => {
                let kind = Kind {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                    pending: false,
                };
                self.kinds
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(gvk.clone(), kind.clone());
                Ok(Some(kind))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(kube_err(format!(
                "discovering {}/{} {}",
                gvk.group, gvk.version, gvk.kind
            ))(e)),
        }
    }
}

fn api(client: &Client, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
    if kind.namespaced {
        Api::namespaced_with(client.clone(), namespace, &kind.resource)
    } else {
        Api::all_with(client.clone(), &kind.resource)
    }
}

/// Reads one object; `None` when absent.
pub(crate) async fn get(
    client: &Client,
    kind: &Kind,
    key: &ResourceKey,
) -> Result<Option<Value>, ControllerError> {
    let obj = match api(client, kind, &key.namespace).get_opt(&key.name).await {
        Ok(o) => o,
        // A kind whose CRD is not applied yet has no objects.
        Err(_) if kind.pending => None,
        Err(e) => return Err(kube_err(format!("reading {key}"))(e)),
    };
    obj.map(|o| {
        serde_json::to_value(o).map_err(|source| ControllerError::Json {
            step: format!("reading {key}"),
            source,
        })
    })
    .transpose()
}

/// Deletes one object (background propagation, as Argo CD's default).
pub(crate) async fn delete(
    client: &Client,
    kind: &Kind,
    key: &ResourceKey,
) -> Result<(), kube::Error> {
    match api(client, kind, &key.namespace)
        .delete(&key.name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
