//! The `scale` subresource: an `autoscaling/v1` Scale view of the replicas fields.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Api, json_response};
use crate::http::error::{ApiError, ApiResult};
use crate::http::path::ResourceRequest;
use crate::http::request::{BodyType, Query};
use crate::object;
use crate::registry::ScalePaths;
use crate::store::{Mutation, Precondition, Write};

fn pointer(path: &str) -> String {
    path.replace('.', "/")
}

fn scale_of(obj: &Value, paths: &ScalePaths) -> Value {
    let spec = obj
        .pointer(&pointer(&paths.spec_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let status = obj
        .pointer(&pointer(&paths.status_replicas))
        .cloned()
        .unwrap_or(json!(0));
    let mut scale_status = json!({"replicas": status});
    if let Some(sel) = paths
        .label_selector
        .as_ref()
        .and_then(|p| obj.pointer(&pointer(p)))
    {
        scale_status["selector"] = sel.clone();
    }
    let meta = object::meta(obj).cloned().unwrap_or_default();
    let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"), "namespace": pick("namespace"), "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"), "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": spec},
        "status": scale_status,
    })
}

impl Api {
    /// GET …/scale
    pub(crate) fn get_scale(&self, req: &ResourceRequest) -> ApiResult<Response> {
        let paths = req
            .rt
            .scale
            .clone()
            .ok_or_else(|| ApiError::path_not_found("scale"))?;
        let name = req.name.clone().unwrap_or_default();
        let obj = self
            .store
            .get(&req.rt.key(req.namespace.as_deref(), &name))
            .ok_or_else(|| ApiError::not_found(&req.rt, &name))?;
        Ok(json_response(StatusCode::OK, &scale_of(&obj.value, &paths)))
    }

    /// PUT or PATCH …/scale: only `spec.replicas` of the Scale reaches the object.
    pub(crate) async fn write_scale(
        &self,
        req: &ResourceRequest,
        q: &Query,
        body_type: BodyType,
        body: &[u8],
    ) -> ApiResult<Response> {
        let paths = req
            .rt
            .scale
            .clone()
            .ok_or_else(|| ApiError::path_not_found("scale"))?;
        let name = req.name.clone().unwrap_or_default();
        let key = req.rt.key(req.namespace.as_deref(), &name);
        let current = self
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(&req.rt, &name))?;
        let mut scale = scale_of(&current.value, &paths);
        let doc = crate::http::request::decode_object(body, body_type)?;
        match body_type {
            BodyType::Json | BodyType::Yaml => scale = doc,
            BodyType::MergePatch | BodyType::StrategicMergePatch => {
                json_patch::merge(&mut scale, &doc)
            }
            BodyType::JsonPatch => crate::patch::json_patch(&mut scale, &doc)?,
            _ => {
                return Err(ApiError::unsupported_media_type(
                    "the body of the request was in an unknown format",
                ));
            }
        }
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                ApiError::bad_request("spec.replicas of the Scale must be an integer")
            })?;
        if replicas < 0 {
            return Err(ApiError {
                code: 422,
                reason: "Invalid",
                message: format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
                ),
                details: None,
            });
        }
        let mut updated = (*current.value).clone();
        let ptr = pointer(&paths.spec_replicas);
        let parent = ptr.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let field = ptr.rsplit('/').next().unwrap_or("replicas");
        match updated.pointer_mut(parent).and_then(Value::as_object_mut) {
            Some(m) => {
                m.insert(field.to_string(), json!(replicas));
            }
            None => return Err(ApiError::internal("the object has no place for replicas")),
        }
        let unchanged = updated == *current.value;
        if !unchanged {
            // The replicas now belong to whoever scaled, under the `scale` subresource: a later
            // apply of another replica count conflicts with them, as on a real cluster.
            self.track_update(
                &req.rt,
                Some("scale"),
                Some(&current.value),
                &mut updated,
                q.update_manager(),
            )?;
        }
        let generation = object::meta(&updated)
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64);
        if !unchanged
            && req.rt.has_generation
            && let Some(g) = generation
        {
            object::meta_mut(&mut updated).insert("generation".into(), json!(g + 1));
        }
        let stored = if unchanged {
            current
        } else {
            self.commit(
                &req.rt,
                &name,
                Write {
                    key,
                    precondition: Precondition::AtRevision(current.rev),
                    mutation: Mutation::Put(updated),
                },
                q.dry_run()?,
            )
            .await?
        };
        Ok(json_response(
            StatusCode::OK,
            &scale_of(&stored.value, &paths),
        ))
    }
}
