//! StatefulSet: the spec must be observed and all replicas ready; partitioned rolling
//! updates are judged on the partition; OnDelete is Healthy once ready; otherwise the
//! update revision must equal the current revision.

use super::{HealthStatus, HealthStatusCode::*, int, opt_int, string};
use serde_json::Value;

pub(super) fn health(obj: &Value) -> HealthStatus {
    let observed = int(obj, "/status/observedGeneration");
    if observed == 0 || int(obj, "/metadata/generation") > observed {
        return HealthStatus::new(
            Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let ready = int(obj, "/status/readyReplicas");
    let updated = int(obj, "/status/updatedReplicas");
    let want = opt_int(obj, "/spec/replicas");
    if let Some(want) = want
        && ready < want
    {
        return HealthStatus::new(
            Progressing,
            format!("Waiting for {} pods to be ready...", want - ready),
        );
    }
    let strategy = string(obj, "/spec/updateStrategy/type");
    if strategy == "RollingUpdate"
        && let (Some(want), Some(partition)) = (
            want,
            opt_int(obj, "/spec/updateStrategy/rollingUpdate/partition"),
        )
    {
        if updated < want - partition {
            return HealthStatus::new(
                Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    want - partition
                ),
            );
        }
        return HealthStatus::new(
            Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return HealthStatus::new(Healthy, format!("statefulset has {ready} ready pods"));
    }
    let update_rev = string(obj, "/status/updateRevision");
    let current_rev = string(obj, "/status/currentRevision");
    if update_rev != current_rev {
        return HealthStatus::new(
            Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}..."
            ),
        );
    }
    HealthStatus::new(
        Healthy,
        format!(
            "statefulset rolling update complete {} pods at revision {current_rev}...",
            int(obj, "/status/currentReplicas")
        ),
    )
}
