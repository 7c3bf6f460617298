//! The kubectl scenario of issue 2, run with several real kubectl versions against a freshly
//! started server. Every step checks the content it gets back, not only the exit code.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fjord_e2e::{TestCluster, kubectl_path};
use serde_json::Value;

const MANIFESTS: &[(&str, &str)] = &[
    (
        "deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: e2e
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox:1.36
"#,
    ),
    (
        "service.yaml",
        r#"apiVersion: v1
kind: Service
metadata: {name: web, namespace: e2e}
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
"#,
    ),
    (
        "configmap.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: e2e}
data: {mode: production}
"#,
    ),
    (
        "secret.yaml",
        r#"apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: e2e}
stringData: {password: hunter2}
"#,
    ),
];

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"#;

const WIDGET: &str = r#"apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: e2e}
spec: {size: 3}
"#;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

async fn scenario(version: &str) {
    let tc = TestCluster::start().await.expect("cluster starts");
    let k = |args: &[&str]| {
        tc.kubectl_ok(version, args)
            .unwrap_or_else(|e| panic!("{e:#}"))
    };

    // Namespace and ConfigMap, created imperatively (kubectl 1.32+ sends protobuf for these).
    assert!(k(&["create", "namespace", "e2e"]).contains("namespace/e2e created"));
    let ns = json(&k(&["get", "namespace", "e2e", "-o", "json"]));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "e2e"
    );
    k(&[
        "create",
        "configmap",
        "cm1",
        "-n",
        "e2e",
        "--from-literal=k=v",
    ]);
    let cm = json(&k(&["get", "configmap", "cm1", "-n", "e2e", "-o", "json"]));
    assert_eq!(cm["data"]["k"], "v");

    // apply -f of a directory.
    let dir = tc.scratch().join(format!("manifests-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in MANIFESTS {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let applied = k(&["apply", "-f", dir.to_str().unwrap()]);
    for want in [
        "deployment.apps/web created",
        "service/web created",
        "configmap/settings created",
        "secret/creds created",
    ] {
        assert!(
            applied.contains(want),
            "apply output lacks {want:?}: {applied}"
        );
    }

    // get as JSON, YAML and table.
    let deploy = json(&k(&["get", "deployment", "web", "-n", "e2e", "-o", "json"]));
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["metadata"]["generation"], 1);
    assert!(
        deploy["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    let yaml = k(&["get", "service", "web", "-n", "e2e", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: Service") && yaml.contains("port: 80"),
        "{yaml}"
    );
    let table = k(&["get", "deployments", "-n", "e2e"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("web ")), "{table}");
    let all_ns = k(&["get", "configmaps", "-A"]);
    assert!(
        all_ns.lines().next().unwrap_or("").starts_with("NAMESPACE"),
        "{all_ns}"
    );
    assert!(all_ns.contains("settings"), "{all_ns}");

    // The Secret's stringData became data and is not stored.
    let secret = json(&k(&["get", "secret", "creds", "-n", "e2e", "-o", "json"]));
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    assert!(secret.get("stringData").is_none());
    assert_eq!(secret["type"], "Opaque");

    // label and annotate.
    k(&["label", "configmap", "cm1", "-n", "e2e", "tier=backend"]);
    k(&["annotate", "configmap", "cm1", "-n", "e2e", "note=hello"]);
    let cm = json(&k(&["get", "configmap", "cm1", "-n", "e2e", "-o", "json"]));
    assert_eq!(cm["metadata"]["labels"]["tier"], "backend");
    assert_eq!(cm["metadata"]["annotations"]["note"], "hello");
    let selected = k(&[
        "get",
        "configmaps",
        "-n",
        "e2e",
        "-l",
        "tier=backend",
        "-o",
        "name",
    ]);
    assert_eq!(selected.trim(), "configmap/cm1");

    // patch: merge, json and strategic.
    k(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "e2e",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    k(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "e2e",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/patched","value":"json"}]"#,
    ]);
    k(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "e2e",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}"#,
    ]);
    let deploy = json(&k(&["get", "deployment", "web", "-n", "e2e", "-o", "json"]));
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert_eq!(deploy["metadata"]["labels"]["patched"], "json");
    let containers = deploy["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2, "strategic merge keeps the sidecar");
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(
        containers[0]["ports"][0]["containerPort"], 80,
        "strategic merge keeps unpatched fields"
    );
    assert_eq!(
        deploy["metadata"]["generation"], 3,
        "two spec changes bump generation twice"
    );

    // get -w in a second process sees the changes.
    let bin = kubectl_path(version).unwrap();
    let mut watcher = Command::new(bin)
        .arg("--kubeconfig")
        .arg(&tc.kubeconfig)
        .arg("--cache-dir")
        .arg(tc.scratch().join(format!("watch-cache-{version}")))
        .args([
            "get",
            "configmaps",
            "-n",
            "e2e",
            "-w",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        // kubectl prints each event as a JSON document (on one line in watch mode; indented
        // documents are accumulated until they parse).
        let mut doc = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            doc.push_str(&line);
            doc.push('\n');
            if serde_json::from_str::<Value>(&doc).is_ok() {
                let _ = tx.send(std::mem::take(&mut doc));
            }
        }
    });
    // Wait for the initial ADDED events before changing anything.
    let initial = collect_events(&rx, |evs| evs.iter().any(|(_, n)| n == "settings"));
    assert!(
        initial.iter().any(|(t, n)| t == "ADDED" && n == "cm1"),
        "{initial:?}"
    );
    k(&[
        "create",
        "configmap",
        "watched",
        "-n",
        "e2e",
        "--from-literal=a=1",
    ]);
    k(&["label", "configmap", "watched", "-n", "e2e", "seen=yes"]);
    k(&["delete", "configmap", "watched", "-n", "e2e"]);
    let events = collect_events(&rx, |evs| {
        evs.iter().any(|(t, n)| t == "DELETED" && n == "watched")
    });
    let _ = watcher.kill();
    let _ = watcher.wait();
    let kinds: Vec<&str> = events
        .iter()
        .filter(|(_, n)| n == "watched")
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(kinds, vec!["ADDED", "MODIFIED", "DELETED"], "{events:?}");

    // delete.
    assert!(k(&["delete", "configmap", "cm1", "-n", "e2e"]).contains("deleted"));
    let gone = tc
        .kubectl(version, &["get", "configmap", "cm1", "-n", "e2e"])
        .unwrap();
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));

    // A CRD: served at once, its objects applied, listed and shown with printer columns.
    let crd_file = tc.scratch().join(format!("crd-{version}.yaml"));
    std::fs::write(&crd_file, CRD).unwrap();
    k(&["apply", "-f", crd_file.to_str().unwrap()]);
    k(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=20s",
    ]);
    let resources = k(&["api-resources"]);
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("widgets ") && l.contains("wdg")),
        "{resources}"
    );
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("deployments ") && l.contains("deploy"))
    );
    let widget_file = tc.scratch().join(format!("widget-{version}.yaml"));
    std::fs::write(&widget_file, WIDGET).unwrap();
    assert!(
        k(&["apply", "-f", widget_file.to_str().unwrap()])
            .contains("widget.example.com/w1 created")
    );
    let widgets = k(&["get", "wdg", "-n", "e2e"]);
    let header: Vec<&str> = widgets
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, vec!["NAME", "SIZE"], "{widgets}");
    assert!(
        widgets
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["w1", "3"]),
        "{widgets}"
    );
    let list = json(&k(&["get", "widgets", "-A", "-o", "json"]));
    assert_eq!(list["items"][0]["spec"]["size"], 3);
    k(&["delete", "crd", "widgets.example.com"]);
    let after = tc
        .kubectl(version, &["get", "widgets", "-n", "e2e"])
        .unwrap();
    assert!(
        !after.status.success(),
        "widgets still served after the CRD was deleted"
    );
    let resources = k(&["api-resources"]);
    assert!(!resources.lines().any(|l| l.starts_with("widgets ")));
}

/// Reads watch events (type, object name) until `done` holds or 20 s pass.
fn collect_events(
    rx: &std::sync::mpsc::Receiver<String>,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Vec::new();
    while Instant::now() < deadline && !done(&events) {
        if let Ok(doc) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            let t = v["type"].as_str().unwrap_or("").to_string();
            let n = v["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            events.push((t, n));
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs kubectl"]
async fn kubectl_1_29_scenario() {
    scenario("1.29").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs kubectl"]
async fn kubectl_1_31_scenario() {
    scenario("1.31").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs kubectl"]
async fn kubectl_1_33_scenario() {
    scenario("1.33").await;
}

/// kubectl 1.27 and 1.28 validate through the protobuf `/openapi/v2`, and the server enforces the
/// strict validation they ask for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs kubectl"]
async fn kubectl_1_27_and_1_28_apply_with_validation() {
    let tc = TestCluster::start().await.unwrap();
    for version in ["1.27", "1.28"] {
        let ok = tc.scratch().join(format!("ok-{version}.yaml"));
        std::fs::write(&ok, format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v{}\n  namespace: default\ndata:\n  a: b\n", version.replace('.', "-"))).unwrap();
        let out = tc
            .kubectl_ok(version, &["apply", "-f", ok.to_str().unwrap()])
            .unwrap();
        assert!(out.contains("created"), "{out}");
        let typo = tc.scratch().join(format!("typo-{version}.yaml"));
        std::fs::write(&typo, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  namespace: default\ndatta:\n  a: b\n").unwrap();
        let out = tc
            .kubectl(version, &["apply", "-f", typo.to_str().unwrap()])
            .unwrap();
        assert!(
            !out.status.success(),
            "a typo must be refused under strict validation"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unknown field \"datta\""), "{stderr}");
    }
}
