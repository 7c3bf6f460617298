//! Benchmark of the embedded control plane, run as its own process (`fjord cluster serve`) so that
//! its memory is measured alone:
//!
//! 1. durable creates per second: 10,000 ConfigMaps from 32 concurrent clients;
//! 2. latency of listing the 10,000 objects;
//! 3. watch fan-out: 100 watchers, time from a write's acknowledgement until every watcher has
//!    received its event;
//! 4. server resident memory at 10,000 objects.
//!
//! Usage: `cargo run --release -p fjord-e2e --example apiserver_bench -- [path/to/fjord] [objects]`
//! (default `target/release/fjord`, 10,000). Prints figures; asserts nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Client, Config};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn client(kubeconfig: &Path) -> Client {
    let text = std::fs::read_to_string(kubeconfig).expect("kubeconfig");
    let kc = kube::config::Kubeconfig::from_yaml(&text).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"bench": "fjord"}},
        "data": {"payload": "x".repeat(512)}
    }))
    .expect("valid ConfigMap")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let fjord = PathBuf::from(args.next().unwrap_or_else(|| "target/release/fjord".into()));
    let objects: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(&fjord)
        .args(["cluster", "serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", fjord.display()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kubeconfig.exists() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = server.id();
    println!("fjord-apiserver pid {pid}, data on disk (durable), {objects} objects");
    println!("idle RSS: {:.1} MiB", rss_mib(pid));

    // 1. Durable creates from 32 concurrent clients.
    let c = client(&kubeconfig).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let clients = 32;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = w;
            while i < objects {
                let t = Instant::now();
                api.create(&PostParams::default(), &configmap(&format!("cm-{i:05}")))
                    .await
                    .expect("create");
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                i += clients;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("writer"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "creates: {objects} in {elapsed:.2} s = {:.0} durable writes/s ({clients} clients); latency p50 {:.2} ms, p99 {:.2} ms",
        objects as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!("RSS at {objects} objects: {:.1} MiB", rss_mib(pid));

    // 2. Listing everything.
    let mut list_ms = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let list = api.list(&ListParams::default()).await.expect("list");
        list_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(list.items.len() >= objects);
    }
    list_ms.sort_by(f64::total_cmp);
    println!(
        "list of {objects} (one request, no limit), 10 runs: p50 {:.1} ms, max {:.1} ms",
        percentile(&list_ms, 0.5),
        list_ms[list_ms.len() - 1]
    );
    let mut paged_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut lp = ListParams::default().limit(500);
        let mut n = 0;
        loop {
            let page = api.list(&lp).await.expect("page");
            n += page.items.len();
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => break,
            }
        }
        assert!(n >= objects);
        paged_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    paged_ms.sort_by(f64::total_cmp);
    println!(
        "list of {objects} in pages of 500 (as kubectl and kube-rs do), 5 runs: p50 {:.1} ms",
        percentile(&paged_ms, 0.5)
    );

    // 3. Watch fan-out to 100 watchers.
    let watchers = 100;
    let rv = api
        .list(&ListParams::default().limit(1))
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let received = Arc::new(tokio::sync::Mutex::new(
        Vec::<(usize, String, Instant)>::new(),
    ));
    let mut handles = Vec::new();
    for w in 0..watchers {
        let api = api.clone();
        let rv = rv.clone();
        let received = received.clone();
        handles.push(tokio::spawn(async move {
            let stream = api
                .watch(&WatchParams::default().timeout(60), &rv)
                .await
                .expect("watch");
            let mut stream = std::pin::pin!(stream.into_stream());
            while let Some(Ok(ev)) = stream.next().await {
                if let WatchEvent::Added(cm) = ev {
                    let name = cm.metadata.name.unwrap_or_default();
                    let done = name == "fanout-19";
                    received.lock().await.push((w, name, Instant::now()));
                    if done {
                        break;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut acked = Vec::new();
    for i in 0..20 {
        api.create(&PostParams::default(), &configmap(&format!("fanout-{i}")))
            .await
            .expect("create");
        acked.push((format!("fanout-{i}"), Instant::now()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = futures::future::join_all(handles).await;
    let received = received.lock().await;
    let mut lags = Vec::new();
    for (name, at) in &acked {
        let last = received
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(_, _, t)| *t)
            .max();
        let count = received.iter().filter(|(_, n, _)| n == name).count();
        if let Some(last) = last {
            lags.push(last.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
        assert_eq!(count, watchers, "every watcher gets every event");
    }
    lags.sort_by(f64::total_cmp);
    println!(
        "watch fan-out to {watchers} watchers, 20 events: time from acknowledgement to the last watcher p50 {:.2} ms, max {:.2} ms",
        percentile(&lags, 0.5),
        lags[lags.len() - 1]
    );
    println!("RSS after the watch test: {:.1} MiB", rss_mib(pid));
    let _ = server.kill();
    let _ = server.wait();
}
