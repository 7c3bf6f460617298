//! Server-side apply through real clients: kubectl's conflict message and `--force-conflicts`,
//! `kubectl diff --server-side`, kube-rs `Patch::Apply` with force and dry-run, no-op applies, and
//! who owns the defaults.

use fjord_e2e::TestCluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Config};
use serde_json::{Value, json};

const KUBECTL: &str = "1.31";

fn k(tc: &TestCluster, args: &[&str]) -> String {
    tc.kubectl_ok(KUBECTL, args)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn get(tc: &TestCluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
    serde_json::from_str(&k(tc, &all)).unwrap()
}

fn write(tc: &TestCluster, name: &str, text: &str) -> String {
    let path = tc.scratch().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

async fn client(tc: &TestCluster) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(&tc.server().kubeconfig).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ssa
  labels: {{app: web}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
        ports:
        - containerPort: 80
        resources:
          requests: {{cpu: 0.25, memory: 128Mi}}
"#
    )
}

fn manager_fields(obj: &Value, manager: &str) -> Option<Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|m| m["manager"] == manager)
        .map(|m| m["fieldsV1"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn kubectl_conflicts_between_managers_and_force_conflicts() {
    let tc = TestCluster::start().await.unwrap();
    k(&tc, &["create", "namespace", "ssa"]);
    // Canonical quantities: a `0.25` applied over the stored `250m` would be a second conflict,
    // as on a real server (the apply is compared before defaulting).
    let canonical = |m: String| m.replace("cpu: 0.25", "cpu: 250m");
    let v1 = write(&tc, "v1.yaml", &canonical(deployment(2, "nginx:1.25")));
    let out = k(
        &tc,
        &["apply", "--server-side", "--field-manager=alice", "-f", &v1],
    );
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );

    let v2 = write(&tc, "v2.yaml", &canonical(deployment(3, "nginx:1.25")));
    let out = tc
        .kubectl(
            KUBECTL,
            &["apply", "--server-side", "--field-manager=bob", "-f", &v2],
        )
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--force-conflicts"),
        "kubectl's advice: {stderr}"
    );
    assert_eq!(
        get(&tc, &["deployment", "web", "-n", "ssa"])["spec"]["replicas"],
        2
    );

    k(
        &tc,
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            &v2,
        ],
    );
    let live = get(&tc, &["deployment", "web", "-n", "ssa"]);
    assert_eq!(live["spec"]["replicas"], 3);
    let bob = manager_fields(&live, "bob").expect("bob manages fields");
    assert!(bob["f:spec"].get("f:replicas").is_some(), "{bob}");
    let alice = manager_fields(&live, "alice").expect("alice still manages the rest");
    assert!(alice["f:spec"].get("f:replicas").is_none(), "{alice}");
    assert!(alice["f:spec"].get("f:template").is_some(), "{alice}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn kubectl_diff_server_side_shows_exactly_the_change() {
    let tc = TestCluster::start().await.unwrap();
    k(&tc, &["create", "namespace", "ssa"]);
    let v1 = write(&tc, "v1.yaml", &deployment(2, "nginx:1.25"));
    k(&tc, &["apply", "--server-side", "-f", &v1]);
    // The controllers' status writes are done once the rollout is.
    k(
        &tc,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "ssa",
            "--timeout=30s",
        ],
    );
    // Unchanged manifest: no diff (exit 0), defaults and canonical quantities included.
    let out = tc
        .kubectl(KUBECTL, &["diff", "--server-side", "-f", &v1])
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let v2 = write(&tc, "v2.yaml", &deployment(4, "nginx:1.27"));
    let out = tc
        .kubectl(KUBECTL, &["diff", "--server-side", "-f", &v2])
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut changes: Vec<String> = stdout
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            "+ - image: nginx:1.27",
            "+ generation: 2",
            "+ replicas: 4",
            "- - image: nginx:1.25",
            "- generation: 1",
            "- replicas: 2",
        ],
        "{stdout}"
    );
    // A diff stores nothing.
    assert_eq!(
        get(&tc, &["deployment", "web", "-n", "ssa"])["spec"]["replicas"],
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn kube_rs_apply_with_force_and_dry_run() {
    let tc = TestCluster::start().await.unwrap();
    let client = client(&tc).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": v}});
    let created = cms
        .patch(
            "settings",
            &PatchParams::apply("one"),
            &Patch::Apply(cm("a")),
        )
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();

    let err = cms
        .patch(
            "settings",
            &PatchParams::apply("two"),
            &Patch::Apply(cm("b")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );

    // Dry-run: the answer shows the change, nothing is stored, the resourceVersion stays.
    let dry = cms
        .patch(
            "settings",
            &PatchParams::apply("two").force().dry_run(),
            &Patch::Apply(cm("b")),
        )
        .await
        .unwrap();
    assert_eq!(dry.data.as_ref().unwrap()["mode"], "b");
    let live = cms.get("settings").await.unwrap();
    assert_eq!(live.data.as_ref().unwrap()["mode"], "a");
    assert_eq!(live.metadata.resource_version.as_deref(), Some(rv.as_str()));
    let dry_new = cms
        .patch("brand-new", &PatchParams::apply("two").dry_run(), &Patch::Apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "brand-new"}, "data": {"x": "1"}}),
        ))
        .await
        .unwrap();
    assert_eq!(dry_new.metadata.name.as_deref(), Some("brand-new"));
    assert!(
        cms.get_opt("brand-new").await.unwrap().is_none(),
        "a dry-run create stores nothing"
    );

    let forced = cms
        .patch(
            "settings",
            &PatchParams::apply("two").force(),
            &Patch::Apply(cm("b")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["mode"], "b");
    assert_ne!(
        forced.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(
        managers,
        vec!["two".to_string()],
        "force moved the only field to `two`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn a_no_op_apply_keeps_the_resource_version() {
    let tc = TestCluster::start().await.unwrap();
    k(&tc, &["create", "namespace", "ssa"]);
    let client = client(&tc).await;
    let deployments: Api<Deployment> = Api::namespaced(client, "ssa");
    // The manifest as JSON (kubectl converts it without the server).
    let path = write(&tc, "web.yaml", &deployment(1, "nginx:1.25"));
    let manifest: Value = serde_json::from_str(&k(
        &tc,
        &["create", "--dry-run=client", "-o", "json", "-f", &path],
    ))
    .unwrap();
    assert_eq!(
        manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        0.25
    );
    let params = PatchParams::apply("fjord");
    deployments
        .patch("web", &params, &Patch::Apply(&manifest))
        .await
        .unwrap();
    k(
        &tc,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "ssa",
            "--timeout=30s",
        ],
    );
    // Wait until no controller writes any more (the resourceVersion holds for half a second).
    let mut before = deployments.get("web").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = deployments.get("web").await.unwrap();
        if now.metadata.resource_version == before.metadata.resource_version {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the Deployment never settles"
        );
        before = now;
    }
    // Controllers write status in the background; `kubectl wait` returned once they were done.
    // The same manifest again — its `cpu: 0.25` differs from the stored `250m` until defaulting.
    let again = deployments
        .patch("web", &params, &Patch::Apply(&manifest))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        before.metadata.resource_version,
        "before: {}\nafter: {}",
        serde_json::to_string(&before).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
    // kubectl's server-side apply of the same manifest by the same manager: unchanged too.
    k(
        &tc,
        &[
            "apply",
            "--server-side",
            "--field-manager=fjord",
            "-f",
            &path,
        ],
    );
    let after = deployments.get("web").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn defaults_are_owned_by_the_creating_update_manager_but_not_by_appliers() {
    let tc = TestCluster::start().await.unwrap();
    k(&tc, &["create", "namespace", "ssa"]);
    let path = write(&tc, "web.yaml", &deployment(1, "nginx:1.25"));
    k(
        &tc,
        &[
            "apply",
            "--server-side",
            "--field-manager=applier",
            "-f",
            &path,
        ],
    );
    let applied = get(&tc, &["deployment", "web", "-n", "ssa"]);
    assert_eq!(applied["spec"]["revisionHistoryLimit"], 10);
    let fields = manager_fields(&applied, "applier").unwrap();
    assert!(
        fields["f:spec"].get("f:revisionHistoryLimit").is_none(),
        "{fields}"
    );
    assert!(fields["f:spec"].get("f:replicas").is_some(), "{fields}");

    let other = deployment(1, "nginx:1.25").replace("name: web\n", "name: other\n");
    let path = write(&tc, "other.yaml", &other);
    k(&tc, &["create", "-f", &path]);
    let created = get(&tc, &["deployment", "other", "-n", "ssa"]);
    let fields = manager_fields(&created, "kubectl-create").unwrap();
    assert!(
        fields["f:spec"].get("f:revisionHistoryLimit").is_some(),
        "{fields}"
    );
}
