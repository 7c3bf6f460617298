//! Subcommands. Each module holds its clap arguments (validation only) and a `run` that turns
//! them into library configuration before doing any I/O.

mod app;
mod cluster;
mod controller;
mod doctor;
mod image;
mod install;
mod kube_client;
mod kustomize;
mod metrics;
mod seal;
mod server;
mod up;

use clap::{Parser, Subcommand};

/// Fjord: pull-model GitOps continuous delivery for Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "fjord", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Applications: list, get, diff, sync, history, rollback, wait, delete.
    App(app::AppArgs),
    /// Benchmarks: fleet scale, steady state, latency, push against pull, rendering.
    #[command(subcommand)]
    Bench(fjord_bench::BenchCommand),
    /// The embedded Kubernetes-compatible control plane.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Run the in-cluster controllers against a cluster.
    Controller(controller::ControllerArgs),
    /// Check a node's disk and a cluster's API server before trusting them.
    #[command(subcommand)]
    Doctor(doctor::DoctorCommand),
    /// CI promotion: change image tags in the config repository and push.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Save a Fjord server and token for `fjord app` (the token is read from standard input).
    Login(app::LoginArgs),
    /// Print the manifests that install Fjord into a cluster (for `kubectl apply -f -`).
    Install(install::InstallArgs),
    /// Seal Secrets for Sealed Secrets controllers (kubeseal's flags).
    Seal(Box<seal::SealArgs>),
    /// Serve Fjord's web UI, JSON API and Git webhooks against a cluster.
    Server(server::ServerArgs),
    /// Native kustomize: render kustomizations like `kubectl kustomize`.
    #[command(subcommand)]
    Kustomize(kustomize::KustomizeCommand),
    /// Run everything locally: control plane, controllers and the bundled example app.
    Up(up::UpArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::App(args) => app::run(args),
        Command::Bench(cmd) => {
            let fjord = std::env::current_exe()
                .map_err(|e| anyhow::anyhow!("finding the fjord binary to benchmark: {e}"))?;
            fjord_bench::run(&fjord, cmd)
        }
        Command::Cluster(cmd) => cluster::run(cmd),
        Command::Controller(args) => controller::run(args),
        Command::Doctor(cmd) => doctor::run(cmd),
        Command::Image(cmd) => image::run(cmd),
        Command::Install(args) => install::run(args),
        Command::Login(args) => app::login(args),
        Command::Seal(args) => seal::run(*args),
        Command::Server(args) => server::run(args),
        Command::Kustomize(cmd) => kustomize::run(cmd),
        Command::Up(args) => up::run(args),
    }
}
