//! Deleting an Application. With Argo CD's `resources-finalizer.argocd.argoproj.io` (or its
//! `/background` and `/foreground` variants) the objects the Application tracks are deleted
//! first (in prune order), then the finalizer is removed; without it the objects stay.

use super::live::{self, gvk_of};
use super::{Context, ControllerError, kube_err};
use crate::plan::prune_order;
use crate::resource::{ResourceKey, app_instance_name, is_tracked_by};
use crate::types::Application;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use std::time::Duration;

/// The cascade-delete finalizer and its variants.
pub(crate) fn is_resources_finalizer(f: &str) -> bool {
    f == "resources-finalizer.argocd.argoproj.io"
        || f.starts_with("resources-finalizer.argocd.argoproj.io/")
}

/// Handles an Application being deleted; returns when to look again (`None`: done).
pub(crate) async fn finalize(
    ctx: &Context,
    app: &Application,
) -> Result<Option<Duration>, ControllerError> {
    let finalizers = app.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| is_resources_finalizer(f)) {
        return Ok(None);
    }
    let cluster = ctx
        .cluster_for(app)
        .await?
        .map_err(|message| ControllerError::Destination {
            step: format!("deleting the objects of {}/{}", app.namespace(), app.name()),
            message,
        })?;
    let instance = app_instance_name(app.name(), app.namespace(), &ctx.config.namespace);
    let mut tracked: Vec<(ResourceKey, Value, live::Kind)> = Vec::new();
    for r in app
        .status
        .as_ref()
        .map(|s| s.resources.as_slice())
        .unwrap_or(&[])
    {
        let api_version = if r.group.is_empty() {
            r.version.clone()
        } else {
            format!("{}/{}", r.group, r.version)
        };
        let Some(kind) = cluster
            .kinds
            .lookup(&cluster.client, &gvk_of(&api_version, &r.kind))
            .await?
        else {
            continue;
        };
        let key = ResourceKey::new(&r.group, &r.kind, &r.namespace, &r.name);
        if let Some(obj) = live::get(&cluster.client, &kind, &key).await?
            && is_tracked_by(&obj, &instance)
        {
            tracked.push((key, obj, kind));
        }
    }
    prune_order(&mut tracked, |(k, v, _)| (k, v));
    for (key, _, kind) in &tracked {
        live::delete(&cluster.client, kind, key)
            .await
            .map_err(kube_err(format!("deleting {key} of a deleted Application")))?;
        tracing::info!(object = %key, "deleted with its Application");
    }
    if !tracked.is_empty() {
        // Look again once the deletions have gone through.
        return Ok(Some(Duration::from_millis(500)));
    }
    let remaining: Vec<&String> = finalizers
        .iter()
        .filter(|f| !is_resources_finalizer(f))
        .collect();
    let api: Api<Application> = Api::namespaced(ctx.client.clone(), app.namespace());
    api.patch(
        app.name(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": remaining}})),
    )
    .await
    .map_err(kube_err(format!(
        "removing the finalizer of {}/{}",
        app.namespace(),
        app.name()
    )))?;
    Ok(None)
}
