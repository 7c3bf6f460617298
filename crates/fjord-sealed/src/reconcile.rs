//! The controller's decisions, as pure functions so that they are tested without a cluster:
//! what to do with the Secret an unseal produced given the Secret that already exists
//! ([`plan_secret`]), and the `Synced` status condition to write ([`synced_status`]).
//!
//! Ownership rules (Bitnami's `controller.go`): an existing Secret is only touched when it is
//! controlled by this SealedSecret (an ownerReference with `controller: true` and its uid) or
//! carries `sealedsecrets.bitnami.com/managed: "true"` or `…/patch: "true"`. With `patch`, new
//! data, labels and annotations are merged into it and others kept (ownerReferences replaced only
//! if it is also `managed`); otherwise data, labels, annotations and ownerReferences are replaced.

use k8s_openapi::api::core::v1::Secret;

use crate::scope::{ANNOTATION_MANAGED, ANNOTATION_PATCH};
use crate::sealed_secret::{SealedSecret, SealedSecretCondition, SealedSecretStatus};

/// What to do with the unsealed Secret.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretPlan {
    /// No Secret of that name exists: create this one.
    Create(Secret),
    /// Update the existing Secret to this.
    Update(Secret),
    /// The existing Secret already matches.
    Unchanged,
}

/// The existing Secret belongs to someone else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "failed update: Resource \"{name}\" already exists and is not managed by SealedSecret: \
     annotate the Secret with sealedsecrets.bitnami.com/managed: \"true\" to let the controller \
     take it over, or rename the SealedSecret"
)]
pub struct NotManaged {
    /// Name of the existing Secret.
    pub name: String,
}

fn annotation_is_true(secret: &Secret, key: &str) -> bool {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

/// True when `secret` has a controller ownerReference to `sealed` (same uid).
pub fn is_controlled_by(secret: &Secret, sealed: &SealedSecret) -> bool {
    let Some(uid) = sealed.metadata.uid.as_deref() else {
        return false;
    };
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// Decide how `desired` (from [`crate::unseal`]) lands on `existing`.
pub fn plan_secret(
    desired: Secret,
    existing: Option<&Secret>,
    sealed: &SealedSecret,
) -> Result<SecretPlan, NotManaged> {
    let Some(existing) = existing else {
        return Ok(SecretPlan::Create(desired));
    };
    let managed = annotation_is_true(existing, ANNOTATION_MANAGED);
    let patch = annotation_is_true(existing, ANNOTATION_PATCH);
    if !is_controlled_by(existing, sealed) && !managed && !patch {
        return Err(NotManaged {
            name: existing.metadata.name.clone().unwrap_or_default(),
        });
    }
    let mut next = existing.clone();
    if patch {
        let data = next.data.get_or_insert_with(Default::default);
        data.extend(desired.data.unwrap_or_default());
        if let Some(labels) = desired.metadata.labels {
            next.metadata
                .labels
                .get_or_insert_with(Default::default)
                .extend(labels);
        }
        if let Some(annotations) = desired.metadata.annotations {
            next.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .extend(annotations);
        }
        if managed {
            next.metadata.owner_references = desired.metadata.owner_references;
        }
    } else {
        next.data = desired.data;
        next.metadata.labels = desired.metadata.labels;
        next.metadata.annotations = desired.metadata.annotations;
        next.metadata.owner_references = desired.metadata.owner_references;
    }
    next.type_ = desired.type_.or(next.type_);
    if desired.immutable.is_some() {
        next.immutable = desired.immutable;
    }
    if &next == existing {
        Ok(SecretPlan::Unchanged)
    } else {
        Ok(SecretPlan::Update(next))
    }
}

/// The status after an attempt: condition `Synced` `True` (no message) or `False` (the error),
/// `lastUpdateTime = now`, `lastTransitionTime` moved only when the status flips, and
/// `observedGeneration` = the SealedSecret's generation. The second value says whether it needs
/// writing (Bitnami writes only when the status flips or the generation changed).
pub fn synced_status(
    sealed: &SealedSecret,
    outcome: Result<(), &str>,
    now_rfc3339: &str,
) -> (SealedSecretStatus, bool) {
    let previous = sealed.status.as_ref();
    let previous_synced = previous.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"));
    let status = if outcome.is_ok() { "True" } else { "False" };
    let flipped = previous_synced.is_none_or(|c| c.status != status);
    let transition = if flipped {
        Some(now_rfc3339.to_string())
    } else {
        previous_synced
            .and_then(|c| c.last_transition_time.clone())
            .or_else(|| Some(now_rfc3339.to_string()))
    };
    let condition = SealedSecretCondition {
        last_transition_time: transition,
        last_update_time: Some(now_rfc3339.to_string()),
        message: outcome.err().map(str::to_string),
        reason: None,
        status: status.to_string(),
        type_: "Synced".to_string(),
    };
    let generation = sealed.metadata.generation;
    let generation_changed = previous.and_then(|s| s.observed_generation) != generation;
    let message_changed = previous_synced.and_then(|c| c.message.as_deref()) != outcome.err();
    let mut conditions: Vec<SealedSecretCondition> = previous
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != "Synced")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.insert(0, condition);
    (
        SealedSecretStatus {
            conditions,
            observed_generation: generation,
        },
        flipped || generation_changed || message_changed,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;
    use crate::unseal::owner_reference;

    fn sealed() -> SealedSecret {
        let mut s = SealedSecret::default();
        s.metadata.name = Some("s".into());
        s.metadata.namespace = Some("ns".into());
        s.metadata.uid = Some("uid-1".into());
        s.metadata.generation = Some(2);
        s
    }

    fn secret(data: &[(&str, &str)], annotations: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("s".into()),
                namespace: Some("ns".into()),
                annotations: (!annotations.is_empty()).then(|| {
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn desired() -> Secret {
        let mut d = secret(&[("a", "new")], &[]);
        d.metadata.owner_references = Some(vec![owner_reference(&sealed())]);
        d
    }

    #[test]
    fn creates_when_absent_and_refuses_foreign_secrets() {
        assert_eq!(
            plan_secret(desired(), None, &sealed()),
            Ok(SecretPlan::Create(desired()))
        );
        let foreign = secret(&[("a", "theirs")], &[]);
        let err = plan_secret(desired(), Some(&foreign), &sealed()).unwrap_err();
        assert!(err.to_string().contains("not managed by SealedSecret"));
        assert!(err.to_string().contains("managed: \"true\""));
        // Owned by another object (other uid): still foreign.
        let mut other_owner = foreign.clone();
        other_owner.metadata.owner_references = Some(vec![OwnerReference {
            uid: "uid-2".into(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
        assert!(plan_secret(desired(), Some(&other_owner), &sealed()).is_err());
    }

    #[test]
    fn managed_secrets_are_replaced_and_controlled_ones_updated_or_left() {
        let managed = secret(
            &[("a", "old"), ("b", "gone")],
            &[(ANNOTATION_MANAGED, "true")],
        );
        let SecretPlan::Update(next) = plan_secret(desired(), Some(&managed), &sealed()).unwrap()
        else {
            panic!("expected an update")
        };
        assert_eq!(next.data, desired().data, "data replaced wholesale");
        assert_eq!(
            next.metadata.annotations, None,
            "managed annotation dropped"
        );
        assert!(is_controlled_by(&next, &sealed()));
        assert_eq!(
            plan_secret(desired(), Some(&next), &sealed()),
            Ok(SecretPlan::Unchanged)
        );
    }

    #[test]
    fn patch_merges_and_keeps_foreign_owners() {
        let mut patched = secret(
            &[("a", "old"), ("keep", "k")],
            &[(ANNOTATION_PATCH, "true")],
        );
        patched.metadata.labels = Some(BTreeMap::from([("x".to_string(), "y".to_string())]));
        let SecretPlan::Update(next) = plan_secret(desired(), Some(&patched), &sealed()).unwrap()
        else {
            panic!("expected an update")
        };
        let data = next.data.unwrap();
        assert_eq!(data["a"].0, b"new");
        assert_eq!(data["keep"].0, b"k");
        assert_eq!(next.metadata.labels.unwrap()["x"], "y");
        assert_eq!(next.metadata.annotations.unwrap()[ANNOTATION_PATCH], "true");
        assert_eq!(
            next.metadata.owner_references, None,
            "patch without managed"
        );
    }

    #[test]
    fn synced_status_flips_and_reports_errors() {
        let mut s = sealed();
        let (status, write) = synced_status(&s, Err("no key could decrypt secret (a)"), "t1");
        assert!(write);
        assert_eq!(status.observed_generation, Some(2));
        let c = &status.conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Synced", "False"));
        assert_eq!(
            c.message.as_deref(),
            Some("no key could decrypt secret (a)")
        );
        s.status = Some(status);
        let (again, write) = synced_status(&s, Err("no key could decrypt secret (a)"), "t2");
        assert!(!write, "same outcome, same generation: nothing to write");
        assert_eq!(
            again.conditions[0].last_transition_time.as_deref(),
            Some("t1")
        );
        s.status = Some(again);
        let (ok, write) = synced_status(&s, Ok(()), "t3");
        assert!(write);
        assert_eq!(ok.conditions[0].status, "True");
        assert_eq!(ok.conditions[0].message, None);
        assert_eq!(ok.conditions[0].last_transition_time.as_deref(), Some("t3"));
    }
}
