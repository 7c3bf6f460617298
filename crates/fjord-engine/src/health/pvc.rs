//! PersistentVolumeClaim: Bound is Healthy, Pending Progressing, Lost Degraded, anything
//! else Unknown.

use super::{HealthStatus, HealthStatusCode::*, string};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    let status = match string(obj, "/status/phase") {
        "Bound" => Healthy,
        "Pending" => Progressing,
        "Lost" => Degraded,
        _ => Unknown,
    };
    HealthStatus::new(status, "")
}
