//! Events the simulated controllers record, as kube-controller-manager, the scheduler and the
//! kubelet do, so that `kubectl describe`, `kubectl get events` and Fjord's event views tell a
//! rollout's story (`ScalingReplicaSet`, `SuccessfulCreate`, `Scheduled`, `Started`, `BackOff`,
//! `Completed`, `BackoffLimitExceeded`).
//!
//! Like client-go's recorder, recording is best effort: a failed write is logged and never fails
//! the controller's step.

use serde_json::{Value, json};

use crate::object;
use crate::rest::Api;

/// Normal or Warning, as in `Event.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Severity {
    Normal,
    Warning,
}

/// One event about `involved`.
pub(super) struct EventRecord<'a> {
    pub severity: Severity,
    pub reason: &'a str,
    pub message: String,
    /// The reporting component (`deployment-controller`, `kubelet`, ...).
    pub component: &'a str,
}

/// The core/v1 Event for `record` about `involved`, named as the API server's clients name them
/// (`<object>.<hex timestamp>`).
fn event_object(involved: &Value, record: &EventRecord<'_>, now: &str, nanos: u128) -> Value {
    let name = object::name(involved);
    let namespace = object::meta_str(involved, "namespace")
        .filter(|ns| !ns.is_empty())
        .unwrap_or("default");
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": namespace},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion").cloned().unwrap_or(Value::Null),
            "kind": involved.get("kind").cloned().unwrap_or(Value::Null),
            "name": name,
            "namespace": object::meta_str(involved, "namespace"),
            "uid": object::meta_str(involved, "uid"),
            "resourceVersion": object::meta_str(involved, "resourceVersion"),
        },
        "reason": record.reason,
        "message": record.message,
        "type": match record.severity { Severity::Normal => "Normal", Severity::Warning => "Warning" },
        "source": {"component": record.component},
        "reportingComponent": record.component,
        "reportingInstance": "",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    })
}

impl Api {
    /// Records an Event about `involved`; failures are logged, not returned.
    pub(super) async fn record_event(&self, involved: &Value, record: EventRecord<'_>) {
        let Some(rt) = self.type_of("v1", "Event") else {
            return;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let event = event_object(involved, &record, &object::now(), nanos);
        if let Err(e) = self.controller_create(&rt, event, record.component).await {
            tracing::debug!(reason = record.reason, code = e.code, message = %e.message, "recording an event failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_the_involved_object_and_its_namespace() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "7"}});
        let record = EventRecord {
            severity: Severity::Warning,
            reason: "BackOff",
            message: "Back-off restarting failed container".into(),
            component: "kubelet",
        };
        let e = event_object(&pod, &record, "2026-11-29T10:00:00Z", 0xabc);
        assert_eq!(e["metadata"]["name"], "web-1.abc");
        assert_eq!(e["metadata"]["namespace"], "shop");
        assert_eq!(e["involvedObject"]["uid"], "u1");
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["source"]["component"], "kubelet");
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}});
        assert_eq!(
            event_object(&node, &record, "t", 1)["metadata"]["namespace"],
            "default"
        );
    }
}
