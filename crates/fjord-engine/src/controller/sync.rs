//! The sync operation: create the destination namespace when asked, apply what differs in
//! apply order (server-side apply, manager `fjord`, force), then prune tracked objects that
//! are no longer rendered, in reverse order. A failed apply stops the operation before any
//! prune.

use super::Context;
use super::live::{self, Kind};
use crate::diff::{DiffKind, ResourceDiff};
use crate::health::assess;
use crate::plan::{SyncPhase, apply_order, prune_order, sync_phase, sync_wave};
use crate::resource::{FIELD_MANAGER, ResourceKey, has_sync_option};
use crate::types::{HealthStatusCode, OperationPhase, ResourceResult, ResultCode};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// The (phase, wave) step an object is applied in.
type Step = (SyncPhase, i64);

fn step_of(obj: &Value) -> Step {
    (sync_phase(obj), sync_wave(obj))
}

/// An object of an earlier step that is not healthy yet (objects without a health rule
/// count as healthy).
fn unhealthy_before(items: &[Item], step: Step) -> Option<String> {
    items.iter().find_map(|it| {
        let desired = it.desired.as_ref()?;
        if step_of(desired) >= step {
            return None;
        }
        let healthy = match it.live.as_ref() {
            None => false,
            Some(live) => assess(live).is_none_or(|h| h.status == HealthStatusCode::Healthy),
        };
        tracing::debug!(object = %it.key, healthy, "wave gate");
        (!healthy).then(|| it.key.to_string())
    })
}

/// One object of the Application: its kind, both sides and their comparison.
pub(crate) struct Item {
    pub key: ResourceKey,
    pub kind: Kind,
    pub desired: Option<Value>,
    pub live: Option<Value>,
    pub diff: ResourceDiff,
}

/// What the sync asks for.
pub(crate) struct SyncRequest<'a> {
    /// Namespace to create first (`CreateNamespace=true`).
    pub create_namespace: Option<&'a str>,
    /// Prune was requested (`automated.prune` or the operation's `prune`).
    pub prune: bool,
    /// `Prune=false` for the whole Application.
    pub prune_disabled: bool,
    /// The destination cluster's client (`Context::cluster_for`).
    pub client: kube::Client,
}

/// The result of a sync.
pub(crate) struct SyncOutcome {
    pub phase: OperationPhase,
    pub message: String,
    pub results: Vec<ResourceResult>,
}

fn result(item: &Item, status: ResultCode, message: String) -> ResourceResult {
    let api_version = item
        .desired
        .as_ref()
        .or(item.live.as_ref())
        .and_then(|o| o.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or("");
    ResourceResult {
        group: item.key.group.clone(),
        version: api_version.rsplit('/').next().unwrap_or("").to_string(),
        kind: item.key.kind.clone(),
        namespace: item.key.namespace.clone(),
        name: item.key.name.clone(),
        status: Some(status),
        message: Some(message),
        sync_phase: Some("Sync".to_string()),
        ..Default::default()
    }
}

fn describe(key: &ResourceKey) -> String {
    let kind = key.kind.to_lowercase();
    if key.group.is_empty() {
        format!("{kind}/{}", key.name)
    } else {
        format!("{kind}.{}/{}", key.group, key.name)
    }
}

async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.get_opt(name).await {
        Ok(Some(_)) => return Ok(()),
        Ok(None) => {}
        Err(e) => return Err(format!("reading namespace {name}: {e}")),
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&ns),
    )
    .await
    .map(|_| tracing::info!(namespace = name, "created namespace"))
    .map_err(|e| format!("creating namespace {name}: {e}"))
}

/// Runs the sync over `items`, updating their live side.
pub(crate) async fn sync(
    _ctx: &Context,
    items: &mut [Item],
    request: &SyncRequest<'_>,
) -> SyncOutcome {
    let mut results = Vec::new();
    if let Some(ns) = request.create_namespace
        && let Err(message) = ensure_namespace(&request.client, ns).await
    {
        return SyncOutcome {
            phase: OperationPhase::Failed,
            message,
            results,
        };
    }
    let mut to_apply: Vec<(usize, ResourceKey, Value)> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.diff.kind != DiffKind::Unchanged)
        .filter_map(|(i, it)| Some((i, it.key.clone(), it.desired.clone()?)))
        .collect();
    apply_order(&mut to_apply, |(_, k, v)| (k, v));
    let to_apply: Vec<(usize, Step)> = to_apply
        .into_iter()
        .map(|(i, _, v)| (i, step_of(&v)))
        .collect();
    for (n, &(i, step)) in to_apply.iter().enumerate() {
        // Entering a wave: every object of the earlier waves must be healthy first.
        if (n == 0 || to_apply[n - 1].1 != step)
            && let Some(waiting) = unhealthy_before(items, step)
        {
            return SyncOutcome {
                phase: OperationPhase::Running,
                message: format!(
                    "waiting for healthy state of {waiting} before sync wave {}",
                    step.1
                ),
                results,
            };
        }
        let item = &mut items[i];
        let Some(desired) = item.desired.as_ref() else {
            continue;
        };
        let verb = if item.live.is_some() {
            "configured"
        } else {
            "created"
        };
        let mut applied = live::apply(&request.client, &item.kind, &item.key, desired).await;
        // A custom resource whose CRD was applied a moment ago: wait for it to be served.
        let mut attempts = 0;
        while item.kind.pending && attempts < 20 && applied.is_err() {
            attempts += 1;
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            applied = live::apply(&request.client, &item.kind, &item.key, desired).await;
        }
        match applied {
            Ok(live) => {
                tracing::info!(object = %item.key, verb, "applied");
                item.live = Some(live);
                results.push(result(
                    item,
                    ResultCode::Synced,
                    format!("{} {verb}", describe(&item.key)),
                ));
            }
            Err(e) => {
                let message = format!("{}: {e}", describe(&item.key));
                tracing::warn!(object = %item.key, error = %e, "apply failed");
                results.push(result(item, ResultCode::SyncFailed, message.clone()));
                return SyncOutcome {
                    phase: OperationPhase::Failed,
                    message: format!("one or more objects failed to apply, reason: {message}"),
                    results,
                };
            }
        }
    }
    let mut to_prune: Vec<(usize, ResourceKey, Value)> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.desired.is_none())
        .filter_map(|(i, it)| Some((i, it.key.clone(), it.live.clone()?)))
        .collect();
    prune_order(&mut to_prune, |(_, k, v)| (k, v));
    let to_prune: Vec<usize> = to_prune.into_iter().map(|(i, _, _)| i).collect();
    for i in to_prune {
        let item = &mut items[i];
        let live = item.live.as_ref().unwrap_or(&Value::Null);
        if !request.prune {
            results.push(result(
                item,
                ResultCode::PruneSkipped,
                "ignored (requires pruning)".into(),
            ));
            continue;
        }
        if request.prune_disabled || has_sync_option(live, "Prune", "false") {
            results.push(result(
                item,
                ResultCode::PruneSkipped,
                "ignored (no prune)".into(),
            ));
            continue;
        }
        match live::delete(&request.client, &item.kind, &item.key).await {
            Ok(()) => {
                tracing::info!(object = %item.key, "pruned");
                item.live = None;
                results.push(result(item, ResultCode::Pruned, "pruned".into()));
            }
            Err(e) => {
                let message = format!("{}: {e}", describe(&item.key));
                results.push(result(item, ResultCode::SyncFailed, message.clone()));
                return SyncOutcome {
                    phase: OperationPhase::Failed,
                    message: format!("one or more objects failed to prune, reason: {message}"),
                    results,
                };
            }
        }
    }
    SyncOutcome {
        phase: OperationPhase::Succeeded,
        message: "successfully synced (all tasks run)".to_string(),
        results,
    }
}
