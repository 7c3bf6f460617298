//! The target cluster's `.Capabilities` for Helm: `--kube-version` from `/version` and
//! `--api-versions` from discovery (`group/version` and `group/version/Kind`, as Argo CD
//! passes them), cached for one poll interval so a newly served CRD shows up soon after
//! it is established without a discovery walk per reconcile. Only Applications that render
//! Helm read them.

use super::{ControllerError, kube_err};
use crate::render::Capabilities;
use kube::Client;
use kube::discovery::Discovery;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The last discovery result, and which Applications render Helm.
#[derive(Default)]
pub(crate) struct CapabilitiesCache {
    /// By destination cluster (its API server URL): each cluster has its own version and kinds.
    last: Mutex<HashMap<String, (Instant, Arc<Capabilities>)>>,
    helm_apps: Mutex<HashSet<String>>,
}

impl CapabilitiesCache {
    /// True when an earlier render of `app_key` found a Helm source.
    pub(crate) fn renders_helm(&self, app_key: &str) -> bool {
        self.helm_apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(app_key)
    }

    /// Records that `app_key` renders Helm (its reconciles read capabilities from now on).
    pub(crate) fn mark_helm(&self, app_key: &str) {
        self.helm_apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(app_key.to_string());
    }

    /// The cluster's capabilities, read again when older than `ttl`.
    pub(crate) async fn get(
        &self,
        cluster: &str,
        client: &Client,
        ttl: Duration,
    ) -> Result<Arc<Capabilities>, ControllerError> {
        if let Some((at, caps)) = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(cluster)
            && at.elapsed() < ttl
        {
            return Ok(Arc::clone(caps));
        }
        let caps = Arc::new(discover(client).await?);
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(cluster.to_string(), (Instant::now(), Arc::clone(&caps)));
        Ok(caps)
    }
}

async fn discover(client: &Client) -> Result<Capabilities, ControllerError> {
    let version = client.apiserver_version().await.map_err(kube_err(
        "reading the cluster version for Helm's .Capabilities",
    ))?;
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(kube_err("reading API discovery for Helm's .Capabilities"))?;
    let mut api_versions = BTreeSet::new();
    for group in discovery.groups() {
        for v in group.versions() {
            let group_version = if group.name().is_empty() {
                v.to_string()
            } else {
                format!("{}/{v}", group.name())
            };
            for (resource, _) in group.versioned_resources(v) {
                api_versions.insert(format!("{group_version}/{}", resource.kind));
            }
            api_versions.insert(group_version);
        }
    }
    let kube_version = crate::render::helm::args::kube_version(
        &version.git_version,
        &version.major,
        &version.minor,
    );
    Ok(Capabilities {
        kube_version,
        api_versions: api_versions.into_iter().collect(),
    })
}
