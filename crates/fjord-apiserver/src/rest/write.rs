//! create, update, patch, delete and deletecollection.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{Api, json_response, json_response_with_warnings};
use crate::http::error::{ApiError, ApiResult, FieldCause};
use crate::http::path::ResourceRequest;
use crate::http::request::{BodyType, FieldValidation, Query};
use crate::lifecycle;
use crate::object;
use crate::patch;
use crate::registry::ResourceType;
use crate::store::{Mutation, Precondition, StoredObject, Write};

/// How many times a patch is retried when another writer got in between (no RV was asked for).
const PATCH_RETRIES: usize = 16;

impl Api {
    /// POST to a collection.
    pub(crate) async fn create(
        &self,
        req: &ResourceRequest,
        q: &Query,
        mut obj: Value,
    ) -> ApiResult<Response> {
        let rt = &req.rt;
        let dry_run = q.dry_run()?;
        check_type(rt, &mut obj)?;
        let ns = self.bind_namespace(req, &mut obj)?;
        let meta = object::meta_mut(&mut obj);
        if meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match meta.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match meta.get("generateName").and_then(Value::as_str) {
                Some(g) if !g.is_empty() => {
                    let n = format!("{g}{}", object::random_suffix());
                    meta.insert("name".into(), Value::String(n.clone()));
                    n
                }
                _ => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        vec![FieldCause {
                            reason: "FieldValueRequired",
                            message: "Required value: name or generateName is required".into(),
                            field: "metadata.name".into(),
                        }],
                    ));
                }
            },
        };
        let warnings = self.admit(rt, &name, &mut obj, q.field_validation()?)?;
        if let Some(ns) = &ns {
            self.check_namespace_accepts_content(ns)?;
        }
        crate::defaults::apply_defaults(rt, &mut obj);
        crate::immutable::check_object(rt, &obj)?;
        // The field manager sees the request's object; what the server then sets (uid, status
        // defaults) is owned by nobody, as on a real apiserver.
        self.track_update(rt, None, None, &mut obj, q.update_manager())?;
        lifecycle::prepare_create(rt, &mut obj);
        self.set_allocated_values(rt, None, &mut obj)?;
        let key = rt.key(ns.as_deref(), &name);
        let stored = self
            .commit(
                rt,
                &name,
                Write {
                    key,
                    precondition: Precondition::MustNotExist,
                    mutation: Mutation::Put(obj),
                },
                dry_run,
            )
            .await?;
        let mut body = std::borrow::Cow::Borrowed(&*stored.value);
        if dry_run {
            // A dry-run create has no resourceVersion: nothing was stored.
            object::meta_mut(body.to_mut()).remove("resourceVersion");
        } else {
            self.after_write(rt, &stored).await;
        }
        Ok(json_response_with_warnings(
            StatusCode::CREATED,
            &self.as_served_version(req, &body),
            &warnings,
        ))
    }

    /// PUT of an object or of its status subresource.
    pub(crate) async fn update(
        &self,
        req: &ResourceRequest,
        q: &Query,
        mut obj: Value,
    ) -> ApiResult<Response> {
        let rt = &req.rt;
        let name = req.name.clone().unwrap_or_default();
        let dry_run = q.dry_run()?;
        check_type(rt, &mut obj)?;
        self.bind_namespace(req, &mut obj)?;
        let body_name = object::name(&obj).to_string();
        if body_name.is_empty() {
            object::meta_mut(&mut obj).insert("name".into(), Value::String(name.clone()));
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let key = rt.key(req.namespace.as_deref(), &name);
        let current = self
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(rt, &name))?;
        let precondition = match object::meta_str(&obj, "resourceVersion") {
            Some(rv) if !rv.is_empty() => Precondition::AtRevision(parse_rv(rv)?),
            _ if rt.is_custom() => {
                return Err(ApiError::invalid(
                    rt,
                    &name,
                    vec![FieldCause::invalid(
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )],
                ));
            }
            _ => Precondition::AtRevision(current.rev),
        };
        let warnings = self.admit(rt, &name, &mut obj, q.field_validation()?)?;
        self.write_update(
            req,
            current,
            obj,
            precondition,
            dry_run,
            warnings,
            q.update_manager(),
        )
        .await
    }

    /// PATCH of an object or of a subresource, with any patch type but apply.
    pub(crate) async fn patch(
        &self,
        req: &ResourceRequest,
        q: &Query,
        body_type: BodyType,
        body: &[u8],
    ) -> ApiResult<Response> {
        let rt = &req.rt;
        let name = req.name.clone().unwrap_or_default();
        let dry_run = q.dry_run()?;
        if q.get("force").is_some() {
            return Err(ApiError::bad_request(
                "force: Forbidden: may not be specified for non-apply patch",
            ));
        }
        if body_type == BodyType::StrategicMergePatch && rt.is_custom() {
            return Err(ApiError::unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let patch_doc = crate::http::request::decode_object(body, body_type)?;
        let key = rt.key(req.namespace.as_deref(), &name);
        let field_validation = q.field_validation()?;
        for _ in 0..PATCH_RETRIES {
            let current = self
                .store
                .get(&key)
                .ok_or_else(|| ApiError::not_found(rt, &name))?;
            let mut patched = (*current.value).clone();
            match body_type {
                BodyType::JsonPatch => patch::json_patch(&mut patched, &patch_doc)?,
                BodyType::MergePatch => json_patch::merge(&mut patched, &patch_doc),
                BodyType::StrategicMergePatch => {
                    patch::strategic_merge(rt, &mut patched, &patch_doc)?
                }
                _ => {
                    return Err(ApiError::unsupported_media_type(
                        "the body of the request was in an unknown format",
                    ));
                }
            }
            check_type(rt, &mut patched)?;
            if object::name(&patched) != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    object::name(&patched)
                )));
            }
            // A patch that sets resourceVersion asks for exactly that version.
            let asked = object::meta_str(&patched, "resourceVersion")
                .filter(|rv| *rv != current.rev.to_string())
                .map(parse_rv)
                .transpose()?;
            let precondition = Precondition::AtRevision(asked.unwrap_or(current.rev));
            let warnings = self.admit(rt, &name, &mut patched, field_validation)?;
            match self
                .write_update(
                    req,
                    current,
                    patched,
                    precondition,
                    dry_run,
                    warnings,
                    q.update_manager(),
                )
                .await
            {
                Err(e) if e.code == 409 && asked.is_none() && e.reason == "Conflict" => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(rt, &name))
    }

    /// The common end of PUT and PATCH: lifecycle rules, no-op detection, commit.
    #[allow(clippy::too_many_arguments)]
    async fn write_update(
        &self,
        req: &ResourceRequest,
        current: StoredObject,
        mut new: Value,
        precondition: Precondition,
        dry_run: bool,
        warnings: Vec<String>,
        manager: &str,
    ) -> ApiResult<Response> {
        let rt = &req.rt;
        let name = object::name(&current.value).to_string();
        crate::defaults::apply_defaults(rt, &mut new);
        self.track_update(
            rt,
            req.subresource.as_deref(),
            Some(&current.value),
            &mut new,
            manager,
        )?;
        lifecycle::prepare_update(rt, req.subresource.as_deref(), &current.value, &mut new)?;
        self.set_allocated_values(rt, Some(&current.value), &mut new)?;
        crate::immutable::check_update(rt, &current.value, &new)?;
        crate::immutable::check_object(rt, &new)?;
        // The finalizers are gone from an object being deleted: it goes now.
        if object::is_deleting(&new) && object::finalizers(&new).is_empty() {
            let key = rt.key(req.namespace.as_deref(), &name);
            let stored = self.remove(rt, &name, key, precondition, dry_run).await?;
            return Ok(json_response(
                StatusCode::OK,
                &self.as_served_version(req, &stored.value),
            ));
        }
        if lifecycle::same_content(&current.value, &new) {
            if let Precondition::AtRevision(r) = precondition
                && r != current.rev
            {
                return Err(ApiError::conflict(rt, &name));
            }
            return Ok(json_response_with_warnings(
                StatusCode::OK,
                &self.as_served_version(req, &current.value),
                &warnings,
            ));
        }
        let key = rt.key(req.namespace.as_deref(), &name);
        let stored = self.put(rt, &name, key, precondition, new, dry_run).await?;
        Ok(json_response_with_warnings(
            StatusCode::OK,
            &self.as_served_version(req, &stored.value),
            &warnings,
        ))
    }

    /// Removes `key` when `precondition` holds (checks only, for a dry run) and runs the
    /// deletion's side effects. Returns the object's last state.
    async fn remove(
        &self,
        rt: &ResourceType,
        name: &str,
        key: String,
        precondition: Precondition,
        dry_run: bool,
    ) -> ApiResult<StoredObject> {
        let stored = self
            .commit(
                rt,
                name,
                Write {
                    key,
                    precondition,
                    mutation: Mutation::Delete,
                },
                dry_run,
            )
            .await?;
        if !dry_run {
            self.after_delete(rt, &stored).await;
        }
        Ok(stored)
    }

    /// Stores `object` under `key` when `precondition` holds (checks only, for a dry run) and runs
    /// the write's side effects.
    async fn put(
        &self,
        rt: &ResourceType,
        name: &str,
        key: String,
        precondition: Precondition,
        object: Value,
        dry_run: bool,
    ) -> ApiResult<StoredObject> {
        let stored = self
            .commit(
                rt,
                name,
                Write {
                    key,
                    precondition,
                    mutation: Mutation::Put(object),
                },
                dry_run,
            )
            .await?;
        if !dry_run {
            self.after_write(rt, &stored).await;
        }
        Ok(stored)
    }

    /// DELETE of one object.
    pub(crate) async fn delete(
        &self,
        req: &ResourceRequest,
        q: &Query,
        options: &Value,
    ) -> ApiResult<Response> {
        let rt = &req.rt;
        let name = req.name.clone().unwrap_or_default();
        let dry_run = q.dry_run()? || options_dry_run(options);
        let key = rt.key(req.namespace.as_deref(), &name);
        let current = self
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(rt, &name))?;
        if let Some(uid) = options
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            && object::meta_str(&current.value, "uid") != Some(uid)
        {
            return Err(ApiError::conflict(rt, &name));
        }
        let mut precondition = Precondition::AtRevision(current.rev);
        if let Some(rv) = options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            let rv = parse_rv(rv)?;
            if rv != current.rev {
                return Err(ApiError::conflict(rt, &name));
            }
            precondition = Precondition::AtRevision(rv);
        }
        let policy = q
            .get("propagationPolicy")
            .or_else(|| options.get("propagationPolicy").and_then(Value::as_str))
            .or_else(|| match options.get("orphanDependents") {
                Some(Value::Bool(true)) => Some("Orphan"),
                Some(Value::Bool(false)) => Some("Background"),
                _ => None,
            })
            .map(str::to_string);
        match lifecycle::plan_delete(rt, &current.value, policy.as_deref())? {
            lifecycle::DeletePlan::Remove => {
                self.remove(rt, &name, key, precondition, dry_run).await?;
                let status = json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": rt.group, "kind": rt.plural,
                                "uid": object::meta_str(&current.value, "uid").unwrap_or("")}
                });
                Ok(json_response(StatusCode::OK, &status))
            }
            lifecycle::DeletePlan::Unchanged => Ok(json_response(
                StatusCode::OK,
                &self.as_served_version(req, &current.value),
            )),
            lifecycle::DeletePlan::MarkDeleting(marked) => {
                let stored = self
                    .put(rt, &name, key, precondition, marked, dry_run)
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    &self.as_served_version(req, &stored.value),
                ))
            }
        }
    }

    /// DELETE of a collection: every matching object, each as a single delete would.
    pub(crate) async fn delete_collection(
        &self,
        req: &ResourceRequest,
        q: &Query,
        options: &Value,
    ) -> ApiResult<Response> {
        let selectors = super::read::Selectors::from_query(req, q)?;
        let prefix = req.rt.namespace_prefix(req.namespace.as_deref());
        let (items, rev, _) = self.store.list(&prefix, None, None, |o: &StoredObject| {
            selectors.matches(&o.value)
        });
        let mut deleted = Vec::new();
        for item in items {
            let one = ResourceRequest {
                rt: req.rt.clone(),
                namespace: object::meta_str(&item.value, "namespace").map(str::to_string),
                name: Some(object::name(&item.value).to_string()),
                subresource: None,
            };
            match self.delete(&one, q, options).await {
                Ok(_) => deleted.push((*item.value).clone()),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let body = json!({
            "kind": format!("{}List", req.rt.kind),
            "apiVersion": req.rt.api_version(),
            "metadata": {"resourceVersion": rev.to_string()},
            "items": deleted,
        });
        Ok(json_response(StatusCode::OK, &body))
    }

    /// Sets the object's namespace from the path (or checks they agree). Returns the namespace of a
    /// namespaced object.
    pub(crate) fn bind_namespace(
        &self,
        req: &ResourceRequest,
        obj: &mut Value,
    ) -> ApiResult<Option<String>> {
        if !req.rt.namespaced {
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
            }
            return Ok(None);
        }
        let Some(path_ns) = req.namespace.clone() else {
            return Err(ApiError::bad_request(
                "the namespace of the object must be given in the request path",
            ));
        };
        let meta = object::meta_mut(obj);
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != path_ns => Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            )),
            _ => {
                meta.insert("namespace".into(), Value::String(path_ns.clone()));
                Ok(Some(path_ns))
            }
        }
    }

    /// 404 for a namespace that does not exist, 403 for one being deleted.
    pub(crate) fn check_namespace_accepts_content(&self, ns: &str) -> ApiResult<()> {
        match self.namespace(ns) {
            None => Err(ApiError::not_found_raw("", "namespaces", ns)),
            Some(n) if object::is_deleting(&n.value) => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Checks what every write must satisfy: names, labels, declared fields, kind-specific
    /// validity. Returns warnings for `fieldValidation=Warn`.
    pub(crate) fn admit(
        &self,
        rt: &ResourceType,
        name: &str,
        obj: &mut Value,
        validation: FieldValidation,
    ) -> ApiResult<Vec<String>> {
        let mut causes = Vec::new();
        if let Err(c) = object::validate_name(name, object::name_rule(&rt.group, &rt.kind)) {
            causes.push(c);
        }
        causes.extend(object::validate_labels(obj));
        if rt.kind == "CustomResourceDefinition"
            && rt.group == "apiextensions.k8s.io"
            && let Err(e) = crate::registry::types_from_crd(obj)
        {
            causes.push(FieldCause::invalid(e.field, e.message));
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, name, causes));
        }
        let unknown = self.prune_unknown(rt, obj)?;
        if unknown.is_empty() {
            return Ok(Vec::new());
        }
        match validation {
            FieldValidation::Ignore => Ok(Vec::new()),
            FieldValidation::Warn => Ok(unknown
                .iter()
                .map(|f| format!("unknown field \"{}\"", f.trim_start_matches('.')))
                .collect()),
            FieldValidation::Strict => Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                rt.kind,
                rt.version,
                rt.kind,
                unknown
                    .iter()
                    .map(|f| format!("unknown field \"{}\"", f.trim_start_matches('.')))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Side effects of a successful write: CRDs change what is served.
    pub(crate) async fn after_write(&self, rt: &ResourceType, stored: &StoredObject) {
        if is_crd(rt) {
            lifecycle::crd_written(self, &stored.value).await;
        }
        if rt.group.is_empty() && rt.plural == "namespaces" && object::is_deleting(&stored.value) {
            lifecycle::namespace_deleting(self, object::name(&stored.value));
        }
    }

    /// Side effects of a deletion.
    pub(crate) async fn after_delete(&self, rt: &ResourceType, stored: &StoredObject) {
        if is_crd(rt) {
            lifecycle::crd_deleted(self, &stored.value).await;
        }
    }
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
}

/// Fills a missing apiVersion or kind from the endpoint (as the real decoder defaults them) and
/// refuses an object whose apiVersion or kind is not the endpoint's.
fn check_type(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized or malformed: expected a JSON object",
        ));
    };
    let missing = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
    if missing(map.get("kind")) {
        map.insert("kind".into(), Value::String(rt.kind.clone()));
    }
    if missing(map.get("apiVersion")) {
        map.insert("apiVersion".into(), Value::String(rt.api_version()));
    }
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    if kind != rt.kind || group != rt.group {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

fn parse_rv(rv: &str) -> ApiResult<u64> {
    rv.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))
}

fn options_dry_run(options: &Value) -> bool {
    options
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "All"))
}

/// Copies `metadata` fields the client may not change from the stored object.
pub(crate) fn keep_system_metadata(current: &Value, new: &mut Value) {
    let keep: Map<String, Value> = object::meta(current)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    matches!(
                        k.as_str(),
                        "uid"
                            | "creationTimestamp"
                            | "deletionTimestamp"
                            | "deletionGracePeriodSeconds"
                            | "generation"
                    )
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let meta = object::meta_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match keep.get(k) {
            Some(v) => {
                meta.insert(k.into(), v.clone());
            }
            None => {
                meta.remove(k);
            }
        }
    }
}
