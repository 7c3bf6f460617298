//! CI promotion for the pull model: CI never touches the cluster; its last step changes the image
//! in the config repository and pushes, and the controller does the rest.
//!
//! ```text
//! clone branch ─▶ edit kustomization `images` (and/or a Helm values key), formatting kept
//!              ─▶ commit (nothing when nothing changed) ─▶ push, rebase + retry if someone was first
//! ```
#![warn(missing_docs)]

mod edit;
mod image;
mod repo;

use std::path::{Path, PathBuf};

pub use edit::{set_kustomize_image, set_value};
pub use image::{ImageSet, Version};
pub use repo::{Author, Checkout};

/// A failed promotion.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image argument does not parse.
    #[error("invalid image {arg:?}: {why}")]
    InvalidImage {
        /// The argument.
        arg: String,
        /// What is wrong.
        why: String,
    },
    /// A values key does not parse.
    #[error("invalid key {key:?}: use dot-separated names, like image.tag")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// An author does not parse.
    #[error("invalid author {author:?}: use \"Name <email>\"")]
    InvalidAuthor {
        /// The argument.
        author: String,
    },
    /// A file cannot be edited without rewriting it.
    #[error("{file}: {why}; edit it by hand or make it block-style YAML")]
    Unsupported {
        /// The file.
        file: String,
        /// Why.
        why: String,
    },
    /// No kustomization in the directory.
    #[error("no kustomization.yaml, kustomization.yml or Kustomization in {dir}")]
    NoKustomization {
        /// The directory.
        dir: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("git {command}: {message}")]
    Git {
        /// The command.
        command: String,
        /// git's error output.
        message: String,
    },
    /// Rebasing on the remote's new commits conflicted; nothing was pushed.
    #[error("rebasing on the new commits of {branch} conflicted, nothing was pushed: {message}")]
    RebaseConflict {
        /// The branch.
        branch: String,
        /// The failure.
        message: String,
    },
    /// Others kept pushing first.
    #[error("the push to {branch} was refused {attempts} times because others pushed first")]
    PushRetriesExhausted {
        /// The branch.
        branch: String,
        /// Attempts made.
        attempts: usize,
    },
}

/// What to change.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// Directory of the kustomization, relative to the repository root.
    pub path: PathBuf,
    /// Images to set in its `images` list.
    pub images: Vec<ImageSet>,
    /// A Helm values file (relative to the repository root) and the key whose value becomes the
    /// (first) image's tag.
    pub helm_values: Option<(PathBuf, String)>,
}

/// The kustomization file of a directory.
pub fn kustomization_file(dir: &Path) -> Result<PathBuf, Error> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::NoKustomization {
            dir: dir.display().to_string(),
        })
}

fn rewrite(
    path: &Path,
    f: impl FnOnce(&str, &str) -> Result<String, Error>,
) -> Result<bool, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let before = std::fs::read_to_string(path).map_err(io)?;
    let after = f(&before, &path.display().to_string())?;
    if after == before {
        return Ok(false);
    }
    std::fs::write(path, after).map_err(io)?;
    Ok(true)
}

/// Applies a promotion to a working tree. Returns whether any file changed.
pub fn apply(root: &Path, p: &Promotion) -> Result<bool, Error> {
    let mut changed = false;
    if !p.images.is_empty() {
        let file = kustomization_file(&root.join(&p.path))?;
        for set in &p.images {
            changed |= rewrite(&file, |text, name| set_kustomize_image(text, name, set))?;
        }
    }
    if let Some((values, key)) = &p.helm_values {
        let tag = p.images.first().and_then(|i| match &i.version {
            Version::Tag(t) => Some(t.clone()),
            Version::Digest(d) => Some(d.clone()),
            Version::None => None,
        });
        if let Some(tag) = tag {
            changed |= rewrite(&root.join(values), |text, name| {
                set_value(text, name, key, &tag)
            })?;
        }
    }
    Ok(changed)
}

/// The commit message of a promotion.
pub fn commit_message(p: &Promotion) -> String {
    let what: Vec<String> = p
        .images
        .iter()
        .map(|i| format!("{} to {}", i.name, i.display_ref()))
        .collect();
    format!(
        "Set image {} in {}\n\nChanged by `fjord image set`.",
        what.join(", "),
        p.path.display()
    )
}
