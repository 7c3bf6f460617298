//! A promotion over SSH that loses a push race to another writer is rebased over their commit and
//! pushed (the library `fjord image set` runs on, against sshd on loopback).
//!
//! One test in this file on purpose: it sets GIT_SSH_COMMAND for the whole process.

use std::path::Path;
use std::process::Command;

use fjord_e2e::ssh::GitSshServer;
use fjord_promote::{Author, Checkout, ImageSet, Promotion};

const URL: &str = "git@github.com:my-org/infra-config.git";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Other",
            "-c",
            "user.email=other@example.com",
            "-c",
            "safe.directory=*",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "e2e: starts sshd"]
fn a_lost_push_race_over_ssh_is_rebased_and_retried() {
    let server = GitSshServer::start().unwrap();
    // SAFETY: the only test in this binary; set before any thread or git process starts.
    unsafe { std::env::set_var("GIT_SSH_COMMAND", server.git_ssh_command()) };
    let bare = server.bare_repo("my-org/infra-config.git").unwrap();
    let seed = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/infra-config/.");
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(example)
            .arg(seed.path())
            .status()
            .unwrap()
            .success()
    );
    git(seed.path(), &["init", "-q", "-b", "main"]);
    git(seed.path(), &["add", "-A"]);
    git(seed.path(), &["commit", "-q", "-m", "seed"]);
    git(seed.path(), &["push", "-q", URL, "main"]);

    let checkout = Checkout::clone(URL, Some("main")).unwrap();
    let promotion = Promotion {
        path: "k8s/overlays/production".into(),
        images: vec![
            ImageSet::parse("ghcr.io/my-org/payment-gateway=ghcr.io/my-org/payment-gateway:3.0.0")
                .unwrap(),
        ],
        helm_values: None,
    };
    assert!(fjord_promote::apply(checkout.path(), &promotion).unwrap());
    let author = Author::parse("CI <ci@example.com>").unwrap();
    checkout
        .commit(&fjord_promote::commit_message(&promotion), &author)
        .unwrap()
        .unwrap();
    // Another writer pushes first.
    std::fs::write(
        seed.path().join("README.md"),
        "owned by the platform team\n",
    )
    .unwrap();
    git(seed.path(), &["add", "-A"]);
    git(seed.path(), &["commit", "-q", "-m", "docs"]);
    let mut attempts = 0;
    checkout
        .push(&author, |n| {
            attempts = n + 1;
            if n == 0 {
                git(seed.path(), &["push", "-q", URL, "main"]);
            }
        })
        .unwrap();
    assert_eq!(attempts, 2, "refused once, rebased, then pushed");
    let subjects = git(&bare, &["log", "--format=%s", "main"]);
    assert_eq!(subjects.lines().collect::<Vec<_>>().len(), 3, "{subjects}");
    assert!(subjects.starts_with("Set image"), "{subjects}");
    let file = git(
        &bare,
        &["show", "main:k8s/overlays/production/kustomization.yaml"],
    );
    assert!(file.contains("newTag: 3.0.0"), "{file}");
    let readme = git(&bare, &["show", "main:README.md"]);
    assert_eq!(readme, "owned by the platform team");
}
