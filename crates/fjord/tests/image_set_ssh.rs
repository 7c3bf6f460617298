//! `fjord image set` against a real bare repository over SSH (OpenSSH's sshd on loopback), named
//! the way CI names it: `git@github.com:my-org/infra-config.git`.

use std::path::Path;
use std::process::Command;

use fjord_e2e::ssh::GitSshServer;

fn git(dir: &Path, ssh: &str, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Seed",
            "-c",
            "user.email=seed@example.com",
            "-c",
            "safe.directory=*",
        ])
        .args(args)
        .env("GIT_SSH_COMMAND", ssh)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "e2e: starts sshd"]
fn image_set_pushes_over_ssh_and_a_rerun_commits_nothing() {
    let server = GitSshServer::start().unwrap();
    let ssh = server.git_ssh_command();
    let bare = server.bare_repo("my-org/infra-config.git").unwrap();
    let url = "git@github.com:my-org/infra-config.git";
    // Seed the repository over SSH with the bundled example.
    let seed = tempfile::tempdir().unwrap();
    let example = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/infra-config"
    ));
    let status = Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", example.display()))
        .arg(seed.path())
        .status()
        .unwrap();
    assert!(status.success());
    git(seed.path(), &ssh, &["init", "-q", "-b", "main"]);
    git(seed.path(), &ssh, &["add", "-A"]);
    git(seed.path(), &ssh, &["commit", "-q", "-m", "seed"]);
    git(seed.path(), &ssh, &["push", "-q", url, "main"]);

    let run = || {
        Command::new(env!("CARGO_BIN_EXE_fjord"))
            .args([
                "image",
                "set",
                "--repo",
                url,
                "--branch",
                "main",
                "--path",
                "k8s/overlays/production",
            ])
            .args(["--author", "CI <ci@example.com>"])
            .arg("ghcr.io/my-org/payment-gateway=ghcr.io/my-org/payment-gateway:2.0.1")
            .env("GIT_SSH_COMMAND", &ssh)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pushed "));
    let file = git(
        &bare,
        &ssh,
        &["show", "main:k8s/overlays/production/kustomization.yaml"],
    );
    assert!(file.contains("newTag: 2.0.1"), "{file}");
    let author = git(&bare, &ssh, &["log", "-1", "--format=%an <%ae>", "main"]);
    assert_eq!(author.trim(), "CI <ci@example.com>");

    let again = run();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("nothing to change"));
    assert_eq!(
        git(&bare, &ssh, &["rev-list", "--count", "main"]).trim(),
        "2",
        "a rerun commits nothing"
    );
}
