//! The apiserver's field-manager wrapping around the SMD core (apimachinery
//! `managedfields/internal`): manager identity, `before-first-apply`, untracked updates,
//! `managedFields: [{}]` resets, meta fields that are never owned, timestamps, the Update-entry
//! cap, reset fields, and the errors the apiserver returns.

use crate::error::{ApplyError, Conflicts};
use crate::fieldpath::{FieldPath, FieldSet};
use crate::managed::{self, Managed, ManagerId, Operation};
use crate::reset::{reset_set, reset_values};
use crate::schema::{Schema, TypeRef};
use crate::typed::validate;
use crate::updater::Updater;
use crate::value::{equals, has_integral_floats, normalize_numbers};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Manager name recorded for writes without one.
pub const UNKNOWN_MANAGER: &str = "unknown";
/// Update manager that records pre-existing fields on the first apply to an untracked object.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";
const CURRENT_OPERATION: &str = "current-operation";

/// A server-side apply (`PATCH` with `application/apply-patch+yaml`).
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// `fieldManager`; empty becomes `unknown`.
    pub manager: &'a str,
    /// `force=true`: take conflicting fields instead of failing.
    pub force: bool,
    /// The endpoint's apiVersion (`apps/v1`); the applied object must match it.
    pub api_version: &'a str,
    /// `Some("status")` for `/status` and similar.
    pub subresource: Option<&'a str>,
    /// Current time, RFC 3339 (`2026-01-01T00:00:00Z`), stored on entries that change.
    pub now: &'a str,
    /// Fields this endpoint ignores (e.g. `status` on the main resource of a kind with a status
    /// subresource, `spec` on `/status`, Namespace `spec.finalizers`): neither stored nor owned.
    pub reset_fields: &'a [FieldPath],
}

/// Any other write: create, update, JSON / merge / strategic patch (the caller passes the full
/// new object after patching).
#[derive(Debug, Clone, Copy)]
pub struct UpdateRequest<'a> {
    /// Field manager; empty becomes `unknown`.
    pub manager: &'a str,
    /// The request's apiVersion (part of the Update entry's identity).
    pub api_version: &'a str,
    /// Subresource, if any.
    pub subresource: Option<&'a str>,
    /// Current time, RFC 3339.
    pub now: &'a str,
    /// Fields this endpoint ignores (see [`ApplyRequest::reset_fields`]); the live values are
    /// kept (dropped on create).
    pub reset_fields: &'a [FieldPath],
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The full object to store, with `metadata.managedFields` (absent when empty).
    pub object: Value,
    /// The object (ignoring managedFields) differs from the live one.
    pub object_changed: bool,
    /// Ownership (ignoring times) differs from the live object's.
    pub managed_fields_changed: bool,
    /// For updates: the field manager failed and the object lost its managedFields
    /// (the apiserver's `UpdateNoErrors`); the write itself still goes ahead.
    pub field_manager_error: Option<String>,
}

fn manager_name(m: &str) -> &str {
    if m.is_empty() { UNKNOWN_MANAGER } else { m }
}

fn meta_str<'v>(obj: &'v Value, field: &str) -> &'v str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn gvk_string(obj: &Value) -> String {
    let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
    format!("{group}/{version}, Kind={kind}")
}

/// `namespace/name; group/version, Kind=Kind`, as the apiserver names objects in errors.
fn object_ref(obj: &Value) -> String {
    format!(
        "{}/{}; {}",
        meta_str(obj, "namespace"),
        meta_str(obj, "name"),
        gvk_string(obj)
    )
}

fn object_entries(obj: &Value) -> Option<&Value> {
    obj.get("metadata").and_then(|m| m.get("managedFields"))
}

fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
}

fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    let entries = managed::encode(managed);
    let Value::Object(root) = obj else { return };
    if entries.is_empty() {
        if let Some(Value::Object(m)) = root.get_mut("metadata") {
            m.remove("managedFields");
        }
        return;
    }
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = meta {
        m.insert("managedFields".into(), Value::Array(entries));
    }
}

/// Paths stripped from every manager's set (`stripmeta.go`).
fn strip_set() -> &'static FieldSet {
    static STRIP: OnceLock<FieldSet> = OnceLock::new();
    STRIP.get_or_init(|| {
        let mut s = FieldSet::new();
        for p in [
            ".apiVersion",
            ".kind",
            ".metadata",
            ".metadata.name",
            ".metadata.namespace",
            ".metadata.creationTimestamp",
            ".metadata.selfLink",
            ".metadata.uid",
            ".metadata.clusterName",
            ".metadata.generation",
            ".metadata.managedFields",
            ".metadata.resourceVersion",
        ] {
            s.insert(FieldPath::from_dotted(p).elements());
        }
        s
    })
}

fn strip(managed: &mut Managed, id: &ManagerId) {
    if let Some(vs) = managed.fields.get_mut(id) {
        vs.set.remove_all(strip_set());
        if vs.set.is_empty() {
            managed.fields.remove(id);
        }
    }
}

fn typing_failed(what: &str, obj: &Value, err: impl std::fmt::Display) -> String {
    format!(
        "failed to create typed {what} object ({}): {err}",
        object_ref(obj)
    )
}

/// Runs a tracked Update through the wrapper chain: SMD update as `current-operation`, strip
/// meta fields, merge into the writer's entry with a new time when it changed something.
fn tracked_update(
    updater: &Updater<'_>,
    live: &Value,
    new: &Value,
    managed: &mut Managed,
    writer: &ManagerId,
    api_version: &str,
    now: &str,
) {
    let current = ManagerId::new(CURRENT_OPERATION, Operation::Update, api_version, "\u{0}");
    updater.update(live, new, api_version, &mut managed.fields, &current);
    strip(managed, &current);
    if let Some(vs) = managed.fields.remove(&current) {
        let set = match managed.fields.get(writer) {
            Some(prev) => vs.set.union(&prev.set),
            None => vs.set,
        };
        managed.fields.insert(
            writer.clone(),
            crate::managed::VersionedSet {
                set,
                api_version: api_version.to_string(),
                applied: false,
            },
        );
        managed.times.insert(writer.clone(), now.to_string());
    }
    managed::cap_update_managers(managed);
}

/// Server-side apply of `applied` onto `live` (`None` = create).
///
/// # Guarantees
/// The returned object is `live` merged with `applied`, minus the fields this manager applied
/// last time and no longer applies (unless another manager owns them), carrying the new
/// `metadata.managedFields`. Nothing is returned on error; `live` is never modified.
///
/// # Errors
/// [`ApplyError::Conflicts`] (409) when other managers own changed fields and `force` is off;
/// [`ApplyError::Invalid`] (400) for a wrong apiVersion/kind or managedFields in the request;
/// [`ApplyError::Failed`] (500) when an object does not fit the schema (the applied
/// configuration may not hold duplicate list keys).
pub fn apply(
    schema: &Schema,
    ty: &TypeRef,
    live: Option<&Value>,
    applied: &Value,
    req: &ApplyRequest<'_>,
) -> Result<WriteOutcome, ApplyError> {
    let av = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = applied.get("kind").and_then(Value::as_str).unwrap_or("");
    let kinds = schema.gvks_of(*ty);
    let kind_ok = kinds.is_empty() || kinds.iter().any(|(_, _, k)| k == kind);
    if av != req.api_version || !kind_ok {
        return Err(ApplyError::Invalid {
            message: format!("invalid object type: {}", gvk_string(applied)),
        });
    }
    if applied
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(Value::is_array)
    {
        return Err(ApplyError::Invalid {
            message: "metadata.managedFields must be nil".into(),
        });
    }
    // The live object is used as is: its managedFields are never owned (stripped), the
    // configuration cannot contain any, so the merge keeps them and they are replaced below.
    let empty = Value::Object(Map::new());
    let live_val = live.unwrap_or(&empty);
    let live_entries = live_val
        .get("metadata")
        .and_then(|m| m.get("managedFields"));
    let mut managed = match live_entries {
        Some(list) => managed::decode(list).map_err(|e| ApplyError::Failed {
            message: format!("failed to decode managed fields: {e}"),
        })?,
        None => Managed::default(),
    };
    let ignored = reset_set(req.reset_fields);
    let updater = Updater {
        schema,
        ty: *ty,
        ignored: &ignored,
    };
    let config = if has_integral_floats(applied) {
        let mut c = applied.clone();
        normalize_numbers(&mut c);
        Cow::Owned(c)
    } else {
        Cow::Borrowed(applied)
    };
    let subresource = req.subresource.unwrap_or("");
    let first_apply = live.is_some() && managed.fields.is_empty();
    if first_apply {
        if let Err(e) = validate(schema, *ty, live_val, true) {
            return Err(ApplyError::Failed {
                message: format!(
                    "failed to create manager for existing fields: failed to convert new object ({}) to smd typed: {e}",
                    object_ref(live_val)
                ),
            });
        }
        let bfa = ManagerId::new(
            BEFORE_FIRST_APPLY,
            Operation::Update,
            req.api_version,
            subresource,
        );
        tracked_update(
            &updater,
            &empty,
            live_val,
            &mut managed,
            &bfa,
            req.api_version,
            req.now,
        );
    }
    validate(schema, *ty, &config, false).map_err(|e| ApplyError::Failed {
        message: typing_failed("patch", applied, e),
    })?;
    validate(schema, *ty, live_val, true).map_err(|e| ApplyError::Failed {
        message: typing_failed("live", live_val, e),
    })?;
    let id = ManagerId::new(
        manager_name(req.manager),
        Operation::Apply,
        req.api_version,
        subresource,
    );
    let (new, previous) = updater
        .apply(
            live_val,
            &config,
            req.api_version,
            &mut managed.fields,
            &id,
            req.force,
        )
        .map_err(|sets| ApplyError::Conflicts(Conflicts::from_sets(&sets)))?;
    strip(&mut managed, &id);
    if new.is_none() && !first_apply && managed.fields.get(&id) == previous.as_ref() {
        // Nothing changed at all: the live object, managedFields included, stands as it is.
        return Ok(WriteOutcome {
            object: live_val.clone(),
            object_changed: false,
            managed_fields_changed: false,
            field_manager_error: None,
        });
    }
    if new.is_some() {
        managed.times.insert(id.clone(), req.now.to_string());
    }
    managed.times.retain(|k, _| managed.fields.contains_key(k));
    // The endpoint's strategy then resets what it ignores (after the field manager ran).
    let (mut object, object_changed) = match new {
        Some(mut object) => {
            reset_values(&mut object, live, req.reset_fields);
            let changed = live.is_none() || !equals(live_val, &object);
            (object, changed)
        }
        None => (live_val.clone(), false),
    };
    set_managed_fields(&mut object, &managed);
    let managed_fields_changed = !managed::same_entries(live_entries, object_entries(&object));
    Ok(WriteOutcome {
        object,
        object_changed,
        managed_fields_changed,
        field_manager_error: None,
    })
}

/// Records a non-apply write of `new` over `live` (`None` = create). Never fails: if the field
/// manager cannot type the objects, the write goes ahead without managedFields
/// (`field_manager_error` says why), as the apiserver's `UpdateNoErrors` does.
///
/// A `metadata.managedFields` in `new` is honoured: `[{}]` clears all entries, a valid
/// non-empty list replaces them (ignored on subresources).
pub fn update(
    schema: &Schema,
    ty: &TypeRef,
    live: Option<&Value>,
    new: &Value,
    req: &UpdateRequest<'_>,
) -> WriteOutcome {
    let mut live_obj = live.cloned();
    let live_entries = live_obj.as_mut().and_then(take_managed_fields);
    let live_managed = live_entries
        .as_ref()
        .and_then(|l| managed::decode(l).ok())
        .unwrap_or_default();
    let mut new_obj = new.clone();
    let new_entries = take_managed_fields(&mut new_obj);
    let mut managed = match (&new_entries, req.subresource) {
        (Some(list), None) if managed::is_reset(list) => Managed::default(),
        (Some(list), None) => match managed::decode(list) {
            Ok(m) if !m.fields.is_empty() => m,
            _ => live_managed.clone(),
        },
        _ => live_managed.clone(),
    };
    normalize_numbers(&mut new_obj);
    let live_val = live_obj.unwrap_or_else(|| Value::Object(Map::new()));
    let mut field_manager_error = None;
    let tracked = live.is_none() || !managed.fields.is_empty();
    if tracked {
        let checked = validate(schema, *ty, &new_obj, true)
            .map_err(|e| {
                format!(
                    "failed to convert new object ({}) to smd typed: {e}",
                    object_ref(&new_obj)
                )
            })
            .and_then(|()| {
                validate(schema, *ty, &live_val, true).map_err(|e| {
                    format!(
                        "failed to convert live object ({}) to smd typed: {e}",
                        object_ref(&live_val)
                    )
                })
            });
        match checked {
            Ok(()) => {
                let ignored = reset_set(req.reset_fields);
                let updater = Updater {
                    schema,
                    ty: *ty,
                    ignored: &ignored,
                };
                let writer = ManagerId::new(
                    manager_name(req.manager),
                    Operation::Update,
                    req.api_version,
                    req.subresource.unwrap_or(""),
                );
                tracked_update(
                    &updater,
                    &live_val,
                    &new_obj,
                    &mut managed,
                    &writer,
                    req.api_version,
                    req.now,
                );
                managed.times.retain(|k, _| managed.fields.contains_key(k));
            }
            Err(e) => {
                managed = Managed::default();
                field_manager_error = Some(e);
            }
        }
    }
    // The endpoint's strategy then resets what it ignores (after the field manager ran).
    reset_values(&mut new_obj, live.map(|_| &live_val), req.reset_fields);
    let object_changed = live.is_none() || !equals(&live_val, &new_obj);
    set_managed_fields(&mut new_obj, &managed);
    let managed_fields_changed =
        !managed::same_entries(live_entries.as_ref(), object_entries(&new_obj));
    WriteOutcome {
        object: new_obj,
        object_changed,
        managed_fields_changed,
        field_manager_error,
    }
}
