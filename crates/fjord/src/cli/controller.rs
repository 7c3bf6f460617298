//! `fjord controller`: the in-cluster controllers, against any cluster (a kubeconfig, or the
//! in-cluster service account when none is given).

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
    /// Do not run the Sealed Secrets controller.
    #[arg(long)]
    no_sealed_secrets: bool,
    /// Namespace of the Sealed Secrets keys (Bitnami's default).
    #[arg(long, default_value = "kube-system")]
    sealed_secrets_namespace: String,
    /// Where to serve the Sealed Secrets endpoints (/v1/cert.pem, /v1/verify, /v1/rotate).
    #[arg(long, default_value = "127.0.0.1:8080")]
    sealed_secrets_listen: SocketAddr,
    /// How often a new sealing key is generated, in hours (0: never after the first).
    #[arg(long, default_value_t = 720)]
    key_renew_period_hours: u64,
}

pub fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let client = super::kube_client::client(args.kubeconfig.as_deref()).await?;
        tracing::info!(
            namespace = %args.namespace,
            "Application reconciliation is not part of this build yet; running the Sealed Secrets controller"
        );
        if args.no_sealed_secrets {
            anyhow::bail!("nothing to run: the Sealed Secrets controller is switched off and the Application controller is not built yet");
        }
        let mut config = fjord_sealed_controller::ControllerConfig::new(&args.sealed_secrets_namespace);
        config.keys.renew_period = Duration::from_secs(args.key_renew_period_hours * 3600);
        config.listen = Some(args.sealed_secrets_listen);
        fjord_sealed_controller::run(client, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the Sealed Secrets controller stopped")
    })
}
