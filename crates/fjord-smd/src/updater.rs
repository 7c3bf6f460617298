//! The structured-merge-diff core (`merge.Updater`), independent of the apiserver wrapping:
//! `apply` merges a configuration, records it as the applier's set, prunes what the applier
//! stopped applying (unless someone else owns it) and detects conflicts; `update` records a
//! non-apply write (never conflicts) and takes changed fields away from everyone else.

use crate::fieldpath::FieldSet;
use crate::managed::{ManagerId, VersionedSet};
use crate::schema::{Schema, TypeRef};
use crate::typed::{self, Comparison};
use crate::value::equals;
use serde_json::Value;
use std::collections::BTreeMap;

/// Ownership records keyed by manager identity.
pub(crate) type Managers = BTreeMap<ManagerId, VersionedSet>;

/// Per-manager conflicting paths.
pub(crate) type ConflictSets = Vec<(ManagerId, FieldSet)>;

pub(crate) struct Updater<'s> {
    pub schema: &'s Schema,
    pub ty: TypeRef,
    /// Fields the endpoint resets (never owned, never compared).
    pub ignored: &'s FieldSet,
}

impl Updater<'_> {
    fn update_inner(
        &self,
        old: &Value,
        new: &Value,
        managers: &mut Managers,
        workflow: &ManagerId,
        force: bool,
    ) -> Result<Comparison, ConflictSets> {
        let mut cmp = typed::compare(self.schema, self.ty, old, new);
        cmp.exclude(self.ignored);
        let changed = cmp.modified.union(&cmp.added);
        let mut conflicts: ConflictSets = Vec::new();
        for (m, vs) in managers.iter() {
            if m == workflow {
                continue;
            }
            let c = vs.set.intersection(&changed);
            if !c.is_empty() {
                conflicts.push((m.clone(), c));
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(conflicts);
        }
        for (m, c) in &conflicts {
            if let Some(vs) = managers.get_mut(m) {
                vs.set.remove_all(c);
            }
        }
        if !cmp.removed.is_empty() {
            for (m, vs) in managers.iter_mut() {
                if m != workflow {
                    vs.set.remove_all(&cmp.removed);
                }
            }
        }
        managers.retain(|_, vs| !vs.set.is_empty());
        Ok(cmp)
    }

    /// Records a non-apply write by `manager`.
    pub fn update(
        &self,
        live: &Value,
        new: &Value,
        version: &str,
        managers: &mut Managers,
        manager: &ManagerId,
    ) {
        let cmp = match self.update_inner(live, new, managers, manager, true) {
            Ok(c) => c,
            Err(_) => return, // unreachable with force = true
        };
        let previous = managers
            .remove(manager)
            .map(|vs| vs.set)
            .unwrap_or_default();
        let set = previous
            .difference(&cmp.removed)
            .union(&cmp.modified)
            .union(&cmp.added)
            .recursive_difference(self.ignored);
        if !set.is_empty() {
            managers.insert(
                manager.clone(),
                VersionedSet {
                    set,
                    api_version: version.to_string(),
                    applied: false,
                },
            );
        }
    }

    /// Applies `config` for `manager`.
    ///
    /// Returns the new object (`None` when nothing changed) and the manager's previous entry.
    pub fn apply(
        &self,
        live: &Value,
        config: &Value,
        version: &str,
        managers: &mut Managers,
        manager: &ManagerId,
        force: bool,
    ) -> Result<(Option<Value>, Option<VersionedSet>), ConflictSets> {
        let merged = typed::merge(self.schema, self.ty, live, config);
        let set =
            typed::to_field_set(self.schema, self.ty, config).recursive_difference(self.ignored);
        let previous = managers.insert(
            manager.clone(),
            VersionedSet {
                set,
                api_version: version.to_string(),
                applied: true,
            },
        );
        let merged = match &previous {
            // Nothing dropped since last time (every path applied then is applied now): pruning
            // cannot remove anything, skip its four walks.
            Some(last) if !last.set.is_empty() && !subset_of(&last.set, &managers[manager].set) => {
                self.prune(merged, managers, &last.set)
            }
            _ => merged,
        };
        self.update_inner(live, &merged, managers, manager, force)?;
        let new = (!equals(live, &merged)).then_some(merged);
        Ok((new, previous))
    }

    /// Removes what the applier owned last time, no longer applies, and nobody else owns.
    fn prune(&self, merged: Value, managers: &Managers, last: &FieldSet) -> Value {
        let (s, t) = (self.schema, self.ty);
        let ensure = |set: &FieldSet| typed::ensure_named_fields(s, t, set);
        let fields_of = |v: &Value| ensure(&typed::to_field_set(s, t, v));
        let last = ensure(last);
        let pruned = typed::remove_items(s, t, &merged, &last);
        // Add back what anyone (including the applier's new configuration) owns.
        let mut owned = FieldSet::new();
        for vs in managers.values() {
            owned = owned.union(&vs.set);
        }
        let merged_set = fields_of(&merged);
        let remove = merged_set.difference(&fields_of(&pruned).union(&ensure(&owned)));
        let pruned = typed::remove_items(s, t, &merged, &remove);
        // Only ever remove what the applier owned last time.
        let remove = merged_set
            .difference(&fields_of(&pruned))
            .intersection(&last);
        typed::remove_items(s, t, &merged, &remove)
    }
}

/// True when every path of `a` is in `b`.
fn subset_of(a: &FieldSet, b: &FieldSet) -> bool {
    a.members.iter().all(|m| b.has_member(m))
        && a.children
            .iter()
            .all(|(pe, c)| c.is_empty() || b.child(pe).is_some_and(|bc| subset_of(c, bc)))
}
