//! The seed Application exactly as shipped — `repoURL: git@github.com:my-org/infra-config.git` —
//! synced over real SSH: OpenSSH's sshd on loopback serves the config repository, and the
//! controller's ssh reaches it through the OpenSSH client configuration, as git itself would:
//! scripts/install-test-deps installs `/etc/ssh/ssh_config.d/fjord-e2e.conf`, which sends
//! github.com to 127.0.0.1:$FJORD_E2E_SSH_PORT while that variable is set (ssh reads its
//! configuration from the passwd home and /etc/ssh, not from $HOME, so the test cannot point it
//! elsewhere). The key comes from an Argo CD
//! repository Secret and the host key from the `argocd-ssh-known-hosts-cm` ConfigMap; an unknown
//! host key is refused (no trust on first use) and leaves the cluster untouched. With Git polling
//! effectively off, a signed GitHub push webhook then brings the next commit live.
//!
//! This file holds one test on purpose: it sets FJORD_E2E_SSH_PORT for the whole process.

mod common;

use common::{git, wait_app};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_e2e::ssh::GitSshServer;
use fjord_engine::controller::{ControllerConfig, install};
use fjord_engine::types::{Application, HealthStatusCode, SyncStatusCode};
use kube::Api;

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/nordic-payment-gateway.yaml"
);
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/infra-config");
const URL: &str = "git@github.com:my-org/infra-config.git";

fn condition(app: &Application) -> Option<String> {
    app.status
        .as_ref()
        .and_then(|s| s.conditions.first())
        .map(|c| c.message.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: starts sshd and boots the embedded control plane"]
async fn the_seed_application_verbatim_syncs_over_ssh_and_follows_a_webhook() {
    let server = GitSshServer::start().unwrap();
    assert!(
        Path::new("/etc/ssh/ssh_config.d/fjord-e2e.conf").exists(),
        "run scripts/install-test-deps: it installs the ssh client configuration this test uses"
    );
    // SAFETY: this test binary holds this one test, and the variable is set before any thread
    // that reads the environment (the cluster, the controller, git, ssh) starts.
    unsafe { std::env::set_var("FJORD_E2E_SSH_PORT", server.port.to_string()) };

    // The config repository, pushed over SSH.
    let ssh = server.git_ssh_command();
    server.bare_repo("my-org/infra-config.git").unwrap();
    let work = tempfile::tempdir().unwrap();
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(format!("{EXAMPLE}/."))
            .arg(work.path())
            .status()
            .unwrap()
            .success()
    );
    git(work.path(), Some(&ssh), &["init", "-q", "-b", "main"]);
    git(work.path(), Some(&ssh), &["add", "-A"]);
    git(
        work.path(),
        Some(&ssh),
        &["commit", "-q", "-m", "the bundled example"],
    );
    git(work.path(), Some(&ssh), &["push", "-q", URL, "main"]);
    let commit = git(work.path(), Some(&ssh), &["rev-parse", "HEAD"]);

    let tc = TestCluster::start().await.unwrap();
    let client = fjord_e2e::client(&tc).await;
    install::install_crds(&client).await.unwrap();
    install::ensure_namespace_and_default_project(&client, "argocd")
        .await
        .unwrap();
    // Credentials the Argo CD way: a repository Secret with the key, and a known-hosts ConfigMap
    // that, at first, holds a key that is not the server's.
    let key_file = tc.scratch().join("id");
    std::fs::write(&key_file, server.client_private_key().unwrap()).unwrap();
    let k = |args: &[&str]| tc.kubectl_ok("1.33", args).unwrap();
    k(&[
        "-n",
        "argocd",
        "create",
        "secret",
        "generic",
        "infra-config-repo",
        &format!("--from-literal=url={URL}"),
        &format!("--from-file=sshPrivateKey={}", key_file.display()),
    ]);
    k(&[
        "-n",
        "argocd",
        "label",
        "secret",
        "infra-config-repo",
        "argocd.argoproj.io/secret-type=repository",
    ]);
    let wrong = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    k(&[
        "-n",
        "argocd",
        "create",
        "configmap",
        "argocd-ssh-known-hosts-cm",
        &format!("--from-literal=ssh_known_hosts={wrong}"),
    ]);

    let mut config = ControllerConfig::new("argocd", tc.scratch().join("git-cache"));
    // No polling to speak of: after the first sync, only the webhook brings new commits in.
    config.poll_interval = Duration::from_secs(3600);
    config.resync_interval = Duration::from_secs(3);
    config.error_retry_interval = Duration::from_millis(500);
    config.progressing_interval = Duration::from_millis(300);
    let c = client.clone();
    let controller = tokio::spawn(async move {
        fjord_engine::controller::run(c, config, std::future::pending())
            .await
            .expect("the controller runs");
    });

    // The seed manifest, exactly as shipped.
    k(&["apply", "-f", SEED]);
    let apps: Api<Application> = Api::namespaced(client.clone(), "argocd");
    let refused = wait_app(
        &apps,
        "nordic-payment-gateway",
        "a condition about the host key",
        |a| condition(a).is_some(),
    )
    .await;
    let message = condition(&refused).unwrap();
    assert!(message.to_lowercase().contains("host key"), "{message}");
    assert!(
        tc.kubectl("1.33", &["get", "namespace", "payment-prod"])
            .unwrap()
            .status
            .success()
            .eq(&false),
        "nothing is applied while the host is not trusted"
    );

    // The right host key: the sync goes through.
    let right = format!("github.com {}", server.host_public_key().unwrap());
    let cm = serde_json::json!({"data": {"ssh_known_hosts": right}}).to_string();
    k(&[
        "-n",
        "argocd",
        "patch",
        "configmap",
        "argocd-ssh-known-hosts-cm",
        "--type",
        "merge",
        "-p",
        &cm,
    ]);
    let app = wait_app(
        &apps,
        "nordic-payment-gateway",
        "Synced and Healthy at the pushed commit",
        |a| {
            a.status.as_ref().is_some_and(|s| {
                s.sync.as_ref().is_some_and(|x| {
                    x.status == SyncStatusCode::Synced
                        && x.revision.as_deref() == Some(commit.as_str())
                }) && s
                    .health
                    .as_ref()
                    .is_some_and(|h| h.status == HealthStatusCode::Healthy)
            })
        },
    )
    .await;
    assert!(app.status.unwrap().conditions.is_empty());
    let image = k(&[
        "-n",
        "payment-prod",
        "get",
        "deploy",
        "payment-gateway",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "ghcr.io/my-org/payment-gateway:1.4.2");

    // CI pushes a new image tag; GitHub calls the webhook (the payload names the HTTPS form of
    // the repository: it matches the Application's SSH URL).
    k(&[
        "-n",
        "argocd",
        "create",
        "secret",
        "generic",
        "argocd-secret",
        "--from-literal=webhook.github.secret=hook-secret",
    ]);
    let kustomization = work
        .path()
        .join("k8s/overlays/production/kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    std::fs::write(
        &kustomization,
        text.replace("newTag: 1.4.2", "newTag: 1.5.0"),
    )
    .unwrap();
    git(
        work.path(),
        Some(&ssh),
        &["commit", "-q", "-am", "payment-gateway 1.5.0"],
    );
    git(work.path(), Some(&ssh), &["push", "-q", URL, "main"]);
    let new_commit = git(work.path(), Some(&ssh), &["rev-parse", "HEAD"]);
    let router = fjord_server::router(std::sync::Arc::new(fjord_server::AppState {
        secrets: std::sync::Arc::new(fjord_server::kube_backend::KubeSecrets {
            client: client.clone(),
            namespace: "argocd".into(),
        }),
        refresher: std::sync::Arc::new(fjord_server::kube_backend::KubeRefresher {
            client: client.clone(),
            namespace: "argocd".into(),
        }),
        webhook_rate: Default::default(),
    }));
    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main", "after": new_commit,
        "repository": {"clone_url": "https://github.com/my-org/infra-config.git", "default_branch": "main"},
        "commits": [{"modified": ["k8s/overlays/production/kustomization.yaml"]}]
    }))
    .unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"hook-secret");
    let signature: String = aws_lc_rs::hmac::sign(&key, &body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let pushed_at = Instant::now();
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/webhook")
        .header("x-github-event", "push")
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(axum::body::Body::from(body))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(router, req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    wait_app(
        &apps,
        "nordic-payment-gateway",
        "Synced at the new commit after the webhook",
        |a| {
            a.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .is_some_and(|x| {
                    x.status == SyncStatusCode::Synced
                        && x.revision.as_deref() == Some(new_commit.as_str())
                })
        },
    )
    .await;
    eprintln!(
        "commit to live through the webhook: {:?}",
        pushed_at.elapsed()
    );
    let image = k(&[
        "-n",
        "payment-prod",
        "get",
        "deploy",
        "payment-gateway",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "ghcr.io/my-org/payment-gateway:1.5.0");
    controller.abort();
}
