//! Application (argoproj.io), for app-of-apps: the child's own `status.health` (status and
//! message); Progressing until the child has reported one. Argo CD dropped this built-in in
//! v1.8 and documents it as a Lua customization that sync waves across child Applications
//! need; Fjord ships it built in (an `argocd-cm` script for `argoproj.io_Application` still
//! wins).

use super::{HealthStatus, HealthStatusCode, string};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    let Some(h) = obj.pointer("/status/health") else {
        return HealthStatus::new(HealthStatusCode::Progressing, "");
    };
    match h
        .get("status")
        .cloned()
        .and_then(|s| serde_json::from_value::<HealthStatusCode>(s).ok())
    {
        Some(code) => HealthStatus::new(code, string(obj, "/status/health/message")),
        None => HealthStatus::new(HealthStatusCode::Progressing, ""),
    }
}
