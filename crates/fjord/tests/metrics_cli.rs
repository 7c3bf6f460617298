//! Issue #11: `fjord controller` and `fjord server` serve Prometheus metrics on their own
//! `--metrics-listen` address, print it, and the server counts its requests by route.
//!
//! Run: `cargo test -p fjord --test metrics_cli -- --ignored`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A running `fjord` process, killed on drop, and the lines it writes to stderr.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fjord starts");
        let err = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The URL after `metrics on ` in the process's output (waits up to 60 s).
    fn metrics_url(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(url) = self.seen.iter().find_map(|l| l.split("metrics on ").nth(1)) {
                return url.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no metrics address printed:\n{}",
                self.seen.join("\n")
            );
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                self.seen.push(line);
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `fjord args` and waits (off the runtime's threads) for its metrics address.
async fn start(args: &[&str]) -> (Running, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut running = Running::spawn(&args);
        let url = running.metrics_url();
        (running, url)
    })
    .await
    .expect("the process starts")
}

fn get(url: &str) -> (u16, String) {
    let mut res = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap_or_default())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: boots the control plane and runs fjord controller and fjord server"]
async fn issue_11_controller_and_server_serve_metrics_on_their_own_port() {
    let tc = fjord_e2e::TestCluster::start()
        .await
        .expect("cluster starts");
    let client = fjord_e2e::client(&tc).await;
    fjord_engine::controller::install::install_crds(&client)
        .await
        .unwrap();
    fjord_engine::controller::install::ensure_namespace_and_default_project(&client, "argocd")
        .await
        .unwrap();
    let kubeconfig = tc.kubeconfig.display().to_string();
    let cache = tc.scratch().join("git-cache").display().to_string();

    let (controller, url) = start(&[
        "controller",
        "--kubeconfig",
        &kubeconfig,
        "--repo-cache-dir",
        &cache,
        "--no-sealed-secrets",
        "--metrics-listen",
        "127.0.0.1:0",
    ])
    .await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // The listener is up before the controller has started: scrape until its collectors
    // report the in-cluster destination.
    let text = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (status, text) = get(&url);
                assert_eq!(status, 200);
                if text.contains("argocd_cluster_info{server=\"https://kubernetes.default.svc\",k8s_version=\"v1.")
                    || Instant::now() > deadline
                {
                    return text;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    })
    .await
    .unwrap();
    // No Application yet: the collectors' series (families without series are left out).
    for line in [
        "# TYPE argocd_app_info gauge",
        "argocd_cluster_api_resources{server=\"https://kubernetes.default.svc\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("process_start_time_seconds ")),
        "{text}"
    );
    // The in-cluster destination with the version its /version reports.
    let version = client.apiserver_version().await.unwrap().git_version;
    let info = format!(
        "argocd_cluster_info{{server=\"https://kubernetes.default.svc\",k8s_version=\"{version}\",name=\"in-cluster\"}} 1"
    );
    assert!(text.lines().any(|l| l == info), "{info} missing:\n{text}");

    let api = format!("127.0.0.1:{}", free_port());
    let server_cache = tc.scratch().join("server-cache").display().to_string();
    let (server, metrics_url) = start(&[
        "server",
        "--kubeconfig",
        &kubeconfig,
        "--listen",
        &api,
        "--git-cache",
        &server_cache,
        "--metrics-listen",
        "127.0.0.1:0",
    ])
    .await;
    let text = tokio::task::spawn_blocking(move || {
        // The API listener is up once /healthz answers; the request is counted.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut res) = ureq::get(&format!("http://{api}/healthz")).call() {
                assert_eq!(res.body_mut().read_to_string().unwrap(), "ok\n");
                break;
            }
            assert!(Instant::now() < deadline, "the server never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
        let (status, _) = get(&format!("http://{api}/api/v1/applications"));
        assert_eq!(status, 401, "the API still needs a token");
        let (status, text) = get(&metrics_url);
        assert_eq!(status, 200, "metrics need no token");
        text
    })
    .await
    .unwrap();
    assert!(
        text.lines()
            .any(|l| l
                == "fjord_http_requests_total{method=\"GET\",route=\"/healthz\",code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with(
            "fjord_http_requests_total{method=\"GET\",route=\"/api/v1/applications\",code=\"401\"}"
        )),
        "{text}"
    );
    assert!(
        !text.contains("argocd_app_info"),
        "the server has no controller metrics: {text}"
    );
    drop(server);
    drop(controller);
}
