//! Deployment: paused is Suspended; a missed progress deadline is Degraded; otherwise the
//! rollout must be observed, fully updated, old pods gone and updated pods available.

use super::{HealthStatus, HealthStatusCode::*, condition, int, opt_int, string};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    if obj.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return HealthStatus::new(Suspended, "Deployment is paused");
    }
    if int(obj, "/metadata/generation") > int(obj, "/status/observedGeneration") {
        return HealthStatus::new(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let name = string(obj, "/metadata/name");
    let updated = int(obj, "/status/updatedReplicas");
    let replicas = int(obj, "/status/replicas");
    let available = int(obj, "/status/availableReplicas");
    let progressing = condition(obj, "Progressing");
    if progressing
        .and_then(|c| c.get("reason"))
        .and_then(Value::as_str)
        == Some("ProgressDeadlineExceeded")
    {
        return HealthStatus::new(
            Degraded,
            format!("Deployment {name:?} exceeded its progress deadline"),
        );
    }
    if let Some(want) = opt_int(obj, "/spec/replicas")
        && updated < want
    {
        return HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."
            ),
        );
    }
    if replicas > updated {
        return HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        );
    }
    if available < updated {
        return HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    HealthStatus::new(Healthy, "")
}
