//! `fjord controller`: the in-cluster controllers, against any cluster (a kubeconfig, or the
//! in-cluster service account when none is given): the Application controller and the
//! Sealed Secrets controller, side by side until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Kubeconfig of the cluster to manage; without it, in-cluster credentials are used.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace of Applications, AppProjects and repository Secrets (as Argo CD's).
    #[arg(long, default_value = "argocd")]
    namespace: String,
    /// Where the shared Git clones are cached.
    #[arg(long, default_value = ".fjord/git-cache")]
    repo_cache_dir: PathBuf,
    /// How often every Application is reconciled, in seconds.
    #[arg(long, default_value_t = 180)]
    resync_seconds: u64,
    /// How often repositories are checked for new commits, in seconds.
    #[arg(long, default_value_t = 60)]
    poll_seconds: u64,
    /// Applications reconciled at once (as Flux's --concurrent).
    #[arg(long, default_value_t = 16)]
    concurrent: u16,
    /// Do not run the Application controller.
    #[arg(long)]
    no_applications: bool,
    /// Do not run the Sealed Secrets controller.
    #[arg(long)]
    no_sealed_secrets: bool,
    /// Namespace of the Sealed Secrets keys (Bitnami's default).
    #[arg(long, default_value = "kube-system")]
    sealed_secrets_namespace: String,
    /// Where to serve the Sealed Secrets endpoints (/v1/cert.pem, /v1/verify, /v1/rotate).
    #[arg(long, default_value = "127.0.0.1:8080")]
    sealed_secrets_listen: SocketAddr,
    /// Register the endpoints as this Service (with Endpoints pointing at the listener) in the
    /// keys' namespace, so kubeseal and `fjord seal` reach a controller running outside the
    /// cluster through the API server's service proxy (e.g. `sealed-secrets-controller`).
    #[arg(long, value_name = "NAME")]
    sealed_secrets_service: Option<String>,
    /// How often a new sealing key is generated, in hours (0: never after the first).
    #[arg(long, default_value_t = 720)]
    key_renew_period_hours: u64,
    /// Where to serve Prometheus metrics (`GET /metrics`; Argo CD's argocd-metrics port).
    #[arg(long, default_value = "0.0.0.0:8082")]
    metrics_listen: SocketAddr,
    /// Share the Applications with the other replicas (one Lease per replica in --namespace,
    /// consistent hashing of namespace/name); the Sealed Secrets controller and the `default`
    /// AppProject then run on the elected leader only. Off: this process does everything.
    #[arg(long, env = "FJORD_SHARDING")]
    sharding: bool,
    /// This replica's id with --sharding (its Lease is fjord-controller-<id>); default:
    /// $POD_NAME, else the host name with a random suffix.
    #[arg(long, env = "POD_NAME")]
    replica_id: Option<String>,
    /// Shard and leader Lease duration in seconds (renewed every third; as Kubernetes leader
    /// election's default).
    #[arg(long, default_value_t = 15)]
    shard_lease_duration: u64,
}

impl ControllerArgs {
    /// The Application controller's configuration.
    fn app_config(&self) -> fjord_engine::controller::ControllerConfig {
        let mut config =
            fjord_engine::controller::ControllerConfig::new(&self.namespace, &self.repo_cache_dir);
        config.resync_interval = Duration::from_secs(self.resync_seconds.max(1));
        config.poll_interval = Duration::from_secs(self.poll_seconds.max(1));
        config.concurrency = self.concurrent.max(1);
        config
    }

    fn sealed_config(&self) -> fjord_sealed_controller::ControllerConfig {
        let mut config =
            fjord_sealed_controller::ControllerConfig::new(&self.sealed_secrets_namespace);
        config.keys.renew_period = Duration::from_secs(self.key_renew_period_hours * 3600);
        config.listen = Some(self.sealed_secrets_listen);
        config.advertise_service = self.sealed_secrets_service.clone();
        config
    }
}

pub fn run(args: ControllerArgs) -> anyhow::Result<()> {
    if args.no_applications && args.no_sealed_secrets {
        anyhow::bail!("nothing to run: both controllers are switched off");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = super::kube_client::client(args.kubeconfig.as_deref()).await?;
        let shard = args.start_shard(&client)?;
        let mut apps = (!args.no_applications).then(|| args.app_config());
        if let Some(config) = apps.as_mut() {
            config.shard = shard.clone();
        }
        let sealed = (!args.no_sealed_secrets).then(|| args.sealed_config());
        let metrics = apps
            .as_ref()
            .map_or_else(fjord_engine::metrics::Metrics::process_only, |c| {
                c.metrics.clone()
            });
        let at = super::metrics::serve(args.metrics_listen, metrics).await?;
        eprintln!("metrics on http://{at}/metrics");
        let result = run_leader_gated(client, apps, sealed, shard.clone(), terminated()).await;
        if let Some(shard) = shard {
            shard.shutdown().await;
        }
        result
    })
}

/// Ctrl-C or SIGTERM (what Kubernetes sends a pod's process).
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

impl ControllerArgs {
    /// Starts sharding when asked for.
    fn start_shard(
        &self,
        client: &kube::Client,
    ) -> anyhow::Result<Option<std::sync::Arc<fjord_engine::controller::shard::Shard>>> {
        use fjord_engine::controller::shard::{Shard, ShardConfig, default_replica_id};
        if !self.sharding {
            return Ok(None);
        }
        let id = self.replica_id.clone().unwrap_or_else(default_replica_id);
        let mut config = ShardConfig::new(&self.namespace, id);
        config.lease_duration = Duration::from_secs(self.shard_lease_duration);
        let shard = Shard::start(client.clone(), config)
            .context("--sharding (check --replica-id and --shard-lease-duration)")?;
        Ok(Some(shard))
    }
}

/// [`run_controllers`], with the Sealed Secrets controller running only while this replica
/// leads when `shard` is given: started on gaining leadership, stopped on losing it.
pub async fn run_leader_gated(
    client: kube::Client,
    apps: Option<fjord_engine::controller::ControllerConfig>,
    sealed: Option<fjord_sealed_controller::ControllerConfig>,
    shard: Option<std::sync::Arc<fjord_engine::controller::shard::Shard>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Some(shard) = shard else {
        return run_controllers(client, apps, sealed, shutdown).await;
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sealed_task = sealed.map(|config| {
        let client = client.clone();
        let mut leadership = shard.leadership();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
                    closed = async { leadership.wait_for(|l| *l).await.is_err() } => if closed { return },
                }
                tracing::info!("leader: starting the Sealed Secrets controller");
                let mut lost = leadership.clone();
                let mut stopped = stop.clone();
                let until = async move {
                    tokio::select! {
                        _ = async { let _ = lost.wait_for(|l| !*l).await; } => {}
                        _ = async { let _ = stopped.wait_for(|s| *s).await; } => {}
                    }
                };
                match fjord_sealed_controller::run(client.clone(), config.clone(), until).await {
                    Ok(()) => tracing::info!("the Sealed Secrets controller stopped (leadership lost or shutdown)"),
                    Err(e) => {
                        tracing::error!(error = %e, "the Sealed Secrets controller failed; retrying in 10 s while leader");
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                }
            }
        })
    });
    let result = run_controllers(client, apps, None, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await;
    if let Some(task) = sealed_task {
        task.abort();
    }
    result
}

/// Runs the chosen controllers until `shutdown` completes (or one of them stops).
pub async fn run_controllers(
    client: kube::Client,
    apps: Option<fjord_engine::controller::ControllerConfig>,
    sealed: Option<fjord_sealed_controller::ControllerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(config) = apps {
        let client = client.clone();
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move {
            fjord_engine::controller::run(client, config, stop)
                .await
                .context("the Application controller stopped")
        });
    }
    if let Some(config) = sealed {
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move {
            fjord_sealed_controller::run(client, config, stop)
                .await
                .context("the Sealed Secrets controller stopped")
        });
    }
    tokio::select! {
        _ = shutdown => {}
        Some(done) = tasks.join_next() => {
            let _ = stop_tx.send(true);
            done.context("a controller task panicked")??;
        }
    }
    let _ = stop_tx.send(true);
    let drain = async {
        while let Some(done) = tasks.join_next().await {
            done.context("a controller task panicked")??;
        }
        anyhow::Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(5), drain).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("a controller did not stop within 5 s; leaving it behind");
            Ok(())
        }
    }
}
