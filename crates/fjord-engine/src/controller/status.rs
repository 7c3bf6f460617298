//! Writing what a reconcile found: `.status` (through the main resource: Argo CD's CRD has
//! no status subresource) and a core/v1 Event per sync.
//!
//! The status is written with a JSON merge patch computed against what the Application
//! holds, with explicit nulls for removed fields, and only when something changed: writing
//! the Application triggers the next reconcile, so an unconditional write would loop.

use super::{Context, ControllerError, kube_err};
use crate::resource::ANNOTATION_REFRESH;
use crate::types::{Application, ApplicationStatus};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Map, Value};

/// An RFC 7386 merge patch turning `old` into `new` (nulls for removed keys).
pub(crate) fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(p) = merge_patch(ov, nv) {
                            out.insert(k.clone(), p);
                        }
                    }
                    None => {
                        out.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

/// What to change on the Application besides its status.
#[derive(Default)]
pub(crate) struct Cleanup {
    /// The completed `operation` is removed.
    pub clear_operation: bool,
    /// The refresh annotation is removed.
    pub clear_refresh: bool,
}

/// Writes `status` (and the cleanup) when anything differs; true when a write happened.
pub(crate) async fn write(
    ctx: &Context,
    app: &Application,
    mut status: ApplicationStatus,
    cleanup: Cleanup,
    fresh_reconciled_at: bool,
) -> Result<bool, ControllerError> {
    let json_err = |source| ControllerError::Json {
        step: format!("encoding the status of {}/{}", app.namespace(), app.name()),
        source,
    };
    let old = match &app.status {
        Some(s) => serde_json::to_value(s).map_err(json_err)?,
        None => Value::Object(Map::new()),
    };
    // Unchanged apart from the timestamp: keep the old one unless a fresh one is due.
    if !fresh_reconciled_at {
        status.reconciled_at = app
            .status
            .as_ref()
            .and_then(|s| s.reconciled_at.clone())
            .or(status.reconciled_at);
    }
    let new = serde_json::to_value(&status).map_err(json_err)?;
    let mut patch = Map::new();
    if let Some(p) = merge_patch(&old, &new) {
        patch.insert("status".into(), p);
    }
    if cleanup.clear_operation && app.operation.is_some() {
        patch.insert("operation".into(), Value::Null);
    }
    if cleanup.clear_refresh && app.annotation(ANNOTATION_REFRESH).is_some() {
        patch.insert(
            "metadata".into(),
            serde_json::json!({"annotations": {ANNOTATION_REFRESH: null}}),
        );
    }
    // The webhook's mark goes with the refresh it came with (the audit trail read it).
    let source = crate::audit::ANNOTATION_REFRESH_SOURCE;
    if cleanup.clear_refresh && app.annotation(source).is_some() {
        patch.insert(
            "metadata".into(),
            serde_json::json!({"annotations": {ANNOTATION_REFRESH: null, source: null}}),
        );
    }
    if patch.is_empty() {
        return Ok(false);
    }
    let api: Api<Application> = Api::namespaced(ctx.client.clone(), app.namespace());
    let written = api
        .patch(
            app.name(),
            &PatchParams::default(),
            &Patch::Merge(Value::Object(patch)),
        )
        .await
        .map_err(kube_err(format!(
            "writing the status of {}/{}",
            app.namespace(),
            app.name()
        )))?;
    ctx.written.record(&written);
    Ok(true)
}

/// Records a core/v1 Event on the Application; failures are logged, not fatal.
pub(crate) async fn event(
    ctx: &Context,
    app: &Application,
    warning: bool,
    reason: &str,
    message: &str,
) {
    let ts = k8s_openapi::jiff::Timestamp::now();
    let ns = app.namespace().to_string();
    let ev = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", app.name())),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(crate::types::API_VERSION.to_string()),
            kind: Some("Application".to_string()),
            name: Some(app.name().to_string()),
            namespace: Some(ns.clone()),
            uid: app.metadata.uid.clone(),
            resource_version: app.metadata.resource_version.clone(),
            ..Default::default()
        },
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        type_: Some(if warning { "Warning" } else { "Normal" }.to_string()),
        source: Some(EventSource {
            component: Some("fjord-application-controller".to_string()),
            host: None,
        }),
        reporting_component: Some("fjord-application-controller".to_string()),
        reporting_instance: Some("fjord".to_string()),
        first_timestamp: Some(Time(ts)),
        last_timestamp: Some(Time(ts)),
        event_time: Some(MicroTime(ts)),
        count: Some(1),
        action: Some("Sync".to_string()),
        ..Default::default()
    };
    let api: Api<Event> = Api::namespaced(ctx.client.clone(), &ns);
    if let Err(e) = api.create(&PostParams::default(), &ev).await {
        tracing::warn!(error = %e, reason, "could not record an event");
    }
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_nulls_removed_keys_and_skips_equal_values() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        let new = json!({"a": 1, "b": {"c": 2}, "e": [2], "f": "x"});
        assert_eq!(
            merge_patch(&old, &new),
            Some(json!({"b": {"d": null}, "e": [2], "f": "x"}))
        );
        assert_eq!(merge_patch(&old, &old), None);
    }
}
