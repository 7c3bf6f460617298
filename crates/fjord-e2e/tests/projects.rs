//! AppProject enforcement end to end: a project that forbids the destination namespace (for
//! the Application, or for one object of it), a cluster-scoped kind (a rendered one, or the
//! Namespace `CreateNamespace=true` would create) or a blacklisted namespaced kind blocks the
//! sync with an `InvalidSpecError` condition naming the object
//! and the rule, and nothing is applied; changing the project re-queues its Applications;
//! a missing `default` project is created permissive.
//!
//! Run: `cargo test -p fjord-e2e --test projects -- --ignored` (needs `git` and kubectl 1.32).

mod tenancy;

use std::time::Duration;

use fjord_engine::types::{AppProject, condition_type};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use tenancy::{Env, NS, Repo, application, condition, exists};

const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n";

fn project(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

fn in_cluster(namespace: &str) -> serde_json::Value {
    json!({"server": "https://kubernetes.default.svc", "namespace": namespace})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_forbidden_destination_namespace_blocks_the_sync_until_the_project_allows_it() {
    // Long retry and resync intervals: only the project watch can re-queue quickly.
    let env = Env::start(|c| {
        c.error_retry_interval = Duration::from_secs(300);
        c.resync_interval = Duration::from_secs(300);
    })
    .await;
    let repo = Repo::new(
        &env.tc.scratch().join("git"),
        "repo",
        &[
            ("app/configmap.yaml", CONFIGMAP),
            (
                "stray/configmap.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: kube-system\ndata: {a: b}\n",
            ),
            ("stray/own.yaml", CONFIGMAP),
        ],
    );
    let team = json!({
        "sourceRepos": ["*"],
        "destinations": [{"server": "*", "namespace": "team-a"}],
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}]
    });
    env.apply(project("team", team)).await;

    // 1. The Application's destination namespace is not among the project's.
    let app = application("outside", "team", &repo.url(), "app", in_cluster("team-b"));
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let blocked = env
        .wait("outside", "an InvalidSpecError", |a| {
            condition(a, condition_type::INVALID_SPEC_ERROR).is_some()
        })
        .await;
    let message = condition(&blocked, condition_type::INVALID_SPEC_ERROR).unwrap();
    assert!(
        message.contains("do not match any of the allowed destinations in project 'team'")
            && message.contains("team-b"),
        "{message}"
    );
    assert!(
        !exists(&env.tc, &["namespace", "team-b"]),
        "nothing applied: not even the namespace"
    );

    // 2. The destination is allowed, but one object names another namespace: nothing of
    //    the Application is applied.
    let app = application("stray", "team", &repo.url(), "stray", in_cluster("team-a"));
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let blocked = env
        .wait("stray", "an InvalidSpecError", |a| {
            condition(a, condition_type::INVALID_SPEC_ERROR).is_some()
        })
        .await;
    let message = condition(&blocked, condition_type::INVALID_SPEC_ERROR).unwrap();
    assert!(
        message.contains("namespace kube-system is not permitted in project 'team'")
            && message.contains("ConfigMap \"stray\""),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!exists(
        &env.tc,
        &["configmap", "stray", "-n", "kube-system"]
    ));
    assert!(
        !exists(&env.tc, &["configmap", "settings", "-n", "team-a"]),
        "the allowed object is not applied either"
    );

    // 3. The project now allows team-b: the watch on AppProjects re-queues the Application
    //    (the retry interval is 5 min), and it syncs.
    let wider = json!({
        "sourceRepos": ["*"],
        "destinations": [{"server": "*", "namespace": "team-a"}, {"server": "*", "namespace": "team-b"}],
        "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}]
    });
    env.apply(project("team", wider)).await;
    let commit = tenancy::git(&repo.work, &["rev-parse", "HEAD"]);
    let synced = env.synced_healthy("outside", &commit).await;
    assert!(condition(&synced, condition_type::INVALID_SPEC_ERROR).is_none());
    assert!(exists(&env.tc, &["configmap", "settings", "-n", "team-b"]));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn forbidden_kinds_block_the_sync_and_apply_nothing() {
    let env = Env::start(|_| {}).await;
    let cluster_role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: team-reader\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n";
    let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: quota\nspec:\n  hard: {pods: \"10\"}\n";
    let repo = Repo::new(
        &env.tc.scratch().join("git"),
        "repo",
        &[
            ("rbac/clusterrole.yaml", cluster_role),
            ("rbac/configmap.yaml", CONFIGMAP),
            ("quota/quota.yaml", quota),
            ("quota/configmap.yaml", CONFIGMAP),
            ("plain/configmap.yaml", CONFIGMAP),
        ],
    );
    // Cluster-scoped kinds are denied unless whitelisted (only Namespace is); namespaced
    // ResourceQuotas are blacklisted.
    env.apply(project(
        "narrow",
        json!({
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}]
        }),
    ))
    .await;

    let app = application("rbac", "narrow", &repo.url(), "rbac", in_cluster("rbac-ns"));
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let blocked = env
        .wait("rbac", "an InvalidSpecError", |a| {
            condition(a, condition_type::INVALID_SPEC_ERROR).is_some()
        })
        .await;
    let message = condition(&blocked, condition_type::INVALID_SPEC_ERROR).unwrap();
    assert!(
        message
            .contains("rbac.authorization.k8s.io:ClusterRole is not permitted in project 'narrow'")
            && message.contains("team-reader")
            && message.contains("clusterResourceWhitelist"),
        "{message}"
    );

    let app = application(
        "quota",
        "narrow",
        &repo.url(),
        "quota",
        in_cluster("quota-ns"),
    );
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let blocked = env
        .wait("quota", "an InvalidSpecError", |a| {
            condition(a, condition_type::INVALID_SPEC_ERROR).is_some()
        })
        .await;
    let message = condition(&blocked, condition_type::INVALID_SPEC_ERROR).unwrap();
    assert!(
        message.contains(":ResourceQuota is not permitted")
            && message.contains("namespaceResourceBlacklist"),
        "{message}"
    );

    // CreateNamespace=true creates a cluster-scoped Namespace: refused too when the project
    // does not whitelist it (Argo CD does the same).
    env.apply(project(
        "no-namespaces",
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}),
    ))
    .await;
    let app = application(
        "plain",
        "no-namespaces",
        &repo.url(),
        "plain",
        in_cluster("plain-ns"),
    );
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let blocked = env
        .wait("plain", "an InvalidSpecError", |a| {
            condition(a, condition_type::INVALID_SPEC_ERROR).is_some()
        })
        .await;
    let message = condition(&blocked, condition_type::INVALID_SPEC_ERROR).unwrap();
    assert!(
        message.contains("resource :Namespace is not permitted in project 'no-namespaces'")
            && message.contains("\"plain-ns\""),
        "{message}"
    );

    // A few more reconciles (retry interval 0.5 s): still nothing applied anywhere.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!exists(&env.tc, &["clusterrole", "team-reader"]));
    assert!(!exists(
        &env.tc,
        &["resourcequota", "quota", "-n", "quota-ns"]
    ));
    for ns in ["rbac-ns", "quota-ns", "plain-ns"] {
        assert!(!exists(&env.tc, &["configmap", "settings", "-n", ns]));
        assert!(!exists(&env.tc, &["namespace", ns]), "{ns} not created");
    }

    // The same objects under a project that whitelists every cluster-scoped kind sync.
    let app = application(
        "rbac-ok",
        "default",
        &repo.url(),
        "rbac",
        in_cluster("rbac-ok"),
    );
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let commit = tenancy::git(&repo.work, &["rev-parse", "HEAD"]);
    env.synced_healthy("rbac-ok", &commit).await;
    assert!(exists(&env.tc, &["clusterrole", "team-reader"]));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the Application controller against the embedded control plane and a local git repository"]
async fn a_missing_default_project_is_created_permissive() {
    let (tc, client) = tenancy::cluster().await;
    let projects: Api<AppProject> = Api::namespaced(client.clone(), NS);
    projects
        .delete("default", &DeleteParams::default())
        .await
        .expect("the default project is deleted");
    assert!(projects.get_opt("default").await.unwrap().is_none());
    let env = Env::with_cluster(tc, client, |_| {});
    let repo = Repo::new(
        &env.tc.scratch().join("git"),
        "repo",
        &[("app/configmap.yaml", CONFIGMAP)],
    );
    let app = application("plain", "", &repo.url(), "app", in_cluster("plain"));
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let commit = tenancy::git(&repo.work, &["rev-parse", "HEAD"]);
    env.synced_healthy("plain", &commit).await;
    let default = projects
        .get("default")
        .await
        .expect("default project recreated");
    assert_eq!(default.spec.source_repos, vec!["*".to_string()]);
    assert_eq!(default.spec.cluster_resource_whitelist.len(), 1);
    assert_eq!(default.spec.cluster_resource_whitelist[0].kind, "*");
    env.stop().await;
}
