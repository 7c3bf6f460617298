//! The Python `kubernetes` client (installed by scripts/install-test-deps) lists and watches.

use std::process::Command;

use fjord_e2e::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane and runs the Python client"]
async fn python_client_lists_and_watches() {
    let tc = TestCluster::start().await.unwrap();
    tc.kubectl_ok("1.31", &["create", "namespace", "py"])
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/list_watch.py");
    let kubeconfig = tc.kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(&kubeconfig)
            .arg("py")
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python client failed (is `pip install kubernetes` done? scripts/install-test-deps does it)\n{stdout}\n{stderr}"
    );
    for check in ["list namespaces ok", "list configmaps ok", "watch ok"] {
        assert!(stdout.contains(check), "{stdout}");
    }
}
