//! Building `Application.status` parts from the stages' results, in Argo CD's shape:
//! per-object `resources[]` entries, the `summary` (images and external URLs) and
//! condition bookkeeping that keeps `lastTransitionTime` stable while a condition holds.

use crate::diff::{ResourceDiff, app_sync_status};
use crate::health::HealthStatus;
use crate::plan::sync_wave;
use crate::resource::{ANNOTATION_HOOK, annotation};
use crate::types::{
    ApplicationCondition, ApplicationSpec, ApplicationSummary, ComparedTo, ResourceHealth,
    ResourceStatus, SyncStatus,
};
use serde_json::Value;
use std::collections::BTreeSet;

/// `status.sync`: the Application's sync status at `revision` (the resolved commit), with
/// what it was compared to. `revision` is `None` when the source could not be resolved,
/// which also makes the status Unknown.
pub fn sync_status(
    spec: &ApplicationSpec,
    diffs: &[ResourceDiff],
    revision: Option<&str>,
) -> SyncStatus {
    SyncStatus {
        status: app_sync_status(diffs, revision.is_none()),
        compared_to: Some(ComparedTo {
            source: spec.source.clone(),
            sources: spec.sources.clone(),
            destination: spec.destination.clone(),
            ignore_differences: spec.ignore_differences.clone(),
        }),
        revision: revision.map(String::from),
        revisions: Vec::new(),
    }
}

/// Annotation prefix of user-defined links (`link.argocd.argoproj.io/external-link`).
const LINK_ANNOTATION_PREFIX: &str = "link.argocd.argoproj.io/";

fn version_of(obj: Option<&Value>) -> String {
    let api = obj
        .and_then(|o| o.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or("");
    api.rsplit('/').next().unwrap_or("").to_string()
}

/// The `status.resources[]` entry of one object.
pub fn resource_status(
    diff: &ResourceDiff,
    desired: Option<&Value>,
    live: Option<&Value>,
    health: Option<HealthStatus>,
) -> ResourceStatus {
    let source = desired.or(live);
    let wave = source.map(sync_wave).unwrap_or(0);
    ResourceStatus {
        group: diff.key.group.clone(),
        version: version_of(source),
        kind: diff.key.kind.clone(),
        namespace: diff.key.namespace.clone(),
        name: diff.key.name.clone(),
        status: Some(diff.sync_status()),
        health: health.map(|h| ResourceHealth {
            status: h.status,
            message: (!h.message.is_empty()).then_some(h.message),
        }),
        hook: source
            .and_then(|o| annotation(o, ANNOTATION_HOOK))
            .map(|_| true),
        requires_pruning: diff.requires_pruning().then_some(true),
        sync_wave: (wave != 0).then_some(wave),
        requires_deletion_confirmation: None,
    }
}

fn containers(spec: Option<&Value>) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(move |k| {
            spec.and_then(|s| s.get(k))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
}

fn pod_spec(obj: &Value) -> Option<&Value> {
    match obj.get("kind").and_then(Value::as_str)? {
        "Pod" => obj.get("spec"),
        "CronJob" => obj.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => obj.pointer("/spec/template/spec"),
    }
}

fn ingress_urls(obj: &Value, out: &mut BTreeSet<String>) {
    let tls_hosts: BTreeSet<&str> = obj
        .pointer("/spec/tls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|t| {
            t.get("hosts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(Value::as_str)
        .collect();
    for rule in obj
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(host) = rule.get("host").and_then(Value::as_str) else {
            continue;
        };
        let scheme = if tls_hosts.contains(host) {
            "https"
        } else {
            "http"
        };
        let paths: Vec<&str> = rule
            .pointer("/http/paths")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("path").and_then(Value::as_str))
            .collect();
        if paths.is_empty() {
            out.insert(format!("{scheme}://{host}"));
        }
        for p in paths {
            let p = if p == "/" { "" } else { p };
            out.insert(format!("{scheme}://{host}{p}"));
        }
    }
}

/// `status.summary`: the container images of the live workloads and Pods, and external
/// URLs from Ingress rules (https where the host has TLS) and
/// `link.argocd.argoproj.io/*` annotations whose value is a URL. Sorted, without
/// duplicates.
pub fn summary<'a>(live: impl IntoIterator<Item = &'a Value>) -> ApplicationSummary {
    let mut images = BTreeSet::new();
    let mut urls = BTreeSet::new();
    for obj in live {
        for c in containers(pod_spec(obj)) {
            if let Some(image) = c.get("image").and_then(Value::as_str) {
                images.insert(image.to_string());
            }
        }
        if obj.get("kind").and_then(Value::as_str) == Some("Ingress") {
            ingress_urls(obj, &mut urls);
        }
        if let Some(Value::Object(a)) = obj.pointer("/metadata/annotations") {
            for (k, v) in a {
                if let (true, Some(v)) = (k.starts_with(LINK_ANNOTATION_PREFIX), v.as_str())
                    && (v.starts_with("http://") || v.starts_with("https://"))
                {
                    urls.insert(v.to_string());
                }
            }
        }
    }
    ApplicationSummary {
        external_urls: urls.into_iter().collect(),
        images: images.into_iter().collect(),
    }
}

/// Sets condition `condition_type` to `message`, keeping its `lastTransitionTime` when
/// the message is unchanged.
pub fn set_condition(
    conditions: &mut Vec<ApplicationCondition>,
    condition_type: &str,
    message: &str,
    now: &str,
) {
    if let Some(c) = conditions
        .iter_mut()
        .find(|c| c.condition_type == condition_type)
    {
        if c.message != message {
            c.message = message.to_string();
            c.last_transition_time = Some(now.to_string());
        }
        return;
    }
    conditions.push(ApplicationCondition {
        condition_type: condition_type.to_string(),
        message: message.to_string(),
        last_transition_time: Some(now.to_string()),
    });
}

/// Removes condition `condition_type`; true when it was present.
pub fn clear_condition(conditions: &mut Vec<ApplicationCondition>, condition_type: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.condition_type != condition_type);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffOptions, diff};
    use crate::health::assess;
    use crate::types::{HealthStatusCode, SyncStatusCode, condition_type};
    use serde_json::json;

    #[test]
    fn resource_entries_in_argo_shape() {
        let live = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "prod",
                "annotations": {"argocd.argoproj.io/sync-wave": "-2"}},
            "status": {"phase": "Pending"}});
        let d = diff(None, Some(&live), &DiffOptions::default()).unwrap();
        let s = resource_status(&d, None, Some(&live), assess(&live));
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"version": "v1", "kind": "PersistentVolumeClaim", "namespace": "prod", "name": "data",
                   "status": "OutOfSync", "health": {"status": "Progressing"},
                   "requiresPruning": true, "syncWave": -2})
        );
        assert_eq!(s.status, Some(SyncStatusCode::OutOfSync));
        assert_eq!(s.health.unwrap().status, HealthStatusCode::Progressing);
    }

    #[test]
    fn summary_collects_images_and_urls() {
        let deploy = json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "image": "busybox:1"}],
            "containers": [{"name": "a", "image": "nginx:1.27"}, {"name": "b", "image": "busybox:1"}]}}}});
        let cron = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "report:2"}]}}}}}});
        let ingress = json!({"kind": "Ingress",
            "metadata": {"annotations": {"link.argocd.argoproj.io/docs": "https://docs.example.com", "other": "https://x"}},
            "spec": {"tls": [{"hosts": ["shop.example.com"]}], "rules": [
                {"host": "shop.example.com", "http": {"paths": [{"path": "/"}, {"path": "/api"}]}},
                {"host": "plain.example.com"}]}});
        let s = summary([&deploy, &cron, &ingress]);
        assert_eq!(s.images, ["busybox:1", "nginx:1.27", "report:2"]);
        assert_eq!(
            s.external_urls,
            [
                "http://plain.example.com",
                "https://docs.example.com",
                "https://shop.example.com",
                "https://shop.example.com/api"
            ]
        );
    }

    #[test]
    fn app_sync_status_with_revision() {
        let spec = crate::types::Application::from_yaml(include_str!(
            "../testdata/apps/seed-nordic-payment-gateway.yaml"
        ))
        .unwrap()
        .spec;
        let s = sync_status(&spec, &[], Some("abc123"));
        assert_eq!(
            (s.status, s.revision.as_deref()),
            (SyncStatusCode::Synced, Some("abc123"))
        );
        let compared = s.compared_to.unwrap();
        assert_eq!(
            compared.destination.namespace.as_deref(),
            Some("payment-prod")
        );
        assert_eq!(
            compared.source.unwrap().path.as_deref(),
            Some("k8s/overlays/production")
        );
        assert_eq!(
            sync_status(&spec, &[], None).status,
            SyncStatusCode::Unknown
        );
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let mut c = Vec::new();
        set_condition(
            &mut c,
            condition_type::COMPARISON_ERROR,
            "fetch failed",
            "t1",
        );
        set_condition(
            &mut c,
            condition_type::COMPARISON_ERROR,
            "fetch failed",
            "t2",
        );
        assert_eq!(c[0].last_transition_time.as_deref(), Some("t1"));
        set_condition(
            &mut c,
            condition_type::COMPARISON_ERROR,
            "render failed",
            "t3",
        );
        assert_eq!(
            (c.len(), c[0].last_transition_time.as_deref()),
            (1, Some("t3"))
        );
        assert!(clear_condition(&mut c, condition_type::COMPARISON_ERROR));
        assert!(!clear_condition(&mut c, condition_type::COMPARISON_ERROR));
    }
}
