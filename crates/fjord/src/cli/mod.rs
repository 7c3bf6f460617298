//! Subcommands. Each module holds its clap arguments (validation only) and a `run` that turns
//! them into library configuration before doing any I/O.

mod cluster;
mod controller;
mod doctor;
mod kube_client;
mod kustomize;
mod seal;
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
    /// The embedded Kubernetes-compatible control plane.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Run the in-cluster controllers against a cluster.
    Controller(controller::ControllerArgs),
    /// Check a node's disk and a cluster's API server before trusting them.
    #[command(subcommand)]
    Doctor(doctor::DoctorCommand),
    /// Seal Secrets for Sealed Secrets controllers (kubeseal's flags).
    Seal(Box<seal::SealArgs>),
    /// Native kustomize: render kustomizations like `kubectl kustomize`.
    #[command(subcommand)]
    Kustomize(kustomize::KustomizeCommand),
    /// Run everything locally: control plane, controllers and the bundled example app.
    Up(up::UpArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Cluster(cmd) => cluster::run(cmd),
        Command::Controller(args) => controller::run(args),
        Command::Doctor(cmd) => doctor::run(cmd),
        Command::Seal(args) => seal::run(*args),
        Command::Kustomize(cmd) => kustomize::run(cmd),
        Command::Up(args) => up::run(args),
    }
}
