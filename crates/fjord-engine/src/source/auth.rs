//! How a `git` child process authenticates, without secrets on its command line.
//!
//! * SSH: `GIT_SSH_COMMAND` runs the system `ssh` (so `~/.ssh/config` applies, as with
//!   git) in batch mode with `StrictHostKeyChecking=yes`: an unknown host key fails the
//!   fetch (no trust on first use). Known hosts come from the Argo CD ConfigMap when given,
//!   else from the user's files. A private key is written to a 0600 file in a 0700
//!   directory. `insecure` turns host-key checking off, as Argo CD's flag does.
//! * HTTPS: the user name and password/token go in an `Authorization: Basic` header passed
//!   through `GIT_CONFIG_*` environment variables (readable only by the same user), never
//!   in argv or the URL. `insecure` skips certificate verification.
//! * Always: no terminal prompts, and low-speed limits so a stalled server fails instead
//!   of hanging the controller.

use super::credentials::RepoCredentials;
use base64::Engine;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Authentication material for one repository.
#[derive(Clone, Debug, Default)]
pub struct GitAuth {
    /// Credentials from the repository Secrets.
    pub credentials: Option<RepoCredentials>,
    /// Known-hosts text (from `argocd-ssh-known-hosts-cm`).
    pub known_hosts: Option<String>,
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    // ssh refuses keys without a trailing newline.
    if !content.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> io::Result<()> {
    std::fs::write(path, content)
}

fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The `GIT_SSH_COMMAND` for `auth`, writing key and known-hosts files under `auth_dir`.
pub(crate) fn ssh_command(auth: &GitAuth, auth_dir: &Path) -> io::Result<String> {
    let mut cmd = String::from(
        "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
    );
    let insecure = auth.credentials.as_ref().is_some_and(|c| c.insecure);
    if insecure {
        cmd.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
    } else {
        cmd.push_str(" -o StrictHostKeyChecking=yes");
        if let Some(kh) = &auth.known_hosts {
            private_dir(auth_dir)?;
            let path: PathBuf = auth_dir.join("known_hosts");
            write_private(&path, kh)?;
            cmd.push_str(&format!(" -o UserKnownHostsFile={}", shell_quote(&path)));
        }
    }
    if let Some(key) = auth
        .credentials
        .as_ref()
        .and_then(|c| c.ssh_private_key.as_deref())
    {
        private_dir(auth_dir)?;
        let path = auth_dir.join("id");
        write_private(&path, key)?;
        cmd.push_str(&format!(" -o IdentitiesOnly=yes -i {}", shell_quote(&path)));
    }
    Ok(cmd)
}

/// Configures `cmd` (a `git` command) to authenticate with `auth`.
pub(crate) fn configure(cmd: &mut Command, auth: &GitAuth, auth_dir: &Path) -> io::Result<()> {
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
        .env("GIT_HTTP_LOW_SPEED_TIME", "60")
        .env("GIT_SSH_COMMAND", ssh_command(auth, auth_dir)?);
    let mut config: Vec<(&str, String)> = vec![("credential.helper", String::new())];
    if let Some(c) = &auth.credentials {
        if let Some(password) = &c.password {
            let user = c.username.as_deref().unwrap_or("git");
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            config.push(("http.extraHeader", format!("Authorization: Basic {token}")));
        }
        if c.insecure {
            cmd.env("GIT_SSL_NO_VERIFY", "true");
        }
    }
    cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
    for (i, (k, v)) in config.into_iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), k);
        cmd.env(format!("GIT_CONFIG_VALUE_{i}"), v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(key: Option<&str>, insecure: bool) -> RepoCredentials {
        RepoCredentials {
            url: "git@h:r".into(),
            ssh_private_key: key.map(String::from),
            insecure,
            ..Default::default()
        }
    }

    #[test]
    fn ssh_is_strict_by_default_and_uses_given_known_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let auth_dir = dir.path().join("a b");
        let auth = GitAuth {
            credentials: Some(creds(Some("KEY"), false)),
            known_hosts: Some("github.com ssh-ed25519 AAAA".into()),
        };
        let cmd = ssh_command(&auth, &auth_dir).unwrap();
        assert!(cmd.contains("-o StrictHostKeyChecking=yes"), "{cmd}");
        assert!(
            cmd.contains(&format!(
                "-o UserKnownHostsFile='{}/known_hosts'",
                auth_dir.display()
            )),
            "{cmd}"
        );
        assert!(
            cmd.contains(&format!("-i '{}/id'", auth_dir.display())),
            "{cmd}"
        );
        assert!(!cmd.contains("KEY"));
        assert_eq!(
            std::fs::read_to_string(auth_dir.join("id")).unwrap(),
            "KEY\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(auth_dir.join("id"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// The command really parses as ssh options (quoting, paths with spaces): `ssh -G`
    /// prints the configuration it would use without connecting.
    #[test]
    fn ssh_accepts_the_generated_command() {
        let dir = tempfile::tempdir().unwrap();
        let auth_dir = dir.path().join("with space");
        let auth = GitAuth {
            credentials: Some(creds(Some("KEY"), false)),
            known_hosts: Some("github.com ssh-ed25519 AAAA".into()),
        };
        let cmd = ssh_command(&auth, &auth_dir).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} -G github.com"))
            .output()
            .expect("sh and ssh must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            config.contains("stricthostkeychecking true")
                || config.contains("stricthostkeychecking yes"),
            "{config}"
        );
        assert!(config.contains("batchmode yes"), "{config}");
        let kh = format!("userknownhostsfile {}/known_hosts", auth_dir.display()).to_lowercase();
        assert!(config.contains(&kh), "{config}");
        assert!(config.contains("identitiesonly yes"), "{config}");
    }

    #[test]
    fn insecure_turns_host_key_checking_off() {
        let dir = tempfile::tempdir().unwrap();
        let auth = GitAuth {
            credentials: Some(creds(None, true)),
            known_hosts: None,
        };
        let cmd = ssh_command(&auth, dir.path()).unwrap();
        assert!(
            cmd.contains("StrictHostKeyChecking=no")
                && cmd.contains("UserKnownHostsFile=/dev/null")
        );
        let plain = ssh_command(&GitAuth::default(), dir.path()).unwrap();
        assert!(
            plain.contains("StrictHostKeyChecking=yes") && !plain.contains("UserKnownHostsFile")
        );
    }

    #[test]
    fn https_credentials_go_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let auth = GitAuth {
            credentials: Some(RepoCredentials {
                url: "https://h/r".into(),
                username: Some("bot".into()),
                password: Some("tok".into()),
                ..Default::default()
            }),
            known_hosts: None,
        };
        let mut cmd = Command::new("git");
        configure(&mut cmd, &auth, dir.path()).unwrap();
        let envs: Vec<(String, String)> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.unwrap_or_default().to_string_lossy().into_owned(),
                )
            })
            .collect();
        let get = |k: &str| envs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("GIT_CONFIG_KEY_1"), Some("http.extraHeader"));
        // base64("bot:tok")
        assert_eq!(
            get("GIT_CONFIG_VALUE_1"),
            Some("Authorization: Basic Ym90OnRvaw==")
        );
        assert_eq!(get("GIT_TERMINAL_PROMPT"), Some("0"));
        assert_eq!(cmd.get_args().count(), 0);
    }
}
