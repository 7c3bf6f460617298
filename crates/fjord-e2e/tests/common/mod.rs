//! Helpers shared by the Git-backed end-to-end tests (`mod common;` in each).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_engine::types::Application;
use kube::Api;

/// Runs git in `dir` with a fixed identity and the given `GIT_SSH_COMMAND` (if any), failing the
/// test on error; returns stdout, trimmed.
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
