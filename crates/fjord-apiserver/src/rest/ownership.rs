//! Field ownership: every write records `metadata.managedFields` through `fjord-smd`, and
//! server-side apply (PATCH with `application/apply-patch+yaml`) merges, prunes and detects
//! conflicts with it. Schemas: the vendored built-in ones, and each CRD version's own (compiled
//! once per schema and cached).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::Response;
use fjord_smd::{ApplyRequest, FieldPath, Schema, TypeRef, UpdateRequest};
use serde_json::Value;

use super::{Api, json_response_with_warnings};
use crate::http::error::{ApiError, ApiResult};
use crate::http::path::ResourceRequest;
use crate::http::request::{BodyType, Query};
use crate::lifecycle;
use crate::object;
use crate::registry::{Origin, ResourceType};
use crate::store::{Mutation, Precondition, Write};

/// How many times an apply is retried when another writer got in between.
const APPLY_RETRIES: usize = 16;

/// A compiled schema and the root type of one kind.
pub(crate) enum KindSchema {
    /// A built-in kind.
    Builtin(&'static Schema, TypeRef),
    /// A custom resource.
    Custom(Arc<(Schema, TypeRef)>),
}

impl KindSchema {
    pub(crate) fn parts(&self) -> (&Schema, &TypeRef) {
        match self {
            KindSchema::Builtin(s, t) => (s, t),
            KindSchema::Custom(c) => (&c.0, &c.1),
        }
    }
}

/// (CRD name, version, hash of the version's schema)
type CrdSchemaKey = (String, String, u64);

/// Compiled CRD schemas, by CRD name, version and schema hash.
#[derive(Default)]
pub struct SchemaCache {
    compiled: Mutex<HashMap<CrdSchemaKey, Arc<(Schema, TypeRef)>>>,
}

impl SchemaCache {
    /// The schema of a kind, or None for a kind without one.
    pub(crate) fn for_type(&self, rt: &ResourceType) -> ApiResult<Option<KindSchema>> {
        match &rt.origin {
            Origin::Builtin => Ok(fjord_smd::builtin_schema()
                .root_for_gvk(&rt.group, &rt.version, &rt.kind)
                .map(|t| KindSchema::Builtin(fjord_smd::builtin_schema(), t))),
            Origin::Crd {
                crd_name, schema, ..
            } => {
                let open = serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
                let schema = schema.as_ref().unwrap_or(&open);
                let mut h = std::collections::hash_map::DefaultHasher::new();
                schema.to_string().hash(&mut h);
                let key = (crd_name.clone(), rt.version.clone(), h.finish());
                let mut cache = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(c) = cache.get(&key) {
                    return Ok(Some(KindSchema::Custom(c.clone())));
                }
                let compiled = Schema::from_crd_schema(&rt.group, &rt.version, &rt.kind, schema)
                    .map_err(|e| {
                        ApiError::internal(format!(
                            "the schema of CustomResourceDefinition {crd_name} version {} cannot be used: {e}",
                            rt.version
                        ))
                    })?;
                let compiled = Arc::new(compiled);
                cache.retain(|(name, version, _), _| !(name == crd_name && *version == rt.version));
                cache.insert(key, compiled.clone());
                Ok(Some(KindSchema::Custom(compiled)))
            }
        }
    }
}

/// Fields an endpoint ignores: neither stored from the request nor owned.
fn reset_fields(rt: &ResourceType, subresource: Option<&str>) -> Vec<FieldPath> {
    match subresource {
        Some("status") => vec![FieldPath::from_dotted("spec")],
        _ => {
            let mut f = Vec::new();
            if rt.status_subresource {
                f.push(FieldPath::from_dotted("status"));
            }
            if rt.group.is_empty() && rt.kind == "Namespace" {
                f.push(FieldPath::from_dotted("spec.finalizers"));
            }
            f
        }
    }
}

impl Api {
    /// Records the writer of a non-apply write in `new`'s managedFields.
    pub(crate) fn track_update(
        &self,
        rt: &ResourceType,
        subresource: Option<&str>,
        live: Option<&Value>,
        new: &mut Value,
        manager: &str,
    ) -> ApiResult<()> {
        let Some(schema) = self.schemas.for_type(rt)? else {
            return Ok(());
        };
        let (schema, ty) = schema.parts();
        let now = object::now();
        let resets = reset_fields(rt, subresource);
        let api_version = rt.api_version();
        let outcome = fjord_smd::update(
            schema,
            ty,
            live,
            new,
            &UpdateRequest {
                manager,
                api_version: &api_version,
                subresource,
                now: &now,
                reset_fields: &resets,
            },
        );
        if let Some(e) = &outcome.field_manager_error {
            tracing::debug!(kind = %rt.kind, error = %e, "field manager could not track an update");
        }
        *new = outcome.object;
        Ok(())
    }

    /// Drops fields the kind's schema does not declare; returns their paths.
    pub(crate) fn prune_unknown(
        &self,
        rt: &ResourceType,
        obj: &mut Value,
    ) -> ApiResult<Vec<String>> {
        let Some(schema) = self.schemas.for_type(rt)? else {
            return Ok(Vec::new());
        };
        let (schema, ty) = schema.parts();
        Ok(fjord_smd::prune_unknown_fields(schema, ty, obj))
    }

    /// PATCH with `application/apply-patch+yaml`: server-side apply.
    pub(crate) async fn apply(
        &self,
        req: &ResourceRequest,
        q: &Query,
        body: &[u8],
    ) -> ApiResult<Response> {
        let rt = &req.rt;
        let name = req.name.clone().unwrap_or_default();
        let dry_run = q.dry_run()?;
        let manager = match q.get("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                return Err(ApiError::bad_request(
                    "fieldManager: Required value: is required for apply patch",
                ));
            }
        };
        let force = match q.get("force") {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid force value: {other}"
                )));
            }
        };
        let mut applied = crate::http::request::decode_object(body, BodyType::ApplyPatch)?;
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "the apply configuration must be an object",
            ));
        }
        let namespace = self.bind_namespace(req, &mut applied)?;
        match object::meta_str(&applied, "name") {
            Some(n) if n == name => {}
            None | Some("") => {
                object::meta_mut(&mut applied).insert("name".into(), Value::String(name.clone()));
            }
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({other}) does not match the name on the URL ({name})"
                )));
            }
        }
        let warnings = self.admit(rt, &name, &mut applied, q.field_validation()?)?;
        let schema = self.schemas.for_type(rt)?.ok_or_else(|| {
            ApiError::unsupported_media_type(format!(
                "server-side apply is not available for {}: the server has no schema for it",
                rt.qualified_resource()
            ))
        })?;
        let (schema, ty) = schema.parts();
        let key = rt.key(namespace.as_deref(), &name);
        let resets = reset_fields(rt, req.subresource.as_deref());
        let api_version = rt.api_version();
        for _ in 0..APPLY_RETRIES {
            let current = self.store.get(&key);
            if current.is_none() {
                if req.subresource.is_some() {
                    return Err(ApiError::not_found(rt, &name));
                }
                if let Some(ns) = &namespace {
                    self.check_namespace_accepts_content(ns)?;
                }
            }
            let now = object::now();
            let outcome = fjord_smd::apply(
                schema,
                ty,
                current.as_ref().map(|c| &*c.value),
                &applied,
                &ApplyRequest {
                    manager: &manager,
                    force,
                    api_version: &api_version,
                    subresource: req.subresource.as_deref(),
                    now: &now,
                    reset_fields: &resets,
                },
            )
            .map_err(|e| ApiError::from_status(&e.status()))?;
            let result = match current {
                None => {
                    let mut obj = outcome.object;
                    // Defaults after the merge: owned by nobody.
                    crate::defaults::apply_defaults(rt, &mut obj);
                    crate::immutable::check_object(rt, &obj)?;
                    lifecycle::prepare_create(rt, &mut obj);
                    self.set_allocated_values(rt, None, &mut obj)?;
                    let stored = self
                        .commit(
                            rt,
                            &name,
                            Write {
                                key: key.clone(),
                                precondition: Precondition::MustNotExist,
                                mutation: Mutation::Put(obj),
                            },
                            dry_run,
                        )
                        .await;
                    stored.map(|s| (StatusCode::CREATED, s, true))
                }
                Some(cur) if !outcome.object_changed && !outcome.managed_fields_changed => {
                    Ok((StatusCode::OK, cur, false))
                }
                Some(cur) => {
                    let mut new = outcome.object;
                    crate::defaults::apply_defaults(rt, &mut new);
                    lifecycle::prepare_update(
                        rt,
                        req.subresource.as_deref(),
                        &cur.value,
                        &mut new,
                    )?;
                    self.set_allocated_values(rt, Some(&cur.value), &mut new)?;
                    crate::immutable::check_update(rt, &cur.value, &new)?;
                    crate::immutable::check_object(rt, &new)?;
                    if lifecycle::same_content_but(&cur.value, &new, true) {
                        // What the apply changed, defaulting changed back (`0.5` → `500m`); only
                        // managedFields times would change, which alone never makes a write.
                        return Ok(json_response_with_warnings(
                            StatusCode::OK,
                            &self.as_served_version(req, &cur.value),
                            &warnings,
                        ));
                    }
                    let stored = self
                        .commit(
                            rt,
                            &name,
                            Write {
                                key: key.clone(),
                                precondition: Precondition::AtRevision(cur.rev),
                                mutation: Mutation::Put(new),
                            },
                            dry_run,
                        )
                        .await;
                    stored.map(|s| (StatusCode::OK, s, true))
                }
            };
            match result {
                Err(e) if e.code == 409 => continue,
                Err(e) => return Err(e),
                Ok((code, stored, wrote)) => {
                    let mut body = std::borrow::Cow::Borrowed(&*stored.value);
                    if dry_run && code == StatusCode::CREATED {
                        object::meta_mut(body.to_mut()).remove("resourceVersion");
                    }
                    if wrote && !dry_run {
                        self.after_write(rt, &stored).await;
                    }
                    return Ok(json_response_with_warnings(
                        code,
                        &self.as_served_version(req, &body),
                        &warnings,
                    ));
                }
            }
        }
        Err(ApiError::conflict(rt, &name))
    }
}
