//! Apply latency for a typical ~200-line Deployment (two containers with env, ports, probes,
//! mounts; init container; affinity; tolerations). Prints per-operation times; run with
//! `cargo run --release -p fjord-smd --example apply_bench`.

use fjord_smd::{ApplyRequest, UpdateRequest, apply, builtin_schema, update};
use serde_json::Value;
use std::time::{Duration, Instant};

/// CPU time this thread has run (Linux `/proc/thread-self/schedstat`), so figures stay
/// meaningful on a loaded machine; `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

struct Timer(Instant, Option<Duration>);

impl Timer {
    fn start() -> Self {
        Timer(Instant::now(), cpu_time())
    }

    fn report(self, name: &str, iterations: u32) {
        let wall = self.0.elapsed() / iterations;
        let cpu = match (self.1, cpu_time()) {
            (Some(a), Some(b)) => format!(
                "{:>8.1} µs/op CPU",
                ((b - a) / iterations).as_secs_f64() * 1e6
            ),
            _ => String::from("CPU time n/a"),
        };
        println!(
            "{name:<28} {:>8.1} µs/op wall  {cpu}  ({iterations} iterations)",
            wall.as_secs_f64() * 1e6
        );
    }
}

fn main() {
    let text = include_str!("deployment.json");
    let cfg: Value = serde_json::from_str(text).expect("example deployment is valid JSON");
    let mut changed = cfg.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = Value::from("shop/web:1.1");

    let start = Instant::now();
    let schema = builtin_schema();
    println!(
        "schema load + compile (once): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    let ty = schema
        .root_for_gvk("apps", "v1", "Deployment")
        .expect("Deployment type");
    let req = |now| ApplyRequest {
        manager: "fjord",
        force: true,
        api_version: "apps/v1",
        subresource: None,
        now,
        reset_fields: &[],
    };
    let n = 2000;

    let t = Timer::start();
    let mut live = None;
    for _ in 0..n {
        live = Some(
            apply(schema, &ty, None, &cfg, &req("2026-01-01T00:00:00Z")).expect("first apply"),
        );
    }
    t.report("first apply (create)", n);
    let live = live.expect("ran").object;

    let t = Timer::start();
    for _ in 0..n {
        let out =
            apply(schema, &ty, Some(&live), &cfg, &req("2026-01-01T00:00:01Z")).expect("no-op");
        assert!(!out.object_changed);
    }
    t.report("no-op re-apply", n);

    let t = Timer::start();
    let mut cur = live.clone();
    for i in 0..n {
        let next = if i % 2 == 0 { &changed } else { &cfg };
        cur = apply(schema, &ty, Some(&cur), next, &req("2026-01-01T00:00:02Z"))
            .expect("changed apply")
            .object;
    }
    t.report("changed re-apply (image)", n);

    let mut edited = live.clone();
    if let Some(m) = edited["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    edited["spec"]["replicas"] = Value::from(7);
    let ureq = UpdateRequest {
        manager: "kubectl-edit",
        api_version: "apps/v1",
        subresource: None,
        now: "2026-01-01T00:00:03Z",
        reset_fields: &[],
    };
    let t = Timer::start();
    for _ in 0..n {
        let out = update(schema, &ty, Some(&live), &edited, &ureq);
        assert!(out.object_changed);
    }
    t.report("update (replicas edit)", n);
}
