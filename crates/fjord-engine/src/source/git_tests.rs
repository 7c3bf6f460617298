//! End-to-end over `file://`: a real repository made with `git`, fetched into the cache,
//! resolved and rendered without a working copy.

use super::*;
use crate::render::{Renderers, SourceTree};
use crate::source::credentials::RepoCredentials;
use crate::types::ApplicationSource;
use std::path::Path;

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git must be installed for these tests");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

struct Fixture {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    cache: PathBuf,
    first: String,
    second: String,
    feature: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    run(&src, &["init", "--quiet", "-b", "main"]);
    write(&src, "k8s/overlays/production/a.yaml", &cm("a"));
    write(&src, "k8s/overlays/production/sub/b.yaml", &cm("b"));
    write(&src, "README.md", "hi");
    run(&src, &["add", "."]);
    run(&src, &["commit", "--quiet", "-m", "one"]);
    let first = run(&src, &["rev-parse", "HEAD"]);
    run(&src, &["tag", "-a", "v1", "-m", "release"]);
    write(&src, "k8s/overlays/production/c.yaml", &cm("c"));
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("a.yaml", src.join("k8s/overlays/production/link.yml")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", src.join("k8s/escape.yaml")).unwrap();
    }
    run(&src, &["add", "."]);
    run(&src, &["commit", "--quiet", "-m", "two"]);
    let second = run(&src, &["rev-parse", "HEAD"]);
    run(&src, &["checkout", "--quiet", "-b", "feature"]);
    write(&src, "k8s/overlays/production/d.yaml", &cm("d"));
    run(&src, &["add", "."]);
    run(&src, &["commit", "--quiet", "-m", "three"]);
    let feature = run(&src, &["rev-parse", "HEAD"]);
    run(&src, &["checkout", "--quiet", "main"]);
    let cache = tmp.path().join("cache");
    Fixture {
        src,
        cache,
        first,
        second,
        feature,
        _tmp: tmp,
    }
}

fn url(f: &Fixture) -> String {
    format!("file://{}", f.src.display())
}

#[test]
fn applications_of_one_repository_may_start_at_once() {
    // A fleet's first reconciles all reach the empty cache together; each must find a usable
    // clone, not race `git init` into the same directory.
    let f = fixture();
    let repo = std::sync::Arc::new(GitRepo::new(&f.cache, &url(&f), GitAuth::default()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let repo = repo.clone();
            std::thread::spawn(move || repo.ls_remote().map(|r| r.head))
        })
        .collect();
    for t in threads {
        let head = t
            .join()
            .unwrap()
            .expect("every concurrent first use succeeds");
        assert_eq!(head.as_deref(), Some(f.second.as_str()));
    }
}

#[test]
fn ls_remote_resolves_head_branches_tags_and_shas() {
    let f = fixture();
    let repo = GitRepo::new(&f.cache, &url(&f), GitAuth::default());
    let refs = repo.ls_remote().unwrap();
    assert_eq!(refs.head.as_deref(), Some(f.second.as_str()));
    assert_eq!(repo.resolve(&refs, "HEAD").unwrap(), f.second);
    assert_eq!(repo.resolve(&refs, "").unwrap(), f.second);
    assert_eq!(repo.resolve(&refs, "main").unwrap(), f.second);
    assert_eq!(repo.resolve(&refs, "feature").unwrap(), f.feature);
    assert_eq!(
        repo.resolve(&refs, "refs/heads/feature").unwrap(),
        f.feature
    );
    // Annotated tags resolve to the commit, not the tag object.
    assert_eq!(repo.resolve(&refs, "v1").unwrap(), f.first);
    assert_eq!(repo.resolve(&refs, &f.first).unwrap(), f.first);
    assert!(matches!(
        repo.resolve(&refs, "nope"),
        Err(GitError::RevisionNotFound { .. })
    ));
    // Short SHAs need the objects.
    assert!(repo.resolve(&refs, &f.first[..8]).is_err());
    repo.fetch(&[]).unwrap();
    assert_eq!(repo.resolve(&refs, &f.first[..8]).unwrap(), f.first);
}

#[test]
fn fetch_then_render_a_commit_without_a_working_copy() {
    let f = fixture();
    let repo = GitRepo::new(&f.cache, &url(&f), GitAuth::default());
    assert!(!repo.has_commit(&f.second));
    repo.fetch(&[]).unwrap();
    assert!(repo.has_commit(&f.second) && repo.has_commit(&f.feature));
    let tree = repo.tree(&f.second).unwrap();
    assert_eq!(tree.commit(), f.second);
    assert!(tree.is_dir("k8s/overlays/production") && tree.is_file("README.md"));
    assert_eq!(tree.read_file("README.md").unwrap(), b"hi");
    let source = ApplicationSource {
        repo_url: url(&f),
        path: Some("k8s/overlays/production".into()),
        directory: Some(Box::new(crate::types::DirectorySource {
            recurse: Some(true),
            ..Default::default()
        })),
        ..Default::default()
    };
    let (_, rendered) = Renderers::default().render(&tree, &source).unwrap();
    let names: Vec<&str> = rendered
        .objects
        .iter()
        .map(|o| o.key.name.as_str())
        .collect();
    #[cfg(unix)]
    assert_eq!(names, ["a", "c", "a", "b"]); // link.yml → a.yaml
    #[cfg(not(unix))]
    assert_eq!(names, ["a", "c", "b"]);
    // The older commit's tree is still readable from the same clone.
    let old = repo.tree(&f.first).unwrap();
    assert!(!old.is_file("k8s/overlays/production/c.yaml"));
    // No working copy was made.
    assert!(
        !f.cache
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().path().join("k8s").exists())
    );
}

#[cfg(unix)]
#[test]
fn symlinks_leaving_the_tree_are_refused() {
    let f = fixture();
    let repo = GitRepo::new(&f.cache, &url(&f), GitAuth::default());
    repo.fetch(&[]).unwrap();
    let tree = repo.tree(&f.second).unwrap();
    assert!(matches!(
        tree.read_file("k8s/escape.yaml"),
        Err(crate::render::TreeError::OutsideTree { .. })
    ));
}

#[test]
fn fetch_picks_up_new_commits() {
    let f = fixture();
    let repo = GitRepo::new(&f.cache, &url(&f), GitAuth::default());
    repo.fetch(&[]).unwrap();
    write(&f.src, "k8s/overlays/production/e.yaml", &cm("e"));
    run(&f.src, &["add", "."]);
    run(&f.src, &["commit", "--quiet", "-m", "four"]);
    let head = run(&f.src, &["rev-parse", "HEAD"]);
    let refs = repo.ls_remote().unwrap();
    let sha = repo.resolve(&refs, "HEAD").unwrap();
    assert_eq!(sha, head);
    assert!(!repo.has_commit(&sha));
    repo.fetch(&[&sha]).unwrap();
    assert!(
        repo.tree(&sha)
            .unwrap()
            .is_file("k8s/overlays/production/e.yaml")
    );
}

#[test]
fn errors_never_show_passwords() {
    let tmp = tempfile::tempdir().unwrap();
    let auth = GitAuth {
        credentials: Some(RepoCredentials {
            url: "https://127.0.0.1:1/x.git".into(),
            username: Some("bot".into()),
            password: Some("s3cr3t-token".into()),
            ..Default::default()
        }),
        known_hosts: None,
    };
    let repo = GitRepo::new(
        tmp.path(),
        "https://bot:s3cr3t-token@127.0.0.1:1/x.git",
        auth,
    );
    let err = repo.ls_remote().unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        matches!(
            err,
            GitError::Command {
                step: "ls-remote",
                ..
            }
        ),
        "{text}"
    );
    assert!(!text.contains("s3cr3t-token"), "{text}");
    assert!(text.contains("https://bot:***@127.0.0.1:1/x.git"), "{text}");
}

#[test]
fn remote_refs_parse_peels_tags() {
    let sha = |c: char| c.to_string().repeat(40);
    let text = format!(
        "{}\tHEAD\n{}\trefs/heads/main\n{}\trefs/tags/v1\n{}\trefs/tags/v1^{{}}\nbad line\n",
        sha('a'),
        sha('a'),
        sha('b'),
        sha('c')
    );
    let refs = RemoteRefs::parse(&text);
    assert_eq!(refs.head, Some(sha('a')));
    assert_eq!(refs.refs["refs/tags/v1"], sha('c'));
    assert_eq!(refs.resolve("v1"), Some(sha('c')));
    assert_eq!(refs.resolve(&sha('D')), Some(sha('d')));
}

#[test]
fn ensure_commits_fetches_once() {
    let f = fixture();
    let repo = GitRepo::new(&f.cache, &url(&f), GitAuth::default());
    assert!(repo.ensure_commits(&[&f.second]).unwrap());
    // The remote disappears: commits already present need no network.
    std::fs::rename(&f.src, f.src.with_extension("gone")).unwrap();
    assert!(!repo.ensure_commits(&[&f.second, &f.first]).unwrap());
    assert!(repo.ensure_commits(&[&"0".repeat(40)]).is_err());
}
