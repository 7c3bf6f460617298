//! The ordering key of one object: phase, wave, kind rank, name.

#[cfg(test)]
use crate::resource::ANNOTATION_HOOK;
use crate::resource::{ANNOTATION_SYNC_WAVE, ResourceKey, annotation};
use serde_json::Value;
use std::cmp::Ordering;

/// Helm's install order, as Argo CD uses it; kinds not listed (custom resources) come last.
const KIND_ORDER: [&str; 34] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
];

/// The position of `kind` in the install order (`APIService` after Ingress; unknown kinds
/// last).
pub fn kind_rank(kind: &str) -> usize {
    match KIND_ORDER.iter().position(|k| *k == kind) {
        Some(i) => i,
        None if kind == "APIService" => KIND_ORDER.len(),
        None => KIND_ORDER.len() + 1,
    }
}

/// The sync phase of an object (from its hook annotation; plain objects are `Sync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncPhase {
    /// Before the sync.
    PreSync,
    /// The sync itself.
    Sync,
    /// After everything is healthy.
    PostSync,
    /// When the sync failed.
    SyncFail,
}

/// The phase of `obj`: the first phase its hook types name (Argo CD's annotation, else
/// Helm's); plain objects are `Sync`.
pub fn sync_phase(obj: &Value) -> SyncPhase {
    super::hooks::hook_phases(obj)
        .first()
        .map(|(p, _)| *p)
        .unwrap_or(SyncPhase::Sync)
}

/// The sync wave of `obj` (annotation value, default 0; unparsable values count as 0; a
/// Helm hook without it uses `helm.sh/hook-weight`).
pub fn sync_wave(obj: &Value) -> i64 {
    if annotation(obj, ANNOTATION_SYNC_WAVE).is_none() {
        return super::hooks::hook_wave(obj);
    }
    annotation(obj, ANNOTATION_SYNC_WAVE)
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

fn compare(a: (&ResourceKey, &Value), b: (&ResourceKey, &Value)) -> Ordering {
    sync_phase(a.1)
        .cmp(&sync_phase(b.1))
        .then(sync_wave(a.1).cmp(&sync_wave(b.1)))
        .then(kind_rank(&a.0.kind).cmp(&kind_rank(&b.0.kind)))
        .then(a.0.name.cmp(&b.0.name))
}

/// Sorts objects into apply order (stable).
pub fn apply_order<T>(items: &mut [T], view: impl Fn(&T) -> (&ResourceKey, &Value)) {
    items.sort_by(|a, b| compare(view(a), view(b)));
}

/// Sorts objects into prune order: the reverse of apply order (stable).
pub fn prune_order<T>(items: &mut [T], view: impl Fn(&T) -> (&ResourceKey, &Value)) {
    items.sort_by(|a, b| compare(view(b), view(a)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api: &str, kind: &str, name: &str, annotations: Value) -> (ResourceKey, Value) {
        let v = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "annotations": annotations}});
        (ResourceKey::of(&v).unwrap(), v)
    }

    fn names(items: &[(ResourceKey, Value)]) -> Vec<String> {
        items
            .iter()
            .map(|(k, _)| format!("{}/{}", k.kind, k.name))
            .collect()
    }

    #[test]
    fn namespaces_and_crds_come_before_what_needs_them() {
        let mut items = vec![
            obj("example.com/v1", "Widget", "w", json!({})),
            obj("apps/v1", "Deployment", "web", json!({})),
            obj(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "widgets.example.com",
                json!({}),
            ),
            obj("v1", "ConfigMap", "cfg", json!({})),
            obj("v1", "Namespace", "payment-prod", json!({})),
            obj("v1", "Service", "web", json!({})),
        ];
        apply_order(&mut items, |(k, v)| (k, v));
        assert_eq!(
            names(&items),
            [
                "Namespace/payment-prod",
                "ConfigMap/cfg",
                "CustomResourceDefinition/widgets.example.com",
                "Service/web",
                "Deployment/web",
                "Widget/w"
            ]
        );
        prune_order(&mut items, |(k, v)| (k, v));
        assert_eq!(names(&items)[0], "Widget/w");
        assert_eq!(names(&items)[5], "Namespace/payment-prod");
    }

    #[test]
    fn phases_and_waves_come_first() {
        let mut items = vec![
            obj(
                "v1",
                "Namespace",
                "late",
                json!({ANNOTATION_SYNC_WAVE: "5"}),
            ),
            obj(
                "apps/v1",
                "Deployment",
                "early",
                json!({ANNOTATION_SYNC_WAVE: "-1"}),
            ),
            obj(
                "batch/v1",
                "Job",
                "migrate",
                json!({ANNOTATION_HOOK: "PreSync"}),
            ),
            obj(
                "batch/v1",
                "Job",
                "smoke",
                json!({ANNOTATION_HOOK: "PostSync"}),
            ),
            obj("v1", "ConfigMap", "plain", json!({})),
        ];
        apply_order(&mut items, |(k, v)| (k, v));
        assert_eq!(
            names(&items),
            [
                "Job/migrate",
                "Deployment/early",
                "ConfigMap/plain",
                "Namespace/late",
                "Job/smoke"
            ]
        );
        assert_eq!(
            sync_wave(&obj("v1", "X", "x", json!({ANNOTATION_SYNC_WAVE: "abc"})).1),
            0
        );
        assert_eq!(kind_rank("APIService"), KIND_ORDER.len());
    }
}
