//! ReplicaSet: a true ReplicaFailure condition is Degraded; otherwise all replicas must be
//! available once the spec is observed.

use super::{HealthStatus, HealthStatusCode::*, condition, int, opt_int};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    if int(obj, "/metadata/generation") > int(obj, "/status/observedGeneration") {
        return HealthStatus::new(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(c) = condition(obj, "ReplicaFailure")
        && c.get("status").and_then(Value::as_str) == Some("True")
    {
        let message = c.get("message").and_then(Value::as_str).unwrap_or("");
        return HealthStatus::new(Degraded, message);
    }
    let available = int(obj, "/status/availableReplicas");
    if let Some(want) = opt_int(obj, "/spec/replicas")
        && available < want
    {
        return HealthStatus::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} out of {want} new replicas are available..."
            ),
        );
    }
    HealthStatus::new(Healthy, "")
}
