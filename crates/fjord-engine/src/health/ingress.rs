//! Ingress (networking.k8s.io and extensions): Healthy once the load balancer reports an
//! address, else Progressing (Argo CD's rule, including its known "stuck Progressing" on
//! controllers that never publish an address).

use super::{HealthStatus, HealthStatusCode::*, has_lb_ingress};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    if has_lb_ingress(obj) {
        HealthStatus::new(Healthy, "")
    } else {
        HealthStatus::new(Progressing, "")
    }
}
