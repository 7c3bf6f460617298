//! `fjord server`: Fjord's HTTP server (today the Git webhook receiver) against a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Kubeconfig of the cluster; without it, in-cluster credentials are used.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace of the Applications and of `argocd-secret` (webhook secrets).
    #[arg(long, default_value = "argocd")]
    namespace: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = super::kube_client::client(args.kubeconfig.as_deref()).await?;
        let state = Arc::new(fjord_server::AppState {
            secrets: Arc::new(fjord_server::kube_backend::KubeSecrets {
                client: client.clone(),
                namespace: args.namespace.clone(),
            }),
            refresher: Arc::new(fjord_server::kube_backend::KubeRefresher {
                client,
                namespace: args.namespace.clone(),
            }),
            webhook_rate: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!(
            "fjord server listening on http://{} (webhooks: POST /api/webhook)",
            args.listen
        );
        axum::serve(listener, fjord_server::router(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })
}
