//! Test harness: an embedded control plane per test, helpers to run real clients against it, and a
//! Git server over SSH ([`ssh::GitSshServer`]).

pub mod ssh;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, bail};

/// Where the installed kubectl versions live (Debian/Google Cloud SDK package `kubectl`).
const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

/// The environment variable that points the end-to-end suite at a real cluster.
pub const EXTERNAL_KUBECONFIG: &str = "FJORD_E2E_KUBECONFIG";

/// A running embedded control plane with its own data directory and kubeconfig.
pub struct TestCluster {
    /// The running server.
    pub server: Option<fjord_apiserver::RunningServer>,
    /// The kubeconfig file.
    pub kubeconfig: PathBuf,
    /// The data directory (kept for restarts).
    pub data_dir: PathBuf,
    /// The listen address (kept for restarts).
    pub addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    options: ClusterOptions,
}

/// Knobs for tests.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Serve plain HTTP.
    pub insecure_http: bool,
    /// Revisions always kept in the log.
    pub min_retained_revisions: u64,
    /// Watch timeout when the client gives none.
    pub default_watch_timeout: Duration,
    /// Run the simulated controllers (Deployments progress, namespaces get ServiceAccounts, ...).
    pub controllers: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            insecure_http: false,
            min_retained_revisions: 1000,
            default_watch_timeout: Duration::from_secs(1800),
            controllers: true,
        }
    }
}

impl TestCluster {
    /// Starts a cluster with default options.
    pub async fn start() -> anyhow::Result<TestCluster> {
        Self::start_with(ClusterOptions::default()).await
    }

    /// Starts a cluster — or, when `FJORD_E2E_KUBECONFIG` names a kubeconfig, uses that real
    /// cluster instead (kind, k3d, ...): tests that need the embedded server's internals
    /// (`server()`: restarts, compaction, the store) then fail saying so.
    pub async fn start_with(options: ClusterOptions) -> anyhow::Result<TestCluster> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let data_dir = dir.path().join("data");
        if let Some(external) = std::env::var_os(EXTERNAL_KUBECONFIG) {
            return Ok(TestCluster {
                server: None,
                kubeconfig: PathBuf::from(external),
                data_dir,
                addr: "127.0.0.1:0".parse().expect("valid address"),
                dir,
                options,
            });
        }
        let kubeconfig = dir.path().join("kubeconfig");
        let mut tc = TestCluster {
            server: None,
            kubeconfig,
            data_dir,
            addr: "127.0.0.1:0".parse().expect("valid address"),
            dir,
            options,
        };
        tc.boot().await?;
        Ok(tc)
    }

    async fn boot(&mut self) -> anyhow::Result<()> {
        let mut config = fjord_apiserver::ServerConfig::new(self.addr);
        config.data_dir = Some(self.data_dir.clone());
        config.kubeconfig_path = Some(self.kubeconfig.clone());
        config.insecure_http = self.options.insecure_http;
        config.store.min_retained_revisions = self.options.min_retained_revisions;
        config.watch.default_timeout = self.options.default_watch_timeout;
        config.compaction_interval = None;
        if !self.options.controllers {
            config.controllers = fjord_apiserver::ControllerOptions::disabled();
        }
        let server = fjord_apiserver::start(config)
            .await
            .context("starting the embedded control plane")?;
        self.addr = server.addr;
        self.server = Some(server);
        Ok(())
    }

    /// Stops the server (connections drop) and starts it again on the same address and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        self.boot().await
    }

    /// Stops the server.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// The running embedded server.
    pub fn server(&self) -> &fjord_apiserver::RunningServer {
        self.server.as_ref().unwrap_or_else(|| {
            panic!(
                "this test needs the embedded control plane (it is stopped, or {EXTERNAL_KUBECONFIG} points the suite at another cluster)"
            )
        })
    }

    /// Whether the suite runs against a cluster given by `FJORD_E2E_KUBECONFIG`.
    pub fn is_external(&self) -> bool {
        std::env::var_os(EXTERNAL_KUBECONFIG).is_some()
    }

    /// A scratch directory of this test.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a kubectl version (`"1.31"`) with this cluster's kubeconfig and a private discovery
    /// cache.
    pub fn kubectl(&self, version: &str, args: &[&str]) -> anyhow::Result<Output> {
        let bin = kubectl_path(version)?;
        let cache = self.dir.path().join(format!("kube-cache-{version}"));
        Command::new(&bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .output()
            .with_context(|| format!("running {}", bin.display()))
    }

    /// Like `kubectl`, but fails unless the command succeeds; returns stdout.
    pub fn kubectl_ok(&self, version: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl(version, args)?;
        if !out.status.success() {
            bail!(
                "kubectl {version} {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The path of an installed kubectl version.
pub fn kubectl_path(version: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(KUBECTL_DIR).join(format!("kubectl.{version}"));
    if !p.exists() {
        bail!(
            "kubectl {version} is not installed at {} (the Debian package `kubectl` from the Google Cloud SDK provides kubectl 1.27–1.33)",
            p.display()
        );
    }
    Ok(p)
}

/// A kube-rs client for the cluster, from its kubeconfig.
pub async fn client(tc: &TestCluster) -> kube::Client {
    let text = std::fs::read_to_string(&tc.kubeconfig).expect("the kubeconfig is readable");
    let kc = kube::config::Kubeconfig::from_yaml(&text).expect("the kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("the kubeconfig is usable");
    kube::Client::try_from(config).expect("a client can be built")
}

/// Runs `git -C dir args` as a test author (and `GIT_SSH_COMMAND=ssh` when given), panicking
/// with git's stderr on failure; returns stdout, trimmed. The one git helper of the tests.
pub fn git(dir: &Path, ssh: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"])
        .args(args);
    if let Some(ssh) = ssh {
        cmd.env("GIT_SSH_COMMAND", ssh);
    }
    let out = cmd.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
