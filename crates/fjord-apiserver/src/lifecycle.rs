//! Object lifecycle rules that every write passes through: server-set metadata (uid, timestamps,
//! generation), status subresource isolation, deletion with finalizers, and the effects that writes
//! to Namespaces and CustomResourceDefinitions have on the rest of the server.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::http::error::{ApiError, ApiResult, FieldCause};
use crate::object;
use crate::registry::{Registry, ResourceType, types_from_crd};
use crate::rest::Api;
use crate::store::{Mutation, Precondition, Store, Write};

/// Server-set fields of a new object.
pub fn prepare_create(rt: &ResourceType, obj: &mut Value) {
    let meta = object::meta_mut(obj);
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(object::now()));
    for k in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(k);
    }
    if rt.has_generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if rt.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    kind_rules(rt, None, obj);
}

/// Rules of an update: what the client may not change, status isolation, generation.
pub fn prepare_update(
    rt: &ResourceType,
    subresource: Option<&str>,
    current: &Value,
    new: &mut Value,
) -> ApiResult<()> {
    match subresource {
        Some("status") => {
            // Only status changes through /status (and the managedFields that record it).
            let status = new.get("status").cloned();
            let managed = object::meta(new)
                .and_then(|m| m.get("managedFields"))
                .cloned();
            let mut merged = current.clone();
            if let Some(m) = managed {
                object::meta_mut(&mut merged).insert("managedFields".into(), m);
            }
            // A Deployment's /status also takes annotation changes: its controller records the
            // revision there without bumping the generation.
            if rt.group == "apps" && rt.kind == "Deployment" {
                match object::meta(new)
                    .and_then(|m| m.get("annotations"))
                    .cloned()
                {
                    Some(a) => {
                        object::meta_mut(&mut merged).insert("annotations".into(), a);
                    }
                    None => {
                        object::meta_mut(&mut merged).remove("annotations");
                    }
                }
            }
            if let Some(m) = merged.as_object_mut() {
                match status {
                    Some(s) => {
                        m.insert("status".into(), s);
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
            *new = merged;
            return Ok(());
        }
        Some("finalize") if rt.group.is_empty() && rt.plural == "namespaces" => {
            let finalizers = new.pointer("/spec/finalizers").cloned();
            let mut merged = current.clone();
            set_path(
                &mut merged,
                &["spec", "finalizers"],
                finalizers.unwrap_or(json!([])),
            );
            *new = merged;
            return Ok(());
        }
        Some(other) => {
            return Err(ApiError::not_found_raw(
                &rt.group,
                &format!("{}/{other}", rt.plural),
                object::name(current),
            ));
        }
        None => {}
    }
    crate::rest::keep_system_metadata(current, new);
    if rt.status_subresource
        && let Some(m) = new.as_object_mut()
    {
        match current.get("status") {
            Some(s) => {
                m.insert("status".into(), s.clone());
            }
            None => {
                m.remove("status");
            }
        }
    }
    if object::is_deleting(current) {
        let before = object::finalizers(current);
        if object::finalizers(new).iter().any(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                rt,
                object::name(current),
                vec![FieldCause {
                    reason: "FieldValueForbidden",
                    message:
                        "Forbidden: no new finalizers can be added if the object is being deleted"
                            .into(),
                    field: "metadata.finalizers".into(),
                }],
            ));
        }
    }
    kind_rules(rt, Some(current), new);
    if rt.has_generation && spec_changed(rt, current, new) {
        let generation = object::meta(current)
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        object::meta_mut(new).insert("generation".into(), json!(generation + 1));
    }
    Ok(())
}

/// Whether a write changes what `metadata.generation` counts: everything but metadata and status
/// (status too for custom resources without a status subresource); Deployments also count
/// annotations.
fn spec_changed(rt: &ResourceType, current: &Value, new: &Value) -> bool {
    let status_ignored = rt.status_subresource || !rt.is_custom();
    let skip = |k: &str| {
        matches!(k, "metadata" | "apiVersion" | "kind") || (status_ignored && k == "status")
    };
    let (Some(a), Some(b)) = (current.as_object(), new.as_object()) else {
        return current != new;
    };
    if !maps_equal_except(a, b, skip, |_, x, y| x == y) {
        return true;
    }
    rt.group == "apps"
        && rt.kind == "Deployment"
        && object::meta(current).and_then(|m| m.get("annotations"))
            != object::meta(new).and_then(|m| m.get("annotations"))
}

/// Per-kind rules that hold on every write.
fn kind_rules(rt: &ResourceType, current: Option<&Value>, obj: &mut Value) {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => {
            let name = object::name(obj).to_string();
            let meta = object::meta_mut(obj);
            let labels = meta
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), Value::String(name));
            }
            match current {
                None => {
                    set_path(obj, &["spec", "finalizers"], json!(["kubernetes"]));
                    set_path(obj, &["status", "phase"], json!("Active"));
                }
                Some(cur) => {
                    // spec.finalizers changes only through /finalize; status through /status.
                    let fins = cur
                        .pointer("/spec/finalizers")
                        .cloned()
                        .unwrap_or(json!([]));
                    set_path(obj, &["spec", "finalizers"], fins);
                }
            }
        }
        ("", "Secret") => fold_string_data(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => set_crd_status(obj),
        _ => {}
    }
}

/// `stringData` is write-only: merged into `data` (base64) and never stored.
fn fold_string_data(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(d) = data.as_object_mut() {
            for (k, v) in string_data {
                let s = v.as_str().unwrap_or_default();
                d.insert(
                    k,
                    Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
                );
            }
        }
    }
    map.entry("type")
        .or_insert_with(|| Value::String("Opaque".into()));
}

/// A CRD's names are accepted and it is established as soon as it is stored: the server serves
/// its kind at once.
fn set_crd_status(obj: &mut Value) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored_versions: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let now = object::now();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    let mut accepted = names.clone();
    if let Some(a) = accepted.as_object_mut()
        && !a.contains_key("singular")
        && let Some(kind) = names.get("kind").and_then(Value::as_str)
    {
        a.insert("singular".into(), Value::String(kind.to_ascii_lowercase()));
    }
    let status = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": accepted,
        "storedVersions": stored_versions,
    });
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), status);
    }
}

fn set_path(obj: &mut Value, path: &[&str], value: Value) {
    let mut cur = obj;
    for (i, seg) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let map = cur.as_object_mut().expect("made an object");
        if i == path.len() - 1 {
            map.insert(seg.to_string(), value);
            return;
        }
        cur = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Whether two versions of an object have the same content (ignoring resourceVersion).
pub fn same_content(current: &Value, new: &Value) -> bool {
    same_content_but(current, new, false)
}

/// Like [`same_content`], also ignoring the `time` of every managedFields entry (`manager_times`):
/// an apply that would only move those times makes no write.
pub fn same_content_but(current: &Value, new: &Value, manager_times: bool) -> bool {
    let (Some(a), Some(b)) = (current.as_object(), new.as_object()) else {
        return current == new;
    };
    // Compared in place: these run on every write, and copying two whole objects to strip a
    // few fields was a tenth of an apply's CPU time.
    maps_equal_except(
        a,
        b,
        |_| false,
        |k, x, y| match (k, x.as_object(), y.as_object()) {
            ("metadata", Some(ma), Some(mb)) => maps_equal_except(
                ma,
                mb,
                |k| k == "resourceVersion",
                |k, x, y| {
                    if k == "managedFields" && manager_times {
                        entries_equal_but_time(x, y)
                    } else {
                        x == y
                    }
                },
            ),
            _ => x == y,
        },
    )
}

/// managedFields lists equal but for their entries' `time`.
fn entries_equal_but_time(a: &Value, b: &Value) -> bool {
    match (a.as_array(), b.as_array()) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| match (x.as_object(), y.as_object()) {
                        (Some(x), Some(y)) => {
                            maps_equal_except(x, y, |k| k == "time", |_, p, q| p == q)
                        }
                        _ => x == y,
                    })
        }
        _ => a == b,
    }
}

/// Whether two JSON objects have the same keys and values, leaving out the keys `skip` names;
/// `eq` compares the values of one key.
fn maps_equal_except(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    skip: impl Fn(&str) -> bool,
    eq: impl Fn(&str, &Value, &Value) -> bool,
) -> bool {
    let kept = |m: &Map<String, Value>| m.keys().filter(|k| !skip(k)).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip(k))
            .all(|(k, x)| b.get(k).is_some_and(|y| eq(k, x, y)))
}

/// What a DELETE does.
pub enum DeletePlan {
    /// Remove the object now.
    Remove,
    /// It is already being deleted: nothing changes.
    Unchanged,
    /// Set deletionTimestamp (and the finalizers the policy needs) and keep the object until the
    /// finalizers are gone.
    MarkDeleting(Value),
}

/// The finalizer of a Foreground deletion: the garbage collector removes it once no dependent
/// with `blockOwnerDeletion` is left.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer of an Orphan deletion: the garbage collector removes it once the dependents'
/// owner references to the object are gone.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// The propagation policy of a DELETE that names none: `Orphan` for `batch/v1` Jobs (kept for
/// compatibility by the real Job registry; kubectl always asks for `Background`), `Background` for
/// everything else.
pub fn default_propagation(rt: &ResourceType) -> &'static str {
    if rt.group == "batch" && rt.version == "v1" && rt.kind == "Job" {
        "Orphan"
    } else {
        "Background"
    }
}

/// Decides what a DELETE does to `current`.
pub fn plan_delete(
    rt: &ResourceType,
    current: &Value,
    policy: Option<&str>,
) -> ApiResult<DeletePlan> {
    match policy {
        None | Some("Background" | "Foreground" | "Orphan") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
    }
    if object::is_deleting(current) {
        return Ok(DeletePlan::Unchanged);
    }
    let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
    let gc_finalizer = match policy.unwrap_or_else(|| default_propagation(rt)) {
        _ if is_namespace => None,
        "Foreground" => Some(FOREGROUND_FINALIZER),
        "Orphan" => Some(ORPHAN_FINALIZER),
        _ => None,
    };
    if object::finalizers(current).is_empty() && !is_namespace && gc_finalizer.is_none() {
        return Ok(DeletePlan::Remove);
    }
    let mut marked = current.clone();
    if let Some(f) = gc_finalizer
        && !object::finalizers(current).iter().any(|x| x == f)
    {
        let meta = object::meta_mut(&mut marked);
        let list = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Some(a) = list.as_array_mut() {
            a.push(Value::String(f.to_string()));
        }
    }
    let generation = object::meta(current)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64);
    let meta = object::meta_mut(&mut marked);
    meta.insert("deletionTimestamp".into(), Value::String(object::now()));
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    if rt.has_generation
        && let Some(g) = generation
    {
        meta.insert("generation".into(), json!(g + 1));
    }
    if is_namespace {
        set_path(&mut marked, &["status", "phase"], json!("Terminating"));
    }
    Ok(DeletePlan::MarkDeleting(marked))
}

/// A CRD was created or changed: serve what it defines now.
pub async fn crd_written(api: &Api, crd: &Value) {
    let name = object::name(crd).to_string();
    match types_from_crd(crd) {
        Ok(types) => api.registry.set_crd_types(&name, types),
        Err(e) => tracing::warn!(crd = %name, error = %e, "stored CRD cannot be served"),
    }
}

/// A CRD was deleted: its objects go with it, and its kinds are no longer served.
pub async fn crd_deleted(api: &Api, crd: &Value) {
    let name = object::name(crd).to_string();
    api.registry.set_crd_types(&name, Vec::new());
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    if group.is_empty() || plural.is_empty() {
        return;
    }
    delete_prefix(&api.store, &format!("{group}/{plural}/")).await;
}

/// Removes every object under a key prefix, finalizers or not.
async fn delete_prefix(store: &Store, prefix: &str) {
    let (items, _, _) = store.list(prefix, None, None, |_| true);
    for item in items {
        let ns = object::meta_str(&item.value, "namespace").unwrap_or("");
        let key = format!("{prefix}{ns}/{}", object::name(&item.value));
        let _ = store
            .write(Write {
                key,
                precondition: Precondition::AtRevision(item.rev),
                mutation: Mutation::Delete,
            })
            .await;
    }
}

/// A namespace is Terminating: delete its contents, then finalize and remove it, as the namespace
/// controller does. Objects with finalizers hold it until they are gone.
pub fn namespace_deleting(api: &Api, namespace: &str) {
    let store = api.store.clone();
    let registry = api.registry.clone();
    let namespace = namespace.to_string();
    tokio::spawn(async move {
        finish_namespace(store, registry, namespace).await;
    });
}

async fn finish_namespace(store: Arc<Store>, registry: Arc<Registry>, namespace: String) {
    let ns_key = format!("/namespaces//{namespace}");
    loop {
        let mut remaining = 0usize;
        let types = registry.snapshot();
        let mut prefixes: Vec<String> = types
            .all()
            .filter(|t| t.namespaced)
            .map(|t| t.namespace_prefix(Some(&namespace)))
            .collect();
        prefixes.dedup();
        for prefix in prefixes {
            let (items, _, _) = store.list(&prefix, None, None, |_| true);
            for item in items {
                remaining += 1;
                let key = format!("{prefix}{}", object::name(&item.value));
                if object::finalizers(&item.value).is_empty() {
                    let _ = store
                        .write(Write {
                            key,
                            precondition: Precondition::AtRevision(item.rev),
                            mutation: Mutation::Delete,
                        })
                        .await;
                } else if !object::is_deleting(&item.value) {
                    let mut marked = (*item.value).clone();
                    object::meta_mut(&mut marked)
                        .insert("deletionTimestamp".into(), Value::String(object::now()));
                    let _ = store
                        .write(Write {
                            key,
                            precondition: Precondition::AtRevision(item.rev),
                            mutation: Mutation::Put(marked),
                        })
                        .await;
                }
            }
        }
        let Some(ns) = store.get(&ns_key) else {
            return;
        };
        if !object::is_deleting(&ns.value) {
            return;
        }
        if remaining == 0 {
            // Finalize: the `kubernetes` finalizer goes, then the namespace itself.
            let user_finalizers = object::finalizers(&ns.value);
            if user_finalizers.is_empty() {
                let _ = store
                    .write(Write {
                        key: ns_key.clone(),
                        precondition: Precondition::AtRevision(ns.rev),
                        mutation: Mutation::Delete,
                    })
                    .await;
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn same_content_ignores_only_the_resource_version_and_key_order() {
        let a = json!({"kind": "X", "metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"x": 1, "y": 2}});
        let b = json!({"spec": {"y": 2, "x": 1}, "metadata": {"resourceVersion": "9", "name": "a"}, "kind": "X"});
        assert!(same_content(&a, &b));
        let c =
            json!({"kind": "X", "metadata": {"name": "a", "labels": {}}, "spec": {"x": 1, "y": 2}});
        assert!(!same_content(&a, &c), "an extra metadata key is a change");
        let d = json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"x": 1, "y": 3}});
        assert!(!same_content(&a, &d));
        let e = json!({"kind": "X", "metadata": {"name": "a"}});
        assert!(!same_content(&a, &e), "a missing top-level key is a change");
    }

    #[test]
    fn manager_times_are_ignored_only_when_asked() {
        let entry = |time: &str, op: &str| json!({"manager": "m", "operation": op, "time": time, "fieldsV1": {"f:spec": {}}});
        let a = json!({"metadata": {"name": "a", "managedFields": [entry("t1", "Apply")]}});
        let b = json!({"metadata": {"name": "a", "managedFields": [entry("t2", "Apply")]}});
        assert!(!same_content(&a, &b));
        assert!(same_content_but(&a, &b, true));
        let c = json!({"metadata": {"name": "a", "managedFields": [entry("t2", "Update")]}});
        assert!(
            !same_content_but(&a, &c, true),
            "other entry fields still count"
        );
        let d = json!({"metadata": {"name": "a", "managedFields": [entry("t1", "Apply"), entry("t1", "Apply")]}});
        assert!(!same_content_but(&a, &d, true));
    }
}
