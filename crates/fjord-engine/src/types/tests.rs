//! Round trips of real Argo CD manifests, defaults, and the kube-rs identity of the types.

use super::*;
use serde_json::{Value, json};

const SEED: &str = include_str!("../../testdata/apps/seed-nordic-payment-gateway.yaml");
const FULL: &str = include_str!("../../testdata/apps/full-with-status.yaml");
const PROJECT: &str = include_str!("../../testdata/apps/project.yaml");

fn as_value(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

#[test]
fn seed_manifest_parses_verbatim() {
    let app = Application::from_yaml(SEED).unwrap();
    assert_eq!(app.name(), "nordic-payment-gateway");
    assert_eq!(app.namespace(), "argocd");
    assert_eq!(app.spec.project, "default");
    let src = app.spec.source.as_ref().unwrap();
    assert_eq!(src.repo_url, "git@github.com:my-org/infra-config.git");
    assert_eq!(src.revision(), "HEAD");
    assert_eq!(src.path.as_deref(), Some("k8s/overlays/production"));
    assert_eq!(
        app.spec.destination.server.as_deref(),
        Some("https://kubernetes.default.svc")
    );
    assert_eq!(
        app.spec.destination.namespace.as_deref(),
        Some("payment-prod")
    );
    let policy = app.spec.sync_policy.as_ref().unwrap();
    assert!(policy.is_automated());
    let auto = policy.automated.as_ref().unwrap();
    assert_eq!(
        (auto.prune, auto.self_heal, auto.allow_empty),
        (Some(true), Some(true), None)
    );
    assert_eq!(policy.option("CreateNamespace"), Some("true"));
    assert_eq!(app.spec.history_limit(), 10);
    assert_eq!(app.spec.all_sources().len(), 1);
    assert_eq!(serde_json::to_value(&app).unwrap(), as_value(SEED));
}

#[test]
fn full_application_round_trips_without_loss() {
    let app = Application::from_yaml(FULL).unwrap();
    assert_eq!(serde_json::to_value(&app).unwrap(), as_value(FULL));
    // Unmodelled fields land in `extra`, at each level.
    assert!(app.spec.extra.contains_key("sourceHydrator"));
    assert_eq!(app.spec.extra["futureField"], json!({"nested": [1, 2]}));
    let helm = app.spec.sources[1].helm.as_ref().unwrap();
    assert_eq!(helm.skip_schema_validation, Some(true));
    assert_eq!(helm.file_parameters[0].path, "files/config.json");
    let status = app.status.as_ref().unwrap();
    assert_eq!(status.extra["observedAt"], json!("2026-01-01T00:01:00Z"));
    assert_eq!(
        status.sync.as_ref().unwrap().status,
        SyncStatusCode::OutOfSync
    );
    assert_eq!(
        status.operation_state.as_ref().unwrap().phase,
        OperationPhase::Failed
    );
    assert_eq!(
        status
            .operation_state
            .as_ref()
            .unwrap()
            .sync_result
            .as_ref()
            .unwrap()
            .resources[0]
            .status,
        Some(ResultCode::SyncFailed)
    );
    assert_eq!(app.spec.sources[2].reference.as_deref(), Some("values"));
    assert_eq!(app.spec.history_limit(), 3);
    // `enabled: true` with `prune: false` survives as written.
    let auto = app
        .spec
        .sync_policy
        .as_ref()
        .unwrap()
        .automated
        .as_ref()
        .unwrap();
    assert_eq!((auto.enabled, auto.prune), (Some(true), Some(false)));
}

#[test]
fn automated_enabled_false_is_manual() {
    let mut app = Application::from_yaml(SEED).unwrap();
    let auto = app
        .spec
        .sync_policy
        .as_mut()
        .unwrap()
        .automated
        .as_mut()
        .unwrap();
    auto.enabled = Some(false);
    assert!(!app.spec.sync_policy.as_ref().unwrap().is_automated());
}

#[test]
fn wrong_kind_is_rejected_with_both_names() {
    let err = Application::from_yaml(PROJECT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected Application in argoproj.io/v1alpha1, found kind \"AppProject\" apiVersion \"argoproj.io/v1alpha1\""
    );
}

#[test]
fn malformed_application_names_the_kind_and_position() {
    let err = Application::from_yaml(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  project: [\n",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("Application: "), "{msg}");
    assert!(msg.contains("line"), "{msg}");
}

#[test]
fn project_round_trips_and_exposes_lists() {
    let p = AppProject::from_yaml(PROJECT).unwrap();
    assert_eq!(p.spec.source_repos, ["*", "!https://github.com/evil/*"]);
    assert_eq!(p.spec.cluster_resource_whitelist[0].kind, "Namespace");
    assert!(p.spec.extra.contains_key("syncWindows"));
    assert_eq!(serde_json::to_value(&p).unwrap(), as_value(PROJECT));
}

#[test]
fn health_codes_order_as_argo() {
    use HealthStatusCode::*;
    let mut all = [Unknown, Degraded, Missing, Progressing, Suspended, Healthy];
    all.sort();
    assert_eq!(
        all,
        [Healthy, Suspended, Progressing, Missing, Degraded, Unknown]
    );
}

#[test]
fn history_is_capped_and_ids_increase() {
    let mut h = Vec::new();
    for i in 0..5 {
        let e = RevisionHistory {
            revision: Some(format!("r{i}")),
            ..Default::default()
        };
        push_history(&mut h, e, 3);
    }
    let ids: Vec<i64> = h.iter().map(|e| e.id).collect();
    assert_eq!(ids, [2, 3, 4]);
    assert_eq!(h[2].revision.as_deref(), Some("r4"));
    push_history(&mut h, RevisionHistory::default(), 0);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, 5);
}

#[test]
fn unreadable_or_partial_status_never_hides_the_spec() {
    let mut v = as_value(SEED);
    v["status"] = json!({"sync": {"status": ""}, "health": {"status": "Weird"}});
    let app: Application = serde_json::from_value(v.clone()).unwrap();
    let st = app.status.unwrap();
    assert_eq!(st.sync.unwrap().status, SyncStatusCode::Unknown);
    assert_eq!(st.health.unwrap().status, HealthStatusCode::Unknown);
    v["status"] = json!({"operationState": {"phase": "Exploded"}, "resources": "not a list"});
    let app: Application = serde_json::from_value(v).unwrap();
    assert!(app.status.is_none());
    assert_eq!(app.spec.project, "default");
}

#[test]
fn kube_resource_identity() {
    use kube_core::Resource;
    assert_eq!(Application::api_version(&()), "argoproj.io/v1alpha1");
    assert_eq!(
        Application::url_path(&(), Some("argocd")),
        "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
    );
    assert_eq!(AppProject::plural(&()), "appprojects");
    let app = Application::from_yaml(SEED).unwrap();
    assert_eq!(app.meta().name.as_deref(), Some("nordic-payment-gateway"));
}
