//! How the controllers write: through the same `Api` create/update/delete as HTTP clients, so that
//! defaulting, validation, lifecycle rules and managedFields apply to their writes too.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::http::error::ApiResult;
use crate::http::path::ResourceRequest;
use crate::http::request::Query;
use crate::object;
use crate::registry::ResourceType;
use crate::rest::Api;

fn manager_query(manager: &str) -> Query {
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("fieldManager", manager)
        .finish();
    Query::parse(Some(&encoded))
}

fn request(rt: &Arc<ResourceType>, obj: &Value, named: bool, sub: Option<&str>) -> ResourceRequest {
    ResourceRequest {
        rt: rt.clone(),
        namespace: rt
            .namespaced
            .then(|| object::meta_str(obj, "namespace").unwrap_or("").to_string()),
        name: named.then(|| object::name(obj).to_string()),
        subresource: sub.map(str::to_string),
    }
}

impl Api {
    /// The served type of an apiVersion and kind.
    pub(crate) fn type_of(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.registry.snapshot().by_kind(group, version, kind)
    }

    /// The served type of a stored object.
    pub(crate) fn type_of_object(&self, obj: &Value) -> Option<Arc<ResourceType>> {
        self.type_of(
            obj.get("apiVersion").and_then(Value::as_str)?,
            obj.get("kind").and_then(Value::as_str)?,
        )
    }

    /// Creates an object as `manager` (a controller's POST).
    pub(crate) async fn controller_create(
        &self,
        rt: &Arc<ResourceType>,
        obj: Value,
        manager: &str,
    ) -> ApiResult<()> {
        let req = request(rt, &obj, false, None);
        self.create(&req, &manager_query(manager), obj)
            .await
            .map(|_| ())
    }

    /// Replaces an object, or its status with `subresource` `status`, as `manager`; the object's
    /// `metadata.resourceVersion` is the precondition.
    pub(crate) async fn controller_update(
        &self,
        rt: &Arc<ResourceType>,
        obj: Value,
        subresource: Option<&str>,
        manager: &str,
    ) -> ApiResult<()> {
        let req = request(rt, &obj, true, subresource);
        self.update(&req, &manager_query(manager), obj)
            .await
            .map(|_| ())
    }

    /// Deletes an object, if it still has `uid`, with a propagation policy.
    pub(crate) async fn controller_delete(
        &self,
        rt: &Arc<ResourceType>,
        obj: &Value,
        policy: &str,
    ) -> ApiResult<()> {
        let req = request(rt, obj, true, None);
        let uid = object::meta_str(obj, "uid").unwrap_or("");
        let options = json!({"preconditions": {"uid": uid}, "propagationPolicy": policy});
        self.delete(&req, &Query::parse(None), &options)
            .await
            .map(|_| ())
    }
}
