//! The controller namespace's settings, cached by reflectors: repository and cluster
//! Secrets (by the Argo CD secret-type label), the known-hosts ConfigMap, `argocd-cm`
//! (custom health) and the AppProjects. Reconciles
//! read these stores instead of the API; until a store is ready (or if its watch cannot
//! start) they fall back to a direct read.

use crate::source::credentials::{KNOWN_HOSTS_CONFIGMAP, SECRET_TYPE_LABEL};
use crate::types::AppProject;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use std::sync::Arc;

/// Argo CD's main settings ConfigMap (resource customizations).
pub(crate) const ARGOCD_CM: &str = "argocd-cm";

/// Stores of the namespace's settings.
pub(crate) struct Settings {
    namespace: String,
    secrets: Store<Secret>,
    config_maps: Store<ConfigMap>,
    argocd_cm: Store<ConfigMap>,
    projects: Store<AppProject>,
}

fn spawn_reflector<K>(api: Api<K>, config: watcher::Config) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    tokio::spawn(async move {
        reflector(writer, watcher(api, config))
            .default_backoff()
            .for_each(|_| async {})
            .await;
    });
    reader
}

impl Settings {
    /// Starts the reflectors.
    pub fn start(client: &Client, namespace: &str) -> Self {
        Settings {
            namespace: namespace.to_string(),
            secrets: spawn_reflector(
                Api::namespaced(client.clone(), namespace),
                watcher::Config::default().labels(SECRET_TYPE_LABEL),
            ),
            config_maps: spawn_reflector(
                Api::namespaced(client.clone(), namespace),
                watcher::Config::default()
                    .fields(&format!("metadata.name={KNOWN_HOSTS_CONFIGMAP}")),
            ),
            argocd_cm: spawn_reflector(
                Api::namespaced(client.clone(), namespace),
                watcher::Config::default().fields(&format!("metadata.name={ARGOCD_CM}")),
            ),
            projects: spawn_reflector(
                Api::namespaced(client.clone(), namespace),
                watcher::Config::default(),
            ),
        }
    }

    /// The repository Secrets, when the cache is ready.
    pub fn secrets(&self) -> Option<Vec<Arc<Secret>>> {
        self.secrets.wait_until_ready().now_or_never()?.ok()?;
        Some(self.secrets.state())
    }

    /// The known-hosts ConfigMap (`Some(None)`: absent), when the cache is ready.
    pub fn known_hosts(&self) -> Option<Option<Arc<ConfigMap>>> {
        self.config_maps.wait_until_ready().now_or_never()?.ok()?;
        Some(
            self.config_maps
                .get(&ObjectRef::new(KNOWN_HOSTS_CONFIGMAP).within(&self.namespace)),
        )
    }

    /// `argocd-cm` (`Some(None)`: absent), when the cache is ready.
    pub fn argocd_cm(&self) -> Option<Option<Arc<ConfigMap>>> {
        self.argocd_cm.wait_until_ready().now_or_never()?.ok()?;
        Some(
            self.argocd_cm
                .get(&ObjectRef::new(ARGOCD_CM).within(&self.namespace)),
        )
    }

    /// AppProject `name` (`Some(None)`: absent), when the cache is ready.
    pub fn project(&self, name: &str) -> Option<Option<Arc<AppProject>>> {
        self.projects.wait_until_ready().now_or_never()?.ok()?;
        Some(
            self.projects
                .get(&ObjectRef::new(name).within(&self.namespace)),
        )
    }
}
