//! Application metrics: `argocd_app_info` (read from the Applications at scrape),
//! `argocd_app_sync_total`, `argocd_app_reconcile` and Fjord's render histogram.

use crate::source::url::{normalize, redact};
use crate::types::{Application, HealthStatusCode, OperationPhase, SyncStatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// Argo CD's `argocd_app_reconcile` buckets (seconds).
pub(crate) const RECONCILE_BUCKETS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
/// `fjord_render_duration_seconds` buckets: cached directory renders take milliseconds,
/// Helm charts seconds.
const RENDER_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The Applications `argocd_app_info` reports, each with the server its destination
/// resolves to.
pub trait ApplicationSource: Send + Sync {
    /// Calls `visit` once per Application.
    fn for_each(&self, visit: &mut dyn FnMut(&Application, &str));
}

type Filter = Arc<dyn Fn(&Application) -> bool + Send + Sync>;
type ReconcileLabels = [(&'static str, String); 2];
type SyncLabels = [(&'static str, String); 6];
type RenderLabels = [(&'static str, &'static str); 1];

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

fn render_histogram() -> Histogram {
    Histogram::new(RENDER_BUCKETS)
}

pub(crate) struct AppMetrics {
    reconcile: Family<ReconcileLabels, Histogram, fn() -> Histogram>,
    /// namespace → dest_server → the family's histogram: looked up with borrowed strings.
    reconcile_handles: RwLock<HashMap<String, HashMap<String, Histogram>>>,
    sync: Family<SyncLabels, Counter>,
    render: Family<RenderLabels, Histogram, fn() -> Histogram>,
    info: Arc<AppInfoCollector>,
}

impl AppMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let reconcile =
            Family::<ReconcileLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                reconcile_histogram,
            );
        registry.register(
            "argocd_app_reconcile",
            "Application reconciliation performance in seconds",
            reconcile.clone(),
        );
        let sync = Family::<SyncLabels, Counter>::default();
        // Encoded as `argocd_app_sync_total` (counters get `_total`).
        registry.register(
            "argocd_app_sync",
            "Number of application syncs",
            sync.clone(),
        );
        let render = Family::<RenderLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            render_histogram,
        );
        registry.register(
            "fjord_render_duration_seconds",
            "Time to render one Application source (directory, kustomize or helm), cache misses only",
            render.clone(),
        );
        let info = Arc::new(AppInfoCollector::default());
        registry.register_collector(Box::new(Arc::clone(&info)));
        AppMetrics {
            reconcile,
            reconcile_handles: RwLock::new(HashMap::new()),
            sync,
            render,
            info,
        }
    }

    pub(crate) fn observe_reconcile(&self, namespace: &str, dest_server: &str, took: Duration) {
        let seconds = took.as_secs_f64();
        if let Some(h) = self
            .reconcile_handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(namespace)
            .and_then(|by_server| by_server.get(dest_server))
        {
            h.observe(seconds);
            return;
        }
        let labels = [
            ("namespace", namespace.to_string()),
            ("dest_server", dest_server.to_string()),
        ];
        let h = self.reconcile.get_or_create_owned(&labels);
        h.observe(seconds);
        self.reconcile_handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(namespace.to_string())
            .or_default()
            .insert(dest_server.to_string(), h);
    }

    pub(crate) fn count_sync(
        &self,
        app: &Application,
        dest_server: &str,
        phase: OperationPhase,
        dry_run: bool,
    ) {
        if !phase.is_completed() {
            return;
        }
        let labels = [
            ("namespace", app.namespace().to_string()),
            ("name", app.name().to_string()),
            ("project", project(app).to_string()),
            ("dest_server", dest_server.to_string()),
            ("phase", phase_str(phase).to_string()),
            ("dry_run", dry_run.to_string()),
        ];
        self.sync.get_or_create(&labels).inc();
    }

    pub(crate) fn observe_render(&self, source_type: &'static str, took: Duration) {
        self.render
            .get_or_create(&[("source_type", source_type)])
            .observe(took.as_secs_f64());
    }

    pub(crate) fn set_source(&self, source: Arc<dyn ApplicationSource>) {
        *self
            .info
            .source
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(source);
    }

    pub(crate) fn set_filter(&self, keep: Filter) {
        *self
            .info
            .filter
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(keep);
    }
}

/// Emits one `argocd_app_info` series per Application at each scrape.
#[derive(Default)]
struct AppInfoCollector {
    source: RwLock<Option<Arc<dyn ApplicationSource>>>,
    filter: RwLock<Option<Filter>>,
}

impl std::fmt::Debug for AppInfoCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppInfoCollector").finish_non_exhaustive()
    }
}

impl Collector for AppInfoCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let source = self
            .source
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let filter = self
            .filter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut metric = encoder.encode_descriptor(
            "argocd_app_info",
            "Information about application",
            None,
            MetricType::Gauge,
        )?;
        let Some(source) = source else {
            return Ok(());
        };
        let mut result = Ok(());
        source.for_each(&mut |app, dest_server| {
            if result.is_err() || filter.as_ref().is_some_and(|keep| !keep(app)) {
                return;
            }
            let labels = info_labels(app, dest_server);
            result = metric
                .encode_family(&labels)
                .and_then(|series| ConstGauge::new(1i64).encode(series));
        });
        result
    }
}

/// `argocd_app_info`'s labels for `app` (Argo CD's names and order): namespace, name,
/// project, autosync_enabled, repo (normalised, without credentials), dest_server,
/// dest_namespace, sync_status, health_status (`Unknown` when absent) and operation
/// (`delete` while being deleted, `sync` while a sync is requested, else empty).
pub fn info_labels<'a>(
    app: &'a Application,
    dest_server: &'a str,
) -> [(&'static str, Cow<'a, str>); 10] {
    let spec = &app.spec;
    let status = app.status.as_ref();
    let sync = status
        .and_then(|s| s.sync.as_ref())
        .map(|s| s.status)
        .unwrap_or_default();
    let health = status
        .and_then(|s| s.health.as_ref())
        .map(|h| h.status)
        .unwrap_or_default();
    let operation = if app.metadata.deletion_timestamp.is_some() {
        "delete"
    } else if app.operation.as_ref().is_some_and(|o| o.sync.is_some()) {
        "sync"
    } else {
        ""
    };
    let autosync = spec.sync_policy.as_ref().is_some_and(|p| p.is_automated());
    let repo = spec
        .all_sources()
        .first()
        .map(|s| redact(&normalize(&s.repo_url)))
        .unwrap_or_default();
    [
        ("namespace", Cow::Borrowed(app.namespace())),
        ("name", Cow::Borrowed(app.name())),
        ("project", Cow::Borrowed(project(app))),
        (
            "autosync_enabled",
            Cow::Borrowed(if autosync { "true" } else { "false" }),
        ),
        ("repo", Cow::Owned(repo)),
        ("dest_server", Cow::Borrowed(dest_server)),
        (
            "dest_namespace",
            Cow::Borrowed(spec.destination.namespace.as_deref().unwrap_or("")),
        ),
        ("sync_status", Cow::Borrowed(sync_str(sync))),
        ("health_status", Cow::Borrowed(health_str(health))),
        ("operation", Cow::Borrowed(operation)),
    ]
}

/// The project, `default` when unset (Argo CD's `GetProject`).
fn project(app: &Application) -> &str {
    match app.spec.project.as_str() {
        "" => "default",
        p => p,
    }
}

fn sync_str(code: SyncStatusCode) -> &'static str {
    match code {
        SyncStatusCode::Synced => "Synced",
        SyncStatusCode::OutOfSync => "OutOfSync",
        SyncStatusCode::Unknown => "Unknown",
    }
}

fn health_str(code: HealthStatusCode) -> &'static str {
    match code {
        HealthStatusCode::Healthy => "Healthy",
        HealthStatusCode::Suspended => "Suspended",
        HealthStatusCode::Progressing => "Progressing",
        HealthStatusCode::Missing => "Missing",
        HealthStatusCode::Degraded => "Degraded",
        HealthStatusCode::Unknown => "Unknown",
    }
}

pub(crate) fn phase_str(phase: OperationPhase) -> &'static str {
    match phase {
        OperationPhase::Running => "Running",
        OperationPhase::Terminating => "Terminating",
        OperationPhase::Failed => "Failed",
        OperationPhase::Error => "Error",
        OperationPhase::Succeeded => "Succeeded",
    }
}
