//! Actions, done as Argo CD does them: a sync or rollback writes the Application's
//! `operation` field (the controller runs it and clears it), a refresh sets the
//! `argocd.argoproj.io/refresh` annotation, terminating marks the running operation
//! `Terminating` and withdraws the request. Every write is a merge patch pinned to the
//! resourceVersion that was checked, so a concurrent change makes it fail instead of
//! overwriting.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use fjord_engine::types::{
    Application, Operation, OperationInitiator, OperationPhase, SyncOperation,
    SyncOperationResource,
};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{ApiState, AppRef};
use crate::auth::Caller;
use crate::auth::rbac::Action;

/// The annotation asking the controller to refresh.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// The finalizer that makes deleting an Application delete its resources.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// `POST .../sync` body (every field optional).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequest {
    /// Revision to sync to (default: the target revision).
    pub revision: Option<String>,
    /// Delete objects no longer in Git.
    pub prune: Option<bool>,
    /// Plan only.
    pub dry_run: Option<bool>,
    /// Only these objects.
    #[serde(default)]
    pub resources: Vec<SyncOperationResource>,
    /// Sync options for this sync (e.g. `ServerSideApply=true`).
    #[serde(default)]
    pub sync_options: Vec<String>,
}

/// `POST .../rollback` body.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackRequest {
    /// The history entry's `id`.
    pub id: i64,
    /// Delete objects the old revision does not have.
    pub prune: Option<bool>,
    /// Plan only.
    pub dry_run: Option<bool>,
}

fn initiator(user: &str) -> Option<OperationInitiator> {
    Some(OperationInitiator {
        username: Some(user.to_string()),
        automated: None,
    })
}

/// The operation a sync request writes.
pub fn sync_operation(req: &SyncRequest, user: &str) -> Operation {
    Operation {
        sync: Some(SyncOperation {
            revision: req.revision.clone().filter(|r| !r.is_empty()),
            prune: req.prune,
            dry_run: req.dry_run,
            resources: req.resources.clone(),
            sync_options: req.sync_options.clone(),
            ..Default::default()
        }),
        initiated_by: initiator(user),
        ..Default::default()
    }
}

/// The operation rolling back to history entry `id`: the engine's, with Argo CD's checks
/// (automated sync off, a known history id, a recorded source, no operation running).
pub fn rollback_operation(app: &Application, id: i64, prune: bool) -> Result<Operation, String> {
    fjord_engine::rollback::rollback_operation(app, id, prune).map_err(|e| e.to_string())
}

/// True while an operation is requested or running.
pub fn operation_in_progress(app: &Application) -> bool {
    app.operation.is_some()
        || app
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|o| {
                matches!(
                    o.phase,
                    OperationPhase::Running | OperationPhase::Terminating
                )
            })
}

fn apps_api(state: &ApiState, namespace: &str) -> Api<Application> {
    Api::namespaced(state.client.clone(), namespace)
}

/// Reads the Application fresh from the cluster and checks the caller's right.
async fn load(
    state: &ApiState,
    caller: &Caller,
    r: &AppRef,
    action: Action,
) -> Result<Application, ApiError> {
    let ns = r.namespace(state);
    let app = apps_api(state, &ns)
        .get_opt(&r.name)
        .await
        .map_err(ApiError::cluster(format!(
            "reading application {ns}/{}",
            r.name
        )))?;
    // Without the right to read everything, its absence is not revealed either.
    let Some(app) = app else {
        return Err(caller.not_found(&ns, &r.name));
    };
    let project = if app.spec.project.is_empty() {
        "default"
    } else {
        &app.spec.project
    };
    caller.require(action, project, app.name())?;
    Ok(app)
}

/// How many times an action reads and writes the Application before it gives up on another
/// writer (the controller writes status all the time, so a read-then-write races it).
const STALE_ATTEMPTS: usize = 5;

/// Runs `attempt` (which reads the Application and writes it) again while the write finds
/// the Application changed since the read.
async fn retry_stale<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    for _ in 1..STALE_ATTEMPTS {
        match attempt().await {
            Err(ApiError::Stale(_)) => continue,
            other => return other,
        }
    }
    attempt().await
}

async fn patch(state: &ApiState, app: &Application, body: Value) -> Result<Application, ApiError> {
    patch_app(&state.client, app, body).await
}

/// Merge-patches an Application, pinned to the resourceVersion it was read at.
pub async fn patch_app(
    client: &kube::Client,
    app: &Application,
    body: Value,
) -> Result<Application, ApiError> {
    let mut body = body;
    body["metadata"]["resourceVersion"] = json!(app.metadata.resource_version);
    Api::<Application>::namespaced(client.clone(), app.namespace())
        .patch(app.name(), &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(|e| match e {
            kube::Error::Api(ae) if ae.code == 409 => ApiError::Stale(format!(
                "application {} changed meanwhile; retry",
                app.name()
            )),
            e => ApiError::Cluster {
                step: format!("updating application {}", app.name()),
                source: e,
            },
        })
}

async fn write_operation(
    state: &ApiState,
    app: &Application,
    op: Operation,
) -> Result<Json<Value>, ApiError> {
    let updated = request_operation(&state.client, app, op).await?;
    Ok(Json(serde_json::to_value(&updated).unwrap_or_default()))
}

/// Writes `operation` unless one is already in progress (409).
pub async fn request_operation(
    client: &kube::Client,
    app: &Application,
    op: Operation,
) -> Result<Application, ApiError> {
    if operation_in_progress(app) {
        return Err(ApiError::Conflict(format!(
            "application {}: another operation is already in progress",
            app.name()
        )));
    }
    let op = serde_json::to_value(&op).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    patch_app(client, app, json!({ "operation": op })).await
}

/// `POST /api/v1/applications/{name}/sync`.
pub async fn sync(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
    body: Option<Json<SyncRequest>>,
) -> Result<Json<Value>, ApiError> {
    let r = AppRef::new(name, q.app_namespace);
    let req = body.map(|b| b.0).unwrap_or_default();
    let (state, caller, r, req) = (&state, &caller, &r, &req);
    retry_stale(|| async move {
        let app = load(state, caller, r, Action::Sync).await?;
        write_operation(state, &app, sync_operation(req, &caller.identity.name)).await
    })
    .await
}

/// `POST /api/v1/applications/{name}/rollback`.
pub async fn rollback(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
    Json(req): Json<RollbackRequest>,
) -> Result<Json<Value>, ApiError> {
    let r = AppRef::new(name, q.app_namespace);
    let (state, caller, r, req) = (&state, &caller, &r, &req);
    retry_stale(|| async move {
        let app = load(state, caller, r, Action::Sync).await?;
        let mut op = rollback_operation(&app, req.id, req.prune.unwrap_or(false))
            .map_err(ApiError::BadRequest)?;
        if let Some(sync) = op.sync.as_mut() {
            sync.dry_run = req.dry_run;
        }
        op.initiated_by = initiator(&caller.identity.name);
        write_operation(state, &app, op).await
    })
    .await
}

/// Query of the refresh action.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshQuery {
    /// `normal` (default) or `hard`.
    pub refresh: Option<String>,
    /// The Application's namespace (default: the controller's).
    pub app_namespace: Option<String>,
}

/// `POST /api/v1/applications/{name}/refresh?refresh=normal|hard`.
pub async fn refresh(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<RefreshQuery>,
) -> Result<Json<Value>, ApiError> {
    let kind = q.refresh.as_deref().unwrap_or("normal");
    if !matches!(kind, "normal" | "hard") {
        return Err(ApiError::BadRequest(format!(
            "refresh: {kind:?} is neither normal nor hard"
        )));
    }
    let r = AppRef::new(name, q.app_namespace);
    let (state, caller, r) = (&state, &caller, &r);
    let updated = retry_stale(|| async move {
        let app = load(state, caller, r, Action::Get).await?;
        patch(
            state,
            &app,
            json!({"metadata": {"annotations": {REFRESH_ANNOTATION: kind}}}),
        )
        .await
    })
    .await?;
    Ok(Json(serde_json::to_value(&updated).unwrap_or_default()))
}

/// `DELETE /api/v1/applications/{name}/operation`: terminates the running operation.
pub async fn terminate(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let r = AppRef::new(name, q.app_namespace);
    let (state, caller, r) = (&state, &caller, &r);
    let updated = retry_stale(|| async move {
        let app = load(state, caller, r, Action::Sync).await?;
        if !operation_in_progress(&app) {
            return Err(ApiError::Conflict(format!(
                "application {}: no operation is in progress",
                app.name()
            )));
        }
        let mut body = json!({ "operation": null });
        let running = app
            .status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|o| o.phase == OperationPhase::Running);
        if running {
            body["status"] = json!({"operationState": {"phase": "Terminating"}});
        }
        patch(state, &app, body).await
    })
    .await?;
    Ok(Json(serde_json::to_value(&updated).unwrap_or_default()))
}

/// Query of the delete action.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteQuery {
    /// Delete the Application's resources too (default true, as Argo CD).
    pub cascade: Option<bool>,
    /// The Application's namespace (default: the controller's).
    pub app_namespace: Option<String>,
}

/// `DELETE /api/v1/applications/{name}`.
pub async fn delete(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    let r = AppRef::new(name, q.app_namespace);
    let app = load(&state, &caller, &r, Action::Delete).await?;
    let cascade = q.cascade.unwrap_or(true);
    delete_app(&state.client, &app, cascade).await?;
    Ok(Json(
        json!({"deleted": format!("{}/{}", app.namespace(), app.name()), "cascade": cascade}),
    ))
}

/// Deletes an Application; with `cascade` its resources go too (Argo CD's finalizer).
pub async fn delete_app(
    client: &kube::Client,
    app: &Application,
    cascade: bool,
) -> Result<(), ApiError> {
    let mut finalizers = app.metadata.finalizers.clone().unwrap_or_default();
    let has = finalizers.iter().any(|f| f == RESOURCES_FINALIZER);
    if cascade != has {
        if cascade {
            finalizers.push(RESOURCES_FINALIZER.to_string());
        } else {
            finalizers.retain(|f| f != RESOURCES_FINALIZER);
        }
        patch_app(client, app, json!({"metadata": {"finalizers": finalizers}})).await?;
    }
    Api::<Application>::namespaced(client.clone(), app.namespace())
        .delete(app.name(), &DeleteParams::default())
        .await
        .map_err(ApiError::cluster(format!(
            "deleting application {}",
            app.name()
        )))?;
    Ok(())
}

/// The optional `appNamespace` query parameter (Argo CD's name).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRefQuery {
    /// The Application's namespace (default: the controller's).
    pub app_namespace: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_that_lost_a_race_is_tried_again_on_a_fresh_read() {
        let tries = std::cell::Cell::new(0);
        let result = retry_stale(|| async {
            tries.set(tries.get() + 1);
            if tries.get() < 3 {
                Err(ApiError::Stale("changed".into()))
            } else {
                Ok(tries.get())
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        tries.set(0);
        let always: Result<(), _> = retry_stale(|| async {
            tries.set(tries.get() + 1);
            Err(ApiError::Stale("changed".into()))
        })
        .await;
        assert!(matches!(always, Err(ApiError::Stale(_))));
        assert_eq!(tries.get(), STALE_ATTEMPTS);
        tries.set(0);
        let busy: Result<(), _> = retry_stale(|| async {
            tries.set(tries.get() + 1);
            Err(ApiError::Conflict("an operation is running".into()))
        })
        .await;
        assert!(matches!(busy, Err(ApiError::Conflict(_))));
        assert_eq!(tries.get(), 1, "other conflicts are not retried");
    }

    fn app(auto: bool) -> Application {
        let mut v = json!({
            "metadata": {"name": "pay", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://g/r.git", "targetRevision": "main"}},
            "status": {"history": [
                {"id": 0, "revision": "aaa", "deployedAt": "t0", "source": {"repoURL": "https://g/r.git", "targetRevision": "main"}},
                {"id": 1, "revision": "bbb", "deployedAt": "t1"}
            ]}
        });
        if auto {
            v["spec"]["syncPolicy"] = json!({"automated": {}});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_sync_request_becomes_argo_cds_operation_field() {
        let req: SyncRequest = serde_json::from_value(json!({
            "prune": true, "dryRun": true,
            "resources": [{"group": "apps", "kind": "Deployment", "name": "web", "namespace": "prod"}]
        }))
        .unwrap();
        let op = serde_json::to_value(sync_operation(&req, "alice")).unwrap();
        assert_eq!(
            op,
            json!({"sync": {"prune": true, "dryRun": true,
                "resources": [{"group": "apps", "kind": "Deployment", "name": "web", "namespace": "prod"}]},
                "initiatedBy": {"username": "alice"}})
        );
        assert!(serde_json::from_value::<SyncRequest>(json!({"prnue": true})).is_err());
    }

    #[test]
    fn rollback_syncs_the_history_entrys_revision_and_source() {
        let op = rollback_operation(&app(false), 0, true).unwrap();
        let sync = op.sync.unwrap();
        assert_eq!(sync.revision.as_deref(), Some("aaa"));
        assert_eq!(sync.prune, Some(true));
        assert_eq!(sync.source.unwrap().repo_url, "https://g/r.git");
        assert!(
            rollback_operation(&app(false), 7, false)
                .unwrap_err()
                .contains("id 7")
        );
        assert!(
            rollback_operation(&app(true), 0, false)
                .unwrap_err()
                .contains("auto-sync")
        );
    }

    #[test]
    fn a_pending_or_running_operation_blocks_another() {
        let mut a = app(false);
        assert!(!operation_in_progress(&a));
        a.operation = Some(Operation::default());
        assert!(operation_in_progress(&a));
    }
}
