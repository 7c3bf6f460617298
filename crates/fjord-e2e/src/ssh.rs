//! A real Git server over SSH for tests: OpenSSH's `sshd` on a loopback port with generated host and
//! client keys, serving bare repositories from a temporary directory, and an SSH client
//! configuration that maps any host name (`github.com` included) to it — so manifests that name
//! `git@github.com:my-org/infra-config.git` are used verbatim. The system user `git` (created by
//! scripts/install-test-deps) logs in with the generated key, and a forced command serves paths
//! relative to this server's repository root through `git-shell`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd and the files a client needs.
pub struct GitSshServer {
    child: Child,
    dir: tempfile::TempDir,
    /// The port sshd listens on (127.0.0.1).
    pub port: u16,
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl GitSshServer {
    /// Starts sshd. Needs Debian's `openssh-server` (installed by scripts/install-test-deps).
    pub fn start() -> anyhow::Result<GitSshServer> {
        if !Path::new(SSHD).exists() {
            bail!(
                "{SSHD} is missing: install Debian's openssh-server (scripts/install-test-deps does)"
            );
        }
        let dir = tempfile::tempdir().context("temporary directory")?;
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key)))?;
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))?;
        std::fs::create_dir_all(d.join("repos"))?;
        // The `git` user must reach the repositories.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
        std::fs::write(
            d.join("git-serve"),
            format!(
                "#!/bin/sh\ncd {} || exit 1\nexec git-shell -c \"$SSH_ORIGINAL_COMMAND\"\n",
                d.join("repos").display()
            ),
        )?;
        std::fs::set_permissions(d.join("git-serve"), std::fs::Permissions::from_mode(0o755))?;
        run(Command::new("chown")
            .arg("-R")
            .arg("git")
            .arg(d.join("repos")))
        .context("the system user `git` is needed (scripts/install-test-deps creates it)")?;
        // sshd refuses to run without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user} git\nLogLevel ERROR\n\
                 Match User git\n  ForceCommand {serve}\n",
                hk = d.join("host_key").display(),
                pid = d.join("sshd.pid").display(),
                ak = d.join("authorized_keys").display(),
                serve = d.join("git-serve").display(),
            ),
        )?;
        let host_pub = std::fs::read_to_string(d.join("host_key.pub"))?;
        // Any host name resolves to this server with this host key: known_hosts uses a wildcard.
        std::fs::write(d.join("known_hosts"), format!("* {host_pub}"))?;
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {id}\n  IdentitiesOnly yes\n\
                 UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
                id = d.join("client_key").display(),
                kh = d.join("known_hosts").display(),
            ),
        )?;
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sshd")?;
        let server = GitSshServer { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("sshd did not start listening on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The client's private key (OpenSSH format), as an Argo CD repository Secret holds it.
    pub fn client_private_key(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.dir.path().join("client_key"))?)
    }

    /// The server's public host key (`ssh-ed25519 AAAA...`), for a known-hosts line.
    pub fn host_public_key(&self) -> anyhow::Result<String> {
        let text = std::fs::read_to_string(self.dir.path().join("host_key.pub"))?;
        Ok(text
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "))
    }

    /// The SSH client configuration file (`ssh -F`).
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// `GIT_SSH_COMMAND` for git to reach this server under any host name.
    pub fn git_ssh_command(&self) -> String {
        format!("ssh -F {}", self.ssh_config().display())
    }

    /// Creates an empty bare repository `name` (e.g. `my-org/infra-config.git`), reachable as
    /// `git@<any host>:<name>`; returns its path on disk.
    pub fn bare_repo(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join("repos").join(name);
        run(Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&path))?;
        run(Command::new("chown")
            .arg("-R")
            .arg("git")
            .arg(self.dir.path().join("repos")))?;
        Ok(path)
    }
}

impl Drop for GitSshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
