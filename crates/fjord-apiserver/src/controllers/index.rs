//! Who owns whom: ownerReferences of every stored object by owner uid, and every object's key by
//! its uid, kept current from the revision log so the garbage collector and the workload
//! controllers find dependents without scanning the store.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::object;

/// The owner index.
#[derive(Default)]
pub(super) struct OwnerIndex {
    dependents: HashMap<String, BTreeSet<String>>,
    owners_of: HashMap<String, Vec<String>>,
    key_of_uid: HashMap<String, String>,
    uid_of_key: HashMap<String, String>,
}

/// The uids of an object's owners.
pub(super) fn owner_uids(obj: &Value) -> Vec<String> {
    object::meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl OwnerIndex {
    /// Records the object now at `key` (None: deleted). Returns the owner uids it had before and
    /// whether they changed.
    pub(super) fn update(&mut self, key: &str, obj: Option<&Value>) -> (Vec<String>, bool) {
        let before = self.owners_of.remove(key).unwrap_or_default();
        for uid in &before {
            if let Some(set) = self.dependents.get_mut(uid) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(uid);
                }
            }
        }
        if let Some(uid) = self.uid_of_key.remove(key) {
            self.key_of_uid.remove(&uid);
        }
        let Some(obj) = obj else {
            return (before.clone(), !before.is_empty());
        };
        if let Some(uid) = object::meta_str(obj, "uid") {
            self.key_of_uid.insert(uid.to_string(), key.to_string());
            self.uid_of_key.insert(key.to_string(), uid.to_string());
        }
        let now = owner_uids(obj);
        for uid in &now {
            self.dependents
                .entry(uid.clone())
                .or_default()
                .insert(key.to_string());
        }
        let changed = now != before;
        if !now.is_empty() {
            self.owners_of.insert(key.to_string(), now);
        }
        (before, changed)
    }

    /// Keys of the objects that name `uid` as an owner.
    pub(super) fn dependents(&self, uid: &str) -> Vec<String> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The key of the object with `uid`, if it exists.
    pub(super) fn key_of(&self, uid: &str) -> Option<&str> {
        self.key_of_uid.get(uid).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tracks_dependents_across_updates_and_deletes() {
        let mut idx = OwnerIndex::default();
        let owner = json!({"metadata": {"uid": "o1"}});
        idx.update("apps/deployments/ns/web", Some(&owner));
        let dep = json!({"metadata": {"uid": "d1", "ownerReferences": [{"uid": "o1"}]}});
        let (before, changed) = idx.update("apps/replicasets/ns/web-1", Some(&dep));
        assert!(before.is_empty() && changed);
        assert_eq!(idx.dependents("o1"), vec!["apps/replicasets/ns/web-1"]);
        assert_eq!(idx.key_of("o1"), Some("apps/deployments/ns/web"));
        let orphaned = json!({"metadata": {"uid": "d1"}});
        let (before, changed) = idx.update("apps/replicasets/ns/web-1", Some(&orphaned));
        assert_eq!(before, vec!["o1"]);
        assert!(changed);
        assert!(idx.dependents("o1").is_empty());
        idx.update("apps/deployments/ns/web", None);
        assert_eq!(idx.key_of("o1"), None);
    }
}
