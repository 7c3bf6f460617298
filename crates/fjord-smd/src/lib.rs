//! Server-side apply for Kubernetes objects: a Rust implementation of structured-merge-diff
//! (the library a kube-apiserver runs server-side apply with) plus the apiserver's
//! managedFields wrapping.
//!
//! * [`builtin_schema`] / [`Schema::from_crd_schema`]: the type model (list and map
//!   semantics, list-map keys and key defaults) for built-in kinds (Kubernetes 1.33) and CRDs.
//! * [`apply`] / [`update`]: every write of the embedded apiserver goes through one of them;
//!   they merge, prune, detect conflicts and return the object with its new
//!   `metadata.managedFields`.
//! * [`FieldSet`]: field paths and `fieldsV1` (read managedFields, e.g. in the GitOps engine).
//!
//! Semantics follow SMD v4.6 (Kubernetes 1.33): merged list order follows the applied
//! configuration, no-op applies are detected on the whole object, and live objects may hold
//! duplicate list keys (owned as one leaf) while applied configurations may not.
#![warn(missing_docs)]

mod api;
mod error;
mod fieldpath;
mod managed;
mod reset;
mod schema;
mod typed;
mod updater;
mod value;

pub use api::{
    ApplyRequest, BEFORE_FIRST_APPLY, UNKNOWN_MANAGER, UpdateRequest, WriteOutcome, apply, update,
};
pub use error::{ApplyError, Conflict, Conflicts};
pub use fieldpath::{FieldPath, FieldSet, FieldsV1Error, PathElement};
pub use managed::{ManagedFieldsEntry, ManagedFieldsError, ManagerId, Operation, decode_entries};
pub use schema::{
    Schema, SchemaError, TypeRef, builtin_definitions, builtin_schema, convert_definitions,
    crd_root_document,
};
pub use typed::prune_unknown_fields;
