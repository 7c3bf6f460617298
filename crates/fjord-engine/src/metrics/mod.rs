//! Prometheus metrics: Argo CD's names and labels where Argo CD has the same metric, Fjord's
//! own under `fjord_`.
//!
//! ```text
//! reconcile / sync / render / git ──update (cheap: cached handles)──▶ Metrics (registry)
//! Application store, clusters, caches ──read at scrape (collectors)──▶ Metrics
//! binary ──GET /metrics──▶ Metrics::encode() ──▶ OpenMetrics text
//! ```
//!
//! The engine owns the registry and knows nothing of HTTP: the controller carries a
//! [`Metrics`] in its [`ControllerConfig`](crate::controller::ControllerConfig), the binary
//! serves [`Metrics::encode`]. Counters and histograms updated on every reconcile keep
//! their label sets in a lookup keyed by borrowed strings, so a reconcile allocates only
//! the first time it sees a label combination. State that already lives elsewhere (the
//! Applications and their status, live caches, the render cache) is not mirrored: it is
//! read when Prometheus scrapes, as Argo CD's collectors do, so a deleted Application's
//! series disappear with it.
//!
//! Other parts of Fjord add their own metrics with [`Metrics::register`] and
//! [`Metrics::register_collector`].

mod app;
mod git;
mod process;
mod state;

pub use app::{ApplicationSource, info_labels};
pub use git::{GitMetrics, GitRepoMetrics, GitRequestKind};
pub use state::{ClusterEvents, ClusterStats, ControllerState, KindCount, StateSource};

use crate::types::{Application, OperationPhase};
use prometheus_client::collector::Collector;
use prometheus_client::registry::{Metric, Registry};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The `Content-Type` of [`Metrics::encode`]'s text (OpenMetrics, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A metrics registry and the handles the engine updates. Cloning shares it.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    apps: Option<app::AppMetrics>,
    git: GitMetrics,
    state: Option<Arc<state::StateCollector>>,
    events: ClusterEvents,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The Application controller's metrics: Applications, syncs, reconciles, Git, clusters,
    /// caches and the process.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        process::register(&mut registry);
        let apps = app::AppMetrics::register(&mut registry);
        let git = GitMetrics::register(&mut registry);
        let state = state::StateCollector::register(&mut registry);
        let events = ClusterEvents::register(&mut registry);
        Metrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                apps: Some(apps),
                git,
                state: Some(state),
                events,
            }),
        }
    }

    /// Only the process metrics (for a process that runs no controller, such as
    /// `fjord server`); add more with [`Metrics::register`].
    pub fn process_only() -> Self {
        let mut registry = Registry::default();
        process::register(&mut registry);
        // Counted but not exported: such a process has no shared clones of its own.
        let git = GitMetrics::register(&mut Registry::default());
        Metrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                apps: None,
                git,
                state: None,
                events: ClusterEvents::register(&mut Registry::default()),
            }),
        }
    }

    /// The registry as OpenMetrics text ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let registry = self
            .inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Writing to a String cannot fail; a collector that fails ends the text early.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// Adds a metric (a `Counter`, `Gauge`, `Histogram` or a `Family` of them) under `name`.
    /// Counters get `_total` appended in the text, as Prometheus' conventions ask.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register(name, help, metric);
    }

    /// Adds a collector, asked for its series at each scrape.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register_collector(collector);
    }

    /// The Git request metrics (for a [`RepoRegistry`](crate::source::RepoRegistry)).
    pub fn git(&self) -> &GitMetrics {
        &self.inner.git
    }

    /// The watch-event counters of destination cluster `server`
    /// (`argocd_cluster_events_total`).
    pub fn cluster_events(&self, server: &str) -> ClusterEvents {
        self.inner.events.for_server(server)
    }

    /// Records one reconcile of an Application whose destination resolved to `dest_server`
    /// (`argocd_app_reconcile`).
    pub fn observe_reconcile(&self, namespace: &str, dest_server: &str, took: Duration) {
        if let Some(apps) = &self.inner.apps {
            apps.observe_reconcile(namespace, dest_server, took);
        }
    }

    /// Counts a completed sync operation (`argocd_app_sync_total`); phases that are not
    /// completed (Running, Terminating) are not counted.
    pub fn count_sync(
        &self,
        app: &Application,
        dest_server: &str,
        phase: OperationPhase,
        dry_run: bool,
    ) {
        if let Some(apps) = &self.inner.apps {
            apps.count_sync(app, dest_server, phase, dry_run);
        }
    }

    /// Records one render of a source (`fjord_render_duration_seconds`); `source_type` is
    /// `Directory`, `Kustomize`, `Helm` or `Failed`.
    pub fn observe_render(&self, source_type: &'static str, took: Duration) {
        if let Some(apps) = &self.inner.apps {
            apps.observe_render(source_type, took);
        }
    }

    /// Where `argocd_app_info` reads the Applications from (the controller sets it).
    pub fn set_application_source(&self, source: Arc<dyn ApplicationSource>) {
        if let Some(apps) = &self.inner.apps {
            apps.set_source(source);
        }
    }

    /// Only Applications `keep` accepts appear in `argocd_app_info` (for example those this
    /// replica owns; Argo CD's shards report their own Applications).
    pub fn set_application_filter(&self, keep: Arc<dyn Fn(&Application) -> bool + Send + Sync>) {
        if let Some(apps) = &self.inner.apps {
            apps.set_filter(keep);
        }
    }

    /// Where the cluster and cache gauges are read from (the controller sets it).
    pub fn set_state_source(&self, source: Arc<dyn StateSource>) {
        if let Some(state) = &self.inner.state {
            state.set_source(source);
        }
    }
}

#[cfg(test)]
mod tests;
