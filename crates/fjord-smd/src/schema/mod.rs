//! The schema the merge engine walks: structured-merge-diff's type model (scalars, lists that
//! are atomic / sets / keyed maps, maps that are structs or granular or atomic, and the
//! "deduced" untyped type) compiled into an arena so every lookup is an index.
//!
//! Data flow: OpenAPI / JSON-schema definitions (`convert`) or a CRD's `openAPIV3Schema`
//! (`crd`) → the SMD schema document (the same JSON shape as structured-merge-diff's YAML
//! schema, which the conformance fixtures use) → `compile` → [`Schema`].

mod compile;
mod convert;
mod crd;

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

pub use convert::convert_definitions;

/// Name of the untyped, atomic catch-all type.
pub(crate) const UNTYPED_ATOMIC: &str = "__untyped_atomic_";
/// Name of the untyped type whose maps are granular (preserve-unknown-fields, FieldsV1, ...).
pub(crate) const UNTYPED_DEDUCED: &str = "__untyped_deduced_";

/// Why a schema could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A definition or CRD schema node could not be converted.
    #[error("converting schema {type_name} at {at}: {reason}")]
    ConvertFailed {
        /// The definition (or CRD kind) being converted.
        type_name: String,
        /// Where in it (JSON pointer).
        at: String,
        /// What was wrong.
        reason: String,
    },
    /// The SMD schema document referenced a type it does not define.
    #[error("schema type {from} refers to unknown type {name}")]
    UnknownType {
        /// The missing type's name.
        name: String,
        /// The type holding the reference.
        from: String,
    },
    /// The SMD schema document is malformed.
    #[error("schema document invalid at type {type_name}: {reason}")]
    DocumentInvalid {
        /// The type being compiled.
        type_name: String,
        /// What was wrong.
        reason: String,
    },
}

/// A handle to one type of a [`Schema`] (usually the root type of a kind). Only meaningful with
/// the schema that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeRef(pub(crate) u32);

/// Scalar kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    String,
    Numeric,
    Boolean,
    Untyped,
}

/// A list type: atomic, a set (associative without keys) or a map-list (associative with keys).
#[derive(Clone, Debug)]
pub(crate) struct ListType {
    pub elem: TypeRef,
    pub atomic: bool,
    pub keys: Vec<String>,
    /// Schema default of each key field (same order as `keys`), used when an item omits it.
    pub key_defaults: Vec<Option<Value>>,
}

/// One declared struct field.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: String,
    pub ty: TypeRef,
    pub default: Option<Value>,
}

/// A map type: a struct (declared `fields`), a map (`elem`), or both; atomic or granular.
#[derive(Clone, Debug)]
pub(crate) struct MapType {
    /// Sorted by name.
    pub fields: Vec<Field>,
    pub elem: Option<TypeRef>,
    pub atomic: bool,
}

impl MapType {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.fields[i])
    }

    /// The type of key `name`: the declared field's, else the element type.
    pub fn child_type(&self, name: &str) -> Option<TypeRef> {
        self.field(name).map(|f| f.ty).or(self.elem)
    }
}

/// A resolved type: one or more of scalar / list / map (several only for untyped types, whose
/// value decides which applies).
#[derive(Clone, Debug, Default)]
pub(crate) struct Atom {
    pub scalar: Option<ScalarKind>,
    pub list: Option<ListType>,
    pub map: Option<MapType>,
}

/// A compiled schema: every named and inline type of one or more root kinds.
#[derive(Debug, Default)]
pub struct Schema {
    pub(crate) atoms: Vec<Atom>,
    pub(crate) names: HashMap<String, TypeRef>,
    gvks: HashMap<(String, String, String), TypeRef>,
    kinds_of: HashMap<TypeRef, Vec<(String, String, String)>>,
}

impl Schema {
    pub(crate) fn atom(&self, t: TypeRef) -> &Atom {
        &self.atoms[t.0 as usize]
    }

    /// The type named `name` (a definition name such as `io.k8s.api.apps.v1.Deployment`).
    pub fn type_named(&self, name: &str) -> Option<TypeRef> {
        self.names.get(name).copied()
    }

    /// The root type of a kind, through the definitions' `x-kubernetes-group-version-kind`
    /// (core group is `""`).
    pub fn root_for_gvk(&self, group: &str, version: &str, kind: &str) -> Option<TypeRef> {
        self.gvks
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .copied()
    }

    /// The (group, version, kind) triples a root type serves, empty for non-root types.
    pub fn gvks_of(&self, t: TypeRef) -> &[(String, String, String)] {
        self.kinds_of.get(&t).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(crate) fn register_gvk(&mut self, t: TypeRef, group: &str, version: &str, kind: &str) {
        let gvk = (group.to_string(), version.to_string(), kind.to_string());
        self.gvks.insert(gvk.clone(), t);
        self.kinds_of.entry(t).or_default().push(gvk);
    }

    /// Compiles a schema document in structured-merge-diff's format
    /// (`{"types": [{"name": ..., "map"|"list"|"scalar": ...}]}`).
    pub fn from_smd_document(doc: &Value) -> Result<Schema, SchemaError> {
        let types = doc.get("types").and_then(Value::as_array).ok_or_else(|| {
            SchemaError::DocumentInvalid {
                type_name: String::new(),
                reason: "missing \"types\" array".into(),
            }
        })?;
        compile::compile(types)
    }

    /// Converts a CRD version's `openAPIV3Schema` the way the apiserver builds its type
    /// converter: lists without markers are atomic, `x-kubernetes-list-type` /
    /// `x-kubernetes-list-map-keys` / `x-kubernetes-map-type` are honoured,
    /// preserve-unknown-fields becomes deduced, int-or-string untyped, `default`s on fields
    /// are kept (key defaults), and `apiVersion`, `kind`, `metadata` (ObjectMeta) are set at
    /// the root.
    pub fn from_crd_schema(
        group: &str,
        version: &str,
        kind: &str,
        open_api_v3_schema: &Value,
    ) -> Result<(Schema, TypeRef), SchemaError> {
        crd::from_crd_schema(group, version, kind, open_api_v3_schema)
    }
}

/// A CRD's root type in SMD document form (`{"name": "<reversed group>.<version>.<kind>",
/// "map": ...}`), for inspection and for comparing with other SMD schema renderings.
pub fn crd_root_document(
    group: &str,
    version: &str,
    kind: &str,
    open_api_v3_schema: &Value,
) -> Result<Value, SchemaError> {
    crd::convert_root(group, version, kind, open_api_v3_schema)
}

static DEFINITIONS: OnceLock<Value> = OnceLock::new();
static BUILTIN_DOC: OnceLock<Vec<Value>> = OnceLock::new();
static BUILTIN: OnceLock<Schema> = OnceLock::new();

const DEFINITIONS_JSON: &str = include_str!("../../data/k8s-v1.33-definitions.json");

/// The vendored Kubernetes 1.33 definitions (`$defs` of kubernetes-validate 1.37.0's
/// `v1.33.0-local/_definitions.json`), keyed like `io.k8s.api.apps.v1.Deployment`.
pub fn builtin_definitions() -> &'static Value {
    DEFINITIONS.get_or_init(|| {
        let mut all: Value =
            serde_json::from_str(DEFINITIONS_JSON).expect("vendored definitions are valid JSON");
        all.get_mut("$defs")
            .map(Value::take)
            .expect("vendored definitions have $defs")
    })
}

/// The vendored definitions converted to SMD schema types (document form).
pub(crate) fn builtin_document() -> &'static [Value] {
    BUILTIN_DOC.get_or_init(|| {
        let defs = builtin_definitions()
            .as_object()
            .expect("vendored $defs is an object");
        convert_definitions(defs).expect("vendored definitions convert")
    })
}

/// The schema of every built-in Kubernetes 1.33 kind, parsed and compiled once.
pub fn builtin_schema() -> &'static Schema {
    BUILTIN.get_or_init(|| {
        let mut schema = compile::compile(builtin_document()).expect("vendored schema compiles");
        let defs = builtin_definitions()
            .as_object()
            .expect("vendored $defs is an object");
        for (name, def) in defs {
            let Some(gvks) = def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
            else {
                continue;
            };
            let Some(t) = schema.type_named(name) else {
                continue;
            };
            for gvk in gvks {
                let s = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("");
                schema.register_gvk(t, s("group"), s("version"), s("kind"));
            }
        }
        schema
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_root_resolves() {
        let s = builtin_schema();
        let t = s.root_for_gvk("apps", "v1", "Deployment").unwrap();
        assert_eq!(s.type_named("io.k8s.api.apps.v1.Deployment"), Some(t));
        assert!(s.atom(t).map.as_ref().unwrap().field("spec").is_some());
        assert!(s.root_for_gvk("", "v1", "ConfigMap").is_some());
    }
}
