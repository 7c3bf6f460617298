//! DaemonSet: the spec must be observed; OnDelete is Healthy; otherwise every scheduled pod
//! must be updated and available.

use super::{HealthStatus, HealthStatusCode::*, int, string};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    if int(obj, "/metadata/generation") > int(obj, "/status/observedGeneration") {
        return HealthStatus::new(
            Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let name = string(obj, "/metadata/name");
    let updated = int(obj, "/status/updatedNumberScheduled");
    let desired = int(obj, "/status/desiredNumberScheduled");
    let available = int(obj, "/status/numberAvailable");
    if string(obj, "/spec/updateStrategy/type") == "OnDelete" {
        return HealthStatus::new(
            Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    if updated < desired {
        return HealthStatus::new(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    if available < desired {
        return HealthStatus::new(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        );
    }
    HealthStatus::new(Healthy, "")
}
