//! Bearer tokens. Two Secrets in the controller's namespace hold them:
//!
//! * `fjord-admin`, key `token`: the administrator's token (`role:admin`), generated at the
//!   server's first start and printed once by `fjord up`.
//! * `fjord-tokens` (optional, written by the operator): for each caller `<name>`, key
//!   `<name>.token` is its token and `<name>.groups` a comma-separated list of groups —
//!   `role:readonly`, `role:admin`, a group an AppProject role lists in `groups`, or a role
//!   subject `proj:<project>:<role>` directly.
//!
//! Tokens are compared in constant time and never logged. The token table is re-read at most
//! every two seconds, so a new or revoked token takes effect without a restart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;

use super::rbac::{Identity, ROLE_ADMIN};

/// The Secret holding the administrator's token.
pub const ADMIN_SECRET: &str = "fjord-admin";
/// Key of the administrator's token.
pub const ADMIN_KEY: &str = "token";
/// The Secret mapping further tokens to groups.
pub const TOKENS_SECRET: &str = "fjord-tokens";

const RELOAD: Duration = Duration::from_secs(2);

/// Why the token Secrets could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or creating a Secret failed.
    #[error("{step} Secret {namespace}/{name}: {source}")]
    Secret {
        /// What was being done.
        step: &'static str,
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The administrator Secret has no usable `token`.
    #[error("Secret {namespace}/{ADMIN_SECRET}: key {ADMIN_KEY} is missing or empty")]
    AdminKeyMissing {
        /// Namespace.
        namespace: String,
    },
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut buf = vec![0u8; n];
    // SystemRandom fails only when the OS has no entropy source; then no token is safe.
    if aws_lc_rs::rand::SystemRandom::new().fill(&mut buf).is_err() {
        panic!("the operating system's random source failed");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality of two secrets.
pub fn secret_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// Reads the administrator token, creating the Secret with a fresh token if there is none.
/// Returns the token and whether it was created now.
pub async fn ensure_admin_token(
    client: &kube::Client,
    namespace: &str,
) -> Result<(String, bool), TokenError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let err = |step| {
        let namespace = namespace.to_string();
        move |source| TokenError::Secret {
            step,
            namespace,
            name: ADMIN_SECRET,
            source,
        }
    };
    if let Some(s) = api.get_opt(ADMIN_SECRET).await.map_err(err("reading"))? {
        return admin_from(&s, namespace).map(|t| (t, false));
    }
    let token = random_hex(32);
    let mut secret = Secret::default();
    secret.metadata.name = Some(ADMIN_SECRET.into());
    secret.metadata.labels = Some(
        [("app.kubernetes.io/part-of".to_string(), "fjord".to_string())]
            .into_iter()
            .collect(),
    );
    secret.data = Some(
        [(
            ADMIN_KEY.to_string(),
            ByteString(token.clone().into_bytes()),
        )]
        .into_iter()
        .collect(),
    );
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok((token, true)),
        // Another server created it first: use theirs.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = api.get(ADMIN_SECRET).await.map_err(err("reading"))?;
            admin_from(&s, namespace).map(|t| (t, false))
        }
        Err(e) => Err(err("creating")(e)),
    }
}

fn admin_from(s: &Secret, namespace: &str) -> Result<String, TokenError> {
    s.data
        .as_ref()
        .and_then(|d| d.get(ADMIN_KEY))
        .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::AdminKeyMissing {
            namespace: namespace.into(),
        })
}

/// Parses `fjord-tokens`' data into (token, identity) pairs.
pub fn table_from_secret(s: &Secret) -> Vec<(String, Identity)> {
    let data = s.data.clone().unwrap_or_default();
    let text = |k: &str| {
        data.get(k)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
    };
    data.keys()
        .filter_map(|k| k.strip_suffix(".token"))
        .filter_map(|name| {
            let token = text(&format!("{name}.token")).filter(|t| !t.is_empty())?;
            let subjects = text(&format!("{name}.groups"))
                .unwrap_or_default()
                .split(',')
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect();
            Some((
                token,
                Identity {
                    name: name.to_string(),
                    subjects,
                },
            ))
        })
        .collect()
}

/// The token table and when it was read.
type Table = (Option<Instant>, Vec<(String, Identity)>);

/// Looks tokens up.
pub struct TokenStore {
    client: Option<kube::Client>,
    namespace: String,
    admin: String,
    table: Mutex<Table>,
}

impl TokenStore {
    /// A store reading `fjord-tokens` from `namespace`, with the given administrator token.
    pub fn new(client: kube::Client, namespace: &str, admin_token: String) -> Self {
        TokenStore {
            client: Some(client),
            namespace: namespace.into(),
            admin: admin_token,
            table: Mutex::new((None, Vec::new())),
        }
    }

    /// A store with a fixed table and no cluster (tests).
    pub fn fixed(admin_token: String, table: Vec<(String, Identity)>) -> Self {
        TokenStore {
            client: None,
            namespace: String::new(),
            admin: admin_token,
            table: Mutex::new((Some(Instant::now() + Duration::from_secs(1 << 30)), table)),
        }
    }

    async fn reload(&self) {
        let stale = {
            let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            t.0.is_none_or(|at| at.elapsed() > RELOAD)
        };
        let Some(client) = self.client.as_ref().filter(|_| stale) else {
            return;
        };
        let api: Api<Secret> = Api::namespaced(client.clone(), &self.namespace);
        let table = match api.get_opt(TOKENS_SECRET).await {
            Ok(Some(s)) => table_from_secret(&s),
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "reading Secret {TOKENS_SECRET}");
                return;
            }
        };
        *self.table.lock().unwrap_or_else(|e| e.into_inner()) = (Some(Instant::now()), table);
    }

    /// The identity a token stands for, if any.
    pub async fn identify(&self, token: &str) -> Option<Identity> {
        if token.is_empty() {
            return None;
        }
        if secret_eq(token, &self.admin) {
            return Some(Identity {
                name: "admin".into(),
                subjects: vec![ROLE_ADMIN.into()],
            });
        }
        self.reload().await;
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        // Compare against every entry so timing does not reveal which one matched.
        let mut found = None;
        for (candidate, who) in &t.1 {
            if secret_eq(token, candidate) && found.is_none() {
                found = Some(who.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_secret_maps_names_to_groups() {
        let s = Secret {
            data: Some(
                [
                    ("ci.token", "abc"),
                    ("ci.groups", "role:readonly, team-ops"),
                    ("empty.token", " "),
                    ("other", "x"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
            ),
            ..Default::default()
        };
        let table = table_from_secret(&s);
        assert_eq!(table.len(), 1);
        assert_eq!(table[0].0, "abc");
        assert_eq!(table[0].1.name, "ci");
        assert_eq!(table[0].1.subjects, ["role:readonly", "team-ops"]);
    }

    #[tokio::test]
    async fn tokens_identify_their_callers_and_nothing_else() {
        let who = Identity {
            name: "ci".into(),
            subjects: vec!["g".into()],
        };
        let store = TokenStore::fixed("admintoken".into(), vec![("citoken".into(), who.clone())]);
        assert_eq!(
            store.identify("admintoken").await.unwrap().subjects,
            [ROLE_ADMIN]
        );
        assert_eq!(store.identify("citoken").await, Some(who));
        assert_eq!(store.identify("citoke").await, None);
        assert_eq!(store.identify("").await, None);
        assert_eq!(random_hex(16).len(), 32);
        assert_ne!(random_hex(16), random_hex(16));
    }
}
