//! The seed Application from a Git server over HTTP with basic authentication (`git
//! http-backend` behind a small server, as hosted Git answers): without credentials the fetch is
//! refused and a condition says so, nothing is applied; once an Argo CD repository Secret with the
//! username and token exists, the Application syncs.

mod common;

use common::{git, wait_app};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::{ControllerConfig, install};
use fjord_engine::types::{Application, HealthStatusCode, SyncStatusCode};
use kube::Api;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/support/git_http_server.py");

struct HttpGit(Child);

impl Drop for HttpGit {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: starts a Git HTTP server and boots the embedded control plane"]
async fn basic_auth_credentials_from_a_repository_secret() {
    let tc = TestCluster::start().await.unwrap();
    let root = tc.scratch().join("git-root");
    std::fs::create_dir_all(&root).unwrap();
    git(
        &root,
        None,
        &["init", "-q", "--bare", "-b", "main", "infra-config.git"],
    );
    let port_file = tc.scratch().join("port");
    let _server = HttpGit(
        Command::new("python3")
            .arg(SERVER)
            .arg(&root)
            .args(["deploy-bot", "t0ken"])
            .arg(&port_file)
            .spawn()
            .expect("python3 runs"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !port_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the Git HTTP server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let port = std::fs::read_to_string(&port_file).unwrap();
    let url = format!("http://127.0.0.1:{port}/infra-config.git");
    let work = tc.scratch().join("work");
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(format!("{EXAMPLES}/infra-config"))
            .arg(&work)
            .status()
            .unwrap()
            .success()
    );
    git(&work, None, &["init", "-q", "-b", "main"]);
    git(&work, None, &["add", "-A"]);
    git(&work, None, &["commit", "-q", "-m", "the bundled example"]);
    git(
        &work,
        None,
        &[
            "push",
            "-q",
            &url.replace("http://", "http://deploy-bot:t0ken@"),
            "main",
        ],
    );
    let commit = git(&work, None, &["rev-parse", "HEAD"]);

    let client = fjord_e2e::client(&tc).await;
    install::install_crds(&client).await.unwrap();
    install::ensure_namespace_and_default_project(&client, "argocd")
        .await
        .unwrap();
    let mut config = ControllerConfig::new("argocd", tc.scratch().join("cache"));
    config.poll_interval = Duration::from_millis(500);
    config.error_retry_interval = Duration::from_millis(500);
    config.progressing_interval = Duration::from_millis(300);
    let c = client.clone();
    let controller = tokio::spawn(async move {
        let _ = fjord_engine::controller::run(c, config, std::future::pending()).await;
    });
    let seed = std::fs::read_to_string(format!("{EXAMPLES}/nordic-payment-gateway.yaml"))
        .unwrap()
        .replace("git@github.com:my-org/infra-config.git", &url);
    let file = tc.scratch().join("app.yaml");
    std::fs::write(&file, seed).unwrap();
    let k = |args: &[&str]| tc.kubectl_ok("1.33", args).unwrap();
    k(&["apply", "-f", file.to_str().unwrap()]);

    let apps: Api<Application> = Api::namespaced(client.clone(), "argocd");
    let refused = wait_app(
        &apps,
        "nordic-payment-gateway",
        "a condition about the refused fetch",
        |a| a.status.as_ref().is_some_and(|s| !s.conditions.is_empty()),
    )
    .await;
    let message = refused.status.unwrap().conditions[0].message.clone();
    assert!(
        !message.contains("t0ken"),
        "no secret in conditions: {message}"
    );
    assert!(
        !tc.kubectl("1.33", &["get", "namespace", "payment-prod"])
            .unwrap()
            .status
            .success(),
        "nothing applied"
    );

    k(&[
        "-n",
        "argocd",
        "create",
        "secret",
        "generic",
        "infra-config-https",
        &format!("--from-literal=url={url}"),
        "--from-literal=username=deploy-bot",
        "--from-literal=password=t0ken",
    ]);
    k(&[
        "-n",
        "argocd",
        "label",
        "secret",
        "infra-config-https",
        "argocd.argoproj.io/secret-type=repository",
    ]);
    wait_app(
        &apps,
        "nordic-payment-gateway",
        "Synced and Healthy with the credentials",
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
    controller.abort();
}
