//! Argo CD's `argoproj.io/v1alpha1` `Application` and `AppProject`, as serde structs.
//!
//! Users migrate by pointing Fjord at their existing YAML, so these types read every field
//! Argo CD defines and keep the ones they do not model (flattened `extra` maps): a
//! read-modify-write by the controller never drops what a user wrote. Booleans are
//! `Option<bool>` so `false` stays written; the one normalisation on write is that empty
//! lists are omitted (`syncOptions: []` reads back as absent, which Argo CD treats alike).

mod project;
mod spec;
mod status;

pub use project::{AppProject, AppProjectSpec, GroupKind};
pub use spec::{
    ApplicationDestination, ApplicationSource, ApplicationSpec, Backoff,
    DEFAULT_REVISION_HISTORY_LIMIT, DirectorySource, Extra, HelmFileParameter, HelmParameter,
    HelmSource, Info, KustomizeReplica, KustomizeSource, ManagedNamespaceMetadata, Operation,
    OperationInitiator, ResourceIgnoreDifferences, RetryStrategy, SyncOperation,
    SyncOperationResource, SyncPolicy, SyncPolicyAutomated,
};
pub use status::{
    AppHealthStatus, ApplicationCondition, ApplicationStatus, ApplicationSummary, ComparedTo,
    HealthStatusCode, OperationPhase, OperationState, ResourceHealth, ResourceResult,
    ResourceStatus, ResultCode, RevisionHistory, SyncOperationResult, SyncStatus, SyncStatusCode,
    condition_type, push_history,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// The API group of both kinds.
pub const GROUP: &str = "argoproj.io";
/// The API version of both kinds.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of both kinds.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";

/// An Argo CD Application.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `argoproj.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `Application`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to deploy where.
    #[serde(default)]
    pub spec: ApplicationSpec,
    /// Written by the controller (through the main resource: the CRD has no status
    /// subresource). A status Fjord cannot read is dropped rather than making the whole
    /// Application unreadable; the controller recomputes it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_status"
    )]
    pub status: Option<ApplicationStatus>,
    /// A requested operation (manual sync), cleared when it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// Unmodelled top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

fn lenient_status<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<ApplicationStatus>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(d)?;
    Ok(raw.and_then(|v| serde_json::from_value(v).ok()))
}

macro_rules! argo_resource {
    ($ty:ty, $kind:literal, $plural:literal) => {
        /// Lets kube-rs `Api<_>`, watchers and reflectors use the type directly.
        impl kube_core::Resource for $ty {
            type DynamicType = ();
            type Scope = kube_core::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                GROUP.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                VERSION.into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

argo_resource!(Application, "Application", "applications");
argo_resource!(AppProject, "AppProject", "appprojects");

/// Why an Application or AppProject document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not YAML/JSON of the expected shape.
    #[error("{kind}: {source}")]
    Decode {
        /// The kind being read.
        kind: &'static str,
        /// The decoder's message (line and column included).
        #[source]
        source: serde_norway::Error,
    },
    /// The document is of another kind.
    #[error(
        "expected {expected} in {API_VERSION}, found kind {found:?} apiVersion {api_version:?}"
    )]
    WrongKind {
        /// The kind being read.
        expected: &'static str,
        /// `kind` of the document.
        found: String,
        /// `apiVersion` of the document.
        api_version: String,
    },
}

fn parse_kind<T: for<'de> Deserialize<'de>>(
    text: &str,
    expected: &'static str,
    kind_of: impl Fn(&T) -> (&str, &str),
) -> Result<T, ParseError> {
    let value: T = serde_norway::from_str(text).map_err(|source| ParseError::Decode {
        kind: expected,
        source,
    })?;
    let (api_version, kind) = kind_of(&value);
    if kind != expected || api_version != API_VERSION {
        return Err(ParseError::WrongKind {
            expected,
            found: kind.to_string(),
            api_version: api_version.to_string(),
        });
    }
    Ok(value)
}

impl Application {
    /// Reads one Application from YAML or JSON, checking `apiVersion` and `kind`.
    pub fn from_yaml(text: &str) -> Result<Self, ParseError> {
        parse_kind(text, "Application", |a: &Application| {
            (a.api_version.as_str(), a.kind.as_str())
        })
    }

    /// `metadata.name`, or empty.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// `metadata.namespace`, or empty.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
}

impl AppProject {
    /// Reads one AppProject from YAML or JSON, checking `apiVersion` and `kind`.
    pub fn from_yaml(text: &str) -> Result<Self, ParseError> {
        parse_kind(text, "AppProject", |p: &AppProject| {
            (p.api_version.as_str(), p.kind.as_str())
        })
    }
}

#[cfg(test)]
mod tests;
