//! The controller's side of the metrics: what the reconcile, sync and render paths report
//! to [`Metrics`](crate::metrics::Metrics), and the sources its collectors read at scrape
//! time (the Application store, the destination clusters' live caches, the render cache).
//!
//! The collectors hold the context weakly: the context owns the configuration that owns
//! the metrics, and a strong reference would keep a stopped controller alive.

use super::Context;
use super::clusters::{IN_CLUSTER_NAME, IN_CLUSTER_SERVER, cluster_secrets, resolve};
use crate::metrics::{ApplicationSource, ClusterStats, ControllerState, StateSource};
use crate::render::SourceType;
use crate::types::{Application, OperationPhase};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::Store;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// How often destination clusters without a known version are asked for it.
const VERSION_INTERVAL: Duration = Duration::from_secs(60);

/// Connects the collectors of `ctx`'s metrics to the controller's state, and reads each
/// destination cluster's version once (for `argocd_cluster_info`) in the background.
pub(crate) fn attach(ctx: &Arc<Context>, apps: Store<Application>) {
    let observed = Arc::new(Observed {
        ctx: Arc::downgrade(ctx),
        apps,
        versions: Mutex::new(HashMap::new()),
    });
    tokio::spawn(read_versions(Arc::downgrade(&observed)));
    ctx.config
        .metrics
        .set_application_source(observed.clone() as Arc<dyn ApplicationSource>);
    ctx.config
        .metrics
        .set_state_source(observed as Arc<dyn StateSource>);
}

/// Records one reconcile of `app` that took `took`.
pub(crate) fn reconciled(ctx: &Context, app: &Application, took: Duration) {
    let secrets = needs_secrets(app).then(|| ctx.settings.secrets()).flatten();
    let server = dest_server(app, secrets.as_deref());
    ctx.config
        .metrics
        .observe_reconcile(app.namespace(), &server, took);
}

/// Counts a finished sync operation of `app` (phases still running are ignored).
pub(crate) fn synced(ctx: &Context, app: &Application, phase: OperationPhase, dry_run: bool) {
    let secrets = needs_secrets(app).then(|| ctx.settings.secrets()).flatten();
    let server = dest_server(app, secrets.as_deref());
    ctx.config.metrics.count_sync(app, &server, phase, dry_run);
}

/// Records one render (`kind` is `None` when it failed).
pub(crate) fn rendered(ctx: &Context, kind: Option<SourceType>, took: Duration) {
    let label = kind.map_or("Failed", SourceType::as_str);
    ctx.config.metrics.observe_render(label, took);
}

/// Only a destination named by `name` needs the cluster Secrets to find its server.
fn needs_secrets(app: &Application) -> bool {
    let dest = &app.spec.destination;
    dest.server.as_deref().is_none_or(str::is_empty)
        && dest
            .name
            .as_deref()
            .is_some_and(|n| !n.is_empty() && n != IN_CLUSTER_NAME)
}

/// The API server URL the destination resolves to: `destination.server` (borrowed),
/// `in-cluster`'s URL, or the server of the cluster Secret `destination.name` names (empty
/// when none does, as Argo CD reports an unresolvable destination).
pub(crate) fn dest_server<'a>(
    app: &'a Application,
    secrets: Option<&[Arc<Secret>]>,
) -> Cow<'a, str> {
    let dest = &app.spec.destination;
    if let Some(server) = dest.server.as_deref().filter(|s| !s.is_empty()) {
        return Cow::Borrowed(server.trim().trim_end_matches('/'));
    }
    let name = dest.name.as_deref().unwrap_or("").trim();
    let known = secrets
        .map(|s| cluster_secrets(s.iter().map(|s| s.as_ref())))
        .unwrap_or_default();
    match resolve(dest, &known) {
        Ok(Some(secret)) => Cow::Owned(secret.server.clone()),
        Ok(None) => Cow::Borrowed(IN_CLUSTER_SERVER),
        Err(_) if name == IN_CLUSTER_NAME => Cow::Borrowed(IN_CLUSTER_SERVER),
        Err(_) => Cow::Borrowed(""),
    }
}

struct Observed {
    ctx: Weak<Context>,
    apps: Store<Application>,
    /// Server URL → `gitVersion`.
    versions: Mutex<HashMap<String, String>>,
}

/// Asks each cluster whose version is unknown for it, until the controller stops.
async fn read_versions(observed: Weak<Observed>) {
    loop {
        let Some(clusters) = observed
            .upgrade()
            .and_then(|o| o.ctx.upgrade())
            .map(|ctx| ctx.clusters.all())
        else {
            return;
        };
        for cluster in clusters {
            let known = observed.upgrade().is_some_and(|o| {
                o.versions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains_key(&cluster.server)
            });
            if known {
                continue;
            }
            // An unreachable cluster is asked again on the next round.
            if let Ok(info) = cluster.client.apiserver_version().await
                && let Some(o) = observed.upgrade()
            {
                o.versions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(cluster.server.clone(), info.git_version);
            }
        }
        tokio::time::sleep(VERSION_INTERVAL).await;
    }
}

impl ApplicationSource for Observed {
    fn for_each(&self, visit: &mut dyn FnMut(&Application, &str)) {
        let Some(ctx) = self.ctx.upgrade() else {
            return;
        };
        let secrets = ctx.settings.secrets();
        for app in self.apps.state() {
            let server = dest_server(&app, secrets.as_deref());
            visit(&app, &server);
        }
    }
}

impl StateSource for Observed {
    fn state(&self) -> ControllerState {
        let Some(ctx) = self.ctx.upgrade() else {
            return ControllerState::default();
        };
        let versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        let clusters = ctx
            .clusters
            .all()
            .iter()
            .map(|c| ClusterStats {
                server: c.server.clone(),
                name: c.name.clone(),
                k8s_version: versions.get(&c.server).cloned().unwrap_or_default(),
                kinds: c.watches.counts(),
            })
            .collect();
        drop(versions);
        let render_cache_entries = ctx
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        ControllerState {
            clusters,
            render_cache_entries,
            repositories: ctx.registry.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn app(destination: serde_json::Value) -> Application {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "a", "namespace": "argocd"},
            "spec": {"destination": destination}
        }))
        .unwrap()
    }

    #[test]
    fn destinations_resolve_to_their_server() {
        let mut s = Secret::default();
        s.metadata.name = Some("edge".into());
        s.metadata.labels = Some(BTreeMap::from([(
            crate::source::credentials::SECRET_TYPE_LABEL.to_string(),
            "cluster".to_string(),
        )]));
        s.data = Some(BTreeMap::from([
            ("name".to_string(), ByteString(b"edge".to_vec())),
            (
                "server".to_string(),
                ByteString(b"https://10.0.0.9:6443".to_vec()),
            ),
        ]));
        let secrets = [Arc::new(s)];
        let by_server = app(serde_json::json!({"server": "https://x.example:6443/"}));
        assert!(!needs_secrets(&by_server));
        assert_eq!(dest_server(&by_server, None), "https://x.example:6443");
        let by_name = app(serde_json::json!({"name": "edge"}));
        assert!(needs_secrets(&by_name));
        assert_eq!(
            dest_server(&by_name, Some(&secrets)),
            "https://10.0.0.9:6443"
        );
        let local = app(serde_json::json!({"name": "in-cluster"}));
        assert!(!needs_secrets(&local));
        assert_eq!(dest_server(&local, None), IN_CLUSTER_SERVER);
        let unknown = app(serde_json::json!({"name": "nowhere"}));
        assert_eq!(dest_server(&unknown, Some(&secrets)), "");
    }
}
