//! `fjord cluster serve` as a process: kill -9 it during a stream of writes; after a restart on
//! the same data directory every acknowledged write is there and new revisions are higher than
//! every old one.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, Config};

fn serve(data: &Path, kubeconfig: &Path, listen: &str) -> Child {
    let _ = std::fs::remove_file(kubeconfig);
    let child = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args([
            "cluster",
            "serve",
            "--listen",
            listen,
            "--compaction-interval-secs",
            "0",
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("fjord starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubeconfig.exists() {
        assert!(Instant::now() < deadline, "no kubeconfig written");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

async fn client(kubeconfig: &Path) -> Client {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn port_of(kubeconfig: &Path) -> u16 {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap();
    server.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: runs the fjord binary and kills it"]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = serve(&data, &kubeconfig, "127.0.0.1:0");
    let port = port_of(&kubeconfig);
    let api: Api<ConfigMap> = Api::namespaced(client(&kubeconfig).await, "default");

    // Writers record every write the server acknowledged, with its resourceVersion.
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let api = api.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("w{w}-{i}")}, "data": {"i": i.to_string()}
                }))
                .unwrap();
                match api.create(&PostParams::default(), &cm).await {
                    Ok(c) => {
                        let rv = c.metadata.resource_version.unwrap().parse().unwrap();
                        acked.lock().unwrap().push((c.metadata.name.unwrap(), rv));
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix.
    let _ = server.wait();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "only {} writes were acknowledged",
        acked.len()
    );

    let mut server = serve(&data, &kubeconfig, &format!("127.0.0.1:{port}"));
    let api: Api<ConfigMap> = Api::namespaced(client(&kubeconfig).await, "default");
    let live = api.list(&ListParams::default()).await.unwrap();
    let names: std::collections::HashSet<String> = live
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let missing: Vec<&String> = acked
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes were lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let max_acked = acked.iter().map(|(_, rv)| *rv).max().unwrap();
    let list_rv: u64 = live.metadata.resource_version.unwrap().parse().unwrap();
    assert!(list_rv >= max_acked);
    let after: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "after-restart"}})).unwrap();
    let created = api.create(&PostParams::default(), &after).await.unwrap();
    let rv: u64 = created.metadata.resource_version.unwrap().parse().unwrap();
    assert!(
        rv > max_acked,
        "new revision {rv} is not above the old maximum {max_acked}"
    );
    let _ = server.kill();
    let _ = server.wait();
}
