//! `fjord server`: Fjord's HTTP server against a cluster — the JSON API (`/api/v1`), the web UI
//! (`/`) and the Git webhook receiver (`/api/webhook`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Kubeconfig of the cluster; without it, in-cluster credentials are used.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace of the Applications, AppProjects, `argocd-secret` (webhook secrets) and the
    /// token Secrets (`fjord-admin`, `fjord-tokens`).
    #[arg(long, default_value = "argocd")]
    namespace: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the server caches Git clones (to render desired manifests and diffs).
    #[arg(long, default_value = ".fjord/server-git-cache")]
    git_cache: PathBuf,
    /// Mark session cookies `Secure` (set when a TLS proxy fronts the server).
    #[arg(long)]
    secure_cookies: bool,
    /// Where to serve Prometheus metrics (`GET /metrics`; Argo CD's argocd-server-metrics
    /// port), apart from the API so that it needs no login and stays internal.
    #[arg(long, default_value = "0.0.0.0:8083")]
    metrics_listen: SocketAddr,
}

/// A server ready to serve: its router and the administrator token.
pub struct Prepared {
    pub router: axum::Router,
    pub admin_token: String,
    pub admin_token_created: bool,
}

/// Builds the whole server (webhooks, API, UI) for a cluster.
pub async fn prepare(
    client: kube::Client,
    namespace: &str,
    git_cache: &Path,
    secure_cookies: bool,
) -> anyhow::Result<Prepared> {
    let started = fjord_server::api::start(
        client.clone(),
        fjord_server::api::ApiConfig {
            namespace: namespace.to_string(),
            git_cache: git_cache.to_path_buf(),
            secure_cookies,
        },
    )
    .await
    .context("starting the API")?;
    let webhooks = Arc::new(fjord_server::AppState {
        secrets: Arc::new(fjord_server::kube_backend::KubeSecrets {
            client: client.clone(),
            namespace: namespace.to_string(),
        }),
        refresher: Arc::new(fjord_server::kube_backend::KubeRefresher {
            client,
            namespace: namespace.to_string(),
        }),
        webhook_rate: Default::default(),
    });
    Ok(Prepared {
        router: fjord_server::full_router(webhooks, started.state),
        admin_token: started.admin_token,
        admin_token_created: started.admin_token_created,
    })
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = super::kube_client::client(args.kubeconfig.as_deref()).await?;
        let prepared = prepare(
            client,
            &args.namespace,
            &args.git_cache,
            args.secure_cookies,
        )
        .await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!(
            "fjord server listening on http://{} (UI /, API /api/v1, webhooks POST /api/webhook)",
            args.listen
        );
        if prepared.admin_token_created {
            eprintln!(
                "admin token (shown once; kept in Secret {}/fjord-admin): {}",
                args.namespace, prepared.admin_token
            );
        }
        let metrics = fjord_engine::metrics::Metrics::process_only();
        let router = fjord_server::metrics::track(prepared.router, &metrics);
        let at = super::metrics::serve(args.metrics_listen, metrics).await?;
        eprintln!("metrics on http://{at}/metrics");
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
