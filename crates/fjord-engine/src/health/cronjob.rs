//! CronJob, after Argo CD's bundled Lua check: suspended counts as Healthy (Argo CD
//! stopped reporting Suspended, #24428); a running job or a never-successful schedule is
//! Healthy with a warning message; a last success older than the last schedule with no
//! active job is Degraded; no status yet is Progressing.

use super::{HealthStatus, HealthStatusCode::*};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return HealthStatus::new(Healthy, "CronJob is Suspended");
    }
    let Some(status) = obj.get("status").filter(|s| s.is_object()) else {
        return HealthStatus::new(Progressing, "Waiting for CronJob");
    };
    let time = |k: &str| status.get(k).and_then(Value::as_str);
    let Some(scheduled) = time("lastScheduleTime") else {
        return HealthStatus::new(Healthy, "CronJob has not been scheduled yet");
    };
    let Some(succeeded) = time("lastSuccessfulTime") else {
        return HealthStatus::new(
            Healthy,
            "The Cronjob never completed succesfully. It may not be healthy",
        );
    };
    if status
        .get("active")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return HealthStatus::new(
            Healthy,
            "The job is running. Its last execution may not have been successful",
        );
    }
    // RFC 3339 times in one format compare correctly as strings.
    if succeeded < scheduled {
        return HealthStatus::new(
            Degraded,
            "CronJob has not completed its last execution successfully",
        );
    }
    HealthStatus::new(
        Healthy,
        "CronJob has completed its last execution successfully",
    )
}
