//! Sync phases, waves and resource hooks end to end (issue 7): the Application controller
//! against the embedded control plane, whose simulated Job controller completes Jobs (or
//! fails them: `fjord.dev/simulate: fail`).
//!
//! Order is asserted from the control plane's global revisions: every creation and status
//! change is seen through watches started before the Application exists.
//!
//! Run: `cargo test -p fjord-e2e --test hooks -- --ignored` (needs `git` and kubectl 1.32).

mod sync_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fjord_engine::types::{OperationPhase, ResourceResult};
use futures::StreamExt;
use kube::api::{Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use sync_support::{Env, config_map, job, op};

const HOOK: &str = "argocd.argoproj.io/hook";
const POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
const WAVE: &str = "argocd.argoproj.io/sync-wave";

/// Revisions seen per `kind/name`: when created, and when a condition first held.
#[derive(Default)]
struct Timeline {
    created: HashMap<String, u64>,
    /// `kind/name` → revision at which it first looked done (Job Complete, Deployment
    /// available).
    done: HashMap<String, u64>,
}

fn rev(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .expect("a resourceVersion")
}

fn looks_done(kind: &str, obj: &Value) -> bool {
    match kind {
        "Job" => obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            }),
        "Deployment" => obj.pointer("/status/availableReplicas") == Some(&json!(1)),
        _ => true,
    }
}

/// Watches ConfigMaps, Jobs and Deployments of `ns` into a timeline.
fn record(env: &Env, ns: &str) -> Arc<Mutex<Timeline>> {
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    for (api_version, kind, plural) in [
        ("v1", "ConfigMap", "configmaps"),
        ("batch/v1", "Job", "jobs"),
        ("apps/v1", "Deployment", "deployments"),
    ] {
        let api = env.api(api_version, kind, plural, ns);
        let t = Arc::clone(&timeline);
        tokio::spawn(async move {
            let mut stream = api
                .watch(&WatchParams::default().timeout(290), "0")
                .await
                .expect("watch starts")
                .boxed();
            while let Some(Ok(event)) = stream.next().await {
                let obj = match event {
                    WatchEvent::Added(o) | WatchEvent::Modified(o) => o,
                    _ => continue,
                };
                let v = serde_json::to_value(&obj).unwrap();
                let name = format!("{kind}/{}", obj.metadata.name.clone().unwrap_or_default());
                let mut t = t.lock().unwrap();
                let r = rev(&v);
                t.created.entry(name.clone()).or_insert(r);
                if looks_done(kind, &v) {
                    t.done.entry(name).or_insert(r);
                }
            }
        });
    }
    timeline
}

fn result<'a>(results: &'a [ResourceResult], name: &str) -> &'a ResourceResult {
    results
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("a result for {name}: {results:#?}"))
}

fn deployment(name: &str, wave: i64) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    {WAVE}: "{wave}"
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: web, image: "registry.example/web:1"}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn presync_waves_and_postsync_run_in_order_and_delete_policies_hold() {
    let env = Env::start().await;
    let ns = "hooks";
    env.write(
        "app/pre.yaml",
        &job("name: pre-migrate", &[(HOOK, "PreSync")], false),
    );
    env.write("app/w0.yaml", &config_map("w0", 0, "one"));
    env.write("app/w1.yaml", &deployment("w1", 1));
    env.write("app/w2.yaml", &config_map("w2", 2, "x"));
    env.write(
        "app/post.yaml",
        &job(
            "name: post-smoke",
            &[(HOOK, "PostSync"), (POLICY, "HookSucceeded")],
            false,
        ),
    );
    env.write(
        "app/notify.yaml",
        &job(
            "generateName: post-notify-",
            &[(HOOK, "PostSync"), (WAVE, "1")],
            false,
        ),
    );
    env.write(
        "app/skipped.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skipped\n  annotations:\n    argocd.argoproj.io/hook: Skip\ndata: {a: b}\n",
    );
    let first = env.commit("hooks and waves");
    let timeline = record(&env, ns);
    env.create_app(
        "hooked",
        "app",
        ns,
        json!({"automated": {"prune": true, "selfHeal": true}}),
    )
    .await;
    let state = env
        .wait_operation("hooked", &first, OperationPhase::Succeeded)
        .await;

    // Order: PreSync hook created and complete, then waves 0/1/2 (wave 1 available before
    // wave 2), then the PostSync hooks by wave.
    let notify = {
        let t = timeline.lock().unwrap();
        let created = |n: &str| {
            *t.created
                .get(n)
                .unwrap_or_else(|| panic!("{n} was created: {:?}", t.created))
        };
        let done = |n: &str| {
            *t.done
                .get(n)
                .unwrap_or_else(|| panic!("{n} finished: {:?}", t.done))
        };
        let notify = t
            .created
            .keys()
            .find(|k| k.starts_with("Job/post-notify-"))
            .cloned()
            .expect("the generateName hook was created");
        assert!(created("Job/pre-migrate") < done("Job/pre-migrate"));
        assert!(
            done("Job/pre-migrate") < created("ConfigMap/w0"),
            "the Sync phase waits for the PreSync hook: {:?} {:?}",
            t.created,
            t.done
        );
        assert!(created("ConfigMap/w0") < created("Deployment/w1"));
        assert!(
            done("Deployment/w1") < created("ConfigMap/w2"),
            "wave 2 waits for wave 1 to be healthy"
        );
        assert!(created("ConfigMap/w2") < created("Job/post-smoke"));
        assert!(
            done("Job/post-smoke") < created(&notify),
            "PostSync wave 1 after wave 0"
        );
        assert!(
            !t.created.contains_key("ConfigMap/skipped"),
            "Skip is never applied"
        );
        notify
    };

    // Results in Argo CD's shape.
    let results = &state.sync_result.as_ref().unwrap().resources;
    let pre = result(results, "pre-migrate");
    assert_eq!(pre.hook_type.as_deref(), Some("PreSync"));
    assert_eq!(pre.hook_phase.as_deref(), Some("Succeeded"));
    assert_eq!(pre.sync_phase.as_deref(), Some("PreSync"));
    let post = result(results, "post-smoke");
    assert_eq!(post.hook_type.as_deref(), Some("PostSync"));
    assert_eq!(post.hook_phase.as_deref(), Some("Succeeded"));
    let notify_name = notify.trim_start_matches("Job/");
    assert!(
        notify_name.starts_with(&format!("post-notify-{}-postsync-", &first[..7])),
        "{notify_name}"
    );
    assert_eq!(
        result(results, notify_name).hook_phase.as_deref(),
        Some("Succeeded")
    );
    assert_eq!(result(results, "w1").sync_phase.as_deref(), Some("Sync"));
    assert!(results.iter().all(|r| r.name != "skipped"));

    // HookSucceeded deleted post-smoke; BeforeHookCreation (the default) keeps the others.
    assert!(!env.exists(&["get", "job", "post-smoke", "-n", ns]));
    assert!(env.exists(&["get", "job", "pre-migrate", "-n", ns]));
    assert!(env.exists(&["get", "job", notify_name, "-n", ns]));
    assert!(!env.exists(&["get", "configmap", "skipped", "-n", ns]));
    // Hooks are not part of the diff: the Application is Synced and lists no Job.
    let app = env
        .wait_app("hooked", "Synced", |a| {
            a.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .is_some_and(|s| s.status == fjord_engine::types::SyncStatusCode::Synced)
        })
        .await;
    let listed: Vec<String> = app
        .status
        .unwrap()
        .resources
        .iter()
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|r| !r.starts_with("Job/")), "{listed:?}");

    // The next sync re-creates the PreSync hook (BeforeHookCreation) and runs PostSync again.
    let old_uid =
        env.kubectl_json(&["get", "job", "pre-migrate", "-n", ns])["metadata"]["uid"].clone();
    env.write("app/w0.yaml", &config_map("w0", 0, "two"));
    let second = env.commit("w0 changes");
    let state = env
        .wait_operation("hooked", &second, OperationPhase::Succeeded)
        .await;
    let new_uid =
        env.kubectl_json(&["get", "job", "pre-migrate", "-n", ns])["metadata"]["uid"].clone();
    assert_ne!(
        old_uid, new_uid,
        "BeforeHookCreation deletes the old hook first"
    );
    let results = &state.sync_result.as_ref().unwrap().resources;
    assert_eq!(
        result(results, "post-smoke").hook_phase.as_deref(),
        Some("Succeeded")
    );
    assert!(!env.exists(&["get", "job", "post-smoke", "-n", ns]));
    assert_eq!(
        env.kubectl_json(&["get", "configmap", "w0", "-n", ns])["data"]["v"],
        "two"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_failing_presync_hook_stops_the_sync_runs_sync_fail_and_retries() {
    let env = Env::start().await;
    let ns = "failing";
    env.write(
        "app/pre.yaml",
        &job(
            "name: pre-fail",
            &[(HOOK, "PreSync"), (POLICY, "HookFailed")],
            true,
        ),
    );
    env.write("app/w0.yaml", &config_map("w0", 0, "never"));
    env.write(
        "app/on-fail.yaml",
        &job("generateName: on-fail-", &[(HOOK, "SyncFail")], false),
    );
    let commit = env.commit("a failing migration");
    env.create_app("failing", "app", ns, json!({})).await;
    env.patch_app(
        "failing",
        json!({"operation": {
            "sync": {"revision": "main"},
            "initiatedBy": {"username": "e2e"},
            "retry": {"limit": 1, "backoff": {"duration": "5s", "factor": 2}}
        }}),
    )
    .await;
    // The first attempt fails and waits to retry. The wait is long enough (5 s) for a poll
    // every 200 ms to see it on a loaded machine; with 1 s, CI once missed the window.
    let waiting = env
        .wait_app("failing", "a retry to be scheduled", |a| {
            op(a).is_some_and(|o| {
                o.phase == OperationPhase::Running
                    && o.retry_count == Some(1)
                    && o.message.as_deref().is_some_and(|m| m.contains("Retrying"))
            })
        })
        .await;
    let message = op(&waiting).unwrap().message.clone().unwrap();
    assert!(message.contains("Retrying attempt #1"), "{message}");
    assert!(message.contains("pre-fail"), "{message}");
    let state = env
        .wait_operation("failing", &commit, OperationPhase::Failed)
        .await;
    assert_eq!(state.retry_count, Some(1), "one retry, then the limit");
    let results = &state.sync_result.as_ref().unwrap().resources;
    let pre = result(results, "pre-fail");
    assert_eq!(pre.hook_phase.as_deref(), Some("Failed"));
    let on_fail = results
        .iter()
        .find(|r| r.name.starts_with("on-fail-"))
        .expect("the SyncFail hook ran");
    assert_eq!(on_fail.hook_type.as_deref(), Some("SyncFail"));
    assert_eq!(on_fail.hook_phase.as_deref(), Some("Succeeded"));
    assert!(results.iter().all(|r| r.name != "w0"), "{results:#?}");
    assert!(
        !env.exists(&["get", "configmap", "w0", "-n", ns]),
        "the Sync phase never ran"
    );
    assert!(
        !env.exists(&["get", "job", "pre-fail", "-n", ns]),
        "HookFailed deleted the failed hook"
    );
    let on_fail_job = env.kubectl_json(&["get", "job", &on_fail.name, "-n", ns]);
    assert!(looks_done("Job", &on_fail_job), "{on_fail_job}");
    let app = env.apps.get("failing").await.unwrap();
    assert!(app.operation.is_none(), "the finished operation is removed");
    let status = app.status.unwrap();
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.condition_type == "SyncError" && c.message.contains("pre-fail")),
        "{:?}",
        status.conditions
    );
    assert!(status.history.is_empty(), "a failed sync is no history");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn terminating_an_operation_stops_it_while_a_hook_runs() {
    let env = Env::start().await;
    let ns = "terminate";
    // A hook that keeps failing pods without giving up: it never finishes.
    let endless = job("name: endless", &[(HOOK, "PreSync")], true)
        .replace("backoffLimit: 0", "backoffLimit: 100000");
    env.write("app/pre.yaml", &endless);
    env.write("app/w0.yaml", &config_map("w0", 0, "never"));
    let commit = env.commit("an endless hook");
    env.create_app("stuck", "app", ns, json!({})).await;
    env.sync("stuck", false).await;
    env.wait_app("stuck", "the hook to run", |a| {
        op(a).is_some_and(|o| {
            o.phase == OperationPhase::Running
                && o.message.as_deref().is_some_and(|m| m.contains("endless"))
        })
    })
    .await;
    assert!(env.exists(&["get", "job", "endless", "-n", ns]));
    // `argocd app terminate-op`: the phase becomes Terminating.
    env.apps
        .patch(
            "stuck",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"operationState": {"phase": "Terminating"}}})),
        )
        .await
        .unwrap();
    let state = env
        .wait_operation("stuck", &commit, OperationPhase::Failed)
        .await;
    assert_eq!(state.message.as_deref(), Some("Operation terminated"));
    let hook = result(&state.sync_result.as_ref().unwrap().resources, "endless");
    assert_eq!(hook.message.as_deref(), Some("Deleted"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while env.exists(&["get", "job", "endless", "-n", ns]) {
        assert!(
            std::time::Instant::now() < deadline,
            "the running hook is deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!env.exists(&["get", "configmap", "w0", "-n", ns]));
    assert!(env.apps.get("stuck").await.unwrap().operation.is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn helm_hook_annotations_map_to_argo_cd_phases() {
    let env = Env::start().await;
    let ns = "helmhooks";
    env.write(
        "app/pre.yaml",
        &job(
            "name: helm-pre",
            &[
                ("helm.sh/hook", "pre-install,pre-upgrade"),
                ("helm.sh/hook-weight", "-1"),
                ("helm.sh/hook-delete-policy", "hook-succeeded"),
            ],
            false,
        ),
    );
    env.write(
        "app/post.yaml",
        &job(
            "name: helm-post",
            &[("helm.sh/hook", "post-install")],
            false,
        ),
    );
    env.write(
        "app/test.yaml",
        &job("name: helm-test", &[("helm.sh/hook", "test")], false),
    );
    env.write("app/cm.yaml", &config_map("chart-config", 0, "v"));
    env.write(
        "app/pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: post-pod\n  annotations:\n    argocd.argoproj.io/hook: PostSync\nspec:\n  restartPolicy: Never\n  containers: [{name: check, image: \"registry.example/check:1\"}]\n",
    );
    let commit = env.commit("a chart's rendered hooks");
    let timeline = record(&env, ns);
    env.create_app("helmish", "app", ns, json!({"automated": {}}))
        .await;
    let state = env
        .wait_operation("helmish", &commit, OperationPhase::Succeeded)
        .await;
    let results = &state.sync_result.as_ref().unwrap().resources;
    let pre = result(results, "helm-pre");
    assert_eq!(pre.hook_type.as_deref(), Some("PreSync"));
    assert_eq!(pre.hook_phase.as_deref(), Some("Succeeded"));
    let post = result(results, "helm-post");
    assert_eq!(post.hook_type.as_deref(), Some("PostSync"));
    let pod = result(results, "post-pod");
    assert_eq!(pod.hook_type.as_deref(), Some("PostSync"));
    assert_eq!(
        pod.hook_phase.as_deref(),
        Some("Succeeded"),
        "a bare Pod hook runs to completion"
    );
    assert!(
        results.iter().all(|r| r.name != "helm-test"),
        "Helm test hooks are not run"
    );
    {
        let t = timeline.lock().unwrap();
        assert!(t.done["Job/helm-pre"] < t.created["ConfigMap/chart-config"]);
        assert!(t.created["ConfigMap/chart-config"] < t.created["Job/helm-post"]);
        assert!(!t.created.contains_key("Job/helm-test"));
    }
    assert!(
        !env.exists(&["get", "job", "helm-pre", "-n", ns]),
        "hook-succeeded deleted it"
    );
    assert!(env.exists(&["get", "job", "helm-post", "-n", ns]));
    assert_eq!(
        env.kubectl_json(&["get", "pod", "post-pod", "-n", ns])["status"]["phase"],
        "Succeeded"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn withdrawing_a_running_manual_operation_terminates_it() {
    let env = Env::start().await;
    let ns = "withdraw";
    let endless = job("name: endless", &[(HOOK, "PreSync")], true)
        .replace("backoffLimit: 0", "backoffLimit: 100000");
    env.write("app/pre.yaml", &endless);
    env.write("app/w0.yaml", &config_map("w0", 0, "never"));
    let commit = env.commit("an endless hook");
    env.create_app("withdrawn", "app", ns, json!({})).await;
    env.sync("withdrawn", false).await;
    env.wait_app("withdrawn", "the hook to run", |a| {
        op(a).is_some_and(|o| o.phase == OperationPhase::Running) && a.operation.is_some()
    })
    .await;
    env.patch_app("withdrawn", json!({"operation": null})).await;
    let state = env
        .wait_operation("withdrawn", &commit, OperationPhase::Failed)
        .await;
    assert_eq!(state.message.as_deref(), Some("Operation terminated"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while env.exists(&["get", "job", "endless", "-n", ns]) {
        assert!(
            std::time::Instant::now() < deadline,
            "the running hook is deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!env.exists(&["get", "configmap", "w0", "-n", ns]));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_project_that_forbids_a_hooks_kind_blocks_the_sync() {
    let env = Env::start().await;
    let ns = "nojobs";
    let projects = env.api(
        "argoproj.io/v1alpha1",
        "AppProject",
        "appprojects",
        "argocd",
    );
    let project: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "nojobs", "namespace": "argocd"},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            "namespaceResourceBlacklist": [{"group": "batch", "kind": "Job"}]
        }
    }))
    .unwrap();
    projects
        .create(&kube::api::PostParams::default(), &project)
        .await
        .unwrap();
    env.write(
        "app/pre.yaml",
        &job("name: pre-migrate", &[(HOOK, "PreSync")], false),
    );
    env.write("app/w0.yaml", &config_map("w0", 0, "x"));
    env.commit("a Job hook");
    let app: fjord_engine::types::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "nojobs", "namespace": "argocd"},
        "spec": {
            "project": "nojobs",
            "source": {"repoURL": env.url(), "path": "app", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .unwrap();
    env.apps
        .create(&kube::api::PostParams::default(), &app)
        .await
        .unwrap();
    let app = env
        .wait_app("nojobs", "a condition naming the Job", |a| {
            a.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.condition_type == "InvalidSpecError" && c.message.contains("Job"))
            })
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!env.exists(&["get", "job", "pre-migrate", "-n", ns]));
    assert!(!env.exists(&["get", "configmap", "w0", "-n", ns]));
    assert!(
        op(&app).is_none_or(|o| o.phase != OperationPhase::Succeeded),
        "{:?}",
        op(&app)
    );
    env.stop().await;
}
