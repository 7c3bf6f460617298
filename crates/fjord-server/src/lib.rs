//! Fjord's HTTP server: the JSON API and web UI for Applications, and the Git webhook
//! receiver.
//!
//! ```text
//! /api/v1/...       api:  cache (watch) ─ list/get; cluster + Git ─ tree, manifests, diff;
//!                         actions write `operation` / the refresh annotation
//!                   auth: bearer tokens (Secrets) or session cookie + CSRF; AppProject roles
//! /, /ui/...        ui:   static HTML/CSS/JS embedded in the binary
//! POST /api/webhook webhook: signature ─ push event ─ refresh of matching Applications
//! ```
//!
//! The webhook reaches the cluster through two narrow traits, [`SecretSource`] and
//! [`Refresher`], implemented for kube-rs in [`kube_backend`] and by fakes in tests.
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod http;
pub mod kube_backend;
pub mod metrics;
pub mod push;
pub mod ui;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use http::router;

/// The whole server: webhooks, the JSON API and the web UI.
pub fn full_router(webhooks: Arc<AppState>, api: Arc<api::ApiState>) -> axum::Router {
    router(webhooks).merge(api::router(api)).merge(ui::router())
}
pub use push::PushEvent;

/// Webhook secrets, as Argo CD keeps them in `argocd-secret` (`webhook.github.secret`,
/// `webhook.gitlab.secret`), plus Fjord's generic one (`webhook.generic.secret`).
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// GitHub's HMAC secret.
    pub github: Option<String>,
    /// GitLab's token.
    pub gitlab: Option<String>,
    /// The generic HMAC secret.
    pub generic: Option<String>,
}

/// A boxed future (the traits below are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the webhook secrets come from.
pub trait SecretSource: Send + Sync {
    /// The current secrets.
    fn load(&self) -> BoxFuture<'_, Result<WebhookSecrets, String>>;
}

/// What a push does: refresh the Applications it concerns. Returns their `namespace/name`s.
pub trait Refresher: Send + Sync {
    /// Refreshes the Applications `push` concerns.
    fn refresh<'a>(&'a self, push: &'a PushEvent) -> BoxFuture<'a, Result<Vec<String>, String>>;
}

/// Shared state of the handlers.
pub struct AppState {
    /// Webhook secrets.
    pub secrets: Arc<dyn SecretSource>,
    /// Application refresh.
    pub refresher: Arc<dyn Refresher>,
    /// Webhook rate limit.
    pub webhook_rate: http::webhook::RateLimiter,
}
