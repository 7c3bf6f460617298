//! The API and UI router without a cluster: authentication on every route, authorisation of
//! the cached list, sessions and CSRF, the UI's files and headers. (Everything that needs the
//! cluster is in `crates/fjord-e2e/tests/ui_api.rs`.)

use std::sync::Arc;

use axum::body::Body;
use fjord_engine::types::{AppProject, Application};
use fjord_server::api::{ApiState, ROUTES, cache::AppCache, live::Kinds};
use fjord_server::auth::rbac::Identity;
use fjord_server::auth::session::SessionStore;
use fjord_server::auth::tokens::TokenStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn state() -> Arc<ApiState> {
    // A client for an address nothing listens on: these tests must never reach a cluster.
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let cache = Arc::new(AppCache::default());
    let app = |name: &str, project: &str| -> Application {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"project": project, "source": {"repoURL": "https://g/r.git"}},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}
        }))
        .unwrap()
    };
    cache.replace_all(vec![app("a", "prod"), app("b", "dev")]);
    let project: AppProject = serde_json::from_value(json!({
        "metadata": {"name": "prod"},
        "spec": {"roles": [{"name": "viewer", "groups": ["prod-viewers"],
            "policies": ["p, proj:prod:viewer, applications, get, prod/*, allow"]}]}
    }))
    .unwrap();
    cache.replace_projects(vec![project]);
    let who = |name: &str, groups: &[&str]| Identity {
        name: name.into(),
        subjects: groups.iter().map(|g| g.to_string()).collect(),
    };
    Arc::new(ApiState {
        client,
        namespace: "argocd".into(),
        cache,
        tokens: TokenStore::fixed(
            "admin-token".into(),
            vec![("prod-token".into(), who("prodviewer", &["prod-viewers"]))],
        ),
        sessions: SessionStore::default(),
        secure_cookies: true,
        git_cache: std::env::temp_dir(),
        kinds: Kinds::default(),
    })
}

fn router() -> axum::Router {
    router_with(state())
}

fn router_with(state: Arc<ApiState>) -> axum::Router {
    fjord_server::api::router(state).merge(fjord_server::ui::router())
}

async fn send(
    r: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, axum::http::HeaderMap, String) {
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = r.clone().oneshot(req).await.unwrap();
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, headers, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn every_route_but_the_document_and_login_wants_credentials() {
    let r = router();
    for (method, path) in ROUTES {
        let uri = path.replace("{name}", "a");
        let (code, headers, body) = send(&r, &method.to_uppercase(), &uri, &[], None).await;
        match (*method, *path) {
            ("get", "/api/v1/openapi.json") => assert_eq!(code, 200),
            ("post", "/api/v1/session") => assert_ne!(code, 200, "login without a body"),
            _ => {
                assert_eq!(code, 401, "{method} {path}: {body}");
                assert!(headers.contains_key("www-authenticate"));
            }
        }
        let (code, _, _) = send(
            &r,
            &method.to_uppercase(),
            &uri,
            &[("authorization", "Bearer not-a-token")],
            None,
        )
        .await;
        if *path != "/api/v1/openapi.json" && *path != "/api/v1/session" {
            assert_eq!(code, 401, "{method} {path} with an unknown token");
        }
    }
}

#[tokio::test]
async fn the_list_shows_only_what_the_callers_roles_allow() {
    let r = router();
    let (code, _, body) = send(
        &r,
        "GET",
        "/api/v1/applications",
        &[("authorization", "Bearer admin-token")],
        None,
    )
    .await;
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 2);
    let (_, _, body) = send(
        &r,
        "GET",
        "/api/v1/applications",
        &[("authorization", "Bearer prod-token")],
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["name"], "a");
    let (code, _, body) = send(
        &r,
        "GET",
        "/api/v1/applications/b",
        &[("authorization", "Bearer prod-token")],
        None,
    )
    .await;
    assert_eq!(code, 403, "{body}");
    // A missing Application looks like a forbidden one to a caller who cannot read everything.
    let (code, _, _) = send(
        &r,
        "GET",
        "/api/v1/applications/nope",
        &[("authorization", "Bearer prod-token")],
        None,
    )
    .await;
    assert_eq!(code, 403);
    let (code, _, _) = send(
        &r,
        "GET",
        "/api/v1/applications/nope",
        &[("authorization", "Bearer admin-token")],
        None,
    )
    .await;
    assert_eq!(code, 404);
    // Forbidden actions are refused before the cluster is asked (it is unreachable here,
    // which would be a 502).
    let (code, _, body) = send(
        &r,
        "GET",
        "/api/v1/applications/a",
        &[("authorization", "Bearer prod-token")],
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn sessions_need_the_csrf_token_for_actions() {
    let r = router();
    let (code, headers, body) = send(
        &r,
        "POST",
        "/api/v1/session",
        &[],
        Some(json!({"token": "prod-token"})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let csrf = serde_json::from_str::<Value>(&body).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, _) = send(
        &r,
        "GET",
        "/api/v1/applications",
        &[("cookie", &session)],
        None,
    )
    .await;
    assert_eq!(code, 200, "reads need no CSRF token");
    let (code, _, body) = send(
        &r,
        "POST",
        "/api/v1/applications/a/sync",
        &[("cookie", &session)],
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (code, _, _) = send(
        &r,
        "DELETE",
        "/api/v1/session",
        &[("cookie", &session), ("x-csrf-token", &csrf)],
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _, _) = send(
        &r,
        "GET",
        "/api/v1/applications",
        &[("cookie", &session)],
        None,
    )
    .await;
    assert_eq!(code, 401, "logged out");
    let (code, _, _) = send(
        &r,
        "POST",
        "/api/v1/session",
        &[],
        Some(json!({"token": "guess"})),
    )
    .await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn the_ui_is_served_from_the_binary_with_a_strict_policy() {
    let r = router();
    for path in ["/", "/applications", "/applications/a"] {
        let (code, headers, body) = send(&r, "GET", path, &[], None).await;
        assert_eq!(code, 200, "{path}");
        assert!(body.contains("/ui/app.js"), "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
    }
    let (code, headers, body) = send(&r, "GET", "/ui/app.js", &[], None).await;
    assert_eq!(code, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        body.contains("EventSource"),
        "the page follows the event stream"
    );
    let (_, _, body) = send(&r, "GET", "/ui/graph.js", &[], None).await;
    assert!(body.contains("FjordGraph"));
    let (_, headers, _) = send(&r, "GET", "/ui/style.css", &[], None).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn the_event_stream_carries_only_what_the_caller_may_read() {
    use futures::StreamExt;
    let st = state();
    let r = router_with(Arc::clone(&st));
    let req = axum::http::Request::builder()
        .uri("/api/v1/stream/applications")
        .header("authorization", "Bearer prod-token")
        .body(Body::empty())
        .unwrap();
    let resp = r.oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body().into_data_stream();
    let change = |name: &str, project: &str, sync: &str| -> Application {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {"project": project},
            "status": {"sync": {"status": sync}}
        }))
        .unwrap()
    };
    // A change the caller may not see, then one it may.
    st.cache.upsert(change("b", "dev", "OutOfSync"));
    st.cache.upsert(change("a", "prod", "OutOfSync"));
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
            .await
            .expect("an event arrives")
            .expect("the stream stays open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with("event: application\n"), "{text}");
    assert!(text.contains("\"name\":\"a\""), "{text}");
    assert!(!text.contains("\"name\":\"b\""), "{text}");
    assert!(text.contains("\"sync\":\"OutOfSync\""), "{text}");
}
