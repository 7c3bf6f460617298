//! `Application.status` in Argo CD's shape: what the controller reports.
//!
//! The enums (`SyncStatusCode`, `HealthStatusCode`, `OperationPhase`, `ResultCode`) carry
//! Argo CD's exact wire strings, so tools written for Argo CD read Fjord's status unchanged.

use super::spec::{
    ApplicationDestination, ApplicationSource, Extra, ManagedNamespaceMetadata, Operation,
    OperationInitiator, ResourceIgnoreDifferences,
};
use serde::{Deserialize, Serialize};

/// `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Per-object sync and health.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// Application sync status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    /// Application health (worst of its objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<AppHealthStatus>,
    /// Past syncs, newest last, capped by `revisionHistoryLimit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RevisionHistory>,
    /// Errors and warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ApplicationCondition>,
    /// Last reconcile against the latest Git state (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// The running or last operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// `Directory`, `Kustomize`, `Helm`, `Plugin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// Per-source types (multi-source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_types: Vec<String>,
    /// Images and URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ApplicationSummary>,
    /// Namespace of the controller that reconciled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_namespace: Option<String>,
    /// Unmodelled fields (observedAt, sourceHydrator, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// Synced, OutOfSync or Unknown (also for an empty or unrecognised value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncStatusCode {
    /// Live matches desired.
    Synced,
    /// Live differs from desired.
    OutOfSync,
    /// Could not be compared.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Argo CD's health codes. The derived order is Argo CD's `healthOrder`, best first:
/// `a > b` means `a` is worse.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum HealthStatusCode {
    /// Working as intended.
    Healthy,
    /// Paused or suspended on purpose.
    Suspended,
    /// Not yet healthy, may become so.
    Progressing,
    /// Not in the cluster.
    Missing,
    /// Failed or failing.
    Degraded,
    /// Health could not be assessed (also for an empty or unrecognised value).
    #[default]
    #[serde(other)]
    Unknown,
}

/// `status.sync`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Synced, OutOfSync or Unknown.
    #[serde(default)]
    pub status: SyncStatusCode,
    /// What the status was computed against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_to: Option<ComparedTo>,
    /// Resolved commit SHA (single source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Resolved commit SHAs (multi-source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
}

/// `status.sync.comparedTo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparedTo {
    /// The single source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// The sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// The destination.
    #[serde(default)]
    pub destination: ApplicationDestination,
    /// The ignore rules in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
}

/// `status.health` (Application level).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppHealthStatus {
    /// The code.
    #[serde(default)]
    pub status: HealthStatusCode,
    /// Why (deprecated at application level, still written by older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// Health of one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceHealth {
    /// The code.
    #[serde(default)]
    pub status: HealthStatusCode,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One `status.resources` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// API group (empty for core).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Namespace (empty for cluster-scoped).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Sync status of this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SyncStatusCode>,
    /// Health of this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ResourceHealth>,
    /// True for a hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<bool>,
    /// Live but no longer rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_pruning: Option<bool>,
    /// The object's sync wave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_wave: Option<i64>,
    /// Deletion waits for confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_deletion_confirmation: Option<bool>,
}

/// Phase of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationPhase {
    /// In progress.
    Running,
    /// Being stopped.
    Terminating,
    /// Finished unsuccessfully.
    Failed,
    /// Could not run.
    Error,
    /// Finished successfully.
    Succeeded,
}

impl OperationPhase {
    /// True for Failed, Error and Succeeded.
    pub fn is_completed(self) -> bool {
        matches!(self, Self::Failed | Self::Error | Self::Succeeded)
    }
}

/// `status.operationState`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// The operation being run.
    #[serde(default)]
    pub operation: Operation,
    /// Phase.
    pub phase: OperationPhase,
    /// Human-readable progress or failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Result of the sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncOperationResult>,
    /// Start (RFC 3339).
    #[serde(default)]
    pub started_at: String,
    /// End (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Attempts so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i64>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `operationState.syncResult`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperationResult {
    /// Per-object results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceResult>,
    /// The synced revision.
    #[serde(default)]
    pub revision: String,
    /// The synced revisions (multi-source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// The synced source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// The synced sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// Namespace metadata applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
}

/// What happened to one object during a sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResultCode {
    /// Applied.
    Synced,
    /// Apply failed.
    SyncFailed,
    /// Deleted.
    Pruned,
    /// Left in place (`Prune=false` or prune not requested).
    PruneSkipped,
}

/// One `syncResult.resources` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResultCode>,
    /// Detail, e.g. `deployment.apps/x configured`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Hook type, for hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_type: Option<String>,
    /// Hook phase, for hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_phase: Option<String>,
    /// PreSync, Sync, PostSync, SyncFail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_phase: Option<String>,
    /// Images of the object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

/// One `status.history` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionHistory {
    /// Increasing id.
    #[serde(default)]
    pub id: i64,
    /// Deployed revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Deployed revisions (multi-source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<String>,
    /// Deployed source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Deployed sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// End of the sync (RFC 3339).
    #[serde(default)]
    pub deployed_at: String,
    /// Start of the sync (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_at: Option<String>,
    /// Who started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
}

/// Appends `entry` with the next id and drops the oldest entries beyond `limit` (Argo CD
/// keeps at least one entry even for a limit of 0 or less).
pub fn push_history(history: &mut Vec<RevisionHistory>, mut entry: RevisionHistory, limit: i64) {
    entry.id = history.iter().map(|h| h.id + 1).max().unwrap_or(0);
    history.push(entry);
    let keep = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    if history.len() > keep {
        let drop = history.len() - keep;
        history.drain(..drop);
    }
}

/// `status.conditions[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationCondition {
    /// `ComparisonError`, `SyncError`, `InvalidSpecError`, ... (see [`condition_type`]).
    #[serde(rename = "type", default)]
    pub condition_type: String,
    /// Detail.
    #[serde(default)]
    pub message: String,
    /// When it was first seen (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// Argo CD's condition types.
pub mod condition_type {
    /// Deleting the Application's objects failed.
    pub const DELETION_ERROR: &str = "DeletionError";
    /// The spec is invalid.
    pub const INVALID_SPEC_ERROR: &str = "InvalidSpecError";
    /// Fetching, rendering or comparing failed.
    pub const COMPARISON_ERROR: &str = "ComparisonError";
    /// The sync failed.
    pub const SYNC_ERROR: &str = "SyncError";
    /// Anything else.
    pub const UNKNOWN_ERROR: &str = "UnknownError";
    /// An object is also managed by another Application.
    pub const SHARED_RESOURCE_WARNING: &str = "SharedResourceWarning";
    /// An object is rendered more than once.
    pub const REPEATED_RESOURCE_WARNING: &str = "RepeatedResourceWarning";
    /// An object is excluded from management.
    pub const EXCLUDED_RESOURCE_WARNING: &str = "ExcludedResourceWarning";
    /// Namespace holds unmanaged objects.
    pub const ORPHANED_RESOURCE_WARNING: &str = "OrphanedResourceWarning";
}

/// `status.summary`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSummary {
    /// URLs from Ingress hosts and link annotations.
    #[serde(
        rename = "externalURLs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_urls: Vec<String>,
    /// Container images in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}
