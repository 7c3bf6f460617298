//! `fjord doctor disk|api`: the checks of `fjord-doctor`, printed as a report.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum DoctorCommand {
    /// etcd's disk check: sequential 2,300-byte writes with fdatasync after each.
    Disk(DiskArgs),
    /// The API server: request latency and watch delivery lag.
    Api(ApiArgs),
}

#[derive(Debug, Args)]
pub struct DiskArgs {
    /// Directory on the disk to check (the API server's data directory belongs there).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Total bytes to write (etcd's guidance uses 22 MiB).
    #[arg(long, default_value_t = 22 * 1024 * 1024)]
    size: u64,
    /// Bytes per write.
    #[arg(long, default_value_t = 2300)]
    block_size: usize,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Kubeconfig of the cluster; without it, in-cluster credentials are used.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace for the probe ConfigMaps (deleted afterwards).
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Samples per measurement.
    #[arg(long, default_value_t = 20)]
    probes: usize,
}

pub fn run(cmd: DoctorCommand) -> anyhow::Result<()> {
    match cmd {
        DoctorCommand::Disk(args) => {
            let check = fjord_doctor::disk::DiskCheck {
                dir: args.dir.clone(),
                block_size: args.block_size,
                total_bytes: args.size,
            };
            let report = fjord_doctor::disk::run(&check).context("running the disk check")?;
            print!("{}", report.render(&args.dir));
            Ok(())
        }
        DoctorCommand::Api(args) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async move {
                let client = super::kube_client::client(args.kubeconfig.as_deref()).await?;
                let report = fjord_doctor::api::run(client, &args.namespace, args.probes.max(1))
                    .await
                    .context("checking the API server")?;
                print!("{}", report.render());
                Ok(())
            })
        }
    }
}
