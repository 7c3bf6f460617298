//! Shared by the sync end-to-end tests (hooks, sync options, rollback): the embedded control
//! plane, the Application controller, and a local Git repository the test writes manifests
//! into.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::types::{Application, OperationPhase, OperationState};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

pub const KUBECTL: &str = "1.32";

#[path = "../common/mod.rs"]
mod common;
use common::{RunningController, TestRepo, gitops_cluster, quick_config};

/// A cluster, a running controller and a Git repository (`main`) served over `file://`.
pub struct Env {
    pub tc: TestCluster,
    pub client: kube::Client,
    pub apps: Api<Application>,
    repo: TestRepo,
    controller: RunningController,
}

impl Env {
    pub async fn start() -> Env {
        let (tc, client) = gitops_cluster().await;
        let repo = TestRepo::new(&tc.scratch().join("git"), "repo", &[]);
        let mut config = quick_config(&tc);
        config.poll_interval = Duration::from_millis(300);
        config.progressing_interval = Duration::from_millis(200);
        let controller = RunningController::start(&client, config);
        let apps = Api::namespaced(client.clone(), "argocd");
        Env {
            tc,
            client,
            apps,
            repo,
            controller,
        }
    }

    pub fn url(&self) -> String {
        self.repo.url()
    }

    /// Writes `text` to `path` in the working copy.
    pub fn write(&self, path: &str, text: &str) {
        self.repo.write(&[(path, text)]);
    }

    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.repo.work.join(path)).unwrap();
    }

    /// Commits everything and pushes; returns the commit.
    pub fn commit(&self, message: &str) -> String {
        self.repo.commit(message)
    }

    /// Creates Application `name` for `path` into namespace `ns` (created by the sync), with
    /// `sync_policy` merged into `syncPolicy`.
    pub async fn create_app(&self, name: &str, path: &str, ns: &str, sync_policy: Value) {
        let mut policy = json!({"syncOptions": ["CreateNamespace=true"]});
        if let (Some(p), Some(extra)) = (policy.as_object_mut(), sync_policy.as_object()) {
            for (k, v) in extra {
                p.insert(k.clone(), v.clone());
            }
        }
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": self.url(), "path": path, "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                "syncPolicy": policy
            }
        }))
        .unwrap();
        self.apps
            .create(&PostParams::default(), &app)
            .await
            .unwrap();
    }

    /// Merge-patches Application `name`.
    pub async fn patch_app(&self, name: &str, body: Value) {
        self.apps
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .unwrap();
    }

    /// Requests a manual sync.
    pub async fn sync(&self, name: &str, prune: bool) {
        self.patch_app(
            name,
            json!({"operation": {"sync": {"prune": prune}, "initiatedBy": {"username": "e2e"}}}),
        )
        .await;
    }

    /// Waits up to 90 s for `check`, failing with the Application's status.
    pub async fn wait_app(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Application) -> bool,
    ) -> Application {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let app = self.apps.get(name).await.unwrap();
            if check(&app) {
                return app;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; status: {}",
                    serde_json::to_string_pretty(&app.status).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the operation at `commit` to end in `phase`.
    pub async fn wait_operation(
        &self,
        name: &str,
        commit: &str,
        phase: OperationPhase,
    ) -> OperationState {
        let app = self
            .wait_app(name, &format!("operation {phase:?} at {commit}"), |a| {
                op(a).is_some_and(|o| {
                    o.phase == phase && o.sync_result.as_ref().is_some_and(|r| r.revision == commit)
                })
            })
            .await;
        op(&app).cloned().unwrap()
    }

    pub fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.tc.kubectl_ok(KUBECTL, &all).unwrap()).unwrap()
    }

    pub fn exists(&self, args: &[&str]) -> bool {
        self.tc
            .kubectl(KUBECTL, args)
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// A dynamic API for `apiVersion`/`kind` (`plural`) in `ns`.
    pub fn api(&self, api_version: &str, kind: &str, plural: &str, ns: &str) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        Api::namespaced_with(self.client.clone(), ns, &ar)
    }

    pub async fn stop(mut self) {
        self.controller.stop().await;
        self.tc.stop().await;
    }
}

/// The Application's operation state.
pub fn op(app: &Application) -> Option<&OperationState> {
    app.status.as_ref()?.operation_state.as_ref()
}

/// A Job manifest; `annotations` as YAML lines (indented by the caller's 4 spaces).
pub fn job(name_line: &str, annotations: &[(&str, &str)], fail: bool) -> String {
    let mut a = String::new();
    for (k, v) in annotations {
        a.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    if fail {
        a.push_str("    fjord.dev/simulate: fail\n");
    }
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  {name_line}\n  annotations:\n{a}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: run, image: \"registry.example/task:1\"}}]\n"
    )
}

/// A ConfigMap manifest in `wave`.
pub fn config_map(name: &str, wave: i64, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\ndata: {{v: \"{data}\"}}\n"
    )
}
