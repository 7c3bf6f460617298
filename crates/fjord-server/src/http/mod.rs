//! The router: one `router()` per area, merged here.

pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::AppState;

/// The server's router (tests drive it with `oneshot`, without a socket).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/webhook", post(webhook::receive))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY + 1))
        .with_state(state)
}
