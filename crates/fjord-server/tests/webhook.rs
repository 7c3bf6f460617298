//! The webhook endpoint through the router (no socket): signed pushes refresh, everything else
//! is refused and changes nothing.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use fjord_server::{AppState, BoxFuture, PushEvent, Refresher, SecretSource, WebhookSecrets};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Secrets;
impl SecretSource for Secrets {
    fn load(&self) -> BoxFuture<'_, Result<WebhookSecrets, String>> {
        Box::pin(async {
            Ok(WebhookSecrets {
                github: Some("gh-secret".into()),
                gitlab: Some("gl-token".into()),
                generic: Some("generic".into()),
            })
        })
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<PushEvent>>);
impl Refresher for Recorder {
    fn refresh<'a>(&'a self, push: &'a PushEvent) -> BoxFuture<'a, Result<Vec<String>, String>> {
        self.0.lock().unwrap().push(push.clone());
        Box::pin(async { Ok(vec!["argocd/app".to_string()]) })
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    aws_lc_rs::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn app(recorder: Arc<Recorder>) -> axum::Router {
    fjord_server::router(Arc::new(AppState {
        secrets: Arc::new(Secrets),
        refresher: recorder,
        webhook_rate: Default::default(),
    }))
}

async fn post(app: &axum::Router, headers: &[(&str, String)], body: Vec<u8>) -> (u16, String) {
    let mut req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/webhook");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

const PUSH: &str = r#"{"ref":"refs/heads/main","repository":{"ssh_url":"git@github.com:my-org/infra-config.git","default_branch":"main"},"commits":[{"modified":["k8s/overlays/production/kustomization.yaml"]}]}"#;

#[tokio::test]
async fn a_signed_github_push_refreshes() {
    let rec = Arc::new(Recorder::default());
    let app = app(rec.clone());
    let body = PUSH.as_bytes().to_vec();
    let sig = format!("sha256={}", sign("gh-secret", &body));
    let (code, text) = post(
        &app,
        &[
            ("x-github-event", "push".into()),
            ("x-hub-signature-256", sig),
        ],
        body,
    )
    .await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("argocd/app"));
    let pushes = rec.0.lock().unwrap();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].repos, vec!["github.com/my-org/infra-config"]);
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_oversized_payloads_change_nothing() {
    let rec = Arc::new(Recorder::default());
    let app = app(rec.clone());
    let body = PUSH.as_bytes().to_vec();
    let (code, _) = post(&app, &[("x-github-event", "push".into())], body.clone()).await;
    assert_eq!(code, 401, "unsigned");
    let bad = format!("sha256={}", sign("not-the-secret", &body));
    let (code, _) = post(
        &app,
        &[
            ("x-github-event", "push".into()),
            ("x-hub-signature-256", bad),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(code, 401, "wrongly signed");
    let (code, _) = post(
        &app,
        &[
            ("x-gitlab-event", "Push Hook".into()),
            ("x-gitlab-token", "wrong".into()),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(code, 401, "wrong GitLab token");
    let huge = vec![b' '; 2 * 1024 * 1024];
    let sig = format!("sha256={}", sign("gh-secret", &huge));
    let (code, _) = post(
        &app,
        &[
            ("x-github-event", "push".into()),
            ("x-hub-signature-256", sig),
        ],
        huge,
    )
    .await;
    assert_eq!(code, 413, "oversized");
    assert!(rec.0.lock().unwrap().is_empty(), "nothing was refreshed");
}

#[tokio::test]
async fn generic_hmac_and_gitlab_token_work_and_floods_are_limited() {
    let rec = Arc::new(Recorder::default());
    let app = app(rec.clone());
    let generic =
        br#"{"repository":"https://github.com/my-org/infra-config","ref":"refs/heads/main"}"#
            .to_vec();
    let sig = sign("generic", &generic);
    let (code, _) = post(
        &app,
        &[("x-fjord-signature-256", sig.clone())],
        generic.clone(),
    )
    .await;
    assert_eq!(code, 200);
    let gitlab =
        br#"{"ref":"refs/heads/main","project":{"git_ssh_url":"git@gitlab.com:g/p.git"}}"#.to_vec();
    let (code, _) = post(
        &app,
        &[
            ("x-gitlab-event", "Push Hook".into()),
            ("x-gitlab-token", "gl-token".into()),
        ],
        gitlab,
    )
    .await;
    assert_eq!(code, 200);
    let mut limited = false;
    for _ in 0..100 {
        let (code, _) = post(
            &app,
            &[("x-fjord-signature-256", sig.clone())],
            generic.clone(),
        )
        .await;
        if code == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "a flood of requests is rate-limited");
}
