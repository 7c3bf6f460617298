//! Fjord's HTTP server. Today: the Git webhook receiver, which turns a signed push into a refresh
//! of the Applications it concerns (the controller then syncs the new commit at once). The JSON API
//! and the web UI join it here.
//!
//! ```text
//! POST /api/webhook ─ signature (secrets from Argo CD's `argocd-secret`) ─ push event
//!                   ─ matching Applications (repo URL forms, branch, paths) ─ refresh annotation
//! ```
//!
//! The server reaches the cluster only through two narrow traits, [`SecretSource`] and
//! [`Refresher`], implemented for kube-rs in [`kube_backend`] and by fakes in tests.
#![warn(missing_docs)]

pub mod http;
pub mod kube_backend;
pub mod push;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use http::router;
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
