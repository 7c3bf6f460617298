//! Read endpoints: the list and one Application from the cache; its tree, manifests, diff
//! and events from the cluster (and Git, for the desired state); its history from its status.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use fjord_engine::diff::mask_secret;
use serde_json::{Value, json};

use super::actions::AppRefQuery;
use super::cache::AppEntry;
use super::desired::{desired, diff_all, yaml};
use super::error::ApiError;
use super::query::{ListQuery, list as list_page};
use super::{ApiState, AppRef, live, tree};
use crate::auth::Caller;
use crate::auth::rbac::Action;

/// The cached entry, if the caller may read it.
pub fn readable(state: &ApiState, caller: &Caller, r: &AppRef) -> Result<Arc<AppEntry>, ApiError> {
    if !state.cache.is_ready() {
        return Err(ApiError::NotReady);
    }
    let ns = r.namespace(state);
    let entry = state
        .cache
        .get(&ns, &r.name)
        .ok_or_else(|| caller.not_found(&ns, &r.name))?;
    caller.require(Action::Get, &entry.summary.project, &entry.summary.name)?;
    Ok(entry)
}

/// `GET /api/v1/applications`.
pub async fn list(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<super::query::ListPage>, ApiError> {
    if !state.cache.is_ready() {
        return Err(ApiError::NotReady);
    }
    let visible: Vec<Arc<AppEntry>> = state
        .cache
        .all()
        .into_iter()
        .filter(|e| {
            caller
                .grants
                .allows(Action::Get, &e.summary.project, &e.summary.name)
        })
        .collect();
    let page = list_page(&visible, &q).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(page))
}

/// `GET /api/v1/applications/{name}`: the Application as stored.
pub async fn get(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = readable(&state, &caller, &AppRef::new(name, q.app_namespace))?;
    let mut v = serde_json::to_value(entry.app.as_ref()).unwrap_or_default();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v["summary"] = serde_json::to_value(&entry.summary).unwrap_or_default();
    Ok(Json(v))
}

/// `GET /api/v1/applications/{name}/resource-tree`.
pub async fn resource_tree(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = readable(&state, &caller, &AppRef::new(name, q.app_namespace))?;
    let managed = live::managed(&state.client, &state.kinds, &entry.app).await?;
    let candidates = live::child_candidates(&state.client, &state.kinds, &managed).await?;
    let nodes = tree::build(&managed, &candidates);
    Ok(Json(json!({"application": entry.summary, "nodes": nodes})))
}

fn manifest_view(key_fields: [&str; 4], obj: Option<&Value>) -> Value {
    let mut obj = obj.cloned();
    if let Some(o) = obj.as_mut() {
        mask_secret(o);
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
    }
    let [group, kind, namespace, name] = key_fields;
    json!({"group": group, "kind": kind, "namespace": namespace, "name": name,
           "exists": obj.is_some(), "yaml": yaml(obj.as_ref()), "object": obj})
}

/// `GET /api/v1/applications/{name}/manifests`: the desired (rendered) objects.
pub async fn manifests(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = readable(&state, &caller, &AppRef::new(name, q.app_namespace))?;
    let d = desired(
        &state.client,
        &state.kinds,
        &state.git_cache,
        &state.namespace,
        &entry.app,
    )
    .await?;
    let items: Vec<Value> = d
        .objects
        .iter()
        .map(|(k, o)| manifest_view([&k.group, &k.kind, &k.namespace, &k.name], Some(o)))
        .collect();
    Ok(Json(json!({"revision": d.commit, "items": items})))
}

/// `GET /api/v1/applications/{name}/live`: the managed resources' live objects.
pub async fn live_manifests(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = readable(&state, &caller, &AppRef::new(name, q.app_namespace))?;
    let managed = live::managed(&state.client, &state.kinds, &entry.app).await?;
    let items: Vec<Value> = managed
        .iter()
        .map(|(r, l)| manifest_view([&r.group, &r.kind, &r.namespace, &r.name], l.as_ref()))
        .collect();
    Ok(Json(json!({"items": items})))
}

/// `GET /api/v1/applications/{name}/managed-resources`: desired against live, per object.
pub async fn managed_resources(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = readable(&state, &caller, &AppRef::new(name, q.app_namespace))?;
    let d = desired(
        &state.client,
        &state.kinds,
        &state.git_cache,
        &state.namespace,
        &entry.app,
    )
    .await?;
    let items = diff_all(&state.client, &state.kinds, &entry.app, &d).await?;
    Ok(Json(json!({"revision": d.commit, "items": items})))
}

/// `GET /api/v1/applications/{name}/events`.
pub async fn events(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = readable(&state, &caller, &AppRef::new(name, q.app_namespace))?;
    let items = live::events(&state.client, &state.kinds, &entry.app).await?;
    Ok(Json(json!({"items": items})))
}

/// `GET /api/v1/applications/{name}/history`: deployments, newest first, the current
/// operation, and the audit records of finished operations (`audit`, newest first).
pub async fn history(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<AppRefQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = readable(&state, &caller, &AppRef::new(name, q.app_namespace))?;
    let status = entry.app.status.clone().unwrap_or_default();
    let mut items = status.history.clone();
    items.reverse();
    let audit = super::audit::records(&state.client, &entry.app).await?;
    Ok(Json(json!({
        "items": items,
        "operation": entry.app.operation,
        "operationState": status.operation_state,
        "audit": audit,
    })))
}

/// `GET /api/v1/projects`: the AppProjects' names.
pub async fn projects(State(state): State<Arc<ApiState>>, _caller: Caller) -> Json<Value> {
    let names: Vec<String> = state
        .cache
        .projects()
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    Json(json!({"items": names}))
}
