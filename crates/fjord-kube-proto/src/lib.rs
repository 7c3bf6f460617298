//! Kubernetes Protocol Buffers on the wire, for an API server that otherwise speaks JSON.
//!
//! Two needs of real kubectl clients, nothing else (no HTTP, no async):
//!
//! - [`decode_object`]: kubectl ≥ 1.32 sends every imperative `kubectl create <kind>` body as
//!   `application/vnd.kubernetes.protobuf` (`k8s\0` + `runtime.Unknown`) and does not retry with
//!   JSON after a 415. This turns such a body into the object's JSON form. It is driven by a
//!   vendored field table generated from Kubernetes' generated.proto definitions
//!   (`data/k8s-proto-fields.txt`), so it covers every built-in kind, not only those kubectl creates.
//! - [`encode_openapi_v2`]: kubectl 1.27–1.28 validate `apply` input only against `/openapi/v2`,
//!   fetched only as gnostic protobuf. This encodes a Swagger 2.0 JSON document that way, driven by
//!   gnostic's vendored `OpenAPIv2.proto`.
//!
//! ```
//! let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/create/namespace.pb")).unwrap();
//! let ns = fjord_kube_proto::decode_object(&body).unwrap();
//! assert_eq!(ns["kind"], "Namespace");
//! assert_eq!(ns["metadata"]["name"], "demo");
//! ```
#![warn(missing_docs)]

mod decode;
mod error;
mod openapi_v2;
mod schema;
mod wellknown;
mod wire;

pub use decode::{PROTOBUF_MAGIC, decode_object, is_protobuf, supported_kinds};
pub use error::{DecodeError, EncodeError, FieldError};
pub use openapi_v2::{
    OPENAPI_V2_PROTOBUF_ACCEPT, OPENAPI_V2_PROTOBUF_CONTENT_TYPE, ServedKind, encode_openapi_v2,
    field_validation_swagger,
};
pub use schema::SchemaDataError;
pub use wire::{WireError, WireType};

/// The Content-Type of Kubernetes protobuf request and response bodies.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
