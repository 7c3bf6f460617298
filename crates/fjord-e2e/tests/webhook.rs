//! The webhook receiver against the embedded control plane: a signed GitHub push marks exactly
//! the Applications it concerns for refresh; a wrongly signed one changes nothing.

use std::sync::Arc;

use axum::body::Body;
use fjord_e2e::{TestCluster, client};
use fjord_server::kube_backend::{KubeRefresher, KubeSecrets, REFRESH_ANNOTATION};
use http_body_util::BodyExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use tower::ServiceExt;

const SEED: &str = include_str!("../../../examples/nordic-payment-gateway.yaml");
const APP_CRD: &str = include_str!("../../fjord-engine/manifests/application-crd.yaml");

fn sign(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    aws_lc_rs::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn a_signed_push_refreshes_the_matching_application_only() {
    let tc = TestCluster::start().await.unwrap();
    let crd = tc.scratch().join("app-crd.yaml");
    std::fs::write(&crd, APP_CRD).unwrap();
    tc.kubectl_ok("1.31", &["apply", "-f", crd.to_str().unwrap()])
        .unwrap();
    tc.kubectl_ok("1.31", &["create", "namespace", "argocd"])
        .unwrap();
    tc.kubectl_ok(
        "1.31",
        &[
            "-n",
            "argocd",
            "create",
            "secret",
            "generic",
            "argocd-secret",
            "--from-literal=webhook.github.secret=hook-secret",
        ],
    )
    .unwrap();
    let seed = tc.scratch().join("seed.yaml");
    std::fs::write(&seed, SEED).unwrap();
    tc.kubectl_ok("1.31", &["apply", "-f", seed.to_str().unwrap()])
        .unwrap();
    // Two more Applications on another path of the same repository: one that may use files
    // anywhere in it (no annotation: every push to its branch concerns it, as in Argo CD), and
    // one that says with `manifest-generate-paths` that only its own path matters.
    let staging = SEED
        .replace("nordic-payment-gateway", "staging-gateway")
        .replace("overlays/production", "overlays/staging");
    std::fs::write(&seed, &staging).unwrap();
    tc.kubectl_ok("1.31", &["apply", "-f", seed.to_str().unwrap()])
        .unwrap();
    let narrowed = staging.replace("staging-gateway", "staging-narrowed").replace(
        "  namespace: argocd\n",
        "  namespace: argocd\n  annotations:\n    argocd.argoproj.io/manifest-generate-paths: .\n",
    );
    assert!(narrowed.contains("manifest-generate-paths"), "{narrowed}");
    std::fs::write(&seed, narrowed).unwrap();
    tc.kubectl_ok("1.31", &["apply", "-f", seed.to_str().unwrap()])
        .unwrap();

    let c = client(&tc).await;
    let router = fjord_server::router(Arc::new(fjord_server::AppState {
        secrets: Arc::new(KubeSecrets {
            client: c.clone(),
            namespace: "argocd".into(),
        }),
        refresher: Arc::new(KubeRefresher {
            client: c.clone(),
            namespace: "argocd".into(),
        }),
        webhook_rate: Default::default(),
    }));
    let body = serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "repository": {"clone_url": "https://github.com/my-org/infra-config.git", "default_branch": "main"},
        "commits": [{"modified": ["k8s/overlays/production/kustomization.yaml"]}]
    }))
    .unwrap();
    let send = |signature: String| {
        let router = router.clone();
        let body = body.clone();
        async move {
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/api/webhook")
                .header("x-github-event", "push")
                .header("x-hub-signature-256", signature)
                .body(Body::from(body))
                .unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let code = resp.status().as_u16();
            let text = resp.into_body().collect().await.unwrap().to_bytes();
            (code, String::from_utf8_lossy(&text).into_owned())
        }
    };
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    let apps: Api<DynamicObject> = Api::namespaced_with(c, "argocd", &ar);
    let annotation = |o: &DynamicObject| {
        o.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REFRESH_ANNOTATION).cloned())
    };

    let (code, _) = send(format!("sha256={}", sign("wrong", &body))).await;
    assert_eq!(code, 401);
    assert_eq!(
        annotation(&apps.get("nordic-payment-gateway").await.unwrap()),
        None,
        "nothing happens"
    );

    let (code, text) = send(format!("sha256={}", sign("hook-secret", &body))).await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("argocd/nordic-payment-gateway"), "{text}");
    assert_eq!(
        annotation(&apps.get("nordic-payment-gateway").await.unwrap()).as_deref(),
        Some("normal")
    );
    assert_eq!(
        annotation(&apps.get("staging-gateway").await.unwrap()).as_deref(),
        Some("normal"),
        "without manifest-generate-paths a push to the branch refreshes every Application of it"
    );
    assert_eq!(
        annotation(&apps.get("staging-narrowed").await.unwrap()),
        None,
        "manifest-generate-paths: . leaves an Application whose path the push did not touch"
    );
}
