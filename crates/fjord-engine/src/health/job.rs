//! Job: a Failed condition is Degraded, Complete Healthy, a true Suspended condition
//! Suspended (aggregated as Healthy); without one of them the Job is Progressing.

use super::{HealthStatus, HealthStatusCode::*, conditions};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    let mut failed = None;
    let mut complete = false;
    let mut suspended = false;
    let mut message = "";
    for c in conditions(obj) {
        let text = c.get("message").and_then(Value::as_str).unwrap_or("");
        match c.get("type").and_then(Value::as_str) {
            Some("Failed") => {
                failed = Some(text);
                complete = true;
            }
            Some("Complete") => {
                complete = true;
                message = text;
            }
            Some("Suspended") => {
                complete = true;
                message = text;
                suspended |= c.get("status").and_then(Value::as_str) == Some("True");
            }
            _ => {}
        }
    }
    if !complete {
        HealthStatus::new(Progressing, message)
    } else if let Some(fail) = failed {
        HealthStatus::new(Degraded, fail)
    } else if suspended {
        // Argo CD reports the (empty) failure message here, and lets a suspended Job
        // count as Healthy for the Application.
        HealthStatus {
            aggregate_as: Some(Healthy),
            ..HealthStatus::new(Suspended, failed.unwrap_or(""))
        }
    } else {
        HealthStatus::new(Healthy, message)
    }
}
