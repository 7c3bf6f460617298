//! Error types: one enum per public operation, each variant naming the step that failed.

use crate::schema::SchemaDataError;
use crate::wire::{WireError, WireType};

/// Why a protobuf request body could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body does not start with `k8s\0`.
    #[error("body is not Kubernetes protobuf: missing the 4-byte magic prefix k8s\\0")]
    MissingMagic,
    /// The `runtime.Unknown` envelope after the magic is malformed.
    #[error("malformed runtime.Unknown envelope: {source}")]
    Envelope {
        /// The wire-level problem.
        source: WireError,
    },
    /// The envelope lacks `typeMeta.apiVersion` or `typeMeta.kind`.
    #[error("runtime.Unknown envelope has no typeMeta (apiVersion {api_version:?}, kind {kind:?})")]
    MissingTypeMeta {
        /// The apiVersion found (possibly empty).
        api_version: String,
        /// The kind found (possibly empty).
        kind: String,
    },
    /// `contentEncoding` is set (no Kubernetes client compresses bodies this way).
    #[error("unsupported runtime.Unknown contentEncoding {encoding:?}")]
    ContentEncoding {
        /// The encoding named in the envelope.
        encoding: String,
    },
    /// No protobuf schema is known for this apiVersion/kind (the server should answer 415).
    #[error("no protobuf schema for apiVersion {api_version:?} kind {kind:?}")]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// A field of the object is malformed.
    #[error("{api_version} {kind}: field {path:?}: {reason}")]
    Field {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
        /// JSON path of the field, e.g. `spec.template.spec.containers[0].ports`.
        path: String,
        /// What is wrong with it.
        reason: FieldError,
    },
    /// The vendored schema data failed to parse (a build defect).
    #[error(transparent)]
    SchemaData(#[from] SchemaDataError),
}

/// What is wrong with one field's encoded value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The bytes are not well-formed protobuf.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The field's wire type does not match its schema type.
    #[error("expected wire type {expected:?}, found {found:?}")]
    WrongWireType {
        /// The wire type the schema implies.
        expected: WireType,
        /// The wire type in the body.
        found: WireType,
    },
    /// The value nests deeper than any Kubernetes object does.
    #[error("nested more than {limit} levels deep")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// A referenced message type is missing from the vendored schema.
    #[error("message type {0} is not in the vendored schema")]
    UnknownMessage(String),
    /// The value is well-formed protobuf but has no JSON form (bad IntOrString type, invalid raw JSON).
    #[error("{0}")]
    InvalidValue(String),
}

/// Why a Swagger 2.0 document could not be encoded as gnostic protobuf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A value has the wrong JSON type for its Swagger position.
    #[error("swagger {path}: expected {expected}")]
    WrongType {
        /// JSON pointer-like path of the value, e.g. `paths./api/v1/...patch.parameters[0]`.
        path: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A key that Swagger 2.0 (and gnostic) does not define at this position.
    #[error("swagger {path}: unsupported key {key:?}")]
    UnsupportedKey {
        /// Path of the object holding the key.
        path: String,
        /// The key.
        key: String,
    },
    /// A required member is missing (e.g. a parameter without `in`).
    #[error("swagger {path}: missing {member}")]
    Missing {
        /// Path of the object.
        path: String,
        /// The member that must be present.
        member: &'static str,
    },
}
