//! `GitTree`: a [`SourceTree`] over one commit's tree in a bare clone, without a working
//! copy. The listing is read once (`git ls-tree -r -t`); file contents are read on demand
//! through one long-lived `git cat-file --batch` process per tree (a process per file costs
//! milliseconds each). Symbolic links are followed only when they stay inside the tree;
//! submodules are listed as empty directories.

use crate::render::{DirEntry, SourceTree, TreeError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

/// A running `git cat-file --batch`.
#[derive(Debug)]
struct Batch {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Batch {
    fn start(git_dir: &PathBuf) -> std::io::Result<Batch> {
        let mut child = Command::new("git")
            .args(["cat-file", "--batch"])
            .env("GIT_DIR", git_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(std::io::Error::other("git cat-file: no pipes"));
        };
        Ok(Batch {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    /// Reads one blob: request `<oid>`, answer `<oid> <type> <size>` + content + newline.
    fn read(&mut self, oid: &str) -> std::io::Result<Vec<u8>> {
        writeln!(self.stdin, "{oid}")?;
        self.stdin.flush()?;
        let mut header = String::new();
        self.stdout.read_line(&mut header)?;
        let mut parts = header.split_whitespace();
        let (_, ty, size) = (parts.next(), parts.next(), parts.next());
        if ty != Some("blob") {
            return Err(std::io::Error::other(format!(
                "object {oid}: {}",
                header.trim()
            )));
        }
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad header {:?}", header.trim())))?;
        let mut content = vec![0; size];
        self.stdout.read_exact(&mut content)?;
        let mut newline = [0u8; 1];
        self.stdout.read_exact(&mut newline)?;
        Ok(content)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    batch: Arc<Mutex<Option<Batch>>>,
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
            batch: Arc::new(Mutex::new(None)),
        }
    }

    /// The commit this tree belongs to.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    fn blob(&self, path: &str, oid: &str) -> Result<Vec<u8>, TreeError> {
        let io = |source: std::io::Error| TreeError::Io {
            path: path.to_string(),
            source,
        };
        let mut guard = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some(Batch::start(&self.git_dir).map_err(io)?);
        }
        let result = match guard.as_mut() {
            Some(batch) => batch.read(oid),
            None => Err(std::io::Error::other("git cat-file not running")),
        };
        if result.is_err() {
            // The stream may be out of step: start afresh next time.
            *guard = None;
        }
        result.map_err(io)
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
