//! The setup the API, browser and benchmark tests share: the embedded control plane, the
//! Application controller, a local Git repository holding the bundled example (plus a Secret,
//! to prove masking), the seed Application (auto-sync optional) and Fjord's HTTP server on a
//! real socket.

#![allow(dead_code)]

pub mod webdriver;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::types::Application;
use fjord_server::api::{ApiConfig, ApiState};
use kube::Api;
use kube::api::PostParams;

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
pub const APP: &str = "nordic-payment-gateway";
pub const NS: &str = "payment-prod";
/// The Secret value the example gains; it must never appear in a response.
pub const SECRET_VALUE: &str = "hunter2-do-not-show";

#[path = "../common/mod.rs"]
mod common;
pub use common::TestRepo as Repo;
use common::{RunningController, gitops_cluster, quick_config};

/// Runs git in `dir` with a fixed identity; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    common::git(dir, None, args)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A repository holding the bundled example, with a Secret the responses must never show.
pub fn example_repo(root: &Path) -> Repo {
    let repo = Repo::new(root, "infra-config", &[]);
    copy_dir(&Path::new(EXAMPLES).join("infra-config"), &repo.work);
    let k = repo.work.join("k8s/overlays/production/kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap();
    std::fs::write(
        &k,
        format!(
            "{text}\nsecretGenerator:\n- name: payment-db\n  literals:\n  - password={SECRET_VALUE}\n"
        ),
    )
    .unwrap();
    repo.commit("the bundled example");
    repo
}

pub struct UiSetup {
    pub tc: TestCluster,
    pub client: kube::Client,
    pub repo: Repo,
    pub apps: Api<Application>,
    pub api: Arc<ApiState>,
    pub admin_token: String,
    pub router: axum::Router,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    controller: RunningController,
}

impl UiSetup {
    /// Everything up; the seed Application created (auto-sync as given).
    pub async fn start(auto_sync: bool) -> UiSetup {
        let (tc, client) = gitops_cluster().await;
        let repo = example_repo(&tc.scratch().join("git"));
        let controller = RunningController::start(&client, quick_config(&tc));
        let apps: Api<Application> = Api::namespaced(client.clone(), "argocd");
        let text = std::fs::read_to_string(Path::new(EXAMPLES).join("nordic-payment-gateway.yaml"))
            .expect("the seed Application is bundled");
        let mut app = Application::from_yaml(&text).unwrap();
        app.spec.source.as_mut().unwrap().repo_url = repo.url();
        if !auto_sync {
            app.spec.sync_policy.as_mut().unwrap().automated = None;
        }
        apps.create(&PostParams::default(), &app).await.unwrap();

        let started = fjord_server::api::start(
            client.clone(),
            ApiConfig {
                namespace: "argocd".into(),
                git_cache: tc.scratch().join("server-git-cache"),
                secure_cookies: false,
            },
        )
        .await
        .expect("the API starts");
        assert!(
            started.admin_token_created,
            "a fresh cluster gets a new admin token"
        );
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
        let url = format!("http://{}", listener.local_addr().unwrap());
        let serve = router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, serve).await;
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !started.state.cache.is_ready() {
            assert!(Instant::now() < deadline, "the API cache loads");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        UiSetup {
            tc,
            client,
            repo,
            apps,
            api: started.state,
            admin_token: started.admin_token,
            router,
            url,
            controller,
        }
    }

    /// Waits up to 90 s for the seed Application to satisfy `check`.
    pub async fn wait_app(&self, what: &str, check: impl Fn(&Application) -> bool) -> Application {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let app = self.apps.get(APP).await.unwrap();
            if check(&app) {
                return app;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; status: {}",
                    serde_json::to_string_pretty(&app.status).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the Application controller (the cluster and the server keep running), so a
    /// requested operation stays visible.
    pub async fn stop_controller(&mut self) {
        self.controller.stop().await;
    }

    pub async fn stop(mut self) {
        self.controller.stop().await;
        self.tc.stop().await;
    }
}

pub fn sync_of(a: &Application) -> String {
    a.status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .map(|s| format!("{:?}", s.status))
        .unwrap_or_default()
}

pub fn health_of(a: &Application) -> String {
    a.status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .map(|s| format!("{:?}", s.status))
        .unwrap_or_default()
}
