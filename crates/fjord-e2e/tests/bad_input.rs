//! Bad input gets the status code and a message as clear as a real API server's, and the server
//! keeps serving.

use fjord_e2e::{TestCluster, client};
use kube::{Client, Config};
use serde_json::Value;

/// Sends a raw request; returns the status code and the body as JSON.
async fn send(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body)
        .unwrap();
    let resp = client.send(req.map(Into::into)).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn status(body: &Value) -> (&str, &str) {
    (
        body["reason"].as_str().unwrap_or(""),
        body["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn bad_input_is_refused_clearly_and_the_server_keeps_serving() {
    let tc = TestCluster::start().await.unwrap();
    let c = client(&tc).await;
    let cms = "/api/v1/namespaces/default/configmaps";

    let (code, body) = send(
        &c,
        "POST",
        cms,
        "application/json",
        b"{\"apiVersion\": \"v1\", ".to_vec(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(status(&body).1.contains("malformed"), "{body}");

    let (code, body) = send(
        &c,
        "POST",
        cms,
        "application/yaml",
        b"kind: [unclosed".to_vec(),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(status(&body).1.contains("YAML"), "{body}");

    let (code, body) = send(
        &c,
        "POST",
        "/apis/nope.example.com/v1/namespaces/default/things",
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(status(&body).0, "NotFound");

    let wrong_kind =
        br#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}"#.to_vec();
    let (code, body) = send(&c, "POST", cms, "application/json", wrong_kind).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        status(&body)
            .1
            .contains("does not match the expected API version"),
        "{body}"
    );

    let wrong_version =
        br#"{"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}"#.to_vec();
    let (code, body) = send(&c, "POST", cms, "application/json", wrong_version).await;
    assert_eq!(code, 400, "{body}");
    assert!(status(&body).1.contains("apps/v1"), "{body}");

    let bad_name =
        br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}"#.to_vec();
    let (code, body) = send(&c, "POST", cms, "application/json", bad_name).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(status(&body).0, "Invalid");
    assert!(
        status(&body)
            .1
            .contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{body}"
    );
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");

    let mut huge = br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024 + 10));
    huge.extend(br#""}}"#);
    let (code, body) = send(&c, "POST", cms, "application/json", huge).await;
    assert_eq!(code, 413, "{body}");

    let orphan =
        br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}"#.to_vec();
    let (code, body) = send(
        &c,
        "POST",
        "/api/v1/namespaces/missing/configmaps",
        "application/json",
        orphan,
    )
    .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(status(&body).1, "namespaces \"missing\" not found");

    let ok = br#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fine"}}"#.to_vec();
    let (code, body) = send(&c, "POST", cms, "application/json", ok).await;
    assert_eq!(code, 201, "the server still serves: {body}");
    let (code, body) = send(&c, "GET", cms, "application/json", Vec::new()).await;
    assert_eq!(code, 200);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn requests_without_the_token_get_401_but_health_answers() {
    let tc = TestCluster::start().await.unwrap();
    let out = tc.kubectl("1.31", &["get", "--raw", "/readyz"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
    let mut kc = kube::config::Kubeconfig::from_yaml(&tc.server().kubeconfig).unwrap();
    for auth in &mut kc.auth_infos {
        if let Some(info) = auth.auth_info.as_mut() {
            info.token = None;
        }
    }
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let anonymous = Client::try_from(config).unwrap();
    let (code, body) = send(
        &anonymous,
        "GET",
        "/api/v1/namespaces",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 401, "{body}");
    assert_eq!(status(&body).0, "Unauthorized");
    let (code, body) = send(
        &anonymous,
        "GET",
        "/version",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["major"], "1");
    for path in ["/healthz", "/livez"] {
        let req = http::Request::builder()
            .uri(path)
            .body(Vec::<u8>::new())
            .unwrap();
        let resp = anonymous.send(req.map(Into::into)).await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
}
