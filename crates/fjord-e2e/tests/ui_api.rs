//! Fjord's JSON API against the embedded control plane, the Application controller and a
//! local Git repository: every endpoint, 401 for anonymous callers, 403 (and no change) for
//! forbidden actions, browser sessions with CSRF, Secret masking everywhere, and the event
//! stream.
//!
//! Run: `cargo test -p fjord-e2e --test ui_api -- --ignored`.

mod ui_support;

use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tower::ServiceExt;
use ui_support::{APP, NS, SECRET_VALUE, UiSetup, health_of, sync_of};

enum Auth<'a> {
    None,
    Bearer(&'a str),
    Cookie(&'a str, Option<&'a str>),
}

struct Reply {
    code: u16,
    body: Value,
    text: String,
    headers: axum::http::HeaderMap,
}

async fn call(s: &UiSetup, method: &str, path: &str, auth: Auth<'_>, body: Option<Value>) -> Reply {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    match auth {
        Auth::None => {}
        Auth::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
        Auth::Cookie(id, csrf) => {
            req = req.header("cookie", format!("fjord_session={id}"));
            if let Some(c) = csrf {
                req = req.header("x-csrf-token", c);
            }
        }
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = s.router.clone().oneshot(req).await.unwrap();
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        code,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        headers,
    }
}

const BASE: &str = "/api/v1/applications";

fn path(suffix: &str) -> String {
    format!("{BASE}/{APP}{suffix}")
}

/// Tokens: a viewer (built-in read-only), a deployer (group of a `default` project role that
/// may sync), and an outsider (a group no role lists).
async fn add_tokens(s: &UiSetup) {
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), "argocd");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "fjord-tokens"},
        "stringData": {
            "viewer.token": "viewer-token-1", "viewer.groups": "role:readonly",
            "deployer.token": "deployer-token-1", "deployer.groups": "team-ops",
            "outsider.token": "outsider-token-1", "outsider.groups": "nobody"
        }
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let projects: Api<fjord_engine::types::AppProject> =
        Api::namespaced(s.client.clone(), "argocd");
    projects
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"roles": [{
                "name": "deployer", "groups": ["team-ops"],
                "policies": [
                    "p, proj:default:deployer, applications, get, default/*, allow",
                    "p, proj:default:deployer, applications, sync, default/*, allow"
                ]
            }]}})),
        )
        .await
        .unwrap();
    // The cache sees the role through its watch.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !s
        .api
        .cache
        .projects()
        .iter()
        .any(|p| p.spec.extra.contains_key("roles"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the project role is cached"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_masked(what: &str, r: &Reply) {
    assert_eq!(r.code, 200, "{what}: {}", r.text);
    assert!(
        !r.text.contains(SECRET_VALUE),
        "{what} leaks the Secret value"
    );
    // Nor in base64, as Secret data holds it.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    assert!(
        !r.text.contains(&b64),
        "{what} leaks the Secret value (base64)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane, the controller and the server"]
async fn the_api_serves_reads_actions_auth_and_masking() {
    let mut s = UiSetup::start(false).await;
    add_tokens(&s).await;
    let admin = s.admin_token.clone();
    let admin = admin.as_str();

    // Anonymous and unknown callers get 401 on every route but the document.
    for (m, p) in fjord_server::api::ROUTES {
        let p = p.replace("{name}", APP);
        let r = call(&s, &m.to_uppercase(), &p, Auth::None, None).await;
        if p.ends_with("openapi.json") {
            assert_eq!(r.code, 200);
            continue;
        }
        if *m == "post" && p.ends_with("/session") {
            continue;
        }
        assert_eq!(r.code, 401, "{m} {p}: {}", r.text);
    }
    let r = call(&s, "GET", BASE, Auth::Bearer("wrong"), None).await;
    assert_eq!(r.code, 401);
    assert!(r.headers.contains_key("www-authenticate"));

    // Manual sync first: auto-sync is off.
    let r = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Bearer(admin),
        Some(json!({"prune": true})),
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(r.body["operation"]["sync"]["prune"], true);
    assert_eq!(r.body["operation"]["initiatedBy"]["username"], "admin");
    s.wait_app("Synced and Healthy", |a| {
        sync_of(a) == "Synced" && health_of(a) == "Healthy"
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = call(&s, "GET", &path(""), Auth::Bearer(admin), None).await;
        if r.body["summary"]["sync"] == "Synced" && r.body["summary"]["health"] == "Healthy" {
            assert!(r.body["metadata"].get("managedFields").is_none());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cache follows: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // List: filters, counts, pagination.
    let r = call(&s, "GET", BASE, Auth::Bearer(admin), None).await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["items"][0]["name"], APP);
    assert_eq!(r.body["counts"]["sync"]["Synced"], 1);
    assert_eq!(r.body["counts"]["health"]["Healthy"], 1);
    let r = call(
        &s,
        "GET",
        &format!("{BASE}?sync=OutOfSync"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_eq!(r.body["total"], 0);
    assert_eq!(
        r.body["counts"]["sync"]["Synced"], 1,
        "counts ignore the status filter"
    );
    let r = call(
        &s,
        "GET",
        &format!("{BASE}?search=PAYMENT&project=default"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_eq!(r.body["total"], 1);
    let r = call(
        &s,
        "GET",
        &format!("{BASE}?selector=team%3Dnone"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_eq!(r.body["total"], 0);
    let r = call(
        &s,
        "GET",
        &format!("{BASE}?sort=colour"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_eq!(r.code, 400);
    // The viewer reads; the outsider sees nothing and may read nothing.
    let r = call(&s, "GET", BASE, Auth::Bearer("viewer-token-1"), None).await;
    assert_eq!(r.body["total"], 1);
    let r = call(&s, "GET", BASE, Auth::Bearer("outsider-token-1"), None).await;
    assert_eq!(r.body["total"], 0);
    let r = call(&s, "GET", &path(""), Auth::Bearer("outsider-token-1"), None).await;
    assert_eq!(r.code, 403, "{}", r.text);

    // Resource tree: Deployment → ReplicaSet → Pod below the managed resources.
    let r = call(
        &s,
        "GET",
        &path("/resource-tree"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    let nodes = r.body["nodes"].as_array().unwrap();
    let find = |kind: &str| {
        nodes
            .iter()
            .find(|n| n["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} in {}", r.text))
    };
    let dep = find("Deployment");
    assert_eq!(dep["managed"], true);
    assert_eq!(dep["sync"], "Synced");
    let rs = find("ReplicaSet");
    assert_eq!(rs["parents"][0], dep["id"]);
    let pod = find("Pod");
    assert_eq!(pod["parents"][0], rs["id"]);
    assert!(
        nodes
            .iter()
            .any(|n| n["kind"] == "Secret" && n["managed"] == true)
    );

    // Desired and live manifests, masked.
    let r = call(&s, "GET", &path("/manifests"), Auth::Bearer(admin), None).await;
    assert_masked("desired manifests", &r);
    let items = r.body["items"].as_array().unwrap();
    let secret = items
        .iter()
        .find(|m| m["kind"] == "Secret")
        .expect("the Secret is desired");
    assert!(
        secret["yaml"].as_str().unwrap().contains("++++++++"),
        "{}",
        secret["yaml"]
    );
    assert!(
        items
            .iter()
            .any(|m| m["kind"] == "Deployment" && m["namespace"] == NS)
    );
    let r = call(&s, "GET", &path("/live"), Auth::Bearer(admin), None).await;
    assert_masked("live manifests", &r);
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["exists"] == true)
    );

    // A Git change: OutOfSync, and the diff shows it (masked).
    let mut events = sse(&s, admin).await;
    s.repo.edit(
        "k8s/overlays/production/kustomization.yaml",
        "count: 3",
        "count: 4",
    );
    s.repo.commit("four replicas");
    s.wait_app("OutOfSync", |a| sync_of(a) == "OutOfSync").await;
    let ev = next_event_matching(&mut events, |v| v["application"]["sync"] == "OutOfSync").await;
    assert_eq!(ev["type"], "UPSERT");
    assert_eq!(ev["application"]["name"], APP);
    let r = call(
        &s,
        "GET",
        &path("/managed-resources"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_masked("diff", &r);
    let items = r.body["items"].as_array().unwrap();
    let dep = items.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(dep["status"], "Modified", "{dep}");
    assert!(
        dep["unified"].as_str().unwrap().contains("replicas: 4"),
        "{dep}"
    );
    assert!(dep["rows"].as_array().unwrap().iter().any(|row| {
        row["op"] == "replace"
            && row["live"]
                .as_str()
                .is_some_and(|l| l.contains("replicas: 3"))
            && row["desired"]
                .as_str()
                .is_some_and(|l| l.contains("replicas: 4"))
    }));
    assert!(
        items
            .iter()
            .any(|d| d["kind"] == "Secret" && d["status"] == "Unchanged")
    );

    // Forbidden actions change nothing.
    for who in ["viewer-token-1", "outsider-token-1"] {
        let r = call(
            &s,
            "POST",
            &path("/sync"),
            Auth::Bearer(who),
            Some(json!({})),
        )
        .await;
        assert_eq!(r.code, 403, "{who}: {}", r.text);
        let r = call(&s, "DELETE", &path(""), Auth::Bearer(who), None).await;
        assert_eq!(r.code, 403, "{who}: {}", r.text);
    }
    let r = call(
        &s,
        "POST",
        &path("/rollback"),
        Auth::Bearer("viewer-token-1"),
        Some(json!({"id": 0})),
    )
    .await;
    assert_eq!(r.code, 403);
    let r = call(
        &s,
        "DELETE",
        &path("/operation"),
        Auth::Bearer("viewer-token-1"),
        None,
    )
    .await;
    assert_eq!(r.code, 403);
    let app = s.apps.get(APP).await.unwrap();
    assert!(app.operation.is_none(), "no operation was written");
    assert_eq!(sync_of(&app), "OutOfSync");
    assert!(app.metadata.deletion_timestamp.is_none());

    // Sessions: cookie + CSRF.
    let r = call(
        &s,
        "POST",
        "/api/v1/session",
        Auth::None,
        Some(json!({"token": "deployer-token-1"})),
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("fjord_session=")
        .to_string();
    let csrf = r.body["csrfToken"].as_str().unwrap().to_string();
    let r = call(
        &s,
        "GET",
        "/api/v1/session",
        Auth::Cookie(&session, None),
        None,
    )
    .await;
    assert_eq!(r.body["user"], "deployer");
    assert_eq!(r.body["csrfToken"], csrf.as_str());
    let r = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Cookie(&session, None),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.code, 403, "no CSRF token: {}", r.text);
    let r = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Cookie(&session, Some("forged")),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.code, 403, "wrong CSRF token");
    assert!(s.apps.get(APP).await.unwrap().operation.is_none());
    let r = call(
        &s,
        "POST",
        "/api/v1/session",
        Auth::None,
        Some(json!({"token": "nope"})),
    )
    .await;
    assert_eq!(r.code, 401);

    // The deployer syncs through the session, with the CSRF token.
    let r = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Cookie(&session, Some(&csrf)),
        Some(json!({"prune": false})),
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(r.body["operation"]["initiatedBy"]["username"], "deployer");
    let second = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Bearer(admin),
        Some(json!({})),
    )
    .await;
    assert!(second.code == 409 || second.code == 200, "{}", second.text);
    s.wait_app("Synced again", |a| {
        sync_of(a) == "Synced" && a.operation.is_none()
    })
    .await;

    // History and rollback to the first deployment.
    let r = call(
        &s,
        "GET",
        &path("/history"),
        Auth::Bearer("viewer-token-1"),
        None,
    )
    .await;
    assert_eq!(r.code, 200);
    let items = r.body["items"].as_array().unwrap();
    assert!(items.len() >= 2, "{}", r.text);
    let first = items.last().unwrap().clone();
    let r = call(
        &s,
        "POST",
        &path("/rollback"),
        Auth::Bearer(admin),
        Some(json!({"id": 99})),
    )
    .await;
    assert_eq!(r.code, 400, "{}", r.text);
    let r = call(
        &s,
        "POST",
        &path("/rollback"),
        Auth::Bearer(admin),
        Some(json!({"id": first["id"], "prune": true})),
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(r.body["operation"]["sync"]["revision"], first["revision"]);
    assert_eq!(r.body["operation"]["sync"]["prune"], true);
    s.wait_app("rollback ran", |a| a.operation.is_none()).await;

    // Terminate without a running operation is a conflict; refresh sets the annotation.
    let r = call(&s, "DELETE", &path("/operation"), Auth::Bearer(admin), None).await;
    assert_eq!(r.code, 409, "{}", r.text);
    let r = call(
        &s,
        "POST",
        &path("/refresh?refresh=hard"),
        Auth::Bearer("viewer-token-1"),
        None,
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(
        r.body["metadata"]["annotations"]["argocd.argoproj.io/refresh"],
        "hard"
    );
    let r = call(
        &s,
        "POST",
        &path("/refresh?refresh=soft"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_eq!(r.code, 400);

    // Events and projects answer; the OpenAPI document is served.
    let r = call(&s, "GET", &path("/events"), Auth::Bearer(admin), None).await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert!(r.body["items"].is_array());
    let r = call(&s, "GET", "/api/v1/projects", Auth::Bearer(admin), None).await;
    assert_eq!(r.body["items"], json!(["default"]));
    let r = call(&s, "GET", "/api/v1/openapi.json", Auth::None, None).await;
    assert!(r.body["paths"]["/api/v1/applications"].is_object());

    // Terminate withdraws a requested operation (the controller is stopped so it stays
    // pending); the deployer may, the viewer may not.
    s.stop_controller().await;
    let selected = json!({"dryRun": true, "resources": [
        {"group": "apps", "kind": "Deployment", "name": "payment-gateway", "namespace": NS}
    ]});
    let r = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Bearer(admin),
        Some(selected),
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(r.body["operation"]["sync"]["dryRun"], true);
    assert_eq!(
        r.body["operation"]["sync"]["resources"][0]["kind"],
        "Deployment"
    );
    let r = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Bearer(admin),
        Some(json!({"prnue": true})),
    )
    .await;
    assert!(
        r.code == 400 || r.code == 422 || r.code == 409,
        "unknown fields are refused: {}",
        r.text
    );
    let r = call(
        &s,
        "POST",
        &path("/sync"),
        Auth::Bearer(admin),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.code, 409, "one operation at a time: {}", r.text);
    let r = call(
        &s,
        "DELETE",
        &path("/operation"),
        Auth::Bearer("viewer-token-1"),
        None,
    )
    .await;
    assert_eq!(r.code, 403);
    assert!(s.apps.get(APP).await.unwrap().operation.is_some());
    let r = call(
        &s,
        "DELETE",
        &path("/operation"),
        Auth::Cookie(&session, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    assert!(s.apps.get(APP).await.unwrap().operation.is_none());

    // Delete: the deployer may not, the admin may (without cascade here).
    let r = call(
        &s,
        "DELETE",
        &path("?cascade=false"),
        Auth::Cookie(&session, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(r.code, 403);
    let r = call(
        &s,
        "DELETE",
        &path("?cascade=false"),
        Auth::Bearer(admin),
        None,
    )
    .await;
    assert_eq!(r.code, 200, "{}", r.text);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s.apps.get_opt(APP).await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the Application is deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = call(&s, "GET", &path(""), Auth::Bearer(admin), None).await;
    assert!(r.code == 404 || r.code == 200, "{}", r.text);

    // Logging out ends the session.
    let r = call(
        &s,
        "DELETE",
        "/api/v1/session",
        Auth::Cookie(&session, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(r.code, 200);
    let r = call(&s, "GET", BASE, Auth::Cookie(&session, None), None).await;
    assert_eq!(r.code, 401);
    s.stop().await;
}

type Events = std::pin::Pin<Box<dyn futures::Stream<Item = Value> + Send>>;

/// Opens the event stream and yields each `application` event's data.
async fn sse(s: &UiSetup, token: &str) -> Events {
    let req = axum::http::Request::builder()
        .uri("/api/v1/stream/applications")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = s.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let body = resp.into_body().into_data_stream();
    let lines = futures::stream::unfold((body, String::new()), |(mut body, mut buf)| async move {
        use futures::StreamExt;
        loop {
            if let Some(i) = buf.find("\n\n") {
                let frame: String = buf.drain(..i + 2).collect();
                return Some((frame, (body, buf)));
            }
            let chunk = body.next().await?.ok()?;
            buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    use futures::StreamExt;
    Box::pin(lines.filter_map(|frame| async move {
        if !frame.contains("event: application") {
            return None;
        }
        let data = frame.lines().find_map(|l| l.strip_prefix("data: "))?;
        serde_json::from_str(data).ok()
    }))
}

async fn next_event_matching(events: &mut Events, check: impl Fn(&Value) -> bool) -> Value {
    use futures::StreamExt;
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let v = events.next().await.expect("the stream stays open");
            if check(&v) {
                return v;
            }
        }
    })
    .await
    .expect("an event arrives")
}
