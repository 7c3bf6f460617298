//! Git request metrics, as Argo CD's repo-server reports them: `argocd_git_request_total`
//! and `argocd_git_request_duration_seconds` by repository and request type (`ls-remote`,
//! `fetch`), and the failures `argocd_git_fetch_fail_total` / `argocd_git_lsremote_fail_total`
//! by repository and revision.
//!
//! Each shared clone gets a [`GitRepoMetrics`] with its label sets built once, so counting a
//! request allocates nothing.

use crate::source::url::redact;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Argo CD's `argocd_git_request_duration_seconds` buckets.
const GIT_BUCKETS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 20.0];

type RequestLabels = [(&'static str, String); 2];
type FailureLabels = [(&'static str, String); 2];

fn git_histogram() -> Histogram {
    Histogram::new(GIT_BUCKETS)
}

/// The kind of remote Git request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitRequestKind {
    /// `git ls-remote`: the cheap check for new commits.
    LsRemote,
    /// `git fetch`: objects transferred.
    Fetch,
}

impl GitRequestKind {
    /// The `request_type` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GitRequestKind::LsRemote => "ls-remote",
            GitRequestKind::Fetch => "fetch",
        }
    }
}

/// The Git metric families; [`GitMetrics::for_repo`] gives one repository's handles.
#[derive(Clone, Debug)]
pub struct GitMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
    fetch_failures: Family<FailureLabels, Counter>,
    ls_remote_failures: Family<FailureLabels, Counter>,
}

impl GitMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "argocd_git_request",
            "Number of git requests performed by repo server",
            requests.clone(),
        );
        let durations = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            git_histogram,
        );
        registry.register(
            "argocd_git_request_duration_seconds",
            "Git requests duration seconds",
            durations.clone(),
        );
        let fetch_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "argocd_git_fetch_fail",
            "Number of git fetch requests failures by repo server",
            fetch_failures.clone(),
        );
        let ls_remote_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "argocd_git_lsremote_fail",
            "Number of git ls-remote requests failures by repo server",
            ls_remote_failures.clone(),
        );
        GitMetrics {
            requests,
            durations,
            fetch_failures,
            ls_remote_failures,
        }
    }

    /// The handles of repository `url` (labelled with the URL, any password replaced).
    pub fn for_repo(&self, url: &str) -> GitRepoMetrics {
        let repo = redact(url.trim());
        let handles = |kind: GitRequestKind| {
            let labels = [
                ("repo", repo.clone()),
                ("request_type", kind.as_str().to_string()),
            ];
            (
                self.requests.get_or_create_owned(&labels),
                self.durations.get_or_create_owned(&labels),
            )
        };
        GitRepoMetrics {
            ls_remote: handles(GitRequestKind::LsRemote),
            fetch: handles(GitRequestKind::Fetch),
            repo,
            fetch_failures: self.fetch_failures.clone(),
            ls_remote_failures: self.ls_remote_failures.clone(),
        }
    }
}

/// One repository's Git metric handles.
#[derive(Clone, Debug)]
pub struct GitRepoMetrics {
    repo: String,
    ls_remote: (Counter, Histogram),
    fetch: (Counter, Histogram),
    fetch_failures: Family<FailureLabels, Counter>,
    ls_remote_failures: Family<FailureLabels, Counter>,
}

impl GitRepoMetrics {
    /// Counts one request that took `took`; a failed one (`failed`) is also counted by the
    /// revision it was for (empty when it was for all branches and tags).
    pub fn observe(&self, kind: GitRequestKind, took: Duration, failed: Option<&str>) {
        let (count, duration) = match kind {
            GitRequestKind::LsRemote => &self.ls_remote,
            GitRequestKind::Fetch => &self.fetch,
        };
        count.inc();
        duration.observe(took.as_secs_f64());
        if let Some(revision) = failed {
            let family = match kind {
                GitRequestKind::LsRemote => &self.ls_remote_failures,
                GitRequestKind::Fetch => &self.fetch_failures,
            };
            family
                .get_or_create(&[
                    ("repo", self.repo.clone()),
                    ("revision", revision.to_string()),
                ])
                .inc();
        }
    }
}
