//! Benchmark (measures, asserts no timing): 10,000 Applications in the embedded control plane,
//! served by Fjord's API from its watch cache. Reports the API list latency (p50/p99) for a
//! page of 100 under several queries, and — when Chromium is installed — the time until the
//! list page shows its first 100 tiles.
//!
//! Run: `cargo test -p fjord-e2e --test ui_bench -- --ignored --nocapture`
//! (FJORD_BENCH_APPS overrides the count).

mod ui_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::install;
use fjord_engine::types::Application;
use fjord_server::api::ApiConfig;
use futures::StreamExt;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: creates 10,000 Applications"]
async fn list_latency_with_ten_thousand_applications() {
    let n: usize = std::env::var("FJORD_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let tc = TestCluster::start().await.expect("cluster starts");
    let client = fjord_e2e::client(&tc).await;
    install::install_crds(&client).await.unwrap();
    install::ensure_namespace_and_default_project(&client, "argocd")
        .await
        .unwrap();
    let apps: Api<Application> = Api::namespaced(client.clone(), "argocd");
    let syncs = ["Synced", "OutOfSync", "Unknown"];
    let healths = ["Healthy", "Progressing", "Degraded", "Missing"];
    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let apps = apps.clone();
            async move {
                let app: Application = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                    "metadata": {"name": format!("app-{i:05}"), "namespace": "argocd",
                                 "labels": {"team": format!("team-{}", i % 20)}},
                    "spec": {"project": "default",
                             "source": {"repoURL": format!("https://git.example.com/org/repo-{}.git", i % 50),
                                        "path": format!("apps/{i}"), "targetRevision": "main"},
                             "destination": {"server": "https://kubernetes.default.svc", "namespace": format!("ns-{}", i % 100)}},
                    "status": {"sync": {"status": syncs[i % 3], "revision": "0123456789abcdef0123456789abcdef01234567"},
                               "health": {"status": healths[i % 4]}}
                }))
                .unwrap();
                apps.create(&PostParams::default(), &app).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    eprintln!("created {n} Applications in {:.1?}", t.elapsed());

    let t = Instant::now();
    let started = fjord_server::api::start(
        client.clone(),
        ApiConfig {
            namespace: "argocd".into(),
            git_cache: tc.scratch().join("server-git-cache"),
            secure_cookies: false,
        },
    )
    .await
    .unwrap();
    while started.state.cache.len() < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("API cache loaded {n} Applications in {:.1?}", t.elapsed());
    let webhooks = Arc::new(fjord_server::AppState {
        secrets: Arc::new(fjord_server::kube_backend::KubeSecrets {
            client: client.clone(),
            namespace: "argocd".into(),
        }),
        refresher: Arc::new(fjord_server::kube_backend::KubeRefresher {
            client: client.clone(),
            namespace: "argocd".into(),
        }),
        webhook_rate: Default::default(),
    });
    let router = fjord_server::full_router(webhooks, Arc::clone(&started.state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let token = started.admin_token.clone();
    let base2 = base.clone();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        for (label, query) in [
            ("first page, by name", "limit=100"),
            ("page 50, by name", "limit=100&continue=o5000"),
            ("sorted by health desc", "limit=100&sort=-health"),
            (
                "sync=OutOfSync & health=Degraded",
                "limit=100&sync=OutOfSync&health=Degraded",
            ),
            ("text search", "limit=100&search=repo-7"),
            ("label selector", "limit=100&selector=team%3Dteam-3"),
        ] {
            let url = format!("{base2}/api/v1/applications?{query}");
            let mut times = Vec::new();
            for i in 0..220 {
                let t = Instant::now();
                let mut r = agent
                    .get(&url)
                    .header("authorization", &format!("Bearer {token}"))
                    .call()
                    .unwrap();
                let body = r.body_mut().read_to_string().unwrap();
                let elapsed = t.elapsed();
                assert_eq!(r.status().as_u16(), 200, "{body}");
                if i >= 20 {
                    times.push(elapsed);
                }
            }
            times.sort();
            eprintln!(
                "GET /api/v1/applications ({label}): p50 {:.2?}  p99 {:.2?}  (200 requests)",
                percentile(&times, 0.5),
                percentile(&times, 0.99)
            );
        }
    })
    .await
    .unwrap();
    let token = started.admin_token.clone();
    let base3 = base.clone();
    if std::path::Path::new("/usr/bin/chromedriver").exists() {
        tokio::task::spawn_blocking(move || {
            let b = ui_support::webdriver::Browser::start();
            b.goto(&format!("{base3}/"));
            let input = b.wait_for("#token", 20, "bench-login");
            b.type_into(&input, &token);
            b.click(&b.wait_for("#login-submit", 5, "bench-login-button"));
            b.wait_for(".tile[data-app='app-00099']", 30, "bench-first-list");
            for round in 0..5 {
                // A cold load of the list page: navigation until the 100th tile is shown.
                let t = Instant::now();
                b.goto(&format!("{base3}/applications?sort=-health&r={round}"));
                b.wait_for(".tiles .tile:nth-child(100)", 30, "bench-list");
                let counts = b.text(&b.wait_for("#list-summary", 5, "bench-summary"));
                eprintln!(
                    "list page usable in Chromium (100 tiles of {counts}): {:.0?}",
                    t.elapsed()
                );
            }
            b.screenshot("bench-10000-apps");
        })
        .await
        .unwrap();
    } else {
        eprintln!("chromedriver not installed: browser timing skipped");
    }
    tc_stop(tc).await;
}

async fn tc_stop(mut tc: TestCluster) {
    tc.stop().await;
}
