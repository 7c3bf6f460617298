//! Multiple sources end to end on the embedded control plane: a Helm chart from one Git
//! repository takes a value file from a second repository (`ref: values`,
//! `$values/...`), a third repository adds plain manifests; the objects of all of them are
//! synced, and the status records `revisions` and `sources` in Argo CD's shape. A push to the
//! values repository alone re-renders the chart.
//!
//! Run: `cargo test -p fjord-e2e --test multi_source -- --ignored` (needs `git`, kubectl 1.32
//! and helm from `scripts/install-test-deps`).

mod helm_support;

use helm_support::{Env, GitRepo, conditions, synced, wait_app};
use serde_json::json;

const CM: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  replicas: {{ .Values.replicas | quote }}
  region: {{ .Values.region | quote }}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs helm"]
async fn chart_with_values_from_a_ref_source_and_plain_manifests_sync() {
    let env = Env::start(|_| {}).await;
    let root = env.tc.scratch().join("git");
    let charts = GitRepo::new(
        &root,
        "charts",
        &[
            (
                "web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            ),
            (
                "web/values.yaml",
                "greeting: chart-default\nreplicas: 1\nregion: none\n",
            ),
            ("web/values-prod.yaml", "replicas: 3\n"),
            ("web/templates/cm.yaml", CM),
        ],
    );
    let values = GitRepo::new(
        &root,
        "values",
        &[(
            "env/prod/web.yaml",
            "greeting: from-values-repo\nregion: eu-north-1\n",
        )],
    );
    let extra = GitRepo::new(
        &root,
        "extra",
        &[(
            "manifests/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  from: extra\n",
        )],
    );
    let sources = json!([
        {
            "repoURL": charts.url(),
            "path": "web",
            "targetRevision": "main",
            "helm": {"valueFiles": ["values-prod.yaml", "$values/env/prod/web.yaml"]}
        },
        {"repoURL": values.url(), "targetRevision": "main", "ref": "values"},
        {"repoURL": extra.url(), "targetRevision": "main", "path": "manifests"}
    ]);
    env.create_app(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "billing", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "sources": sources,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "billing"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .await;
    let app = wait_app(&env.apps, "billing", "Synced and Healthy", synced).await;
    assert!(conditions(&app).is_empty(), "{}", conditions(&app));
    let cm = env
        .get_json(&["-n", "billing", "configmap", "billing-settings"])
        .expect("the chart's ConfigMap is applied");
    assert_eq!(
        cm["data"]["greeting"], "from-values-repo",
        "$values file from the ref source"
    );
    assert_eq!(cm["data"]["region"], "eu-north-1");
    assert_eq!(cm["data"]["replicas"], "3", "chart-relative value file");
    let plain = env
        .get_json(&["-n", "billing", "configmap", "plain"])
        .expect("the third source's manifest is applied");
    assert_eq!(plain["data"]["from"], "extra");

    let commits = |r: &GitRepo| r.head();
    let want = vec![commits(&charts), commits(&values), commits(&extra)];
    let status = app.status.as_ref().unwrap();
    let sync = status.sync.as_ref().unwrap();
    assert_eq!(
        sync.revisions, want,
        "status.sync.revisions, one per source"
    );
    assert_eq!(sync.revision, None);
    assert_eq!(status.source_types, ["Helm", "Directory", "Directory"]);
    assert_eq!(
        status.resources.len(),
        2,
        "the ref-only source renders nothing"
    );
    let op = status.operation_state.as_ref().expect("an operation ran");
    let result = op.sync_result.as_ref().unwrap();
    assert_eq!(result.revisions, want);
    assert_eq!(result.revision, "");
    assert_eq!(result.sources.len(), 3);
    assert_eq!(result.sources[1].reference.as_deref(), Some("values"));
    assert_eq!(op.operation.sync.as_ref().unwrap().revisions, want);
    let last = status.history.last().expect("a history entry");
    assert_eq!(last.revisions, want);
    assert_eq!(last.sources.len(), 3);
    assert!(last.revision.is_none() && last.source.is_none());
    // Argo CD's JSON field names.
    let raw = serde_json::to_value(status).unwrap();
    assert_eq!(raw["sync"]["revisions"][1], want[1].as_str());
    assert_eq!(raw["history"][0]["sources"][1]["ref"], "values");
    assert_eq!(raw["sourceTypes"][0], "Helm");

    // A push to the values repository alone re-renders the chart.
    values.write(&[(
        "env/prod/web.yaml",
        "greeting: updated\nregion: eu-north-1\n",
    )]);
    let new_values = values.commit("update values");
    let app = wait_app(&env.apps, "billing", "the values change synced", |a| {
        synced(a)
            && a.status
                .as_ref()
                .and_then(|s| s.sync.as_ref())
                .is_some_and(|s| s.revisions.get(1) == Some(&new_values))
    })
    .await;
    let cm = env
        .get_json(&["-n", "billing", "configmap", "billing-settings"])
        .unwrap();
    assert_eq!(cm["data"]["greeting"], "updated");
    let status = app.status.as_ref().unwrap();
    assert_eq!(status.history.len(), 2);
    assert_eq!(status.history[1].revisions[1], new_values);
    assert_eq!(
        status.history[1].revisions[0], want[0],
        "the chart's commit is unchanged"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn an_unknown_ref_is_a_condition_and_applies_nothing() {
    let env = Env::start(|_| {}).await;
    let root = env.tc.scratch().join("git");
    let charts = GitRepo::new(
        &root,
        "charts",
        &[
            (
                "web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            ),
            ("web/values.yaml", "greeting: a\nreplicas: 1\nregion: x\n"),
            ("web/templates/cm.yaml", CM),
        ],
    );
    env.create_app(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "broken", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "sources": [{
                "repoURL": charts.url(),
                "path": "web",
                "helm": {"valueFiles": ["$missing/values.yaml"]}
            }],
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "broken"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .await;
    let app = wait_app(&env.apps, "broken", "a condition", |a| {
        !conditions(a).is_empty()
    })
    .await;
    let text = conditions(&app);
    assert!(
        text.contains("ComparisonError") && text.contains("$missing"),
        "{text}"
    );
    assert!(
        env.get_json(&["namespace", "broken"]).is_none(),
        "nothing applied"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane, serves a Helm repository and runs helm"]
async fn chart_from_a_helm_repository_with_values_from_git() {
    let env = Env::start(|_| {}).await;
    let server = helm_support::serve_charts(&env.tc.scratch().join("charts"), &["2.0.0"], CM);
    let values = GitRepo::new(
        &env.tc.scratch().join("git"),
        "values",
        &[(
            "prometheus/values.yaml",
            "greeting: ours\nregion: eu-west-1\n",
        )],
    );
    env.create_app(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "metrics", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "sources": [
                {
                    "repoURL": server.url,
                    "chart": "web",
                    "targetRevision": "2.0.0",
                    "helm": {"valueFiles": ["$values/prometheus/values.yaml"]}
                },
                {"repoURL": values.url(), "targetRevision": "main", "ref": "values"}
            ],
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "metrics"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]}
        }
    }))
    .await;
    let app = wait_app(&env.apps, "metrics", "Synced and Healthy", synced).await;
    let cm = env
        .get_json(&["-n", "metrics", "configmap", "metrics-settings"])
        .expect("the repository chart's ConfigMap is applied");
    assert_eq!(
        cm["data"]["greeting"], "ours",
        "the Git value file wins over the chart's"
    );
    assert_eq!(cm["data"]["region"], "eu-west-1");
    let sync = app.status.as_ref().unwrap().sync.clone().unwrap();
    let values_commit = values.head();
    assert_eq!(sync.revisions, ["2.0.0".to_string(), values_commit]);
    env.stop().await;
}
