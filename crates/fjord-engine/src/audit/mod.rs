//! The audit trail: one structured record per finished sync or rollback — who or what
//! started it, the Application, the revisions before and after, and each object created,
//! changed (with its changed fields) or pruned, Secret values withheld.
//!
//! ```text
//! sync start ─▶ observe_object (diff of each object, before it is touched)
//! operation end ─▶ build_record ─▶ JSON log line (target `fjord::audit`, field `record`)
//!                                └▶ core/v1 Event on the Application, reason
//!                                   `OperationCompleted`, record in the `fjord.dev/audit-record`
//!                                   annotation (bounded), label `fjord.dev/audit=true`
//! ```
//!
//! This module is pure (records, masking, reading records back from Events); the controller
//! writes them (`controller::audit`) and counts the Events it could not write
//! ([`write_failures`]).

mod changes;
mod record;

pub use changes::{ChangeKind, FieldChange, MAX_CHANGES_PER_OBJECT, is_secret_like, summarize};
pub use record::{
    AppRef, AuditRecord, Initiator, ObjectAction, ObjectRecord, ObservedObject, OperationKind,
    RECORD_VERSION, RecordInput, Trigger, build_record, observe_object,
};

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// The tracing target of the audit log line; its single field `record` is the JSON record.
pub const LOG_TARGET: &str = "fjord::audit";
/// The Event annotation holding the record as JSON.
pub const ANNOTATION_RECORD: &str = "fjord.dev/audit-record";
/// The Event label that marks audit Events (`fjord.dev/audit=true`).
pub const LABEL_AUDIT: &str = "fjord.dev/audit";
/// The Event reason (Argo CD's, for a finished operation).
pub const EVENT_REASON: &str = "OperationCompleted";
/// Set beside `argocd.argoproj.io/refresh` by Fjord's webhook receiver (value `webhook`): an
/// automated sync that starts in the reconcile it requests is recorded as webhook-triggered.
/// The controller removes it with the refresh annotation.
pub const ANNOTATION_REFRESH_SOURCE: &str = "fjord.dev/refresh-source";
/// The value of [`ANNOTATION_REFRESH_SOURCE`] the webhook receiver sets.
pub const REFRESH_SOURCE_WEBHOOK: &str = "webhook";
/// The Application condition set while an audit record could not be written as an Event
/// (not an Argo CD type; Argo CD's CRD allows any).
pub const CONDITION_AUDIT_WRITE_ERROR: &str = "AuditWriteError";
/// Largest record kept in the Event annotation (Kubernetes allows 256 KiB of annotations).
pub const MAX_EVENT_RECORD_BYTES: usize = 32 * 1024;

static WRITE_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Audit records whose Event could not be written (after retries), since the process
/// started: for a metric such as `fjord_audit_write_failures_total`.
pub fn write_failures() -> u64 {
    WRITE_FAILURES.load(Ordering::Relaxed)
}

/// Counts one record that could not be written.
pub(crate) fn count_write_failure() {
    WRITE_FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// The audit records in `events` (core/v1 Events as JSON) about the Application
/// `namespace/name`, newest first: by the Event's `eventTime` (microseconds; operations
/// start and finish with one-second resolution), then the record's `finishedAt`. Events
/// without a parsable record are skipped.
pub fn records_from_events(events: &[Value], namespace: &str, name: &str) -> Vec<AuditRecord> {
    let when = |e: &Value| -> String {
        ["eventTime", "lastTimestamp", "firstTimestamp"]
            .iter()
            .find_map(|k| e.get(*k).and_then(Value::as_str).map(String::from))
            .unwrap_or_default()
    };
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(parse_time(&when(e))));
    let mut out: Vec<AuditRecord> = sorted
        .into_iter()
        .filter(|e| {
            let io = e.get("involvedObject").unwrap_or(&Value::Null);
            let s = |k: &str| io.get(k).and_then(Value::as_str).unwrap_or("");
            s("kind") == "Application" && s("name") == name && s("namespace") == namespace
        })
        .filter_map(|e| {
            let text = e
                .pointer("/metadata/annotations")?
                .get(ANNOTATION_RECORD)?
                .as_str()?;
            serde_json::from_str::<AuditRecord>(text).ok()
        })
        .collect();
    out.dedup();
    out
}

/// An RFC 3339 time as microseconds since the epoch (0 when unparsable).
fn parse_time(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_micros())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
