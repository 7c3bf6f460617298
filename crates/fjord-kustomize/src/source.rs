//! Where files come from. The build reads only through [`FileSource`], so the engine can render
//! from a Git tree in memory and tests from a map; [`DiskSource`] reads the local file system.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Read-only access to a tree of files.
pub trait FileSource {
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// The entries of a directory (full paths), in any order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// The absolute path with every symlink resolved; fails when nothing is there.
    fn canonical(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The local file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskSource;

impl FileSource for DiskSource {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }
    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

/// An in-memory tree: file path to content. Directories are implied by the files' paths.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemorySource {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds (or replaces) a file; `path` should be absolute, e.g. `/app/kustomization.yaml`.
    pub fn insert(&mut self, path: impl Into<PathBuf>, content: impl Into<Vec<u8>>) {
        self.files.insert(normalize(&path.into()), content.into());
    }
}

impl FileSource for MemorySource {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))
    }
    fn is_dir(&self, path: &Path) -> bool {
        let p = normalize(path);
        self.files.keys().any(|k| k.starts_with(&p) && *k != p)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let p = normalize(path);
        let mut out: Vec<PathBuf> = Vec::new();
        for k in self.files.keys() {
            if let Ok(rest) = k.strip_prefix(&p)
                && let Some(first) = rest.components().next()
            {
                let child = p.join(first);
                if !out.contains(&child) {
                    out.push(child);
                }
            }
        }
        Ok(out)
    }
    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        let p = normalize(path);
        if self.is_file(&p) || self.is_dir(&p) {
            Ok(p)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such file or directory",
            ))
        }
    }
}

/// Lexically removes `.` and `..` components.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
