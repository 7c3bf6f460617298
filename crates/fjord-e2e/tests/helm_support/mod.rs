//! Helpers for the Helm and multi-source end-to-end tests (`mod helm_support;`): the helm
//! binary, small Git repositories built from file lists, a controller on the embedded control
//! plane, and Applications from JSON.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::ControllerConfig;
use fjord_engine::types::Application;
use kube::Api;
use kube::api::PostParams;

#[path = "../common/mod.rs"]
mod common;
use common::{RunningController, gitops_cluster, quick_config};
pub use common::{TestRepo as GitRepo, helm_binary, wait_app, write_files};

/// Runs helm with a private home under `home`; returns stdout.
pub fn run_helm(args: &[&str], cwd: &Path, home: &Path) -> String {
    let out = Command::new(helm_binary())
        .args(args)
        .current_dir(cwd)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The embedded control plane with the CRDs, the `argocd` namespace and a running
/// Application controller.
pub struct Env {
    pub tc: TestCluster,
    pub client: kube::Client,
    pub apps: Api<Application>,
    controller: RunningController,
}

impl Env {
    pub async fn start(tune: impl FnOnce(&mut ControllerConfig)) -> Env {
        let (tc, client) = gitops_cluster().await;
        let mut config = quick_config(&tc);
        config.helm_binary = Some(helm_binary());
        tune(&mut config);
        let controller = RunningController::start(&client, config);
        let apps = Api::namespaced(client.clone(), "argocd");
        Env {
            tc,
            client,
            apps,
            controller,
        }
    }

    /// Creates an Application from JSON.
    pub async fn create_app(&self, app: serde_json::Value) -> Application {
        let app: Application = serde_json::from_value(app).expect("a valid Application");
        self.apps
            .create(&PostParams::default(), &app)
            .await
            .expect("the Application is created")
    }

    /// `kubectl get -o json` of one object, `None` when it does not exist.
    pub fn get_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut all = vec!["get", "-o", "json"];
        all.extend_from_slice(args);
        let out = self.tc.kubectl("1.32", &all).expect("kubectl runs");
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
    }

    pub async fn stop(mut self) {
        self.controller.stop().await;
    }
}

/// A Synced and Healthy check for [`wait_app`].
pub fn synced(app: &Application) -> bool {
    use fjord_engine::types::{HealthStatusCode, SyncStatusCode};
    app.status.as_ref().is_some_and(|s| {
        s.sync
            .as_ref()
            .is_some_and(|x| x.status == SyncStatusCode::Synced)
            && s.health
                .as_ref()
                .is_some_and(|h| h.status == HealthStatusCode::Healthy)
    })
}

/// The Application's conditions as `type: message` lines.
pub fn conditions(app: &Application) -> String {
    app.status
        .as_ref()
        .map(|s| {
            s.conditions
                .iter()
                .map(|c| format!("{}: {}", c.condition_type, c.message))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// A local HTTP Helm repository (python's http.server) serving packaged charts.
pub struct HttpRepo {
    child: Child,
    pub url: String,
}

impl Drop for HttpRepo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Packages chart `web` at `versions` (templates: `template` as `templates/cm.yaml`, values
/// `greeting: from-<version>`, `replicas: 1`) and serves them with an index.
pub fn serve_charts(root: &Path, versions: &[&str], template: &str) -> HttpRepo {
    let served = root.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let home = root.join("pkg-home");
    for v in versions {
        let chart = root.join(format!("src-{v}/web"));
        write_files(
            &chart,
            &[
                (
                    "Chart.yaml",
                    &format!("apiVersion: v2\nname: web\nversion: {v}\n"),
                ),
                ("values.yaml", &format!("greeting: from-{v}\nreplicas: 1\n")),
                ("templates/cm.yaml", template),
            ],
        );
        run_helm(
            &[
                "package",
                chart.to_str().unwrap(),
                "-d",
                served.to_str().unwrap(),
            ],
            root,
            &home,
        );
    }
    run_helm(&["repo", "index", served.to_str().unwrap()], root, &home);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&served)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    HttpRepo {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}
