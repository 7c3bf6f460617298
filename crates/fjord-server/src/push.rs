//! Push events from Git hosts, reduced to what decides which Applications to refresh: the
//! repository (all its URL forms), the branch, and the files the push touched.

use serde_json::Value;

/// A push, as GitHub, GitLab and the generic form report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// Normalised repository identities (`host/owner/name`, lowercase, no `.git`).
    pub repos: Vec<String>,
    /// The pushed branch (`refs/heads/` stripped); None for tags and other refs.
    pub branch: Option<String>,
    /// The repository's default branch, when the payload names it.
    pub default_branch: Option<String>,
    /// Files added, modified or removed; empty when the payload does not list them.
    pub changed_files: Vec<String>,
}

/// `git@github.com:org/repo.git`, `ssh://git@github.com:22/org/repo`, `https://github.com/org/repo.git`
/// → `github.com/org/repo`.
pub fn normalize_repo_url(url: &str) -> String {
    let mut s = url.trim().to_ascii_lowercase();
    for scheme in ["https://", "http://", "ssh://", "git://", "git+ssh://"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            s = rest.to_string();
            break;
        }
    }
    // user@
    if let Some(at) = s.find('@')
        && s[..at].find('/').is_none()
    {
        s = s[at + 1..].to_string();
    }
    // scp form host:path, and host:port/path
    if let Some(colon) = s.find(':') {
        let (host, rest) = s.split_at(colon);
        let rest = &rest[1..];
        let rest = match rest.split_once('/') {
            Some((port, path)) if port.chars().all(|c| c.is_ascii_digit()) => path,
            _ => rest,
        };
        s = format!("{host}/{rest}");
    }
    let s = s.trim_end_matches('/');
    s.strip_suffix(".git").unwrap_or(s).to_string()
}

fn strings_at<'a>(v: &'a Value, ptrs: &[&str]) -> Vec<&'a str> {
    ptrs.iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_str))
        .collect()
}

fn branch_of(reference: Option<&str>) -> Option<String> {
    reference
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .map(str::to_string)
}

fn changed_files(commits: Option<&Value>) -> Vec<String> {
    let mut files = Vec::new();
    for c in commits.and_then(Value::as_array).into_iter().flatten() {
        for key in ["added", "modified", "removed"] {
            for f in c.get(key).and_then(Value::as_array).into_iter().flatten() {
                if let Some(f) = f.as_str()
                    && !files.iter().any(|x| x == f)
                {
                    files.push(f.to_string());
                }
            }
        }
    }
    files
}

/// A push of a host that reports the repository's URLs at `repo_urls`, its default branch at
/// `default_branch`, and `ref` and `commits[]` the common way (GitHub and GitLab both do).
fn from_hosted(body: &Value, repo_urls: &[&str], default_branch: &str) -> Option<PushEvent> {
    let repos = strings_at(body, repo_urls);
    if repos.is_empty() {
        return None;
    }
    Some(PushEvent {
        repos: repos.into_iter().map(normalize_repo_url).collect(),
        branch: branch_of(body.get("ref").and_then(Value::as_str)),
        default_branch: body
            .pointer(default_branch)
            .and_then(Value::as_str)
            .map(str::to_string),
        changed_files: changed_files(body.get("commits")),
    })
}

/// A GitHub `push` event body.
pub fn from_github(body: &Value) -> Option<PushEvent> {
    from_hosted(
        body,
        &[
            "/repository/clone_url",
            "/repository/ssh_url",
            "/repository/html_url",
            "/repository/git_url",
        ],
        "/repository/default_branch",
    )
}

/// A GitLab `Push Hook` body.
pub fn from_gitlab(body: &Value) -> Option<PushEvent> {
    from_hosted(
        body,
        &[
            "/project/git_http_url",
            "/project/git_ssh_url",
            "/project/web_url",
            "/repository/git_http_url",
            "/repository/git_ssh_url",
        ],
        "/project/default_branch",
    )
}

/// Fjord's generic form: `{"repository": URL, "ref": "refs/heads/main", "files": [...]}`.
pub fn from_generic(body: &Value) -> Option<PushEvent> {
    let repo = body.get("repository").and_then(Value::as_str)?;
    Some(PushEvent {
        repos: vec![normalize_repo_url(repo)],
        branch: branch_of(body.get("ref").and_then(Value::as_str)),
        default_branch: body
            .get("defaultBranch")
            .and_then(Value::as_str)
            .map(str::to_string),
        changed_files: body
            .get("files")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Whether a push concerns an Application source (`repoURL`, `targetRevision`, `path`), as
/// Argo CD decides it: same repository; a branch the source tracks (`HEAD` or empty means the
/// default branch; a tag or commit SHA is never moved by a push). Changed files narrow the
/// choice only for an Application with the `argocd.argoproj.io/manifest-generate-paths`
/// annotation (`generate_paths`, relative to the source path or absolute): then one of the
/// files must lie under one of those paths. Without it every Application of the branch is
/// refreshed, since an overlay may use files anywhere in the repository (a shared base).
pub fn touches(
    push: &PushEvent,
    repo_url: &str,
    target_revision: &str,
    path: &str,
    generate_paths: &[String],
) -> bool {
    let repo = normalize_repo_url(repo_url);
    if !push.repos.contains(&repo) {
        return false;
    }
    let Some(branch) = &push.branch else {
        return false;
    };
    let tracks = match target_revision {
        "" | "HEAD" => push.default_branch.as_deref().is_none_or(|d| d == branch),
        rev => rev == branch || rev.strip_prefix("refs/heads/") == Some(branch.as_str()),
    };
    if !tracks {
        return false;
    }
    if push.changed_files.is_empty() || generate_paths.is_empty() {
        return true;
    }
    let dirs: Vec<String> = generate_paths
        .iter()
        .map(|p| match p.strip_prefix('/') {
            Some(absolute) => normalize_path(absolute),
            None => normalize_path(&format!("{path}/{p}")),
        })
        .collect();
    push.changed_files.iter().any(|f| {
        dirs.iter()
            .any(|d| d.is_empty() || f == d || f.starts_with(&format!("{d}/")))
    })
}

/// A repository-relative path with `.` and `..` resolved and no leading or trailing slash.
fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ssh_and_https_forms_of_one_repository_are_equal() {
        let want = "github.com/my-org/infra-config";
        for url in [
            "git@github.com:my-org/infra-config.git",
            "ssh://git@github.com/my-org/infra-config.git",
            "ssh://git@github.com:22/my-org/infra-config",
            "https://github.com/my-org/infra-config.git",
            "https://GitHub.com/My-Org/infra-config/",
        ] {
            assert_eq!(normalize_repo_url(url), want, "{url}");
        }
    }

    #[test]
    fn branch_and_path_decide() {
        let push = PushEvent {
            repos: vec!["github.com/my-org/infra-config".into()],
            branch: Some("main".into()),
            default_branch: Some("main".into()),
            changed_files: vec!["k8s/overlays/production/kustomization.yaml".into()],
        };
        let url = "git@github.com:my-org/infra-config.git";
        assert!(touches(&push, url, "HEAD", "k8s/overlays/production", &[]));
        assert!(touches(&push, url, "main", "k8s/overlays/production/", &[]));
        assert!(!touches(
            &push,
            url,
            "staging",
            "k8s/overlays/production",
            &[]
        ));
        assert!(!touches(
            &push,
            url,
            "v1.2.3",
            "k8s/overlays/production",
            &[]
        ));
        // Without manifest-generate-paths, any push to the branch concerns the Application.
        assert!(touches(&push, url, "HEAD", "k8s/overlays/staging", &[]));
        assert!(!touches(
            &push,
            url,
            "HEAD",
            "k8s/overlays/staging",
            &[".".into()]
        ));
        assert!(touches(
            &push,
            url,
            "HEAD",
            "k8s/overlays/production",
            &[".".into()]
        ));
        assert!(touches(
            &push,
            url,
            "HEAD",
            "k8s/overlays/staging",
            &["/k8s/overlays/production".into()]
        ));
        assert!(touches(
            &push,
            url,
            "HEAD",
            "k8s/overlays/staging",
            &["../production".into()]
        ));
        assert!(!touches(
            &push,
            "https://github.com/other/repo",
            "HEAD",
            "k8s",
            &[]
        ));
        let no_files = PushEvent {
            changed_files: vec![],
            ..push.clone()
        };
        assert!(touches(&no_files, url, "HEAD", "anything", &[]));
    }

    #[test]
    fn payloads_parse() {
        let gh = json!({"ref": "refs/heads/main", "repository": {"clone_url": "https://github.com/my-org/infra-config.git",
            "ssh_url": "git@github.com:my-org/infra-config.git", "default_branch": "main"},
            "commits": [{"added": ["a.yaml"], "modified": ["b.yaml"], "removed": []}, {"modified": ["b.yaml"]}]});
        let e = from_github(&gh).unwrap();
        assert_eq!(e.branch.as_deref(), Some("main"));
        assert_eq!(e.changed_files, vec!["a.yaml", "b.yaml"]);
        let gl = json!({"ref": "refs/heads/dev", "project": {"git_ssh_url": "git@gitlab.com:g/p.git", "default_branch": "main"}, "commits": []});
        assert_eq!(from_gitlab(&gl).unwrap().repos, vec!["gitlab.com/g/p"]);
        let tag =
            json!({"ref": "refs/tags/v1", "repository": {"clone_url": "https://github.com/a/b"}});
        assert_eq!(from_github(&tag).unwrap().branch, None);
        assert!(from_github(&json!({"zen": "hi"})).is_none());
    }
}
