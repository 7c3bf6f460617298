//! Secret → SealedSecret, as kubeseal does it: one hybrid ciphertext per `data`/`stringData`
//! item (stringData wins on clashes), the Secret's metadata kept as the template minus server
//! fields, last-applied annotations and ownerReferences, and the scope written to the
//! annotations of both the SealedSecret and its template.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::documents::object_ref;
use crate::error::{Error, Result};
use crate::hybrid::{encode_base64, hybrid_encrypt};
use crate::keys::{KeyRing, SealingCert};
use crate::scope::Scope;
use crate::sealed_secret::{SealedSecret, SealedSecretSpec, SecretTemplateSpec};
use crate::unseal::decrypt_items;

/// Annotations kubeseal strips from the template (they would leak the plain Secret).
const LAST_APPLIED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// Seal `secret` with `cert`.
///
/// `scope`: `Some` forces that scope (kubeseal's non-default `--scope`); `None` takes it from the
/// Secret's scope annotations (strict when there are none). The Secret must have a name, and a
/// namespace unless the scope is cluster-wide. The certificate's expiry is the caller's check
/// ([`SealingCert::check_not_expired`]); a controller re-sealing with its own key skips it.
pub fn seal_secret(
    secret: &Secret,
    cert: &SealingCert,
    scope: Option<Scope>,
) -> Result<SealedSecret> {
    let who = object_ref(&secret.metadata);
    let name = secret
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::InvalidSecret {
            object: who.clone(),
            reason: "it has no metadata.name: set one (or pass --name)".into(),
        })?;
    let scope =
        scope.unwrap_or_else(|| Scope::from_annotations(secret.metadata.annotations.as_ref()));
    let namespace = secret.metadata.namespace.clone().filter(|n| !n.is_empty());
    if namespace.is_none() && scope != Scope::ClusterWide {
        return Err(Error::InvalidSecret {
            object: who,
            reason: format!(
                "it has no metadata.namespace, which the {scope} scope needs: set one (or pass \
                 --namespace)"
            ),
        });
    }
    let namespace_str = namespace.clone().unwrap_or_default();
    let label = scope.label(&namespace_str, &name);

    let mut encrypted_data = BTreeMap::new();
    let binary = secret.data.iter().flatten().map(|(k, v)| (k, &v.0[..]));
    let strings = secret
        .string_data
        .iter()
        .flatten()
        .map(|(k, v)| (k, v.as_bytes()));
    for (key, value) in binary.chain(strings) {
        let ciphertext =
            hybrid_encrypt(cert.public_key(), value, label.as_bytes()).map_err(|e| {
                Error::Encrypt {
                    object: format!("{namespace_str}/{name}"),
                    item: key.clone(),
                    reason: e.to_string(),
                }
            })?;
        encrypted_data.insert(key.clone(), encode_base64(&ciphertext));
    }

    let mut template_meta = secret.metadata.clone();
    template_meta.uid = None;
    template_meta.resource_version = None;
    template_meta.generation = None;
    template_meta.creation_timestamp = None;
    template_meta.deletion_timestamp = None;
    template_meta.deletion_grace_period_seconds = None;
    template_meta.self_link = None;
    template_meta.managed_fields = None;
    template_meta.owner_references = None;
    template_meta.namespace = namespace.clone();
    let mut template_annotations = template_meta.annotations.take().unwrap_or_default();
    for key in LAST_APPLIED_ANNOTATIONS {
        template_annotations.remove(key);
    }
    scope.write_annotations(&mut template_annotations);
    template_meta.annotations = non_empty(template_annotations);

    let mut own_annotations = BTreeMap::new();
    scope.write_annotations(&mut own_annotations);

    Ok(SealedSecret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace,
            annotations: non_empty(own_annotations),
            ..ObjectMeta::default()
        },
        spec: SealedSecretSpec {
            data: None,
            encrypted_data,
            template: SecretTemplateSpec {
                data: BTreeMap::new(),
                immutable: secret.immutable,
                metadata: template_meta,
                type_: secret.type_.clone(),
            },
        },
        ..SealedSecret::default()
    })
}

/// Seal one value (`kubeseal --raw`): the base64 ciphertext only. Strict needs `namespace` and
/// `name`, namespace-wide needs `namespace`, cluster-wide needs neither.
pub fn seal_raw(
    value: &[u8],
    cert: &SealingCert,
    scope: Scope,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<String> {
    let missing = |what: &str| Error::InvalidSecret {
        object: "(raw value)".into(),
        reason: format!("the {scope} scope needs a {what}: pass --{what}"),
    };
    let ns = namespace.filter(|n| !n.is_empty());
    let nm = name.filter(|n| !n.is_empty());
    let label = match scope {
        Scope::Strict => scope.label(
            ns.ok_or_else(|| missing("namespace"))?,
            nm.ok_or_else(|| missing("name"))?,
        ),
        Scope::NamespaceWide => scope.label(ns.ok_or_else(|| missing("namespace"))?, ""),
        Scope::ClusterWide => String::new(),
    };
    let ciphertext =
        hybrid_encrypt(cert.public_key(), value, label.as_bytes()).map_err(|e| Error::Encrypt {
            object: "(raw value)".into(),
            item: "(raw value)".into(),
            reason: e.to_string(),
        })?;
    Ok(encode_base64(&ciphertext))
}

/// Seal `secret` into `existing` (`kubeseal --merge-into`): the items are sealed for the
/// existing SealedSecret's name, namespace and scope (read from its `metadata.annotations`, so
/// the merged file always unseals as a whole), then `encryptedData` and the template's labels,
/// annotations and data are merged in, new entries winning.
pub fn merge_into(existing: &mut SealedSecret, secret: &Secret, cert: &SealingCert) -> Result<()> {
    let scope = Scope::from_annotations(existing.metadata.annotations.as_ref());
    let mut renamed = secret.clone();
    renamed.metadata.name = existing.metadata.name.clone();
    renamed.metadata.namespace = existing.metadata.namespace.clone();
    let update = seal_secret(&renamed, cert, Some(scope))?;

    existing
        .spec
        .encrypted_data
        .extend(update.spec.encrypted_data);
    let template = &mut existing.spec.template;
    for (target, source) in [
        (
            &mut template.metadata.annotations,
            update.spec.template.metadata.annotations,
        ),
        (
            &mut template.metadata.labels,
            update.spec.template.metadata.labels,
        ),
    ] {
        if let Some(source) = source {
            target.get_or_insert_with(BTreeMap::new).extend(source);
        }
    }
    template.data.extend(update.spec.template.data);
    Ok(())
}

/// Re-seal every item with `cert` (what `/v1/rotate` and `kubeseal --re-encrypt` are for),
/// keeping metadata, template and scope. A legacy `spec.data` SealedSecret is converted to the
/// `encryptedData` form. All-or-nothing: an item that cannot be opened fails the whole call.
pub fn re_encrypt(
    sealed: &SealedSecret,
    keyring: &KeyRing,
    cert: &SealingCert,
) -> Result<SealedSecret> {
    let who = sealed.object_ref();
    let scope = Scope::from_annotations(sealed.metadata.annotations.as_ref());
    let namespace = sealed.metadata.namespace.clone().unwrap_or_default();
    let name = sealed.metadata.name.clone().unwrap_or_default();
    let label = scope.label(&namespace, &name);

    if sealed.spec.data.is_some() {
        let secret = crate::unseal::unseal(sealed, keyring)?;
        let mut out = seal_secret(&secret, cert, Some(scope))?;
        out.metadata = clean_metadata(&sealed.metadata);
        return Ok(out);
    }

    let plain = decrypt_items(sealed, keyring)?;
    let mut out = sealed.clone();
    out.metadata = clean_metadata(&sealed.metadata);
    out.status = None;
    for (key, value) in plain {
        let ciphertext =
            hybrid_encrypt(cert.public_key(), &value, label.as_bytes()).map_err(|e| {
                Error::Encrypt {
                    object: who.clone(),
                    item: key.clone(),
                    reason: e.to_string(),
                }
            })?;
        out.spec
            .encrypted_data
            .insert(key, encode_base64(&ciphertext));
    }
    Ok(out)
}

/// kubeseal clears these when it writes a re-encrypted SealedSecret back.
fn clean_metadata(meta: &ObjectMeta) -> ObjectMeta {
    let mut m = meta.clone();
    m.creation_timestamp = None;
    m.generation = None;
    m.resource_version = None;
    m.uid = None;
    m.managed_fields = None;
    m
}

fn non_empty(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    if map.is_empty() { None } else { Some(map) }
}
