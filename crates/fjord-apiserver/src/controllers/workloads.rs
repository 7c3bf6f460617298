//! The simulated workload controllers' shared parts, ReplicaSet → Pods, and the `default`
//! ServiceAccount of every namespace (Deployments are in `deployments`, StatefulSets and
//! DaemonSets in `sets`, Jobs in `jobs`). Each step reads the object, makes at most a few writes, and
//! writes status only when it changed, so the events of its own writes settle.

use super::events::{EventRecord, Severity};
use serde_json::{Map, Value, json};

use super::runner::{Controllers, StepResult};
use super::{CONTROLLER_MANAGER, SIMULATE_ANNOTATION};
use crate::object;
use crate::store::StoredObject;

/// The alphabet of generated names (no vowels, no confusable digits).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Who a new Pod is: its name, the labels its controller adds to the template's, and (for a
/// StatefulSet's pods) its hostname and subdomain.
pub(super) struct PodIdentity {
    pub name: String,
    /// Whether `generateName` is recorded too (pods of ReplicaSets, Jobs and DaemonSets).
    pub generate_name: bool,
    pub labels: Vec<(String, String)>,
    pub hostname: Option<(String, String)>,
}

impl Default for PodIdentity {
    fn default() -> Self {
        PodIdentity {
            name: String::new(),
            generate_name: true,
            labels: Vec::new(),
            hostname: None,
        }
    }
}

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
pub(super) fn omit_zero(status: &mut Map<String, Value>, fields: &[&str]) {
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

    /// Creates a Pod from `owner`'s `spec.template`, owned (as controller) by `owner`, on the node,
    /// named `<owner>-<random>`.
    pub(super) async fn create_pod(
        &self,
        owner: &Value,
        api_version: &str,
        kind: &str,
    ) -> StepResult {
        let name = format!(
            "{}-{}",
            object::name(owner),
            &uuid::Uuid::new_v4().simple().to_string()[..5]
        );
        let identity = PodIdentity {
            name,
            ..PodIdentity::default()
        };
        self.create_pod_as(owner, api_version, kind, identity).await
    }

    /// Creates a Pod from `owner`'s `spec.template` with the given name, extra labels and
    /// hostname (a StatefulSet's pods have stable names and identities).
    pub(super) async fn create_pod_as(
        &self,
        owner: &Value,
        api_version: &str,
        kind: &str,
        identity: PodIdentity,
    ) -> StepResult {
        let Some(rt) = self.api.type_of("v1", "Pod") else {
            return Ok(());
        };
        let template = owner
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(json!({}));
        let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
        let pod_name = identity.name;
        if identity.generate_name {
            meta["generateName"] = json!(format!("{}-", object::name(owner)));
        }
        // Named here rather than by generateName, so the event can say which Pod was created.
        meta["name"] = json!(pod_name);
        meta["namespace"] = json!(object::meta_str(owner, "namespace"));
        meta["ownerReferences"] = json!([owner_ref(owner, api_version, kind)]);
        for (k, v) in identity.labels {
            meta["labels"][k] = json!(v);
        }
        if let Some(m) = meta.as_object_mut() {
            m.remove("creationTimestamp");
        }
        let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
        spec["nodeName"] = json!(super::kubelet::NODE_NAME);
        if let Some((hostname, subdomain)) = identity.hostname {
            spec["hostname"] = json!(hostname);
            if !subdomain.is_empty() {
                spec["subdomain"] = json!(subdomain);
            }
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        self.api
            .controller_create(&rt, pod, CONTROLLER_MANAGER)
            .await?;
        let component = match kind {
            "ReplicaSet" => "replicaset-controller",
            "Job" => "job-controller",
            "StatefulSet" => "statefulset-controller",
            "DaemonSet" => "daemonset-controller",
            _ => CONTROLLER_MANAGER,
        };
        let message = match kind {
            "StatefulSet" => format!(
                "create Pod {pod_name} in StatefulSet {} successful",
                object::name(owner)
            ),
            _ => format!("Created pod: {pod_name}"),
        };
        let record = EventRecord {
            severity: Severity::Normal,
            reason: "SuccessfulCreate",
            message,
            component,
        };
        self.api.record_event(owner, record).await;
        Ok(())
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

    pub(super) async fn set_replicas(&self, stored: &StoredObject, replicas: i64) -> StepResult {
        let Some(rt) = self.api.type_of_object(&stored.value) else {
            return Ok(());
        };
        let mut obj = (*stored.value).clone();
        obj["spec"]["replicas"] = json!(replicas);
        self.api
            .controller_update(&rt, obj, None, CONTROLLER_MANAGER)
            .await
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
