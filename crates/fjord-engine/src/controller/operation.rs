//! The operation around a sync: the target it syncs (the spec's source, or the revision and
//! source an operation names, as a rollback does), prune confirmation, terminating a running
//! operation, and the retry bookkeeping.

use super::clusters::Cluster;
use super::compare::{compare, confirm};
use super::hooks;
use super::source::fetch_and_render;
use super::sync::Item;
use super::{Context, ControllerError, now};
use crate::diff::DiffOptions;
use crate::types::{Application, ApplicationSource, OperationPhase, OperationState, SyncOperation};
use serde_json::Value;
use std::sync::Arc;

/// The Application as the API holds it now when an operation is requested or running: the
/// controller's cache may not have seen the previous reconcile's write yet, and a running
/// operation's recorded results are its state (a stale copy would run finished steps again).
pub(crate) async fn current(
    ctx: &Context,
    app: Arc<Application>,
) -> Result<Arc<Application>, ControllerError> {
    let operating = app.operation.is_some()
        || app
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|o| !o.phase.is_completed());
    // The cache holds this controller's last write: nothing newer to read.
    if !operating || ctx.written.is_latest_write(&app) {
        return Ok(app);
    }
    let api: kube::Api<Application> = kube::Api::namespaced(ctx.client.clone(), app.namespace());
    match api.get_opt(app.name()).await {
        Ok(Some(fresh)) => Ok(Arc::new(fresh)),
        Ok(None) => Ok(app),
        Err(e) => Err(super::kube_err(format!(
            "reading {}/{}",
            app.namespace(),
            app.name()
        ))(e)),
    }
}

/// True when the API's copy of the Application records a different last operation than
/// `app` (the cache lags behind a write): a new automated sync must wait for it.
pub(crate) async fn operation_moved_on(
    ctx: &Context,
    app: &Application,
) -> Result<bool, ControllerError> {
    if ctx.written.is_latest_write(app) {
        return Ok(false);
    }
    let api: kube::Api<Application> = kube::Api::namespaced(ctx.client.clone(), app.namespace());
    let fresh = api
        .get_opt(app.name())
        .await
        .map_err(super::kube_err(format!(
            "reading {}/{}",
            app.namespace(),
            app.name()
        )))?;
    let started = |a: &Application| {
        a.status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .map(|o| (o.started_at.clone(), o.phase))
    };
    Ok(fresh.is_some_and(|f| started(&f) != started(app)))
}

/// Argo CD's prune confirmation annotation (on the Application; an RFC 3339 time).
pub(crate) const ANNOTATION_DELETION_APPROVED: &str = "argocd.argoproj.io/deletion-approved";

/// What an operation syncs when it is not the spec's current target.
pub(crate) struct Target {
    pub commit: String,
    pub source: ApplicationSource,
    pub items: Vec<Item>,
    pub hooks: Vec<Value>,
}

/// The source an operation names (its `source`, else the spec's) at its `revision`, when that
/// differs from `spec_source` at `spec_commit`; `None` when the operation syncs the spec's
/// target.
pub(crate) fn override_source(
    op: &SyncOperation,
    spec_source: &ApplicationSource,
    spec_commit: &str,
) -> Option<ApplicationSource> {
    let mut source = op.source.clone().unwrap_or_else(|| spec_source.clone());
    let revision = op.revision.as_deref().filter(|r| !r.is_empty());
    let same_revision = revision.is_none_or(|r| r == spec_commit || r == spec_source.revision());
    if source == *spec_source && same_revision {
        return None;
    }
    if let Some(r) = revision {
        source.target_revision = Some(r.to_string());
    }
    Some(source)
}

/// Fetches, renders and compares `source` for the operation. `Err(message)` when it cannot
/// (the operation fails with it).
pub(crate) async fn load_target(
    ctx: &Arc<Context>,
    cluster: &Cluster,
    app: &Application,
    source: ApplicationSource,
    options: &DiffOptions,
) -> Result<Result<Target, String>, ControllerError> {
    // The Application as if its spec named the operation's target.
    let mut target_app = app.clone();
    target_app.spec.source = Some(source.clone());
    target_app.spec.sources.clear();
    let fetched = match fetch_and_render(ctx, cluster, &target_app, None).await? {
        Ok(f) => f,
        Err(failure) => return Ok(Err(failure.message)),
    };
    let (hooks, skipped, fetched) = hooks::split(fetched);
    let mut items = match compare(ctx, cluster, app, &fetched, options).await? {
        Ok(items) => items,
        Err(message) => return Ok(Err(message)),
    };
    if let Err(message) = confirm(cluster, &mut items, options).await? {
        return Ok(Err(message));
    }
    hooks::drop_unmanaged(&mut items, &skipped);
    Ok(Ok(Target {
        commit: fetched.commit,
        source,
        items,
        hooks,
    }))
}

/// Whether the Application's `deletion-approved` time is at or after `started` (Argo CD's
/// `Prune=confirm`).
pub(crate) fn prune_confirmed(app: &Application, started: &str) -> bool {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t.trim()).ok();
    match (
        app.annotation(ANNOTATION_DELETION_APPROVED).and_then(parse),
        parse(started),
    ) {
        (Some(approved), Some(started)) => approved >= started,
        _ => false,
    }
}

/// `started` as Unix seconds (0 when unparsable).
pub(crate) fn unix_seconds(started: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(started)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// True when the operation is an automated sync.
pub(crate) fn is_automated(state: &OperationState) -> bool {
    state
        .operation
        .initiated_by
        .as_ref()
        .is_some_and(|b| b.automated == Some(true))
}

/// Terminates a running operation as Argo CD does: its running hooks are deleted and it
/// ends `Failed` ("Operation terminated"), or `Error` when a hook could not be deleted.
pub(crate) async fn terminate(cluster: &Cluster, last: &OperationState) -> OperationState {
    let mut state = last.clone();
    let mut results = state
        .sync_result
        .as_ref()
        .map(|r| r.resources.clone())
        .unwrap_or_default();
    let ok = hooks::terminate(cluster, &mut results).await;
    if let Some(r) = state.sync_result.as_mut() {
        r.resources = results;
    }
    let (phase, message) = if ok {
        (OperationPhase::Failed, "Operation terminated")
    } else {
        (OperationPhase::Error, "Operation termination had errors")
    };
    tracing::info!(message, "operation terminated");
    state.phase = phase;
    state.message = Some(message.to_string());
    state.finished_at = Some(now());
    state
}

/// The message of an operation waiting to retry.
pub(crate) fn retry_message(
    message: &str,
    attempt: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    format!(
        "{message}. Retrying attempt #{attempt} at {}.",
        at.format("%H:%M:%S")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, rev: &str) -> ApplicationSource {
        ApplicationSource {
            repo_url: "https://git.example/a.git".into(),
            path: Some(path.into()),
            target_revision: Some(rev.into()),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_different_revision_or_source_is_an_override() {
        let spec = source("deploy", "main");
        let op = SyncOperation::default();
        assert_eq!(override_source(&op, &spec, "abc"), None);
        let op = SyncOperation {
            revision: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(override_source(&op, &spec, "abc"), None);
        let op = SyncOperation {
            revision: Some("old1".into()),
            source: Some(source("deploy", "main")),
            ..Default::default()
        };
        assert_eq!(
            override_source(&op, &spec, "abc"),
            Some(source("deploy", "old1"))
        );
        let op = SyncOperation {
            source: Some(source("deploy-v1", "main")),
            ..Default::default()
        };
        assert_eq!(
            override_source(&op, &spec, "abc"),
            Some(source("deploy-v1", "main"))
        );
    }

    #[test]
    fn deletion_approval_must_not_predate_the_operation() {
        let mut app: Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "a", "namespace": "argocd",
                         "annotations": {ANNOTATION_DELETION_APPROVED: "2024-05-01T10:00:00Z"}},
            "spec": {"destination": {}}
        }))
        .unwrap();
        assert!(prune_confirmed(&app, "2024-05-01T09:59:59Z"));
        assert!(prune_confirmed(&app, "2024-05-01T10:00:00Z"));
        assert!(!prune_confirmed(&app, "2024-05-01T10:00:01Z"));
        app.metadata.annotations = None;
        assert!(!prune_confirmed(&app, "2024-05-01T09:00:00Z"));
        assert_eq!(unix_seconds("1970-01-01T00:01:40Z"), 100);
    }
}
