//! `fjord cluster ...`: run the embedded control plane.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Serve the embedded Kubernetes-compatible control plane in the foreground.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the kubeconfig names the real one).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Directory for the durable store and the credentials.
    #[arg(long, default_value = ".fjord/cluster", conflicts_with = "in_memory")]
    data_dir: PathBuf,
    /// Keep everything in memory (for tests): nothing survives a restart.
    #[arg(long)]
    in_memory: bool,
    /// Where to write a kubeconfig for kubectl and other clients.
    #[arg(long, default_value = ".fjord/kubeconfig")]
    kubeconfig: PathBuf,
    /// Serve plain HTTP instead of HTTPS (the bearer token is still required).
    #[arg(long)]
    insecure_http: bool,
    /// How often the watch revision log is compacted, in seconds (0: never).
    #[arg(long, default_value_t = 300)]
    compaction_interval_secs: u64,
}

pub fn run(cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = fjord_apiserver::ServerConfig::new(args.listen);
    config.data_dir = (!args.in_memory).then(|| args.data_dir.clone());
    config.kubeconfig_path = Some(args.kubeconfig.clone());
    config.insecure_http = args.insecure_http;
    config.compaction_interval = (args.compaction_interval_secs > 0)
        .then(|| std::time::Duration::from_secs(args.compaction_interval_secs));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = fjord_apiserver::start(config)
            .await
            .context("starting the embedded control plane")?;
        eprintln!(
            "fjord-apiserver listening on {}\nkubeconfig: {}\n  export KUBECONFIG={}",
            server.url,
            args.kubeconfig.display(),
            std::fs::canonicalize(&args.kubeconfig)
                .unwrap_or(args.kubeconfig.clone())
                .display()
        );
        shutdown_signal().await;
        eprintln!("shutting down");
        server.shutdown().await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
