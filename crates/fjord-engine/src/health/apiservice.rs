//! APIService (apiregistration.k8s.io v1 and v1beta1): the `Available` condition decides —
//! True is Healthy, anything else Progressing, both with "reason: message"; without the
//! condition it is Progressing "Waiting to be processed".

use super::{HealthStatus, HealthStatusCode::*, conditions};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    for c in conditions(obj) {
        if c.get("type").and_then(Value::as_str) != Some("Available") {
            continue;
        }
        let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        let message = format!("{}: {}", field("reason"), field("message"));
        let status = if field("status") == "True" {
            Healthy
        } else {
            Progressing
        };
        return HealthStatus::new(status, message);
    }
    HealthStatus::new(Progressing, "Waiting to be processed")
}
