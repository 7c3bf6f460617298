//! The Application controller: the engine's stages wired to the Kubernetes API.
//!
//! A `kube::runtime::Controller` over the Applications of one namespace. Each reconcile
//! ([`reconcile`]) fetches and renders the source off the async runtime ([`source`]), reads
//! the live objects ([`live`]), diffs, syncs when the policy asks for it ([`sync`]) and
//! writes `.status` in Argo CD's shape ([`status`]). Any failure before the sync becomes a
//! condition and touches no live object. Self-heal comes from [`watch`]: one watcher per
//! kind the Applications use, mapping changes back to their Application through the
//! tracking annotation.
//!
//! Objects of an Application live in its destination cluster: [`Context::cluster_for`] is
//! the one seam that turns a destination into a client (with that cluster's discovery cache
//! and watches, see [`clusters`]); the controller's own `client` reads and writes only the
//! Applications and the settings of its namespace. AppProjects are enforced by [`project`],
//! custom health from `argocd-cm` is evaluated by [`custom_health`].
//!
//! Everything here talks to the API; the decisions are the pure stages' (`diff`, `plan`,
//! `health`, `status`).

mod audit;
mod capabilities;
mod checks;
mod clusters;
mod compare;
mod custom_health;
mod finalize;
mod heal;
mod hooks;
pub mod install;
mod live;
mod observe;
mod operation;
mod project;
mod reconcile;
mod retry;
mod settings;
pub mod shard;
mod source;
mod source_status;
mod status;
mod sync;
mod watch;
mod write;

use crate::render::cache::RenderCache;
use crate::render::{HelmRenderer, Renderers};
use crate::source::RepoRegistry;
use crate::types::{AppProject, Application};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt};
use kube::{Api, Client};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Namespace of Applications, repository Secrets and the known-hosts ConfigMap.
    pub namespace: String,
    /// Where the shared bare clones live.
    pub repo_cache_dir: PathBuf,
    /// Every Application is reconciled at least this often (Argo CD: 3 min).
    pub resync_interval: Duration,
    /// How often the remote is checked for new commits (`git ls-remote`; Argo CD: 3 min,
    /// Fjord: 60 s).
    pub poll_interval: Duration,
    /// Retry delay after a failed reconcile (API errors, source errors).
    pub error_retry_interval: Duration,
    /// Re-check delay while the Application's health is Progressing.
    pub progressing_interval: Duration,
    /// Rendered sources kept in memory (one per Application source and commit; sized so that a
    /// fleet of a few thousand Applications does not re-render on every reconcile).
    pub render_cache_capacity: usize,
    /// Applications reconciled at once (Flux's `--concurrent`; Argo CD's processors). Unbounded
    /// concurrency makes a thousand reconciles queue on the API server together and each hold
    /// its rendered and live objects meanwhile.
    pub concurrency: u16,
    /// The helm binary; `None` looks for `$FJORD_HELM`, then `helm` on `PATH`, at each render.
    pub helm_binary: Option<PathBuf>,
    /// Limits of custom health scripts (Lua from `argocd-cm`).
    pub lua_limits: crate::health::lua::LuaLimits,
    /// Where the controller's Prometheus metrics go (shared; serve its `encode()`).
    pub metrics: crate::metrics::Metrics,
    /// Sharding across replicas (`None`: this process reconciles every Application).
    pub shard: Option<Arc<shard::Shard>>,
}

impl ControllerConfig {
    /// Defaults for `namespace`, caching clones under `repo_cache_dir`.
    pub fn new(namespace: impl Into<String>, repo_cache_dir: impl Into<PathBuf>) -> Self {
        ControllerConfig {
            namespace: namespace.into(),
            repo_cache_dir: repo_cache_dir.into(),
            resync_interval: Duration::from_secs(180),
            poll_interval: crate::source::DEFAULT_POLL_INTERVAL,
            error_retry_interval: Duration::from_secs(10),
            progressing_interval: Duration::from_secs(2),
            render_cache_capacity: 4096,
            concurrency: 16,
            helm_binary: None,
            lua_limits: crate::health::lua::LuaLimits::default(),
            metrics: crate::metrics::Metrics::new(),
            shard: None,
        }
    }
}

/// Why a reconcile failed (the error policy retries it).
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// A Kubernetes API call failed.
    #[error("{step}: {source}")]
    Kube {
        /// What was being done (`writing status of argocd/app`).
        step: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A blocking stage panicked or was cancelled.
    #[error("{step}: the blocking task failed: {message}")]
    Task {
        /// The stage.
        step: &'static str,
        /// The join error.
        message: String,
    },
    /// The Application's destination names no usable cluster.
    #[error("{step}: {message}")]
    Destination {
        /// What was being done.
        step: String,
        /// Why the cluster is unusable (never a credential).
        message: String,
    },
    /// The Application could not be (de)serialised.
    #[error("{step}: {source}")]
    Json {
        /// What was being done.
        step: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn kube_err(step: impl Into<String>) -> impl FnOnce(kube::Error) -> ControllerError {
    let step = step.into();
    move |source| ControllerError::Kube { step, source }
}

/// Shared by every reconcile.
pub(crate) struct Context {
    /// The controller's own cluster: Applications, settings, Events. Objects of an
    /// Application go through [`Context::cluster_for`] instead.
    pub client: Client,
    pub config: ControllerConfig,
    pub registry: Arc<RepoRegistry>,
    pub renderers: Arc<Renderers>,
    pub cache: Arc<Mutex<RenderCache>>,
    /// Destination clusters, each with its discovery cache and watches.
    pub clusters: clusters::Clusters,
    /// Compiled custom health scripts of the current `argocd-cm`.
    pub health: custom_health::HealthCache,
    pub checks: checks::SourceChecks,
    pub heals: heal::HealTracker,
    pub settings: settings::Settings,
    pub source_types: Mutex<HashMap<crate::render::cache::RenderKey, crate::render::SourceType>>,
    pub capabilities: capabilities::CapabilitiesCache,
    /// The resourceVersion of this controller's last write to each Application: a cached
    /// copy at that version has seen the write, so it need not be read again.
    pub written: AppVersions,
}

/// resourceVersions by `namespace/name`.
#[derive(Default)]
pub(crate) struct AppVersions(Mutex<HashMap<String, String>>);

impl AppVersions {
    /// Records the version a write of `app` returned.
    pub fn record(&self, app: &Application) {
        if let Some(rv) = &app.metadata.resource_version {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(format!("{}/{}", app.namespace(), app.name()), rv.clone());
        }
    }

    /// True when `app` is at the version of this controller's last write to it.
    pub fn is_latest_write(&self, app: &Application) -> bool {
        let key = format!("{}/{}", app.namespace(), app.name());
        app.metadata.resource_version.is_some()
            && self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                == app.metadata.resource_version.as_ref()
    }

    /// Forgets Applications that are gone.
    pub fn retain(&self, present: &std::collections::HashSet<String>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|k, _| present.contains(k));
    }
}

/// Runs the Application controller until `shutdown` completes.
pub async fn run(
    client: Client,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ControllerError> {
    let apps: Api<Application> = Api::namespaced(client.clone(), &config.namespace);
    let (tx, triggers) = watch::trigger_channel();
    let ctx = Arc::new(Context {
        registry: Arc::new(
            RepoRegistry::new(&config.repo_cache_dir).with_metrics(config.metrics.git().clone()),
        ),
        renderers: Arc::new(Renderers::with_kustomize_and_helm(HelmRenderer {
            binary: config.helm_binary.clone(),
            ..HelmRenderer::new(config.repo_cache_dir.join(".helm"))
        })),
        capabilities: capabilities::CapabilitiesCache::default(),
        cache: Arc::new(Mutex::new(RenderCache::new(config.render_cache_capacity))),
        clusters: clusters::Clusters::new(client.clone(), &config.namespace, tx.clone())
            .with_metrics(&config.metrics),
        health: custom_health::HealthCache::default(),
        checks: checks::SourceChecks::default(),
        source_types: Mutex::new(HashMap::new()),
        heals: heal::HealTracker::default(),
        written: AppVersions::default(),
        settings: settings::Settings::start(&client, &config.namespace),
        client,
        config,
    });
    tracing::info!(namespace = %ctx.config.namespace, "Application controller started");
    let concurrency = ctx.config.concurrency.max(1);
    // The Applications' managedFields are dropped from the controller's cache: nothing reads
    // them (status is written by merge patch), and with every status field listed they were
    // a fifth of an Application's cached size. The watch runs in its own task: decoding an
    // Application at the bottom of the controller's deep stream stack overflowed debug builds.
    let (store, writer) = kube::runtime::reflector::store::<Application>();
    let (app_tx, app_events) = futures::channel::mpsc::channel(256);
    let app_watch = tokio::spawn(watch_applications(apps, writer, app_tx));
    let controller = Controller::for_stream(app_events, store.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency));
    observe::attach(&ctx, store.clone());
    if let Some(shard) = &ctx.config.shard {
        shard.attach(store.clone(), tx.clone());
        let shard = Arc::clone(shard);
        ctx.config
            .metrics
            .set_application_filter(Arc::new(move |app: &Application| {
                shard.owns(&format!("{}/{}", app.namespace(), app.name()))
            }));
    }
    let poller = tokio::spawn(poll_sources(Arc::clone(&ctx), store.clone(), tx));
    let ns = ctx.config.namespace.clone();
    // A changed AppProject re-queues its Applications; a changed cluster Secret or
    // `argocd-cm` re-queues them all (destinations and health rules may have changed).
    let by_project = store.clone();
    let all_apps = move |store: &kube::runtime::reflector::Store<Application>| {
        store
            .state()
            .iter()
            .map(|a| ObjectRef::from_obj(a.as_ref()))
            .collect::<Vec<_>>()
    };
    let (for_secrets, for_cm) = (store.clone(), store);
    let all_apps_cm = all_apps;
    controller
        .watches(
            Api::<AppProject>::namespaced(ctx.client.clone(), &ns),
            kube::runtime::watcher::Config::default(),
            move |project: AppProject| {
                let name = project.metadata.name.unwrap_or_default();
                by_project
                    .state()
                    .iter()
                    .filter(|a| project::project_name(a) == name)
                    .map(|a| ObjectRef::from_obj(a.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<Secret>::namespaced(ctx.client.clone(), &ns),
            kube::runtime::watcher::Config::default().labels(&format!(
                "{}={}",
                crate::source::credentials::SECRET_TYPE_LABEL,
                clusters::CLUSTER_SECRET_TYPE
            )),
            move |_: Secret| all_apps(&for_secrets),
        )
        .watches(
            Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns),
            kube::runtime::watcher::Config::default()
                .fields(&format!("metadata.name={}", settings::ARGOCD_CM)),
            move |_: ConfigMap| all_apps_cm(&for_cm),
        )
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile failed");
            }
        })
        .await;
    poller.abort();
    app_watch.abort();
    tracing::info!("Application controller stopped");
    Ok(())
}

/// Feeds the controller: the Applications' watch, cached without their managedFields. Watch
/// errors are retried here with backoff and not passed on: queued behind a channel, each one
/// would add to the controller's own trigger backoff long after the API came back.
async fn watch_applications(
    apps: Api<Application>,
    writer: kube::runtime::reflector::store::Writer<Application>,
    mut out: futures::channel::mpsc::Sender<Result<Application, kube::runtime::watcher::Error>>,
) {
    use futures::SinkExt;
    let events = kube::runtime::reflector(
        writer,
        kube::runtime::watcher(apps, kube::runtime::watcher::Config::default())
            .modify(|app| app.metadata.managed_fields = None)
            .default_backoff(),
    )
    .applied_objects();
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(app) => {
                if out.send(Ok(app)).await.is_err() {
                    return; // the controller stopped
                }
            }
            Err(e) => tracing::debug!(error = %e, "watching Applications failed; retrying"),
        }
    }
}

/// Repeats the shared source checks once per poll interval and re-queues the Applications
/// whose revision moved.
async fn poll_sources(
    ctx: Arc<Context>,
    apps: kube::runtime::reflector::Store<Application>,
    triggers: futures::channel::mpsc::UnboundedSender<
        kube::runtime::reflector::ObjectRef<Application>,
    >,
) {
    let interval = ctx.config.poll_interval;
    loop {
        tokio::time::sleep(interval).await;
        let c = Arc::clone(&ctx);
        // Applications deleted since they were tracked stop costing a remote check.
        let present: std::collections::HashSet<String> = apps
            .state()
            .iter()
            .map(|a| format!("{}/{}", a.namespace(), a.name()))
            .collect();
        ctx.written.retain(&present);
        let moved = tokio::task::spawn_blocking(move || {
            c.checks.poll(interval, |app| present.contains(app))
        })
        .await
        .unwrap_or_default();
        for app in moved {
            if let Some((ns, name)) = app.split_once('/') {
                let _ = triggers.unbounded_send(ObjectRef::new(name).within(ns));
            }
        }
    }
}

fn error_policy(app: Arc<Application>, error: &ControllerError, ctx: Arc<Context>) -> Action {
    tracing::warn!(app = %format!("{}/{}", app.namespace(), app.name()), error = %error, "reconcile failed; retrying");
    Action::requeue(ctx.config.error_retry_interval)
}

/// The current time in Kubernetes' format (RFC 3339, seconds, `Z`).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, rv: Option<&str>) -> Application {
        let mut a: Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"destination": {}, "source": {"repoURL": "r"}}
        }))
        .unwrap();
        a.metadata.resource_version = rv.map(str::to_string);
        a
    }

    #[test]
    fn only_a_copy_at_the_controllers_own_last_write_counts_as_current() {
        let versions = AppVersions::default();
        assert!(
            !versions.is_latest_write(&app("pay", Some("7"))),
            "never written"
        );
        versions.record(&app("pay", Some("7")));
        assert!(versions.is_latest_write(&app("pay", Some("7"))));
        assert!(
            !versions.is_latest_write(&app("pay", Some("9"))),
            "someone wrote after us"
        );
        assert!(
            !versions.is_latest_write(&app("pay", Some("5"))),
            "the cache lags behind our write"
        );
        assert!(!versions.is_latest_write(&app("pay", None)));
        assert!(!versions.is_latest_write(&app("other", Some("7"))));
        versions.retain(&std::collections::HashSet::new());
        assert!(
            !versions.is_latest_write(&app("pay", Some("7"))),
            "forgotten"
        );
    }
}
