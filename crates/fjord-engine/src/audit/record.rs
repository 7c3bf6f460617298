//! The audit record of one finished operation, built from what the controller already has:
//! the Application (before this reconcile's write), the operation's final state and the
//! objects as the sync saw them when it started ([`ObservedObject`]).

use super::changes::{FieldChange, is_secret_like, summarize};
use crate::diff::{DiffKind, ResourceDiff};
use crate::resource::ResourceKey;
use crate::types::{Application, OperationState, ResultCode, SyncOperation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The record format's version (`version` in every record).
pub const RECORD_VERSION: &str = "fjord.dev/audit/v1";

/// Sync or rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OperationKind {
    /// A sync (manual or automated).
    Sync,
    /// A rollback to a `status.history` entry.
    Rollback,
}

impl OperationKind {
    /// `sync` or `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Sync => "sync",
            OperationKind::Rollback => "rollback",
        }
    }

    /// A rollback is the sync Argo CD's rollback builds: the `apply` strategy with the
    /// history entry's `source` (and revision) named explicitly.
    pub fn of(sync: Option<&SyncOperation>) -> OperationKind {
        let rollback = sync.is_some_and(|s| {
            s.source.is_some()
                && s.sync_strategy
                    .as_ref()
                    .is_some_and(|st| st.get("apply").is_some())
        });
        if rollback {
            OperationKind::Rollback
        } else {
            OperationKind::Sync
        }
    }
}

/// What started the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// Automated sync found the Application out of sync (a poll, a resync, self-heal).
    Automated,
    /// Automated sync started in the reconcile a Git webhook's refresh requested.
    Webhook,
    /// A person or client set `operation` (`initiatedBy.username`).
    User,
}

/// Who or what started the operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Initiator {
    /// The kind of trigger.
    #[serde(rename = "type")]
    pub trigger: Trigger,
    /// `operation.initiatedBy.username`, for a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// The Application the record is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its AppProject.
    pub project: String,
}

/// What the operation did to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectAction {
    /// Created.
    Created,
    /// Changed (server-side apply or replace).
    Configured,
    /// Deleted as no longer desired.
    Pruned,
    /// Not deleted (prune not requested or disabled for it).
    PruneSkipped,
    /// Its apply or prune failed.
    Failed,
    /// A hook ran.
    Hook,
}

impl ObjectAction {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectAction::Created => "created",
            ObjectAction::Configured => "configured",
            ObjectAction::Pruned => "pruned",
            ObjectAction::PruneSkipped => "pruneSkipped",
            ObjectAction::Failed => "failed",
            ObjectAction::Hook => "hook",
        }
    }
}

/// One object of the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRecord {
    /// API group (empty for core).
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What happened.
    pub action: ObjectAction,
    /// For `configured`: the changed fields (values withheld for Secret-like kinds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Changes left out of `changes`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub changes_omitted: usize,
    /// For `failed` and hooks: the result's message (never for Secret-like kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The audit record of one finished sync or rollback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// [`RECORD_VERSION`].
    pub version: String,
    /// The Application.
    pub application: AppRef,
    /// Sync or rollback.
    pub operation: OperationKind,
    /// Who or what started it.
    pub initiated_by: Initiator,
    /// `Succeeded`, `Failed` or `Error` (a terminated operation ends `Failed`, "Operation
    /// terminated").
    pub phase: String,
    /// The operation's message.
    pub message: String,
    /// `operation.sync.dryRun`: nothing was changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The revision deployed before (the last `status.history` entry), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_before: Option<String>,
    /// The revision the operation synced to (also when it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_after: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Objects created, changed, pruned, failed, skipped, and hooks run.
    #[serde(default)]
    pub objects: Vec<ObjectRecord>,
    /// Objects applied without any change (not listed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unchanged: usize,
    /// Objects left out of `objects` to bound the record's size.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub objects_omitted: usize,
    /// The controller did not see the operation start (it restarted meanwhile): field changes
    /// of objects applied before the restart are unknown, and a webhook trigger reads
    /// `automated`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The controller replica that ran the operation (with sharding; its replica id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
}

/// An object as the sync found it before touching it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedObject {
    /// How desired and live related.
    pub diff: DiffKind,
    /// The changed fields (compared live → desired).
    pub changes: Vec<FieldChange>,
    /// Changes left out.
    pub changes_omitted: usize,
    /// Secret-like kind: no message is copied either.
    pub secret: bool,
}

/// Observes one object before the sync: its diff kind and field changes, computed on the
/// compared projections (`diff.live`, `diff.desired`), Secret values withheld.
pub fn observe_object(diff: &ResourceDiff) -> ObservedObject {
    let secret = diff.key.kind.ends_with("Secret")
        || diff.desired.as_ref().is_some_and(is_secret_like)
        || diff.live.as_ref().is_some_and(is_secret_like);
    let (changes, changes_omitted) = match (diff.kind, &diff.live, &diff.desired) {
        (DiffKind::Modified, Some(live), Some(desired)) => summarize(live, desired, secret),
        _ => (Vec::new(), 0),
    };
    ObservedObject {
        diff: diff.kind,
        changes,
        changes_omitted,
        secret,
    }
}

/// What [`build_record`] needs.
pub struct RecordInput<'a> {
    /// The Application as it was before this reconcile's write (its history does not yet
    /// hold this operation).
    pub app: &'a Application,
    /// The operation's final state.
    pub state: &'a OperationState,
    /// The operation started in a reconcile a webhook refresh requested.
    pub webhook: bool,
    /// The objects as the sync saw them first, by key.
    pub observed: &'a HashMap<ResourceKey, ObservedObject>,
    /// The controller did not see the operation start.
    pub partial: bool,
}

/// Builds the record.
pub fn build_record(input: &RecordInput<'_>) -> AuditRecord {
    let app = input.app;
    let state = input.state;
    let sync = state.operation.sync.as_ref();
    let by = state.operation.initiated_by.as_ref();
    let username = by
        .and_then(|b| b.username.clone())
        .filter(|u| !u.is_empty());
    let initiated_by = match (&username, by.and_then(|b| b.automated)) {
        (Some(_), _) => Initiator {
            trigger: Trigger::User,
            username,
        },
        (None, Some(true)) if input.webhook => Initiator {
            trigger: Trigger::Webhook,
            username: None,
        },
        (None, Some(true)) => Initiator {
            trigger: Trigger::Automated,
            username: None,
        },
        (None, _) => Initiator {
            trigger: Trigger::User,
            username: None,
        },
    };
    let mut objects = Vec::new();
    let mut unchanged = 0;
    let results = state
        .sync_result
        .as_ref()
        .map(|r| r.resources.as_slice())
        .unwrap_or(&[]);
    for r in results {
        let key = ResourceKey::new(&r.group, &r.kind, &r.namespace, &r.name);
        let seen = input.observed.get(&key);
        let secret = seen.is_some_and(|o| o.secret) || r.kind.ends_with("Secret");
        let mut rec = ObjectRecord {
            group: r.group.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            action: ObjectAction::Configured,
            changes: Vec::new(),
            changes_omitted: 0,
            message: None,
        };
        if r.hook_type.is_some() {
            rec.action = ObjectAction::Hook;
            rec.message = Some(format!(
                "{} {}",
                r.hook_type.as_deref().unwrap_or(""),
                r.hook_phase.as_deref().unwrap_or("")
            ));
            objects.push(rec);
            continue;
        }
        match r.status {
            Some(ResultCode::Pruned) => rec.action = ObjectAction::Pruned,
            Some(ResultCode::PruneSkipped) => rec.action = ObjectAction::PruneSkipped,
            Some(ResultCode::SyncFailed) => {
                rec.action = ObjectAction::Failed;
                rec.message = r.message.clone().filter(|_| !secret);
            }
            _ => match seen {
                Some(o) if o.diff == DiffKind::Unchanged => {
                    unchanged += 1;
                    continue;
                }
                Some(o) if o.diff == DiffKind::Missing => rec.action = ObjectAction::Created,
                Some(o) => {
                    rec.changes = o.changes.clone();
                    rec.changes_omitted = o.changes_omitted;
                }
                None => {
                    let created = r
                        .message
                        .as_deref()
                        .is_some_and(|m| m.trim_end_matches(" (dry run)").ends_with(" created"));
                    if created {
                        rec.action = ObjectAction::Created;
                    }
                }
            },
        }
        objects.push(rec);
    }
    let revision_before = app
        .status
        .as_ref()
        .and_then(|s| s.history.last())
        .and_then(|h| h.revision.clone());
    let revision_after = state
        .sync_result
        .as_ref()
        .map(|r| r.revision.clone())
        .filter(|r| !r.is_empty())
        .or_else(|| sync.and_then(|s| s.revision.clone()));
    AuditRecord {
        version: RECORD_VERSION.to_string(),
        application: AppRef {
            namespace: app.namespace().to_string(),
            name: app.name().to_string(),
            project: if app.spec.project.is_empty() {
                "default".to_string()
            } else {
                app.spec.project.clone()
            },
        },
        operation: OperationKind::of(sync),
        initiated_by,
        phase: format!("{:?}", state.phase),
        message: state.message.clone().unwrap_or_default(),
        dry_run: sync.and_then(|s| s.dry_run).unwrap_or(false),
        revision_before,
        revision_after,
        started_at: state.started_at.clone(),
        finished_at: state.finished_at.clone(),
        objects,
        unchanged,
        objects_omitted: 0,
        partial: input.partial,
        controller: None,
    }
}

impl AuditRecord {
    /// The record as one line of JSON.
    pub fn to_json(&self) -> String {
        // Plain data (strings, numbers, enums): serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The record as JSON of at most `max` bytes: each object's changes are cut to a few,
    /// then objects are left out from the end (counted in `objectsOmitted`).
    pub fn to_bounded_json(&self, max: usize) -> String {
        let full = self.to_json();
        if full.len() <= max {
            return full;
        }
        let mut r = self.clone();
        for o in &mut r.objects {
            if o.changes.len() > 5 {
                o.changes_omitted += o.changes.len() - 5;
                o.changes.truncate(5);
            }
        }
        loop {
            let text = r.to_json();
            if text.len() <= max || r.objects.is_empty() {
                return text;
            }
            // Drop about the share that is too much, at least one.
            let over = text.len() - max;
            let per = text.len() / r.objects.len().max(1);
            let drop = (over / per.max(1) + 1).min(r.objects.len());
            r.objects.truncate(r.objects.len() - drop);
            r.objects_omitted += drop;
        }
    }

    /// Counts of objects per action.
    pub fn counts(&self) -> Vec<(ObjectAction, usize)> {
        let mut out: Vec<(ObjectAction, usize)> = Vec::new();
        for o in &self.objects {
            match out.iter_mut().find(|(a, _)| *a == o.action) {
                Some((_, n)) => *n += 1,
                None => out.push((o.action, 1)),
            }
        }
        out
    }

    /// A one-line human summary: `sync by automated to abc1234: Succeeded; 1 created, 2
    /// configured, 1 pruned`.
    pub fn summary(&self) -> String {
        let who = match (&self.initiated_by.trigger, &self.initiated_by.username) {
            (Trigger::User, Some(u)) => format!("user {u}"),
            (Trigger::User, None) => "user".to_string(),
            (Trigger::Automated, _) => "automated".to_string(),
            (Trigger::Webhook, _) => "webhook".to_string(),
        };
        let mut s = format!(
            "{} by {who} to {}: {}",
            self.operation.as_str(),
            self.revision_after.as_deref().map(short).unwrap_or("?"),
            self.phase
        );
        let counts: Vec<String> = self
            .counts()
            .iter()
            .map(|(a, n)| format!("{n} {}", a.as_str()))
            .collect();
        if !counts.is_empty() {
            let _ = write!(s, "; {}", counts.join(", "));
        }
        if self.objects_omitted > 0 {
            let _ = write!(s, " ({} more not listed)", self.objects_omitted);
        }
        s
    }
}

/// The first 7 characters of a commit.
fn short(rev: &str) -> &str {
    rev.get(..7).unwrap_or(rev)
}
