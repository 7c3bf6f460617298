//! The simulated workload controllers: Deployment → ReplicaSet → Pods, StatefulSet and DaemonSet
//! status (one pretend node, no Pods), and the `default` ServiceAccount of every namespace (Jobs
//! are in `jobs`). Each step reads the object, makes at most a few writes, and
//! writes status only when it changed, so the events of its own writes settle.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::runner::{Controllers, StepResult, Work};
use super::{CONTROLLER_MANAGER, SIMULATE_ANNOTATION};
use crate::object;
use crate::store::StoredObject;

const HASH_LABEL: &str = "pod-template-hash";
const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The alphabet of generated names (no vowels, no confusable digits).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The owner reference with `controller: true`.
pub(super) fn controller_ref(obj: &Value) -> Option<&Value> {
    object::meta(obj)?
        .get("ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller") == Some(&Value::Bool(true)))
}

/// Whether `fjord.dev/simulate: fail` is on the object or on its pod template.
pub(super) fn simulated_failure(obj: &Value) -> bool {
    let on = |v: Option<&Value>| {
        v.and_then(|a| a.get(SIMULATE_ANNOTATION))
            .and_then(Value::as_str)
            == Some("fail")
    };
    on(object::meta(obj).and_then(|m| m.get("annotations")))
        || on(obj.pointer("/spec/template/metadata/annotations"))
}

/// A stable hash of a pod template, spelled like the real `pod-template-hash`.
pub(super) fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in canonical_json(template).bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// JSON with object keys sorted, so equal templates hash equally whatever their key order.
fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical_json(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

pub(super) fn int_at(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

pub(super) fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "name": object::name(owner),
        "uid": object::meta_str(owner, "uid").unwrap_or(""),
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// A condition, keeping the times of an existing one that says the same.
pub(super) fn condition(
    previous: Option<&Value>,
    ty: &str,
    status: &str,
    reason: &str,
    message: &str,
    with_update_time: bool,
) -> Value {
    let now = object::now();
    let prev = previous
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type") == Some(&json!(ty))));
    let same_status = prev.is_some_and(|p| p.get("status") == Some(&json!(status)));
    let same_all = same_status
        && prev.is_some_and(|p| {
            p.get("reason") == Some(&json!(reason)) && p.get("message") == Some(&json!(message))
        });
    let transition = match prev {
        Some(p) if same_status => p.get("lastTransitionTime").cloned().unwrap_or(json!(now)),
        _ => json!(now),
    };
    let mut c = json!({"type": ty, "status": status, "lastTransitionTime": transition,
                       "reason": reason, "message": message});
    if with_update_time {
        let update = match prev {
            Some(p) if same_all => p.get("lastUpdateTime").cloned().unwrap_or(json!(now)),
            _ => json!(now),
        };
        c["lastUpdateTime"] = update;
    }
    c
}

/// Drops zero counts that the real types omit.
fn omit_zero(status: &mut Map<String, Value>, fields: &[&str]) {
    for f in fields {
        if status.get(*f) == Some(&json!(0)) {
            status.remove(*f);
        }
    }
}

impl Controllers {
    pub(super) fn owned(&self, owner: &Value, prefix: &str) -> Vec<StoredObject> {
        let uid = object::meta_str(owner, "uid").unwrap_or("");
        self.index
            .dependents(uid)
            .iter()
            .filter(|k| k.starts_with(prefix))
            .filter_map(|k| self.api.store.get(k))
            .filter(|o| {
                controller_ref(&o.value)
                    .and_then(|r| r.get("uid"))
                    .and_then(Value::as_str)
                    == Some(uid)
            })
            .collect()
    }

    /// Creates a Pod from `owner`'s `spec.template`, owned (as controller) by `owner`, on the node.
    pub(super) async fn create_pod(
        &self,
        owner: &Value,
        api_version: &str,
        kind: &str,
    ) -> StepResult {
        let Some(rt) = self.api.type_of("v1", "Pod") else {
            return Ok(());
        };
        let template = owner
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(json!({}));
        let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
        meta["generateName"] = json!(format!("{}-", object::name(owner)));
        meta["namespace"] = json!(object::meta_str(owner, "namespace"));
        meta["ownerReferences"] = json!([owner_ref(owner, api_version, kind)]);
        if let Some(m) = meta.as_object_mut() {
            m.remove("name");
            m.remove("creationTimestamp");
        }
        let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
        spec["nodeName"] = json!(super::kubelet::NODE_NAME);
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        self.api
            .controller_create(&rt, pod, CONTROLLER_MANAGER)
            .await
    }

    /// Writes `status` through the status subresource if it differs from the stored one.
    pub(super) async fn write_status(
        &self,
        stored: &StoredObject,
        status: Value,
        manager: &str,
    ) -> StepResult {
        if stored.value.get("status") == Some(&status) {
            return Ok(());
        }
        let Some(rt) = self.api.type_of_object(&stored.value) else {
            return Ok(());
        };
        let mut obj = (*stored.value).clone();
        obj["status"] = status;
        self.api
            .controller_update(&rt, obj, Some("status"), manager)
            .await
    }

    async fn set_replicas(&self, stored: &StoredObject, replicas: i64) -> StepResult {
        let Some(rt) = self.api.type_of_object(&stored.value) else {
            return Ok(());
        };
        let mut obj = (*stored.value).clone();
        obj["spec"]["replicas"] = json!(replicas);
        self.api
            .controller_update(&rt, obj, None, CONTROLLER_MANAGER)
            .await
    }

    /// Deployment: one ReplicaSet per pod template, scaled to the Deployment's replicas, old ones
    /// scaled to zero once the new one is available (at once for `Recreate`), and the status.
    pub(super) async fn deployment(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let d = stored.value.clone();
        if object::is_deleting(&d) {
            return Ok(());
        }
        let ns = object::meta_str(&d, "namespace").unwrap_or("").to_string();
        let desired = int_at(&d, "/spec/replicas").unwrap_or(1);
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        if d.pointer("/spec/paused") == Some(&json!(true)) {
            // A paused Deployment rolls nothing out; it only reports that it is paused.
            let prev = d.get("status");
            let mut status = prev.cloned().unwrap_or(json!({}));
            let mut conditions: Vec<Value> = prev
                .and_then(|s| s.get("conditions"))
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter(|c| c.get("type") != Some(&json!("Progressing")))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            conditions.push(condition(
                prev,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                true,
            ));
            status["conditions"] = Value::Array(conditions);
            status["observedGeneration"] = json!(int_at(&d, "/metadata/generation").unwrap_or(1));
            return self.write_status(&stored, status, CONTROLLER_MANAGER).await;
        }
        let rss = self.owned(&d, &format!("apps/replicasets/{ns}/"));
        let Some(new_rs) = rss
            .iter()
            .find(|rs| {
                object::labels(&rs.value).and_then(|l| l.get(HASH_LABEL)) == Some(&json!(hash))
            })
            .cloned()
        else {
            let revision = rss
                .iter()
                .filter_map(|rs| {
                    object::meta(&rs.value)?
                        .get("annotations")?
                        .get(REVISION_ANNOTATION)?
                        .as_str()?
                        .parse::<i64>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
                + 1;
            return self
                .create_replica_set(&d, &template, &hash, revision, desired)
                .await;
        };
        if int_at(&new_rs.value, "/spec/replicas") != Some(desired) {
            return self.set_replicas(&new_rs, desired).await;
        }
        let recreate = d.pointer("/spec/strategy/type") == Some(&json!("Recreate"));
        let new_available = int_at(&new_rs.value, "/status/availableReplicas").unwrap_or(0);
        let old: Vec<&StoredObject> = rss
            .iter()
            .filter(|rs| rs.value.pointer("/metadata/uid") != new_rs.value.pointer("/metadata/uid"))
            .collect();
        for rs in &old {
            if int_at(&rs.value, "/spec/replicas").unwrap_or(0) != 0
                && (recreate || new_available >= desired)
            {
                return self.set_replicas(rs, 0).await;
            }
        }
        self.prune_old_replica_sets(&d, &old).await?;

        let sum = |p: &str| -> i64 { rss.iter().map(|rs| int_at(&rs.value, p).unwrap_or(0)).sum() };
        let replicas = sum("/status/replicas");
        let ready = sum("/status/readyReplicas");
        let available = sum("/status/availableReplicas");
        let updated = int_at(&new_rs.value, "/status/replicas").unwrap_or(0);
        let total_spec = sum("/spec/replicas");
        let max_unavailable = if recreate {
            0
        } else {
            resolve_int_or_percent(
                d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                desired,
                false,
            )
        };
        let rs_name = object::name(&new_rs.value).to_string();
        let complete = updated == desired && replicas == desired && available == desired;
        let failing = simulated_failure(&d) || simulated_failure(&new_rs.value);
        let deadline = if failing {
            self.options.failure_delay
        } else {
            Duration::from_secs(
                int_at(&d, "/spec/progressDeadlineSeconds")
                    .unwrap_or(600)
                    .max(0) as u64,
            )
        };
        let elapsed = self.elapsed(key, &hash);
        let prev = d.get("status");
        let available_cond = if available >= desired - max_unavailable {
            condition(
                prev,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                true,
            )
        } else {
            condition(
                prev,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                true,
            )
        };
        let progressing = if complete {
            condition(
                prev,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                true,
            )
        } else if !self.wake_at(elapsed, deadline, Work::Deployment(key.to_string())) {
            let created_now = elapsed < Duration::from_millis(100) && updated == 0;
            if created_now {
                condition(
                    prev,
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    &format!("Created new replica set \"{rs_name}\""),
                    true,
                )
            } else {
                condition(
                    prev,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{rs_name}\" is progressing."),
                    true,
                )
            }
        } else {
            condition(
                prev,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                true,
            )
        };
        let mut status = json!({
            "observedGeneration": int_at(&d, "/metadata/generation").unwrap_or(1),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": (total_spec.max(desired) - available).max(0),
            "conditions": [available_cond, progressing],
        });
        if let Some(m) = status.as_object_mut() {
            omit_zero(
                m,
                &[
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                    "unavailableReplicas",
                ],
            );
        }
        self.write_status(&stored, status, CONTROLLER_MANAGER).await
    }

    async fn create_replica_set(
        &self,
        d: &Value,
        template: &Value,
        hash: &str,
        revision: i64,
        replicas: i64,
    ) -> StepResult {
        let Some(rt) = self.api.type_of("apps/v1", "ReplicaSet") else {
            return Ok(());
        };
        let mut template = template.clone();
        template["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let labels = template["metadata"]["labels"].clone();
        let max_surge = resolve_int_or_percent(
            d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            replicas,
            true,
        );
        let mut spec = json!({"replicas": replicas, "selector": selector, "template": template});
        if let Some(m) = d.pointer("/spec/minReadySeconds") {
            spec["minReadySeconds"] = m.clone();
        }
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": format!("{}-{hash}", object::name(d)),
                "namespace": object::meta_str(d, "namespace"),
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                    "deployment.kubernetes.io/max-replicas": (replicas + max_surge).to_string(),
                    REVISION_ANNOTATION: revision.to_string(),
                },
                "ownerReferences": [owner_ref(d, "apps/v1", "Deployment")],
            },
            "spec": spec,
        });
        match self
            .api
            .controller_create(&rt, rs, CONTROLLER_MANAGER)
            .await
        {
            Err(e) if e.code == 409 => Ok(()),
            other => other,
        }
    }

    /// Deletes scaled-down old ReplicaSets beyond `revisionHistoryLimit`, oldest revision first.
    async fn prune_old_replica_sets(&self, d: &Value, old: &[&StoredObject]) -> StepResult {
        let limit = int_at(d, "/spec/revisionHistoryLimit").unwrap_or(10).max(0) as usize;
        let mut idle: Vec<&&StoredObject> = old
            .iter()
            .filter(|rs| {
                int_at(&rs.value, "/spec/replicas") == Some(0)
                    && int_at(&rs.value, "/status/replicas").unwrap_or(0) == 0
            })
            .collect();
        if idle.len() <= limit {
            return Ok(());
        }
        let rev = |rs: &StoredObject| -> i64 {
            rs.value
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION_ANNOTATION))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        idle.sort_by_key(|rs| rev(rs));
        let excess = idle.len() - limit;
        for rs in idle.into_iter().take(excess) {
            if let Some(rt) = self.api.type_of_object(&rs.value) {
                match self
                    .api
                    .controller_delete(&rt, &rs.value, "Background")
                    .await
                {
                    Err(e) if e.code != 404 => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// ReplicaSet: as many Pods as replicas (newest deleted first), and the status.
    pub(super) async fn replica_set(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let rs = stored.value.clone();
        if object::is_deleting(&rs) {
            return Ok(());
        }
        let ns = object::meta_str(&rs, "namespace").unwrap_or("").to_string();
        let desired = int_at(&rs, "/spec/replicas").unwrap_or(1).max(0) as usize;
        let mut pods: Vec<StoredObject> = self
            .owned(&rs, &format!("/pods/{ns}/"))
            .into_iter()
            .filter(|p| !object::is_deleting(&p.value))
            .collect();
        pods.sort_by(|a, b| {
            (object::meta_str(&a.value, "creationTimestamp"), a.rev)
                .cmp(&(object::meta_str(&b.value, "creationTimestamp"), b.rev))
        });
        if pods.len() < desired {
            for _ in pods.len()..desired {
                self.create_pod(&rs, "apps/v1", "ReplicaSet").await?;
            }
            return Ok(());
        }
        if pods.len() > desired {
            for pod in pods.iter().skip(desired).rev() {
                if let Some(rt) = self.api.type_of_object(&pod.value) {
                    match self
                        .api
                        .controller_delete(&rt, &pod.value, "Background")
                        .await
                    {
                        Err(e) if e.code != 404 => return Err(e),
                        _ => {}
                    }
                }
            }
            return Ok(());
        }
        let ready = pods
            .iter()
            .filter(|p| super::kubelet::is_ready(&p.value))
            .count();
        let mut status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": pods.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": int_at(&rs, "/metadata/generation").unwrap_or(1),
        });
        if let Some(m) = status.as_object_mut() {
            omit_zero(
                m,
                &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
            );
        }
        self.write_status(&stored, status, CONTROLLER_MANAGER).await
    }

    /// StatefulSet: all replicas ready `ready_delay` after each new generation (none with the
    /// failure annotation).
    pub(super) async fn stateful_set(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let s = stored.value.clone();
        if object::is_deleting(&s) {
            return Ok(());
        }
        let generation = int_at(&s, "/metadata/generation").unwrap_or(1);
        let desired = int_at(&s, "/spec/replicas").unwrap_or(1);
        let elapsed = self.elapsed(key, &generation.to_string());
        let delay = self.options.ready_delay;
        let up = self.wake_at(elapsed, delay, Work::StatefulSet(key.to_string()));
        let ready = if up && !simulated_failure(&s) {
            desired
        } else {
            0
        };
        let revision = format!(
            "{}-{}",
            object::name(&s),
            template_hash(s.pointer("/spec/template").unwrap_or(&Value::Null))
        );
        let mut status = json!({
            "observedGeneration": generation,
            "replicas": desired,
            "readyReplicas": ready,
            "currentReplicas": desired,
            "updatedReplicas": desired,
            "availableReplicas": ready,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
        });
        if let Some(m) = status.as_object_mut() {
            omit_zero(m, &["readyReplicas", "currentReplicas", "updatedReplicas"]);
        }
        self.write_status(&stored, status, CONTROLLER_MANAGER).await
    }

    /// DaemonSet: one pretend node, its pod ready `ready_delay` after each new generation.
    pub(super) async fn daemon_set(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let s = stored.value.clone();
        if object::is_deleting(&s) {
            return Ok(());
        }
        let generation = int_at(&s, "/metadata/generation").unwrap_or(1);
        let elapsed = self.elapsed(key, &generation.to_string());
        let delay = self.options.ready_delay;
        let up = self.wake_at(elapsed, delay, Work::DaemonSet(key.to_string()));
        let ready = i64::from(up && !simulated_failure(&s));
        let mut status = json!({
            "currentNumberScheduled": 1,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 1,
            "numberReady": ready,
            "observedGeneration": generation,
            "updatedNumberScheduled": 1,
            "numberAvailable": ready,
            "numberUnavailable": 1 - ready,
        });
        if let Some(m) = status.as_object_mut() {
            omit_zero(m, &["numberAvailable", "numberUnavailable"]);
        }
        self.write_status(&stored, status, CONTROLLER_MANAGER).await
    }

    /// Every active namespace has a `default` ServiceAccount.
    pub(super) async fn service_account(&mut self, namespace: &str) -> StepResult {
        let Some(ns) = self.api.store.get(&format!("/namespaces//{namespace}")) else {
            return Ok(());
        };
        if object::is_deleting(&ns.value)
            || self
                .api
                .store
                .get(&format!("/serviceaccounts/{namespace}/default"))
                .is_some()
        {
            return Ok(());
        }
        let Some(rt) = self.api.type_of("v1", "ServiceAccount") else {
            return Ok(());
        };
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "default", "namespace": namespace}});
        match self
            .api
            .controller_create(&rt, sa, CONTROLLER_MANAGER)
            .await
        {
            Err(e) if e.code == 409 || e.code == 403 => Ok(()),
            other => other,
        }
    }
}

/// An int-or-percent of `total` (percentages rounded up for surge, down for unavailability).
fn resolve_int_or_percent(v: Option<&Value>, total: i64, round_up: bool) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if round_up => (p * total + 99) / 100,
            Some(p) => p * total / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => {
            if round_up {
                (25 * total + 99) / 100
            } else {
                25 * total / 100
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn template_hash_ignores_key_order_and_uses_the_safe_alphabet() {
        let a = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": []}});
        let b = json!({"spec": {"containers": []}, "metadata": {"labels": {"tier": "x", "app": "web"}}});
        assert_eq!(template_hash(&a), template_hash(&b));
        let c = json!({"metadata": {"labels": {"app": "other"}}});
        assert_ne!(template_hash(&a), template_hash(&c));
        assert!(
            template_hash(&a)
                .bytes()
                .all(|b| SAFE_ALPHABET.contains(&b))
        );
    }

    #[test]
    fn int_or_percent() {
        assert_eq!(resolve_int_or_percent(Some(&json!("25%")), 3, false), 0);
        assert_eq!(resolve_int_or_percent(Some(&json!("25%")), 3, true), 1);
        assert_eq!(resolve_int_or_percent(Some(&json!(2)), 3, false), 2);
        assert_eq!(resolve_int_or_percent(Some(&json!("50%")), 4, false), 2);
    }

    #[test]
    fn failure_annotation_on_object_or_template() {
        assert!(simulated_failure(
            &json!({"metadata": {"annotations": {"fjord.dev/simulate": "fail"}}})
        ));
        assert!(simulated_failure(
            &json!({"spec": {"template": {"metadata": {"annotations": {"fjord.dev/simulate": "fail"}}}}})
        ));
        assert!(!simulated_failure(
            &json!({"metadata": {"annotations": {"fjord.dev/simulate": "ok"}}})
        ));
    }
}
