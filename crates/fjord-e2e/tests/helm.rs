//! Helm sources end to end on the embedded control plane: a chart in the Git repository
//! rendered with the cluster's `.Capabilities` (a CRD the control plane serves) and synced;
//! helm going missing is a condition that applies and prunes nothing; a chart from a local
//! HTTP Helm repository syncs and follows `targetRevision`; helm runs once per commit, not
//! per reconcile.
//!
//! Run: `cargo test -p fjord-e2e --test helm -- --ignored` (needs `git`, `python3`, kubectl 1.32
//! and helm from `scripts/install-test-deps`).

mod helm_support;

use helm_support::{Env, GitRepo, conditions, run_helm, serve_charts, synced, wait_app};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CM: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  replicas: {{ .Values.replicas | quote }}
  release: {{ .Release.Namespace | quote }}
  chartVersion: {{ .Chart.Version | quote }}
"#;

const WIDGET: &str = r#"{{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-widget
spec:
  size: {{ .Values.replicas }}
{{- end }}
"#;

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

fn chart_files(greeting: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.3.0\n".to_string(),
        ),
        (
            "charts/web/values.yaml",
            format!("greeting: {greeting}\nreplicas: 1\n"),
        ),
        ("charts/web/templates/cm.yaml", CM.to_string()),
        ("charts/web/templates/widget.yaml", WIDGET.to_string()),
    ]
}

fn as_refs<'a>(files: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    files.iter().map(|(p, t)| (*p, t.as_str())).collect()
}

fn app(name: &str, source: Value, ns: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]}
        }
    })
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs helm"]
async fn git_chart_sees_the_cluster_capabilities_and_syncs() {
    let env = Env::start(|_| {}).await;
    // A CRD the embedded control plane serves: .Capabilities.APIVersions.Has must see it.
    let crd = env.tc.scratch().join("crd.yaml");
    std::fs::write(&crd, WIDGET_CRD).unwrap();
    env.tc
        .kubectl_ok("1.32", &["apply", "-f", crd.to_str().unwrap()])
        .unwrap();
    wait_for("the Widget kind to be served", || {
        let out = env.tc.kubectl("1.32", &["get", "widgets", "-A"]).ok()?;
        out.status.success().then_some(())
    })
    .await;
    let files = chart_files("hello");
    let repo = GitRepo::new(&env.tc.scratch().join("git"), "charts", &as_refs(&files));
    let source = json!({
        "repoURL": repo.url(),
        "path": "charts/web",
        "targetRevision": "main",
        "helm": {"parameters": [{"name": "replicas", "value": "2"}]}
    });
    env.create_app(app("shop", source, "web-prod")).await;
    let synced_app = wait_app(&env.apps, "shop", "Synced and Healthy", synced).await;
    let status = synced_app.status.as_ref().unwrap();
    assert_eq!(
        status.source_type.as_deref(),
        Some("Helm"),
        "Chart.yaml makes it Helm"
    );
    let cm = env
        .get_json(&["-n", "web-prod", "configmap", "shop-settings"])
        .expect("the ConfigMap named after the release (= the Application) is applied");
    assert_eq!(cm["data"]["greeting"], "hello");
    assert_eq!(cm["data"]["replicas"], "2", "parameters reach --set");
    assert_eq!(
        cm["data"]["release"], "web-prod",
        "release namespace = destination"
    );
    let widget = env
        .get_json(&["-n", "web-prod", "widget", "shop-widget"])
        .expect("the Widget rendered because the cluster serves example.com/v1/Widget");
    assert_eq!(widget["spec"]["size"], 2);

    // The same chart through `helm template` by hand, with the same inputs.
    let by_hand = run_helm(
        &[
            "template",
            "shop",
            "charts/web",
            "--namespace",
            "web-prod",
            "--set",
            "replicas=2",
            "--api-versions",
            "example.com/v1/Widget",
            "--include-crds",
        ],
        &repo.work,
        &env.tc.scratch().join("hand"),
    );
    assert!(by_hand.contains("kind: Widget"), "{by_hand}");
    let hand_cm: Vec<Value> = by_hand
        .split("\n---")
        .filter(|d| d.contains("kind: ConfigMap"))
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect();
    assert_eq!(hand_cm.len(), 1);
    assert_eq!(
        hand_cm[0]["data"], cm["data"],
        "live data equals helm template's"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs helm"]
async fn missing_helm_is_a_condition_and_touches_nothing() {
    let bin = tempfile::tempdir().unwrap();
    let helm = bin.path().join("helm");
    std::fs::copy(helm_support::helm_binary(), &helm).unwrap();
    let helm2 = helm.clone();
    let env = Env::start(move |c| c.helm_binary = Some(helm2)).await;
    let files = chart_files("v1");
    let repo = GitRepo::new(&env.tc.scratch().join("git"), "charts", &as_refs(&files));
    let source = json!({"repoURL": repo.url(), "path": "charts/web", "targetRevision": "main"});
    env.create_app(app("site", source.clone(), "site")).await;
    wait_app(&env.apps, "site", "the first sync", synced).await;
    assert_eq!(
        env.get_json(&["-n", "site", "configmap", "site-settings"])
            .unwrap()["data"]["greeting"],
        "v1"
    );

    // helm disappears and a new commit must be rendered: a condition, nothing changed,
    // nothing pruned (automated prune is on).
    std::fs::remove_file(&helm).unwrap();
    repo.write(&[("charts/web/values.yaml", "greeting: v2\nreplicas: 1\n")]);
    let commit = repo.commit("v2");
    let failed = wait_app(&env.apps, "site", "a ComparisonError about helm", |a| {
        conditions(a).contains("helm")
    })
    .await;
    let text = conditions(&failed);
    assert!(text.starts_with("ComparisonError: "), "{text}");
    assert!(
        text.contains("is not installed") || text.contains("does not exist"),
        "{text}"
    );
    assert!(
        text.contains("argocd/site"),
        "names the Application: {text}"
    );
    assert!(
        text.contains("source 1 of 1") && text.contains("charts/web"),
        "names the source: {text}"
    );
    assert_eq!(
        failed
            .status
            .as_ref()
            .unwrap()
            .sync
            .as_ref()
            .unwrap()
            .revision
            .as_deref(),
        Some(commit.as_str())
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cm = env
        .get_json(&["-n", "site", "configmap", "site-settings"])
        .expect("not pruned while helm is missing");
    assert_eq!(
        cm["data"]["greeting"], "v1",
        "not changed while helm is missing"
    );

    // helm is back: the new commit syncs and the condition clears.
    std::fs::copy(helm_support::helm_binary(), &helm).unwrap();
    let back = wait_app(&env.apps, "site", "the v2 sync", |a| {
        synced(a)
            && a.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .and_then(|s| s.revision.as_deref())
                == Some(commit.as_str())
    })
    .await;
    assert!(conditions(&back).is_empty(), "{}", conditions(&back));
    assert_eq!(
        env.get_json(&["-n", "site", "configmap", "site-settings"])
            .unwrap()["data"]["greeting"],
        "v2"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane, serves a Helm repository and runs helm"]
async fn chart_from_an_http_helm_repository_syncs() {
    let env = Env::start(|_| {}).await;
    let server = serve_charts(&env.tc.scratch().join("charts"), &["1.0.0", "1.1.0"], CM);
    let source = json!({
        "repoURL": server.url,
        "chart": "web",
        "targetRevision": "1.0.0",
        "helm": {"releaseName": "store", "valuesObject": {"replicas": 4}}
    });
    env.create_app(app("repo-app", source, "store")).await;
    let first = wait_app(&env.apps, "repo-app", "Synced and Healthy", synced).await;
    let status = first.status.as_ref().unwrap();
    assert_eq!(
        status.sync.as_ref().unwrap().revision.as_deref(),
        Some("1.0.0")
    );
    assert_eq!(status.source_type.as_deref(), Some("Helm"));
    let cm = env
        .get_json(&["-n", "store", "configmap", "store-settings"])
        .unwrap();
    assert_eq!(cm["data"]["greeting"], "from-1.0.0");
    assert_eq!(cm["data"]["replicas"], "4", "valuesObject");
    assert_eq!(cm["data"]["chartVersion"], "1.0.0");

    // A constraint follows the repository's newest matching version.
    let patch = json!({"spec": {"source": {"targetRevision": "1.*"}}});
    env.apps
        .patch(
            "repo-app",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    wait_app(&env.apps, "repo-app", "the 1.1.0 sync", |a| {
        synced(a)
            && a.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .and_then(|s| s.revision.as_deref())
                == Some("1.1.0")
    })
    .await;
    let cm = env
        .get_json(&["-n", "store", "configmap", "store-settings"])
        .unwrap();
    assert_eq!(cm["data"]["chartVersion"], "1.1.0");
    assert_eq!(cm["data"]["greeting"], "from-1.1.0");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs helm"]
async fn helm_runs_once_per_commit_not_per_reconcile() {
    // A wrapper that counts `helm template` runs, then hands over to the real helm.
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("runs.log");
    let wrapper = bin.path().join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = template ] && echo run >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            helm_support::helm_binary().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runs = || {
        std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let w = wrapper.clone();
    let env = Env::start(move |c| c.helm_binary = Some(w)).await;
    let files = chart_files("cached");
    let repo = GitRepo::new(&env.tc.scratch().join("git"), "charts", &as_refs(&files));
    let source =
        json!({"repoURL": repo.url(), "path": "charts/web", "helm": {"values": "replicas: 2\n"}});
    env.create_app(app("cached", source, "cached")).await;
    wait_app(&env.apps, "cached", "Synced and Healthy", synced).await;
    let after_sync = runs();
    assert!(after_sync >= 1, "helm template ran");
    // Polls every 500 ms and resyncs every 5 s: many reconciles, no new render.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(runs(), after_sync, "no helm run without a new commit");
    repo.write(&[("charts/web/values.yaml", "greeting: new\nreplicas: 1\n")]);
    repo.commit("new values");
    wait_for("the new commit rendered", || {
        (runs() > after_sync).then_some(())
    })
    .await;
    wait_app(&env.apps, "cached", "the new commit synced", |a| {
        synced(a) && second_sync_recorded(a).is_some()
    })
    .await;
    let cm = env
        .get_json(&["-n", "cached", "configmap", "cached-settings"])
        .unwrap();
    assert_eq!(cm["data"]["greeting"], "new");
    env.stop().await;
}

/// `Some` once a second history entry (id 1) exists.
fn second_sync_recorded(app: &fjord_engine::types::Application) -> Option<()> {
    let s = app.status.as_ref()?;
    s.history.iter().find(|h| h.id == 1).map(|_| ())
}
