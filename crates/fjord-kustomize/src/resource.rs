//! One Kubernetes object during a build, with the bookkeeping kustomize keeps beside it: the ids
//! it had before renames (so references can be fixed up), the prefixes and suffixes applied, and
//! whether a generator asked for a content-hash name suffix.

use serde_json::{Map, Value};
use std::fmt;

/// Group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Gvk {
    /// API group, empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// Splits `apiVersion` into group and version.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }
    /// `group_version_kind` with kustomize's placeholders, used for ordering.
    pub fn sort_string(&self) -> String {
        let g = if self.group.is_empty() {
            "~G"
        } else {
            &self.group
        };
        let v = if self.version.is_empty() {
            "~V"
        } else {
            &self.version
        };
        let k = if self.kind.is_empty() {
            "~K"
        } else {
            &self.kind
        };
        format!("{g}_{v}_{k}")
    }
    /// Whether objects of this kind live outside namespaces.
    pub fn is_cluster_scoped(&self) -> bool {
        CLUSTER_SCOPED
            .iter()
            .any(|(g, k)| *k == self.kind && *g == self.group)
    }
}

/// Built-in cluster-scoped types, by group and kind: those kustomize's built-in schema knows
/// (newer kinds such as ValidatingAdmissionPolicy are namespaced as far as kustomize can tell).
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("", "ComponentStatus"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("resource.k8s.io", "DeviceClass"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("policy", "PodSecurityPolicy"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "ResourceSlice"),
    ("node.k8s.io", "RuntimeClass"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("storage.k8s.io", "StorageClass"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("authentication.k8s.io", "TokenReview"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
];

/// What identifies a resource: its type, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResId {
    /// Type.
    pub gvk: Gvk,
    /// metadata.name.
    pub name: String,
    /// metadata.namespace, empty when unset.
    pub namespace: String,
}

impl ResId {
    /// Namespace with "default" folded into "" (kustomize treats them alike).
    pub fn effective_namespace(&self) -> &str {
        if self.namespace == "default" {
            ""
        } else {
            &self.namespace
        }
    }
    /// Same type (group, version, kind), name and namespace.
    pub fn same_as(&self, other: &ResId) -> bool {
        self.gvk == other.gvk
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.gvk.version.is_empty() {
            "[noVer]"
        } else {
            &self.gvk.version
        };
        let g = if self.gvk.group.is_empty() {
            "[noGrp]"
        } else {
            &self.gvk.group
        };
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(f, "{}.{}.{}/{}.{}", self.gvk.kind, v, g, self.name, ns)
    }
}

/// How a generated object combines with an existing one of the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Must not exist yet.
    #[default]
    Create,
    /// Merge data into the existing object.
    Merge,
    /// Replace the existing object.
    Replace,
}

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from this file.
    File(std::path::PathBuf),
    /// Made by a generator configured in `file`.
    Generator {
        /// The kustomization (or plugin configuration) file.
        file: std::path::PathBuf,
        /// Generator kind (`ConfigMapGenerator`, `SecretGenerator`).
        kind: String,
        /// Name of a plugin configuration, if it came from one.
        name: Option<String>,
    },
}

/// A transformer that visited an object: where it was configured and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformation {
    /// The kustomization or plugin configuration file.
    pub file: std::path::PathBuf,
    /// Builtin transformer kind (`PrefixTransformer`, `PatchTransformer`, ...).
    pub kind: String,
    /// Plugin configuration name, if it came from one.
    pub name: Option<String>,
    /// Plugin configuration namespace, if it came from one.
    pub namespace: Option<String>,
}

/// One object and its build history.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object itself.
    pub obj: Map<String, Value>,
    /// Ids it had before each rename, oldest first (the first is the original).
    pub prev_ids: Vec<ResId>,
    /// Name prefixes applied, innermost first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied, innermost first.
    pub suffixes: Vec<String>,
    /// A generator asked for a content hash suffix on the name.
    pub needs_hash: bool,
    /// Generator behavior, for objects made by generators.
    pub behavior: Option<Behavior>,
    /// Where it came from, for `buildMetadata: [originAnnotations]`.
    pub origin: Option<Origin>,
    /// Vars whose object reference was bound to this object where they were declared.
    pub ref_vars: Vec<String>,
    /// Transformers that visited it, for `buildMetadata: [transformerAnnotations]`.
    pub transformations: Vec<Transformation>,
}

impl Resource {
    /// Wraps an object read from a file.
    pub fn new(obj: Map<String, Value>) -> Resource {
        Resource {
            obj,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            behavior: None,
            origin: None,
            ref_vars: Vec::new(),
            transformations: Vec::new(),
        }
    }
    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.obj.get("kind").and_then(Value::as_str).unwrap_or("")
    }
    /// Type.
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }
    fn meta_str(&self, field: &str) -> &str {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.meta_str("name")
    }
    /// `metadata.namespace` ("" when unset).
    pub fn namespace(&self) -> &str {
        self.meta_str("namespace")
    }
    /// Current id.
    pub fn id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }
    /// The id it was loaded with.
    pub fn orig_id(&self) -> ResId {
        self.prev_ids.first().cloned().unwrap_or_else(|| self.id())
    }
    /// Current and all earlier ids.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids.clone();
        ids.push(self.id());
        ids
    }
    /// `metadata`, created when missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let m = self
            .obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !m.is_object() {
            *m = Value::Object(Map::new());
        }
        match m {
            Value::Object(map) => map,
            _ => unreachable!("metadata was just made an object"),
        }
    }
    /// Renames, remembering the old id.
    pub fn set_name(&mut self, name: &str) {
        let old = self.id();
        self.prev_ids.push(old);
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_string()));
    }
    /// Moves to a namespace, remembering the old id.
    pub fn set_namespace(&mut self, ns: &str) {
        let old = self.id();
        self.prev_ids.push(old);
        self.metadata_mut()
            .insert("namespace".into(), Value::String(ns.to_string()));
    }
    /// Labels (string values only).
    pub fn labels(&self) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
    /// Annotations.
    pub fn annotations(&self) -> Map<String, Value> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}
