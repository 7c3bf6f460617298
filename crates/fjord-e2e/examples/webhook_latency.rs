//! Commit-to-live latency through the webhook: the embedded control plane, the Application
//! controller (Git polling effectively off) and the webhook receiver in one process; the seed
//! Application tracks a local repository. Each round commits a new image tag, sends the signed
//! push notification, and waits until the Application is Synced at that commit with the image
//! live. Prints p50 and p99 over the rounds; asserts nothing about timing.
//!
//! Run: `cargo run --release -p fjord-e2e --example webhook_latency [-- ROUNDS]` (default 50).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::{ControllerConfig, install};
use fjord_engine::types::{Application, SyncStatusCode};
use kube::Api;

fn git(dir: &Path, args: &[&str]) -> String {
    fjord_e2e::git(dir, None, args)
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let examples = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"));
    let tc = TestCluster::start().await.expect("cluster");
    let client = fjord_e2e::client(&tc).await;
    install::install_crds(&client).await.expect("CRDs");
    install::ensure_namespace_and_default_project(&client, "argocd")
        .await
        .expect("namespace");

    let bare = tc.scratch().join("infra-config.git");
    let work = tc.scratch().join("work");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(examples.join("infra-config"))
            .arg(&work)
            .status()
            .unwrap()
            .success()
    );
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "seed"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    let url = format!("file://{}", bare.display());

    tc.kubectl_ok(
        "1.33",
        &[
            "-n",
            "argocd",
            "create",
            "secret",
            "generic",
            "argocd-secret",
            "--from-literal=webhook.generic.secret=bench",
        ],
    )
    .unwrap();
    let seed = std::fs::read_to_string(examples.join("nordic-payment-gateway.yaml")).unwrap();
    let seed = seed.replace("git@github.com:my-org/infra-config.git", &url);
    let file = tc.scratch().join("app.yaml");
    std::fs::write(&file, seed).unwrap();

    let mut config = ControllerConfig::new("argocd", tc.scratch().join("cache"));
    config.poll_interval = Duration::from_secs(3600);
    let c = client.clone();
    tokio::spawn(async move {
        let _ = fjord_engine::controller::run(c, config, std::future::pending()).await;
    });
    tc.kubectl_ok("1.33", &["apply", "-f", file.to_str().unwrap()])
        .unwrap();
    let apps: Api<Application> = Api::namespaced(client.clone(), "argocd");
    let synced_at = |app: &Application, commit: &str| {
        app.status
            .as_ref()
            .and_then(|s| s.sync.as_ref())
            .is_some_and(|s| {
                s.status == SyncStatusCode::Synced && s.revision.as_deref() == Some(commit)
            })
    };
    let first = git(&work, &["rev-parse", "HEAD"]);
    while !synced_at(&apps.get("nordic-payment-gateway").await.unwrap(), &first) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let router = fjord_server::router(Arc::new(fjord_server::AppState {
        secrets: Arc::new(fjord_server::kube_backend::KubeSecrets {
            client: client.clone(),
            namespace: "argocd".into(),
        }),
        refresher: Arc::new(fjord_server::kube_backend::KubeRefresher {
            client: client.clone(),
            namespace: "argocd".into(),
        }),
        webhook_rate: Default::default(),
    }));
    let kustomization = work.join("k8s/overlays/production/kustomization.yaml");
    let mut latencies = Vec::new();
    let mut tag = "1.4.2".to_string();
    for round in 0..rounds {
        let next = format!("1.5.{round}");
        let text = std::fs::read_to_string(&kustomization).unwrap();
        std::fs::write(
            &kustomization,
            text.replace(&format!("newTag: {tag}"), &format!("newTag: {next}")),
        )
        .unwrap();
        tag = next;
        git(&work, &["commit", "-q", "-am", &format!("round {round}")]);
        let start = Instant::now();
        git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
        let commit = git(&work, &["rev-parse", "HEAD"]);
        let body = serde_json::to_vec(&serde_json::json!({
            "repository": url, "ref": "refs/heads/main", "defaultBranch": "main",
            "files": ["k8s/overlays/production/kustomization.yaml"]
        }))
        .unwrap();
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/webhook")
            .header("x-fjord-signature-256", sign(b"bench", &body))
            .body(axum::body::Body::from(body))
            .unwrap();
        let resp = tower::ServiceExt::oneshot(router.clone(), req)
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if synced_at(&apps.get("nordic-payment-gateway").await.unwrap(), &commit) {
                break;
            }
            assert!(Instant::now() < deadline, "round {round} did not go live");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "commit-to-live through the webhook over {rounds} pushes (push, notify, fetch, render, diff, apply, Synced): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        p(0.5),
        p(0.99),
        latencies[latencies.len() - 1]
    );
}
