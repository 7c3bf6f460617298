//! Service: a LoadBalancer is Healthy once it has an ingress address, else Progressing;
//! every other type is Healthy.

use super::{HealthStatus, HealthStatusCode::*, has_lb_ingress, string};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    if string(obj, "/spec/type") == "LoadBalancer" && !has_lb_ingress(obj) {
        return HealthStatus::new(Progressing, "");
    }
    HealthStatus::new(Healthy, "")
}
