//! The controller's HTTP endpoints, as Bitnami's controller serves them to kubeseal:
//! `/healthz`, `GET /v1/cert.pem` (the newest certificate), `POST /v1/verify` (200 when the body
//! unseals with the current keys, 409 when not; rate-limited because it decrypts on demand) and
//! `POST /v1/rotate` (re-sealed with the newest key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use fjord_sealed::{SealedSecret, UnsealOptions};

use crate::keys::KeyRingWatch;

/// Requests per second per client and path on `/v1/verify` (Bitnami's `--rate-limit`).
const RATE_PER_SECOND: f64 = 2.0;
/// Burst allowance (Bitnami's `--rate-limit-burst`).
const BURST: f64 = 2.0;

struct Endpoints {
    keys: KeyRingWatch,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// The router; serve it with `axum::serve`.
pub fn router(keys: KeyRingWatch) -> Router {
    let state = Arc::new(Endpoints {
        keys,
        buckets: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/healthz", any(|| async { "ok\n" }))
        .route("/v1/cert.pem", get(cert))
        .route("/v1/verify", post(verify))
        .route("/v1/rotate", post(rotate))
        .with_state(state)
}

async fn cert(State(s): State<Arc<Endpoints>>) -> Response {
    let ring = s.keys.borrow().clone();
    match ring.sealing_certificate() {
        Some(c) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            c.to_pem(),
        )
            .into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no key available\n").into_response(),
    }
}

/// A token bucket per client address and path.
fn allow(s: &Endpoints, key: String) -> bool {
    let mut buckets = s.buckets.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if buckets.len() > 10_000 {
        buckets.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
    }
    let (tokens, at) = buckets.entry(key).or_insert((BURST, now));
    *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * RATE_PER_SECOND).min(BURST);
    *at = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

/// The one SealedSecret of a request body, or the status and message to answer with.
fn parse(body: &Bytes) -> Result<SealedSecret, (StatusCode, String)> {
    let text = std::str::from_utf8(body).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8\n".to_string(),
        )
    })?;
    SealedSecret::parse_one(text, "request body")
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))
}

async fn verify(State(s): State<Arc<Endpoints>>, headers: HeaderMap, body: Bytes) -> Response {
    let client = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !allow(&s, format!("/v1/verify|{client}")) {
        return (StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded\n").into_response();
    }
    let sealed = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let ring = s.keys.borrow().clone();
    let opened = tokio::task::spawn_blocking(move || {
        fjord_sealed::unseal_with(&sealed, &ring, &UnsealOptions::default()).is_ok()
    })
    .await
    .unwrap_or(false);
    if opened {
        (StatusCode::OK, "").into_response()
    } else {
        (
            StatusCode::CONFLICT,
            "the SealedSecret cannot be unsealed with the current keys\n",
        )
            .into_response()
    }
}

async fn rotate(State(s): State<Arc<Endpoints>>, body: Bytes) -> Response {
    let sealed = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let ring = s.keys.borrow().clone();
    let result = tokio::task::spawn_blocking(move || {
        let cert = ring
            .sealing_certificate()
            .cloned()
            .ok_or_else(|| "no key available".to_string())?;
        fjord_sealed::re_encrypt(&sealed, &ring, &cert).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match result.and_then(|r| serde_json::to_string_pretty(&r).map_err(|e| e.to_string())) {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use fjord_sealed::{KeyOptions, KeyPair, KeyRing, Scope};
    use http_body_util::BodyExt;
    use k8s_openapi::api::core::v1::Secret;
    use tower::ServiceExt;

    fn ring() -> KeyRing {
        let mut ring = KeyRing::new();
        ring.insert(
            KeyPair::generate(&KeyOptions {
                bits: 2048,
                ..Default::default()
            })
            .unwrap(),
        );
        ring
    }

    async fn call(app: &Router, method: &str, path: &str, body: String) -> (StatusCode, String) {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn sealed_json(ring: &KeyRing) -> String {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s", "namespace": "n"}, "data": {"k": "dg=="}
        }))
        .unwrap();
        let cert = ring.sealing_certificate().unwrap();
        let sealed = fjord_sealed::seal_secret(&secret, cert, Some(Scope::Strict)).unwrap();
        serde_json::to_string(&sealed).unwrap()
    }

    #[tokio::test]
    async fn endpoints_answer_like_the_bitnami_controller() {
        let ring = ring();
        let body = sealed_json(&ring);
        let fingerprint = ring
            .sealing_certificate()
            .unwrap()
            .fingerprint()
            .to_string();
        let (_tx, rx) = tokio::sync::watch::channel(Arc::new(ring));
        let app = router(rx);
        let (code, text) = call(&app, "GET", "/healthz", String::new()).await;
        assert_eq!((code, text.as_str()), (StatusCode::OK, "ok\n"));
        let (code, pem) = call(&app, "GET", "/v1/cert.pem", String::new()).await;
        assert_eq!(code, StatusCode::OK);
        let cert = fjord_sealed::SealingCert::from_pem(pem.as_bytes(), "response").unwrap();
        assert_eq!(cert.fingerprint(), fingerprint);
        assert_eq!(
            call(&app, "POST", "/v1/verify", body.clone()).await.0,
            StatusCode::OK
        );
        let tampered = body.replace("\"k\":\"", "\"k\":\"AAAA");
        assert_eq!(
            call(&app, "POST", "/v1/verify", tampered).await.0,
            StatusCode::CONFLICT
        );
        // Burst of two per second: the third quick call is refused.
        assert_eq!(
            call(&app, "POST", "/v1/verify", body.clone()).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        let (code, rotated) = call(&app, "POST", "/v1/rotate", body).await;
        assert_eq!(code, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&rotated).unwrap();
        assert_eq!(v["kind"], "SealedSecret");
        assert!(v["spec"]["encryptedData"]["k"].is_string());
    }
}
