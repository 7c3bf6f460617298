//! The REST storage: what each verb does to objects of any served type. Reads come from the store's
//! memory; writes go through `admit` (type, name, namespace and schema checks) and then the store's
//! precondition-checked commit.

mod ownership;
mod read;
mod scale;
mod watch;
mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::http::error::{ApiError, ApiResult};
use crate::registry::{Registry, ResourceType};
use crate::store::{CommitError, Precondition, Store, StoredObject, Write};

pub use ownership::SchemaCache;
pub use watch::WatchOptions;
pub(crate) use write::keep_system_metadata;

/// Shared state of the REST layer.
pub struct Api {
    /// The object store.
    pub store: Arc<Store>,
    /// Served types.
    pub registry: Arc<Registry>,
    /// Watch timing.
    pub watch: WatchOptions,
    /// Compiled schemas for field ownership and unknown-field pruning.
    pub schemas: SchemaCache,
    /// Service cluster IPs and node ports handed out.
    pub allocations: crate::defaults::ServiceAllocator,
}

/// A JSON response.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        code,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

/// A JSON response with `Warning` headers (unknown fields under `fieldValidation=Warn`).
pub fn json_response_with_warnings(
    code: StatusCode,
    body: &Value,
    warnings: &[String],
) -> Response {
    let mut resp = json_response(code, body);
    for w in warnings {
        if let Ok(v) =
            axum::http::HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "'")))
        {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

impl Api {
    /// Writes to the store (or, for a dry run, only checks the precondition), mapping store errors
    /// to API errors for `rt`/`name`.
    pub(crate) async fn commit(
        &self,
        rt: &ResourceType,
        name: &str,
        write: Write,
        dry_run: bool,
    ) -> ApiResult<StoredObject> {
        if dry_run {
            let current = self.store.get(&write.key);
            return match (write.precondition, current) {
                (Precondition::MustNotExist, Some(_)) => Err(ApiError::already_exists(rt, name)),
                (Precondition::AtRevision(_), None) => Err(ApiError::not_found(rt, name)),
                (Precondition::AtRevision(r), Some(c)) if c.rev != r => {
                    Err(ApiError::conflict(rt, name))
                }
                (_, current) => {
                    let value = match write.mutation {
                        crate::store::Mutation::Put(v) => v,
                        crate::store::Mutation::Delete => current
                            .as_ref()
                            .map(|c| (*c.value).clone())
                            .unwrap_or(Value::Null),
                    };
                    Ok(StoredObject {
                        rev: current.map(|c| c.rev).unwrap_or(0),
                        value: Arc::new(value),
                    })
                }
            };
        }
        self.store
            .write(write)
            .await
            .map_err(|e| commit_error(rt, name, e))
    }

    /// The Namespace object, if it exists.
    pub(crate) fn namespace(&self, name: &str) -> Option<StoredObject> {
        self.store.get(&format!("/namespaces//{name}"))
    }

    /// How long a watch without `timeoutSeconds` stays open.
    pub(crate) fn default_watch_timeout(&self) -> Duration {
        self.watch.default_timeout
    }
}

/// Maps a store error to the API error a real server gives.
pub(crate) fn commit_error(rt: &ResourceType, name: &str, e: CommitError) -> ApiError {
    match e {
        CommitError::AlreadyExists => ApiError::already_exists(rt, name),
        CommitError::NotFound => ApiError::not_found(rt, name),
        CommitError::Conflict { .. } => ApiError::conflict(rt, name),
        CommitError::Persist(msg) => {
            tracing::error!(error = %msg, "store write failed");
            ApiError::internal("storage write failed")
        }
        CommitError::Closed => ApiError {
            code: 503,
            reason: "ServiceUnavailable",
            message: "the server is shutting down".into(),
            details: None,
        },
    }
}
