//! Desired against live: per-object and per-Application sync status.
//!
//! For each object the diff compares only what matters to a server-side applier:
//! the fields desired sets, plus the fields Fjord's manager (`fjord`) owns in live
//! `managedFields` (an owned field desired dropped will be removed by the next apply).
//! Defaults, status, server bookkeeping and fields other managers added are left out, so a
//! freshly applied object compares Synced and a no-op reconcile needs no API request.
//! Both sides are normalised (quantities, numbers, int-or-string ports, Secret
//! `stringData`), `ignoreDifferences` is applied, and Secret values are masked in every
//! output.
//!
//! `desired` must be the object exactly as Fjord would apply it (tracking annotation and
//! namespace set), `live` the object as the API server returns it.

mod ignore;
mod jq;
mod mask;
mod normalize;
mod owned;
mod quantity;
mod text;

pub use ignore::{IgnoreRuleError, IgnoreRules};
pub use mask::{mask_secret, mask_secret_pair};
pub use text::unified;

use crate::resource::{
    ANNOTATION_COMPARE_OPTIONS, FIELD_MANAGER, ResourceKey, annotation, parse_options,
};
use crate::types::SyncStatusCode;
use fjord_smd::{FieldSet, Operation, decode_entries};
use owned::{OwnedTree, project};
use serde_json::Value;

/// Why an object could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Neither side was given, or an object lacks apiVersion/kind/metadata.name.
    #[error("cannot compare: object without apiVersion, kind or metadata.name")]
    NoKey,
    /// Live `metadata.managedFields` is malformed.
    #[error("{key}: metadata.managedFields: {source}")]
    ManagedFields {
        /// The object.
        key: Box<ResourceKey>,
        /// The decoder's error.
        #[source]
        source: Box<fjord_smd::ManagedFieldsError>,
    },
}

/// How the two sides relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiffKind {
    /// Live matches desired on the compared fields.
    Unchanged,
    /// Both exist and differ.
    Modified,
    /// Desired but not live: will be created.
    Missing,
    /// Live and tracked but no longer desired: requires pruning.
    Extraneous,
}

/// Options of a comparison.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// The field manager whose fields are compared (`fjord`).
    pub manager: String,
    /// The Application's compiled `ignoreDifferences`.
    pub ignore: IgnoreRules,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            manager: FIELD_MANAGER.to_string(),
            ignore: IgnoreRules::default(),
        }
    }
}

/// The comparison of one object.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDiff {
    /// The object.
    pub key: ResourceKey,
    /// How the sides relate.
    pub kind: DiffKind,
    /// Desired as compared (normalised, ignored fields removed, Secrets masked).
    pub desired: Option<Value>,
    /// Live as compared (the same, restricted to the compared fields).
    pub live: Option<Value>,
    /// Unified YAML diff from live to desired; empty when unchanged.
    pub unified: String,
    /// Live carries `compare-options: IgnoreExtraneous`.
    pub ignore_extraneous: bool,
}

impl ResourceDiff {
    /// The object's sync status.
    pub fn sync_status(&self) -> SyncStatusCode {
        match self.kind {
            DiffKind::Unchanged => SyncStatusCode::Synced,
            _ => SyncStatusCode::OutOfSync,
        }
    }

    /// Live but no longer desired.
    pub fn requires_pruning(&self) -> bool {
        self.kind == DiffKind::Extraneous
    }
}

/// The Application's sync status: Unknown when the comparison failed, OutOfSync when any
/// object differs (extraneous objects marked `IgnoreExtraneous` excepted), else Synced.
pub fn app_sync_status(diffs: &[ResourceDiff], comparison_failed: bool) -> SyncStatusCode {
    if comparison_failed {
        return SyncStatusCode::Unknown;
    }
    let out_of_sync = diffs.iter().any(|d| match d.kind {
        DiffKind::Unchanged => false,
        DiffKind::Extraneous => !d.ignore_extraneous,
        DiffKind::Modified | DiffKind::Missing => true,
    });
    if out_of_sync {
        SyncStatusCode::OutOfSync
    } else {
        SyncStatusCode::Synced
    }
}

fn union_of(
    entries: &[fjord_smd::ManagedFieldsEntry],
    pick: impl Fn(&fjord_smd::ManagedFieldsEntry) -> bool,
) -> FieldSet {
    entries
        .iter()
        .filter(|e| pick(e))
        .fold(FieldSet::new(), |acc, e| acc.union(&e.fields))
}

/// Drops empty maps and lists from desired where live lacks the field: the API server does
/// not keep them, and they are no change.
fn drop_empty_absent(d: &mut Value, l: &Value) {
    match (d, l) {
        (Value::Object(dm), Value::Object(lm)) => {
            dm.retain(|k, v| {
                let empty = matches!(v, Value::Object(m) if m.is_empty())
                    || matches!(v, Value::Array(a) if a.is_empty());
                !empty || lm.contains_key(k)
            });
            for (k, v) in dm.iter_mut() {
                if let Some(lv) = lm.get(k) {
                    drop_empty_absent(v, lv);
                }
            }
        }
        (Value::Array(da), Value::Array(la)) if da.len() == la.len() => {
            for (dv, lv) in da.iter_mut().zip(la) {
                drop_empty_absent(dv, lv);
            }
        }
        _ => {}
    }
}

fn ignores_extraneous(live: Option<&Value>) -> bool {
    live.and_then(|l| annotation(l, ANNOTATION_COMPARE_OPTIONS))
        .is_some_and(|o| {
            parse_options(o)
                .iter()
                .any(|(k, _)| k == "IgnoreExtraneous")
        })
}

/// Compares one object. `desired` is `None` for a tracked live object no longer rendered,
/// `live` is `None` for an object not yet created.
pub fn diff(
    desired: Option<&Value>,
    live: Option<&Value>,
    options: &DiffOptions,
) -> Result<ResourceDiff, DiffError> {
    let key = desired
        .or(live)
        .and_then(ResourceKey::of)
        .ok_or(DiffError::NoKey)?;
    let entries = match live.and_then(|l| l.pointer("/metadata/managedFields")) {
        Some(list) => decode_entries(list).map_err(|source| DiffError::ManagedFields {
            key: Box::new(key.clone()),
            source: Box::new(source),
        })?,
        None => Vec::new(),
    };
    let ignored_managers = options.ignore.managers_for(&key);
    let ignored = union_of(&entries, |e| {
        ignored_managers.contains(&e.id.manager.as_str())
    });
    let prepare = |v: &Value| {
        let mut v = v.clone();
        normalize::normalize(&mut v);
        options.ignore.apply(&key, &mut v, &ignored);
        v
    };
    let mut d = desired.map(prepare);
    let mut l = live.map(prepare);
    let kind = match (&mut d, &mut l) {
        (Some(d), Some(l)) => {
            let owned_set = union_of(&entries, |e| {
                e.id.manager == options.manager
                    && e.id.operation == Operation::Apply
                    && e.id.subresource.is_empty()
            });
            let owned = (!owned_set.is_empty()).then(|| OwnedTree::from_set(&owned_set));
            let view = project(l, Some(d), owned.as_ref(), "", "").unwrap_or(Value::Null);
            *l = view;
            drop_empty_absent(d, l);
            if d == l {
                DiffKind::Unchanged
            } else {
                DiffKind::Modified
            }
        }
        (Some(_), None) => DiffKind::Missing,
        (None, Some(_)) => DiffKind::Extraneous,
        (None, None) => return Err(DiffError::NoKey),
    };
    mask_secret_pair(d.as_mut(), l.as_mut());
    let unified = if kind == DiffKind::Unchanged {
        String::new()
    } else {
        unified(l.as_ref(), d.as_ref())
    };
    Ok(ResourceDiff {
        key,
        kind,
        desired: d,
        live: l,
        unified,
        ignore_extraneous: ignores_extraneous(live),
    })
}

#[cfg(test)]
mod tests;
