//! Measures the metrics' cost at fleet scale: the per-reconcile update, and a scrape of
//! 1,000 (or `FJORD_APPS`) Applications with one sync series each. Prints, asserts nothing.
//!
//! Run: `cargo run --release -p fjord-engine --example metrics_scale`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_engine::metrics::{ApplicationSource, Metrics};
use fjord_engine::types::{Application, OperationPhase};

struct Fleet(Vec<Application>);

impl ApplicationSource for Fleet {
    fn for_each(&self, visit: &mut dyn FnMut(&Application, &str)) {
        for a in &self.0 {
            visit(a, "https://kubernetes.default.svc");
        }
    }
}

fn app(i: usize) -> Application {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": format!("app-{i:05}"), "namespace": "argocd"},
        "spec": {
            "project": format!("team-{}", i % 20),
            "source": {"repoURL": "https://git.example.com/org/fleet.git", "path": format!("apps/{i}")},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": format!("ns-{i}")},
            "syncPolicy": {"automated": {"prune": true}}
        },
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}
    }))
    .expect("an Application")
}

fn main() {
    let n: usize = std::env::var("FJORD_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let metrics = Metrics::new();
    let apps: Vec<Application> = (0..n).map(app).collect();

    let calls = 1_000_000u32;
    let started = Instant::now();
    for i in 0..calls {
        metrics.observe_reconcile(
            "argocd",
            "https://kubernetes.default.svc",
            Duration::from_micros(u64::from(i % 5000)),
        );
    }
    let per = started.elapsed() / calls;
    println!("observe_reconcile (label set seen before): {per:?} per call");

    let started = Instant::now();
    for a in &apps {
        metrics.count_sync(
            a,
            "https://kubernetes.default.svc",
            OperationPhase::Succeeded,
            false,
        );
    }
    println!(
        "count_sync, {n} new series: {:?} per call",
        started.elapsed() / n as u32
    );

    metrics.set_application_source(Arc::new(Fleet(apps)));
    let _ = metrics.encode();
    let rounds = 20u32;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        bytes = metrics.encode().len();
    }
    println!(
        "scrape of {n} Applications (argocd_app_info + argocd_app_sync_total): {:?}, {} KiB",
        started.elapsed() / rounds,
        bytes / 1024
    );
}
