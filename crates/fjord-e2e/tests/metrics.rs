//! Issue #11, Prometheus metrics: after a sync, the controller's `/metrics` (served over HTTP
//! as `fjord controller` serves it) carries Argo CD's names and labels with the values the
//! sync produced, every series Argo CD's Grafana dashboard queries that Fjord implements is
//! there, and deleting the Application removes its `argocd_app_info` series.

mod common;

use std::time::{Duration, Instant};

use common::{RunningController, TestRepo, gitops_cluster, quick_config, wait_app};
use fjord_engine::types::{Application, HealthStatusCode, OperationPhase, SyncStatusCode};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

/// The metric names the PromQL expressions of Argo CD's published Grafana dashboard query
/// (argoproj/argo-cd `examples/dashboard.json`, commit bb517f9a320d5b9c251b485abb3ab67cd56c5e20;
/// names only, the dashboard itself is not copied), with whether Fjord's controller
/// exports them. Left out, and why:
/// - `argocd_app_k8s_request_total`: attributing each kube-rs request to the Application
///   being reconciled needs a client middleware with per-reconcile context; not cheap.
/// - `argocd_kubectl_exec_pending`: Fjord runs no kubectl; applies are server-side apply
///   requests of its own client.
/// - `argocd_redis_request_total`: Fjord has no Redis.
/// - `workqueue_depth`: kube-runtime's controller does not expose its queue.
/// - `go_memstats_heap_alloc_bytes`, `go_goroutines`, `go_gc_duration_seconds`: Go runtime.
/// - `grpc_server_handled_total`: no gRPC (the server counts `fjord_http_requests_total`).
/// - `kube_pod_info` (the namespace picker): kube-state-metrics, not Argo CD.
const DASHBOARD: &[(&str, bool)] = &[
    ("argocd_app_info", true),
    ("argocd_app_sync_total", true),
    ("argocd_app_reconcile_count", true),
    ("argocd_app_reconcile_bucket", true),
    ("argocd_app_k8s_request_total", false),
    ("argocd_kubectl_exec_pending", false),
    ("argocd_cluster_info", true),
    ("argocd_cluster_api_resource_objects", true),
    ("argocd_cluster_api_resources", true),
    ("argocd_cluster_events_total", true),
    ("argocd_git_request_total", true),
    ("argocd_git_request_duration_seconds_bucket", true),
    ("argocd_redis_request_total", false),
    ("workqueue_depth", false),
    ("process_start_time_seconds", true),
    ("process_cpu_seconds_total", true),
    ("go_memstats_heap_alloc_bytes", false),
    ("go_goroutines", false),
    ("go_gc_duration_seconds", false),
    ("grpc_server_handled_total", false),
    ("kube_pod_info", false),
];

const CONFIG_MAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: guestbook-config
data:
  colour: blue
";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: guestbook
spec:
  replicas: 1
  selector:
    matchLabels: {app: guestbook}
  template:
    metadata:
      labels: {app: guestbook}
    spec:
      containers:
      - name: web
        image: registry.example/guestbook:1
";

/// The value of the sample `series` (name and labels exactly as encoded).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// The samples of metric `name` (any labels).
fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter(move |l| {
        l.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
    })
}

async fn scrape(url: &str) -> String {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut res = ureq::get(&url).call().expect("GET /metrics");
        assert_eq!(res.status(), 200);
        let ctype = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
        res.body_mut().read_to_string().expect("a text body")
    })
    .await
    .expect("the scrape ran")
}

/// Scrapes until `check` holds (the collectors read caches that trail the API a little).
async fn scrape_until(url: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(url).await;
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Serves `GET /metrics` on a loopback port as the binary does; aborted on drop.
struct MetricsServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    async fn start(metrics: fjord_engine::metrics::Metrics) -> MetricsServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let router = fjord_server::metrics::router(metrics);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        MetricsServer { url, task }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: boots the embedded control plane"]
async fn issue_11_metrics_after_a_sync_carry_argo_cd_names_and_labels() {
    let (tc, client) = gitops_cluster().await;
    let repo = TestRepo::new(
        &tc.scratch().join("git"),
        "guestbook",
        &[
            ("deploy/config.yaml", CONFIG_MAP),
            ("deploy/deployment.yaml", DEPLOYMENT),
        ],
    );
    let config = quick_config(&tc);
    let server = MetricsServer::start(config.metrics.clone()).await;
    let mut controller = RunningController::start(&client, config);

    let apps: Api<Application> = Api::namespaced(client.clone(), "argocd");
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url(), "path": "deploy", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
    wait_app(
        &apps,
        "guestbook",
        "Synced, Healthy and a finished sync",
        |a| {
            let s = a.status.as_ref();
            s.and_then(|s| s.sync.as_ref())
                .is_some_and(|x| x.status == SyncStatusCode::Synced)
                && s.and_then(|s| s.health.as_ref())
                    .is_some_and(|h| h.status == HealthStatusCode::Healthy)
                && s.and_then(|s| s.operation_state.as_ref())
                    .is_some_and(|o| o.phase == OperationPhase::Succeeded)
        },
    )
    .await;

    // argocd_app_info: one series with every Argo CD label; the repo label is the
    // normalised URL (no `.git`), as Argo CD's NormalizeGitURL gives it.
    let repo_label = repo.url().trim_end_matches(".git").to_string();
    let info = format!(
        "argocd_app_info{{namespace=\"argocd\",name=\"guestbook\",project=\"default\",autosync_enabled=\"true\",repo=\"{repo_label}\",dest_server=\"https://kubernetes.default.svc\",dest_namespace=\"guestbook\",sync_status=\"Synced\",health_status=\"Healthy\",operation=\"\"}}"
    );
    let text = scrape_until(
        &server.url,
        "argocd_app_info Synced and Healthy, and the cluster's version",
        |t| sample(t, &info) == Some(1.0) && t.contains("k8s_version=\"v"),
    )
    .await;
    assert_eq!(samples(&text, "argocd_app_info").count(), 1, "{text}");

    // argocd_app_sync_total: the automated sync, completed.
    let synced = sample(
        &text,
        "argocd_app_sync_total{namespace=\"argocd\",name=\"guestbook\",project=\"default\",dest_server=\"https://kubernetes.default.svc\",phase=\"Succeeded\",dry_run=\"false\"}",
    );
    assert!(synced.is_some_and(|n| n >= 1.0), "{text}");

    // argocd_app_reconcile: counted, in Argo CD's buckets.
    let reconcile = "namespace=\"argocd\",dest_server=\"https://kubernetes.default.svc\"";
    let reconciles = sample(&text, &format!("argocd_app_reconcile_count{{{reconcile}}}"));
    assert!(reconciles.is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            &format!("argocd_app_reconcile_bucket{{le=\"+Inf\",{reconcile}}}")
        ),
        reconciles,
        "{text}"
    );
    assert!(
        sample(
            &text,
            &format!("argocd_app_reconcile_bucket{{le=\"16.0\",{reconcile}}}")
        )
        .is_some(),
        "{text}"
    );

    // Git: the poller's ls-remote and the first fetch, by repository and type.
    let git = |name: &str, kind: &str| {
        sample(
            &text,
            &format!("{name}{{repo=\"{}\",request_type=\"{kind}\"}}", repo.url()),
        )
    };
    assert!(
        git("argocd_git_request_total", "ls-remote").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        git("argocd_git_request_total", "fetch").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        git("argocd_git_request_duration_seconds_count", "fetch").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(samples(&text, "argocd_git_fetch_fail_total").count(), 0);

    // The destination cluster's live cache: the kinds the Application uses are watched.
    let server_label = "{server=\"https://kubernetes.default.svc\"}";
    let kinds = sample(
        &text,
        &format!("argocd_cluster_api_resources{server_label}"),
    );
    assert!(kinds.is_some_and(|n| n >= 2.0), "{text}");
    let objects = sample(
        &text,
        &format!("argocd_cluster_api_resource_objects{server_label}"),
    );
    assert!(objects.is_some_and(|n| n >= 2.0), "{text}");
    // The cluster's version, as its /version reports it.
    let version = client.apiserver_version().await.unwrap().git_version;
    assert_eq!(
        sample(
            &text,
            &format!(
                "argocd_cluster_info{{server=\"https://kubernetes.default.svc\",k8s_version=\"{version}\",name=\"in-cluster\"}}"
            )
        ),
        Some(1.0),
        "{text}"
    );
    let events = sample(
        &text,
        "argocd_cluster_events_total{server=\"https://kubernetes.default.svc\",group=\"apps\",kind=\"Deployment\"}",
    );
    assert!(events.is_some_and(|n| n >= 1.0), "{text}");
    let deployments = sample(
        &text,
        "fjord_live_cache_objects{server=\"https://kubernetes.default.svc\",group=\"apps\",version=\"v1\",kind=\"Deployment\"}",
    );
    assert!(deployments.is_some_and(|n| n >= 1.0), "{text}");

    // Fjord's own: the render, the caches.
    assert!(
        sample(
            &text,
            "fjord_render_duration_seconds_count{source_type=\"Directory\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "fjord_render_cache_entries").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "fjord_git_repositories"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "fjord_audit_write_failures_total"),
        Some(0.0),
        "{text}"
    );

    // Every dashboard series Fjord claims is there.
    let missing: Vec<&str> = DASHBOARD
        .iter()
        .filter(|(_, implemented)| *implemented)
        .map(|(name, _)| *name)
        .filter(|name| samples(&text, name).next().is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "dashboard series missing: {missing:?}\n{text}"
    );

    // Deleting the Application removes its argocd_app_info series.
    apps.delete("guestbook", &DeleteParams::default())
        .await
        .unwrap();
    let text = scrape_until(&server.url, "argocd_app_info to go", |t| {
        samples(t, "argocd_app_info").next().is_none()
    })
    .await;
    assert!(!text.contains("name=\"guestbook\",project=\"default\",autosync_enabled"));
    controller.stop().await;
}
