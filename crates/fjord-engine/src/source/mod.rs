//! Sources: Git repositories and their credentials.
//!
//! `credentials` reads Argo CD's repository Secrets and known-hosts ConfigMap; `auth` turns
//! them into a `git` child's environment; `git` keeps one shared bare clone per repository
//! (cheap `ls-remote` check, fetch on change, revision resolution); `gittree` renders a
//! commit's tree without a working copy. Local paths need no source: use
//! [`LocalTree`](crate::render::LocalTree).

pub mod auth;
pub mod credentials;
pub mod git;
pub mod gittree;
pub mod registry;
pub mod url;

pub use auth::GitAuth;
pub use credentials::{CredentialStore, RepoCredentials};
pub use git::{GitError, GitRepo, RemoteRefs};
pub use gittree::GitTree;
pub use registry::RepoRegistry;

use std::time::Duration;

/// Default interval of the cheap remote check.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// A refresh forced through the `argocd.argoproj.io/refresh` annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Re-check the remote and re-compare.
    Normal,
    /// Also fetch and render again, bypassing caches.
    Hard,
}

impl Refresh {
    /// Reads the annotation value (`normal` or `hard`; anything else is no refresh).
    pub fn from_annotation(value: Option<&str>) -> Option<Refresh> {
        match value? {
            "normal" => Some(Refresh::Normal),
            "hard" => Some(Refresh::Hard),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_annotation_values() {
        assert_eq!(Refresh::from_annotation(Some("hard")), Some(Refresh::Hard));
        assert_eq!(
            Refresh::from_annotation(Some("normal")),
            Some(Refresh::Normal)
        );
        assert_eq!(Refresh::from_annotation(Some("yes")), None);
        assert_eq!(Refresh::from_annotation(None), None);
    }
}
