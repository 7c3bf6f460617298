//! Sync options with an effect one can see (issue 7): `Replace=true` (PUT: fields others
//! added are gone) against a per-object `ServerSideApply=true`, `ApplyOutOfSyncOnly`,
//! `PruneLast`, `PrunePropagationPolicy=orphan` (the pruned Deployment's ReplicaSet stays),
//! `FailOnSharedResource`, `Prune=confirm` and `Validate=false`.
//!
//! Run: `cargo test -p fjord-e2e --test sync_options -- --ignored` (needs `git` and kubectl
//! 1.32).

mod sync_support;

use std::time::Duration;

use fjord_engine::types::{OperationPhase, ResultCode};
use serde_json::{Value, json};
use sync_support::{Env, KUBECTL, config_map, op};

fn names(state: &fjord_engine::types::OperationState) -> Vec<String> {
    state
        .sync_result
        .as_ref()
        .unwrap()
        .resources
        .iter()
        .map(|r| r.name.clone())
        .collect()
}

fn with_options(manifest: &str, options: &str) -> String {
    manifest.replace(
        "  annotations:\n",
        &format!("  annotations:\n    argocd.argoproj.io/sync-options: \"{options}\"\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn replace_puts_the_whole_object_and_apply_out_of_sync_only_skips_the_rest() {
    let env = Env::start().await;
    let ns = "replace";
    env.write("app/replaced.yaml", &config_map("replaced", 0, "1"));
    env.write(
        "app/applied.yaml",
        &with_options(&config_map("applied", 0, "1"), "ServerSideApply=true"),
    );
    env.write("app/steady.yaml", &config_map("steady", 0, "1"));
    let first = env.commit("three maps");
    env.create_app(
        "rep",
        "app",
        ns,
        json!({"automated": {"prune": true},
               "syncOptions": ["CreateNamespace=true", "Replace=true", "ApplyOutOfSyncOnly=true"]}),
    )
    .await;
    let state = env
        .wait_operation("rep", &first, OperationPhase::Succeeded)
        .await;
    let mut listed = names(&state);
    listed.sort();
    assert_eq!(listed, ["applied", "replaced", "steady"]);
    // Another writer adds an annotation to both maps.
    for cm in ["replaced", "applied"] {
        env.tc
            .kubectl_ok(
                KUBECTL,
                &[
                    "annotate",
                    "configmap",
                    cm,
                    "-n",
                    ns,
                    "team.example/owner=ops",
                ],
            )
            .unwrap();
    }
    env.write("app/replaced.yaml", &config_map("replaced", 0, "2"));
    env.write(
        "app/applied.yaml",
        &with_options(&config_map("applied", 0, "2"), "ServerSideApply=true"),
    );
    let second = env.commit("both change");
    let state = env
        .wait_operation("rep", &second, OperationPhase::Succeeded)
        .await;
    let results = &state.sync_result.as_ref().unwrap().resources;
    let mut listed = names(&state);
    listed.sort();
    assert_eq!(
        listed,
        ["applied", "replaced"],
        "steady was in sync: not applied"
    );
    let replaced = results.iter().find(|r| r.name == "replaced").unwrap();
    assert_eq!(
        replaced.message.as_deref(),
        Some("configmap/replaced replaced")
    );
    let r = env.kubectl_json(&["get", "configmap", "replaced", "-n", ns]);
    assert_eq!(r["data"]["v"], "2");
    assert!(
        r["metadata"]["annotations"]
            .get("team.example/owner")
            .is_none(),
        "a PUT drops what others added: {}",
        r["metadata"]
    );
    let a = env.kubectl_json(&["get", "configmap", "applied", "-n", ns]);
    assert_eq!(a["data"]["v"], "2");
    assert_eq!(
        a["metadata"]["annotations"]["team.example/owner"], "ops",
        "server-side apply keeps fields it does not own"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn prune_last_runs_after_every_wave_and_orphan_leaves_dependents() {
    let env = Env::start().await;
    let ns = "prunes";
    env.write(
        "app/web.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example/web:1"}]
"#,
    );
    env.write("app/old.yaml", &config_map("old", 0, "x"));
    let first = env.commit("web and old");
    env.create_app(
        "pr",
        "app",
        ns,
        json!({"automated": {"prune": true},
               "syncOptions": ["CreateNamespace=true", "PrunePropagationPolicy=orphan", "PruneLast=true"]}),
    )
    .await;
    env.wait_operation("pr", &first, OperationPhase::Succeeded)
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let rs_count = || {
        env.kubectl_json(&["get", "replicasets", "-n", ns, "-l", "app=web"])["items"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    while rs_count() == 0 {
        assert!(std::time::Instant::now() < deadline, "a ReplicaSet appears");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.remove("app/web.yaml");
    env.remove("app/old.yaml");
    env.write("app/late.yaml", &config_map("late", 3, "y"));
    let second = env.commit("web and old go, late comes in wave 3");
    let state = env
        .wait_operation("pr", &second, OperationPhase::Succeeded)
        .await;
    let order = names(&state);
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(
        pos("late") < pos("web") && pos("late") < pos("old"),
        "PruneLast prunes after the last wave: {order:?}"
    );
    let results = &state.sync_result.as_ref().unwrap().resources;
    assert!(
        results
            .iter()
            .filter(|r| r.name == "web" || r.name == "old")
            .all(|r| r.status == Some(ResultCode::Pruned))
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while env.exists(&["get", "deployment", "web", "-n", ns]) {
        assert!(std::time::Instant::now() < deadline, "web is deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rs = env.kubectl_json(&["get", "replicasets", "-n", ns, "-l", "app=web"]);
    let items = rs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "orphan propagation leaves the ReplicaSet");
    assert!(
        items[0]["metadata"]
            .get("ownerReferences")
            .and_then(Value::as_array)
            .is_none_or(|r| r.is_empty()),
        "the orphan lost its owner reference: {}",
        items[0]["metadata"]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn fail_on_shared_resource_refuses_another_applications_object() {
    let env = Env::start().await;
    let ns = "shared";
    env.write("first/shared.yaml", &config_map("shared", 0, "first"));
    env.write("second/shared.yaml", &config_map("shared", 0, "second"));
    env.write("second/own.yaml", &config_map("own", 0, "second"));
    let commit = env.commit("two apps, one map");
    env.create_app("first", "first", ns, json!({"automated": {}}))
        .await;
    env.wait_operation("first", &commit, OperationPhase::Succeeded)
        .await;
    env.create_app(
        "second",
        "second",
        ns,
        json!({"syncOptions": ["CreateNamespace=true", "FailOnSharedResource=true"]}),
    )
    .await;
    env.sync("second", false).await;
    let state = env
        .wait_operation("second", &commit, OperationPhase::Failed)
        .await;
    let message = state.message.unwrap();
    assert!(
        message.contains("configmap/shared is already part of another application first"),
        "{message}"
    );
    let cm = env.kubectl_json(&["get", "configmap", "shared", "-n", ns]);
    assert_eq!(cm["data"]["v"], "first");
    assert_eq!(
        cm["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "first:/ConfigMap:shared/shared"
    );
    assert!(
        !env.exists(&["get", "configmap", "own", "-n", ns]),
        "nothing of the failed sync is applied"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn prune_confirm_waits_for_the_deletion_approval() {
    let env = Env::start().await;
    let ns = "confirm";
    env.write(
        "app/guarded.yaml",
        &with_options(&config_map("guarded", 0, "x"), "Prune=confirm"),
    );
    env.write("app/plain.yaml", &config_map("plain", 0, "1"));
    let first = env.commit("guarded");
    env.create_app("cf", "app", ns, json!({"automated": {"prune": true}}))
        .await;
    env.wait_operation("cf", &first, OperationPhase::Succeeded)
        .await;
    env.remove("app/guarded.yaml");
    env.write("app/plain.yaml", &config_map("plain", 0, "2"));
    let second = env.commit("guarded goes");
    let waiting = env
        .wait_app("cf", "the prune to wait for confirmation", |a| {
            op(a).is_some_and(|o| {
                o.phase == OperationPhase::Running
                    && o.message.as_deref()
                        == Some("Waiting for pruning confirmation of configmap/guarded")
            })
        })
        .await;
    let listed = &waiting.status.as_ref().unwrap().resources;
    assert!(
        listed
            .iter()
            .any(|r| r.name == "guarded" && r.requires_deletion_confirmation == Some(true)),
        "{listed:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(env.exists(&["get", "configmap", "guarded", "-n", ns]));
    assert_eq!(
        env.kubectl_json(&["get", "configmap", "plain", "-n", ns])["data"]["v"],
        "1",
        "the whole sync waits"
    );
    let started = op(&waiting).unwrap().started_at.clone();
    env.patch_app(
        "cf",
        json!({"metadata": {"annotations": {"argocd.argoproj.io/deletion-approved": started}}}),
    )
    .await;
    let state = env
        .wait_operation("cf", &second, OperationPhase::Succeeded)
        .await;
    let app = env.apps.get("cf").await.unwrap();
    let guarded = state
        .sync_result
        .as_ref()
        .unwrap()
        .resources
        .iter()
        .find(|r| r.name == "guarded")
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "a result for guarded: {:#?} {:#?}",
                state.sync_result,
                app.status.as_ref().map(|s| (&s.resources, &s.history))
            )
        });
    assert_eq!(guarded.status, Some(ResultCode::Pruned));
    assert!(!env.exists(&["get", "configmap", "guarded", "-n", ns]));
    assert_eq!(
        env.kubectl_json(&["get", "configmap", "plain", "-n", ns])["data"]["v"],
        "2"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn validation_is_strict_unless_validate_false() {
    let env = Env::start().await;
    let ns = "validate";
    let bogus = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: loose\n  annotations: {}\ndata: {a: b}\nbogusField: 1\n";
    env.write("strict/loose.yaml", bogus);
    env.write(
        "lenient/loose.yaml",
        &bogus.replace("name: loose", "name: lenient"),
    );
    env.write(
        "lenient/odd.yaml",
        &with_options(&config_map("odd", 0, "x"), "ServerSideApply=false"),
    );
    let commit = env.commit("an unknown field");
    env.create_app("strict", "strict", ns, json!({})).await;
    env.sync("strict", false).await;
    let state = env
        .wait_operation("strict", &commit, OperationPhase::Failed)
        .await;
    assert!(
        state
            .message
            .as_deref()
            .is_some_and(|m| m.contains("bogusField")),
        "{:?}",
        state.message
    );
    assert!(!env.exists(&["get", "configmap", "loose", "-n", ns]));
    env.create_app(
        "lenient",
        "lenient",
        ns,
        json!({"syncOptions": ["CreateNamespace=true", "Validate=false"]}),
    )
    .await;
    env.sync("lenient", false).await;
    env.wait_operation("lenient", &commit, OperationPhase::Succeeded)
        .await;
    assert!(env.exists(&["get", "configmap", "lenient", "-n", ns]));
    let app = env.apps.get("lenient").await.unwrap();
    let conditions = &app.status.as_ref().unwrap().conditions;
    assert!(
        conditions.iter().any(|c| c.condition_type == "InvalidSpecError"
            && c.message
                == "sync options not supported on objects: ConfigMap validate/odd: ServerSideApply=false"),
        "an unsupported per-object option is reported: {conditions:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn respect_ignore_differences_keeps_live_values_of_ignored_fields() {
    let env = Env::start().await;
    let ns = "respect";
    let deployment = |image: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers: [{{name: api, image: "registry.example/api:{image}"}}]
"#
        )
    };
    env.write("app/api.yaml", &deployment("1"));
    let first = env.commit("api");
    let app: fjord_engine::types::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "rs", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": env.url(), "path": "app", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "ignoreDifferences": [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}],
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true", "RespectIgnoreDifferences=true"]}
        }
    }))
    .unwrap();
    env.apps
        .create(&kube::api::PostParams::default(), &app)
        .await
        .unwrap();
    env.wait_operation("rs", &first, OperationPhase::Succeeded)
        .await;
    // An autoscaler (here: kubectl) owns the replica count from now on.
    env.tc
        .kubectl_ok(
            KUBECTL,
            &["scale", "deployment", "api", "-n", ns, "--replicas=3"],
        )
        .unwrap();
    env.write("app/api.yaml", &deployment("2"));
    let second = env.commit("api 2");
    env.wait_operation("rs", &second, OperationPhase::Succeeded)
        .await;
    let d = env.kubectl_json(&["get", "deployment", "api", "-n", ns]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/api:2"
    );
    assert_eq!(
        d["spec"]["replicas"], 3,
        "the ignored field kept its live value"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn selective_sync_and_dry_run_touch_only_what_they_say() {
    let env = Env::start().await;
    let ns = "selective";
    env.write("app/a.yaml", &config_map("a", 0, "1"));
    env.write("app/b.yaml", &config_map("b", 0, "1"));
    let commit = env.commit("two maps");
    env.create_app("sel", "app", ns, json!({})).await;
    env.patch_app(
        "sel",
        json!({"operation": {"sync": {"resources": [{"group": "", "kind": "ConfigMap", "name": "a"}]},
                             "initiatedBy": {"username": "e2e"}}}),
    )
    .await;
    let state = env
        .wait_operation("sel", &commit, OperationPhase::Succeeded)
        .await;
    assert_eq!(names(&state), ["a"]);
    assert!(env.exists(&["get", "configmap", "a", "-n", ns]));
    assert!(!env.exists(&["get", "configmap", "b", "-n", ns]));

    env.write("app/a.yaml", &config_map("a", 0, "2"));
    let second = env.commit("a changes");
    env.wait_app("sel", "the new commit compared", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.sync.as_ref())
            .is_some_and(|s| s.revision.as_deref() == Some(second.as_str()))
    })
    .await;
    env.patch_app(
        "sel",
        json!({"operation": {"sync": {"dryRun": true, "prune": true}, "initiatedBy": {"username": "e2e"}}}),
    )
    .await;
    let state = env
        .wait_operation("sel", &second, OperationPhase::Succeeded)
        .await;
    let results = &state.sync_result.as_ref().unwrap().resources;
    assert_eq!(results.len(), 2, "{results:#?}");
    assert!(
        results.iter().all(|r| r
            .message
            .as_deref()
            .is_some_and(|m| m.ends_with("(dry run)"))),
        "{results:#?}"
    );
    assert!(
        !env.exists(&["get", "configmap", "b", "-n", ns]),
        "a dry run creates nothing"
    );
    assert_eq!(
        env.kubectl_json(&["get", "configmap", "a", "-n", ns])["data"]["v"],
        "1",
        "a dry run changes nothing"
    );
    let app = env.apps.get("sel").await.unwrap();
    assert_eq!(
        app.status.unwrap().history.len(),
        1,
        "a dry run is not history"
    );
    env.stop().await;
}
