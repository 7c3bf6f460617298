//! `GitTree`: a [`SourceTree`] over one commit's tree in a bare clone, without a working
//! copy. The listing is read once (`git ls-tree -r -t`); file contents are read on demand
//! (`git cat-file blob`). Symbolic links are followed only when they stay inside the tree;
//! submodules are listed as empty directories.

use crate::render::{DirEntry, SourceTree, TreeError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Symlink,
    Dir,
}

#[derive(Clone, Debug)]
struct Entry {
    kind: Kind,
    oid: String,
}

/// The files of one commit.
#[derive(Clone, Debug)]
pub struct GitTree {
    git_dir: PathBuf,
    commit: String,
    entries: BTreeMap<String, Entry>,
}

impl GitTree {
    /// Builds the tree from `git ls-tree -r -t -z` output.
    pub(crate) fn from_ls_tree(git_dir: PathBuf, commit: &str, listing: &[u8]) -> Self {
        let mut entries = BTreeMap::new();
        for record in listing.split(|b| *b == 0) {
            let text = String::from_utf8_lossy(record);
            let Some((meta, path)) = text.split_once('\t') else {
                continue;
            };
            let mut parts = meta.split(' ');
            let (Some(mode), Some(ty), Some(oid)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let kind = match (ty, mode) {
                ("tree", _) | ("commit", _) => Kind::Dir,
                ("blob", "120000") => Kind::Symlink,
                ("blob", _) => Kind::File,
                _ => continue,
            };
            entries.insert(
                path.to_string(),
                Entry {
                    kind,
                    oid: oid.to_string(),
                },
            );
        }
        GitTree {
            git_dir,
            commit: commit.to_string(),
            entries,
        }
    }

    /// The commit this tree belongs to.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    fn blob(&self, path: &str, oid: &str) -> Result<Vec<u8>, TreeError> {
        let out = Command::new("git")
            .args(["cat-file", "blob", oid])
            .env("GIT_DIR", &self.git_dir)
            .output()
            .map_err(|source| TreeError::Io {
                path: path.to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(TreeError::Io {
                path: path.to_string(),
                source: std::io::Error::other(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ),
            });
        }
        Ok(out.stdout)
    }

    /// Follows symlinks (up to 8 hops) while they stay inside the tree.
    fn resolve<'a>(&'a self, path: &str) -> Result<(String, &'a Entry), TreeError> {
        let mut current = path.to_string();
        for _ in 0..8 {
            let entry = self
                .entries
                .get(&current)
                .ok_or_else(|| TreeError::NotFound {
                    path: path.to_string(),
                })?;
            if entry.kind != Kind::Symlink {
                return Ok((current, entry));
            }
            let target = String::from_utf8_lossy(&self.blob(&current, &entry.oid)?).into_owned();
            let base = current.rsplit_once('/').map_or("", |(d, _)| d);
            let joined = if target.starts_with('/') {
                return Err(TreeError::OutsideTree {
                    path: path.to_string(),
                });
            } else {
                format!("{base}/{target}")
            };
            current = normalize_inside(&joined).ok_or_else(|| TreeError::OutsideTree {
                path: path.to_string(),
            })?;
        }
        Err(TreeError::OutsideTree {
            path: path.to_string(),
        })
    }
}

/// Resolves `.` and `..`; `None` when the path climbs above the root.
fn normalize_inside(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

impl SourceTree for GitTree {
    fn read_file(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        let (real, entry) = self.resolve(path)?;
        if entry.kind == Kind::Dir {
            return Err(TreeError::NotFound {
                path: path.to_string(),
            });
        }
        self.blob(&real, &entry.oid)
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
        let mut out = Vec::new();
        for name in self.entries.keys().filter_map(|k| k.strip_prefix(&prefix)) {
            if name.is_empty() || name.contains('/') {
                continue;
            }
            let full = format!("{prefix}{name}");
            out.push(DirEntry {
                name: name.to_string(),
                is_dir: self.is_dir(&full),
            });
        }
        out.sort();
        Ok(out)
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.resolve(path).is_ok_and(|(_, e)| e.kind == Kind::Dir)
    }

    fn is_file(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|(_, e)| e.kind != Kind::Dir)
    }
}
