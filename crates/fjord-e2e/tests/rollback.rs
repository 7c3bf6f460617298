//! Rollback through the operation field (issue 7): `fjord_engine::rollback` builds the
//! operation from `status.history[id]` as Argo CD's API does, refuses while automated sync
//! is on, and its merge patch can turn automation off in the same write; the controller then
//! syncs that revision's objects and automation stays off.
//!
//! Run: `cargo test -p fjord-e2e --test rollback -- --ignored` (needs `git` and kubectl 1.32).

mod sync_support;

use std::time::Duration;

use fjord_engine::rollback::{RollbackError, rollback_operation, rollback_patch};
use fjord_engine::types::{OperationPhase, SyncStatusCode};
use serde_json::json;
use sync_support::{Env, config_map, op};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn rollback_restores_the_earlier_revision_and_automation_stays_off() {
    let env = Env::start().await;
    let ns = "rollback";
    env.write("app/settings.yaml", &config_map("settings", 0, "one"));
    env.write("app/only-v1.yaml", &config_map("only-v1", 0, "x"));
    env.write(
        "app/migrate.yaml",
        &sync_support::job(
            "name: migrate",
            &[
                ("argocd.argoproj.io/hook", "PreSync"),
                ("argocd.argoproj.io/hook-delete-policy", "HookSucceeded"),
            ],
            false,
        ),
    );
    let first = env.commit("v1");
    env.create_app(
        "shop",
        "app",
        ns,
        json!({"automated": {"prune": true, "selfHeal": true}}),
    )
    .await;
    env.wait_operation("shop", &first, OperationPhase::Succeeded)
        .await;
    env.write("app/settings.yaml", &config_map("settings", 0, "two"));
    env.remove("app/only-v1.yaml");
    env.write("app/only-v2.yaml", &config_map("only-v2", 0, "y"));
    let second = env.commit("v2");
    let synced = env
        .wait_operation("shop", &second, OperationPhase::Succeeded)
        .await;
    assert!(
        synced
            .sync_result
            .as_ref()
            .unwrap()
            .resources
            .iter()
            .any(|r| r.name == "migrate" && r.hook_type.as_deref() == Some("PreSync")),
        "a normal sync runs the PreSync hook"
    );
    let app = env
        .wait_app("shop", "two history entries", |a| {
            a.status.as_ref().is_some_and(|s| s.history.len() == 2)
        })
        .await;
    let history = &app.status.as_ref().unwrap().history;
    assert_eq!(history[0].id, 0);
    assert_eq!(history[0].revision.as_deref(), Some(first.as_str()));
    assert!(!env.exists(&["get", "configmap", "only-v1", "-n", ns]));

    // Argo CD refuses a rollback while automated sync is on.
    assert_eq!(
        rollback_operation(&app, 0, true),
        Err(RollbackError::AutomatedSyncEnabled {
            app: "argocd/shop".into()
        })
    );
    // The UI's answer: turn automation off and roll back, in one write.
    let patch = rollback_patch(&app, 0, true, true).expect("a rollback patch");
    env.patch_app("shop", patch).await;
    let state = env
        .wait_operation("shop", &first, OperationPhase::Succeeded)
        .await;
    assert_eq!(
        state
            .operation
            .sync
            .as_ref()
            .and_then(|s| s.source.as_ref())
            .and_then(|s| s.path.as_deref()),
        Some("app")
    );
    assert!(
        state
            .sync_result
            .as_ref()
            .unwrap()
            .resources
            .iter()
            .all(|r| r.hook_type.is_none()),
        "a rollback (apply strategy) runs no hooks, as in Argo CD"
    );
    assert_eq!(
        env.kubectl_json(&["get", "configmap", "settings", "-n", ns])["data"]["v"],
        "one"
    );
    assert!(env.exists(&["get", "configmap", "only-v1", "-n", ns]));
    assert!(
        !env.exists(&["get", "configmap", "only-v2", "-n", ns]),
        "pruned: the rollback asked for prune"
    );
    let app = env
        .wait_app("shop", "OutOfSync against HEAD", |a| {
            a.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .is_some_and(|s| {
                    s.status == SyncStatusCode::OutOfSync
                        && s.revision.as_deref() == Some(second.as_str())
                })
        })
        .await;
    assert!(
        app.spec
            .sync_policy
            .as_ref()
            .is_none_or(|p| p.automated.is_none()),
        "automation is off"
    );
    let history = &app.status.as_ref().unwrap().history;
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].revision.as_deref(), Some(first.as_str()));
    assert!(app.operation.is_none());

    // Automation stays off: nothing syncs forward to HEAD again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let app = env.apps.get("shop").await.unwrap();
    let last = op(&app).unwrap();
    assert_eq!(
        last.sync_result.as_ref().unwrap().revision,
        first,
        "no automated sync after the rollback"
    );
    assert_eq!(
        env.kubectl_json(&["get", "configmap", "settings", "-n", ns])["data"]["v"],
        "one"
    );
    // Rolling forward again is a rollback to entry 1.
    let patch = rollback_patch(&app, 1, true, false).expect("a rollback patch");
    env.patch_app("shop", patch).await;
    env.wait_app("shop", "rolled forward", |a| {
        a.status.as_ref().is_some_and(|s| s.history.len() == 4)
    })
    .await;
    assert_eq!(
        env.kubectl_json(&["get", "configmap", "settings", "-n", ns])["data"]["v"],
        "two"
    );
    env.stop().await;
}
