//! Key Secrets, compatible with the Bitnami controller's both ways: `type: kubernetes.io/tls`,
//! `tls.key` = PKCS#1 PEM, `tls.crt` = PEM certificate, label
//! `sealedsecrets.bitnami.com/sealed-secrets-key: active`, `generateName: sealed-secrets-key`.
//! Also reads the backups users take with `kubectl get secret -l … -o yaml` (a `List`).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{KeyPair, PrivateKey};
use crate::documents::{object_ref, parse_documents};
use crate::error::{Error, Result};

/// Label marking a key Secret; the controller loads those whose value is [`KEY_LABEL_ACTIVE`].
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Value of [`KEY_LABEL`] on keys in use.
pub const KEY_LABEL_ACTIVE: &str = "active";
/// Default `generateName` of key Secrets (`--key-prefix`).
pub const DEFAULT_KEY_PREFIX: &str = "sealed-secrets-key";
/// Name of the single key Secret of controllers before v0.9, still loaded.
pub const LEGACY_KEY_SECRET_NAME: &str = "sealed-secrets-key";

const TLS_KEY: &str = "tls.key";
const TLS_CRT: &str = "tls.crt";
const TLS_TYPE: &str = "kubernetes.io/tls";

/// Encode a key pair as a key Secret to create in `namespace` (with `generateName`).
pub fn key_pair_to_secret(pair: &KeyPair, namespace: &str, key_prefix: &str) -> Result<Secret> {
    let mut data = BTreeMap::new();
    data.insert(
        TLS_KEY.to_string(),
        ByteString(pair.private_key().to_pkcs1_pem()?.into_bytes()),
    );
    data.insert(
        TLS_CRT.to_string(),
        ByteString(pair.certificate().to_pem().into_bytes()),
    );
    Ok(Secret {
        metadata: ObjectMeta {
            generate_name: Some(key_prefix.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                KEY_LABEL.to_string(),
                KEY_LABEL_ACTIVE.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some(TLS_TYPE.to_string()),
        data: Some(data),
        ..Secret::default()
    })
}

/// Whether the controller loads this Secret as a key: labelled active, or the legacy name.
pub fn is_key_secret(secret: &Secret) -> bool {
    let labelled = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(KEY_LABEL))
        .is_some_and(|v| v == KEY_LABEL_ACTIVE);
    labelled || secret.metadata.name.as_deref() == Some(LEGACY_KEY_SECRET_NAME)
}

/// Read the key pair out of a key Secret (`tls.key` and `tls.crt`).
pub fn key_pair_from_secret(secret: &Secret) -> Result<KeyPair> {
    let who = object_ref(&secret.metadata);
    let key = secret_field(secret, TLS_KEY).ok_or_else(|| Error::KeySecret {
        secret: who.clone(),
        reason: format!("no {TLS_KEY} in data"),
    })?;
    let crt = secret_field(secret, TLS_CRT).ok_or_else(|| Error::KeySecret {
        secret: who.clone(),
        reason: format!("no {TLS_CRT} in data"),
    })?;
    let origin = format!("key Secret {who}");
    KeyPair::from_pem(&key, &crt, &origin)
}

fn secret_field(secret: &Secret, field: &str) -> Option<Vec<u8>> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(field)) {
        return Some(v.0.clone());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(field))
        .map(|s| s.clone().into_bytes())
}

/// Read private keys from a backup file, as `kubeseal --recovery-private-key` does: PEM keys,
/// a key Secret, or a `List` of them (`kubectl get secret -l … -o yaml`), YAML or JSON.
/// Every Secret with a `tls.key` counts, whatever its labels.
pub fn private_keys_from_backup(bytes: &[u8], origin: &str) -> Result<Vec<PrivateKey>> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::PrivateKeyParse {
        origin: origin.into(),
        reason: "not text (expected PEM, YAML or JSON)".into(),
    })?;
    if text.trim_start().starts_with("-----BEGIN") {
        return private_keys_from_pem(bytes, origin);
    }
    let mut keys = Vec::new();
    for doc in parse_documents(text, origin)? {
        collect_keys(&doc, origin, &mut keys)?;
    }
    if keys.is_empty() {
        return Err(Error::PrivateKeyParse {
            origin: origin.into(),
            reason: format!("no Secret with {TLS_KEY} found (expected PEM, a Secret or a List)"),
        });
    }
    Ok(keys)
}

fn private_keys_from_pem(bytes: &[u8], origin: &str) -> Result<Vec<PrivateKey>> {
    let blocks = pem::parse_many(bytes).map_err(|e| Error::PrivateKeyParse {
        origin: origin.into(),
        reason: format!("not PEM: {e}"),
    })?;
    let mut keys = Vec::new();
    for block in blocks {
        match block.tag() {
            "RSA PRIVATE KEY" => keys.push(PrivateKey::from_pkcs1_der(block.contents(), origin)?),
            "PRIVATE KEY" => keys.push(PrivateKey::from_pkcs8_der(block.contents(), origin)?),
            _ => {}
        }
    }
    if keys.is_empty() {
        return Err(Error::PrivateKeyParse {
            origin: origin.into(),
            reason: "no PEM block of type RSA PRIVATE KEY or PRIVATE KEY found".into(),
        });
    }
    Ok(keys)
}

fn collect_keys(doc: &serde_json::Value, origin: &str, keys: &mut Vec<PrivateKey>) -> Result<()> {
    match doc.get("kind").and_then(|k| k.as_str()) {
        Some("List") | Some("SecretList") => {
            for item in doc
                .get("items")
                .and_then(|i| i.as_array())
                .into_iter()
                .flatten()
            {
                collect_keys(item, origin, keys)?;
            }
            Ok(())
        }
        Some("Secret") => {
            let secret: Secret =
                serde_json::from_value(doc.clone()).map_err(|e| Error::PrivateKeyParse {
                    origin: origin.into(),
                    reason: format!(
                        "a Secret in it is malformed: {}",
                        crate::error::redact(&e.to_string())
                    ),
                })?;
            if let Some(pem_bytes) = secret_field(&secret, TLS_KEY) {
                let who = format!("{origin} (Secret {})", object_ref(&secret.metadata));
                keys.push(PrivateKey::from_pem(&pem_bytes, &who)?);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
