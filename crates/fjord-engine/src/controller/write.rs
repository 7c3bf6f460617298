//! The writes a sync makes beyond plain server-side apply: the per-object sync options
//! (`Replace` as PUT or create, `Force` as delete and create, `Validate=false` as
//! `fieldValidation=Ignore`), prune with a propagation policy, and waiting for an object to
//! be gone (a hook deleted before it is created again).

use super::live::Kind;
use crate::resource::{FIELD_MANAGER, ResourceKey};
use crate::sync_options::{ObjectSyncOptions, PropagationPolicy};
use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy as Propagation,
    ValidationDirective,
};
use kube::{Api, Client};
use serde_json::Value;
use std::time::{Duration, Instant};

fn api(client: &Client, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
    if kind.namespaced {
        Api::namespaced_with(client.clone(), namespace, &kind.resource)
    } else {
        Api::all_with(client.clone(), &kind.resource)
    }
}

fn validation(validate: bool) -> ValidationDirective {
    if validate {
        ValidationDirective::Strict
    } else {
        ValidationDirective::Ignore
    }
}

fn to_value(obj: DynamicObject, desired: &Value) -> Value {
    let mut live = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut live {
        for field in ["apiVersion", "kind"] {
            if !m.get(field).is_some_and(Value::is_string)
                && let Some(v) = desired.get(field)
            {
                m.insert(field.to_string(), v.clone());
            }
        }
    }
    live
}

fn dynamic(obj: &Value) -> Result<DynamicObject, kube::Error> {
    serde_json::from_value(obj.clone()).map_err(kube::Error::SerdeError)
}

/// How an object was written, for the result message.
pub(crate) enum Written {
    Created,
    Configured,
    Replaced,
}

impl Written {
    pub fn verb(&self) -> &'static str {
        match self {
            Written::Created => "created",
            Written::Configured => "configured",
            Written::Replaced => "replaced",
        }
    }
}

/// Writes `obj` as the options say: server-side apply (manager `fjord`, forcing
/// conflicts), or with `replace` a PUT of the whole object over `live` (a create when
/// missing; with `force`, a delete and create). With `dry_run` the server only validates
/// (and nothing is deleted).
///
/// Guarantees: the returned value is the object as the server stored it.
/// Errors: the API's refusal (validation, conflicts, admission).
pub(crate) async fn write(
    client: &Client,
    kind: &Kind,
    key: &ResourceKey,
    obj: &Value,
    live: Option<&Value>,
    options: &ObjectSyncOptions,
    dry_run: bool,
) -> Result<(Value, Written), kube::Error> {
    let api = api(client, kind, &key.namespace);
    if !options.replace {
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.field_validation = Some(validation(options.validate));
        params.dry_run = dry_run;
        let stored = api.patch(&key.name, &params, &Patch::Apply(obj)).await?;
        let verb = if live.is_some() {
            Written::Configured
        } else {
            Written::Created
        };
        return Ok((to_value(stored, obj), verb));
    }
    let post = PostParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    let existing = match live {
        Some(l) if options.force && !dry_run => {
            delete(client, kind, key, PropagationPolicy::Foreground, false).await?;
            wait_gone(client, kind, key, l, Duration::from_secs(30)).await?;
            None
        }
        other => other,
    };
    match existing {
        None => {
            let stored = api.create(&post, &dynamic(obj)?).await?;
            Ok((to_value(stored, obj), Written::Created))
        }
        Some(l) => {
            let mut body = obj.clone();
            if let (Some(meta), Some(rv)) = (
                body.get_mut("metadata").and_then(Value::as_object_mut),
                l.pointer("/metadata/resourceVersion").cloned(),
            ) {
                meta.insert("resourceVersion".into(), rv);
            }
            let stored = api.replace(&key.name, &post, &dynamic(&body)?).await?;
            Ok((to_value(stored, obj), Written::Replaced))
        }
    }
}

/// Deletes one object with `policy` (absent is fine); with `dry_run` the server only checks.
pub(crate) async fn delete(
    client: &Client,
    kind: &Kind,
    key: &ResourceKey,
    policy: PropagationPolicy,
    dry_run: bool,
) -> Result<(), kube::Error> {
    let params = DeleteParams {
        dry_run,
        propagation_policy: Some(match policy {
            PropagationPolicy::Foreground => Propagation::Foreground,
            PropagationPolicy::Background => Propagation::Background,
            PropagationPolicy::Orphan => Propagation::Orphan,
        }),
        ..Default::default()
    };
    match api(client, kind, &key.namespace)
        .delete(&key.name, &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Waits until the object `old` (by uid) is gone, up to `limit`.
pub(crate) async fn wait_gone(
    client: &Client,
    kind: &Kind,
    key: &ResourceKey,
    old: &Value,
    limit: Duration,
) -> Result<(), kube::Error> {
    let uid = old.pointer("/metadata/uid").and_then(Value::as_str);
    let api = api(client, kind, &key.namespace);
    let deadline = Instant::now() + limit;
    loop {
        let current = api.get_opt(&key.name).await?;
        let same = current
            .as_ref()
            .is_some_and(|c| uid.is_none() || c.metadata.uid.as_deref() == uid);
        if !same || Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
