//! Server-side apply of a typical ~200-line Deployment through HTTPS with kube-rs: latency and
//! throughput of no-op applies, changing applies, and concurrent changing applies.
//!
//! Run: `cargo run --release -p fjord-e2e --example ssa_bench [-- <iterations>]`. The server is
//! in-process with a durable store in a temporary directory and its controllers off, so only the
//! apply path is measured. Prints figures; asserts nothing about timing.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::{Value, json};

fn deployment(name: &str, generation_marker: usize) -> Value {
    let container = |i: usize| {
        json!({
            "name": format!("app-{i}"),
            "image": format!("registry.example.com/team/app-{i}:1.{generation_marker}.0"),
            "args": ["--listen=:8080", "--log-level=info", "--metrics"],
            "ports": [{"name": "http", "containerPort": 8080 + i}, {"name": "metrics", "containerPort": 9090 + i}],
            "env": (0..8).map(|e| json!({"name": format!("VAR_{e}"), "value": format!("value-{e}")})).collect::<Vec<_>>(),
            "envFrom": [{"configMapRef": {"name": "shared-config"}}],
            "resources": {"requests": {"cpu": "0.25", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}, "initialDelaySeconds": 10},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}, {"name": "cache", "mountPath": "/cache"}],
            "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
        })
    };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": "default",
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "bench",
                       "app.kubernetes.io/version": format!("1.{generation_marker}.0")},
            "annotations": {"example.com/owner": "team-a", "example.com/revision": generation_marker.to_string()},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "bench"},
                             "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
                "spec": {
                    "serviceAccountName": "bench",
                    "containers": [container(0), container(1)],
                    "initContainers": [{"name": "migrate", "image": "registry.example.com/team/migrate:1.0",
                                        "command": ["/migrate", "--up"]}],
                    "volumes": [{"name": "config", "configMap": {"name": "app-config"}},
                                {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}}}}]}},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "bench", "effect": "NoSchedule"}],
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}}}],
                },
            },
        },
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU seconds this process (client and server) has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime and stime are the 12th
    // and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Prints latency percentiles, throughput and CPU per operation (`cpu`: CPU seconds of the run,
/// client and server together, which load on the machine inflates far less than latency).
fn report(what: &str, mut lat: Vec<Duration>, wall: Duration, cpu: f64) {
    lat.sort();
    println!(
        "{what:<34} n={:<5} p50={:>7.2?} p95={:>7.2?} p99={:>7.2?} max={:>7.2?} throughput={:>7.1}/s cpu/op={:.0}µs",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default(),
        lat.len() as f64 / wall.as_secs_f64(),
        cpu * 1e6 / lat.len().max(1) as f64
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir()?;
    let mut config = fjord_apiserver::ServerConfig::new("127.0.0.1:0".parse()?);
    config.data_dir = Some(dir.path().join("data"));
    config.controllers = fjord_apiserver::ControllerOptions::disabled();
    let server = fjord_apiserver::start(config).await?;
    let kc = kube::config::Kubeconfig::from_yaml(&server.kubeconfig)?;
    let client = Client::try_from(Config::from_custom_kubeconfig(kc, &Default::default()).await?)?;
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"));
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let params = PatchParams::apply("bench");
    let lines = serde_norway::to_string(&deployment("web", 0))?
        .lines()
        .count();
    println!("manifest: {lines} lines of YAML; {n} iterations per sequential run");

    let t = Instant::now();
    api.patch("web", &params, &Patch::Apply(deployment("web", 0)))
        .await?;
    println!("first apply (create)               {:.2?}", t.elapsed());

    let mut lat = Vec::with_capacity(n);
    let wall = Instant::now();
    let cpu = cpu_seconds();
    for _ in 0..n {
        let t = Instant::now();
        api.patch("web", &params, &Patch::Apply(deployment("web", 0)))
            .await?;
        lat.push(t.elapsed());
    }
    report(
        "no-op apply (sequential)",
        lat,
        wall.elapsed(),
        cpu_seconds() - cpu,
    );

    let mut lat = Vec::with_capacity(n);
    let wall = Instant::now();
    let cpu = cpu_seconds();
    for i in 1..=n {
        let t = Instant::now();
        api.patch("web", &params, &Patch::Apply(deployment("web", i)))
            .await?;
        lat.push(t.elapsed());
    }
    report(
        "changing apply (sequential)",
        lat,
        wall.elapsed(),
        cpu_seconds() - cpu,
    );

    let workers = 8;
    let per = n / workers;
    let wall = Instant::now();
    let cpu = cpu_seconds();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let api = api.clone();
        let params = params.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("web-{w}");
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                api.patch(&name, &params, &Patch::Apply(deployment(&name, i)))
                    .await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    report(
        &format!("changing apply ({workers} concurrent)"),
        lat,
        wall.elapsed(),
        cpu_seconds() - cpu,
    );
    server.shutdown().await;
    Ok(())
}
