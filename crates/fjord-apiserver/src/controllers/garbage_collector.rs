//! The garbage collector (kube-controller-manager's): dependents follow their owners.
//!
//! - Background: an object whose owners are all gone is deleted; an object with some owners gone
//!   loses the references to those.
//! - Foreground: an owner with the `foregroundDeletion` finalizer has its dependents deleted
//!   (Foreground again for those that block it, Background otherwise) and loses the finalizer once
//!   no dependent with `blockOwnerDeletion: true` is left.
//! - Orphan: an owner with the `orphan` finalizer has its references removed from every dependent,
//!   then loses the finalizer.
//!
//! An owner is "gone" when no stored object has its uid.

use serde_json::Value;

use super::CONTROLLER_MANAGER;
use super::runner::{Controllers, StepResult, Work};
use crate::lifecycle::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::object;

impl Controllers {
    /// An owner being deleted with a garbage-collector finalizer.
    pub(super) async fn gc_owner(&mut self, key: &str) -> StepResult {
        let Some(owner) = self.api.store.get(key) else {
            return Ok(());
        };
        let owner = (*owner.value).clone();
        if !object::is_deleting(&owner) {
            return Ok(());
        }
        let uid = object::meta_str(&owner, "uid").unwrap_or("").to_string();
        let finalizers = object::finalizers(&owner);
        let dependents: Vec<Value> = self
            .index
            .dependents(&uid)
            .iter()
            .filter_map(|k| self.api.store.get(k))
            .map(|s| (*s.value).clone())
            .collect();
        if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
            for mut dep in dependents {
                let Some(rt) = self.api.type_of_object(&dep) else {
                    continue;
                };
                remove_owner_refs(&mut dep, |r| r == uid);
                self.api
                    .controller_update(&rt, dep, None, CONTROLLER_MANAGER)
                    .await?;
            }
            return self.remove_finalizer(owner, ORPHAN_FINALIZER).await;
        }
        if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
            let mut blocking = 0;
            for dep in dependents {
                let Some(rt) = self.api.type_of_object(&dep) else {
                    continue;
                };
                let blocks = blocks_owner(&dep, &uid);
                if !object::is_deleting(&dep) {
                    let policy = if blocks { "Foreground" } else { "Background" };
                    match self.api.controller_delete(&rt, &dep, policy).await {
                        Ok(()) => {}
                        Err(e) if e.code == 404 => continue,
                        Err(e) => return Err(e),
                    }
                }
                let dep_key = rt.key(object::meta_str(&dep, "namespace"), object::name(&dep));
                if blocks && self.api.store.get(&dep_key).is_some() {
                    blocking += 1;
                }
            }
            if blocking == 0 {
                return self.remove_finalizer(owner, FOREGROUND_FINALIZER).await;
            }
        }
        Ok(())
    }

    /// An object whose owners may be gone.
    pub(super) async fn gc_dependent(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let mut dep = (*stored.value).clone();
        let owners = super::index::owner_uids(&dep);
        if owners.is_empty() {
            return Ok(());
        }
        let gone: Vec<String> = owners
            .iter()
            .filter(|u| self.index.key_of(u).is_none())
            .cloned()
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let Some(rt) = self.api.type_of_object(&dep) else {
            return Ok(());
        };
        if gone.len() == owners.len() {
            if object::is_deleting(&dep) {
                return Ok(());
            }
            return self.api.controller_delete(&rt, &dep, "Background").await;
        }
        remove_owner_refs(&mut dep, |u| gone.iter().any(|g| g == u));
        self.api
            .controller_update(&rt, dep, None, CONTROLLER_MANAGER)
            .await
    }

    async fn remove_finalizer(&mut self, mut owner: Value, finalizer: &str) -> StepResult {
        let Some(rt) = self.api.type_of_object(&owner) else {
            return Ok(());
        };
        let meta = object::meta_mut(&mut owner);
        if let Some(list) = meta.get_mut("finalizers").and_then(Value::as_array_mut) {
            list.retain(|f| f.as_str() != Some(finalizer));
        }
        let key = rt.key(object::meta_str(&owner, "namespace"), object::name(&owner));
        let result = self
            .api
            .controller_update(&rt, owner, None, CONTROLLER_MANAGER)
            .await;
        if result.is_ok() {
            // Another GC finalizer (both were asked for) is handled next.
            self.after(std::time::Duration::ZERO, Work::GcOwner(key));
        }
        result
    }
}

/// Whether `dep`'s reference to `owner_uid` has `blockOwnerDeletion: true`.
fn blocks_owner(dep: &Value, owner_uid: &str) -> bool {
    object::meta(dep)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("uid").and_then(Value::as_str) == Some(owner_uid)
                    && r.get("blockOwnerDeletion") == Some(&Value::Bool(true))
            })
        })
}

/// Drops the owner references whose uid matches.
fn remove_owner_refs(obj: &mut Value, matches: impl Fn(&str) -> bool) {
    let meta = object::meta_mut(obj);
    let empty = match meta
        .get_mut("ownerReferences")
        .and_then(Value::as_array_mut)
    {
        Some(refs) => {
            refs.retain(|r| !r.get("uid").and_then(Value::as_str).is_some_and(&matches));
            refs.is_empty()
        }
        None => false,
    };
    if empty {
        meta.remove("ownerReferences");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lifecycle::{DeletePlan, plan_delete};
    use crate::registry::Registry;

    fn marked(plan: DeletePlan) -> Value {
        match plan {
            DeletePlan::MarkDeleting(v) => v,
            DeletePlan::Remove => panic!("removed at once"),
            DeletePlan::Unchanged => panic!("unchanged"),
        }
    }

    #[test]
    fn delete_policies_add_their_finalizers() {
        let types = Registry::new().snapshot();
        let deploy = types.by_kind("apps", "v1", "Deployment").unwrap();
        let obj = json!({"metadata": {"name": "web", "uid": "u", "generation": 1}});
        assert!(matches!(
            plan_delete(&deploy, &obj, None).unwrap(),
            DeletePlan::Remove
        ));
        assert!(matches!(
            plan_delete(&deploy, &obj, Some("Background")).unwrap(),
            DeletePlan::Remove
        ));
        let fg = marked(plan_delete(&deploy, &obj, Some("Foreground")).unwrap());
        assert_eq!(fg["metadata"]["finalizers"], json!(["foregroundDeletion"]));
        assert!(fg["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(fg["metadata"]["generation"], 2);
        let held = json!({"metadata": {"name": "web", "finalizers": ["example.com/x"]}});
        let orphan = marked(plan_delete(&deploy, &held, Some("Orphan")).unwrap());
        assert_eq!(
            orphan["metadata"]["finalizers"],
            json!(["example.com/x", "orphan"])
        );
        assert!(plan_delete(&deploy, &obj, Some("Sideways")).is_err());
    }

    #[test]
    fn jobs_orphan_their_pods_unless_told_otherwise() {
        let types = Registry::new().snapshot();
        let job = types.by_kind("batch", "v1", "Job").unwrap();
        let obj = json!({"metadata": {"name": "j", "uid": "u"}});
        let plan = marked(plan_delete(&job, &obj, None).unwrap());
        assert_eq!(plan["metadata"]["finalizers"], json!(["orphan"]));
        assert!(matches!(
            plan_delete(&job, &obj, Some("Background")).unwrap(),
            DeletePlan::Remove
        ));
    }

    #[test]
    fn owner_references_are_removed_by_uid() {
        let mut obj = json!({"metadata": {"ownerReferences": [{"uid": "a"}, {"uid": "b"}]}});
        remove_owner_refs(&mut obj, |u| u == "a");
        assert_eq!(obj["metadata"]["ownerReferences"], json!([{"uid": "b"}]));
        remove_owner_refs(&mut obj, |u| u == "b");
        assert!(obj["metadata"].get("ownerReferences").is_none());
        let dep = json!({"metadata": {"ownerReferences": [{"uid": "a", "blockOwnerDeletion": true}, {"uid": "b"}]}});
        assert!(blocks_owner(&dep, "a"));
        assert!(!blocks_owner(&dep, "b"));
    }
}
