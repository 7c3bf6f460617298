//! The HTTP surface: one handler that authenticates, parses the path against the served types and
//! dispatches by verb. `router()` builds it without a socket, so tests can drive it with `oneshot`.

pub mod discovery;
pub mod error;
pub mod openapi;
pub mod path;
mod proxy;
pub mod request;
pub mod table;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::rest::{Api, json_response};
use error::{ApiError, ApiResult};
use path::Target;
use request::{BodyType, Query};

/// What the HTTP layer needs.
pub struct HttpState {
    /// The REST layer.
    pub api: Arc<Api>,
    /// The bearer token every request but health and version checks must carry.
    pub token: String,
    /// The address clients reach the server at (for `/api`'s serverAddressByClientCIDRs).
    pub server_address: String,
    /// Requests received so far (what a controller's idle reconcile must not add to).
    pub requests: Arc<std::sync::atomic::AtomicU64>,
    /// Resource requests by verb and resource, so that a benchmark can say which requests a
    /// controller makes.
    pub resource_requests:
        std::sync::Mutex<std::collections::BTreeMap<(&'static str, String), u64>>,
}

/// The router: every path goes to `handle`.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    state
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = serve(&state, req).await;
    match result {
        Ok(resp) => resp,
        Err(e) => {
            if e.code >= 500 {
                tracing::warn!(%method, %path, code = e.code, message = %e.message, "request failed");
            } else {
                tracing::debug!(%method, %path, code = e.code, message = %e.message, "request refused");
            }
            e.into_response()
        }
    }
}

fn authorized(state: &HttpState, req: &Request) -> bool {
    let Some(header) = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = header.strip_prefix("Bearer ") else {
        return false;
    };
    constant_time_eq(token.trim().as_bytes(), state.token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn serve(state: &HttpState, req: Request) -> ApiResult<Response> {
    let types = state.api.registry.snapshot();
    let target = path::parse(req.uri().path(), &types);
    let public = matches!(target, Ok(Target::Health) | Ok(Target::Version));
    if !public && !authorized(state, &req) {
        return Err(ApiError::unauthorized());
    }
    let target = target.map_err(|_| ApiError::path_not_found(req.uri().path()))?;
    let method = req.method().clone();
    let read_only = |m: &Method| m == Method::GET || m == Method::HEAD;
    match target {
        Target::Version => Ok(json_response(StatusCode::OK, &discovery::version())),
        Target::Health => Ok((StatusCode::OK, "ok").into_response()),
        Target::Metrics if read_only(&method) => Ok(metrics(state)),
        Target::Metrics => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported here"
        ))),
        Target::ServiceProxy {
            namespace,
            service,
            path,
        } => proxy::serve(&state.api, &namespace, &service, &path, req).await,
        _ if !read_only(&method) && !matches!(target, Target::Resource(_)) => Err(
            ApiError::method_not_allowed(format!("{method} is not supported here")),
        ),
        Target::CoreVersions => Ok(json_response(
            StatusCode::OK,
            &discovery::core_versions(&state.server_address),
        )),
        Target::Groups => Ok(json_response(StatusCode::OK, &discovery::groups(&types))),
        Target::Group(g) => Ok(json_response(StatusCode::OK, &discovery::group(&types, &g))),
        Target::ResourceList { group, version } => Ok(json_response(
            StatusCode::OK,
            &discovery::resource_list(&types, &group, &version),
        )),
        Target::OpenApiV3Index => Ok(json_response(StatusCode::OK, &openapi::index(&types))),
        Target::OpenApiV3 { group, version } => {
            if !types
                .all()
                .any(|t| t.group == group && t.version == version)
            {
                return Err(ApiError::path_not_found(req.uri().path()));
            }
            Ok(json_response(
                StatusCode::OK,
                &openapi::document(&types, &group, &version),
            ))
        }
        Target::OpenApiV2 => {
            let protobuf = req
                .headers()
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("protobuf"));
            let (content_type, body) = openapi::v2(&types, protobuf).map_err(|e| {
                tracing::error!(error = %e, "encoding OpenAPI v2 failed");
                ApiError::internal("encoding the OpenAPI v2 document failed")
            })?;
            Ok((
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, content_type)],
                body,
            )
                .into_response())
        }
        Target::Resource(r) => resource(state, r, req).await,
    }
}

/// Counts a resource request under its Kubernetes verb and resource (`deployments`,
/// `applications/status`).
fn count_request(state: &HttpState, method: &Method, r: &path::ResourceRequest, watch: bool) {
    let named = r.name.is_some();
    let verb = match (method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "other",
    };
    let resource = match &r.subresource {
        Some(sub) => format!("{}/{sub}", r.rt.plural),
        None => r.rt.plural.clone(),
    };
    *state
        .resource_requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry((verb, resource))
        .or_default() += 1;
}

/// The counters a benchmark or a scrape reads, in Prometheus' text format.
fn metrics(state: &HttpState) -> Response {
    let requests = state.requests.load(std::sync::atomic::Ordering::Relaxed);
    let revision = state.api.store.current_revision();
    let body = format!(
        "# HELP fjord_apiserver_requests_total HTTP requests received by the API server.\n\
         # TYPE fjord_apiserver_requests_total counter\n\
         fjord_apiserver_requests_total {requests}\n\
         # HELP fjord_apiserver_store_revision The store's current revision (writes so far).\n\
         # TYPE fjord_apiserver_store_revision gauge\n\
         fjord_apiserver_store_revision {revision}\n"
    );
    let mut body = body;
    body.push_str(
        "# HELP fjord_apiserver_resource_requests_total Resource requests by verb and resource.\n\
         # TYPE fjord_apiserver_resource_requests_total counter\n",
    );
    for ((verb, resource), n) in state
        .resource_requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        body.push_str(&format!(
            "fjord_apiserver_resource_requests_total{{verb=\"{verb}\",resource=\"{resource}\"}} {n}\n"
        ));
    }
    (
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

async fn read_body(req: Request) -> ApiResult<(axum::http::HeaderMap, bytes::Bytes)> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, request::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(request::MAX_BODY_BYTES))?;
    Ok((parts.headers, bytes))
}

async fn resource(
    state: &HttpState,
    r: path::ResourceRequest,
    req: Request,
) -> ApiResult<Response> {
    let api = &state.api;
    let query = Query::parse(req.uri().query()).with_user_agent(
        req.headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let repr = request::representation(req.headers());
    let method = req.method().clone();
    let sub = r.subresource.clone();
    count_request(state, &method, &r, query.flag("watch"));
    match (method, r.name.is_some(), sub.as_deref()) {
        (Method::GET, false, None) => {
            if query.flag("watch") {
                api.watch(r, &query, repr)
            } else {
                api.list(&r, &query, repr)
            }
        }
        (Method::GET, true, None | Some("status")) => api.get(&r, repr),
        (Method::GET, true, Some("scale")) => api.get_scale(&r),
        (Method::POST, false, None) => {
            let (headers, body) = read_body(req).await?;
            let ty = body_type(&headers)?;
            let obj = request::decode_object(&body, ty)?;
            api.create(&r, &query, obj).await
        }
        (Method::PUT, true, None | Some("status") | Some("finalize")) => {
            let (headers, body) = read_body(req).await?;
            let ty = body_type(&headers)?;
            let obj = request::decode_object(&body, ty)?;
            api.update(&r, &query, obj).await
        }
        (Method::PUT | Method::PATCH, true, Some("scale")) => {
            let (headers, body) = read_body(req).await?;
            let ty = body_type(&headers)?;
            api.write_scale(&r, &query, ty, &body).await
        }
        (Method::PATCH, true, None | Some("status")) => {
            let (headers, body) = read_body(req).await?;
            let ty = body_type(&headers)?;
            match ty {
                BodyType::ApplyPatch => api.apply(&r, &query, &body).await,
                BodyType::Json | BodyType::Yaml | BodyType::Protobuf => {
                    Err(ApiError::unsupported_media_type(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
                    ))
                }
                _ => api.patch(&r, &query, ty, &body).await,
            }
        }
        (Method::DELETE, true, None) => {
            let (_, body) = read_body(req).await?;
            let options = delete_options(&body)?;
            api.delete(&r, &query, &options).await
        }
        (Method::DELETE, false, None) => {
            let (_, body) = read_body(req).await?;
            let options = delete_options(&body)?;
            api.delete_collection(&r, &query, &options).await
        }
        (_, _, Some(sub)) if !matches!(sub, "status" | "scale" | "finalize") => {
            Err(ApiError::path_not_found(sub))
        }
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {m}"
        ))),
    }
}

fn body_type(headers: &axum::http::HeaderMap) -> ApiResult<BodyType> {
    request::body_type(headers).ok_or_else(|| {
        ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {})",
            headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        ))
    })
}

fn delete_options(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the DeleteOptions body is malformed: {e}")))
}
