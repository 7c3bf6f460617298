use super::*;
use crate::diff::{DiffOptions, diff};
use crate::types::{Application, OperationState};
use serde_json::json;
use std::collections::HashMap;

fn app() -> Application {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "shop", "namespace": "argocd", "uid": "u1"},
        "spec": {"project": "payments", "destination": {"namespace": "shop"},
                 "source": {"repoURL": "https://git.example/shop.git", "path": "deploy"}},
        "status": {"history": [{"id": 0, "revision": "aaaa111", "deployedAt": "2024-01-01T00:00:00Z"}]}
    }))
    .unwrap()
}

fn state(
    by: serde_json::Value,
    sync: serde_json::Value,
    resources: serde_json::Value,
) -> OperationState {
    serde_json::from_value(json!({
        "operation": {"sync": sync, "initiatedBy": by},
        "phase": "Succeeded", "message": "successfully synced (all tasks run)",
        "startedAt": "2024-01-02T00:00:00Z", "finishedAt": "2024-01-02T00:00:05Z",
        "syncResult": {"revision": "bbbb222", "resources": resources}
    }))
    .unwrap()
}

fn deploy(image: &str, replicas: i64) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": [
               {"name": "app", "image": image}]}}}})
}

fn secret(password: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "creds", "namespace": "shop"},
           "data": {"password": password}})
}

fn observed(
    pairs: &[(Option<serde_json::Value>, Option<serde_json::Value>)],
) -> HashMap<crate::resource::ResourceKey, ObservedObject> {
    pairs
        .iter()
        .map(|(d, l)| {
            let rd = diff(d.as_ref(), l.as_ref(), &DiffOptions::default()).unwrap();
            (rd.key.clone(), observe_object(&rd))
        })
        .collect()
}

const OLD_PW: &str = "b2xkLXBhc3N3b3Jk"; // base64 of "old-password"
const NEW_PW: &str = "bmV3LXBhc3N3b3Jk"; // base64 of "new-password"

#[test]
fn a_sync_record_names_each_object_its_action_and_changes_without_secret_values() {
    let seen = observed(&[
        (Some(deploy("shop:2", 3)), Some(deploy("shop:1", 2))),
        (Some(secret(NEW_PW)), Some(secret(OLD_PW))),
        (
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "shop"}}),
            ),
            None,
        ),
        (
            None,
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "shop",
                "annotations": {"argocd.argoproj.io/tracking-id": "shop:/ConfigMap:shop/old"}}}),
            ),
        ),
    ]);
    let st = state(
        json!({"automated": true}),
        json!({"revision": "bbbb222", "prune": true}),
        json!([
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop", "name": "web", "status": "Synced", "message": "deployment.apps/web configured"},
            {"group": "", "version": "v1", "kind": "Secret", "namespace": "shop", "name": "creds", "status": "Synced", "message": "secret/creds configured"},
            {"group": "", "version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "new", "status": "Synced", "message": "configmap/new created"},
            {"group": "", "version": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "old", "status": "Pruned", "message": "pruned"}
        ]),
    );
    let a = app();
    let r = build_record(&RecordInput {
        app: &a,
        state: &st,
        webhook: false,
        observed: &seen,
        partial: false,
    });
    assert_eq!(
        r.application,
        AppRef {
            namespace: "argocd".into(),
            name: "shop".into(),
            project: "payments".into()
        }
    );
    assert_eq!(r.operation, OperationKind::Sync);
    assert_eq!(r.initiated_by.trigger, Trigger::Automated);
    assert_eq!(r.revision_before.as_deref(), Some("aaaa111"));
    assert_eq!(r.revision_after.as_deref(), Some("bbbb222"));
    assert_eq!(r.phase, "Succeeded");
    let by_name = |n: &str| r.objects.iter().find(|o| o.name == n).unwrap();
    assert_eq!(by_name("web").action, ObjectAction::Configured);
    let web: Vec<String> = by_name("web")
        .changes
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        web,
        [
            "spec.replicas: 2 → 3",
            "spec.template.spec.containers[name=app].image: shop:1 → shop:2"
        ]
    );
    assert_eq!(by_name("creds").action, ObjectAction::Configured);
    let creds: Vec<String> = by_name("creds")
        .changes
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(creds, ["data.password: changed"]);
    assert_eq!(by_name("new").action, ObjectAction::Created);
    assert_eq!(by_name("old").action, ObjectAction::Pruned);
    let text = r.to_json();
    for v in [OLD_PW, NEW_PW, "old-password", "new-password", "++++"] {
        assert!(!text.contains(v), "{v} appears in {text}");
    }
    assert_eq!(
        r.summary(),
        "sync by automated to bbbb222: Succeeded; 2 configured, 1 created, 1 pruned"
    );
    let back: AuditRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}

#[test]
fn who_started_it_and_which_kind() {
    let seen = HashMap::new();
    let a = app();
    let user = state(
        json!({"username": "alice"}),
        json!({"revision": "bbbb222"}),
        json!([]),
    );
    let r = build_record(&RecordInput {
        app: &a,
        state: &user,
        webhook: true,
        observed: &seen,
        partial: false,
    });
    assert_eq!(
        r.initiated_by,
        Initiator {
            trigger: Trigger::User,
            username: Some("alice".into())
        }
    );
    let hook = state(json!({"automated": true}), json!({}), json!([]));
    let r = build_record(&RecordInput {
        app: &a,
        state: &hook,
        webhook: true,
        observed: &seen,
        partial: true,
    });
    assert_eq!(r.initiated_by.trigger, Trigger::Webhook);
    assert!(r.partial);
    let rollback = state(
        json!({"username": "bob"}),
        json!({"revision": "aaaa111", "syncStrategy": {"apply": {}},
               "source": {"repoURL": "https://git.example/shop.git", "path": "deploy"}}),
        json!([]),
    );
    let r = build_record(&RecordInput {
        app: &a,
        state: &rollback,
        webhook: false,
        observed: &seen,
        partial: false,
    });
    assert_eq!(r.operation, OperationKind::Rollback);
    assert!(
        r.summary().starts_with("rollback by user bob to "),
        "{}",
        r.summary()
    );
}

#[test]
fn without_observation_the_verb_decides_and_unchanged_objects_are_counted() {
    let seen = observed(&[(Some(deploy("a", 1)), Some(deploy("a", 1)))]);
    let st = state(
        json!({"automated": true}),
        json!({}),
        json!([
            {"group": "apps", "kind": "Deployment", "namespace": "shop", "name": "web", "status": "Synced", "message": "deployment.apps/web configured"},
            {"group": "", "kind": "ConfigMap", "namespace": "shop", "name": "x", "status": "Synced", "message": "configmap/x created"},
            {"group": "", "kind": "Secret", "namespace": "shop", "name": "s", "status": "SyncFailed", "message": "secret/s: invalid value c2VjcmV0"}
        ]),
    );
    let a = app();
    let r = build_record(&RecordInput {
        app: &a,
        state: &st,
        webhook: false,
        observed: &seen,
        partial: false,
    });
    assert_eq!(r.unchanged, 1);
    assert_eq!(r.objects.len(), 2);
    assert_eq!(r.objects[0].action, ObjectAction::Created);
    assert_eq!(r.objects[1].action, ObjectAction::Failed);
    assert_eq!(
        r.objects[1].message, None,
        "a Secret's error message is not copied"
    );
}

#[test]
fn the_event_copy_is_bounded_and_says_how_many_objects_were_left_out() {
    let a = app();
    let resources: Vec<serde_json::Value> = (0..2000)
        .map(|i| json!({"group": "", "kind": "ConfigMap", "namespace": "shop", "name": format!("cm-{i:04}"),
                        "status": "Synced", "message": "configmap created"}))
        .collect();
    let st = state(json!({"automated": true}), json!({}), json!(resources));
    let r = build_record(&RecordInput {
        app: &a,
        state: &st,
        webhook: false,
        observed: &HashMap::new(),
        partial: false,
    });
    assert!(r.to_json().len() > MAX_EVENT_RECORD_BYTES);
    let bounded = r.to_bounded_json(MAX_EVENT_RECORD_BYTES);
    assert!(bounded.len() <= MAX_EVENT_RECORD_BYTES);
    let back: AuditRecord = serde_json::from_str(&bounded).unwrap();
    assert!(back.objects_omitted > 0);
    assert_eq!(back.objects.len() + back.objects_omitted, 2000);
    assert!(back.summary().contains("more not listed"));
}

#[test]
fn records_are_read_back_from_the_application_events_only() {
    let a = app();
    let st = state(json!({"automated": true}), json!({}), json!([]));
    let r = build_record(&RecordInput {
        app: &a,
        state: &st,
        webhook: false,
        observed: &HashMap::new(),
        partial: false,
    });
    let event = |name: &str, record: Option<String>| {
        let mut e = json!({"involvedObject": {"kind": "Application", "name": name, "namespace": "argocd"},
                           "metadata": {"annotations": {}}});
        if let Some(r) = record {
            e["metadata"]["annotations"][ANNOTATION_RECORD] = json!(r);
        }
        e
    };
    let events = vec![
        event("shop", Some(r.to_json())),
        event("other", Some(r.to_json())),
        event("shop", None),
        event("shop", Some("not json".into())),
    ];
    assert_eq!(records_from_events(&events, "argocd", "shop"), vec![r]);
}
