//! Multi-cluster destinations end to end: two embedded control planes; the controller runs
//! against the first, and an Argo CD cluster Secret there (bearer token and CA of the
//! second) lets Applications target the second by `destination.name` or
//! `destination.server`. Objects land on the second cluster only, self-heal watches the
//! second cluster, an unknown destination is a condition, and a changed Secret rebuilds the
//! cluster's client.
//!
//! Run: `cargo test -p fjord-e2e --test multicluster -- --ignored` (needs `git` and kubectl 1.32).

mod tenancy;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use fjord_engine::types::condition_type;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use tenancy::{Env, NS, Repo, application, condition, exists};

const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: edge-settings\ndata:\n  region: north\n";

/// Registers `target` as cluster `edge` through an Argo CD cluster Secret (bearer token and
/// CA) in the controller's namespace; returns the CA.
async fn register_cluster(env: &Env, target: &fjord_e2e::TestCluster) -> String {
    let server = target.server();
    let ca_pem = server
        .ca_pem
        .clone()
        .expect("the embedded server serves TLS");
    let config = json!({
        "bearerToken": server.token,
        "tlsClientConfig": {
            "insecure": false,
            "caData": base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes()),
        }
    });
    let mut secret = Secret::default();
    secret.metadata.name = Some("edge-cluster".into());
    secret.metadata.namespace = Some(NS.into());
    secret.metadata.labels = Some(BTreeMap::from([(
        "argocd.argoproj.io/secret-type".to_string(),
        "cluster".to_string(),
    )]));
    secret.data = Some(BTreeMap::from([
        ("name".to_string(), ByteString(b"edge".to_vec())),
        (
            "server".to_string(),
            ByteString(server.url.clone().into_bytes()),
        ),
        (
            "config".to_string(),
            ByteString(config.to_string().into_bytes()),
        ),
    ]));
    Api::<Secret>::namespaced(env.client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .expect("the cluster Secret is created");
    ca_pem
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
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
";

const PROBE_TEMPLATE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: capabilities
data:
  widgets: {{ if .Capabilities.APIVersions.Has \"example.com/v1\" }}served{{ else }}absent{{ end }}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots two embedded control planes and runs the Application controller and helm"]
async fn helm_renders_with_the_destination_clusters_capabilities() {
    let env = Env::start(|c| c.helm_binary = Some(tenancy::common::helm_binary())).await;
    let target = fjord_e2e::TestCluster::start()
        .await
        .expect("second cluster starts");
    register_cluster(&env, &target).await;
    // Only the second cluster serves example.com/v1.
    let crd = target.scratch().join("widget-crd.yaml");
    std::fs::write(&crd, WIDGET_CRD).unwrap();
    target
        .kubectl_ok("1.32", &["apply", "-f", crd.to_str().unwrap()])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !target
        .kubectl("1.32", &["get", "widgets", "-A"])
        .is_ok_and(|o| o.status.success())
    {
        assert!(Instant::now() < deadline, "the Widget kind is never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let repo = Repo::new(
        &env.tc.scratch().join("git"),
        "repo",
        &[
            (
                "probe/Chart.yaml",
                "apiVersion: v2\nname: probe\nversion: 0.1.0\n",
            ),
            ("probe/templates/cm.yaml", PROBE_TEMPLATE),
        ],
    );
    let commit = repo.head();
    for (name, destination) in [
        ("probe-edge", json!({"name": "edge", "namespace": "probe"})),
        (
            "probe-local",
            json!({"server": "https://kubernetes.default.svc", "namespace": "probe"}),
        ),
    ] {
        let app = application(name, "default", &repo.url(), "probe", destination);
        env.apps.create(&PostParams::default(), &app).await.unwrap();
        env.synced_healthy(name, &commit).await;
    }
    let remote: Api<ConfigMap> = Api::namespaced(fjord_e2e::client(&target).await, "probe");
    let local: Api<ConfigMap> = Api::namespaced(env.client.clone(), "probe");
    let widgets = |cm: ConfigMap| cm.data.unwrap()["widgets"].clone();
    assert_eq!(
        widgets(remote.get("capabilities").await.unwrap()),
        "served",
        "the second cluster's discovery"
    );
    assert_eq!(
        widgets(local.get("capabilities").await.unwrap()),
        "absent",
        "the controller's own cluster's discovery"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots two embedded control planes and runs the Application controller"]
async fn an_application_syncs_to_a_second_cluster_through_a_cluster_secret() {
    let env = Env::start(|_| {}).await;
    let target = fjord_e2e::TestCluster::start()
        .await
        .expect("second cluster starts");
    let target_client = fjord_e2e::client(&target).await;
    let server = target.server();
    let ca_pem = register_cluster(&env, &target).await;
    let repo = Repo::new(
        &env.tc.scratch().join("git"),
        "repo",
        &[("edge/configmap.yaml", CONFIGMAP)],
    );
    let commit = tenancy::git(&repo.work, &["rev-parse", "HEAD"]);

    // 1. By name.
    let app = application(
        "edge",
        "default",
        &repo.url(),
        "edge",
        json!({"name": "edge", "namespace": "edge-apps"}),
    );
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    env.synced_healthy("edge", &commit).await;
    let remote: Api<ConfigMap> = Api::namespaced(target_client.clone(), "edge-apps");
    let cm = remote
        .get("edge-settings")
        .await
        .expect("the ConfigMap is on the second cluster");
    assert_eq!(cm.data.unwrap()["region"], "north");
    assert!(
        cm.metadata.annotations.unwrap()["argocd.argoproj.io/tracking-id"].starts_with("edge:"),
        "tracked by the Application"
    );
    assert!(
        !exists(&env.tc, &["namespace", "edge-apps"]),
        "nothing lands on the first cluster"
    );
    assert!(!exists(
        &env.tc,
        &["configmap", "edge-settings", "-n", "edge-apps"]
    ));

    // 2. Self-heal watches the second cluster: a deleted object comes back.
    remote
        .delete("edge-settings", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if remote.get_opt("edge-settings").await.unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deleted ConfigMap is restored on the second cluster"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 3. By server URL, into another namespace.
    let app = application(
        "edge-by-url",
        "default",
        &repo.url(),
        "edge",
        json!({"server": server.url, "namespace": "edge-url"}),
    );
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    env.synced_healthy("edge-by-url", &commit).await;
    let by_url: Api<ConfigMap> = Api::namespaced(target_client.clone(), "edge-url");
    assert!(by_url.get_opt("edge-settings").await.unwrap().is_some());
    assert!(!exists(&env.tc, &["namespace", "edge-url"]));

    // 4. A destination no Secret names is a condition.
    let app = application(
        "nowhere",
        "default",
        &repo.url(),
        "edge",
        json!({"name": "nowhere", "namespace": "x"}),
    );
    env.apps.create(&PostParams::default(), &app).await.unwrap();
    let lost = env
        .wait("nowhere", "an InvalidSpecError", |a| {
            condition(a, condition_type::INVALID_SPEC_ERROR).is_some()
        })
        .await;
    let message = condition(&lost, condition_type::INVALID_SPEC_ERROR).unwrap();
    assert!(
        message.contains("there are no clusters with this name: nowhere"),
        "{message}"
    );
    assert!(
        !message.contains(&server.token),
        "no credential in conditions"
    );

    // 5. The Secret changes (a revoked token): the cluster's client is rebuilt with it, and
    //    a new commit does not reach the second cluster; restored, it does.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), NS);
    let with_token = |token: &str| {
        let config = json!({
            "bearerToken": token,
            "tlsClientConfig": {
                "caData": base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes()),
            }
        });
        let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
        json!({"data": {"config": encoded}})
    };
    secrets
        .patch(
            "edge-cluster",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(with_token("revoked")),
        )
        .await
        .unwrap();
    repo.write(&[("edge/configmap.yaml", &CONFIGMAP.replace("north", "south"))]);
    let second = repo.commit("south");
    let refused = env
        .wait("edge", "a ComparisonError from the refused token", |a| {
            condition(a, condition_type::COMPARISON_ERROR).is_some()
        })
        .await;
    let message = condition(&refused, condition_type::COMPARISON_ERROR).unwrap();
    assert!(
        message.contains("Failed to load live state from cluster edge"),
        "{message}"
    );
    assert!(
        !message.contains("revoked"),
        "no credential in conditions: {message}"
    );
    let cm = remote.get("edge-settings").await.unwrap();
    assert_eq!(
        cm.data.unwrap()["region"],
        "north",
        "a revoked token writes nothing"
    );
    secrets
        .patch(
            "edge-cluster",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(with_token(&server.token)),
        )
        .await
        .unwrap();
    env.synced_healthy("edge", &second).await;
    let cm = remote.get("edge-settings").await.unwrap();
    assert_eq!(
        cm.data.unwrap()["region"],
        "south",
        "the restored token syncs"
    );

    env.stop().await;
    let mut target = target;
    target.stop().await;
}
