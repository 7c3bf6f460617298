//! Comparing: rendered objects prepared for this Application (namespace, tracking id),
//! paired with their live state in the destination cluster (from its per-kind caches, or
//! its API), plus tracked objects
//! no longer rendered, each diffed. Anything the cache shows out of sync is re-read before
//! the caller acts on it.

use super::clusters::Cluster;
use super::live::{self, gvk_of};
use super::source::Fetched;
use super::sync::Item;
use super::{Context, ControllerError};
use crate::diff::{DiffOptions, diff};
use crate::resource::{ResourceKey, app_instance_name, is_tracked_by, prepare_desired};
use crate::types::Application;
use std::collections::HashSet;

/// Re-reads from the API every object the (possibly lagging) cache showed out of sync, and
/// compares again; tracked objects found gone are dropped.
pub(crate) async fn confirm(
    cluster: &Cluster,
    items: &mut Vec<Item>,
    options: &DiffOptions,
) -> Result<Result<(), String>, ControllerError> {
    live_state(cluster, confirm_live(cluster, items, options).await)
}

/// An API failure of the destination cluster (unreachable, credentials refused) as a
/// condition message naming the cluster, like Argo CD's "Failed to load live state"; other
/// failures stay errors.
fn live_state<T>(
    cluster: &Cluster,
    result: Result<Result<T, String>, ControllerError>,
) -> Result<Result<T, String>, ControllerError> {
    match result {
        Err(ControllerError::Kube { step, source }) => Ok(Err(format!(
            "Failed to load live state from cluster {} ({}): {step}: {source}",
            cluster.name, cluster.server
        ))),
        other => other,
    }
}

async fn confirm_live(
    cluster: &Cluster,
    items: &mut Vec<Item>,
    options: &DiffOptions,
) -> Result<Result<(), String>, ControllerError> {
    for item in items.iter_mut() {
        if item.diff.kind == crate::diff::DiffKind::Unchanged {
            continue;
        }
        item.live = live::get(&cluster.client, &item.kind, &item.key).await?;
        if item.desired.is_none() && item.live.is_none() {
            continue;
        }
        match diff(item.desired.as_ref(), item.live.as_ref(), options) {
            Ok(d) => item.diff = d,
            Err(e) => {
                return Ok(Err(format!(
                    "Failed to compare desired state to live state: {e}"
                )));
            }
        }
    }
    items.retain(|i| i.desired.is_some() || i.live.is_some());
    Ok(Ok(()))
}

/// Prepares desired objects, reads live ones (desired, and previously tracked ones no longer
/// rendered) and diffs them. `Err(message)` is a comparison failure for a condition.
pub(crate) async fn compare(
    ctx: &Context,
    cluster: &Cluster,
    app: &Application,
    fetched: &Fetched,
    options: &DiffOptions,
) -> Result<Result<Vec<Item>, String>, ControllerError> {
    live_state(
        cluster,
        compare_live(ctx, cluster, app, fetched, options).await,
    )
}

async fn compare_live(
    ctx: &Context,
    cluster: &Cluster,
    app: &Application,
    fetched: &Fetched,
    options: &DiffOptions,
) -> Result<Result<Vec<Item>, String>, ControllerError> {
    let instance = app_instance_name(app.name(), app.namespace(), &ctx.config.namespace);
    let dest_ns = app.spec.destination.namespace.as_deref().unwrap_or("");
    let mut items = Vec::new();
    let mut seen: HashSet<ResourceKey> = HashSet::new();
    for d in &fetched.rendered.objects {
        let api_version = d
            .object
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let gvk = gvk_of(api_version, &d.key.kind);
        let found = match cluster.kinds.lookup(&cluster.client, &gvk).await? {
            Some(k) => Some(k),
            None => live::kind_from_crds(fetched.rendered.objects.iter().map(|o| &o.object), &gvk),
        };
        let Some(kind) = found else {
            return Ok(Err(format!(
                "Failed to load target state: {} (document {}): the server could not find the requested resource: {api_version} {} {:?} (unknown kind)",
                d.file, d.document, d.key.kind, d.key.name
            )));
        };
        let mut obj = d.object.clone();
        let Some(key) = prepare_desired(&mut obj, &instance, dest_ns, kind.namespaced) else {
            return Ok(Err(format!(
                "{}: document {}: missing kind or name",
                d.file, d.document
            )));
        };
        if kind.namespaced && key.namespace.is_empty() {
            return Ok(Err(format!(
                "{}: {key}: namespaced object without a namespace and no spec.destination.namespace",
                d.file
            )));
        }
        if !seen.insert(key.clone()) {
            continue;
        }
        let live = if kind.pending {
            live::get(&cluster.client, &kind, &key).await?
        } else {
            cluster.watches.ensure(&gvk, &kind);
            match cluster.watches.cached(&gvk, &kind, &key) {
                Some(cached) => cached,
                None => live::get(&cluster.client, &kind, &key).await?,
            }
        };
        let diff = match diff(Some(&obj), live.as_ref(), options) {
            Ok(d) => d,
            Err(e) => {
                return Ok(Err(format!(
                    "Failed to compare desired state to live state: {e}"
                )));
            }
        };
        items.push(Item {
            key,
            kind,
            desired: Some(obj),
            live,
            diff,
        });
    }
    for r in previously_managed(app) {
        let key = ResourceKey::new(&r.group, &r.kind, &r.namespace, &r.name);
        if seen.contains(&key) {
            continue;
        }
        let api_version = if r.group.is_empty() {
            r.version.clone()
        } else {
            format!("{}/{}", r.group, r.version)
        };
        let gvk = gvk_of(&api_version, &r.kind);
        let Some(kind) = cluster.kinds.lookup(&cluster.client, &gvk).await? else {
            continue;
        };
        cluster.watches.ensure(&gvk, &kind);
        let cached = match cluster.watches.cached(&gvk, &kind, &key) {
            Some(cached) => cached,
            None => live::get(&cluster.client, &kind, &key).await?,
        };
        let Some(live) = cached else {
            continue;
        };
        if !is_tracked_by(&live, &instance) {
            continue;
        }
        seen.insert(key.clone());
        let diff = match diff(None, Some(&live), options) {
            Ok(d) => d,
            Err(e) => {
                return Ok(Err(format!(
                    "Failed to compare desired state to live state: {e}"
                )));
            }
        };
        items.push(Item {
            key,
            kind,
            desired: None,
            live: Some(live),
            diff,
        });
    }
    Ok(Ok(items))
}

/// An object this Application managed before.
struct PreviousObject {
    group: String,
    version: String,
    kind: String,
    namespace: String,
    name: String,
}

/// Objects the Application managed before this reconcile: its last listed resources, and the
/// objects its last operation applied. The second matters after a rollback (or a sync of
/// another revision): what that operation created is not in the spec's revision, so without
/// it the object would never be listed, shown as needing prune, or pruned.
fn previously_managed(app: &Application) -> Vec<PreviousObject> {
    let Some(status) = app.status.as_ref() else {
        return Vec::new();
    };
    let listed = status.resources.iter().map(|r| PreviousObject {
        group: r.group.clone(),
        version: r.version.clone(),
        kind: r.kind.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
    });
    let applied = status
        .operation_state
        .as_ref()
        .and_then(|o| o.sync_result.as_ref())
        .map(|r| r.resources.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|r| r.hook_type.is_none() && !r.kind.is_empty())
        .map(|r| PreviousObject {
            group: r.group.clone(),
            version: r.version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        });
    let mut seen = HashSet::new();
    listed
        .chain(applied)
        .filter(|o| seen.insert(ResourceKey::new(&o.group, &o.kind, &o.namespace, &o.name)))
        .collect()
}
