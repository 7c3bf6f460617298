//! Health rules against the YAML fixtures in `testdata/health` (expectations in
//! `cases.yaml`), and Application-level aggregation.

use super::*;
use serde_json::json;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/health");

fn load(file: &str) -> Value {
    let path = format!("{DIR}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn fixtures_match_argo_status_and_message() {
    let cases = load("cases.yaml");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let want_status: HealthStatusCode = serde_json::from_value(case["status"].clone()).unwrap();
        let want_message = case["message"].as_str().unwrap();
        let got = assess(&load(file)).unwrap_or_else(|| panic!("{file}: no health rule"));
        if got.status != want_status || got.message != want_message {
            failures.push(format!("{file}: got {:?} {:?}", got.status, got.message));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_fixture_is_listed_in_cases() {
    let cases = load("cases.yaml");
    let listed: Vec<&str> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["file"].as_str().unwrap())
        .collect();
    for entry in std::fs::read_dir(DIR).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "cases.yaml" {
            assert!(listed.contains(&name.as_str()), "{name} has no expectation");
        }
    }
}

#[test]
fn kinds_without_rules_have_no_health() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(assess(&cm), None);
    // The group matters: a CRD kind named like a built-in is not judged by its rule.
    let fake =
        json!({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "d"}});
    assert_eq!(assess(&fake), None);
}

#[test]
fn application_health_is_the_worst_child() {
    let healthy = load("deployment-healthy.yaml");
    let progressing = load("pvc-pending.yaml");
    let degraded = load("pvc-lost.yaml");
    let suspended = load("deployment-paused.yaml");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let agg = |items: Vec<Option<&Value>>| aggregate(items).status;
    assert_eq!(agg(vec![]), HealthStatusCode::Healthy);
    assert_eq!(agg(vec![Some(&cm)]), HealthStatusCode::Healthy);
    assert_eq!(
        agg(vec![Some(&healthy), Some(&suspended)]),
        HealthStatusCode::Suspended
    );
    assert_eq!(
        agg(vec![Some(&suspended), Some(&progressing)]),
        HealthStatusCode::Progressing
    );
    assert_eq!(
        agg(vec![Some(&progressing), None]),
        HealthStatusCode::Missing
    );
    assert_eq!(
        agg(vec![None, Some(&degraded), Some(&healthy)]),
        HealthStatusCode::Degraded
    );
}

#[test]
fn ignored_and_hook_objects_do_not_count() {
    let mut lost = load("pvc-lost.yaml");
    lost["metadata"]["annotations"] = json!({"argocd.argoproj.io/ignore-healthcheck": "true"});
    assert_eq!(aggregate([Some(&lost)]).status, HealthStatusCode::Healthy);
    let hook = load("pod-failed-exit.yaml");
    let mut hook = hook;
    hook["metadata"]["annotations"] = json!({"argocd.argoproj.io/hook": "PreSync"});
    assert_eq!(aggregate([Some(&hook)]).status, HealthStatusCode::Healthy);
}

#[test]
fn deleting_hooks_keep_their_own_health() {
    let mut job = load("job-failed.yaml");
    job["metadata"]["deletionTimestamp"] = json!("2026-01-02T10:00:00Z");
    assert_eq!(assess(&job).unwrap().message, "Pending deletion");
    job["metadata"]["finalizers"] = json!([HOOK_FINALIZER]);
    assert_eq!(assess(&job).unwrap().status, HealthStatusCode::Degraded);
}

#[test]
fn suspended_jobs_do_not_degrade_the_application() {
    let job = load("job-suspended.yaml");
    let h = assess(&job).unwrap();
    assert_eq!(
        (h.status, h.aggregated()),
        (HealthStatusCode::Suspended, HealthStatusCode::Healthy)
    );
    assert_eq!(aggregate([Some(&job)]).status, HealthStatusCode::Healthy);
    let paused = load("deployment-paused.yaml");
    assert_eq!(
        aggregate([Some(&job), Some(&paused)]).status,
        HealthStatusCode::Suspended
    );
}

#[test]
fn old_api_versions_are_unknown() {
    let mut d = load("deployment-healthy.yaml");
    d["apiVersion"] = json!("apps/v1beta1");
    assert_eq!(
        assess(&d).unwrap(),
        HealthStatus::new(
            HealthStatusCode::Unknown,
            "unsupported Deployment GVK: apps/v1beta1, Kind=Deployment"
        )
    );
    d["apiVersion"] = json!("extensions/v1beta1");
    assert_eq!(assess(&d), None);
}
