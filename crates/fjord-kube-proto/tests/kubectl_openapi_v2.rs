//! kubectl 1.27 and 1.28 fetch `/openapi/v2` only as gnostic protobuf and refuse to `apply` without
//! it. These tests serve `encode_openapi_v2` output from a throwaway HTTP stub and run the real
//! binaries (`/usr/lib/google-cloud-sdk/bin/kubectl.1.27`, `.1.28`) against it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

use fjord_kube_proto::{
    OPENAPI_V2_PROTOBUF_ACCEPT, OPENAPI_V2_PROTOBUF_CONTENT_TYPE, ServedKind, encode_openapi_v2,
    field_validation_swagger,
};
use serde_json::{Value, json};

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
const CM_PATH: &str = "/api/v1/namespaces/default/configmaps/demo";

#[derive(Debug, Clone)]
struct Logged {
    method: String,
    target: String,
    accept: String,
    content_type: String,
}

struct Stub {
    url: String,
    log: Arc<Mutex<Vec<Logged>>>,
}

/// GET responses by path: (Content-Type, body).
type Routes = HashMap<String, (String, Vec<u8>)>;

fn json_route(routes: &mut Routes, path: &str, body: Value) {
    routes.insert(
        path.to_string(),
        (
            "application/json".to_string(),
            body.to_string().into_bytes(),
        ),
    );
}

impl Stub {
    /// Serves legacy discovery for the core group, one ConfigMap, `/openapi/v2` (404 when `openapi`
    /// is `None`) and `extra` GET routes; PATCH and POST are echoed back.
    fn start(openapi: Option<Vec<u8>>, extra: Routes) -> Stub {
        let mut routes = Routes::new();
        json_route(
            &mut routes,
            "/api",
            json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        );
        json_route(
            &mut routes,
            "/apis",
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        );
        json_route(
            &mut routes,
            "/api/v1",
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
            "resources": [
                {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap",
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["cm"]},
                {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"]}]}),
        );
        json_route(&mut routes, CM_PATH, configmap("old"));
        if let Some(doc) = openapi {
            routes.insert(
                "/openapi/v2".to_string(),
                (OPENAPI_V2_PROTOBUF_CONTENT_TYPE.to_string(), doc),
            );
        }
        routes.extend(extra);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = (Arc::new(routes), Arc::clone(&log));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, log) = (Arc::clone(&shared.0), Arc::clone(&shared.1));
                thread::spawn(move || serve(stream, &routes, &log));
            }
        });
        Stub { url, log }
    }

    fn requests(&self) -> Vec<Logged> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn configmap(value: &str) -> Value {
    json!({"kind": "ConfigMap", "apiVersion": "v1",
           "metadata": {"name": "demo", "namespace": "default", "resourceVersion": "1",
                        "uid": "6d1c0d4e-0000-4000-8000-000000000001",
                        "creationTimestamp": "2026-01-01T00:00:00Z"},
           "data": {"a": value}})
}

fn serve(stream: TcpStream, routes: &Routes, log: &Mutex<Vec<Logged>>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (mut accept, mut content_type, mut length) = (String::new(), String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim().to_string();
            match name.to_ascii_lowercase().as_str() {
                "accept" => accept = value,
                "content-type" => content_type = value,
                "content-length" => length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if let Ok(mut log) = log.lock() {
        log.push(Logged {
            method: method.clone(),
            target: target.clone(),
            accept,
            content_type,
        });
    }
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, payload) = match (method.as_str(), routes.get(path)) {
        // A PATCH answers with the stored object, a POST (create) with the object it sent.
        ("GET" | "PATCH", Some((ctype, payload))) => (200, ctype.clone(), payload.clone()),
        ("POST", _) => (201, "application/json".to_string(), body),
        _ => (
            404,
            "application/json".to_string(),
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": format!("{path} not found")})
            .to_string()
            .into_bytes(),
        ),
    };
    let reason = match status {
        200 => "OK",
        201 => "Created",
        _ => "Not Found",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&payload);
}

/// The smallest document that satisfies kubectl's field-validation check: a PATCH operation tagged
/// with the ConfigMap GVK that lists the `fieldValidation` query parameter.
fn minimal_swagger() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.27.0"},
        "paths": {
            "/api/v1/namespaces/{namespace}/configmaps/{name}": {
                "patch": {
                    "parameters": [{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}],
                    "responses": {"200": {"description": "OK"}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": "", "kind": "ConfigMap", "version": "v1"}
                }
            }
        }
    })
}

/// Shaped like the real apiserver's document: global parameters by `$ref`, a body parameter, a
/// response schema `$ref`, and ConfigMap/ObjectMeta definitions (which kubectl then also uses to
/// compute the strategic merge patch).
fn realistic_swagger() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.28.0"},
        "paths": {
            "/api/v1/namespaces/{namespace}/configmaps/{name}": {
                "parameters": [{"$ref": "#/parameters/namespace-vxjd"}, {"name": "name", "in": "path",
                    "required": true, "type": "string", "uniqueItems": true, "description": "name of the ConfigMap"}],
                "patch": {
                    "description": "partially update the specified ConfigMap",
                    "consumes": ["application/json-patch+json", "application/merge-patch+json",
                                 "application/strategic-merge-patch+json", "application/apply-patch+yaml"],
                    "produces": ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
                    "schemes": ["https"],
                    "tags": ["core_v1"],
                    "operationId": "patchCoreV1NamespacedConfigMap",
                    "parameters": [
                        {"$ref": "#/parameters/body-78PwaGsr"},
                        {"$ref": "#/parameters/fieldValidation-OZ5_xfhA"},
                        {"$ref": "#/parameters/force-tOGGb0Yi"}
                    ],
                    "responses": {
                        "200": {"description": "OK", "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMap"}},
                        "401": {"description": "Unauthorized"}
                    },
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": "", "kind": "ConfigMap", "version": "v1"}
                }
            }
        },
        "parameters": {
            "body-78PwaGsr": {"in": "body", "name": "body", "required": true,
                              "schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "fieldValidation-OZ5_xfhA": {"in": "query", "name": "fieldValidation", "type": "string", "uniqueItems": true,
                "description": "fieldValidation instructs the server on how to handle objects in the request"},
            "force-tOGGb0Yi": {"in": "query", "name": "force", "type": "boolean", "uniqueItems": true},
            "namespace-vxjd": {"in": "path", "name": "namespace", "required": true, "type": "string", "uniqueItems": true}
        },
        "definitions": {
            "io.k8s.api.core.v1.ConfigMap": {
                "description": "ConfigMap holds configuration data for pods to consume.",
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                    "data": {"type": "object", "additionalProperties": {"type": "string"},
                             "description": "Data contains the configuration data (served by the fjord stub)."},
                    "binaryData": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
                    "immutable": {"type": "boolean"}
                },
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]
            },
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                    "finalizers": {"type": "array", "items": {"type": "string"},
                                   "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}
                }
            }
        },
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                                 "description": "Bearer Token authentication"}},
        "security": [{"BearerToken": []}]
    })
}

fn kubectl(version: &str) -> PathBuf {
    let path = Path::new(KUBECTL_DIR).join(format!("kubectl.{version}"));
    assert!(
        path.exists(),
        "{} is missing: these tests need the installed kubectl binaries",
        path.display()
    );
    path
}

const CM_YAML: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  a: new\n";

fn apply(version: &str, stub: &Stub, extra: &[&str]) -> Output {
    apply_manifest(version, stub, CM_YAML, extra)
}

fn apply_manifest(version: &str, stub: &Stub, yaml: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("manifest.yaml");
    std::fs::write(&manifest, yaml).expect("write manifest");
    Command::new(kubectl(version))
        .arg("apply")
        .arg("-f")
        .arg(&manifest)
        .args([
            "--server",
            &stub.url,
            "--request-timeout=20s",
            "--cache-dir",
        ])
        .arg(dir.path().join("cache"))
        .args(extra)
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .env("HOME", dir.path())
        .output()
        .expect("run kubectl")
}

fn describe(output: &Output, stub: &Stub) -> String {
    let requests: Vec<String> = stub
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} (Accept: {}; Content-Type: {})",
                r.method, r.target, r.accept, r.content_type
            )
        })
        .collect();
    format!(
        "status {:?}\nstdout: {}\nstderr: {}\nrequests:\n  {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        requests.join("\n  ")
    )
}

/// `kubectl apply` with default (strict) validation succeeds, fetched `/openapi/v2` as protobuf,
/// and sent the PATCH with `fieldValidation=Strict` (the server-side validation path).
fn assert_apply_passes(version: &str, swagger: Value, extra: &[&str], patch_type: &str) {
    let stub = Stub::start(
        Some(encode_openapi_v2(&swagger).expect("encode swagger")),
        Routes::new(),
    );
    let output = apply(version, &stub, extra);
    let report = describe(&output, &stub);
    eprintln!("kubectl {version} apply {extra:?}:\n{report}");
    assert!(
        output.status.success(),
        "kubectl {version} apply failed:\n{report}"
    );
    // kubectl only warns (and falls back) when it cannot use the document; it must not complain.
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(
        !stderr.contains("openapi"),
        "kubectl {version} complained about the OpenAPI document:\n{report}"
    );
    let requests = stub.requests();
    assert!(
        requests.iter().any(|r| r.method == "GET"
            && r.target.split('?').next() == Some("/openapi/v2")
            && r.accept.contains(OPENAPI_V2_PROTOBUF_ACCEPT)),
        "no protobuf GET /openapi/v2:\n{report}"
    );
    let patch = requests
        .iter()
        .find(|r| r.method == "PATCH" && r.target.starts_with(CM_PATH))
        .unwrap_or_else(|| panic!("no PATCH of the ConfigMap:\n{report}"));
    assert!(
        patch.target.contains("fieldValidation=Strict"),
        "PATCH without fieldValidation=Strict:\n{report}"
    );
    assert_eq!(patch.content_type, patch_type, "{report}");
}

#[test]
fn kubectl_1_27_apply_passes_validation_with_minimal_openapi_v2() {
    assert_apply_passes(
        "1.27",
        minimal_swagger(),
        &[],
        "application/strategic-merge-patch+json",
    );
}

#[test]
fn kubectl_1_28_apply_passes_validation_with_minimal_openapi_v2() {
    assert_apply_passes(
        "1.28",
        minimal_swagger(),
        &[],
        "application/strategic-merge-patch+json",
    );
}

#[test]
fn kubectl_1_27_apply_passes_with_realistic_openapi_v2() {
    assert_apply_passes(
        "1.27",
        realistic_swagger(),
        &[],
        "application/strategic-merge-patch+json",
    );
}

#[test]
fn kubectl_1_28_apply_passes_with_realistic_openapi_v2() {
    assert_apply_passes(
        "1.28",
        realistic_swagger(),
        &[],
        "application/strategic-merge-patch+json",
    );
}

#[test]
fn kubectl_1_27_server_side_apply_passes_validation() {
    assert_apply_passes(
        "1.27",
        minimal_swagger(),
        &["--server-side"],
        "application/apply-patch+yaml",
    );
}

#[test]
fn kubectl_1_27_apply_fails_without_openapi_v2() {
    // The control: the same stub without /openapi/v2 makes strict-validation apply fail.
    let stub = Stub::start(None, Routes::new());
    let output = apply("1.27", &stub, &[]);
    let report = describe(&output, &stub);
    assert!(
        !output.status.success(),
        "kubectl 1.27 apply unexpectedly passed without OpenAPI:\n{report}"
    );
    assert!(
        !stub.requests().iter().any(|r| r.method == "PATCH"),
        "{report}"
    );
}

/// For a kind with no PATCH operation in the document (a custom resource), kubectl 1.27/1.28 look
/// for the Namespace PATCH operation's `fieldValidation` parameter and then list CRDs.
fn assert_custom_resource_apply_passes(version: &str) {
    // Only the Namespace operation: what `field_validation_swagger` always includes.
    let swagger = field_validation_swagger(&[]);
    let crd = json!({"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"name": "widgets.example.com", "resourceVersion": "1"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let group = |name: &str| {
        json!({"name": name, "versions": [{"groupVersion": format!("{name}/v1"), "version": "v1"}],
                                    "preferredVersion": {"groupVersion": format!("{name}/v1"), "version": "v1"}})
    };
    let mut routes = Routes::new();
    json_route(
        &mut routes,
        "/apis",
        json!({"kind": "APIGroupList", "apiVersion": "v1",
        "groups": [group("example.com"), group("apiextensions.k8s.io")]}),
    );
    json_route(
        &mut routes,
        "/apis/example.com/v1",
        json!({"kind": "APIResourceList", "groupVersion": "example.com/v1",
        "resources": [{"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget",
                       "verbs": ["create", "get", "list", "patch"]}]}),
    );
    json_route(
        &mut routes,
        "/apis/apiextensions.k8s.io/v1",
        json!({"kind": "APIResourceList",
        "groupVersion": "apiextensions.k8s.io/v1",
        "resources": [{"name": "customresourcedefinitions", "singularName": "customresourcedefinition",
                       "namespaced": false, "kind": "CustomResourceDefinition", "verbs": ["create", "get", "list", "patch"]}]}),
    );
    json_route(
        &mut routes,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        json!({
        "kind": "CustomResourceDefinitionList", "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"resourceVersion": "1"}, "items": [crd]}),
    );
    let stub = Stub::start(
        Some(encode_openapi_v2(&swagger).expect("encode swagger")),
        routes,
    );
    let output = apply_manifest(
        version,
        &stub,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n  size: 3\n",
        &[],
    );
    let report = describe(&output, &stub);
    eprintln!("kubectl {version} apply (custom resource):\n{report}");
    assert!(
        output.status.success(),
        "kubectl {version} apply of a custom resource failed:\n{report}"
    );
    let requests = stub.requests();
    assert!(
        requests.iter().any(|r| r.method == "GET"
            && r.target.split('?').next()
                == Some("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")),
        "kubectl did not list CRDs:\n{report}"
    );
    assert!(
        requests.iter().any(|r| r.method == "POST"
            && r.target
                .starts_with("/apis/example.com/v1/namespaces/default/widgets?")
            && r.target.contains("fieldValidation=Strict")),
        "no strict-validated create of the Widget:\n{report}"
    );
}

#[test]
fn kubectl_1_27_apply_of_a_custom_resource_uses_the_namespace_operation() {
    assert_custom_resource_apply_passes("1.27");
}

#[test]
fn kubectl_1_28_apply_of_a_custom_resource_uses_the_namespace_operation() {
    assert_custom_resource_apply_passes("1.28");
}

/// `kubectl explain` reads the definitions themselves: the description served in the encoded
/// document comes back on stdout.
fn assert_explain_reads_definitions(version: &str) {
    let stub = Stub::start(
        Some(encode_openapi_v2(&realistic_swagger()).expect("encode swagger")),
        Routes::new(),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(kubectl(version))
        .args([
            "explain",
            "configmap.data",
            "--server",
            &stub.url,
            "--request-timeout=20s",
            "--cache-dir",
        ])
        .arg(dir.path().join("cache"))
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .env("HOME", dir.path())
        .output()
        .expect("run kubectl");
    let report = describe(&output, &stub);
    assert!(
        output.status.success(),
        "kubectl {version} explain failed:\n{report}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("served by the fjord stub"),
        "description not shown:\n{report}"
    );
    assert!(
        stdout.contains("map[string]string"),
        "type not shown:\n{report}"
    );
}

#[test]
fn kubectl_1_27_explain_reads_encoded_definitions() {
    assert_explain_reads_definitions("1.27");
}

#[test]
fn kubectl_1_28_explain_reads_encoded_definitions() {
    assert_explain_reads_definitions("1.28");
}

/// kubectl 1.29–1.33 prefer `/openapi/v3` but fall back to the protobuf v2 document when v3 is
/// 404, so the same document serves every supported kubectl.
#[test]
fn kubectl_1_29_to_1_33_apply_falls_back_to_protobuf_openapi_v2() {
    for version in ["1.29", "1.30", "1.31", "1.32", "1.33"] {
        assert_apply_passes(
            version,
            minimal_swagger(),
            &[],
            "application/strategic-merge-patch+json",
        );
        assert_apply_passes(
            version,
            minimal_swagger(),
            &["--server-side"],
            "application/apply-patch+yaml",
        );
    }
}

#[test]
fn kubectl_1_33_apply_of_a_custom_resource_falls_back_to_openapi_v2() {
    assert_custom_resource_apply_passes("1.33");
}

/// The library's own minimal document (`field_validation_swagger`) passes on the oldest and the
/// newest supported kubectl for a built-in kind (the custom-resource tests use it too).
#[test]
fn field_validation_swagger_serves_kubectl_1_27_and_1_33() {
    let doc = field_validation_swagger(&[ServedKind {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        namespaced: true,
    }]);
    for version in ["1.27", "1.33"] {
        assert_apply_passes(
            version,
            doc.clone(),
            &[],
            "application/strategic-merge-patch+json",
        );
    }
}
