//! Running resource hooks against the cluster: preparing a rendered hook for one phase of an
//! operation (name, namespace, tracking id, kind, live state), creating it (after deleting
//! the previous instance under `BeforeHookCreation`), deleting it when its delete policy
//! says so, and deleting running hooks when an operation is terminated.
//!
//! The decisions (phases, names, policies, progress) are `plan::hooks`'.

use super::ControllerError;
use super::clusters::Cluster;
use super::live::{self, Kind, gvk_of};
use super::source::Fetched;
use super::sync::Item;
use super::write;
use crate::plan::SyncPhase;
use crate::plan::hooks::{
    DeletePolicy, HookPhase, HookType, delete_policies, hook_phases, is_hook, is_skipped, name_hook,
};
use crate::resource::{ResourceKey, prepare_desired};
use crate::sync_options::{ObjectSyncOptions, PropagationPolicy};
use crate::types::ResourceResult;
use serde_json::Value;
use std::time::Duration;

/// A hook of the running operation, ready to run in one phase.
pub(crate) struct Hook {
    pub key: ResourceKey,
    pub kind: Kind,
    pub object: Value,
    pub live: Option<Value>,
    pub phase: SyncPhase,
    pub hook_type: HookType,
    pub wave: i64,
    pub policies: Vec<DeletePolicy>,
}

/// Prepares every (hook, phase) pair of `objects` for the operation at `revision` started at
/// `started_unix`. `Err(message)` when a hook has no name or an unknown kind.
pub(crate) async fn prepare(
    cluster: &Cluster,
    objects: &[Value],
    app_instance: &str,
    dest_ns: &str,
    revision: &str,
    started_unix: i64,
) -> Result<Result<Vec<Hook>, String>, ControllerError> {
    let mut out = Vec::new();
    for raw in objects {
        for (phase, hook_type) in hook_phases(raw) {
            let mut obj = raw.clone();
            if !name_hook(&mut obj, revision, phase, started_unix) {
                return Ok(Err(format!(
                    "hook {}: neither metadata.name nor metadata.generateName is set",
                    obj.get("kind").and_then(Value::as_str).unwrap_or("?")
                )));
            }
            let api_version = obj
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let kind_name = obj
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let gvk = gvk_of(&api_version, &kind_name);
            let Some(kind) = cluster.kinds.lookup(&cluster.client, &gvk).await? else {
                return Ok(Err(format!(
                    "hook {api_version} {kind_name}: the server could not find the requested resource (unknown kind)"
                )));
            };
            let Some(key) = prepare_desired(&mut obj, app_instance, dest_ns, kind.namespaced)
            else {
                return Ok(Err(format!("hook {kind_name}: missing kind or name")));
            };
            cluster.watches.ensure(&gvk, &kind);
            let live = live::get(&cluster.client, &kind, &key).await?;
            out.push(Hook {
                wave: crate::plan::hooks::hook_wave(&obj),
                policies: delete_policies(&obj),
                key,
                kind,
                object: obj,
                live,
                phase,
                hook_type,
            });
        }
    }
    Ok(Ok(out))
}

/// Creates the hook: deletes the previous instance first under `BeforeHookCreation`, then
/// applies it. Returns the verb for the result message.
///
/// Guarantees: on success `hook.live` is the created object.
/// Errors: the API's refusal, as a message.
pub(crate) async fn start(cluster: &Cluster, hook: &mut Hook) -> Result<&'static str, String> {
    let describe = super::sync::describe(&hook.key);
    if let Some(old) = hook.live.take() {
        if hook.policies.contains(&DeletePolicy::BeforeHookCreation) {
            write::delete(
                &cluster.client,
                &hook.kind,
                &hook.key,
                PropagationPolicy::Foreground,
                false,
            )
            .await
            .map_err(|e| format!("{describe}: deleting the previous hook: {e}"))?;
            write::wait_gone(
                &cluster.client,
                &hook.kind,
                &hook.key,
                &old,
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| format!("{describe}: waiting for the previous hook to go: {e}"))?;
        } else {
            hook.live = Some(old);
        }
    }
    let options = ObjectSyncOptions {
        prune: Default::default(),
        validate: true,
        prune_last: false,
        replace: false,
        force: false,
    };
    let (stored, written) = write::write(
        &cluster.client,
        &hook.kind,
        &hook.key,
        &hook.object,
        hook.live.as_ref(),
        &options,
        false,
    )
    .await
    .map_err(|e| format!("{describe}: {e}"))?;
    tracing::info!(hook = %hook.key, phase = ?hook.phase, "hook started");
    hook.live = Some(stored);
    Ok(written.verb())
}

/// Deletes a finished hook when its policy asks for it (`HookSucceeded`, `HookFailed`).
pub(crate) async fn finish(cluster: &Cluster, hook: &mut Hook, phase: HookPhase) {
    let wanted = match phase {
        HookPhase::Succeeded => DeletePolicy::HookSucceeded,
        HookPhase::Failed => DeletePolicy::HookFailed,
        HookPhase::Running => return,
    };
    if !hook.policies.contains(&wanted) || hook.live.is_none() {
        return;
    }
    match write::delete(
        &cluster.client,
        &hook.kind,
        &hook.key,
        PropagationPolicy::Background,
        false,
    )
    .await
    {
        Ok(()) => {
            tracing::info!(hook = %hook.key, policy = ?wanted, "hook deleted");
            hook.live = None;
        }
        Err(e) => tracing::warn!(hook = %hook.key, error = %e, "deleting a finished hook failed"),
    }
}

/// Deletes the hooks `results` shows running (an operation being terminated); each is
/// marked as Argo CD marks it. Returns false when a deletion failed.
pub(crate) async fn terminate(cluster: &Cluster, results: &mut [ResourceResult]) -> bool {
    let mut ok = true;
    for r in results.iter_mut() {
        if r.hook_type.is_none() || r.hook_phase.as_deref() != Some("Running") {
            continue;
        }
        let api_version = if r.group.is_empty() {
            r.version.clone()
        } else {
            format!("{}/{}", r.group, r.version)
        };
        let gvk = gvk_of(&api_version, &r.kind);
        let key = ResourceKey::new(&r.group, &r.kind, &r.namespace, &r.name);
        let outcome = match cluster.kinds.lookup(&cluster.client, &gvk).await {
            Ok(Some(kind)) => write::delete(
                &cluster.client,
                &kind,
                &key,
                PropagationPolicy::Background,
                false,
            )
            .await
            .map_err(|e| e.to_string()),
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => {
                r.hook_phase = Some("Succeeded".into());
                r.message = Some("Deleted".into());
            }
            Err(e) => {
                ok = false;
                r.hook_phase = Some("Failed".into());
                r.message = Some(format!("Failed to delete: {e}"));
            }
        }
    }
    ok
}

/// Splits the hooks (and `Skip` objects) off a render: hooks run in their phases, skipped
/// objects are neither applied nor compared. Returns the raw hooks, the keys of the skipped
/// objects and the render without both.
pub(crate) fn split(fetched: Fetched) -> (Vec<Value>, Vec<ResourceKey>, Fetched) {
    let special = |o: &Value| is_hook(o) || is_skipped(o);
    if !fetched.rendered.objects.iter().any(|d| special(&d.object)) {
        return (Vec::new(), Vec::new(), fetched);
    }
    let mut rendered = (*fetched.rendered).clone();
    let mut hooks = Vec::new();
    let mut skipped = Vec::new();
    rendered.objects.retain(|d| {
        if is_hook(&d.object) {
            hooks.push(d.object.clone());
            false
        } else if is_skipped(&d.object) {
            skipped.push(d.key.clone());
            false
        } else {
            true
        }
    });
    let fetched = Fetched {
        rendered: std::sync::Arc::new(rendered),
        ..fetched
    };
    (hooks, skipped, fetched)
}

/// Drops the objects that are not the Application's to prune: live hooks, and objects the
/// render marks `Skip`.
pub(crate) fn drop_unmanaged(items: &mut Vec<Item>, skipped: &[ResourceKey]) {
    items.retain(|i| {
        if i.desired.is_some() {
            return true;
        }
        let hook = i.live.as_ref().is_some_and(is_hook);
        let skip = skipped.iter().any(|k| {
            k.group == i.key.group
                && k.kind == i.key.kind
                && k.name == i.key.name
                && (k.namespace.is_empty() || k.namespace == i.key.namespace)
        });
        !hook && !skip
    });
}

/// The hooks as sync items (desired, not compared), for checks that look at every object
/// an operation writes (the project's rules).
pub(crate) fn as_items(hooks: &[Hook]) -> Vec<Item> {
    hooks
        .iter()
        .filter_map(|h| {
            let diff = crate::diff::diff(Some(&h.object), None, &Default::default()).ok()?;
            Some(Item {
                key: h.key.clone(),
                kind: h.kind.clone(),
                desired: Some(h.object.clone()),
                live: None,
                diff,
            })
        })
        .collect()
}
