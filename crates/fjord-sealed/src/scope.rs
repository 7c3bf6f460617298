//! Sealing scopes and the OAEP labels they bind a ciphertext to, plus the annotation keys that
//! select a scope. The label is the only thing tying a value to a name and namespace: a value
//! sealed for `ns/a` cannot be opened as `ns/b` because OAEP checks the label.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Annotation prefix shared by all Sealed Secrets annotations.
pub const ANNOTATION_PREFIX: &str = "sealedsecrets.bitnami.com/";
/// `"true"` here makes a SealedSecret cluster-wide (label `""`); wins over namespace-wide.
pub const ANNOTATION_CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// `"true"` here makes a SealedSecret namespace-wide (label `"<namespace>"`).
pub const ANNOTATION_NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// `"true"` on an existing Secret lets the controller take it over.
pub const ANNOTATION_MANAGED: &str = "sealedsecrets.bitnami.com/managed";
/// `"true"` on an existing Secret makes the controller merge into it instead of replacing it.
pub const ANNOTATION_PATCH: &str = "sealedsecrets.bitnami.com/patch";
/// `"true"` in the template's annotations: the unsealed Secret gets no ownerReference.
pub const ANNOTATION_SKIP_SET_OWNER_REFERENCES: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";

/// Which names a sealed value may be unsealed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Scope {
    /// Only this name in this namespace (label `"<namespace>/<name>"`). The default.
    #[default]
    Strict,
    /// Any name in this namespace (label `"<namespace>"`).
    NamespaceWide,
    /// Any name in any namespace (empty label).
    ClusterWide,
}

impl Scope {
    /// The OAEP label for a value of this scope in `namespace`/`name`.
    pub fn label(self, namespace: &str, name: &str) -> String {
        match self {
            Scope::Strict => format!("{namespace}/{name}"),
            Scope::NamespaceWide => namespace.to_string(),
            Scope::ClusterWide => String::new(),
        }
    }

    /// The scope selected by annotations: exact `"true"` only, cluster-wide first, else strict.
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Scope {
        let is_true = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .is_some_and(|v| v == "true")
        };
        if is_true(ANNOTATION_CLUSTER_WIDE) {
            Scope::ClusterWide
        } else if is_true(ANNOTATION_NAMESPACE_WIDE) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// Rewrite the scope annotations in `annotations` to say exactly this scope: both scope
    /// keys are removed, then the one for a non-strict scope is set to `"true"`.
    pub fn write_annotations(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(ANNOTATION_CLUSTER_WIDE);
        annotations.remove(ANNOTATION_NAMESPACE_WIDE);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                annotations.insert(ANNOTATION_NAMESPACE_WIDE.into(), "true".into());
            }
            Scope::ClusterWide => {
                annotations.insert(ANNOTATION_CLUSTER_WIDE.into(), "true".into());
            }
        }
    }

    /// The `--scope` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `--scope` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}: use strict, namespace-wide or cluster-wide")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            other => Err(UnknownScope(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_follow_the_bitnami_encryption_label() {
        assert_eq!(Scope::Strict.label("ns", "name"), "ns/name");
        assert_eq!(Scope::NamespaceWide.label("ns", "name"), "ns");
        assert_eq!(Scope::ClusterWide.label("ns", "name"), "");
    }

    #[test]
    fn annotations_need_exact_true_and_cluster_wide_wins() {
        let both = annotations(&[
            (ANNOTATION_CLUSTER_WIDE, "true"),
            (ANNOTATION_NAMESPACE_WIDE, "true"),
        ]);
        assert_eq!(Scope::from_annotations(Some(&both)), Scope::ClusterWide);
        let ns = annotations(&[(ANNOTATION_NAMESPACE_WIDE, "true")]);
        assert_eq!(Scope::from_annotations(Some(&ns)), Scope::NamespaceWide);
        let capital = annotations(&[(ANNOTATION_CLUSTER_WIDE, "True")]);
        assert_eq!(Scope::from_annotations(Some(&capital)), Scope::Strict);
        assert_eq!(Scope::from_annotations(None), Scope::Strict);
    }

    #[test]
    fn write_annotations_replaces_previous_scope() {
        let mut a = annotations(&[(ANNOTATION_CLUSTER_WIDE, "true"), ("keep", "me")]);
        Scope::NamespaceWide.write_annotations(&mut a);
        assert_eq!(
            a,
            annotations(&[(ANNOTATION_NAMESPACE_WIDE, "true"), ("keep", "me")])
        );
        Scope::Strict.write_annotations(&mut a);
        assert_eq!(a, annotations(&[("keep", "me")]));
    }

    #[test]
    fn parses_flag_values() {
        assert_eq!("".parse::<Scope>(), Ok(Scope::Strict));
        assert_eq!("cluster-wide".parse::<Scope>(), Ok(Scope::ClusterWide));
        assert!("namespace".parse::<Scope>().is_err());
    }
}
