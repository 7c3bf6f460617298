//! get and list.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::{Api, json_response};
use crate::http::error::{ApiError, ApiResult};
use crate::http::path::ResourceRequest;
use crate::http::request::{Query, Representation};
use crate::http::table;
use crate::object;
use crate::selector::{FieldSelector, LabelSelector, supported_fields};
use crate::store::StoredObject;

/// Label and field selectors of a list or watch.
pub(crate) struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub(crate) fn from_query(req: &ResourceRequest, q: &Query) -> ApiResult<Selectors> {
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(
            q.get("fieldSelector").unwrap_or(""),
            &supported_fields(&req.rt.group, &req.rt.kind),
        )
        .map_err(ApiError::bad_request)?;
        Ok(Selectors { labels, fields })
    }

    pub(crate) fn matches(&self, v: &Value) -> bool {
        self.labels.matches(object::labels(v)) && self.fields.matches(v)
    }
}

/// A continue token: the list's revision and the last key returned.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: String,
}

impl Api {
    /// GET of one object (or its status subresource).
    pub(crate) fn get(&self, req: &ResourceRequest, repr: Representation) -> ApiResult<Response> {
        let name = req.name.as_deref().unwrap_or_default();
        let key = req.rt.key(req.namespace.as_deref(), name);
        let obj = self
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(&req.rt, name))?;
        let value = self.as_served_version(req, &obj.value);
        let body = match repr {
            Representation::Full => value,
            Representation::Metadata => Cow::Owned(partial_metadata(&value)),
            Representation::Table => Cow::Owned(table::table(
                &req.rt,
                &[value.into_owned()],
                obj.rev,
                None,
                true,
            )),
        };
        Ok(json_response(StatusCode::OK, &body))
    }

    /// An object as the requested version serves it (CRD versions differ only in apiVersion).
    /// Borrowed when the stored apiVersion is already the served one (always for built-ins), so
    /// that reads and watch events do not copy the object.
    pub(crate) fn as_served_version<'a>(
        &self,
        req: &ResourceRequest,
        v: &'a Value,
    ) -> Cow<'a, Value> {
        let served = req.rt.api_version();
        if v.get("apiVersion").and_then(Value::as_str) == Some(served.as_str()) || !v.is_object() {
            return Cow::Borrowed(v);
        }
        let mut v = v.clone();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("apiVersion".into(), Value::String(served));
        }
        Cow::Owned(v)
    }

    /// LIST of a collection.
    pub(crate) fn list(
        &self,
        req: &ResourceRequest,
        q: &Query,
        repr: Representation,
    ) -> ApiResult<Response> {
        let selectors = Selectors::from_query(req, q)?;
        let limit = q.limit()?;
        let prefix = req.rt.namespace_prefix(req.namespace.as_deref());
        let token = match q.get("continue") {
            Some(t) if !t.is_empty() => Some(decode_continue(t)?),
            _ => None,
        };
        if let Some(t) = &token
            && t.rv < self.store.compacted_revision()
        {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ));
        }
        let (items, rev, more) = self.store.list(
            &prefix,
            token.as_ref().map(|t| t.start.as_str()),
            limit,
            |o: &StoredObject| selectors.matches(&o.value),
        );
        // Every page of a paged list reports the first page's revision, so a watch started from it
        // replays anything that changed while the pages were read.
        let list_rev = token.as_ref().map(|t| t.rv).unwrap_or(rev);
        let mut metadata = json!({"resourceVersion": list_rev.to_string()});
        if more && let Some(last) = items.last() {
            let key = last_key(req, &last.value);
            let t = ContinueToken {
                rv: list_rev,
                start: key,
            };
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&t).unwrap_or_default());
            metadata["continue"] = Value::String(encoded);
        }
        if repr == Representation::Full {
            return Ok(self.full_list_response(req, &metadata, &items));
        }
        let values: Vec<Value> = items
            .iter()
            .map(|o| self.as_served_version(req, &o.value).into_owned())
            .collect();
        let body = match repr {
            Representation::Table => {
                let mut t = table::table(&req.rt, &values, list_rev, None, true);
                t["metadata"] = metadata;
                t
            }
            Representation::Metadata => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
                "items": values.iter().map(partial_metadata).collect::<Vec<_>>(),
            }),
            Representation::Full => unreachable!("answered above"),
        };
        Ok(json_response(StatusCode::OK, &body))
    }

    /// A `<Kind>List` serialised straight from the stored objects: no copy of an object whose
    /// stored apiVersion is the one served (the common case), which keeps large lists cheap.
    fn full_list_response(
        &self,
        req: &ResourceRequest,
        metadata: &Value,
        items: &[StoredObject],
    ) -> Response {
        let api_version = req.rt.api_version();
        let mut out = Vec::with_capacity(64 + items.len() * 768);
        let head = json!({"kind": format!("{}List", req.rt.kind), "apiVersion": api_version, "metadata": metadata});
        let head = serde_json::to_vec(&head).unwrap_or_default();
        // `{...}` without its closing brace, then the items.
        out.extend_from_slice(&head[..head.len().saturating_sub(1)]);
        out.extend_from_slice(b",\"items\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let stored_version = item.value.get("apiVersion").and_then(Value::as_str);
            let written = if stored_version == Some(api_version.as_str()) {
                serde_json::to_writer(&mut out, &*item.value)
            } else {
                serde_json::to_writer(&mut out, &self.as_served_version(req, &item.value))
            };
            if let Err(e) = written {
                tracing::error!(error = %e, "serialising a list item failed");
            }
        }
        out.extend_from_slice(b"]}");
        (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            out,
        )
            .into_response()
    }
}

fn last_key(req: &ResourceRequest, v: &Value) -> String {
    let ns = object::meta_str(v, "namespace");
    req.rt
        .key(if req.rt.namespaced { ns } else { None }, object::name(v))
}

fn decode_continue(t: &str) -> ApiResult<ContinueToken> {
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::bad_request(format!("invalid continue token: {t}")))
}

/// `PartialObjectMetadata` of an object.
pub(crate) fn partial_metadata(v: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": v.get("metadata").cloned().unwrap_or(json!({})),
    })
}
