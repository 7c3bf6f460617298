//! Repository URLs: normalisation for matching credentials and sharing one fetch, and
//! redaction for messages.
//!
//! `git@github.com:org/repo.git`, `ssh://git@github.com/org/repo` and
//! `https://GitHub.com/org/repo.git/` name the same repository only when scheme and user
//! agree; normalisation lower-cases the host, turns the scp-like form into `ssh://`, and
//! drops a trailing `/` and `.git`, as Argo CD does before comparing URLs.

/// The transport a URL uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `ssh://` or scp-like `user@host:path`.
    Ssh,
    /// `https://` (or `http://`).
    Https,
    /// `file://` or a local path.
    Local,
}

/// The transport of `url`.
pub fn transport(url: &str) -> Transport {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        Transport::Https
    } else if lower.starts_with("ssh://") || is_scp_like(url) {
        Transport::Ssh
    } else {
        Transport::Local
    }
}

/// `user@host:path` (no scheme, a colon before any slash).
fn is_scp_like(url: &str) -> bool {
    if url.contains("://") {
        return false;
    }
    match (url.find(':'), url.find('/')) {
        (Some(c), Some(s)) => c < s && c > 0,
        (Some(c), None) => c > 0,
        _ => false,
    }
}

/// The normalised form used as a cache and credential key.
pub fn normalize(url: &str) -> String {
    let url = url.trim();
    let mut s = if is_scp_like(url) {
        let (host, path) = url.split_once(':').unwrap_or((url, ""));
        format!("ssh://{host}/{}", path.trim_start_matches('/'))
    } else {
        url.to_string()
    };
    // Lower-case scheme and host (not the path: paths are case-sensitive on most servers).
    if let Some(i) = s.find("://") {
        let (scheme, rest) = s.split_at(i);
        let rest = &rest[3..];
        let host_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(host_end);
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
            None => authority.to_ascii_lowercase(),
        };
        s = format!("{}://{authority}{path}", scheme.to_ascii_lowercase());
    }
    while s.ends_with('/') {
        s.pop();
    }
    if let Some(stripped) = s.strip_suffix(".git") {
        s = stripped.to_string();
    }
    s
}

/// `url` with any password in its user-info replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some(i) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[i + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..host_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    if userinfo.contains(':') {
        format!("{}{user}:***@{}", &url[..i + 3], &rest[at + 1..])
    } else {
        url.to_string()
    }
}

/// A directory name for a repository's cache: a readable slug plus a hash of the
/// normalised URL.
pub fn cache_dir_name(url: &str) -> String {
    let norm = normalize(url);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in norm.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let slug: String = norm
        .rsplit('/')
        .next()
        .unwrap_or("repo")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{slug}-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports() {
        assert_eq!(
            transport("git@github.com:my-org/infra-config.git"),
            Transport::Ssh
        );
        assert_eq!(transport("ssh://git@host:2222/r.git"), Transport::Ssh);
        assert_eq!(transport("https://github.com/o/r"), Transport::Https);
        assert_eq!(transport("file:///tmp/r"), Transport::Local);
        assert_eq!(transport("/tmp/r"), Transport::Local);
    }

    #[test]
    fn normalisation_matches_equivalent_spellings() {
        assert_eq!(
            normalize("git@GitHub.com:my-org/infra-config.git"),
            "ssh://git@github.com/my-org/infra-config"
        );
        assert_eq!(
            normalize("ssh://git@github.com/my-org/infra-config"),
            "ssh://git@github.com/my-org/infra-config"
        );
        assert_eq!(
            normalize("HTTPS://GitHub.com/Org/Repo.git/"),
            "https://github.com/Org/Repo"
        );
    }

    #[test]
    fn redaction_hides_passwords_only() {
        assert_eq!(
            redact("https://bob:s3cret@git.example/r.git"),
            "https://bob:***@git.example/r.git"
        );
        assert_eq!(
            redact("https://bob@git.example/r.git"),
            "https://bob@git.example/r.git"
        );
        assert_eq!(redact("git@github.com:o/r.git"), "git@github.com:o/r.git");
    }

    #[test]
    fn cache_dirs_are_stable_and_distinct() {
        let a = cache_dir_name("git@github.com:my-org/infra-config.git");
        assert_eq!(
            a,
            cache_dir_name("ssh://git@github.com/my-org/infra-config")
        );
        assert!(a.starts_with("infra-config-"));
        assert_ne!(a, cache_dir_name("git@github.com:other/infra-config.git"));
    }
}
