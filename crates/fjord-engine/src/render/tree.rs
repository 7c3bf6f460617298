//! `SourceTree`: read-only access to a snapshot of a repository.
//!
//! Renderers read files through this trait so the same code renders a Git commit's tree
//! (no working copy), a local directory or an in-memory map in tests. Paths are relative,
//! `/`-separated and never contain `..`; the empty path is the root.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// No file or directory at the path.
    #[error("{path}: not found")]
    NotFound {
        /// The path.
        path: String,
    },
    /// The path would leave the tree (`..`, an absolute path or a symlink pointing outside).
    #[error("{path}: outside the source tree")]
    OutsideTree {
        /// The path.
        path: String,
    },
    /// The underlying storage failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirEntry {
    /// The entry's name (no `/`).
    pub name: String,
    /// True for a directory.
    pub is_dir: bool,
}

/// A read-only snapshot of files.
pub trait SourceTree {
    /// The bytes of the file at `path`.
    fn read_file(&self, path: &str) -> Result<Vec<u8>, TreeError>;
    /// The entries of the directory at `path`, sorted by name.
    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, TreeError>;
    /// True when `path` is a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// True when `path` is a file.
    fn is_file(&self, path: &str) -> bool;
}

/// Joins two tree paths (`""` is the root).
pub fn join(dir: &str, name: &str) -> String {
    if name.is_empty() {
        dir.to_string()
    } else if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Normalises a user-given path (`./a//b/`, `/a`) to tree form; `None` when it contains `..`.
pub fn normalize(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// A directory on the local file system.
#[derive(Clone, Debug)]
pub struct LocalTree {
    root: PathBuf,
}

impl LocalTree {
    /// A tree rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalTree { root: root.into() }
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, TreeError> {
        let outside = || TreeError::OutsideTree {
            path: path.to_string(),
        };
        let rel = Path::new(path);
        if rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(outside());
        }
        let full = self.root.join(rel);
        // Symlinks must stay inside the tree, as Argo CD requires by default.
        if let (Ok(real), Ok(root)) = (full.canonicalize(), self.root.canonicalize())
            && !real.starts_with(&root)
        {
            return Err(outside());
        }
        Ok(full)
    }

    fn io_error(path: &str, source: io::Error) -> TreeError {
        if source.kind() == io::ErrorKind::NotFound {
            TreeError::NotFound {
                path: path.to_string(),
            }
        } else {
            TreeError::Io {
                path: path.to_string(),
                source,
            }
        }
    }
}

impl SourceTree for LocalTree {
    fn read_file(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        std::fs::read(self.resolve(path)?).map_err(|e| Self::io_error(path, e))
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, TreeError> {
        let dir = self.resolve(path)?;
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Self::io_error(path, e))? {
            let entry = entry.map_err(|e| Self::io_error(path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // `metadata` follows symlinks, so a link to a directory lists as one.
            let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            out.push(DirEntry { name, is_dir });
        }
        out.sort();
        Ok(out)
    }

    fn is_dir(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|p| p.is_dir())
    }

    fn is_file(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|p| p.is_file())
    }
}

/// An in-memory tree (tests, generated sources): file path → bytes.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file (directories are implied by paths).
    pub fn with_file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.files.insert(path.to_string(), content.into());
        self
    }
}

impl SourceTree for MemoryTree {
    fn read_file(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        self.files.get(path).cloned().ok_or(TreeError::NotFound {
            path: path.to_string(),
        })
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, TreeError> {
        if !self.is_dir(path) {
            return Err(TreeError::NotFound {
                path: path.to_string(),
            });
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut out: Vec<DirEntry> = Vec::new();
        for file in self.files.keys() {
            let Some(rest) = file.strip_prefix(&prefix) else {
                continue;
            };
            let entry = match rest.split_once('/') {
                Some((dir, _)) => DirEntry {
                    name: dir.to_string(),
                    is_dir: true,
                },
                None => DirEntry {
                    name: rest.to_string(),
                    is_dir: false,
                },
            };
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
        out.sort();
        Ok(out)
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty()
            || self
                .files
                .keys()
                .any(|f| f.strip_prefix(path).is_some_and(|r| r.starts_with('/')))
    }

    fn is_file(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_parent_dirs() {
        assert_eq!(normalize("./k8s//base/").as_deref(), Some("k8s/base"));
        assert_eq!(normalize("/").as_deref(), Some(""));
        assert_eq!(normalize("k8s/../secrets"), None);
    }

    #[test]
    fn memory_tree_lists_files_and_implied_dirs() {
        let t = MemoryTree::new()
            .with_file("app/a.yaml", "x")
            .with_file("app/sub/b.yaml", "y");
        let names: Vec<(String, bool)> = t
            .list_dir("app")
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.is_dir))
            .collect();
        assert_eq!(names, [("a.yaml".into(), false), ("sub".into(), true)]);
        assert!(t.is_dir("app/sub") && !t.is_dir("app/a.yaml") && !t.is_dir("ap"));
        assert!(matches!(
            t.list_dir("nope"),
            Err(TreeError::NotFound { .. })
        ));
    }

    #[test]
    fn local_tree_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/a.yaml"), "x").unwrap();
        let t = LocalTree::new(dir.path().join("app"));
        assert_eq!(t.read_file("a.yaml").unwrap(), b"x");
        assert!(matches!(
            t.read_file("../app/a.yaml"),
            Err(TreeError::OutsideTree { .. })
        ));
        assert!(matches!(
            t.read_file("b.yaml"),
            Err(TreeError::NotFound { .. })
        ));
        #[cfg(unix)]
        {
            std::fs::write(dir.path().join("secret"), "s").unwrap();
            std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("app/link"))
                .unwrap();
            assert!(matches!(
                t.read_file("link"),
                Err(TreeError::OutsideTree { .. })
            ));
        }
    }
}
