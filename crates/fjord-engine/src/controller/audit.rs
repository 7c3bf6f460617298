//! Writing the audit trail (see [`crate::audit`]): the objects of a running operation are
//! observed before each sync step touches them, and when the operation finishes its record
//! goes to the log (one JSON line, target `fjord::audit`) and to a core/v1 Event on the
//! Application, the Event retried a few times. An Event that still cannot be written is
//! logged as an error naming the Application and operation, counted
//! ([`crate::audit::write_failures`]) and shown as the `AuditWriteError` condition until a
//! later record is written.
//!
//! What an operation touched is kept in memory between its steps (a sync waits for health
//! between waves, one reconcile per step), keyed by the Application and the operation's
//! start: a controller that restarts mid-operation writes a record marked `partial`.

use super::Context;
use super::sync::Item;
use crate::audit::{self, AuditRecord, ObservedObject, RecordInput};
use crate::resource::ResourceKey;
use crate::status::{clear_condition, set_condition};
use crate::types::{Application, ApplicationStatus};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Api;
use kube::api::PostParams;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Delays before the second and third attempt to write the Event.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];
/// Operations still tracked after this long are dropped (their Application went away).
const TRACK_TTL: Duration = Duration::from_secs(24 * 3600);
/// Finished operations remembered so that one finishing twice (its status write failed and
/// the next reconcile finished it again) writes one record.
const FINISHED_REMEMBERED: usize = 4096;

struct Track {
    webhook: bool,
    objects: HashMap<ResourceKey, ObservedObject>,
    since: Instant,
}

#[derive(Default)]
struct Tracks {
    running: HashMap<(String, String), Track>,
    /// Application, start, revision, initiator and phase of the operations written: starts
    /// have one-second resolution, so the start alone does not tell two operations apart.
    finished: VecDeque<(String, String, String)>,
}

static TRACKS: LazyLock<Mutex<Tracks>> = LazyLock::new(Mutex::default);

fn op_key(app: &Application, started: &str) -> (String, String) {
    let id = app
        .metadata
        .uid
        .clone()
        .unwrap_or_else(|| format!("{}/{}", app.namespace(), app.name()));
    (id, started.to_string())
}

/// Records each of `items` that this operation (started at `started`) has not seen yet, as
/// it is before the coming sync step; the first call also notes whether a webhook refresh
/// requested this reconcile.
pub(crate) fn observe(app: &Application, started: &str, items: &[Item]) {
    let key = op_key(app, started);
    let Ok(mut tracks) = TRACKS.lock() else {
        return;
    };
    tracks.running.retain(|_, t| t.since.elapsed() < TRACK_TTL);
    let track = tracks.running.entry(key).or_insert_with(|| Track {
        webhook: app.annotation(audit::ANNOTATION_REFRESH_SOURCE)
            == Some(audit::REFRESH_SOURCE_WEBHOOK),
        objects: HashMap::new(),
        since: Instant::now(),
    });
    for item in items {
        track
            .objects
            .entry(item.key.clone())
            .or_insert_with(|| audit::observe_object(&item.diff));
    }
}

/// The record of the operation that just finished (`status.operation_state`), or `None`
/// when it was written already.
fn take_record(app: &Application, status: &ApplicationStatus) -> Option<AuditRecord> {
    let state = status.operation_state.as_ref()?;
    let key = op_key(app, &state.started_at);
    let identity = format!(
        "{} {:?} {:?}",
        state
            .sync_result
            .as_ref()
            .map(|r| r.revision.as_str())
            .unwrap_or(""),
        state.operation.initiated_by,
        state.phase
    );
    let done = (key.0.clone(), key.1.clone(), identity);
    let mut tracks = TRACKS.lock().ok()?;
    if tracks.finished.contains(&done) {
        return None;
    }
    let track = tracks.running.remove(&key);
    tracks.finished.push_back(done);
    if tracks.finished.len() > FINISHED_REMEMBERED {
        tracks.finished.pop_front();
    }
    drop(tracks);
    let empty = HashMap::new();
    Some(audit::build_record(&RecordInput {
        app,
        state,
        webhook: track.as_ref().is_some_and(|t| t.webhook),
        observed: track.as_ref().map(|t| &t.objects).unwrap_or(&empty),
        // An operation that failed before its first step touched nothing: nothing is missing.
        partial: track.is_none()
            && state
                .sync_result
                .as_ref()
                .is_some_and(|r| !r.resources.is_empty()),
    }))
}

/// Writes the audit record of the operation that finished in `status.operation_state`: the
/// JSON log line, then the `OperationCompleted` Event (type Warning unless it succeeded)
/// whose message is `message` followed by the record's summary.
///
/// Guarantees: the log line is written first, whatever happens to the Event. The Event is
/// tried three times; when all fail, an error is logged, [`audit::write_failures`] grows and
/// `status` gets the `AuditWriteError` condition, which the next written record clears.
///
/// Errors: none returned (a failed Event must not fail the reconcile that finished the
/// operation); they are reported as above.
pub(crate) async fn completed(
    ctx: &Context,
    app: &Application,
    status: &mut ApplicationStatus,
    warning: bool,
    message: &str,
) {
    let replica = ctx.config.shard.as_ref().map(|s| s.replica_id());
    write(&ctx.client, app, status, warning, message, replica).await;
}

/// [`completed`] through `client` (the controller's own cluster).
async fn write(
    client: &kube::Client,
    app: &Application,
    status: &mut ApplicationStatus,
    warning: bool,
    message: &str,
    replica: Option<&str>,
) {
    let Some(mut record) = take_record(app, status) else {
        return;
    };
    record.controller = replica.map(str::to_string);
    let json = record.to_json();
    tracing::info!(target: audit::LOG_TARGET, record = %json);
    let event = audit_event(app, &record, warning, message);
    let api: Api<Event> = Api::namespaced(client.clone(), app.namespace());
    let mut last_error = None;
    for attempt in 0..=RETRY_DELAYS.len() {
        if attempt > 0 {
            tokio::time::sleep(RETRY_DELAYS[attempt - 1]).await;
        }
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                clear_condition(&mut status.conditions, audit::CONDITION_AUDIT_WRITE_ERROR);
                return;
            }
            Err(e) => {
                tracing::warn!(attempt = attempt + 1, error = %e, "writing the audit Event failed");
                last_error = Some(e);
            }
        }
    }
    audit::count_write_failure();
    let error = last_error.map(|e| e.to_string()).unwrap_or_default();
    let what = format!(
        "the audit record of the {} of {}/{} started at {} could not be written as an Event: {error}",
        record.operation.as_str(),
        app.namespace(),
        app.name(),
        record.started_at
    );
    tracing::error!(
        app = %format!("{}/{}", app.namespace(), app.name()),
        operation = record.operation.as_str(),
        started_at = %record.started_at,
        error = %error,
        "audit record not written as an Event"
    );
    set_condition(
        &mut status.conditions,
        audit::CONDITION_AUDIT_WRITE_ERROR,
        &what,
        &super::now(),
    );
}

fn audit_event(app: &Application, record: &AuditRecord, warning: bool, message: &str) -> Event {
    let ts = k8s_openapi::jiff::Timestamp::now();
    let ns = app.namespace().to_string();
    let annotations = BTreeMap::from([(
        audit::ANNOTATION_RECORD.to_string(),
        record.to_bounded_json(audit::MAX_EVENT_RECORD_BYTES),
    )]);
    let labels = BTreeMap::from([(audit::LABEL_AUDIT.to_string(), "true".to_string())]);
    Event {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}.", app.name())),
            namespace: Some(ns.clone()),
            annotations: Some(annotations),
            labels: Some(labels),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(crate::types::API_VERSION.to_string()),
            kind: Some("Application".to_string()),
            name: Some(app.name().to_string()),
            namespace: Some(ns),
            uid: app.metadata.uid.clone(),
            resource_version: app.metadata.resource_version.clone(),
            ..Default::default()
        },
        reason: Some(audit::EVENT_REASON.to_string()),
        message: Some(format!("{message} ({})", record.summary())),
        type_: Some(if warning { "Warning" } else { "Normal" }.to_string()),
        source: Some(EventSource {
            component: Some(EVENT_COMPONENT.to_string()),
            host: None,
        }),
        reporting_component: Some(EVENT_COMPONENT.to_string()),
        reporting_instance: Some("fjord".to_string()),
        first_timestamp: Some(Time(ts)),
        last_timestamp: Some(Time(ts)),
        event_time: Some(MicroTime(ts)),
        count: Some(1),
        action: Some(record.operation.as_str().to_string()),
        ..Default::default()
    }
}

/// The component the controller's other Events name.
const EVENT_COMPONENT: &str = "fjord-application-controller";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::Arc;

    /// A client whose API answers every request with `code`, keeping the request bodies.
    fn client(code: u16, bodies: Arc<Mutex<Vec<Value>>>) -> kube::Client {
        let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let bodies = bodies.clone();
            async move {
                use http_body_util::BodyExt;
                let bytes = req.into_body().collect().await.map(|b| b.to_bytes());
                if let Ok(b) = bytes {
                    bodies
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&b).unwrap_or(Value::Null));
                }
                let body = if code < 300 {
                    json!({"apiVersion": "v1", "kind": "Event",
                           "metadata": {"name": "shop.1", "namespace": "argocd"}, "involvedObject": {}})
                } else {
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                           "message": "the store is unavailable", "reason": "InternalError", "code": code})
                };
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .status(code)
                        .header("content-type", "application/json")
                        .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                )
            }
        });
        kube::Client::new(svc, "argocd")
    }

    fn app_and_status(started: &str) -> (Application, ApplicationStatus) {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd", "uid": "audit-test"},
            "spec": {"destination": {}}
        }))
        .unwrap();
        let status: ApplicationStatus = serde_json::from_value(json!({
            "operationState": {
                "operation": {"sync": {"revision": "abc"}, "initiatedBy": {"username": "alice"}},
                "phase": "Succeeded", "message": "ok", "startedAt": started,
                "finishedAt": started,
                "syncResult": {"revision": "abc", "resources": [
                    {"group": "", "version": "v1", "kind": "ConfigMap", "namespace": "shop",
                     "name": "settings", "status": "Synced", "message": "configmap/settings configured"}
                ]}
            }
        }))
        .unwrap();
        (app, status)
    }

    #[tokio::test]
    async fn an_event_that_cannot_be_written_is_retried_counted_and_shown_until_one_is() {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let failing = client(500, bodies.clone());
        let (app, mut status) = app_and_status("2024-01-01T00:00:01Z");
        let before = audit::write_failures();
        write(
            &failing,
            &app,
            &mut status,
            false,
            "Sync operation to abc succeeded",
            None,
        )
        .await;
        assert_eq!(bodies.lock().unwrap().len(), 3, "three attempts");
        assert!(audit::write_failures() > before);
        let condition = status
            .conditions
            .iter()
            .find(|c| c.condition_type == audit::CONDITION_AUDIT_WRITE_ERROR)
            .expect("the condition is set");
        assert!(
            condition.message.contains("argocd/shop") && condition.message.contains("sync"),
            "{}",
            condition.message
        );
        // The same operation finishing again writes nothing more.
        write(&failing, &app, &mut status, false, "again", None).await;
        assert_eq!(bodies.lock().unwrap().len(), 3);

        // A later record that is written clears the condition.
        let ok_bodies = Arc::new(Mutex::new(Vec::new()));
        let working = client(201, ok_bodies.clone());
        let (_, mut next) = app_and_status("2024-01-01T00:00:02Z");
        next.conditions = status.conditions.clone();
        write(
            &working,
            &app,
            &mut next,
            false,
            "Sync operation to abc succeeded",
            None,
        )
        .await;
        assert!(
            next.conditions
                .iter()
                .all(|c| c.condition_type != audit::CONDITION_AUDIT_WRITE_ERROR)
        );
        let sent = ok_bodies.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let event = &sent[0];
        assert_eq!(event["reason"], "OperationCompleted");
        assert_eq!(event["metadata"]["labels"][audit::LABEL_AUDIT], "true");
        let record: audit::AuditRecord = serde_json::from_str(
            event["metadata"]["annotations"][audit::ANNOTATION_RECORD]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(record.initiated_by.username.as_deref(), Some("alice"));
        assert!(
            record.partial,
            "this controller never saw the operation start"
        );
        assert!(
            event["message"]
                .as_str()
                .unwrap()
                .starts_with("Sync operation to abc succeeded (sync by user alice to abc")
        );
    }
}
