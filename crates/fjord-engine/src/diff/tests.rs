//! Diff scenarios on objects written by fjord-smd's server-side apply, so managedFields
//! are exactly what an API server would record.

use super::*;
use crate::types::ResourceIgnoreDifferences;
use fjord_smd::{ApplyRequest, FieldPath, UpdateRequest, apply, builtin_schema, update};
use serde_json::json;

fn ty(obj: &Value) -> fjord_smd::TypeRef {
    let av = obj["apiVersion"].as_str().unwrap();
    let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
    builtin_schema()
        .root_for_gvk(group, version, obj["kind"].as_str().unwrap())
        .unwrap()
}

/// Live after `manager` server-side applies `obj` (force) over `live`.
fn ssa(live: Option<&Value>, obj: &Value, manager: &str) -> Value {
    let status = [FieldPath::from_dotted("status")];
    let req = ApplyRequest {
        manager,
        force: true,
        api_version: obj["apiVersion"].as_str().unwrap(),
        subresource: None,
        now: "2026-01-01T00:00:00Z",
        reset_fields: &status,
    };
    apply(builtin_schema(), &ty(obj), live, obj, &req)
        .unwrap()
        .object
}

/// Live after a non-apply write (kubectl edit, a controller) by `manager`.
fn edit(live: &Value, manager: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut new = live.clone();
    f(&mut new);
    let status = [FieldPath::from_dotted("status")];
    let req = UpdateRequest {
        manager,
        api_version: live["apiVersion"].as_str().unwrap(),
        subresource: None,
        now: "2026-01-01T00:00:01Z",
        reset_fields: &status,
    };
    update(builtin_schema(), &ty(live), Some(live), &new, &req).object
}

fn deployment(replicas: i64, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": labels,
            "annotations": {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:prod/web"}},
        "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                    "ports": [{"containerPort": 8080}],
                    "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}}]}}}})
}

/// What an API server adds on create: defaults, bookkeeping, status.
fn server_side_extras(live: &mut Value) {
    live["metadata"]["uid"] = json!("0b5c");
    live["metadata"]["resourceVersion"] = json!("42");
    live["metadata"]["generation"] = json!(1);
    live["spec"]["revisionHistoryLimit"] = json!(10);
    live["spec"]["strategy"] = json!({"type": "RollingUpdate"});
    let c = &mut live["spec"]["template"]["spec"]["containers"][0];
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["terminationMessagePath"] = json!("/dev/termination-log");
    c["ports"][0]["protocol"] = json!("TCP");
    live["status"] = json!({"replicas": 2, "readyReplicas": 2});
}

fn opts(rules: &[ResourceIgnoreDifferences]) -> DiffOptions {
    let (ignore, errs) = IgnoreRules::compile(rules);
    assert!(errs.is_empty(), "{errs:?}");
    DiffOptions {
        ignore,
        ..Default::default()
    }
}

#[test]
fn freshly_applied_object_with_server_defaults_is_synced() {
    let desired = deployment(2, json!({"app": "web"}));
    let mut live = ssa(None, &desired, "fjord");
    server_side_extras(&mut live);
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
    assert_eq!(d.sync_status(), SyncStatusCode::Synced);
    assert_eq!(d.unified, "");
}

#[test]
fn canonicalised_quantities_are_synced() {
    let desired = deployment(2, json!({"app": "web"}));
    let mut live = ssa(None, &desired, "fjord");
    // The API server stores canonical quantities.
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] =
        json!({"cpu": "500m", "memory": "1Gi"});
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
}

#[test]
fn kubectl_edit_of_a_desired_field_is_drift() {
    let desired = deployment(2, json!({"app": "web"}));
    let live = ssa(None, &desired, "fjord");
    let live = edit(&live, "kubectl-edit", |o| o["spec"]["replicas"] = json!(5));
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Modified);
    assert!(
        d.unified.contains("-  replicas: 5\n+  replicas: 2\n"),
        "{}",
        d.unified
    );
}

#[test]
fn owned_field_dropped_from_git_is_out_of_sync() {
    let live = ssa(
        None,
        &deployment(2, json!({"app": "web", "tier": "frontend"})),
        "fjord",
    );
    let desired = deployment(2, json!({"app": "web"}));
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Modified);
    assert!(d.unified.contains("-    tier: frontend\n"), "{}", d.unified);
}

#[test]
fn fields_other_managers_add_are_not_compared() {
    let desired = deployment(2, json!({"app": "web"}));
    let live = ssa(None, &desired, "fjord");
    let live = edit(&live, "istio-webhook", |o| {
        o["metadata"]["labels"]["injected"] = json!("true");
        o["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "istio-proxy", "image": "istio/proxyv2"}));
    });
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
}

#[test]
fn ignore_differences_json_pointer_and_managers() {
    let desired = deployment(2, json!({"app": "web"}));
    let live = ssa(None, &desired, "fjord");
    let scaled = edit(&live, "hpa-controller", |o| {
        o["spec"]["replicas"] = json!(7)
    });
    assert_eq!(
        diff(Some(&desired), Some(&scaled), &opts(&[]))
            .unwrap()
            .kind,
        DiffKind::Modified
    );
    let pointer = ResourceIgnoreDifferences {
        group: Some("apps".into()),
        kind: "Deployment".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    };
    let d = diff(Some(&desired), Some(&scaled), &opts(&[pointer])).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
    let managers = ResourceIgnoreDifferences {
        group: Some("apps".into()),
        kind: "Deployment".into(),
        managed_fields_managers: vec!["hpa-controller".into()],
        ..Default::default()
    };
    let d = diff(Some(&desired), Some(&scaled), &opts(&[managers])).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
}

#[test]
fn ignore_differences_jq_expression() {
    let desired = deployment(2, json!({"app": "web"}));
    let live = ssa(None, &desired, "fjord");
    let live = edit(&live, "kubectl-edit", |o| {
        o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:hotfix");
    });
    let rule = ResourceIgnoreDifferences {
        group: Some("apps".into()),
        kind: "Deployment".into(),
        jq_path_expressions: vec![
            ".spec.template.spec.containers[] | select(.name == \"app\") | .image".into(),
        ],
        ..Default::default()
    };
    let d = diff(Some(&desired), Some(&live), &opts(&[rule])).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
}

fn secret(string_data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "prod"},
           "type": "Opaque", "stringData": string_data})
}

#[test]
fn secrets_compare_string_data_and_never_show_values() {
    let desired = secret(json!({"password": "hunter2"}));
    // The API server folds stringData into data.
    let mut live = ssa(None, &desired, "fjord");
    let obj = live.as_object_mut().unwrap();
    obj.shift_remove("stringData");
    obj.insert("data".into(), json!({"password": "aHVudGVyMg=="}));
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);

    let changed = secret(json!({"password": "correct horse"}));
    let d = diff(Some(&changed), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Modified);
    let everything = format!("{}{:?}{:?}", d.unified, d.desired, d.live);
    for secret in [
        "hunter2",
        "aHVudGVyMg==",
        "correct horse",
        "Y29ycmVjdCBob3JzZQ==",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    assert!(
        d.unified
            .contains("-  password: +++++++++\n+  password: ++++++++\n"),
        "{}",
        d.unified
    );
}

#[test]
fn missing_and_extraneous_objects() {
    let desired = deployment(2, json!({"app": "web"}));
    let d = diff(Some(&desired), None, &DiffOptions::default()).unwrap();
    assert_eq!(
        (d.kind, d.sync_status()),
        (DiffKind::Missing, SyncStatusCode::OutOfSync)
    );
    assert!(d.unified.starts_with("--- live\n+++ desired\n"));
    let live = ssa(None, &desired, "fjord");
    let d = diff(None, Some(&live), &DiffOptions::default()).unwrap();
    assert!(d.requires_pruning());
    assert!(!d.ignore_extraneous);
    assert_eq!(app_sync_status(&[d], false), SyncStatusCode::OutOfSync);
}

#[test]
fn application_sync_status() {
    let desired = deployment(2, json!({"app": "web"}));
    let live = ssa(None, &desired, "fjord");
    let synced = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    let mut extra_live = live.clone();
    extra_live["metadata"]["annotations"]["argocd.argoproj.io/compare-options"] =
        json!("IgnoreExtraneous");
    let extra = diff(None, Some(&extra_live), &DiffOptions::default()).unwrap();
    assert!(extra.ignore_extraneous);
    assert_eq!(
        app_sync_status(&[synced.clone(), extra], false),
        SyncStatusCode::Synced
    );
    assert_eq!(app_sync_status(&[synced], true), SyncStatusCode::Unknown);
    assert_eq!(app_sync_status(&[], false), SyncStatusCode::Synced);
}

#[test]
fn objects_never_applied_by_fjord_compare_desired_fields() {
    // Created by kubectl before adoption: no fjord entry in managedFields.
    let desired = deployment(2, json!({"app": "web"}));
    let mut live = ssa(None, &desired, "kubectl");
    server_side_extras(&mut live);
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
    let d = diff(
        Some(&deployment(3, json!({"app": "web"}))),
        Some(&live),
        &DiffOptions::default(),
    )
    .unwrap();
    assert_eq!(d.kind, DiffKind::Modified);
}

#[test]
fn malformed_managed_fields_name_the_object() {
    let desired = deployment(2, json!({"app": "web"}));
    let mut live = desired.clone();
    live["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    let err = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "apps/Deployment prod/web: metadata.managedFields: managedFields entry 0: operation must be `Apply` or `Update`"
    );
}

#[test]
fn empty_maps_and_nulls_in_git_are_no_change() {
    // kubectl-generated YAML: `creationTimestamp: null`, `resources: {}`, `status: {}`.
    let mut desired = deployment(2, json!({"app": "web"}));
    desired["metadata"]["creationTimestamp"] = Value::Null;
    desired["status"] = json!({});
    let live = ssa(None, &deployment(2, json!({"app": "web"})), "fjord");
    desired["spec"]["template"]["spec"]["containers"][0]["env"] = json!([]);
    desired["spec"]["template"]["spec"]["containers"][0]["securityContext"] = json!({});
    let d = diff(Some(&desired), Some(&live), &DiffOptions::default()).unwrap();
    assert_eq!(d.kind, DiffKind::Unchanged, "{}", d.unified);
}
