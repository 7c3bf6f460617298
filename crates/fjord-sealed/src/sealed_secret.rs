//! The `bitnami.com/v1alpha1` `SealedSecret` resource, typed. Fields are declared in
//! alphabetical order so that output matches kubeseal's (which sorts keys). Reading is lenient
//! where the Bitnami controller is: `creationTimestamp: null`, ill-typed `encryptedData`
//! entries (dropped), and the legacy `spec.data` form.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer, Serialize};

use crate::documents::{from_document, object_ref, parse_documents};
use crate::error::{Error, Result};

/// `apiVersion` of SealedSecrets.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// `kind` of SealedSecrets.
pub const KIND: &str = "SealedSecret";

/// A SealedSecret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Always [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always [`KIND`].
    pub kind: String,
    /// Name, namespace and the scope annotations that decide the decryption label.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Encrypted items and the template of the Secret to produce.
    #[serde(default)]
    pub spec: SealedSecretSpec,
    /// What the controller last did with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SealedSecretStatus>,
}

impl Default for SealedSecret {
    fn default() -> Self {
        SealedSecret {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: ObjectMeta::default(),
            spec: SealedSecretSpec::default(),
            status: None,
        }
    }
}

/// `spec` of a SealedSecret.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SealedSecretSpec {
    /// Legacy (pre-v0.9) form: the hybrid encryption of a whole v1 Secret as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ByteString>,
    /// Item name → base64 of the hybrid ciphertext. Always written, like Go's (no omitempty).
    #[serde(
        rename = "encryptedData",
        default,
        deserialize_with = "lenient_string_map"
    )]
    pub encrypted_data: BTreeMap<String, String>,
    /// Metadata, type, immutability and templated data of the produced Secret.
    #[serde(default)]
    pub template: SecretTemplateSpec,
}

/// `spec.template`: what the produced Secret looks like besides its decrypted data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SecretTemplateSpec {
    /// Go `text/template` sources rendered over the decrypted items, overriding `data` keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// `immutable` of the produced Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Labels, annotations, finalizers... of the produced Secret.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `type` of the produced Secret (empty: the API server defaults to `Opaque`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// `status` of a SealedSecret.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SealedSecretStatus {
    /// Conditions; the controller keeps one of type `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<SealedSecretCondition>,
    /// `metadata.generation` this status is about.
    #[serde(
        rename = "observedGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
}

/// One status condition (type `Synced`: status `True`, `False` or `Unknown`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SealedSecretCondition {
    /// When `status` last changed.
    #[serde(
        rename = "lastTransitionTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_transition_time: Option<String>,
    /// When the condition was last written.
    #[serde(
        rename = "lastUpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<String>,
    /// Human-readable explanation (the unseal error on failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Condition type, `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// Go's `EncryptedData` unmarshalling swallows errors: keep the string entries, drop the rest.
fn lenient_string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let mut out = BTreeMap::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            if let serde_json::Value::String(s) = v {
                out.insert(k, s);
            }
        }
    }
    Ok(out)
}

impl SealedSecret {
    /// `namespace/name` for messages.
    pub fn object_ref(&self) -> String {
        object_ref(&self.metadata)
    }

    /// Parse exactly one SealedSecret (a request body: `/v1/verify`, `/v1/rotate`); zero or
    /// several documents are an error.
    pub fn parse_one(text: &str, origin: &str) -> Result<SealedSecret> {
        let mut all = Self::parse_all(text, origin)?;
        if all.len() != 1 {
            return Err(Error::Parse {
                origin: origin.into(),
                reason: format!("expected exactly one {KIND}, found {}", all.len()),
            });
        }
        Ok(all.remove(0))
    }

    /// Parse every SealedSecret in a YAML stream or JSON text. Other kinds are an error naming
    /// the document.
    pub fn parse_all(text: &str, origin: &str) -> Result<Vec<SealedSecret>> {
        parse_documents(text, origin)?
            .into_iter()
            .enumerate()
            .map(|(i, doc)| {
                let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("");
                if kind != KIND {
                    return Err(Error::Parse {
                        origin: origin.into(),
                        reason: format!(
                            "document {} is a {:?}, not a {KIND}",
                            i + 1,
                            if kind.is_empty() { "<no kind>" } else { kind }
                        ),
                    });
                }
                from_document::<SealedSecret>(doc, origin, KIND)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kubeseal_output_with_null_creation_timestamp() {
        let yaml = "---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  \
                    creationTimestamp: null\n  name: s\n  namespace: ns\nspec:\n  encryptedData:\n    \
                    foo: AgBy\n    bad: 12\n  template:\n    metadata:\n      creationTimestamp: null\n      \
                    name: s\n    type: Opaque\n";
        let all = SealedSecret::parse_all(yaml, "in").unwrap();
        assert_eq!(all.len(), 1);
        let s = &all[0];
        assert_eq!(s.object_ref(), "ns/s");
        assert_eq!(
            s.spec.encrypted_data,
            BTreeMap::from([("foo".into(), "AgBy".into())]),
            "the ill-typed item is dropped"
        );
        assert_eq!(s.spec.template.type_.as_deref(), Some("Opaque"));
    }

    #[test]
    fn parse_one_wants_exactly_one_document() {
        let one = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: a\n";
        assert!(SealedSecret::parse_one(one, "body").is_ok());
        let two = format!("{one}---\n{one}");
        assert!(SealedSecret::parse_one(&two, "body").is_err());
        assert!(SealedSecret::parse_one("", "body").is_err());
    }

    #[test]
    fn rejects_other_kinds() {
        let err = SealedSecret::parse_all("kind: Secret\napiVersion: v1\n", "f.yaml").unwrap_err();
        assert!(err.to_string().contains("not a SealedSecret"), "{err}");
    }

    #[test]
    fn serializes_in_sorted_key_order_with_encrypted_data_always_present() {
        let s = SealedSecret::default();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            "{\"apiVersion\":\"bitnami.com/v1alpha1\",\"kind\":\"SealedSecret\",\"metadata\":{},\
             \"spec\":{\"encryptedData\":{},\"template\":{\"metadata\":{}}}}"
        );
    }
}
