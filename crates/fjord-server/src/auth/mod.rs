//! Who is calling and what they may do. Every API route takes a [`Caller`]: a bearer token
//! (`Authorization: Bearer ...`) or a browser session cookie; neither is a 401. A cookie on a
//! state-changing request without the session's CSRF token is a 403. What the caller may do is
//! decided by [`rbac::Grants`], compiled from the AppProjects in the cache.

pub mod rbac;
pub mod session;
pub mod tokens;

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::api::ApiState;
use crate::api::error::ApiError;
use rbac::{Grants, Identity};

/// An authenticated caller and its compiled grants.
pub struct Caller {
    /// Who.
    pub identity: Identity,
    /// What they may do.
    pub grants: Grants,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::cookie_value)
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let identity = if let Some(token) = bearer(&parts.headers) {
            state
                .tokens
                .identify(token)
                .await
                .ok_or(ApiError::Unauthenticated)?
        } else if let Some(id) = session_id(&parts.headers) {
            let s = state.sessions.get(id).ok_or(ApiError::Unauthenticated)?;
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            if !safe {
                let sent = parts
                    .headers
                    .get(session::CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !tokens::secret_eq(sent, &s.csrf) {
                    return Err(ApiError::Forbidden(
                        "missing or wrong X-CSRF-Token header".into(),
                    ));
                }
            }
            s.identity
        } else {
            return Err(ApiError::Unauthenticated);
        };
        let projects = state.cache.projects();
        let grants = Grants::compile(&identity, projects.iter().map(|p| p.as_ref()));
        Ok(Caller { identity, grants })
    }
}

impl Caller {
    /// Fails with 403 unless the caller may do `action` to the Application.
    pub fn require(&self, action: rbac::Action, project: &str, app: &str) -> Result<(), ApiError> {
        if self.grants.allows(action, project, app) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{} may not {} application {project}/{app}",
                self.identity.name,
                action.as_str()
            )))
        }
    }
}

impl Caller {
    /// The error for an Application that does not exist: 404 for callers who may read
    /// everything, else the same 403 an existing but forbidden one gets, so that existence is
    /// not revealed.
    pub fn not_found(&self, namespace: &str, name: &str) -> ApiError {
        if self.grants.reads_everything() {
            ApiError::NotFound {
                namespace: namespace.to_string(),
                name: name.to_string(),
            }
        } else {
            ApiError::Forbidden(format!(
                "{} may not get application {namespace}/{name}",
                self.identity.name
            ))
        }
    }
}

/// `POST /api/v1/session` body.
#[derive(Deserialize)]
pub struct LoginRequest {
    /// A bearer token.
    pub token: String,
}

fn is_https(state: &ApiState, headers: &HeaderMap) -> bool {
    state.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `POST /api/v1/session`: exchanges a token for a session cookie; returns the CSRF token.
pub async fn login(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let identity = state
        .tokens
        .identify(req.token.trim())
        .await
        .ok_or(ApiError::Unauthenticated)?;
    let name = identity.name.clone();
    let (id, csrf) = state.sessions.create(identity);
    let cookie = session::set_cookie(&id, is_https(&state, &headers));
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({"user": name, "csrfToken": csrf})),
    )
        .into_response())
}

/// `GET /api/v1/session`: the current session's user and CSRF token (the page reads it after
/// a reload), 401 without one.
pub async fn current(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Some(token) = bearer(&headers) {
        return match state.tokens.identify(token).await {
            Some(who) => Json(json!({"user": who.name})).into_response(),
            None => ApiError::Unauthenticated.into_response(),
        };
    }
    match session_id(&headers).and_then(|id| state.sessions.get(id)) {
        Some(s) => Json(json!({"user": s.identity.name, "csrfToken": s.csrf})).into_response(),
        None => ApiError::Unauthenticated.into_response(),
    }
}

/// `DELETE /api/v1/session`: logs out (CSRF-checked like every other action).
pub async fn logout(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    _caller: Caller,
) -> Response {
    if let Some(id) = session_id(&headers) {
        state.sessions.remove(id);
    }
    (
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            session::clear_cookie(is_https(&state, &headers)),
        )],
        Json(json!({})),
    )
        .into_response()
}
