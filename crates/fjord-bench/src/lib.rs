//! Fjord's benchmark harness (`fjord bench`): the scenarios of issue #10, each starting the
//! embedded control plane, the controller and the webhook receiver as separate processes of the
//! given `fjord` binary, so that what is measured is theirs.
//!
//! ```text
//! FleetRepo (git, file://) ──▶ fjord controller ──▶ fjord cluster serve ◀── harness (kube-rs)
//!                                   ▲                      │ /metrics
//!                     fjord server (webhook) ◀── harness   └─ /proc/<pid>: RSS, CPU
//! ```
#![warn(missing_docs)]

mod cluster;
mod procs;
mod repo;
mod scenarios;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

pub use cluster::{ControllerTiming, Environment};
pub use repo::FleetRepo;

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// N Applications created at once: time to all Synced and Healthy, the controller's memory,
    /// CPU and API requests.
    Fleet(FleetArgs),
    /// The fleet, then the steady state, a commit to the shared base and the push model (all of
    /// scenarios 1, 2, 3 and 5 in one run).
    All(FleetArgs),
    /// Commit-to-live through the webhook and self-heal after an edit: p50 and p99.
    Latency(LatencyArgs),
    /// `fjord kustomize build` against `kubectl kustomize` over the fleet's overlays.
    Render(RenderArgs),
}

/// Fleet size and timing.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Number of Applications.
    #[arg(long, default_value_t = 100)]
    apps: usize,
    /// Seconds of steady state to measure (`all` only).
    #[arg(long, default_value_t = 60)]
    steady_seconds: u64,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_seconds: u64,
    /// The controller's `--resync-seconds`.
    #[arg(long, default_value_t = 180)]
    resync_seconds: u64,
    /// The controller's `--poll-seconds`.
    #[arg(long, default_value_t = 60)]
    poll_seconds: u64,
    /// The controller's `--concurrent`.
    #[arg(long, default_value_t = 16)]
    concurrent: u16,
    /// Keep the work directory here instead of a temporary one (logs, repository, store).
    #[arg(long)]
    keep: Option<PathBuf>,
}

/// Latency settings.
#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Applications in the fleet (the first one is measured).
    #[arg(long, default_value_t = 1)]
    apps: usize,
    /// Tries of each measurement.
    #[arg(long, default_value_t = 50)]
    tries: usize,
    /// Keep the work directory here.
    #[arg(long)]
    keep: Option<PathBuf>,
}

/// Rendering settings.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Overlays to render with each tool.
    #[arg(long, default_value_t = 100)]
    overlays: usize,
}

fn describe_machine() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {cores} cores, {memory} memory; load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// Runs a scenario with `fjord` as the binary of the processes under measurement.
pub fn run(fjord: &Path, command: BenchCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    describe_machine();
    runtime.block_on(async move {
        match command {
            BenchCommand::Fleet(args) => fleet_run(fjord, &args, false).await,
            BenchCommand::All(args) => fleet_run(fjord, &args, true).await,
            BenchCommand::Latency(args) => latency_run(fjord, &args).await,
            BenchCommand::Render(args) => {
                let dir = tempfile::tempdir()?;
                let repo = FleetRepo::create(dir.path(), args.overlays)?;
                scenarios::render(fjord, &repo, args.overlays)
            }
        }
    })
}

async fn fleet_run(fjord: &Path, args: &FleetArgs, everything: bool) -> Result<()> {
    let timing = ControllerTiming {
        resync_seconds: args.resync_seconds,
        poll_seconds: args.poll_seconds,
        concurrent: args.concurrent,
    };
    let mut env = Environment::start(fjord, args.keep.as_deref(), timing, everything).await?;
    println!("work directory: {}", env.dir.display());
    println!(
        "controller: --resync-seconds {} --poll-seconds {} --concurrent {}; durable store; simulated controllers on",
        args.resync_seconds, args.poll_seconds, args.concurrent
    );
    let repo = FleetRepo::create(&env.dir.join("repo"), args.apps)?;
    let timeout = Duration::from_secs(args.timeout_seconds);
    let fleet_time = scenarios::fleet(&mut env, &repo, timeout).await?;
    if everything {
        scenarios::steady(&mut env, Duration::from_secs(10), args.steady_seconds).await?;
        scenarios::shared_base(&mut env, &repo, timeout).await?;
        scenarios::push(&mut env, &repo, fleet_time).await?;
    }
    Ok(())
}

async fn latency_run(fjord: &Path, args: &LatencyArgs) -> Result<()> {
    let timing = ControllerTiming {
        resync_seconds: 180,
        poll_seconds: 3600,
        concurrent: 16,
    };
    let mut env = Environment::start(fjord, args.keep.as_deref(), timing, true).await?;
    println!("work directory: {}", env.dir.display());
    println!(
        "controller: Git polling off (--poll-seconds 3600); changes arrive through the webhook"
    );
    let repo = FleetRepo::create(&env.dir.join("repo"), args.apps)?;
    scenarios::fleet(&mut env, &repo, Duration::from_secs(900)).await?;
    scenarios::latency(&mut env, &repo, args.tries).await
}
