use super::*;
use std::sync::Mutex as StdMutex;

/// The value of the sample whose line starts with `series` (name and labels, exactly as
/// encoded), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn app(json: serde_json::Value) -> Application {
    serde_json::from_value(json).expect("an Application")
}

fn guestbook() -> Application {
    app(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {
            "project": "team-a",
            "source": {"repoURL": "https://bob:s3cret@Git.Example.com/org/guestbook.git/", "path": "deploy"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "syncPolicy": {"automated": {"prune": true}}
        },
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}
    }))
}

#[test]
fn info_labels_follow_argo_cd() {
    let a = guestbook();
    let labels = info_labels(&a, "https://kubernetes.default.svc");
    let got: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_ref())).collect();
    assert_eq!(
        got,
        vec![
            ("namespace", "argocd"),
            ("name", "guestbook"),
            ("project", "team-a"),
            ("autosync_enabled", "true"),
            ("repo", "https://bob:***@git.example.com/org/guestbook"),
            ("dest_server", "https://kubernetes.default.svc"),
            ("dest_namespace", "web"),
            ("sync_status", "Synced"),
            ("health_status", "Healthy"),
            ("operation", ""),
        ]
    );

    let mut bare = app(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "new", "namespace": "argocd"},
        "spec": {"source": {"repoURL": "git@github.com:o/r.git"}, "destination": {"name": "edge"},
                 "syncPolicy": {"automated": {"enabled": false}}},
        "operation": {"sync": {"revision": "main"}}
    }));
    let labels = info_labels(&bare, "https://10.0.0.1:6443");
    let get = |k: &str| {
        labels
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
            .unwrap()
    };
    assert_eq!(get("project"), "default");
    assert_eq!(get("autosync_enabled"), "false", "enabled: false is off");
    assert_eq!(get("repo"), "ssh://git@github.com/o/r");
    assert_eq!(get("sync_status"), "Unknown");
    assert_eq!(get("health_status"), "Unknown");
    assert_eq!(get("operation"), "sync");
    bare.metadata.deletion_timestamp =
        serde_json::from_value(serde_json::json!("2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(info_labels(&bare, "")[9].1, "delete");
}

/// A fixed set of Applications, changeable between scrapes.
struct Apps(StdMutex<Vec<Application>>);

impl ApplicationSource for Apps {
    fn for_each(&self, visit: &mut dyn FnMut(&Application, &str)) {
        for a in self.0.lock().unwrap().iter() {
            visit(a, a.spec.destination.server.as_deref().unwrap_or(""));
        }
    }
}

#[test]
fn app_info_has_one_series_per_application_and_forgets_deleted_ones() {
    let metrics = Metrics::new();
    let text = metrics.encode();
    assert!(text.contains("# TYPE argocd_app_info gauge"), "{text}");
    assert!(!text.contains("argocd_app_info{"), "no source, no series");

    let mut other = guestbook();
    other.metadata.name = Some("other".into());
    other.status = None;
    let apps = Arc::new(Apps(StdMutex::new(vec![guestbook(), other])));
    metrics.set_application_source(apps.clone());
    let text = metrics.encode();
    let guestbook_series = "argocd_app_info{namespace=\"argocd\",name=\"guestbook\",project=\"team-a\",autosync_enabled=\"true\",repo=\"https://bob:***@git.example.com/org/guestbook\",dest_server=\"https://kubernetes.default.svc\",dest_namespace=\"web\",sync_status=\"Synced\",health_status=\"Healthy\",operation=\"\"}";
    assert_eq!(sample(&text, guestbook_series), Some(1.0), "{text}");
    assert_eq!(text.matches("argocd_app_info{").count(), 2, "{text}");
    assert!(
        text.contains("name=\"other\"") && text.contains("sync_status=\"Unknown\""),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "no credentials in labels");

    apps.0.lock().unwrap().retain(|a| a.name() != "guestbook");
    let text = metrics.encode();
    assert_eq!(text.matches("argocd_app_info{").count(), 1, "{text}");
    assert!(!text.contains("name=\"guestbook\""), "{text}");

    metrics.set_application_filter(Arc::new(|a: &Application| a.name() != "other"));
    assert_eq!(metrics.encode().matches("argocd_app_info{").count(), 0);
}

#[test]
fn reconciles_fill_argo_cd_buckets() {
    let metrics = Metrics::new();
    let server = "https://kubernetes.default.svc";
    for ms in [100, 300, 3000] {
        metrics.observe_reconcile("argocd", server, Duration::from_millis(ms));
    }
    metrics.observe_reconcile("team", server, Duration::from_secs(20));
    let text = metrics.encode();
    let labels = format!("namespace=\"argocd\",dest_server=\"{server}\"");
    let total = |suffix: &str| sample(&text, &format!("argocd_app_reconcile_{suffix}{{{labels}}}"));
    let bucket = |le: &str| {
        sample(
            &text,
            &format!("argocd_app_reconcile_bucket{{le=\"{le}\",{labels}}}"),
        )
    };
    assert_eq!(total("count"), Some(3.0), "{text}");
    assert_eq!(bucket("0.25"), Some(1.0), "{text}");
    assert_eq!(bucket("0.5"), Some(2.0));
    assert_eq!(bucket("4.0"), Some(3.0));
    assert_eq!(bucket("+Inf"), Some(3.0));
    let sum = total("sum").unwrap();
    assert!((sum - 3.4).abs() < 1e-9, "{sum}");
    // Argo CD's bucket bounds, nothing else.
    let les: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("argocd_app_reconcile_bucket{") && l.contains(&labels))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        les,
        ["0.25", "0.5", "1.0", "2.0", "4.0", "8.0", "16.0", "+Inf"]
    );
    let team = format!("argocd_app_reconcile_count{{namespace=\"team\",dest_server=\"{server}\"}}");
    assert_eq!(sample(&text, &team), Some(1.0));
}

#[test]
fn only_completed_syncs_are_counted() {
    let metrics = Metrics::new();
    let a = guestbook();
    let server = "https://kubernetes.default.svc";
    metrics.count_sync(&a, server, OperationPhase::Running, false);
    metrics.count_sync(&a, server, OperationPhase::Succeeded, false);
    metrics.count_sync(&a, server, OperationPhase::Succeeded, false);
    metrics.count_sync(&a, server, OperationPhase::Failed, true);
    let text = metrics.encode();
    let series = |phase: &str, dry: &str| {
        format!(
            "argocd_app_sync_total{{namespace=\"argocd\",name=\"guestbook\",project=\"team-a\",dest_server=\"{server}\",phase=\"{phase}\",dry_run=\"{dry}\"}}"
        )
    };
    assert_eq!(
        sample(&text, &series("Succeeded", "false")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(sample(&text, &series("Failed", "true")), Some(1.0));
    assert!(!text.contains("phase=\"Running\""), "{text}");
}

#[test]
fn git_requests_are_counted_per_repository_and_type() {
    let metrics = Metrics::new();
    let repo = metrics
        .git()
        .for_repo("https://user:hunter2@git.example.com/o/r.git");
    repo.observe(GitRequestKind::LsRemote, Duration::from_millis(50), None);
    repo.observe(GitRequestKind::LsRemote, Duration::from_millis(50), None);
    repo.observe(
        GitRequestKind::Fetch,
        Duration::from_secs(3),
        Some("abc123"),
    );
    let text = metrics.encode();
    assert!(!text.contains("hunter2"), "{text}");
    let url = "https://user:***@git.example.com/o/r.git";
    let series =
        |name: &str, kind: &str| format!("{name}{{repo=\"{url}\",request_type=\"{kind}\"}}");
    assert_eq!(
        sample(&text, &series("argocd_git_request_total", "ls-remote")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &series("argocd_git_request_total", "fetch")),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &series("argocd_git_request_duration_seconds_count", "fetch")
        ),
        Some(1.0)
    );
    let fail = format!("argocd_git_fetch_fail_total{{repo=\"{url}\",revision=\"abc123\"}}");
    assert_eq!(sample(&text, &fail), Some(1.0), "{text}");
    assert!(!text.contains("argocd_git_lsremote_fail_total{"), "{text}");
}

struct FixedState(ControllerState);

impl StateSource for FixedState {
    fn state(&self) -> ControllerState {
        self.0.clone()
    }
}

#[test]
fn cluster_gauges_sum_the_live_caches() {
    let metrics = Metrics::new();
    let kind = |kind: &str, objects| KindCount {
        group: if kind == "Deployment" { "apps" } else { "" }.into(),
        version: "v1".into(),
        kind: kind.into(),
        objects,
    };
    metrics.set_state_source(Arc::new(FixedState(ControllerState {
        clusters: vec![ClusterStats {
            server: "https://kubernetes.default.svc".into(),
            name: "in-cluster".into(),
            k8s_version: String::new(),
            kinds: vec![kind("ConfigMap", 7), kind("Deployment", 3)],
        }],
        render_cache_entries: 4,
        repositories: 2,
    })));
    let text = metrics.encode();
    let server = "{server=\"https://kubernetes.default.svc\"}";
    assert_eq!(
        sample(
            &text,
            &format!("argocd_cluster_api_resource_objects{server}")
        ),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("argocd_cluster_api_resources{server}")),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "argocd_cluster_info{server=\"https://kubernetes.default.svc\",k8s_version=\"\",name=\"in-cluster\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "fjord_live_cache_objects{server=\"https://kubernetes.default.svc\",group=\"apps\",version=\"v1\",kind=\"Deployment\"}"
        ),
        Some(3.0)
    );
    assert_eq!(sample(&text, "fjord_render_cache_entries"), Some(4.0));
    assert_eq!(sample(&text, "fjord_git_repositories"), Some(2.0));
}

#[test]
fn renders_and_registered_metrics_appear() {
    let metrics = Metrics::new();
    metrics.observe_render("Kustomize", Duration::from_millis(20));
    let extra = prometheus_client::metrics::counter::Counter::<u64>::default();
    metrics.register("fjord_test_events", "Test events.", extra.clone());
    extra.inc();
    let text = metrics.encode();
    assert_eq!(
        sample(
            &text,
            "fjord_render_duration_seconds_count{source_type=\"Kustomize\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "fjord_test_events_total"), Some(1.0));
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with EOF");
}

#[test]
fn process_stats_parse_proc_files() {
    let stat = "4242 (fjord (ctl)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12345 1000000 2000 18446744073709551615";
    let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
    let status = "Name:\tfjord\nVmSize:\t  204800 kB\nVmRSS:\t   10240 kB\n";
    let s = process::parse(stat, boot, status).expect("parses");
    assert!((s.cpu_seconds - 3.0).abs() < 1e-9, "{s:?}");
    assert!(
        (s.start_time_seconds - 1_700_000_123.45).abs() < 1e-6,
        "{s:?}"
    );
    assert_eq!(s.resident_bytes, 10240.0 * 1024.0);
    assert_eq!(s.virtual_bytes, 204800.0 * 1024.0);
    assert!(process::parse("garbage", boot, status).is_none());
    // On Linux the real process is reported.
    if cfg!(target_os = "linux") {
        let text = Metrics::process_only().encode();
        assert!(
            sample(&text, "process_start_time_seconds").is_some_and(|t| t > 1.6e9),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(
            !text.contains("argocd_app_info"),
            "process_only has no controller metrics"
        );
    }
}

#[test]
fn cluster_events_are_counted_per_server_and_kind() {
    let metrics = Metrics::new();
    let edge = metrics.cluster_events("https://10.0.0.9:6443");
    let deployments = edge.for_kind("apps", "Deployment");
    deployments.inc();
    deployments.inc();
    edge.for_kind("", "ConfigMap").inc();
    let text = metrics.encode();
    assert_eq!(
        sample(
            &text,
            "argocd_cluster_events_total{server=\"https://10.0.0.9:6443\",group=\"apps\",kind=\"Deployment\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "argocd_cluster_events_total{server=\"https://10.0.0.9:6443\",group=\"\",kind=\"ConfigMap\"}"
        ),
        Some(1.0)
    );
}
