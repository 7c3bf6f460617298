//! The audit trail end to end (issue 11): every finished sync and rollback writes one record
//! — to the log as a JSON line (target `fjord::audit`) and as an `OperationCompleted` Event
//! on the Application — naming who started it, the revisions and each object created,
//! changed (with its changed fields) or pruned, and never a Secret value.
//!
//! Run: `cargo test -p fjord-e2e --test audit -- --ignored` (needs `git` and kubectl 1.32).

// `sync_support` loads it too (privately); the webhook test needs its pieces directly.
#[allow(clippy::duplicate_mod)]
mod common;
mod sync_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fjord_engine::audit::{
    AuditRecord, ObjectAction, OperationKind, RECORD_VERSION, Trigger, records_from_events,
};
use fjord_engine::rollback::rollback_patch;
use fjord_engine::types::OperationPhase;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};
use sync_support::Env;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

const OLD_SECRET: &str = "old-secret-hunter2-value";
const NEW_SECRET: &str = "new-secret-correct-horse";

/// Keeps the `record` field of every `fjord::audit` event.
#[derive(Clone, Default)]
struct AuditLog(Arc<Mutex<Vec<String>>>);

struct RecordField(Option<String>);

impl Visit for RecordField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "record" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for AuditLog {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == fjord_engine::audit::LOG_TARGET {
            let mut f = RecordField(None);
            event.record(&mut f);
            if let Some(line) = f.0 {
                self.0.lock().unwrap().push(line);
            }
        }
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

fn secret(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\ndata:\n  password: {}\n",
        b64(password)
    )
}

/// All Events in `argocd` as JSON.
async fn events(env: &Env) -> Vec<Value> {
    let api: Api<Event> = Api::namespaced(env.client.clone(), "argocd");
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

/// Waits until the Application has `n` audit records; returns them newest first.
async fn wait_records(env: &Env, n: usize) -> Vec<AuditRecord> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records = records_from_events(&events(env).await, "argocd", "shop");
        if records.len() >= n {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} audit records; have {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn action_of(r: &AuditRecord, kind: &str, name: &str) -> Option<ObjectAction> {
    r.objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .map(|o| o.action)
}

fn changes_of(r: &AuditRecord, kind: &str, name: &str) -> Vec<String> {
    r.objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .map(|o| o.changes.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

fn assert_no_secret(what: &str, text: &str) {
    for value in [OLD_SECRET, NEW_SECRET] {
        assert!(!text.contains(value), "{what} shows {value}: {text}");
        assert!(
            !text.contains(&b64(value)),
            "{what} shows base64 of {value}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn syncs_and_rollbacks_leave_audit_records_without_secret_values() {
    let log = AuditLog::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log.clone()))
        .expect("the test's subscriber");
    let env = Env::start().await;
    let ns = "audit-shop";
    env.write("app/deploy.yaml", &deployment("nginx:1.0"));
    env.write("app/secret.yaml", &secret(OLD_SECRET));
    env.write(
        "app/settings.yaml",
        &sync_support::config_map("settings", 0, "one"),
    );
    env.write(
        "app/legacy.yaml",
        &sync_support::config_map("legacy", 0, "x"),
    );
    let first = env.commit("v1");
    env.create_app("shop", "app", ns, json!({"automated": {"prune": true}}))
        .await;
    env.wait_operation("shop", &first, OperationPhase::Succeeded)
        .await;
    let records = wait_records(&env, 1).await;
    let created = &records[0];
    assert_eq!(created.version, RECORD_VERSION);
    assert_eq!(created.application.name, "shop");
    assert_eq!(created.application.project, "default");
    assert_eq!(created.operation, OperationKind::Sync);
    assert_eq!(created.initiated_by.trigger, Trigger::Automated);
    assert_eq!(created.phase, "Succeeded");
    assert_eq!(created.revision_before, None);
    assert_eq!(created.revision_after.as_deref(), Some(first.as_str()));
    for (kind, name) in [
        ("Deployment", "web"),
        ("Secret", "creds"),
        ("ConfigMap", "settings"),
        ("ConfigMap", "legacy"),
    ] {
        assert_eq!(
            action_of(created, kind, name),
            Some(ObjectAction::Created),
            "{kind}/{name} in {created:#?}"
        );
    }

    // Second commit: a new image, a new password, one object removed.
    env.write("app/deploy.yaml", &deployment("nginx:1.1"));
    env.write("app/secret.yaml", &secret(NEW_SECRET));
    env.remove("app/legacy.yaml");
    let second = env.commit("v2");
    env.wait_operation("shop", &second, OperationPhase::Succeeded)
        .await;
    let records = wait_records(&env, 2).await;
    let changed = &records[0];
    assert_eq!(changed.revision_before.as_deref(), Some(first.as_str()));
    assert_eq!(changed.revision_after.as_deref(), Some(second.as_str()));
    assert_eq!(
        action_of(changed, "Deployment", "web"),
        Some(ObjectAction::Configured)
    );
    assert_eq!(
        changes_of(changed, "Deployment", "web"),
        ["spec.template.spec.containers[name=web].image: nginx:1.0 → nginx:1.1"]
    );
    assert_eq!(
        action_of(changed, "Secret", "creds"),
        Some(ObjectAction::Configured)
    );
    assert_eq!(
        changes_of(changed, "Secret", "creds"),
        ["data.password: changed"]
    );
    assert_eq!(
        action_of(changed, "ConfigMap", "legacy"),
        Some(ObjectAction::Pruned)
    );
    assert_eq!(
        action_of(changed, "ConfigMap", "settings"),
        None,
        "an unchanged object is counted, not listed"
    );
    assert!(changed.unchanged >= 1);

    // A rollback to the first deployment, started by a user (automation off in the same write).
    let app = env.apps.get("shop").await.unwrap();
    let mut patch = rollback_patch(&app, 0, true, true).expect("a rollback patch");
    patch["operation"]["initiatedBy"] = json!({"username": "auditor"});
    env.patch_app("shop", patch).await;
    env.wait_operation("shop", &first, OperationPhase::Succeeded)
        .await;
    let records = wait_records(&env, 3).await;
    let rollback = &records[0];
    assert_eq!(rollback.operation, OperationKind::Rollback);
    assert_eq!(rollback.initiated_by.trigger, Trigger::User);
    assert_eq!(rollback.initiated_by.username.as_deref(), Some("auditor"));
    assert_eq!(rollback.revision_before.as_deref(), Some(second.as_str()));
    assert_eq!(rollback.revision_after.as_deref(), Some(first.as_str()));
    assert_eq!(
        changes_of(rollback, "Deployment", "web"),
        ["spec.template.spec.containers[name=web].image: nginx:1.1 → nginx:1.0"]
    );
    assert_eq!(
        action_of(rollback, "ConfigMap", "legacy"),
        Some(ObjectAction::Created)
    );

    // A user's sync forward to HEAD says who, and prunes `legacy`, which only the rollback's
    // revision has: what an operation applied counts as managed.
    env.patch_app(
        "shop",
        json!({"operation": {"sync": {"prune": true}, "initiatedBy": {"username": "carol"}}}),
    )
    .await;
    env.wait_operation("shop", &second, OperationPhase::Succeeded)
        .await;
    let records = wait_records(&env, 4).await;
    let by_user = &records[0];
    assert_eq!(by_user.operation, OperationKind::Sync);
    assert_eq!(
        (
            by_user.initiated_by.trigger,
            by_user.initiated_by.username.as_deref()
        ),
        (Trigger::User, Some("carol"))
    );
    assert_eq!(
        changes_of(by_user, "Deployment", "web"),
        ["spec.template.spec.containers[name=web].image: nginx:1.0 → nginx:1.1"],
        "{records:#?}"
    );
    assert_eq!(
        action_of(by_user, "ConfigMap", "legacy"),
        Some(ObjectAction::Pruned),
        "{records:#?}"
    );

    // The Events: one OperationCompleted per operation, with a short summary.
    let all = events(&env).await;
    let audit_events: Vec<&Value> = all
        .iter()
        .filter(|e| e.pointer("/metadata/labels/fjord.dev~1audit") == Some(&json!("true")))
        .collect();
    assert_eq!(audit_events.len(), 4, "one Event per operation");
    for e in &audit_events {
        assert_eq!(e["reason"], "OperationCompleted");
        assert_eq!(e["involvedObject"]["kind"], "Application");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains("by "), "{message}");
    }
    assert_no_secret("the Events", &serde_json::to_string(&all).unwrap());

    // The log: the same records, one valid JSON document per line.
    // (The other test of this file runs in the same process: keep this Application's lines.)
    let lines: Vec<String> = log
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(r#""name":"shop""#))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let from_log: Vec<AuditRecord> = lines
        .iter()
        .map(|l| {
            assert!(!l.contains('\n'));
            serde_json::from_str(l).expect("each log line is one JSON record")
        })
        .collect();
    assert!(from_log.contains(changed) && from_log.contains(rollback));
    assert_no_secret("the audit log", &lines.join("\n"));

    // What `fjord app history` reads (the API's `audit`, and `--core`): the same records.
    let app = env.apps.get("shop").await.unwrap();
    let served = fjord_server::api::audit::records(&env.client, &app)
        .await
        .unwrap();
    assert_eq!(served, records);
    assert_no_secret("the history", &serde_json::to_string(&served).unwrap());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn an_automated_sync_a_webhook_refresh_started_says_webhook() {
    use fjord_server::Refresher as _;
    let (mut tc, client) = common::gitops_cluster().await;
    let repo = common::TestRepo::new(
        &tc.scratch().join("git"),
        "hooked",
        &[(
            "app/cm.yaml",
            &sync_support::config_map("settings", 0, "one"),
        )],
    );
    // No polling and no resync: only the webhook's refresh can make the controller look.
    let mut config = common::quick_config(&tc);
    config.poll_interval = Duration::from_secs(3600);
    config.resync_interval = Duration::from_secs(3600);
    let mut controller = common::RunningController::start(&client, config);
    let apps: Api<fjord_engine::types::Application> = Api::namespaced(client.clone(), "argocd");
    let app: fjord_engine::types::Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "hooked", "namespace": "argocd"},
        "spec": {"project": "default",
                 "source": {"repoURL": repo.url(), "path": "app", "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "hooked"},
                 "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]}}
    }))
    .unwrap();
    apps.create(&Default::default(), &app).await.unwrap();
    let list = |client: kube::Client| async move {
        let api: Api<Event> = Api::namespaced(client, "argocd");
        let events: Vec<Value> = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        records_from_events(&events, "argocd", "hooked")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while list(client.clone()).await.is_empty() {
        assert!(Instant::now() < deadline, "the first sync's record");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        list(client.clone()).await[0].initiated_by.trigger,
        Trigger::Automated
    );

    repo.write(&[(
        "app/cm.yaml",
        &sync_support::config_map("settings", 0, "two"),
    )]);
    let second = repo.commit("v2");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        list(client.clone()).await.len(),
        1,
        "nothing looks without the webhook"
    );

    // What the webhook receiver does for a push to this repository's main branch.
    let refresher = fjord_server::kube_backend::KubeRefresher {
        client: client.clone(),
        namespace: "argocd".into(),
    };
    let push = fjord_server::push::PushEvent {
        repos: vec![fjord_server::push::normalize_repo_url(&repo.url())],
        branch: Some("main".into()),
        default_branch: None,
        changed_files: Vec::new(),
    };
    let refreshed = refresher.refresh(&push).await.unwrap();
    assert_eq!(refreshed, ["argocd/hooked"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let records = loop {
        let records = list(client.clone()).await;
        if records.len() >= 2 {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook-started sync's record"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let hooked = &records[0];
    assert_eq!(hooked.revision_after.as_deref(), Some(second.as_str()));
    assert_eq!(hooked.initiated_by.trigger, Trigger::Webhook, "{hooked:#?}");
    assert_eq!(
        changes_of(hooked, "ConfigMap", "settings"),
        ["data.v: one → two"]
    );
    let app = apps.get("hooked").await.unwrap();
    assert!(
        app.annotation(fjord_engine::audit::ANNOTATION_REFRESH_SOURCE)
            .is_none(),
        "the webhook's mark is removed with the refresh"
    );
    controller.stop().await;
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_terminated_operation_leaves_a_record_too() {
    use kube::api::{Patch, PatchParams};
    let env = Env::start().await;
    // A PreSync hook that never finishes, so the operation is still running when terminated.
    let endless = sync_support::job(
        "name: endless",
        &[("argocd.argoproj.io/hook", "PreSync")],
        true,
    )
    .replace("backoffLimit: 0", "backoffLimit: 100000");
    env.write("app/pre.yaml", &endless);
    env.write("app/w0.yaml", &sync_support::config_map("w0", 0, "x"));
    let commit = env.commit("an endless hook");
    env.create_app("stuck", "app", "audit-stuck", json!({}))
        .await;
    env.sync("stuck", false).await;
    env.wait_app("stuck", "the hook to run", |a| {
        sync_support::op(a).is_some_and(|o| {
            o.phase == OperationPhase::Running
                && o.message.as_deref().is_some_and(|m| m.contains("endless"))
        })
    })
    .await;
    env.apps
        .patch(
            "stuck",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"operationState": {"phase": "Terminating"}}})),
        )
        .await
        .unwrap();
    env.wait_operation("stuck", &commit, OperationPhase::Failed)
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let record = loop {
        let records = records_from_events(&events(&env).await, "argocd", "stuck");
        if let Some(r) = records.into_iter().next() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the terminated operation's record"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(record.phase, "Failed");
    assert_eq!(record.message, "Operation terminated");
    assert_eq!(
        (
            record.initiated_by.trigger,
            record.initiated_by.username.as_deref()
        ),
        (Trigger::User, Some("e2e"))
    );
    assert_eq!(
        action_of(&record, "Job", "endless"),
        Some(ObjectAction::Hook)
    );
    assert_eq!(action_of(&record, "ConfigMap", "w0"), None, "never applied");
    env.stop().await;
}
