//! The crate's error type. Each variant names the step that failed and carries the object, item
//! or file it failed on, plus what the user can do about it. No variant ever holds a secret
//! value: messages from parsers are passed through [`redact`] before they are stored.

use std::fmt;

/// Everything that can go wrong while sealing, unsealing or handling keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate could not be read (not PEM, not X.509, not an RSA key).
    #[error("reading the certificate from {origin}: {reason}")]
    CertificateParse {
        /// Where the certificate came from (file, URL, key Secret).
        origin: String,
        /// What was wrong with it.
        reason: String,
    },

    /// The certificate's validity ended before now; kubeseal refuses such certificates too.
    #[error(
        "the certificate from {origin} expired on {not_after}: fetch the controller's current \
         certificate (fjord seal --fetch-cert) and seal again"
    )]
    CertificateExpired {
        /// Where the certificate came from.
        origin: String,
        /// The certificate's notAfter, RFC 3339.
        not_after: String,
    },

    /// A private key could not be read.
    #[error("reading the private key from {origin}: {reason}")]
    PrivateKeyParse {
        /// Where the key came from (file, key Secret).
        origin: String,
        /// What was wrong with it.
        reason: String,
    },

    /// Generating a new RSA key or its self-signed certificate failed.
    #[error("generating a new {bits}-bit sealing key: {reason}")]
    KeyGeneration {
        /// The requested key size.
        bits: usize,
        /// What failed.
        reason: String,
    },

    /// A key Secret (type kubernetes.io/tls) lacks a field or has one that cannot be used.
    #[error("key Secret {secret}: {reason}")]
    KeySecret {
        /// `namespace/name` of the key Secret.
        secret: String,
        /// What is missing or wrong.
        reason: String,
    },

    /// The input could not be parsed as the expected Kubernetes object(s).
    #[error("parsing {origin}: {reason}")]
    Parse {
        /// Which input (file name, `stdin`, request body).
        origin: String,
        /// The parser's complaint, with quoted values removed.
        reason: String,
    },

    /// The Secret to seal is unusable (no name, no namespace, wrong kind...).
    #[error("Secret {object}: {reason}")]
    InvalidSecret {
        /// `namespace/name` as far as known.
        object: String,
        /// What is missing and how to provide it.
        reason: String,
    },

    /// The SealedSecret is malformed (both data forms, nothing to decrypt...).
    #[error("SealedSecret {object}: {reason}")]
    InvalidSealedSecret {
        /// `namespace/name`.
        object: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// Encrypting one item failed (should not happen with a valid RSA key of 2048 bits or more).
    #[error("encrypting item {item:?} of {object}: {reason}")]
    Encrypt {
        /// `namespace/name` of the Secret being sealed.
        object: String,
        /// The item's key (never its value).
        item: String,
        /// What failed.
        reason: String,
    },

    /// Unsealing failed for one or more items; nothing was produced (all-or-nothing).
    #[error("{0}")]
    Unseal(UnsealFailure),
}

/// Crate-wide result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a SealedSecret could not be unsealed: one problem per failed item, grouped by message
/// the way the Bitnami controller groups them (`no key could decrypt secret (a, b)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealFailure {
    /// `namespace/name` of the SealedSecret.
    pub object: String,
    /// Failed items, in key order, each with its message.
    pub problems: Vec<ItemProblem>,
}

/// One failed item of a SealedSecret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProblem {
    /// The item key (`encryptedData` key, `template.data` key, or `data` for the legacy form).
    pub item: String,
    /// What went wrong, without any secret material.
    pub kind: ItemProblemKind,
}

/// The kinds of per-item failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemProblemKind {
    /// The value is not valid base64.
    Base64(String),
    /// The value is shorter than its length prefix says.
    TooShort,
    /// No key in the ring could open it with this SealedSecret's scope label.
    NoKeyCouldDecrypt,
    /// A `template.data` entry failed to render.
    Template(String),
    /// The legacy `spec.data` decrypted but is not a Secret.
    LegacyNotASecret,
}

impl fmt::Display for ItemProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base64(why) => write!(f, "{why}"),
            Self::TooShort => f.write_str("SealedSecret data is too short"),
            Self::NoKeyCouldDecrypt => f.write_str("no key could decrypt secret"),
            Self::Template(why) => write!(f, "template error: {why}"),
            Self::LegacyNotASecret => f.write_str("legacy spec.data does not hold a v1 Secret"),
        }
    }
}

impl UnsealFailure {
    /// True when at least one item failed because no key could open it.
    pub fn has_undecryptable_items(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.kind == ItemProblemKind::NoKeyCouldDecrypt)
    }
}

impl fmt::Display for UnsealFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Group items sharing a message, keeping first-seen order (Bitnami: multierror.Uniq).
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for p in &self.problems {
            let msg = p.kind.to_string();
            match groups.iter_mut().find(|(m, _)| *m == msg) {
                Some((_, items)) => items.push(&p.item),
                None => groups.push((msg, vec![&p.item])),
            }
        }
        let lines: Vec<String> = groups
            .iter()
            .map(|(msg, items)| format!("{msg} ({})", items.join(", ")))
            .collect();
        f.write_str(&lines.join("\n"))?;
        if self.has_undecryptable_items() {
            write!(
                f,
                "\nSealedSecret {}: the value was sealed for another name, namespace or scope \
                 (the scope annotation must be in metadata.annotations), or with a key this \
                 controller does not hold; re-seal it with the current certificate",
                self.object
            )?;
        }
        Ok(())
    }
}

/// Remove quoted fragments from a parser message so that a value which failed to parse (which
/// may be secret) never ends up in an error. `invalid value: string "hunter2"` becomes
/// `invalid value: string "…"`.
pub(crate) fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if c == '"' || c == '`' {
                    open = Some(c);
                }
            }
        }
    }
    if open.is_some() {
        out.push('…');
    }
    // The base64 decoder names the offending byte by number ("Invalid symbol 33"): drop it.
    let mut words: Vec<&str> = out.split(' ').collect();
    for i in 1..words.len() {
        if words[i - 1].eq_ignore_ascii_case("symbol")
            && words[i]
                .trim_end_matches([',', '.'])
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            words[i] = "…,";
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_quoted_values() {
        let m = redact("invalid value: string \"hunter2\", expected `base64 data`");
        assert!(!m.contains("hunter2"), "{m}");
        assert!(!m.contains("base64 data"), "{m}");
        assert_eq!(m, "invalid value: string \"…\", expected `…`");
        assert_eq!(redact("unterminated \"secret"), "unterminated \"…");
        assert_eq!(
            redact("Invalid symbol 33, offset 7."),
            "Invalid symbol …, offset 7."
        );
    }

    #[test]
    fn unseal_failure_groups_items_by_message() {
        let f = UnsealFailure {
            object: "ns/s".into(),
            problems: vec![
                ItemProblem {
                    item: "a".into(),
                    kind: ItemProblemKind::NoKeyCouldDecrypt,
                },
                ItemProblem {
                    item: "b".into(),
                    kind: ItemProblemKind::TooShort,
                },
                ItemProblem {
                    item: "c".into(),
                    kind: ItemProblemKind::NoKeyCouldDecrypt,
                },
            ],
        };
        let text = f.to_string();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("no key could decrypt secret (a, c)"));
        assert_eq!(lines.next(), Some("SealedSecret data is too short (b)"));
        assert!(text.contains("re-seal"), "{text}");
    }
}
