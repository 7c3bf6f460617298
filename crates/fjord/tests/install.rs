//! `fjord install` against the embedded control plane.

use std::process::Command;

use fjord_e2e::TestCluster;
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// `fjord install` output applies cleanly and its CRDs are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs kubectl"]
async fn fjord_install_output_applies_cleanly() {
    let tc = TestCluster::start().await.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(["install", "--namespace", "gitops", "--replicas", "2"])
        .output()
        .expect("fjord runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = tc.scratch().join("install.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    let applied = tc
        .kubectl_ok(
            "1.33",
            &["apply", "--server-side", "-f", file.to_str().unwrap()],
        )
        .unwrap();
    for want in [
        "customresourcedefinition.apiextensions.k8s.io/applications.argoproj.io serverside-applied",
        "customresourcedefinition.apiextensions.k8s.io/sealedsecrets.bitnami.com serverside-applied",
        "deployment.apps/fjord-controller serverside-applied",
        "service/sealed-secrets-controller serverside-applied",
        "service/argocd-metrics serverside-applied",
    ] {
        assert!(applied.contains(want), "{applied}");
    }
    let crds = tc.kubectl_ok("1.33", &["get", "crd"]).unwrap();
    for crd in [
        "applications.argoproj.io",
        "appprojects.argoproj.io",
        "sealedsecrets.bitnami.com",
    ] {
        assert!(crds.contains(crd), "{crds}");
    }
    // The Application kind is served (the command succeeds) and no Application exists yet.
    let apps = tc
        .kubectl_ok("1.33", &["get", "applications", "-A"])
        .expect("applications are served once the CRD is applied");
    assert!(!apps.contains("error"), "{apps}");
    assert!(apps.trim().is_empty(), "{apps}");
    let deploy = json(
        &tc.kubectl_ok(
            "1.33",
            &[
                "get",
                "deploy",
                "fjord-controller",
                "-n",
                "gitops",
                "-o",
                "json",
            ],
        )
        .unwrap(),
    );
    assert_eq!(deploy["spec"]["replicas"], 2);
    // Two replicas shard: the pod name is the replica id, and the Lease Role is bound.
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert!(
        container["args"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "--sharding")),
        "{container}"
    );
    assert_eq!(
        container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    let role = json(
        &tc.kubectl_ok(
            "1.33",
            &[
                "get",
                "role",
                "fjord-controller-leases",
                "-n",
                "gitops",
                "-o",
                "json",
            ],
        )
        .unwrap(),
    );
    assert_eq!(role["rules"][0]["resources"][0], "leases");
    assert_eq!(role["rules"][0]["apiGroups"][0], "coordination.k8s.io");
}
