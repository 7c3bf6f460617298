//! Defaulting: the fields a real apiserver fills in on every create and update, so that live
//! objects here carry the same defaults as on a cluster (GitOps diffs depend on it), and the values
//! the registries allocate (Service IPs and node ports, Job selectors).
//!
//! Two steps, in the order of a real apiserver:
//! - [`apply_defaults`] is pure and runs on the decoded request body — before the field manager on
//!   create and update (so the writing manager owns the defaults it did not write), and after the
//!   merge of a server-side apply (so defaults are owned by nobody). Built-in kinds get the
//!   `core/v1`, `apps/v1` and `batch/v1` defaults; custom resources the `default`s of their CRD
//!   version's schema.
//! - [`Api::set_allocated_values`](crate::rest::Api) runs after the object's uid is known and
//!   needs the store: cluster IPs, node ports, the Job selector, PVC/PV `Pending` phase.

mod apps;
mod batch;
mod core;
mod pod;
pub mod quantity;
mod schema;
mod service;

use serde_json::{Map, Value, json};

use crate::http::error::ApiResult;
use crate::registry::{Origin, ResourceType};
use crate::rest::Api;

pub use service::ServiceAllocator;

/// Fills in the defaults of `obj`, an object of type `rt`.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    if let Origin::Crd {
        schema: Some(schema),
        ..
    } = &rt.origin
    {
        schema::apply(schema, obj);
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => apps::deployment(map),
        ("apps", "StatefulSet") => apps::stateful_set(map),
        ("apps", "DaemonSet") => apps::daemon_set(map),
        ("apps", "ReplicaSet") => apps::replica_set(map),
        ("batch", "Job") => batch::job(map),
        ("batch", "CronJob") => batch::cron_job(map),
        ("", "Pod") => pod::pod(map),
        ("", "PodTemplate") => {
            if let Some(t) = child(map, "template") {
                pod::template(t);
            }
        }
        ("", "ReplicationController") => {
            if let Some(spec) = child(map, "spec") {
                set_default(spec, "replicas", json!(1));
                if let Some(t) = child(spec, "template") {
                    pod::template(t);
                }
            }
        }
        ("", "Service") => service::service(map),
        ("", "Secret") => core::secret(map),
        ("", "PersistentVolumeClaim") => core::persistent_volume_claim(map),
        ("", "PersistentVolume") => core::persistent_volume(map),
        ("", "ResourceQuota") => core::resource_quota(map),
        ("", "LimitRange") => core::limit_range(map),
        ("", "Endpoints") => core::endpoints(map),
        ("networking.k8s.io", "NetworkPolicy") => core::network_policy(map),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            core::custom_resource_definition(map)
        }
        _ => {}
    }
}

impl Api {
    /// Sets what the registries allocate or generate: Service cluster IPs and node ports (kept
    /// from `current` when an update leaves them out), the selector and labels of a new Job, the
    /// `Pending` phase of a new PVC or PV. Runs after the field manager, so these are owned by
    /// nobody, as on a real server.
    pub(crate) fn set_allocated_values(
        &self,
        rt: &ResourceType,
        current: Option<&Value>,
        obj: &mut Value,
    ) -> ApiResult<()> {
        if rt.is_custom() {
            return Ok(());
        }
        match (rt.group.as_str(), rt.kind.as_str()) {
            ("", "Service") => self.allocations.allocate(&self.store, rt, current, obj)?,
            ("batch", "Job") if current.is_none() => {
                let uid = crate::object::meta_str(obj, "uid")
                    .unwrap_or_default()
                    .to_string();
                let name = crate::object::name(obj).to_string();
                if let Some(map) = obj.as_object_mut() {
                    batch::generate_job_selector(map, &uid, &name);
                }
            }
            ("", "Pod") if current.is_none() => {
                let qos = pod::qos_class(obj);
                if let Some(map) = obj.as_object_mut() {
                    let status = child_or_insert(map, "status");
                    status.entry("phase").or_insert(json!("Pending"));
                    status.entry("qosClass").or_insert(json!(qos));
                }
            }
            ("", "PersistentVolumeClaim" | "PersistentVolume") if current.is_none() => {
                if let Some(map) = obj.as_object_mut() {
                    child_or_insert(map, "status")
                        .entry("phase")
                        .or_insert(json!("Pending"));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Inserts `value` under `key` unless a non-null value is there.
pub(crate) fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        Some(v) if !v.is_null() => {}
        _ => {
            map.insert(key.to_string(), value);
        }
    }
}

/// The object under `key`, if there is one.
pub(crate) fn child<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The object under `key`, created (replacing a null or non-object) if missing.
pub(crate) fn child_or_insert<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> &'a mut Map<String, Value> {
    let v = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("just made an object")
}

/// Calls `f` on every object item of the list under `key`.
pub(crate) fn each_object(
    map: &mut Map<String, Value>,
    key: &str,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    if let Some(items) = map.get_mut(key).and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            f(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    fn rt(group: &str, version: &str, kind: &str) -> std::sync::Arc<ResourceType> {
        Registry::new()
            .snapshot()
            .by_kind(group, version, kind)
            .expect("a built-in kind")
    }

    #[test]
    fn dispatches_by_kind() {
        let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                             "spec": {"ports": [{"port": 8080}]}});
        apply_defaults(&rt("", "v1", "Service"), &mut svc);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let before = cm.clone();
        apply_defaults(&rt("", "v1", "ConfigMap"), &mut cm);
        assert_eq!(cm, before, "ConfigMaps have no defaults");
    }

    #[test]
    fn custom_resources_use_their_schema_defaults() {
        let mut t = (*rt("", "v1", "ConfigMap")).clone();
        t.origin = Origin::Crd {
            crd_name: "widgets.x.io".into(),
            schema: Some(
                json!({"type": "object", "properties": {"spec": {"type": "object",
                "properties": {"size": {"type": "integer", "default": 1}}}}}),
            ),
            printer_columns: vec![],
        };
        let mut w = json!({"spec": {}});
        apply_defaults(&t, &mut w);
        assert_eq!(w["spec"]["size"], 1);
    }
}
