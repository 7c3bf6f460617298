//! The Deployment controller: one ReplicaSet per pod template (named and labelled by its
//! `pod-template-hash`), scaled to the Deployment's replicas; old ReplicaSets scaled to zero once
//! the new one is available (at once for `Recreate`) and pruned beyond `revisionHistoryLimit`; and
//! the status with the real condition reasons (`MinimumReplicasAvailable`,
//! `NewReplicaSetCreated`, `ReplicaSetUpdated`, `NewReplicaSetAvailable`,
//! `ProgressDeadlineExceeded`, `DeploymentPaused`).

use std::time::Duration;

use serde_json::{Value, json};

use super::CONTROLLER_MANAGER;
use super::events::{EventRecord, Severity};
use super::runner::{Controllers, StepResult, Work};
use super::workloads::{condition, int_at, omit_zero, owner_ref, simulated_failure, template_hash};
use crate::object;
use crate::store::StoredObject;

const HASH_LABEL: &str = "pod-template-hash";
const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

impl Controllers {
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
            return self.scale_replica_set(&d, &new_rs, desired).await;
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
                return self.scale_replica_set(&d, rs, 0).await;
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
        // The Deployment carries its newest ReplicaSet's revision, set with the status write as
        // the real controller does (an annotation change through the main resource would bump
        // the generation).
        let revision_of = |v: &Value| {
            object::meta(v)
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(REVISION_ANNOTATION))
                .cloned()
        };
        if let Some(revision) = revision_of(&new_rs.value)
            && revision_of(&d).as_ref() != Some(&revision)
        {
            let Some(rt) = self.api.type_of_object(&stored.value) else {
                return Ok(());
            };
            let mut obj = (*stored.value).clone();
            obj["status"] = status;
            object::meta_mut(&mut obj)
                .entry("annotations")
                .or_insert_with(|| json!({}))[REVISION_ANNOTATION] = revision;
            return self
                .api
                .controller_update(&rt, obj, Some("status"), CONTROLLER_MANAGER)
                .await;
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
        let rs_name = object::name(&rs).to_string();
        match self
            .api
            .controller_create(&rt, rs, CONTROLLER_MANAGER)
            .await
        {
            Err(e) if e.code == 409 => Ok(()),
            Err(e) => Err(e),
            Ok(()) => {
                let message = format!("Scaled up replica set {rs_name} from 0 to {replicas}");
                self.api.record_event(d, scaling_event(message)).await;
                Ok(())
            }
        }
    }

    /// Sets a ReplicaSet's replicas and records the Deployment's `ScalingReplicaSet` event.
    async fn scale_replica_set(&self, d: &Value, rs: &StoredObject, replicas: i64) -> StepResult {
        let from = int_at(&rs.value, "/spec/replicas").unwrap_or(0);
        self.set_replicas(rs, replicas).await?;
        let direction = if replicas > from { "up" } else { "down" };
        let message = format!(
            "Scaled {direction} replica set {} from {from} to {replicas}",
            object::name(&rs.value)
        );
        self.api.record_event(d, scaling_event(message)).await;
        Ok(())
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

fn scaling_event(message: String) -> EventRecord<'static> {
    EventRecord {
        severity: Severity::Normal,
        reason: "ScalingReplicaSet",
        message,
        component: "deployment-controller",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn int_or_percent() {
        assert_eq!(resolve_int_or_percent(Some(&json!("25%")), 3, false), 0);
        assert_eq!(resolve_int_or_percent(Some(&json!("25%")), 3, true), 1);
        assert_eq!(resolve_int_or_percent(Some(&json!(2)), 3, false), 2);
        assert_eq!(resolve_int_or_percent(Some(&json!("50%")), 4, false), 2);
    }
}
