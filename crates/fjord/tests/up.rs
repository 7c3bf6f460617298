//! `fjord up` as a new user runs it: from an empty directory, the bundled example reaches Synced
//! and Healthy on the embedded control plane, and kubectl can see it with the printed kubeconfig.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
#[ignore = "e2e: runs fjord up"]
fn fjord_up_reaches_synced_and_healthy_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(["up", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // fjord up reports on both streams (progress on stderr, the result on stdout).
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    let done = |seen: &[String]| {
        seen.iter().any(|l| l.contains("is Synced and Healthy"))
            && seen.iter().any(|l| l.contains("export KUBECONFIG="))
    };
    while !done(&seen) {
        assert!(
            Instant::now() < deadline,
            "fjord up did not report Synced and Healthy:\n{}",
            seen.join("\n")
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    let kubeconfig = dir.path().join(".fjord/kubeconfig");
    assert!(
        seen.iter()
            .any(|l| l.contains(&kubeconfig.display().to_string())),
        "the kubeconfig path is printed: {seen:#?}"
    );
    let out = Command::new("/usr/lib/google-cloud-sdk/bin/kubectl.1.33")
        .args(["get", "applications", "-n", "argocd", "--no-headers"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let cols: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        cols,
        vec!["nordic-payment-gateway", "Synced", "Healthy"],
        "{text}"
    );
    // `fjord seal` reaches the bundled Sealed Secrets controller as kubeseal would, through the
    // API server's service proxy, with nothing but the kubeconfig. The key is generated at start,
    // so give the controller a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let pem = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_fjord"))
            .args(["seal", "--fetch-cert"])
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fjord seal --fetch-cert failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // The controller's Prometheus metrics, at the address `fjord up` printed.
    let url = seen
        .iter()
        .find_map(|l| l.split("controller metrics on ").nth(1))
        .map(|u| u.trim().to_string())
        .unwrap_or_else(|| panic!("fjord up prints where its metrics are: {seen:#?}"));
    let text = ureq::get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("argocd_app_info{")
            && l.contains("name=\"nordic-payment-gateway\"")
            && l.contains("sync_status=\"Synced\"")
            && l.contains("health_status=\"Healthy\"")),
        "{text}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
