//! Helpers shared by the Git-backed end-to-end tests (`mod common;` in each).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use fjord_engine::controller::{ControllerConfig, install};
use fjord_engine::types::Application;
use kube::Api;

/// Runs git in `dir` (see [`fjord_e2e::git`]).
pub use fjord_e2e::git;

/// Waits up to 90 s for the Application `name` to satisfy `check`, failing with `what`.
pub async fn wait_app(
    apps: &Api<Application>,
    name: &str,
    what: &str,
    check: impl Fn(&Application) -> bool,
) -> Application {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(app) = apps.get_opt(name).await.expect("reading the Application")
            && check(&app)
        {
            return app;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes `files` (path, content) under `root`, creating directories.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().expect("a parent")).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// A bare repository (`main`), served over `file://`, and a working copy pushing to it.
pub struct TestRepo {
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl TestRepo {
    /// A repository named `name` under `root` holding `files`, committed and pushed.
    pub fn new(root: &Path, name: &str, files: &[(&str, &str)]) -> TestRepo {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}-work"));
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&bare, None, &["init", "-q", "--bare", "-b", "main"]);
        git(&work, None, &["init", "-q", "-b", "main"]);
        git(
            &work,
            None,
            &["remote", "add", "origin", bare.to_str().unwrap()],
        );
        let repo = TestRepo { bare, work };
        repo.write(files);
        git(&repo.work, None, &["add", "-A"]);
        // Empty when `files` is: callers that fill the copy themselves get a first commit.
        git(
            &repo.work,
            None,
            &["commit", "-q", "--allow-empty", "-m", "initial"],
        );
        git(&repo.work, None, &["push", "-q", "origin", "main"]);
        repo
    }

    /// The `file://` URL.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes files into the working copy.
    pub fn write(&self, files: &[(&str, &str)]) {
        write_files(&self.work, files);
    }

    /// Replaces `from` by `to` in `file` of the working copy (which must contain it).
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.work.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} contains {from:?}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    /// Commits everything and pushes; returns the commit.
    pub fn commit(&self, message: &str) -> String {
        git(&self.work, None, &["add", "-A"]);
        git(&self.work, None, &["commit", "-q", "-m", message]);
        git(&self.work, None, &["push", "-q", "origin", "main"]);
        self.head()
    }

    /// The working copy's HEAD commit.
    pub fn head(&self) -> String {
        git(&self.work, None, &["rev-parse", "HEAD"])
    }
}

/// The embedded control plane with Fjord's CRDs, the `argocd` namespace and the `default`
/// project.
pub async fn gitops_cluster() -> (TestCluster, kube::Client) {
    let tc = TestCluster::start().await.expect("cluster starts");
    let client = fjord_e2e::client(&tc).await;
    install::install_crds(&client).await.expect("CRDs install");
    install::ensure_namespace_and_default_project(&client, "argocd")
        .await
        .expect("argocd namespace and default project");
    (tc, client)
}

/// A controller configuration for tests: Applications in `argocd`, the Git cache in the
/// cluster's scratch directory, and short poll, resync, retry and progress intervals.
pub fn quick_config(tc: &TestCluster) -> ControllerConfig {
    let mut config = ControllerConfig::new("argocd", tc.scratch().join("git-cache"));
    config.poll_interval = Duration::from_millis(500);
    config.resync_interval = Duration::from_secs(5);
    config.error_retry_interval = Duration::from_millis(500);
    config.progressing_interval = Duration::from_millis(300);
    config
}

/// The Application controller, running in the test's runtime until [`stop`](Self::stop).
pub struct RunningController {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningController {
    /// Starts the controller with `config`.
    pub fn start(client: &kube::Client, config: ControllerConfig) -> RunningController {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let client = client.clone();
        let task = tokio::spawn(async move {
            fjord_engine::controller::run(client, config, async move {
                let _ = rx.await;
            })
            .await
            .expect("the controller runs");
        });
        RunningController {
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Asks the controller to stop and waits for it (at most 10 s).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// helm from `$FJORD_HELM`, else `$FJORD_INTEROP_DIR/helm/helm` (default
/// `<workspace>/target/interop`, where `scripts/install-test-deps` puts it); fails loudly.
pub fn helm_binary() -> PathBuf {
    let path = match std::env::var_os("FJORD_HELM") {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("FJORD_INTEROP_DIR") {
            Some(dir) => PathBuf::from(dir).join("helm/helm"),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop/helm/helm"),
        },
    };
    assert!(
        path.is_file(),
        "helm not found at {} (set FJORD_HELM or run scripts/install-test-deps)",
        path.display()
    );
    path
}
