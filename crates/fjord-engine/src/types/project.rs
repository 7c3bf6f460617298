//! `AppProject`: the tenancy boundary (allowed sources, destinations, kinds).
//!
//! Only the fields the engine checks are modelled; roles, sync windows, orphan settings and
//! signature keys are kept verbatim as JSON until the engine enforces them.

use super::spec::{ApplicationDestination, Extra};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An Argo CD AppProject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProject {
    /// `argoproj.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `AppProject`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Restrictions.
    #[serde(default)]
    pub spec: AppProjectSpec,
    /// Status (JWT token ids), not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Unmodelled top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `AppProject.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    /// Allowed source repository globs (`!` negates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
    /// Allowed destinations (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<ApplicationDestination>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Cluster-scoped kinds allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_whitelist: Vec<GroupKind>,
    /// Cluster-scoped kinds denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<GroupKind>,
    /// Namespaced kinds allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_whitelist: Vec<GroupKind>,
    /// Namespaced kinds denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_blacklist: Vec<GroupKind>,
    /// Namespaces Applications of this project may live in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_namespaces: Vec<String>,
    /// Unmodelled fields (roles, syncWindows, orphanedResources, signatureKeys, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A group and kind (globs allowed in AppProject lists).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupKind {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Unmodelled fields (name globs).
    #[serde(flatten)]
    pub extra: Extra,
}
