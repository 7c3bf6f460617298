//! Helm rendering with the real helm v3 binary: values from every place Argo CD takes them,
//! `.Capabilities`, CRDs, local dependencies, charts pulled from an HTTP Helm repository,
//! and a render compared with `helm template` run by hand.
//!
//! helm comes from `$FJORD_HELM`, else `$FJORD_INTEROP_DIR/helm/helm` (default
//! `<workspace>/target/interop`, installed by `scripts/install-test-deps`); the tests fail,
//! not skip, without it.

use fjord_engine::render::helm::repo::RepoAuth;
use fjord_engine::render::{
    Capabilities, HelmRenderer, LocalTree, MemoryTree, RenderContext, RenderError, Renderers,
    SourceTree, SourceType,
};
use fjord_engine::types::{ApplicationSource, HelmFileParameter, HelmParameter, HelmSource};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn helm_binary() -> PathBuf {
    let path = match std::env::var_os("FJORD_HELM") {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("FJORD_INTEROP_DIR") {
            Some(dir) => PathBuf::from(dir).join("helm/helm"),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop/helm/helm"),
        },
    };
    assert!(
        path.is_file(),
        "helm not found at {} (set FJORD_HELM or run scripts/install-test-deps)",
        path.display()
    );
    path
}

fn renderer(home: &Path) -> HelmRenderer {
    HelmRenderer {
        binary: Some(helm_binary()),
        ..HelmRenderer::new(home)
    }
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const CHART_YAML: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\n";
const VALUES: &str = "replicas: 1\ngreeting: hello\ntag: latest\nport: 80\n";
const CM: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  namespace: {{ .Release.Namespace }}
data:
  replicas: {{ .Values.replicas | quote }}
  greeting: {{ .Values.greeting | quote }}
  tag: {{ .Values.tag | quote }}
  tagType: {{ kindOf .Values.tag | quote }}
  port: {{ .Values.port | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  {{- if .Values.config }}
  config: {{ .Values.config | quote }}
  {{- end }}
  {{- if .Values.extra }}
  extra: {{ .Values.extra | quote }}
  {{- end }}
"#;
const WIDGET: &str = r#"{{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-widget
{{- end }}
"#;
const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  names: {kind: Gadget, plural: gadgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n";

/// A repository with the chart at `charts/web` and environment values at `env/`.
fn chart_repo(root: &Path) {
    write(root, "charts/web/Chart.yaml", CHART_YAML);
    write(root, "charts/web/values.yaml", VALUES);
    write(root, "charts/web/values-prod.yaml", "replicas: 3\n");
    write(root, "charts/web/templates/cm.yaml", CM);
    write(root, "charts/web/templates/widget.yaml", WIDGET);
    write(root, "charts/web/crds/gadget.yaml", CRD);
    write(root, "charts/web/files/config.txt", "a=1");
    write(root, "env/prod.yaml", "greeting: from-env\n");
}

fn source(helm: HelmSource) -> ApplicationSource {
    ApplicationSource {
        repo_url: "https://git.example.com/charts.git".into(),
        path: Some("charts/web".into()),
        helm: Some(Box::new(helm)),
        ..Default::default()
    }
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Option<&'a Value> {
    objects.iter().find(|o| o["kind"] == kind)
}

#[test]
fn values_come_from_files_refs_inline_and_parameters_in_argo_order() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    chart_repo(&repo);
    let tree = LocalTree::new(&repo);
    let values_repo = MemoryTree::new().with_file("apps/web/values.yaml", "tag: v2\nport: 8080\n");
    let refs: BTreeMap<String, &dyn SourceTree> =
        BTreeMap::from([("values".to_string(), &values_repo as &dyn SourceTree)]);
    let caps = Capabilities {
        kube_version: "v1.31.4".into(),
        api_versions: vec![
            "v1".into(),
            "example.com/v1".into(),
            "example.com/v1/Widget".into(),
        ],
    };
    let ctx = RenderContext {
        app_name: "shop",
        namespace: "prod",
        capabilities: Some(&caps),
        refs: Some(&refs),
    };
    let helm = HelmSource {
        value_files: vec![
            "values-prod.yaml".into(),
            "../../env/prod.yaml".into(),
            "$values/apps/web/values.yaml".into(),
        ],
        values: Some("extra: from-values-string\n".into()),
        parameters: vec![HelmParameter {
            name: "tag".into(),
            value: "123".into(),
            force_string: Some(true),
            ..Default::default()
        }],
        file_parameters: vec![HelmFileParameter {
            name: "config".into(),
            path: "files/config.txt".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let renderers = Renderers::with_kustomize_and_helm(renderer(&dir.path().join("home")));
    let (kind, rendered) = renderers.render_with(&tree, &source(helm), &ctx).unwrap();
    assert_eq!(kind, SourceType::Helm);
    let objects: Vec<Value> = rendered.objects.iter().map(|o| o.object.clone()).collect();
    let cm = find(&objects, "ConfigMap").expect("the ConfigMap renders");
    assert_eq!(
        cm["metadata"]["name"], "shop-settings",
        "release name = app name"
    );
    assert_eq!(cm["metadata"]["namespace"], "prod");
    assert_eq!(cm["data"]["replicas"], "3", "chart-relative value file");
    assert_eq!(
        cm["data"]["greeting"], "from-env",
        "`..` value file inside the repo"
    );
    assert_eq!(cm["data"]["port"], "8080", "$values ref file");
    assert_eq!(cm["data"]["tag"], "123", "parameters win over files");
    assert_eq!(
        cm["data"]["tagType"], "string",
        "forceString gives --set-string"
    );
    assert_eq!(cm["data"]["extra"], "from-values-string");
    assert_eq!(cm["data"]["config"], "a=1", "fileParameters");
    assert_eq!(cm["data"]["kube"], "v1.31.4");
    assert!(
        find(&objects, "Widget").is_some(),
        ".Capabilities.APIVersions.Has sees the API versions passed in"
    );
    assert!(
        find(&objects, "CustomResourceDefinition").is_some(),
        "CRDs included"
    );
    let crd = rendered
        .objects
        .iter()
        .find(|o| o.key.kind == "CustomResourceDefinition")
        .unwrap();
    assert_eq!(crd.file, "web/crds/gadget.yaml");

    // valuesObject wins over values; skipCrds leaves the CRD out; without the API version the
    // Widget is not rendered; a parameter without forceString is typed.
    let helm = HelmSource {
        values: Some("extra: ignored\n".into()),
        values_object: Some(json!({"extra": "from-object"})),
        skip_crds: Some(true),
        release_name: Some("custom".into()),
        parameters: vec![HelmParameter {
            name: "tag".into(),
            value: "123".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let ctx = RenderContext {
        app_name: "shop",
        namespace: "prod",
        ..Default::default()
    };
    let (_, rendered) = renderers.render_with(&tree, &source(helm), &ctx).unwrap();
    let objects: Vec<Value> = rendered.objects.iter().map(|o| o.object.clone()).collect();
    let cm = find(&objects, "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["name"], "custom-settings");
    assert_eq!(cm["data"]["extra"], "from-object");
    assert_eq!(cm["data"]["tagType"], "int64", "--set types numbers");
    assert!(find(&objects, "CustomResourceDefinition").is_none());
    assert!(find(&objects, "Widget").is_none());
}

#[test]
fn missing_value_files_fail_unless_ignored_and_unknown_refs_fail() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    chart_repo(&repo);
    let tree = LocalTree::new(&repo);
    let renderers = Renderers::with_kustomize_and_helm(renderer(&dir.path().join("home")));
    let ctx = RenderContext::default();
    let missing = HelmSource {
        value_files: vec!["values-missing.yaml".into()],
        ..Default::default()
    };
    let err = renderers
        .render_with(&tree, &source(missing.clone()), &ctx)
        .unwrap_err();
    assert!(matches!(err, RenderError::HelmFile { .. }), "{err}");
    assert!(err.to_string().contains("values-missing.yaml"), "{err}");
    let ignored = HelmSource {
        ignore_missing_value_files: Some(true),
        ..missing
    };
    let (_, rendered) = renderers
        .render_with(&tree, &source(ignored), &ctx)
        .unwrap();
    assert!(!rendered.objects.is_empty());
    let unknown_ref = HelmSource {
        value_files: vec!["$nope/values.yaml".into()],
        ..Default::default()
    };
    let err = renderers
        .render_with(&tree, &source(unknown_ref), &ctx)
        .unwrap_err();
    assert!(
        err.to_string().contains("no source has a 'ref' field"),
        "{err}"
    );
    // A template error is helm's message, not a panic or an empty render.
    write(
        &repo,
        "charts/web/templates/bad.yaml",
        "{{ .Values.nope.deeper }}\n",
    );
    let err = renderers
        .render_with(&tree, &source(HelmSource::default()), &ctx)
        .unwrap_err();
    assert!(matches!(err, RenderError::Helm { .. }), "{err}");
    assert!(err.to_string().contains("nil pointer"), "{err}");
}

#[test]
fn a_missing_helm_binary_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    chart_repo(&dir.path().join("repo"));
    let r = HelmRenderer {
        binary: Some(dir.path().join("no-helm")),
        ..HelmRenderer::new(dir.path().join("home"))
    };
    let renderers = Renderers::with_kustomize_and_helm(r);
    let err = renderers
        .render(
            &LocalTree::new(dir.path().join("repo")),
            &source(HelmSource::default()),
        )
        .unwrap_err();
    assert!(matches!(err, RenderError::HelmNotInstalled(_)), "{err}");
}

#[test]
fn local_dependencies_are_built_when_charts_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write(
        &repo,
        "apps/site/Chart.yaml",
        "apiVersion: v2\nname: site\nversion: 1.0.0\ndependencies:\n- name: lib\n  version: 0.1.0\n  repository: file://../../shared/lib\n",
    );
    write(
        &repo,
        "apps/site/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\n",
    );
    write(
        &repo,
        "shared/lib/Chart.yaml",
        "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
    );
    write(&repo, "shared/lib/values.yaml", "who: lib\n");
    write(
        &repo,
        "shared/lib/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-{{ .Values.who }}\n",
    );
    let renderers = Renderers::with_kustomize_and_helm(renderer(&dir.path().join("home")));
    let src = ApplicationSource {
        repo_url: "https://git.example.com/r.git".into(),
        path: Some("apps/site".into()),
        ..Default::default()
    };
    let (kind, rendered) = renderers.render(&LocalTree::new(&repo), &src).unwrap();
    assert_eq!(kind, SourceType::Helm, "Chart.yaml means Helm");
    let mut names: Vec<&str> = rendered
        .objects
        .iter()
        .map(|o| o.key.name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["from-lib", "site"]);
    assert!(
        !repo.join("apps/site/charts").exists(),
        "the repository is never written to"
    );
}

#[test]
fn remote_dependencies_without_charts_say_they_need_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write(
        &repo,
        "apps/site/Chart.yaml",
        "apiVersion: v2\nname: site\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: http://127.0.0.1:9/charts\n",
    );
    write(
        &repo,
        "apps/site/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\n",
    );
    let renderers = Renderers::with_kustomize_and_helm(renderer(&dir.path().join("home")));
    let src = ApplicationSource {
        repo_url: "https://git.example.com/r.git".into(),
        path: Some("apps/site".into()),
        ..Default::default()
    };
    let err = renderers.render(&LocalTree::new(&repo), &src).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("dependency build"), "{text}");
    assert!(
        text.contains("over the network from http://127.0.0.1:9/charts"),
        "{text}"
    );
    // Helm v2 is not supported.
    let v2 = ApplicationSource {
        helm: Some(Box::new(HelmSource {
            version: Some("v2".into()),
            ..Default::default()
        })),
        ..src
    };
    let err = renderers.render(&LocalTree::new(&repo), &v2).unwrap_err();
    assert!(matches!(err, RenderError::Unsupported { .. }), "{err}");
}

fn run_helm(args: &[&str], cwd: &Path, home: &Path) -> String {
    let out = Command::new(helm_binary())
        .args(args)
        .current_dir(cwd)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn render_matches_helm_template_run_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    chart_repo(&repo);
    let home = dir.path().join("hand");
    let by_hand = run_helm(
        &[
            "template",
            "shop",
            "charts/web",
            "--namespace",
            "prod",
            "--values",
            "charts/web/values-prod.yaml",
            "--set",
            "greeting=hi",
            "--include-crds",
            "--kube-version",
            "v1.30.0",
        ],
        &repo,
        &home,
    );
    let expected: Vec<Value> = fjord_engine::render::parse::parse_yaml("hand", &by_hand)
        .unwrap()
        .into_iter()
        .map(|o| o.object)
        .collect();
    let caps = Capabilities {
        kube_version: "v1.30.0".into(),
        api_versions: Vec::new(),
    };
    let ctx = RenderContext {
        app_name: "shop",
        namespace: "prod",
        capabilities: Some(&caps),
        refs: None,
    };
    let helm = HelmSource {
        value_files: vec!["values-prod.yaml".into()],
        parameters: vec![HelmParameter {
            name: "greeting".into(),
            value: "hi".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let renderers = Renderers::with_kustomize_and_helm(renderer(&dir.path().join("home")));
    let (_, rendered) = renderers
        .render_with(&LocalTree::new(&repo), &source(helm), &ctx)
        .unwrap();
    let got: Vec<Value> = rendered.objects.iter().map(|o| o.object.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 2, "ConfigMap and CRD");
    assert_eq!(find(&got, "ConfigMap").unwrap()["data"]["greeting"], "hi");
}

/// A local HTTP Helm repository (python's http.server) serving a packaged chart.
struct HelmRepoServer {
    child: std::process::Child,
    url: String,
}

impl Drop for HelmRepoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_repo(dir: &Path) -> HelmRepoServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "http.server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    HelmRepoServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Packages `web` at `versions` into `served/` with an index.
fn packaged_repo(root: &Path, versions: &[&str]) -> PathBuf {
    let served = root.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let home = root.join("pkg-home");
    for v in versions {
        let chart = root.join(format!("src-{v}/web"));
        write(
            &chart,
            "Chart.yaml",
            &format!("apiVersion: v2\nname: web\nversion: {v}\n"),
        );
        write(
            &chart,
            "values.yaml",
            &format!("greeting: v{v}\nreplicas: 1\ntag: x\nport: 1\n"),
        );
        write(&chart, "templates/cm.yaml", CM);
        run_helm(
            &[
                "package",
                chart.to_str().unwrap(),
                "-d",
                served.to_str().unwrap(),
            ],
            root,
            &home,
        );
    }
    run_helm(&["repo", "index", served.to_str().unwrap()], root, &home);
    served
}

#[test]
fn charts_are_pulled_from_an_http_repository_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let served = packaged_repo(dir.path(), &["1.0.0", "1.1.0"]);
    let server = serve_repo(&served);
    let helm = renderer(&dir.path().join("home"));
    let auth = RepoAuth::default();
    let latest = helm.pull_chart(&server.url, "web", "1.*", &auth).unwrap();
    assert_eq!(
        latest.version, "1.1.0",
        "a constraint resolves to the newest match"
    );
    let exact = helm.pull_chart(&server.url, "web", "1.0.0", &auth).unwrap();
    assert_eq!(exact.version, "1.0.0");
    let src = ApplicationSource {
        repo_url: server.url.clone(),
        chart: Some("web".into()),
        target_revision: Some("1.0.0".into()),
        helm: Some(Box::new(HelmSource {
            values_object: Some(json!({"replicas": 5})),
            ..Default::default()
        })),
        ..Default::default()
    };
    let renderers = Renderers::with_kustomize_and_helm(helm.clone());
    let ctx = RenderContext {
        app_name: "repo-app",
        namespace: "web",
        ..Default::default()
    };
    let rendered = renderers
        .render_helm_chart(&LocalTree::new(&exact.root), &exact.chart, &src, &ctx)
        .unwrap();
    let cm = &rendered.objects[0].object;
    assert_eq!(cm["data"]["greeting"], "v1.0.0");
    assert_eq!(cm["data"]["replicas"], "5");
    // An exact version already unpacked needs no network.
    drop(server);
    let again = helm.pull_chart("http://127.0.0.1:9", "web", "1.0.0", &auth);
    assert!(
        again.is_err(),
        "another repository URL is another cache entry"
    );
    let cached = helm
        .pull_chart(&src.repo_url, "web", "1.0.0", &auth)
        .unwrap();
    assert_eq!(cached, exact);
    let err = helm
        .pull_chart(&src.repo_url, "web", "2.*", &auth)
        .unwrap_err();
    assert!(matches!(err, RenderError::HelmPull { .. }), "{err}");
}
