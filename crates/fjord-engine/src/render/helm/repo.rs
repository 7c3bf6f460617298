//! Charts from Helm repositories over HTTP(S): `repoURL` + `chart` + `targetRevision`
//! (a version or a semver constraint).
//!
//! `helm pull --repo` does the fetching (index.yaml, then the archive), so authentication
//! and TLS behave as helm's do; the chart is unpacked once into
//! `<home>/charts/<repo>/<chart>/<version>/` and reused. An exact version that is already
//! there costs no network at all; a constraint (`1.2.*`, `>=1.0`) is resolved by pulling
//! again, which the controller does at most once per poll interval.

use super::super::RenderError;
use super::HelmRenderer;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A chart unpacked on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulledChart {
    /// The resolved chart version.
    pub version: String,
    /// A directory holding the chart as `<root>/<chart>/`.
    pub root: PathBuf,
    /// The chart name (its directory under `root`).
    pub chart: String,
}

/// Credentials for a Helm repository (from an Argo CD repository Secret).
#[derive(Clone, Default)]
pub struct RepoAuth {
    /// User name.
    pub username: Option<String>,
    /// Password or token.
    pub password: Option<String>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// Send the credentials to every domain the chart is fetched from (`passCredentials`).
    pub pass_credentials: bool,
}

impl std::fmt::Debug for RepoAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoAuth")
            .field("username", &self.username.as_ref().map(|_| "<set>"))
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("insecure", &self.insecure)
            .field("pass_credentials", &self.pass_credentials)
            .finish()
    }
}

/// True when `version` names one version rather than a range (`1.2.3`, `v1.2.3-rc.1`).
pub fn is_exact_version(version: &str) -> bool {
    let v = version.strip_prefix('v').unwrap_or(version);
    v.starts_with(|c: char| c.is_ascii_digit())
        && !v.contains(['*', 'x', 'X', '^', '~', '<', '>', '=', '|', ',', ' '])
        && v.split(['-', '+'])
            .next()
            .is_some_and(|core| core.split('.').count() == 3)
}

/// Whether `url` names a Helm repository reachable over HTTP (not Git, not OCI).
pub fn is_helm_http_repo(source_chart: Option<&str>, url: &str) -> bool {
    source_chart.is_some_and(|c| !c.is_empty())
        && (url.starts_with("http://") || url.starts_with("https://"))
}

fn dir_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl HelmRenderer {
    fn chart_cache(&self, repo_url: &str, chart: &str) -> PathBuf {
        self.home
            .join("charts")
            .join(dir_name(repo_url))
            .join(dir_name(chart))
    }

    /// The chart, from the cache when `version` is exact and already unpacked, else pulled.
    pub fn pull_chart(
        &self,
        repo_url: &str,
        chart: &str,
        version: &str,
        auth: &RepoAuth,
    ) -> Result<PulledChart, RenderError> {
        let cache = self.chart_cache(repo_url, chart);
        let pull_err = |message: String| RenderError::HelmPull {
            repo: repo_url.to_string(),
            chart: chart.to_string(),
            message,
        };
        if chart.is_empty() || chart.contains('/') || chart.starts_with('.') {
            return Err(pull_err(format!("invalid chart name {chart:?}")));
        }
        if is_exact_version(version) {
            let root = cache.join(dir_name(version));
            if root.join(chart).join("Chart.yaml").is_file() {
                return Ok(PulledChart {
                    version: version.to_string(),
                    root,
                    chart: chart.to_string(),
                });
            }
        }
        let helm = self.command()?;
        std::fs::create_dir_all(&cache).map_err(|e| super::chart::write_error(&cache, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".pull-")
            .tempdir_in(&cache)
            .map_err(|e| super::chart::write_error(&cache, e))?;
        let mut args = vec![
            "pull".to_string(),
            chart.to_string(),
            "--repo".into(),
            repo_url.to_string(),
            "--untar".into(),
            "--untardir".into(),
            tmp.path().display().to_string(),
            "--destination".into(),
            tmp.path().display().to_string(),
        ];
        if !version.is_empty() && version != "*" {
            args.push("--version".into());
            args.push(version.to_string());
        }
        if let Some(u) = &auth.username {
            args.push("--username".into());
            args.push(u.clone());
        }
        if let Some(p) = &auth.password {
            args.push("--password".into());
            args.push(p.clone());
        }
        if auth.insecure {
            args.push("--insecure-skip-tls-verify".into());
        }
        if auth.pass_credentials {
            args.push("--pass-credentials".into());
        }
        helm.run("pull", &args, tmp.path())
            .map_err(|e| pull_err(e.to_string()))?;
        let unpacked = tmp.path().join(chart);
        let resolved = chart_version(&unpacked.join("Chart.yaml")).map_err(pull_err)?;
        let root = cache.join(dir_name(&resolved));
        if !root.join(chart).join("Chart.yaml").is_file() {
            let staging = tmp.path().join(".root");
            std::fs::create_dir_all(&staging)
                .map_err(|e| super::chart::write_error(&staging, e))?;
            std::fs::rename(&unpacked, staging.join(chart))
                .map_err(|e| super::chart::write_error(&staging, e))?;
            // Another render may have won the race; either copy is the same chart.
            if std::fs::rename(&staging, &root).is_err() && !root.join(chart).is_dir() {
                return Err(pull_err(format!(
                    "could not store the chart under {}",
                    root.display()
                )));
            }
        }
        Ok(PulledChart {
            version: resolved,
            root,
            chart: chart.to_string(),
        })
    }
}

fn chart_version(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the pulled chart has no readable Chart.yaml: {e}"))?;
    let doc: Value =
        serde_norway::from_str(&text).map_err(|e| format!("the pulled chart's Chart.yaml: {e}"))?;
    match doc.get("version") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err("the pulled chart's Chart.yaml has no version".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_versions_and_constraints() {
        for v in ["1.2.3", "v1.2.3", "0.1.0-rc.1", "1.0.0+build.5"] {
            assert!(is_exact_version(v), "{v}");
        }
        for v in ["1.2.*", ">=1.0.0", "^1.2", "~1.2.3", "1.2", "", "*", "1.x"] {
            assert!(!is_exact_version(v), "{v}");
        }
    }

    #[test]
    fn helm_repositories_need_a_chart_and_http() {
        assert!(is_helm_http_repo(
            Some("redis"),
            "https://charts.example.com"
        ));
        assert!(!is_helm_http_repo(None, "https://git.example.com/r.git"));
        assert!(!is_helm_http_repo(Some("redis"), "oci://registry/x"));
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let a = RepoAuth {
            username: Some("me".into()),
            password: Some("hunter2".into()),
            ..Default::default()
        };
        let text = format!("{a:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("me\""),
            "{text}"
        );
    }
}
