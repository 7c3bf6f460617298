//! Repository credentials from Argo CD's declarative Secrets, and SSH known hosts from
//! `argocd-ssh-known-hosts-cm`.
//!
//! Secrets labelled `argocd.argoproj.io/secret-type: repository` name one repository by
//! `url`; `repo-creds` Secrets are templates for every repository whose URL starts with
//! theirs (the longest match wins). A repository Secret without credentials of its own
//! takes them from the matching template, as in Argo CD. Values are never printed:
//! `Debug` shows which fields are set, not their contents.

use super::url::normalize;
use base64::Engine;
use serde_json::Value;
use std::fmt;

/// The label that marks Argo CD credential Secrets.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";
/// The known-hosts ConfigMap's name.
pub const KNOWN_HOSTS_CONFIGMAP: &str = "argocd-ssh-known-hosts-cm";
/// The known-hosts ConfigMap's key.
pub const KNOWN_HOSTS_KEY: &str = "ssh_known_hosts";

/// Credentials for one repository.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RepoCredentials {
    /// The URL the Secret names (a prefix for templates).
    pub url: String,
    /// HTTPS user name.
    pub username: Option<String>,
    /// HTTPS password or token.
    pub password: Option<String>,
    /// SSH private key (PEM / OpenSSH format).
    pub ssh_private_key: Option<String>,
    /// Skip host-key (SSH) or certificate (HTTPS) verification.
    pub insecure: bool,
}

impl fmt::Debug for RepoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |o: &Option<String>| if o.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("RepoCredentials")
            .field("url", &super::url::redact(&self.url))
            .field("username", &self.username)
            .field("password", &set(&self.password))
            .field("ssh_private_key", &set(&self.ssh_private_key))
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl RepoCredentials {
    fn has_secret(&self) -> bool {
        self.password.is_some() || self.ssh_private_key.is_some()
    }
}

/// Which kind of credential Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// One repository (`repository`).
    Repository,
    /// A URL-prefix template (`repo-creds`).
    Template,
}

/// Reads one field of a Secret: `stringData` wins over base64 `data`.
fn field(secret: &Value, name: &str) -> Option<String> {
    if let Some(s) = secret
        .pointer(&format!("/stringData/{name}"))
        .and_then(Value::as_str)
    {
        return Some(s.to_string());
    }
    let encoded = secret.pointer(&format!("/data/{name}"))?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Reads an Argo CD credential Secret; `None` when the Secret is not one (wrong label,
/// no `url`).
pub fn from_secret(secret: &Value) -> Option<(SecretKind, RepoCredentials)> {
    let kind = match secret
        .pointer("/metadata/labels")?
        .get(SECRET_TYPE_LABEL)?
        .as_str()?
    {
        "repository" => SecretKind::Repository,
        "repo-creds" => SecretKind::Template,
        _ => return None,
    };
    let creds = RepoCredentials {
        url: field(secret, "url")?,
        username: field(secret, "username").filter(|s| !s.is_empty()),
        password: field(secret, "password").filter(|s| !s.is_empty()),
        ssh_private_key: field(secret, "sshPrivateKey").filter(|s| !s.is_empty()),
        insecure: field(secret, "insecure").is_some_and(|s| s == "true"),
    };
    Some((kind, creds))
}

/// All credential Secrets of the controller's namespace.
#[derive(Clone, Debug, Default)]
pub struct CredentialStore {
    repositories: Vec<RepoCredentials>,
    templates: Vec<RepoCredentials>,
}

impl CredentialStore {
    /// Builds the store from Secrets (others are ignored).
    pub fn from_secrets<'a>(secrets: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut store = CredentialStore::default();
        for s in secrets {
            match from_secret(s) {
                Some((SecretKind::Repository, c)) => store.repositories.push(c),
                Some((SecretKind::Template, c)) => store.templates.push(c),
                None => {}
            }
        }
        store
    }

    /// The credentials for `repo_url`, if any.
    pub fn lookup(&self, repo_url: &str) -> Option<RepoCredentials> {
        let want = normalize(repo_url);
        let template = self
            .templates
            .iter()
            .filter(|t| want.starts_with(&normalize(&t.url)))
            .max_by_key(|t| normalize(&t.url).len());
        let repo = self.repositories.iter().find(|r| normalize(&r.url) == want);
        match (repo, template) {
            (Some(r), Some(t)) if !r.has_secret() => Some(RepoCredentials {
                url: r.url.clone(),
                username: r.username.clone().or_else(|| t.username.clone()),
                password: t.password.clone(),
                ssh_private_key: t.ssh_private_key.clone(),
                insecure: r.insecure || t.insecure,
            }),
            (Some(r), _) => Some(r.clone()),
            (None, Some(t)) => Some(t.clone()),
            (None, None) => None,
        }
    }
}

/// The known-hosts text of the `argocd-ssh-known-hosts-cm` ConfigMap.
pub fn known_hosts_from_configmap(cm: &Value) -> Option<String> {
    cm.pointer("/data")?
        .get(KNOWN_HOSTS_KEY)?
        .as_str()
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(kind: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "x", "namespace": "argocd", "labels": {SECRET_TYPE_LABEL: kind}},
               "data": data})
    }

    #[test]
    fn repository_secret_matches_equivalent_url() {
        let s = secret(
            "repository",
            json!({"url": b64("git@github.com:my-org/infra-config.git"),
                                            "sshPrivateKey": b64("-----BEGIN OPENSSH PRIVATE KEY-----\nAAA\n")}),
        );
        let store = CredentialStore::from_secrets([&s]);
        let c = store
            .lookup("ssh://git@github.com/my-org/infra-config")
            .unwrap();
        assert!(c.ssh_private_key.unwrap().starts_with("-----BEGIN OPENSSH"));
        assert!(store.lookup("git@github.com:my-org/other.git").is_none());
    }

    #[test]
    fn templates_match_by_longest_prefix_and_fill_repository_secrets() {
        let broad = secret(
            "repo-creds",
            json!({"url": b64("https://git.example.com"),
                                               "username": b64("bot"), "password": b64("t1")}),
        );
        let narrow = secret(
            "repo-creds",
            json!({"url": b64("https://git.example.com/team-a"),
                                                "username": b64("bot-a"), "password": b64("t2")}),
        );
        let repo = secret(
            "repository",
            json!({"url": b64("https://git.example.com/team-a/app.git"),
                                              "insecure": b64("true")}),
        );
        let cm = json!({"kind": "ConfigMap"});
        let store = CredentialStore::from_secrets([&broad, &narrow, &repo, &cm]);
        let c = store.lookup("https://git.example.com/team-a/app").unwrap();
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref(), c.insecure),
            (Some("bot-a"), Some("t2"), true)
        );
        let c = store
            .lookup("https://git.example.com/team-b/x.git")
            .unwrap();
        assert_eq!(c.password.as_deref(), Some("t1"));
    }

    #[test]
    fn string_data_and_wrong_labels() {
        let mut s = secret("repository", json!({}));
        s["stringData"] = json!({"url": "https://h/r", "password": "p"});
        let (kind, c) = from_secret(&s).unwrap();
        assert_eq!(
            (kind, c.password.as_deref()),
            (SecretKind::Repository, Some("p"))
        );
        assert!(from_secret(&secret("cluster", json!({"url": b64("https://k")}))).is_none());
    }

    #[test]
    fn debug_never_shows_secret_values() {
        let c = RepoCredentials {
            url: "https://u:pw@h/r".into(),
            username: Some("u".into()),
            password: Some("hunter2".into()),
            ssh_private_key: Some("KEYDATA".into()),
            insecure: false,
        };
        let text = format!("{c:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("KEYDATA") && !text.contains(":pw@"),
            "{text}"
        );
        assert!(text.contains("<set>"));
    }

    #[test]
    fn known_hosts_configmap() {
        let cm = json!({"data": {"ssh_known_hosts": "github.com ssh-ed25519 AAAA\n"}});
        assert_eq!(
            known_hosts_from_configmap(&cm).as_deref(),
            Some("github.com ssh-ed25519 AAAA\n")
        );
    }
}
