//! Health assessment with Argo CD's built-in rules, and custom rules in Lua ([`custom`],
//! [`lua`]) that win over them.
//!
//! [`assess`] dispatches on group and kind to one file per kind; kinds without a rule have
//! no health (`None`) and do not take part in aggregation, as in Argo CD. An object being
//! deleted is Progressing "Pending deletion" (unless it is a hook holding Argo CD's hook
//! finalizer). [`aggregate`] gives an Application the worst
//! health of its objects (order: Healthy < Suspended < Progressing < Missing < Degraded <
//! Unknown), counting desired objects that are not live as Missing.

mod apiservice;
mod application;
mod cronjob;
pub mod custom;
mod daemonset;
mod deployment;
mod hpa;
mod ingress;
mod job;
pub mod lua;
mod pod;
mod pvc;
mod replicaset;
mod service;
mod statefulset;

use crate::resource::{ANNOTATION_HOOK, ANNOTATION_IGNORE_HEALTHCHECK, annotation, group_of};
pub use crate::types::HealthStatusCode;
use serde_json::Value;

/// A health code and its message (empty when the rule gives none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthStatus {
    /// The code.
    pub status: HealthStatusCode,
    /// Why; empty when the rule gives no message.
    pub message: String,
    /// The code the Application's aggregation counts instead (a suspended Job is
    /// Suspended but aggregates as Healthy, as in Argo CD).
    pub aggregate_as: Option<HealthStatusCode>,
}

impl HealthStatus {
    pub(crate) fn new(status: HealthStatusCode, message: impl Into<String>) -> Self {
        HealthStatus {
            status,
            message: message.into(),
            aggregate_as: None,
        }
    }

    /// The code aggregation counts.
    pub fn aggregated(&self) -> HealthStatusCode {
        self.aggregate_as.unwrap_or(self.status)
    }

    /// True when `self` is worse than `other` (Argo CD's `IsWorse`).
    pub fn is_worse_than(&self, other: &HealthStatus) -> bool {
        self.status > other.status
    }
}

/// The finalizer Argo CD puts on running hooks; a hook being deleted is still judged by
/// its own rule.
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// The health of a live object, or `None` when no rule covers its kind.
pub fn assess(obj: &Value) -> Option<HealthStatus> {
    let hook_finalizer = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|f| f.as_str() == Some(HOOK_FINALIZER)));
    let deleting = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    if deleting && !hook_finalizer {
        return Some(HealthStatus::new(
            HealthStatusCode::Progressing,
            "Pending deletion",
        ));
    }
    let api_version = obj.get("apiVersion")?.as_str()?;
    let group = group_of(api_version);
    let kind = obj.get("kind")?.as_str()?;
    let rule: fn(&Value) -> HealthStatus = match (group, kind) {
        ("apps", "Deployment") => deployment::health,
        ("apps", "StatefulSet") => statefulset::health,
        ("apps", "DaemonSet") => daemonset::health,
        ("apps", "ReplicaSet") => replicaset::health,
        ("", "Pod") => pod::health,
        ("", "Service") => service::health,
        ("networking.k8s.io" | "extensions", "Ingress") => ingress::health,
        ("", "PersistentVolumeClaim") => pvc::health,
        ("batch", "Job") => job::health,
        ("batch", "CronJob") => cronjob::health,
        ("apiregistration.k8s.io", "APIService") => apiservice::health,
        ("autoscaling", "HorizontalPodAutoscaler") => hpa::health,
        ("argoproj.io", "Application") => application::health,
        _ => return None,
    };
    // Argo CD judges workloads, Pods and Jobs only at their v1 versions.
    let v1_only = matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Pod" | "Job"
    );
    let version = api_version.rsplit('/').next().unwrap_or("");
    if v1_only && version != "v1" {
        return Some(HealthStatus::new(
            HealthStatusCode::Unknown,
            format!("unsupported {kind} GVK: {api_version}, Kind={kind}"),
        ));
    }
    Some(rule(obj))
}

/// The Application's health: the worst of its objects. `None` items are desired objects
/// that are not live (Missing). Hooks and objects annotated
/// `argocd.argoproj.io/ignore-healthcheck: "true"` are left out, as are kinds without a rule.
/// An Application without objects is Healthy.
pub fn aggregate<'a>(objects: impl IntoIterator<Item = Option<&'a Value>>) -> HealthStatus {
    let assessed: Vec<(Option<&Value>, Option<HealthStatus>)> = objects
        .into_iter()
        .map(|o| (o, o.and_then(assess)))
        .collect();
    aggregate_assessed(assessed.iter().map(|(o, h)| (*o, h.as_ref())))
}

/// [`aggregate`] over healths already assessed (by custom rules, say): each item is the
/// live object (`None`: missing) and its health (`None`: no rule).
pub fn aggregate_assessed<'a>(
    objects: impl IntoIterator<Item = (Option<&'a Value>, Option<&'a HealthStatus>)>,
) -> HealthStatus {
    let mut worst = HealthStatus::new(HealthStatusCode::Healthy, "");
    for (obj, assessed) in objects {
        let health = match obj {
            None => HealthStatus::new(HealthStatusCode::Missing, ""),
            Some(obj) => {
                if annotation(obj, ANNOTATION_IGNORE_HEALTHCHECK) == Some("true")
                    || annotation(obj, ANNOTATION_HOOK).is_some()
                {
                    continue;
                }
                match assessed {
                    Some(h) => h.clone(),
                    None => continue,
                }
            }
        };
        if health.aggregated() > worst.status {
            worst = HealthStatus::new(health.aggregated(), "");
        }
    }
    // The Application-level message is not used (deprecated in Argo CD).
    worst.message.clear();
    worst
}

/// Integer at a JSON pointer, 0 when absent (Go's zero value).
pub(crate) fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Optional integer at a JSON pointer (Go's `*int32`).
pub(crate) fn opt_int(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// String at a JSON pointer, empty when absent.
pub(crate) fn string<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The conditions list at `/status/conditions`.
pub(crate) fn conditions(obj: &Value) -> &[Value] {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The first condition of type `ty`.
pub(crate) fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    conditions(obj)
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

/// True when `status.loadBalancer.ingress` is a non-empty list.
pub(crate) fn has_lb_ingress(obj: &Value) -> bool {
    obj.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

#[cfg(test)]
mod tests;
