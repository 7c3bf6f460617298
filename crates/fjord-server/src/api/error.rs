//! API errors and their HTTP status: `{"error": "...", "message": "..."}` bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong with an API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an unknown token or session (401).
    #[error("authentication required: send `Authorization: Bearer <token>` or log in")]
    Unauthenticated,
    /// Authenticated but not allowed (403); nothing was changed.
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// No such Application (404).
    #[error("application {namespace}/{name} not found")]
    NotFound {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A parameter or body is invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the Application's state (409), e.g. an operation is
    /// already running.
    #[error("{0}")]
    Conflict(String),
    /// The Application changed between its read and the write (409); the action handlers
    /// read it again and retry a few times first.
    #[error("{0}")]
    Stale(String),
    /// A call to the cluster failed (502).
    #[error("{step}: {source}")]
    Cluster {
        /// What was being done.
        step: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The desired state could not be produced (502).
    #[error("rendering the desired state: {0}")]
    Render(String),
    /// The cache has not loaded yet (503).
    #[error("the application cache is still loading")]
    NotReady,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::Stale(_) => StatusCode::CONFLICT,
            ApiError::Cluster { .. } | ApiError::Render(_) => StatusCode::BAD_GATEWAY,
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A cluster call's error, with the step it failed in.
    pub fn cluster(step: impl Into<String>) -> impl FnOnce(kube::Error) -> ApiError {
        let step = step.into();
        move |source| ApiError::Cluster { step, source }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = (
            status,
            Json(json!({"error": status.canonical_reason().unwrap_or(""), "message": self.to_string()})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"fjord\""),
            );
        }
        resp
    }
}
