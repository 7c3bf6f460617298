//! One [`GitRepo`] per repository, shared by every Application that uses it.
//!
//! Applications name the same repository in different spellings (`git@host:o/r.git`,
//! `ssh://git@host/o/r`); the registry keys clones by the normalised URL so they share one
//! clone and one fetch. Credentials are refreshed on each lookup, so a rotated Secret takes
//! effect on the next fetch.

use super::auth::GitAuth;
use super::git::GitRepo;
use super::url::normalize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// The shared clones under one cache directory.
#[derive(Debug)]
pub struct RepoRegistry {
    root: PathBuf,
    repos: Mutex<HashMap<String, Arc<GitRepo>>>,
    metrics: Option<crate::metrics::GitMetrics>,
}

impl RepoRegistry {
    /// A registry keeping clones under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RepoRegistry {
            root: root.into(),
            repos: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Counts every clone's remote requests in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::GitMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The shared clone of `url`, with `auth` as its current credentials.
    pub fn get(&self, url: &str, auth: GitAuth) -> Arc<GitRepo> {
        let mut repos = self.repos.lock().unwrap_or_else(PoisonError::into_inner);
        let repo = repos.entry(normalize(url)).or_insert_with(|| {
            let repo = GitRepo::new(&self.root, url, GitAuth::default());
            Arc::new(match &self.metrics {
                Some(m) => repo.with_metrics(m.for_repo(url)),
                None => repo,
            })
        });
        repo.set_auth(auth);
        Arc::clone(repo)
    }

    /// Number of distinct repositories.
    pub fn len(&self) -> usize {
        self.repos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no repository was requested yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_urls_share_one_clone() {
        let dir = tempfile::tempdir().unwrap();
        let reg = RepoRegistry::new(dir.path());
        let a = reg.get("git@github.com:my-org/infra-config.git", GitAuth::default());
        let b = reg.get(
            "ssh://git@GitHub.com/my-org/infra-config",
            GitAuth::default(),
        );
        assert!(Arc::ptr_eq(&a, &b));
        let c = reg.get(
            "https://github.com/my-org/infra-config.git",
            GitAuth::default(),
        );
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(reg.len(), 2);
    }
}
