//! One benchmark environment: the embedded control plane, the controller and (optionally) the
//! webhook receiver as separate `fjord` processes, a kube client for the harness, and the count
//! of the harness's own API requests, so that the controller's can be told apart in the API
//! server's request counter.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};

use crate::procs::{ProcStats, Process, wait_for_file};

/// The namespace of the Applications (Argo CD's).
pub const APPS_NAMESPACE: &str = "argocd";
/// The generic webhook secret the harness signs pushes with.
const WEBHOOK_SECRET: &str = "fjord-bench";

/// How the controller runs.
#[derive(Debug, Clone, Copy)]
pub struct ControllerTiming {
    /// `--resync-seconds`.
    pub resync_seconds: u64,
    /// `--poll-seconds`.
    pub poll_seconds: u64,
    /// `--concurrent`.
    pub concurrent: u16,
}

/// The running processes and the harness's client.
pub struct Environment {
    /// Where everything lives (kept until the environment is dropped).
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// The `fjord` binary.
    pub fjord: PathBuf,
    /// `fjord cluster serve`.
    pub apiserver: Process,
    /// `fjord controller`.
    pub controller: Process,
    /// `fjord server` and where it listens.
    pub webhook: Option<(Process, SocketAddr)>,
    /// The kubeconfig of the control plane.
    pub kubeconfig: PathBuf,
    /// The harness's client.
    pub client: kube::Client,
    harness_requests: AtomicU64,
}

/// Both processes' figures at one moment, with the API server's request count.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The controller.
    pub controller: ProcStats,
    /// The API server.
    pub apiserver: ProcStats,
    /// Requests the API server has received, minus those the harness made.
    pub others_requests: u64,
    /// The store's revision: writes so far, by anyone.
    pub revision: u64,
    /// Resource requests by `verb resource` (the harness's own included).
    pub by_resource: std::collections::BTreeMap<String, u64>,
}

/// The Application resource.
pub fn applications_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Environment {
    /// Starts the control plane (durable store under the work directory), installs the CRDs,
    /// the `argocd` namespace and the `default` project, then the controller and, when asked,
    /// the webhook receiver.
    pub async fn start(
        fjord: &Path,
        keep: Option<&Path>,
        timing: ControllerTiming,
        with_webhook: bool,
    ) -> Result<Environment> {
        let (dir, temp) = match keep {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (d.to_path_buf(), None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("fjord-bench-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let kubeconfig = dir.join("kubeconfig");
        let cluster_dir = dir.join("cluster");
        let mut apiserver = Process::spawn(
            "apiserver",
            fjord,
            &[
                "cluster",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                &cluster_dir.display().to_string(),
                "--kubeconfig",
                &kubeconfig.display().to_string(),
            ],
            &dir.join("apiserver.log"),
        )?;
        wait_for_file(&kubeconfig, &mut apiserver, Duration::from_secs(60))?;
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        let client = kube::Client::try_from(config)?;
        fjord_engine::controller::install::install_crds(&client)
            .await
            .context("installing the CRDs")?;
        fjord_engine::controller::install::ensure_namespace_and_default_project(
            &client,
            APPS_NAMESPACE,
        )
        .await
        .context("creating the argocd namespace and the default project")?;
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "argocd-secret", "namespace": APPS_NAMESPACE},
            "stringData": {"webhook.generic.secret": WEBHOOK_SECRET}
        }))?;
        Api::<Secret>::namespaced(client.clone(), APPS_NAMESPACE)
            .create(&PostParams::default(), &secret)
            .await
            .context("creating argocd-secret")?;
        let kubeconfig_arg = kubeconfig.display().to_string();
        // `FJORD_BENCH_CONTROLLER_WRAPPER` runs the controller under a profiler, e.g.
        // `valgrind --tool=massif --massif-out-file=/tmp/massif.out` (its figures then measure
        // the profiler too; use it to see where memory goes, not for the tables).
        let wrapper = std::env::var("FJORD_BENCH_CONTROLLER_WRAPPER").unwrap_or_default();
        let mut wrapper = wrapper.split_whitespace();
        let fjord_arg = fjord.display().to_string();
        let (controller_program, mut controller_args) = match wrapper.next() {
            Some(program) => {
                let mut args: Vec<&str> = wrapper.collect();
                args.push(&fjord_arg);
                (PathBuf::from(program), args)
            }
            None => (fjord.to_path_buf(), Vec::new()),
        };
        let cache_arg = dir.join("git-cache").display().to_string();
        let (resync, poll, concurrent) = (
            timing.resync_seconds.to_string(),
            timing.poll_seconds.to_string(),
            timing.concurrent.to_string(),
        );
        controller_args.extend([
            "controller",
            "--kubeconfig",
            &kubeconfig_arg,
            "--repo-cache-dir",
            &cache_arg,
            "--no-sealed-secrets",
            "--resync-seconds",
            &resync,
            "--poll-seconds",
            &poll,
            "--concurrent",
            &concurrent,
            "--metrics-listen",
            "127.0.0.1:0",
        ]);
        let mut controller = Process::spawn(
            "controller",
            &controller_program,
            &controller_args,
            &dir.join("controller.log"),
        )?;
        controller.graceful_stop = controller_program != fjord;
        let webhook = if with_webhook {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let process = Process::spawn(
                "webhook",
                fjord,
                &[
                    "server",
                    "--kubeconfig",
                    &kubeconfig_arg,
                    "--listen",
                    &addr.to_string(),
                    "--metrics-listen",
                    "127.0.0.1:0",
                ],
                &dir.join("server.log"),
            )?;
            Some((process, addr))
        } else {
            None
        };
        Ok(Environment {
            dir,
            _temp: temp,
            fjord: fjord.to_path_buf(),
            apiserver,
            controller,
            webhook,
            kubeconfig,
            client,
            harness_requests: AtomicU64::new(0),
        })
    }

    /// Counts `n` API requests the harness made.
    pub fn count_requests(&self, n: u64) {
        self.harness_requests.fetch_add(n, Ordering::Relaxed);
    }

    /// The Applications API (callers count their requests with [`Self::count_requests`]).
    pub fn applications(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            APPS_NAMESPACE,
            &applications_resource(),
        )
    }

    /// The API server's request counter and store revision, read from its `/metrics` (which
    /// counts this request).
    async fn api_counters(&self) -> Result<(u64, u64, std::collections::BTreeMap<String, u64>)> {
        let request = http::Request::get("/metrics").body(Vec::new())?;
        let text = self.client.request_text(request).await?;
        self.count_requests(1);
        let counter = |name: &str| -> Result<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
                .with_context(|| format!("the API server's /metrics has no {name}"))
        };
        // fjord_apiserver_resource_requests_total{verb="patch",resource="deployments"} 12
        let by_resource = text
            .lines()
            .filter_map(|l| l.strip_prefix("fjord_apiserver_resource_requests_total{"))
            .filter_map(|l| {
                let (labels, n) = l.split_once("} ")?;
                let label = |name: &str| {
                    labels
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix("=\""))
                        .map(|v| v.trim_end_matches('"').to_string())
                };
                Some((
                    format!("{} {}", label("verb")?, label("resource")?),
                    n.trim().parse().ok()?,
                ))
            })
            .collect();
        Ok((
            counter("fjord_apiserver_requests_total")?,
            counter("fjord_apiserver_store_revision")?,
            by_resource,
        ))
    }

    /// Both processes' figures now.
    pub async fn snapshot(&mut self) -> Result<Snapshot> {
        self.controller.check_running()?;
        self.apiserver.check_running()?;
        let (total, revision, by_resource) = self.api_counters().await?;
        Ok(Snapshot {
            revision,
            by_resource,
            controller: self.controller.stats()?,
            apiserver: self.apiserver.stats()?,
            others_requests: total.saturating_sub(self.harness_requests.load(Ordering::Relaxed)),
        })
    }

    /// Sends a signed generic push notification to the webhook receiver.
    pub fn notify_push(&self, repo_url: &str, files: &[String]) -> Result<()> {
        let Some((_, addr)) = &self.webhook else {
            bail!("this environment runs no webhook receiver");
        };
        let body = serde_json::to_vec(&serde_json::json!({
            "repository": repo_url, "ref": "refs/heads/main", "defaultBranch": "main",
            "files": files,
        }))?;
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
        let signature: String = aws_lc_rs::hmac::sign(&key, &body)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let url = format!("http://{addr}/api/webhook");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answer = ureq::post(&url)
                .header("x-fjord-signature-256", &signature)
                .header("content-type", "application/json")
                .send(&body[..]);
            match answer {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => bail!("the webhook answered HTTP {}", r.status()),
                // The receiver may still be starting.
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => bail!("the webhook receiver at {url} is unreachable: {e}"),
            }
        }
    }
}
