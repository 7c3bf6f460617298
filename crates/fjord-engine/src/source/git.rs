//! A shared bare clone of one repository, driven through the system `git` program.
//!
//! Why `git` and not a library: fetching over SSH must behave exactly as `git` does
//! (`~/.ssh/config`, agents, known hosts), and Argo CD itself shells out to `git`. gix was
//! evaluated (0.90): its object reading is mature, but its fetch API changes release to
//! release and it adds a long build on a 2-core machine for little gain here. The
//! [`SourceTree`](crate::render::SourceTree) seam lets a gix-backed tree replace
//! [`GitTree`] later without touching the renderers.
//!
//! One [`GitRepo`] per normalised URL is shared by every Application using it; its fetch
//! lock makes concurrent refreshes wait for one fetch. [`GitRepo::ls_remote`] is the cheap
//! remote check run on the poll interval; [`GitRepo::fetch`] runs only when it reports a
//! revision the clone lacks (or on a hard refresh). All calls block: run them in
//! `spawn_blocking`.

use super::auth::{GitAuth, configure};
use super::gittree::GitTree;
use super::url::{cache_dir_name, redact};
use crate::metrics::GitRequestKind::{self, Fetch, LsRemote};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, PoisonError, RwLock};

/// Why a Git operation failed. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` could not be started or the cache directory not written.
    #[error("{step} {url}: {source}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The repository (redacted).
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `git` exited with an error.
    #[error("{step} {url}: {message}")]
    Command {
        /// What was being done (`ls-remote`, `fetch`, ...).
        step: &'static str,
        /// The repository (redacted).
        url: String,
        /// git's message (credentials scrubbed).
        message: String,
    },
    /// The revision names no branch, tag or commit.
    #[error("{url}: revision {revision:?} not found")]
    RevisionNotFound {
        /// The repository (redacted).
        url: String,
        /// The revision asked for.
        revision: String,
    },
}

/// The refs a remote advertises.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteRefs {
    /// What `HEAD` points at.
    pub head: Option<String>,
    /// Ref name → commit (annotated tags peeled).
    pub refs: BTreeMap<String, String>,
}

/// True for a full hexadecimal SHA-1.
pub fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl RemoteRefs {
    /// Parses `git ls-remote` output.
    pub fn parse(text: &str) -> Self {
        let mut out = RemoteRefs::default();
        let mut peeled = BTreeMap::new();
        for line in text.lines() {
            let Some((sha, name)) = line.split_once('\t') else {
                continue;
            };
            if !is_full_sha(sha) {
                continue;
            }
            if name == "HEAD" {
                out.head = Some(sha.to_string());
            } else if let Some(tag) = name.strip_suffix("^{}") {
                peeled.insert(tag.to_string(), sha.to_string());
            } else {
                out.refs.insert(name.to_string(), sha.to_string());
            }
        }
        out.refs.extend(peeled);
        out
    }

    /// Resolves `HEAD`, a branch, a tag, a full ref or a full SHA to a commit with Argo CD's
    /// precedence (branch before tag). Short SHAs are left to [`GitRepo::resolve`].
    pub fn resolve(&self, revision: &str) -> Option<String> {
        let rev = revision.trim();
        if rev.is_empty() || rev == "HEAD" {
            return self.head.clone();
        }
        if is_full_sha(rev) {
            return Some(rev.to_ascii_lowercase());
        }
        [
            rev.to_string(),
            format!("refs/heads/{rev}"),
            format!("refs/tags/{rev}"),
        ]
        .iter()
        .find_map(|r| self.refs.get(r).cloned())
    }
}

/// A bare clone in the cache directory.
#[derive(Debug)]
pub struct GitRepo {
    url: String,
    dir: PathBuf,
    auth_dir: PathBuf,
    auth: RwLock<GitAuth>,
    fetch_lock: Mutex<()>,
    /// Held while the bare clone is created: Applications of one repository reconcile at once
    /// and would otherwise race `git init` into the same directory.
    init_lock: Mutex<()>,
    /// Request counters (`argocd_git_request_total` and friends), when metrics are kept.
    metrics: Option<crate::metrics::GitRepoMetrics>,
}

impl GitRepo {
    /// The clone of `url` under `cache_root` (created on the first fetch).
    pub fn new(cache_root: &Path, url: &str, auth: GitAuth) -> Self {
        let name = cache_dir_name(url);
        GitRepo {
            url: url.to_string(),
            dir: cache_root.join(&name),
            auth_dir: cache_root.join(format!("{name}.auth")),
            auth: RwLock::new(auth),
            fetch_lock: Mutex::new(()),
            init_lock: Mutex::new(()),
            metrics: None,
        }
    }

    /// Counts this clone's `ls-remote` and `fetch` requests in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::GitRepoMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Counts a remote request of `kind` begun at `started` (`failed`: for which revision).
    fn count(&self, kind: GitRequestKind, started: std::time::Instant, failed: Option<&str>) {
        if let Some(m) = &self.metrics {
            m.observe(kind, started.elapsed(), failed);
        }
    }

    /// The repository URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Replaces the credentials (after the repository Secrets changed).
    pub fn set_auth(&self, auth: GitAuth) {
        *self.auth.write().unwrap_or_else(PoisonError::into_inner) = auth;
    }

    fn git(&self, step: &'static str, args: &[&str], remote: bool) -> Result<Output, GitError> {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .env("GIT_DIR", &self.dir)
            .env_remove("GIT_WORK_TREE");
        if remote {
            let auth = self
                .auth
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            configure(&mut cmd, &auth, &self.auth_dir).map_err(|source| GitError::Io {
                step,
                url: redact(&self.url),
                source,
            })?;
        }
        let out = cmd.output().map_err(|source| GitError::Io {
            step,
            url: redact(&self.url),
            source,
        })?;
        if !out.status.success() {
            return Err(GitError::Command {
                step,
                url: redact(&self.url),
                message: self.scrub(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(out)
    }

    /// Removes anything secret from git's messages.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.trim().replace(&self.url, &redact(&self.url));
        let auth = self.auth.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = auth
            .credentials
            .as_ref()
            .and_then(|c| c.password.as_deref())
            && !p.is_empty()
        {
            text = text.replace(p, "***");
        }
        text
    }

    /// The cheap remote check: the refs the remote advertises (no objects transferred).
    pub fn ls_remote(&self) -> Result<RemoteRefs, GitError> {
        self.ensure_clone()?;
        let started = std::time::Instant::now();
        let out = self.git("ls-remote", &["ls-remote", &self.url], true);
        self.count(LsRemote, started, out.is_err().then_some(""));
        let out = out?;
        Ok(RemoteRefs::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    fn ensure_clone(&self) -> Result<(), GitError> {
        if self.dir.join("HEAD").exists() {
            return Ok(());
        }
        let _guard = self
            .init_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.dir.join("HEAD").exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| GitError::Io {
            step: "create cache",
            url: redact(&self.url),
            source,
        })?;
        self.git("init", &["init", "--bare", "--quiet"], false)?;
        Ok(())
    }

    /// Fetches every branch and tag (pruning deleted ones), plus `extra` commits that no ref
    /// reaches (a pinned SHA). Concurrent callers wait for one fetch.
    pub fn fetch(&self, extra: &[&str]) -> Result<(), GitError> {
        let _guard = self
            .fetch_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.fetch_locked(extra)
    }

    fn fetch_locked(&self, extra: &[&str]) -> Result<(), GitError> {
        self.ensure_clone()?;
        let started = std::time::Instant::now();
        let fetched = self.git(
            "fetch",
            &[
                "fetch",
                "--quiet",
                "--prune",
                "--force",
                "--no-tags",
                &self.url,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
            true,
        );
        self.count(Fetch, started, fetched.is_err().then_some(""));
        fetched?;
        for sha in extra.iter().filter(|s| !self.has_commit(s)) {
            let started = std::time::Instant::now();
            let fetched = self.git("fetch commit", &["fetch", "--quiet", &self.url, sha], true);
            self.count(Fetch, started, fetched.is_err().then_some(*sha));
            fetched?;
        }
        Ok(())
    }

    /// Makes sure the clone holds every commit in `shas`, fetching only when one is
    /// missing. Applications waiting on the same repository find the commit there after
    /// the first fetch and make no network request. Returns whether it fetched.
    pub fn ensure_commits(&self, shas: &[&str]) -> Result<bool, GitError> {
        if shas.iter().all(|s| self.has_commit(s)) {
            return Ok(false);
        }
        let _guard = self
            .fetch_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shas.iter().all(|s| self.has_commit(s)) {
            return Ok(false);
        }
        self.fetch_locked(shas)?;
        Ok(true)
    }

    /// True when the clone holds commit `sha`.
    pub fn has_commit(&self, sha: &str) -> bool {
        self.dir.join("HEAD").exists()
            && self
                .git(
                    "cat-file",
                    &["cat-file", "-e", &format!("{sha}^{{commit}}")],
                    false,
                )
                .is_ok()
    }

    /// Resolves `revision` against the remote's refs, falling back to the clone for short
    /// SHAs; the result is a full commit SHA.
    pub fn resolve(&self, refs: &RemoteRefs, revision: &str) -> Result<String, GitError> {
        if let Some(sha) = refs.resolve(revision) {
            return Ok(sha);
        }
        let rev = revision.trim();
        if rev.len() >= 4
            && rev.bytes().all(|b| b.is_ascii_hexdigit())
            && self.dir.join("HEAD").exists()
        {
            let spec = format!("{rev}^{{commit}}");
            if let Ok(out) = self.git(
                "rev-parse",
                &["rev-parse", "--verify", "--quiet", &spec],
                false,
            ) {
                let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if is_full_sha(&sha) {
                    return Ok(sha);
                }
            }
        }
        Err(GitError::RevisionNotFound {
            url: redact(&self.url),
            revision: revision.to_string(),
        })
    }

    /// The file tree of commit `sha`, read from the object store (no working copy).
    pub fn tree(&self, sha: &str) -> Result<GitTree, GitError> {
        let spec = format!("{sha}^{{tree}}");
        let out = self.git(
            "ls-tree",
            &["ls-tree", "-r", "-t", "-z", "--full-tree", &spec],
            false,
        )?;
        Ok(GitTree::from_ls_tree(self.dir.clone(), sha, &out.stdout))
    }
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
