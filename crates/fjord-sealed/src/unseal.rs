//! SealedSecret → Secret, as the Bitnami controller's `Unseal`: the decryption label comes from
//! the SealedSecret's **own** name, namespace and `metadata.annotations`; every key in the ring is
//! tried; the Secret starts from the template (metadata, type, immutable), gets the decrypted
//! items, then the rendered `template.data`; name and namespace are forced to the SealedSecret's
//! and an ownerReference to it is set unless the template says
//! `sealedsecrets.bitnami.com/skip-set-owner-references: "true"`. All-or-nothing: one failed
//! item fails the whole Secret, and the error lists every failed item (never a value).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::error::{Error, ItemProblem, ItemProblemKind, Result, UnsealFailure};
use crate::hybrid::{HybridDecryptError, decode_base64_like_go, hybrid_decrypt};
use crate::keys::KeyRing;
use crate::scope::{ANNOTATION_SKIP_SET_OWNER_REFERENCES, Scope};
use crate::sealed_secret::{API_VERSION, KIND, SealedSecret};
use crate::template;

/// Choices the controller exposes as flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsealOptions {
    /// Accept the pre-v0.9 `spec.data` form (the controller's `--accept-deprecated-v1-data`,
    /// default true; kubeseal's `--recovery-unseal` leaves it false).
    pub accept_legacy_data: bool,
}

impl Default for UnsealOptions {
    fn default() -> Self {
        UnsealOptions {
            accept_legacy_data: true,
        }
    }
}

/// Unseal with the controller's defaults (legacy `spec.data` accepted).
pub fn unseal(sealed: &SealedSecret, keyring: &KeyRing) -> Result<Secret> {
    unseal_with(sealed, keyring, &UnsealOptions::default())
}

/// Unseal `sealed` with every key of `keyring`.
///
/// # Errors
/// [`Error::Unseal`] listing each item that could not be decoded, opened or rendered;
/// [`Error::InvalidSealedSecret`] when both data forms are present or the legacy form is off.
pub fn unseal_with(
    sealed: &SealedSecret,
    keyring: &KeyRing,
    options: &UnsealOptions,
) -> Result<Secret> {
    let mut secret = match &sealed.spec.data {
        Some(_) => unseal_legacy(sealed, keyring, options)?,
        None => unseal_items(sealed, keyring)?,
    };
    secret.metadata.namespace = sealed.metadata.namespace.clone();
    secret.metadata.name = sealed.metadata.name.clone();
    let skip_owner = sealed
        .spec
        .template
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_SKIP_SET_OWNER_REFERENCES))
        .is_some_and(|v| v == "true");
    if !skip_owner {
        secret.metadata.owner_references = Some(vec![owner_reference(sealed)]);
    }
    Ok(secret)
}

/// The ownerReference an unsealed Secret carries: controller, no blockOwnerDeletion.
pub fn owner_reference(sealed: &SealedSecret) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        name: sealed.metadata.name.clone().unwrap_or_default(),
        uid: sealed.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

fn label_of(sealed: &SealedSecret) -> String {
    let scope = Scope::from_annotations(sealed.metadata.annotations.as_ref());
    scope.label(
        sealed.metadata.namespace.as_deref().unwrap_or(""),
        sealed.metadata.name.as_deref().unwrap_or(""),
    )
}

/// Open every `encryptedData` item; all-or-nothing.
pub(crate) fn decrypt_items(
    sealed: &SealedSecret,
    keyring: &KeyRing,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let label = label_of(sealed);
    let mut plain = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, value) in &sealed.spec.encrypted_data {
        let outcome = decode_base64_like_go(value)
            .map_err(ItemProblemKind::Base64)
            .and_then(|ct| {
                hybrid_decrypt(keyring.decrypting_keys(), &ct, label.as_bytes()).map_err(
                    |e| match e {
                        HybridDecryptError::TooShort => ItemProblemKind::TooShort,
                        HybridDecryptError::NoKeyCouldDecrypt => ItemProblemKind::NoKeyCouldDecrypt,
                    },
                )
            });
        match outcome {
            Ok(v) => {
                plain.insert(key.clone(), v);
            }
            Err(kind) => problems.push(ItemProblem {
                item: key.clone(),
                kind,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Unseal(UnsealFailure {
            object: sealed.object_ref(),
            problems,
        }));
    }
    Ok(plain)
}

fn unseal_items(sealed: &SealedSecret, keyring: &KeyRing) -> Result<Secret> {
    let template = &sealed.spec.template;
    let mut data = decrypt_items(sealed, keyring)?;
    let mut problems = Vec::new();
    let mut rendered = BTreeMap::new();
    for (key, source) in &template.data {
        match template::render(source, &data) {
            Ok(v) => {
                rendered.insert(key.clone(), v);
            }
            Err(why) => problems.push(ItemProblem {
                item: key.clone(),
                kind: ItemProblemKind::Template(why),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Unseal(UnsealFailure {
            object: sealed.object_ref(),
            problems,
        }));
    }
    data.extend(rendered);
    Ok(Secret {
        metadata: template.metadata.clone(),
        type_: template.type_.clone().filter(|t| !t.is_empty()),
        immutable: template.immutable,
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Secret::default()
    })
}

fn unseal_legacy(
    sealed: &SealedSecret,
    keyring: &KeyRing,
    options: &UnsealOptions,
) -> Result<Secret> {
    let who = sealed.object_ref();
    if !sealed.spec.encrypted_data.is_empty() {
        return Err(Error::InvalidSealedSecret {
            object: who,
            reason: "cannot use the field 'encryptedData' and the deprecated field 'data' at the \
                     same time: keep only encryptedData"
                .into(),
        });
    }
    if !options.accept_legacy_data {
        return Err(Error::InvalidSealedSecret {
            object: who,
            reason: "it uses the deprecated spec.data form, which is turned off: re-seal it \
                     (fjord seal) to get encryptedData"
                .into(),
        });
    }
    let ciphertext = sealed.spec.data.as_ref().map(|d| &d.0[..]).unwrap_or(&[]);
    let label = label_of(sealed);
    let fail = |kind| {
        Error::Unseal(UnsealFailure {
            object: who.clone(),
            problems: vec![ItemProblem {
                item: "data".into(),
                kind,
            }],
        })
    };
    let plain = hybrid_decrypt(keyring.decrypting_keys(), ciphertext, label.as_bytes()).map_err(
        |e| match e {
            HybridDecryptError::TooShort => fail(ItemProblemKind::TooShort),
            HybridDecryptError::NoKeyCouldDecrypt => fail(ItemProblemKind::NoKeyCouldDecrypt),
        },
    )?;
    serde_json::from_slice::<Secret>(&plain).map_err(|_| fail(ItemProblemKind::LegacyNotASecret))
}
