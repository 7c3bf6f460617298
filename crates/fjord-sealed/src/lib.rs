//! Sealed Secrets, compatible with Bitnami's controller and kubeseal: the hybrid encryption
//! (RSA-OAEP-SHA256 of a fresh AES-256-GCM key, zero nonce, 2-byte length prefix), scopes and
//! their labels, the key ring, key Secrets, and the pure functions between a `Secret` and a
//! `SealedSecret`.
//!
//! ```text
//! Secret ──seal_secret(cert, scope)──▶ SealedSecret ──unseal(key ring)──▶ Secret
//!                                          │
//!                                          └─re_encrypt(key ring, newest cert)──▶ SealedSecret
//! ```
//!
//! Main types: [`SealingCert`] (public half, what sealing needs), [`KeyRing`] (private keys,
//! what opening needs), [`SealedSecret`]. Everything is synchronous and does no I/O: callers
//! read files, talk HTTP and Kubernetes, and wrap RSA work in `spawn_blocking`. Secret values
//! never appear in errors or `Debug` output of this crate's own types.

#![warn(missing_docs)]

mod documents;
mod error;
mod hybrid;
mod keys;
mod reconcile;
mod scope;
mod seal;
mod sealed_secret;
mod template;
mod unseal;

#[cfg(test)]
mod test_keys;

pub use documents::{Format, from_document, object_ref, parse_documents, render};
pub use error::{Error, ItemProblem, ItemProblemKind, Result, UnsealFailure};
pub use hybrid::{
    HybridDecryptError, HybridEncryptError, SESSION_KEY_LEN, decode_base64_like_go, encode_base64,
    hybrid_decrypt, hybrid_encrypt,
};
pub use keys::{
    DEFAULT_KEY_BITS, DEFAULT_KEY_PREFIX, DEFAULT_KEY_VALIDITY, KEY_LABEL, KEY_LABEL_ACTIVE,
    KeyOptions, KeyPair, KeyRing, LEGACY_KEY_SECRET_NAME, PrivateKey, SealingCert, is_key_secret,
    key_pair_from_secret, key_pair_to_secret, private_keys_from_backup,
};
pub use reconcile::{NotManaged, SecretPlan, is_controlled_by, plan_secret, synced_status};
pub use scope::{
    ANNOTATION_CLUSTER_WIDE, ANNOTATION_MANAGED, ANNOTATION_NAMESPACE_WIDE, ANNOTATION_PATCH,
    ANNOTATION_PREFIX, ANNOTATION_SKIP_SET_OWNER_REFERENCES, Scope, UnknownScope,
};
pub use seal::{merge_into, re_encrypt, seal_raw, seal_secret};
pub use sealed_secret::{
    API_VERSION, KIND, SealedSecret, SealedSecretCondition, SealedSecretSpec, SealedSecretStatus,
    SecretTemplateSpec,
};
pub use unseal::{UnsealOptions, owner_reference, unseal, unseal_with};

/// The aws-lc-rs RSA key types used by [`hybrid_encrypt`] and [`hybrid_decrypt`].
pub use aws_lc_rs::rsa::{PrivateDecryptingKey, PublicEncryptingKey};
/// The Kubernetes types this API speaks, re-exported so callers use the same version.
pub use k8s_openapi;
