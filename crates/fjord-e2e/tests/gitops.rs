//! GitOps end to end: the Application controller against the embedded control plane, with
//! the bundled example served from a local bare Git repository (`file://`). The seed
//! Application is used as shipped except for `repoURL`.
//!
//! Run: `cargo test -p fjord-e2e --test gitops -- --ignored` (needs `git` and kubectl 1.32).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::{ControllerConfig, install};
use fjord_engine::types::{Application, HealthStatusCode, SyncStatusCode};
use kube::Api;
use kube::api::{DynamicObject, PostParams};
use serde_json::Value;

const KUBECTL: &str = "1.32";
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
const APP: &str = "nordic-payment-gateway";
const NS: &str = "payment-prod";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "e2e")
        .env("GIT_AUTHOR_EMAIL", "e2e@example.com")
        .env("GIT_COMMITTER_NAME", "e2e")
        .env("GIT_COMMITTER_EMAIL", "e2e@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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

/// A bare repository holding the example, and a working copy to push from.
struct Repo {
    bare: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new(root: &Path) -> Repo {
        let bare = root.join("infra-config.git");
        let work = root.join("work");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        copy_dir(&Path::new(EXAMPLES).join("infra-config"), &work);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        let repo = Repo { bare, work };
        repo.commit("the bundled example");
        repo
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Commits everything and pushes; returns the commit.
    fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.work.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} contains {from:?}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }
}

struct Setup {
    tc: TestCluster,
    client: kube::Client,
    repo: Repo,
    apps: Api<Application>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    controller: Option<tokio::task::JoinHandle<()>>,
}

impl Setup {
    async fn start() -> Setup {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tune: impl FnOnce(&mut ControllerConfig)) -> Setup {
        let tc = TestCluster::start().await.expect("cluster starts");
        let client = fjord_e2e::client(&tc).await;
        install::install_crds(&client).await.expect("CRDs install");
        install::ensure_namespace_and_default_project(&client, "argocd")
            .await
            .expect("argocd namespace and default project");
        let repo = Repo::new(&tc.scratch().join("git"));
        let mut config = ControllerConfig::new("argocd", tc.scratch().join("git-cache"));
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
        let apps = Api::namespaced(client.clone(), "argocd");
        Setup {
            tc,
            client,
            repo,
            apps,
            stop: Some(tx),
            controller: Some(controller),
        }
    }

    async fn create_seed(&self) {
        let text = std::fs::read_to_string(Path::new(EXAMPLES).join("nordic-payment-gateway.yaml"))
            .expect("the seed Application is bundled");
        let mut app = Application::from_yaml(&text).unwrap();
        app.spec.source.as_mut().unwrap().repo_url = self.repo.url();
        self.apps
            .create(&PostParams::default(), &app)
            .await
            .unwrap();
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.controller.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
        self.tc.stop().await;
    }

    /// Waits until `check` holds for the Application, failing with its last status.
    async fn wait_app(&self, what: &str, check: impl Fn(&Application) -> bool) -> Application {
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

    async fn synced_healthy_at(&self, commit: &str) -> Application {
        self.wait_app(&format!("Synced and Healthy at {commit}"), |a| {
            let Some(s) = &a.status else { return false };
            s.sync.as_ref().is_some_and(|x| {
                x.status == SyncStatusCode::Synced && x.revision.as_deref() == Some(commit)
            }) && s
                .health
                .as_ref()
                .is_some_and(|h| h.status == HealthStatusCode::Healthy)
        })
        .await
    }

    fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.tc.kubectl_ok(KUBECTL, &all).unwrap()).unwrap()
    }

    fn exists(&self, args: &[&str]) -> bool {
        self.tc.kubectl(KUBECTL, args).unwrap().status.success()
    }
}

fn condition_message(app: &Application, ty: &str) -> Option<String> {
    app.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.condition_type == ty)
        .map(|c| c.message.clone())
}

/// What a failed reconcile must leave alone: the managed objects' spec and metadata.
fn snapshot(s: &Setup) -> Vec<Value> {
    [
        ["deployment", "payment-gateway"],
        ["service", "payment-gateway"],
        ["serviceaccount", "payment-gateway"],
        ["pdb", "payment-gateway"],
    ]
    .iter()
    .map(|[kind, name]| {
        let mut v = s.kubectl_json(&["get", kind, name, "-n", NS]);
        let meta = v["metadata"].take();
        serde_json::json!({
            "spec": v["spec"].take(),
            "uid": meta["uid"],
            "labels": meta["labels"],
            "annotations": meta["annotations"],
            "generation": meta["generation"],
        })
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn seed_application_syncs_updates_prunes_and_self_heals() {
    let s = Setup::start().await;
    let first = git(&s.repo.work, &["rev-parse", "HEAD"]);
    s.create_seed().await;

    // 1. The overlay is synced: namespace created, objects applied and tracked.
    let app = s.synced_healthy_at(&first).await;
    assert!(s.exists(&["get", "namespace", NS]), "CreateNamespace=true");
    let dep = s.kubectl_json(&["get", "deployment", "payment-gateway", "-n", NS]);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/my-org/payment-gateway:1.4.2"
    );
    assert_eq!(dep["spec"]["replicas"], 3);
    assert_eq!(
        dep["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        format!("{APP}:apps/Deployment:{NS}/payment-gateway")
    );
    for (kind, name) in [
        ("service", "payment-gateway"),
        ("serviceaccount", "payment-gateway"),
        ("pdb", "payment-gateway"),
    ] {
        assert!(
            s.exists(&["get", kind, name, "-n", NS]),
            "{kind}/{name} applied"
        );
    }
    let cms = s.kubectl_json(&["get", "configmaps", "-n", NS]);
    assert!(
        cms["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("payment-gateway-config-")),
        "the generated ConfigMap is applied"
    );
    let status = app.status.as_ref().unwrap();
    assert_eq!(status.history.len(), 1);
    assert_eq!(status.history[0].revision.as_deref(), Some(first.as_str()));
    let op = status.operation_state.as_ref().expect("operationState");
    assert_eq!(op.phase, fjord_engine::types::OperationPhase::Succeeded);
    assert!(op.sync_result.as_ref().unwrap().resources.len() >= 5);
    assert_eq!(status.source_type.as_deref(), Some("Kustomize"));
    assert!(status.resources.len() >= 5);
    assert!(
        status
            .summary
            .as_ref()
            .unwrap()
            .images
            .contains(&"ghcr.io/my-org/payment-gateway:1.4.2".to_string())
    );
    let events = s.kubectl_json(&["get", "events", "-n", "argocd"]);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["involvedObject"]["name"] == APP
                && e["reason"] == "OperationCompleted"
                && e["message"].as_str().unwrap().contains(&first)),
        "a sync Event is recorded: {events}"
    );

    // 2. A pushed image change is applied and recorded in history.
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        "newTag: 1.4.2",
        "newTag: 1.4.3",
    );
    let second = s.repo.commit("payment-gateway 1.4.3");
    let app = s.synced_healthy_at(&second).await;
    let dep = s.kubectl_json(&["get", "deployment", "payment-gateway", "-n", NS]);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/my-org/payment-gateway:1.4.3"
    );
    let history = &app.status.as_ref().unwrap().history;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].revision.as_deref(), Some(second.as_str()));
    assert!(history[1].id > history[0].id);

    // 3. A deleted file's object is pruned.
    std::fs::remove_file(s.repo.work.join("k8s/overlays/production/pdb.yaml")).unwrap();
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        "- pdb.yaml\n",
        "",
    );
    let third = s.repo.commit("drop the PDB");
    let app = s.synced_healthy_at(&third).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.exists(&["get", "pdb", "payment-gateway", "-n", NS]) {
        assert!(Instant::now() < deadline, "the PDB is pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pruned = app
        .status
        .as_ref()
        .unwrap()
        .operation_state
        .as_ref()
        .unwrap();
    assert!(
        pruned
            .sync_result
            .as_ref()
            .unwrap()
            .resources
            .iter()
            .any(|r| r.kind == "PodDisruptionBudget"
                && r.status == Some(fjord_engine::types::ResultCode::Pruned)),
        "the prune is recorded"
    );
    assert!(
        !app.status
            .as_ref()
            .unwrap()
            .resources
            .iter()
            .any(|r| r.kind == "PodDisruptionBudget")
    );

    // 4. A kubectl edit of a managed field is reverted (self-heal).
    s.tc.kubectl_ok(
        KUBECTL,
        &[
            "scale",
            "deployment",
            "payment-gateway",
            "-n",
            NS,
            "--replicas=7",
        ],
    )
    .unwrap();
    let edited = Instant::now();
    let deadline = edited + Duration::from_secs(30);
    loop {
        let dep = s.kubectl_json(&["get", "deployment", "payment-gateway", "-n", NS]);
        if dep["spec"]["replicas"] == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas reverted to 3: {}",
            dep["spec"]["replicas"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("self-heal reverted replicas in {:?}", edited.elapsed());
    let events = s.kubectl_json(&["get", "events", "-n", "argocd"]);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "SelfHeal"
                && e["message"]
                    .as_str()
                    .unwrap()
                    .contains("apps/Deployment payment-prod/payment-gateway")),
        "a SelfHeal event names the object: {events}"
    );

    // 4b. Another writer fighting back: the next heal waits (backoff starts at 2 s).
    s.tc.kubectl_ok(
        KUBECTL,
        &[
            "scale",
            "deployment",
            "payment-gateway",
            "-n",
            NS,
            "--replicas=8",
        ],
    )
    .unwrap();
    let fought = Instant::now();
    let mut saw_drift = false;
    loop {
        let dep = s.kubectl_json(&["get", "deployment", "payment-gateway", "-n", NS]);
        if dep["spec"]["replicas"] == 8 {
            saw_drift = true;
        } else if dep["spec"]["replicas"] == 3 {
            break;
        }
        assert!(
            fought.elapsed() < Duration::from_secs(30),
            "the second heal happens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_drift, "the drift stays while the heal backs off");
    assert!(
        fought.elapsed() >= Duration::from_millis(1000),
        "the second heal backs off: {:?}",
        fought.elapsed()
    );
    eprintln!("second self-heal after {:?}", fought.elapsed());
    let healed = s.synced_healthy_at(&third).await;
    let history_after_heal = healed.status.as_ref().unwrap().history.len();
    assert_eq!(history_after_heal, 5, "both self-heal syncs are recorded");

    // 5. An edit of a field Fjord does not manage is left alone.
    s.tc.kubectl_ok(
        KUBECTL,
        &[
            "annotate",
            "deployment",
            "payment-gateway",
            "-n",
            NS,
            "team=payments",
        ],
    )
    .unwrap();
    // Several reconciles pass (the change itself triggers one, plus resyncs).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dep = s.kubectl_json(&["get", "deployment", "payment-gateway", "-n", NS]);
    assert_eq!(dep["metadata"]["annotations"]["team"], "payments");
    let app = s.synced_healthy_at(&third).await;
    assert_eq!(
        app.status.as_ref().unwrap().history.len(),
        history_after_heal,
        "no sync for a change to an unmanaged field"
    );

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn broken_commits_and_unreachable_repositories_set_conditions_and_touch_nothing() {
    let s = Setup::start().await;
    let first = git(&s.repo.work, &["rev-parse", "HEAD"]);
    s.create_seed().await;
    s.synced_healthy_at(&first).await;
    let before = snapshot(&s);

    // Invalid YAML in a manifest the overlay uses.
    std::fs::write(
        s.repo.work.join("k8s/base/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: payment-gateway\n spec: [\n",
    )
    .unwrap();
    let broken = s.repo.commit("broken YAML");
    let app = s
        .wait_app("a ComparisonError for the invalid YAML", |a| {
            condition_message(a, "ComparisonError").is_some_and(|m| m.contains("service.yaml"))
        })
        .await;
    let sync = app.status.as_ref().unwrap().sync.as_ref().unwrap();
    assert_eq!(sync.status, SyncStatusCode::Unknown);
    assert_eq!(sync.revision.as_deref(), Some(broken.as_str()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        snapshot(&s),
        before,
        "live objects untouched by the broken commit"
    );

    // Fixing the commit clears the condition.
    git(
        &s.repo.work,
        &["checkout", "HEAD~1", "--", "k8s/base/service.yaml"],
    );
    let fixed = s.repo.commit("fix the YAML");
    let app = s.synced_healthy_at(&fixed).await;
    assert_eq!(condition_message(&app, "ComparisonError"), None);
    assert_eq!(
        snapshot(&s),
        before,
        "re-syncing the same manifests changes nothing"
    );

    // A kind the server does not serve.
    std::fs::write(
        s.repo.work.join("k8s/overlays/production/widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    )
    .unwrap();
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        "- pdb.yaml\n",
        "- pdb.yaml\n- widget.yaml\n",
    );
    s.repo.commit("a Widget");
    s.wait_app("a ComparisonError for the unknown kind", |a| {
        condition_message(a, "ComparisonError")
            .is_some_and(|m| m.contains("Widget") && m.contains("unknown kind"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        snapshot(&s),
        before,
        "live objects untouched by the unknown kind"
    );
    std::fs::remove_file(s.repo.work.join("k8s/overlays/production/widget.yaml")).unwrap();
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        "- widget.yaml\n",
        "",
    );
    std::fs::create_dir_all(s.repo.work.join("empty")).unwrap();
    std::fs::write(s.repo.work.join("empty/README.md"), "nothing to deploy\n").unwrap();
    let clean = s.repo.commit("no Widget; an empty directory");
    s.synced_healthy_at(&clean).await;

    // A path that does not exist, then a path that renders nothing.
    for (path, expect) in [
        ("k8s/overlays/staging", "does not exist"),
        ("empty", "rendered no objects"),
    ] {
        let body = serde_json::json!({"spec": {"source": {"path": path}}});
        s.apps
            .patch(
                APP,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&body),
            )
            .await
            .unwrap();
        s.wait_app(&format!("a ComparisonError for path {path}"), |a| {
            condition_message(a, "ComparisonError").is_some_and(|m| m.contains(expect))
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            snapshot(&s),
            before,
            "live objects untouched with path {path}"
        );
    }
    let body = serde_json::json!({"spec": {"source": {"path": "k8s/overlays/production"}}});
    s.apps
        .patch(
            APP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&body),
        )
        .await
        .unwrap();
    s.synced_healthy_at(&clean).await;

    // An unreachable repository.
    let mut patched = app.clone();
    patched.spec.source.as_mut().unwrap().repo_url = format!(
        "file://{}",
        s.tc.scratch().join("no-such-repo.git").display()
    );
    let body = serde_json::json!({"spec": {"source": {"repoURL": patched.spec.source.as_ref().unwrap().repo_url}}});
    s.apps
        .patch(
            APP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&body),
        )
        .await
        .unwrap();
    let app = s
        .wait_app("a ComparisonError for the unreachable repository", |a| {
            condition_message(a, "ComparisonError").is_some_and(|m| m.contains("no-such-repo"))
        })
        .await;
    assert_eq!(
        app.status.as_ref().unwrap().sync.as_ref().unwrap().status,
        SyncStatusCode::Unknown
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        snapshot(&s),
        before,
        "nothing pruned or changed while the repository is unreachable"
    );
    let dyn_ns: Api<DynamicObject> = Api::all_with(
        s.client.clone(),
        &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&()),
    );
    assert!(dyn_ns.get_opt(NS).await.unwrap().is_some());

    // A project that does not allow the destination.
    let projects: Api<fjord_engine::types::AppProject> =
        Api::namespaced(s.client.clone(), "argocd");
    let restricted: fjord_engine::types::AppProject = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "restricted", "namespace": "argocd"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "staging"}]}
    }))
    .unwrap();
    projects
        .create(&PostParams::default(), &restricted)
        .await
        .unwrap();
    let body =
        serde_json::json!({"spec": {"project": "restricted", "source": {"repoURL": s.repo.url()}}});
    s.apps
        .patch(
            APP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&body),
        )
        .await
        .unwrap();
    s.wait_app("an InvalidSpecError for the forbidden destination", |a| {
        condition_message(a, "InvalidSpecError")
            .is_some_and(|m| m.contains("restricted") && m.contains("do not match"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        snapshot(&s),
        before,
        "nothing applied outside the project's destinations"
    );

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn manual_application_syncs_only_on_an_operation_and_then_stays_quiet() {
    let s = Setup::start().await;
    let first = git(&s.repo.work, &["rev-parse", "HEAD"]);
    let text = std::fs::read_to_string(Path::new(EXAMPLES).join("nordic-payment-gateway.yaml"))
        .expect("the seed Application is bundled");
    let mut app = Application::from_yaml(&text).unwrap();
    app.spec.source.as_mut().unwrap().repo_url = s.repo.url();
    app.spec.sync_policy.as_mut().unwrap().automated = None;
    s.apps.create(&PostParams::default(), &app).await.unwrap();

    // Without automation the Application is only compared.
    s.wait_app("OutOfSync at the first commit", |a| {
        a.status
            .as_ref()
            .and_then(|st| st.sync.as_ref())
            .is_some_and(|x| {
                x.status == SyncStatusCode::OutOfSync && x.revision.as_deref() == Some(&first)
            })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !s.exists(&["get", "namespace", NS]),
        "nothing is applied without automation or an operation"
    );

    // A manual sync through the operation field.
    let body = serde_json::json!({"operation": {
        "sync": {"prune": true},
        "initiatedBy": {"username": "e2e-user"}
    }});
    s.apps
        .patch(
            APP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&body),
        )
        .await
        .unwrap();
    let app = s.synced_healthy_at(&first).await;
    assert!(
        app.operation.is_none(),
        "the completed operation is cleared"
    );
    let history = &app.status.as_ref().unwrap().history;
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0]
            .initiated_by
            .as_ref()
            .unwrap()
            .username
            .as_deref(),
        Some("e2e-user")
    );
    assert!(s.exists(&["get", "deployment", "payment-gateway", "-n", NS]));

    // Steady state: reconciles triggered by the write and by watchers change nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rv = s.apps.get(APP).await.unwrap().metadata.resource_version;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        s.apps.get(APP).await.unwrap().metadata.resource_version,
        rv,
        "no status write without a change"
    );
    // Idle reconciles (the periodic resync included) read from the watch caches: no API request
    // at all.
    let before = s.tc.server().requests_served();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        s.tc.server().requests_served(),
        before,
        "an idle controller makes no API request across a resync"
    );

    // Deleting the Application with Argo CD's resources finalizer deletes what it tracks.
    let body =
        serde_json::json!({"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io"]}});
    s.apps
        .patch(
            APP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&body),
        )
        .await
        .unwrap();
    s.apps.delete(APP, &Default::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.apps.get_opt(APP).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the Application is finalized");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (kind, name) in [
        ("deployment", "payment-gateway"),
        ("service", "payment-gateway"),
    ] {
        assert!(
            !s.exists(&["get", kind, name, "-n", NS]),
            "{kind}/{name} deleted with the Application"
        );
    }
    assert!(
        s.exists(&["get", "namespace", NS]),
        "the namespace is not tracked and stays"
    );

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_crd_and_its_custom_resources_sync_together() {
    let s = Setup::start().await;
    std::fs::create_dir_all(s.repo.work.join("widgets")).unwrap();
    std::fs::write(
        s.repo.work.join("widgets/crd.yaml"),
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#,
    )
    .unwrap();
    std::fs::write(
        s.repo.work.join("widgets/widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: sprocket\nspec:\n  size: 3\n",
    )
    .unwrap();
    let commit = s.repo.commit("a CRD and a Widget");
    let app: Application = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": APP, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": s.repo.url(), "path": "widgets", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "widgets"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .unwrap();
    s.apps.create(&PostParams::default(), &app).await.unwrap();
    let app = s.synced_healthy_at(&commit).await;
    let widget = s.kubectl_json(&["get", "widgets.example.com", "sprocket", "-n", "widgets"]);
    assert_eq!(widget["spec"]["size"], 3);
    let status = app.status.as_ref().unwrap();
    assert_eq!(status.source_type.as_deref(), Some("Directory"));
    assert!(
        status
            .resources
            .iter()
            .any(|r| r.kind == "Widget" && r.namespace == "widgets"),
        "{:?}",
        status.resources
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn the_refresh_annotation_picks_up_a_new_commit_before_the_poll_interval() {
    let s = Setup::start_with(|c| {
        c.poll_interval = Duration::from_secs(3600);
        c.resync_interval = Duration::from_secs(3600);
    })
    .await;
    let first = git(&s.repo.work, &["rev-parse", "HEAD"]);
    s.create_seed().await;
    s.synced_healthy_at(&first).await;
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        "newTag: 1.4.2",
        "newTag: 1.4.9",
    );
    let second = s.repo.commit("1.4.9");
    // Reconciles triggered meanwhile (live changes) do not check the remote again.
    s.tc.kubectl_ok(
        KUBECTL,
        &[
            "annotate",
            "deployment",
            "payment-gateway",
            "-n",
            NS,
            "poke=1",
        ],
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let app = s.apps.get(APP).await.unwrap();
    assert_eq!(
        app.status
            .as_ref()
            .unwrap()
            .sync
            .as_ref()
            .unwrap()
            .revision
            .as_deref(),
        Some(first.as_str()),
        "no remote check before the poll interval"
    );
    let body =
        serde_json::json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}});
    s.apps
        .patch(
            APP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&body),
        )
        .await
        .unwrap();
    let app = s.synced_healthy_at(&second).await;
    assert!(
        app.metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key("argocd.argoproj.io/refresh")),
        "the refresh annotation is removed"
    );
    let dep = s.kubectl_json(&["get", "deployment", "payment-gateway", "-n", NS]);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/my-org/payment-gateway:1.4.9"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_later_sync_wave_waits_for_the_earlier_one_to_be_healthy() {
    let s = Setup::start().await;
    std::fs::create_dir_all(s.repo.work.join("waves")).unwrap();
    std::fs::write(
        s.repo.work.join("waves/gate.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: gate
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
    fjord.dev/simulate: fail
spec:
  replicas: 1
  selector: {matchLabels: {app: gate}}
  template:
    metadata: {labels: {app: gate}}
    spec:
      containers: [{name: gate, image: "registry.example/gate:1"}]
"#,
    )
    .unwrap();
    std::fs::write(
        s.repo.work.join("waves/after.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-gate\ndata: {k: v}\n",
    )
    .unwrap();
    let first = s.repo.commit("two waves");
    let app: Application = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": APP, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": s.repo.url(), "path": "waves"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "waves"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .unwrap();
    s.apps.create(&PostParams::default(), &app).await.unwrap();
    s.wait_app("the sync waiting on wave -1", |a| {
        a.status
            .as_ref()
            .and_then(|st| st.operation_state.as_ref())
            .is_some_and(|o| {
                o.phase == fjord_engine::types::OperationPhase::Running
                    && o.message
                        .as_deref()
                        .is_some_and(|m| m.contains("Deployment waves/gate"))
            })
    })
    .await;
    assert!(s.exists(&["get", "deployment", "gate", "-n", "waves"]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !s.exists(&["get", "configmap", "after-gate", "-n", "waves"]),
        "wave 0 is not applied while wave -1 is unhealthy"
    );
    let app = s.apps.get(APP).await.unwrap();
    assert!(
        app.status.as_ref().unwrap().history.is_empty(),
        "no history for a running sync"
    );
    let _ = first;

    // The gate turns healthy in a new commit: both waves complete.
    s.repo.edit(
        "waves/gate.yaml",
        "fjord.dev/simulate: fail",
        "fjord.dev/simulate: ok",
    );
    s.repo.edit("waves/gate.yaml", "gate:1", "gate:2");
    let second = s.repo.commit("gate ok");
    let app = s.synced_healthy_at(&second).await;
    assert!(s.exists(&["get", "configmap", "after-gate", "-n", "waves"]));
    let op = app
        .status
        .as_ref()
        .unwrap()
        .operation_state
        .as_ref()
        .unwrap();
    assert_eq!(op.phase, fjord_engine::types::OperationPhase::Succeeded);
    assert!(
        op.sync_result
            .as_ref()
            .unwrap()
            .resources
            .iter()
            .any(|r| r.name == "after-gate"),
        "{:?}",
        op.sync_result
    );
    s.stop().await;
}
