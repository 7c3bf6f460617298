//! Finding and running the helm v3 binary.
//!
//! Helm is an external program (as in Argo CD): `FJORD_HELM` names it, else `helm` is
//! looked up on `PATH`. Each run gets its own `HELM_*_HOME` directories under the
//! renderer's home, so a user's helm repositories and plugins never leak into a render, and
//! a time limit, after which the process is killed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming the helm binary.
pub const HELM_ENV: &str = "FJORD_HELM";

/// How long one helm invocation may take (Argo CD's exec timeout is 90 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Why helm could not be run or failed.
#[derive(Debug, thiserror::Error)]
pub enum HelmRunError {
    /// No helm binary was found.
    #[error("helm is not installed: {0}")]
    NotInstalled(String),
    /// Starting or waiting for the process failed.
    #[error("running helm {step}: {message}")]
    Io {
        /// The helm sub-command.
        step: String,
        /// The cause.
        message: String,
    },
    /// Helm exited non-zero.
    #[error("helm {step} failed: {stderr}")]
    Failed {
        /// The helm sub-command.
        step: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// Helm ran longer than the limit and was killed.
    #[error("helm {step} timed out after {seconds}s")]
    TimedOut {
        /// The helm sub-command.
        step: String,
        /// The limit.
        seconds: u64,
    },
}

/// Finds the helm binary: `$FJORD_HELM` (which must exist), else `helm` on `PATH`.
pub fn locate() -> Result<PathBuf, HelmRunError> {
    if let Some(path) = std::env::var_os(HELM_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(HelmRunError::NotInstalled(format!(
                "{HELM_ENV}={} does not exist",
                path.display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("helm"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            HelmRunError::NotInstalled(format!(
                "no `helm` on PATH and {HELM_ENV} is not set (install helm v3 to render Helm sources)"
            ))
        })
}

/// A helm binary with its private home directories.
#[derive(Clone, Debug)]
pub struct HelmCommand {
    /// The binary.
    pub binary: PathBuf,
    /// Where `HELM_CACHE_HOME`, `HELM_CONFIG_HOME` and `HELM_DATA_HOME` live.
    pub home: PathBuf,
    /// Time limit per invocation.
    pub timeout: Duration,
}

impl HelmCommand {
    /// Runs `helm args...` in `cwd`; returns standard output. `step` names the
    /// sub-command in errors (arguments are never echoed: they may hold credentials).
    pub fn run(&self, step: &str, args: &[String], cwd: &Path) -> Result<String, HelmRunError> {
        let io = |e: std::io::Error| HelmRunError::Io {
            step: step.to_string(),
            message: e.to_string(),
        };
        let mut cmd = Command::new(&self.binary);
        cmd.args(args)
            .current_dir(cwd)
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            .env("KUBECONFIG", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(io)?;
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io)? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HelmRunError::TimedOut {
                    step: step.to_string(),
                    seconds: self.timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let out = out_reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        if !status.success() {
            return Err(HelmRunError::Failed {
                step: step.to_string(),
                stderr: String::from_utf8_lossy(&err).trim().to_string(),
            });
        }
        String::from_utf8(out).map_err(|_| HelmRunError::Io {
            step: step.to_string(),
            message: "output is not UTF-8".into(),
        })
    }
}
