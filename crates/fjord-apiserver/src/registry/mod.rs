//! What the server serves: one `ResourceType` per group/version/resource, the built-in kinds from a
//! static table and every kind a CustomResourceDefinition defines, updated the moment a CRD is
//! written so that its kind is served (and discovered) at once.

mod builtin;
mod crd;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

pub use crd::{CrdError, types_from_crd};

/// Paths of the scale subresource's fields inside the object.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// e.g. `.spec.replicas`
    pub spec_replicas: String,
    /// e.g. `.status.replicas`
    pub status_replicas: String,
    /// e.g. `.status.selector`
    pub label_selector: Option<String>,
}

/// Where a resource type comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Compiled in.
    Builtin,
    /// Defined by the CRD of this name.
    Crd {
        /// `metadata.name` of the CRD.
        crd_name: String,
        /// The version's `schema.openAPIV3Schema`, if any.
        schema: Option<Value>,
        /// The version's `additionalPrinterColumns`.
        printer_columns: Vec<Value>,
    },
}

/// One served resource (a group, version and plural name).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural resource name used in paths.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Has a `status` subresource.
    pub status_subresource: bool,
    /// Has a `scale` subresource.
    pub scale: Option<ScalePaths>,
    /// Whether writes to the main resource bump `metadata.generation` on spec changes (built-ins
    /// with a spec, every custom resource).
    pub has_generation: bool,
    /// Where the type is defined.
    pub origin: Origin,
}

impl ResourceType {
    /// `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps` or `configmaps`: the name Status errors use.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The store key prefix of every object of this resource (all versions share it).
    pub fn key_prefix(&self) -> String {
        format!("{}/{}/", self.group, self.plural)
    }

    /// The store key prefix for one namespace (or for all of a cluster-scoped resource).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!("{}/{}/{}/", self.group, self.plural, ns),
            None => self.key_prefix(),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!(
            "{}/{}/{}/{}",
            self.group,
            self.plural,
            namespace.unwrap_or(""),
            name
        )
    }

    /// Whether this is a custom resource.
    pub fn is_custom(&self) -> bool {
        matches!(self.origin, Origin::Crd { .. })
    }

    /// The verbs served on the main resource.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

/// The set of served resource types. Readers take a cheap snapshot.
pub struct Registry {
    types: RwLock<Arc<Types>>,
}

/// An immutable snapshot of every served type.
#[derive(Default, Clone)]
pub struct Types {
    /// (group, version, plural) → type
    by_resource: BTreeMap<(String, String, String), Arc<ResourceType>>,
}

impl Types {
    /// A type by its group, version and plural name.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.by_resource
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// A type by its group, version and kind.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.by_resource
            .values()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    /// Every type, ordered by group, version and plural.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.by_resource.values()
    }

    /// The served versions of a group, preferred first (the order they were registered in for
    /// built-ins; for CRDs, the CRD's order).
    pub fn versions_of(&self, group: &str) -> Vec<String> {
        let mut versions: Vec<String> = Vec::new();
        for t in self.by_resource.values().filter(|t| t.group == group) {
            if !versions.contains(&t.version) {
                versions.push(t.version.clone());
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        versions
    }

    /// Every group, core first, then built-in groups, then CRD groups, by name.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for t in self.by_resource.values() {
            if !groups.contains(&t.group) {
                groups.push(t.group.clone());
            }
        }
        groups
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let rest = &rest[digits.len()..];
    if rest.is_empty() {
        return (3, major, 0);
    }
    let (stage, minor) = if let Some(n) = rest.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = rest.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, minor)
}

impl Registry {
    /// The registry with the built-in kinds.
    pub fn new() -> Registry {
        let mut types = Types::default();
        for t in builtin::types() {
            types.by_resource.insert(
                (t.group.clone(), t.version.clone(), t.plural.clone()),
                Arc::new(t),
            );
        }
        Registry {
            types: RwLock::new(Arc::new(types)),
        }
    }

    /// The current set of types.
    pub fn snapshot(&self) -> Arc<Types> {
        self.types.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the types defined by the CRD `crd_name` with `new_types` (empty to remove them).
    pub fn set_crd_types(&self, crd_name: &str, new_types: Vec<ResourceType>) {
        let mut guard = self.types.write().unwrap_or_else(|e| e.into_inner());
        let mut types = (**guard).clone();
        types.by_resource.retain(|_, t| match &t.origin {
            Origin::Crd { crd_name: n, .. } => n != crd_name,
            Origin::Builtin => true,
        });
        for t in new_types {
            let key = (t.group.clone(), t.version.clone(), t.plural.clone());
            // A CRD never shadows a built-in kind.
            if types
                .by_resource
                .get(&key)
                .is_some_and(|existing| !existing.is_custom())
            {
                continue;
            }
            types.by_resource.insert(key, Arc::new(t));
        }
        *guard = Arc::new(types);
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ordering_prefers_ga_then_beta() {
        let mut v = vec!["v1beta1", "v1", "v2alpha1", "v2", "v1beta2"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v2", "v1", "v1beta2", "v1beta1", "v2alpha1"]);
    }

    #[test]
    fn builtins_are_served_by_resource_and_kind() {
        let reg = Registry::new();
        let types = reg.snapshot();
        let d = types.get("apps", "v1", "deployments").unwrap();
        assert_eq!(d.kind, "Deployment");
        assert!(d.status_subresource && d.scale.is_some() && d.namespaced);
        assert_eq!(
            types.by_kind("", "v1", "Namespace").unwrap().plural,
            "namespaces"
        );
        assert!(types.groups().contains(&"apiextensions.k8s.io".to_string()));
    }
}
