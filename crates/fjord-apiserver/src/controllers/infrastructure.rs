//! What a cluster's storage and load-balancer providers do, pretended: PersistentVolumeClaims are
//! bound `ready_delay` after they appear, LoadBalancer Services and Ingresses get an address. Health
//! checks of GitOps tools (Argo CD, kstatus) wait for exactly these.

use serde_json::{Value, json};

use super::CONTROLLER_MANAGER;
use super::runner::{Controllers, StepResult, Work};
use crate::object;

/// The address given to LoadBalancer Services and Ingresses (only ever written into status).
const LOAD_BALANCER_IP: &str = "172.18.255.200";

impl Controllers {
    /// Binds a pending PersistentVolumeClaim: phase `Bound`, its access modes and requested
    /// capacity.
    pub(super) async fn persistent_volume_claim(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let pvc = &stored.value;
        if object::is_deleting(pvc) || pvc.pointer("/status/phase") == Some(&json!("Bound")) {
            return Ok(());
        }
        let elapsed = self.elapsed(key, "bind");
        let delay = self.options.ready_delay;
        if !self.wake_at(elapsed, delay, Work::PersistentVolumeClaim(key.to_string())) {
            return Ok(());
        }
        let mut status = json!({"phase": "Bound"});
        if let Some(modes) = pvc.pointer("/spec/accessModes") {
            status["accessModes"] = modes.clone();
        }
        if let Some(storage) = pvc.pointer("/spec/resources/requests/storage") {
            status["capacity"] = json!({"storage": storage});
        }
        self.write_status_of(&stored, status).await
    }

    /// Gives a LoadBalancer Service or an Ingress an address.
    pub(super) async fn load_balancer(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let obj = &stored.value;
        let is_service = obj.get("kind") == Some(&json!("Service"));
        if object::is_deleting(obj)
            || (is_service && obj.pointer("/spec/type") != Some(&json!("LoadBalancer")))
        {
            return Ok(());
        }
        let has_address = obj
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if has_address {
            return Ok(());
        }
        let mut status = obj.get("status").cloned().unwrap_or(json!({}));
        status["loadBalancer"] = json!({"ingress": [{"ip": LOAD_BALANCER_IP}]});
        self.write_status_of(&stored, status).await
    }

    async fn write_status_of(
        &self,
        stored: &crate::store::StoredObject,
        status: Value,
    ) -> StepResult {
        let Some(rt) = self.api.type_of_object(&stored.value) else {
            return Ok(());
        };
        let mut obj = (*stored.value).clone();
        obj["status"] = status;
        self.api
            .controller_update(&rt, obj, Some("status"), CONTROLLER_MANAGER)
            .await
    }
}
