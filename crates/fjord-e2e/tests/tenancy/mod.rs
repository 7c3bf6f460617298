//! Helpers for the AppProject, custom-health and multi-cluster end-to-end tests
//! (`mod tenancy;` in each): an embedded control plane with the Application controller, a
//! local Git repository with given files, and Application waits that print the status on
//! timeout.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::ControllerConfig;
use fjord_engine::types::{Application, HealthStatusCode, SyncStatusCode};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// The controller's namespace.
pub const NS: &str = "argocd";

#[path = "../common/mod.rs"]
pub mod common;
pub use common::TestRepo as Repo;
use common::{RunningController, quick_config};

/// Runs git in `dir` with a fixed identity; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    common::git(dir, None, args)
}

/// A control plane with the Application controller running against it.
pub struct Env {
    pub tc: TestCluster,
    pub client: kube::Client,
    pub apps: Api<Application>,
    controller: RunningController,
}

/// A cluster with the CRDs and the controller's namespace, but no controller yet.
pub async fn cluster() -> (TestCluster, kube::Client) {
    common::gitops_cluster().await
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
        let mut config = quick_config(&tc);
        tune(&mut config);
        let controller = RunningController::start(&client, config);
        Env {
            apps: Api::namespaced(client.clone(), NS),
            tc,
            client,
            controller,
        }
    }

    /// Stops the controller and the cluster.
    pub async fn stop(mut self) {
        self.controller.stop().await;
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
