//! The audit records of an Application, read back from the core/v1 Events the controller
//! wrote (label `fjord.dev/audit=true`, record in the `fjord.dev/audit-record` annotation).
//! The records hold no Secret value (the engine withholds them when it builds a record), so
//! they are returned as they are. `GET /api/v1/applications/{name}/history` carries them
//! as `audit`; `fjord app history --core` reads them through [`records`] too.

use fjord_engine::audit::{AuditRecord, LABEL_AUDIT, records_from_events};
use fjord_engine::types::Application;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;

use super::error::ApiError;

/// The audit records about `app`, newest first.
///
/// Errors: [`ApiError::Cluster`] when the Events cannot be listed.
pub async fn records(
    client: &kube::Client,
    app: &Application,
) -> Result<Vec<AuditRecord>, ApiError> {
    let ns = app.namespace();
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels(&format!("{LABEL_AUDIT}=true")))
        .await
        .map_err(ApiError::cluster(format!(
            "listing the audit Events in {ns}"
        )))?;
    let events: Vec<Value> = list
        .items
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect();
    Ok(records_from_events(&events, ns, app.name()))
}
