//! Helpers for the AppProject, custom-health and multi-cluster end-to-end tests
//! (`mod tenancy;` in each): an embedded control plane with the Application controller, a
//! local Git repository with given files, and Application waits that print the status on
//! timeout.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::{ControllerConfig, install};
use fjord_engine::types::{Application, HealthStatusCode, SyncStatusCode};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// The controller's namespace.
pub const NS: &str = "argocd";

#[path = "../common/mod.rs"]
mod common;
pub use common::TestRepo as Repo;

/// Runs git in `dir` with a fixed identity; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    common::git(dir, None, args)
}

/// A control plane with the Application controller running against it.
pub struct Env {
    pub tc: TestCluster,
    pub client: kube::Client,
    pub apps: Api<Application>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    controller: Option<tokio::task::JoinHandle<()>>,
}

/// A cluster with the CRDs and the controller's namespace, but no controller yet.
pub async fn cluster() -> (TestCluster, kube::Client) {
    let tc = TestCluster::start().await.expect("cluster starts");
    let client = fjord_e2e::client(&tc).await;
    install::install_crds(&client).await.expect("CRDs install");
    install::ensure_namespace_and_default_project(&client, NS)
        .await
        .expect("argocd namespace and default project");
    (tc, client)
}

impl Env {
    /// A cluster and a controller with short intervals, tuned by `tune`.
    pub async fn start(tune: impl FnOnce(&mut ControllerConfig)) -> Env {
        let (tc, client) = cluster().await;
        Env::with_cluster(tc, client, tune)
    }

    /// Starts the controller on an existing cluster.
    pub fn with_cluster(
        tc: TestCluster,
        client: kube::Client,
        tune: impl FnOnce(&mut ControllerConfig),
    ) -> Env {
        let mut config = ControllerConfig::new(NS, tc.scratch().join("git-cache"));
        config.poll_interval = Duration::from_millis(500);
        config.resync_interval = Duration::from_secs(5);
        config.error_retry_interval = Duration::from_millis(500);
        config.progressing_interval = Duration::from_millis(300);
        tune(&mut config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let c = client.clone();
        let controller = tokio::spawn(async move {
            fjord_engine::controller::run(c, config, async move {
                let _ = rx.await;
            })
            .await
            .expect("the controller runs");
        });
        Env {
            apps: Api::namespaced(client.clone(), NS),
            tc,
            client,
            stop: Some(tx),
            controller: Some(controller),
        }
    }

    /// Stops the controller and the cluster.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.controller.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
        self.tc.stop().await;
    }

    /// Server-side applies an object given as JSON (any kind the cluster serves).
    pub async fn apply(&self, obj: Value) {
        apply(&self.client, obj).await
    }

    /// Waits up to 90 s for Application `name` to satisfy `check`; fails with its status.
    pub async fn wait(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Application) -> bool,
    ) -> Application {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let app = self
                .apps
                .get_opt(name)
                .await
                .expect("reading the Application");
            if let Some(app) = &app
                && check(app)
            {
                return app.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {name}: {what}; status: {}",
                    serde_json::to_string_pretty(&app.and_then(|a| a.status)).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for Synced and Healthy at `commit`.
    pub async fn synced_healthy(&self, name: &str, commit: &str) -> Application {
        self.wait(name, &format!("Synced and Healthy at {commit}"), |a| {
            synced_at(a, commit) && health(a) == Some(HealthStatusCode::Healthy)
        })
        .await
    }
}

/// Server-side applies `obj` through `client` (manager `e2e`).
pub async fn apply(client: &kube::Client, obj: Value) {
    let obj: DynamicObject = serde_json::from_value(obj).expect("a Kubernetes object");
    let types = obj.types.clone().expect("apiVersion and kind");
    let (group, version) = match types.api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), types.api_version.clone()),
    };
    let gvk = kube::core::GroupVersionKind::gvk(&group, &version, &types.kind);
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .expect("the kind is served");
    let name = obj.metadata.name.clone().expect("a name");
    let api: Api<DynamicObject> = match (&obj.metadata.namespace, caps.scope) {
        (Some(ns), kube::discovery::Scope::Namespaced) => {
            Api::namespaced_with(client.clone(), ns, &resource)
        }
        _ => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        &name,
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {} {name}: {e}", types.kind));
}

/// An automated (prune, self-heal) Application of `path` in `repo_url`.
pub fn application(
    name: &str,
    project: &str,
    repo_url: &str,
    path: &str,
    destination: Value,
) -> Application {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "project": project,
            "source": {"repoURL": repo_url, "path": path, "targetRevision": "main"},
            "destination": destination,
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": ["CreateNamespace=true"]
            }
        }
    }))
    .expect("a valid Application")
}

/// Whether the Application is Synced at `commit`.
pub fn synced_at(app: &Application, commit: &str) -> bool {
    app.status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .is_some_and(|s| {
            s.status == SyncStatusCode::Synced && s.revision.as_deref() == Some(commit)
        })
}

/// The Application's health.
pub fn health(app: &Application) -> Option<HealthStatusCode> {
    app.status.as_ref()?.health.as_ref().map(|h| h.status)
}

/// The message of the condition of type `ty`.
pub fn condition(app: &Application, ty: &str) -> Option<String> {
    app.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.condition_type == ty)
        .map(|c| c.message.clone())
}

/// Whether an object exists (`kubectl get`).
pub fn exists(tc: &TestCluster, args: &[&str]) -> bool {
    tc.kubectl("1.32", &[&["get"], args].concat())
        .expect("kubectl runs")
        .status
        .success()
}
