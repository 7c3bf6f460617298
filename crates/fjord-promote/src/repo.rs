//! The Git side of a promotion, through the system `git` (so SSH honours `~/.ssh/config`, keys and
//! known hosts exactly as the user's git does): clone the branch, let the caller edit, commit with a
//! clear message and author, push; a push refused as non-fast-forward is retried after rebasing on
//! what was pushed meanwhile. Nothing is committed when nothing changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// A commit author.
#[derive(Debug, Clone)]
pub struct Author {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
}

impl Author {
    /// Parses `Name <email>`.
    pub fn parse(s: &str) -> Result<Author, Error> {
        let bad = || Error::InvalidAuthor {
            author: s.to_string(),
        };
        let (name, rest) = s.split_once('<').ok_or_else(bad)?;
        let email = rest.strip_suffix('>').ok_or_else(bad)?;
        if name.trim().is_empty() || email.trim().is_empty() {
            return Err(bad());
        }
        Ok(Author {
            name: name.trim().to_string(),
            email: email.trim().to_string(),
        })
    }
}

/// How many times a rejected push is rebased and retried.
const PUSH_ATTEMPTS: usize = 5;

/// A clone of the config repository's branch in a temporary directory.
pub struct Checkout {
    dir: tempfile::TempDir,
    branch: String,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| Error::Git {
            command: args.join(" "),
            message: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            command: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Checkout {
    /// Clones `repo` (a URL or a path) at `branch`, or at the remote's default branch when None.
    pub fn clone(repo: &str, branch: Option<&str>) -> Result<Checkout, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Io {
            path: PathBuf::from("<temporary directory>"),
            source: e,
        })?;
        let mut args = vec!["clone", "--quiet", "--single-branch"];
        if let Some(b) = branch {
            args.extend(["--branch", b]);
        }
        args.extend(["--", repo, "."]);
        git(dir.path(), &args)?;
        let branch = match branch {
            Some(b) => b.to_string(),
            None => git(dir.path(), &["rev-parse", "--abbrev-ref", "HEAD"])?
                .trim()
                .to_string(),
        };
        Ok(Checkout { dir, branch })
    }

    /// The working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// Commits everything changed, if anything; returns the new commit's SHA.
    pub fn commit(&self, message: &str, author: &Author) -> Result<Option<String>, Error> {
        if git(self.path(), &["status", "--porcelain"])?
            .trim()
            .is_empty()
        {
            return Ok(None);
        }
        git(self.path(), &["add", "--all"])?;
        let ident = format!("{} <{}>", author.name, author.email);
        git(
            self.path(),
            &[
                "-c",
                &format!("user.name={}", author.name),
                "-c",
                &format!("user.email={}", author.email),
                "commit",
                "--quiet",
                "--author",
                &ident,
                "-m",
                message,
            ],
        )?;
        Ok(Some(
            git(self.path(), &["rev-parse", "HEAD"])?.trim().to_string(),
        ))
    }

    /// Pushes, rebasing on the remote and retrying when the push is refused because someone
    /// pushed first. `before_push` runs before each attempt (tests use it to race a push).
    ///
    /// Errors: a rebase conflict (nothing is pushed) or any other push failure.
    pub fn push(
        &self,
        author: &Author,
        mut before_push: impl FnMut(usize),
    ) -> Result<String, Error> {
        for attempt in 0..PUSH_ATTEMPTS {
            before_push(attempt);
            match git(
                self.path(),
                &[
                    "push",
                    "--quiet",
                    "origin",
                    &format!("HEAD:refs/heads/{}", self.branch),
                ],
            ) {
                Ok(_) => return Ok(git(self.path(), &["rev-parse", "HEAD"])?.trim().to_string()),
                Err(Error::Git { message, .. })
                    if message.contains("non-fast-forward")
                        || message.contains("fetch first")
                        || message.contains("rejected") =>
                {
                    let rebase = git(
                        self.path(),
                        &[
                            "-c",
                            &format!("user.name={}", author.name),
                            "-c",
                            &format!("user.email={}", author.email),
                            "pull",
                            "--quiet",
                            "--rebase",
                            "origin",
                            &self.branch,
                        ],
                    );
                    if let Err(e) = rebase {
                        let _ = git(self.path(), &["rebase", "--abort"]);
                        return Err(Error::RebaseConflict {
                            branch: self.branch.clone(),
                            message: e.to_string(),
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::PushRetriesExhausted {
            branch: self.branch.clone(),
            attempts: PUSH_ATTEMPTS,
        })
    }
}
