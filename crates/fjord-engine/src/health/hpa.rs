//! HorizontalPodAutoscaler (autoscaling v1, v2beta1, v2beta2, v2): the first condition that
//! is a known failure (`AbleToScale` failing to get or update the scale, `ScalingActive`
//! failing to get metrics, to compute replicas, or with an invalid selector) gives Degraded,
//! the first `AbleToScale` or `ScalingLimited` condition that is True gives Healthy, each
//! with the condition's message; otherwise Progressing "Waiting to Autoscale". autoscaling/v1
//! keeps its conditions as JSON in the `autoscaling.alpha.kubernetes.io/conditions`
//! annotation.

use super::{HealthStatus, HealthStatusCode::*, conditions};
use serde_json::Value;

const V1_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

fn is_degraded(ty: &str, reason: &str) -> bool {
    match ty {
        "AbleToScale" => matches!(reason, "FailedGetScale" | "FailedUpdateScale"),
        "ScalingActive" => {
            (reason.starts_with("FailedGet") && reason.ends_with("Metric"))
                || matches!(reason, "FailedComputeMetricsReplicas" | "InvalidSelector")
        }
        _ => false,
    }
}

pub(super) fn health(obj: &Value) -> HealthStatus {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let from_annotation: Vec<Value>;
    let list: &[Value] = if api_version == "autoscaling/v1" {
        from_annotation = obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(V1_CONDITIONS))
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        &from_annotation
    } else {
        conditions(obj)
    };
    for c in list {
        let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        let (ty, message) = (field("type"), field("message"));
        if is_degraded(ty, field("reason")) {
            return HealthStatus::new(Degraded, message);
        }
        if matches!(ty, "AbleToScale" | "ScalingLimited") && field("status") == "True" {
            return HealthStatus::new(Healthy, message);
        }
    }
    HealthStatus::new(Progressing, "Waiting to Autoscale")
}
