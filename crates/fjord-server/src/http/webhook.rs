//! `POST /api/webhook`: Git push notifications. The signature is checked before anything else
//! (GitHub's `X-Hub-Signature-256` HMAC-SHA256, GitLab's `X-Gitlab-Token`, or Fjord's generic
//! `X-Fjord-Signature-256` HMAC over the body); a missing or wrong one is a 401 and nothing
//! happens. A valid push refreshes the Applications it concerns, so they sync the new commit now
//! instead of at the next poll. Requests are rate-limited and bodies capped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::push::{self, PushEvent};
use crate::{AppState, WebhookSecrets};

/// Largest accepted payload.
pub const MAX_BODY: usize = 1024 * 1024;

/// Requests per second allowed (all senders together), and the burst.
const RATE: f64 = 20.0;
const BURST: f64 = 40.0;

/// A token bucket shared by all webhook requests.
pub struct RateLimiter {
    state: Mutex<(f64, Instant)>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            state: Mutex::new((BURST, Instant::now())),
        }
    }
}

impl RateLimiter {
    fn allow(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * RATE).min(BURST);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

fn reply(code: StatusCode, message: &str) -> Response {
    (code, axum::Json(json!({"message": message}))).into_response()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn hmac_sha256_matches(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    let Some(sig) = decode_hex(signature_hex) else {
        return false;
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    // Constant-time comparison inside aws-lc-rs.
    aws_lc_rs::hmac::verify(&key, body, &sig).is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Which sender this is and whether its signature holds; the parsed push when it does.
fn authenticate(
    secrets: &WebhookSecrets,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<PushEvent>, &'static str> {
    let parse = || serde_json::from_slice::<Value>(body).map_err(|_| "the payload is not JSON");
    if let Some(sig) = header(headers, "x-hub-signature-256") {
        let secret = secrets
            .github
            .as_deref()
            .ok_or("no GitHub webhook secret is configured")?;
        let hex = sig
            .strip_prefix("sha256=")
            .ok_or("malformed X-Hub-Signature-256")?;
        if !hmac_sha256_matches(secret, body, hex) {
            return Err("the GitHub signature does not match");
        }
        return match header(headers, "x-github-event") {
            Some("push") => Ok(push::from_github(&parse()?)),
            _ => Ok(None),
        };
    }
    if let Some(token) = header(headers, "x-gitlab-token") {
        let secret = secrets
            .gitlab
            .as_deref()
            .ok_or("no GitLab webhook secret is configured")?;
        if !constant_time_eq(token.as_bytes(), secret.as_bytes()) {
            return Err("the GitLab token does not match");
        }
        return match header(headers, "x-gitlab-event") {
            Some("Push Hook") => Ok(push::from_gitlab(&parse()?)),
            _ => Ok(None),
        };
    }
    if let Some(sig) = header(headers, "x-fjord-signature-256") {
        let secret = secrets
            .generic
            .as_deref()
            .ok_or("no generic webhook secret is configured")?;
        let hex = sig.strip_prefix("sha256=").unwrap_or(sig);
        if !hmac_sha256_matches(secret, body, hex) {
            return Err("the signature does not match");
        }
        return Ok(push::from_generic(&parse()?));
    }
    Err("the request is not signed")
}

/// The handler.
pub async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.webhook_rate.allow() {
        return reply(
            StatusCode::TOO_MANY_REQUESTS,
            "too many webhook requests; retry shortly",
        );
    }
    if body.len() > MAX_BODY {
        return reply(StatusCode::PAYLOAD_TOO_LARGE, "the payload is too large");
    }
    let secrets = match state.secrets.load().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "reading the webhook secrets failed");
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "the webhook secrets cannot be read",
            );
        }
    };
    let push = match authenticate(&secrets, &headers, &body) {
        Ok(Some(p)) => p,
        Ok(None) => return reply(StatusCode::OK, "not a push event: nothing to do"),
        Err(why) => {
            tracing::info!(reason = why, "webhook refused");
            return reply(StatusCode::UNAUTHORIZED, why);
        }
    };
    // The refresh runs as its own task: when a push concerns so many Applications that it
    // outlasts the sender's patience, it still completes, and the sender hears so.
    let refresher = state.refresher.clone();
    let event = push.clone();
    let mut task = tokio::spawn(async move { refresher.refresh(&event).await });
    match tokio::time::timeout(Duration::from_secs(10), &mut task).await {
        Ok(Err(join)) => {
            tracing::error!(error = %join, "the webhook refresh task failed");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "refreshing the Applications failed",
            )
        }
        Ok(Ok(Ok(apps))) => {
            tracing::info!(repos = ?push.repos, branch = ?push.branch, refreshed = ?apps, "webhook push");
            (StatusCode::OK, axum::Json(json!({"refreshed": apps}))).into_response()
        }
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "refreshing Applications for a webhook failed");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "refreshing the Applications failed",
            )
        }
        Err(_) => reply(
            StatusCode::ACCEPTED,
            "refreshing the Applications continues in the background",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, body);
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn signatures_are_checked() {
        let secrets = WebhookSecrets {
            github: Some("s3cret".into()),
            gitlab: Some("tok".into()),
            generic: None,
        };
        let body =
            br#"{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/a/b"}}"#;
        let mut h = HeaderMap::new();
        h.insert("x-github-event", "push".parse().unwrap());
        h.insert(
            "x-hub-signature-256",
            format!("sha256={}", sign("s3cret", body)).parse().unwrap(),
        );
        assert!(authenticate(&secrets, &h, body).unwrap().is_some());
        h.insert(
            "x-hub-signature-256",
            format!("sha256={}", sign("wrong", body)).parse().unwrap(),
        );
        assert!(authenticate(&secrets, &h, body).is_err());
        let mut g = HeaderMap::new();
        g.insert("x-gitlab-token", "nope".parse().unwrap());
        assert!(authenticate(&secrets, &g, body).is_err());
        let mut x = HeaderMap::new();
        x.insert("x-fjord-signature-256", "00".parse().unwrap());
        assert!(
            authenticate(&secrets, &x, body).is_err(),
            "no generic secret configured"
        );
        assert!(
            authenticate(&secrets, &HeaderMap::new(), body).is_err(),
            "unsigned"
        );
    }
}
