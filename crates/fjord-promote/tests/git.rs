//! Promotions against real bare repositories (through the system git): the change is committed
//! and pushed, a no-op commits nothing, and a push that lost a race is rebased and retried.

use std::path::Path;
use std::process::Command;

use fjord_promote::{Author, Checkout, ImageSet, Promotion};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=T", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare repository holding the bundled example, and its path.
fn bare_repo(tmp: &Path) -> String {
    let work = tmp.join("seed");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let example = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/infra-config"
    ));
    copy_dir(example, &work);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "seed"]);
    let bare = tmp.join("infra-config.git");
    git(
        tmp,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    bare.to_str().unwrap().to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn promotion(tag: &str) -> Promotion {
    Promotion {
        path: "k8s/overlays/production".into(),
        images: vec![
            ImageSet::parse(&format!(
                "ghcr.io/my-org/payment-gateway=ghcr.io/my-org/payment-gateway:{tag}"
            ))
            .unwrap(),
        ],
        helm_values: None,
    }
}

fn author() -> Author {
    Author::parse("CI Bot <ci@example.com>").unwrap()
}

#[test]
fn a_promotion_is_committed_and_pushed_and_a_no_op_commits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path());
    let checkout = Checkout::clone(&bare, Some("main")).unwrap();
    let p = promotion("1.5.0");
    assert!(fjord_promote::apply(checkout.path(), &p).unwrap());
    let sha = checkout
        .commit(&fjord_promote::commit_message(&p), &author())
        .unwrap()
        .unwrap();
    assert_eq!(checkout.push(&author(), |_| {}).unwrap(), sha);

    let log = git(
        Path::new(&bare),
        &["log", "--format=%an <%ae>|%s", "-n", "1", "main"],
    );
    assert_eq!(
        log.trim(),
        "CI Bot <ci@example.com>|Set image ghcr.io/my-org/payment-gateway to ghcr.io/my-org/payment-gateway:1.5.0 in k8s/overlays/production"
    );
    let file = git(
        Path::new(&bare),
        &["show", "main:k8s/overlays/production/kustomization.yaml"],
    );
    assert!(file.contains("  newTag: 1.5.0\n"), "{file}");
    assert!(
        file.contains("  behavior: merge\n"),
        "the rest of the file is kept: {file}"
    );

    let again = Checkout::clone(&bare, Some("main")).unwrap();
    assert!(
        !fjord_promote::apply(again.path(), &p).unwrap(),
        "the same tag changes nothing"
    );
    assert!(
        again.commit("x", &author()).unwrap().is_none(),
        "and nothing is committed"
    );
    let count = git(Path::new(&bare), &["rev-list", "--count", "main"]);
    assert_eq!(count.trim(), "2");
}

#[test]
fn a_push_that_lost_a_race_is_rebased_and_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path());
    let checkout = Checkout::clone(&bare, Some("main")).unwrap();
    let p = promotion("2.0.0");
    fjord_promote::apply(checkout.path(), &p).unwrap();
    checkout
        .commit(&fjord_promote::commit_message(&p), &author())
        .unwrap();
    // Someone else pushes an unrelated change first.
    let other = tmp.path().join("other");
    git(tmp.path(), &["clone", "-q", &bare, other.to_str().unwrap()]);
    std::fs::write(other.join("README.md"), "docs\n").unwrap();
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-q", "-m", "docs"]);
    let mut attempts = Vec::new();
    checkout
        .push(&author(), |n| {
            attempts.push(n);
            if n == 0 {
                git(&other, &["push", "-q", "origin", "main"]);
            }
        })
        .unwrap();
    assert_eq!(
        attempts,
        vec![0, 1],
        "the first push is refused, the second goes through"
    );
    let subjects = git(Path::new(&bare), &["log", "--format=%s", "main"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects.len(), 3);
    assert!(subjects[0].starts_with("Set image"), "{subjects:?}");
    assert_eq!(subjects[1], "docs");
}

#[test]
fn helm_values_follow_the_image_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = bare_repo(tmp.path());
    let checkout = Checkout::clone(&bare, None).unwrap();
    std::fs::write(
        checkout.path().join("values.yaml"),
        "# chart values\nimage:\n  repository: app\n  tag: \"1.0\" # set by CI\n",
    )
    .unwrap();
    let p = Promotion {
        helm_values: Some(("values.yaml".into(), "image.tag".into())),
        ..promotion("1.1")
    };
    fjord_promote::apply(checkout.path(), &p).unwrap();
    let values = std::fs::read_to_string(checkout.path().join("values.yaml")).unwrap();
    assert_eq!(
        values,
        "# chart values\nimage:\n  repository: app\n  tag: \"1.1\" # set by CI\n"
    );
}
