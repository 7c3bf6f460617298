//! The pretend kubelet of one pretend node: a Pod turns Running and Ready `ready_delay` after it
//! is first seen; with the failure annotation (on the Pod, its ReplicaSet or that ReplicaSet's
//! Deployment) it runs but stays not Ready, its containers in `CrashLoopBackOff`. A Pod that does
//! not restart `Always` (a Job's) succeeds `job_duration` after it is first seen, or, with the
//! failure annotation (on the Pod or its Job), fails `ready_delay` after it is first seen.

use serde_json::{Value, json};

use super::KUBELET_MANAGER;
use super::events::{EventRecord, Severity};
use super::runner::{Controllers, StepResult, Work};
use super::workloads::{controller_ref, simulated_failure};
use crate::object;

/// The node every simulated Pod runs on.
pub(super) const NODE_NAME: &str = "fjord-node";
/// The node's address (only ever written into status; nothing connects to it).
const HOST_IP: &str = "172.18.0.2";

/// Whether a Pod's Ready condition is True.
pub(super) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type") == Some(&json!("Ready")) && c.get("status") == Some(&json!("True"))
            })
        })
}

impl Controllers {
    /// Runs a Pod.
    pub(super) async fn pod(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let pod = (*stored.value).clone();
        if object::is_deleting(&pod) {
            return Ok(());
        }
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        // Pods that do not restart `Always` (a Job's) run to completion.
        let runs_to_completion = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .is_some_and(|p| p != "Always");
        let elapsed = self.elapsed(key, "start");
        match phase {
            None | Some("Pending") => {
                let delay = self.options.ready_delay;
                if !self.wake_at(elapsed, delay, Work::Pod(key.to_string())) {
                    return Ok(());
                }
                if runs_to_completion && self.pod_fails(&pod) {
                    return self.finish(pod, false).await;
                }
            }
            Some("Running") if runs_to_completion => {
                let run_for = self.options.job_duration.max(self.options.ready_delay);
                if !self.wake_at(elapsed, run_for, Work::Pod(key.to_string())) {
                    return Ok(());
                }
                return self.finish(pod, true).await;
            }
            _ => return Ok(()),
        }
        let fail = self.pod_fails(&pod);
        let now = object::now();
        let ready = if fail { "False" } else { "True" };
        let containers: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let not_ready_message =
            format!("containers with unready status: [{}]", containers.join(" "));
        let cond = |ty: &str, status: &str| {
            let mut c = json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
            if status == "False" {
                c["reason"] = json!("ContainersNotReady");
                c["message"] = json!(not_ready_message);
            }
            c
        };
        let statuses: Vec<Value> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let name = c.get("name").cloned().unwrap_or(json!(""));
                let image = c.get("image").cloned().unwrap_or(json!(""));
                let id = format!("fjord://{}", uuid::Uuid::new_v4().simple());
                if fail {
                    json!({"name": name, "image": image, "imageID": "", "containerID": id,
                           "ready": false, "started": false, "restartCount": 1,
                           "state": {"waiting": {"reason": "CrashLoopBackOff",
                               "message": format!("back-off 10s restarting failed container={} pod={}", name.as_str().unwrap_or(""), object::name(&pod))}},
                           "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                               "startedAt": now, "finishedAt": now, "containerID": id}}})
                } else {
                    json!({"name": name, "image": image, "imageID": "", "containerID": id,
                           "ready": true, "started": true, "restartCount": 0,
                           "state": {"running": {"startedAt": now}}})
                }
            })
            .collect();
        let mut status = pod.get("status").cloned().unwrap_or(json!({}));
        let pod_ip = format!("10.244.0.{}", 2 + (stored.rev % 250));
        status["phase"] = json!("Running");
        status["conditions"] = json!([
            cond("PodReadyToStartContainers", "True"),
            cond("Initialized", "True"),
            cond("Ready", ready),
            cond("ContainersReady", ready),
            cond("PodScheduled", "True"),
        ]);
        status["hostIP"] = json!(HOST_IP);
        status["hostIPs"] = json!([{"ip": HOST_IP}]);
        status["podIP"] = json!(pod_ip);
        status["podIPs"] = json!([{"ip": pod_ip}]);
        status["startTime"] = json!(now);
        status["containerStatuses"] = Value::Array(statuses);
        let Some(rt) = self.api.type_of("v1", "Pod") else {
            return Ok(());
        };
        let mut obj = pod;
        obj["status"] = status;
        self.api
            .controller_update(&rt, obj.clone(), Some("status"), KUBELET_MANAGER)
            .await?;
        self.record_start(&obj, &containers, fail).await;
        Ok(())
    }

    /// The events of a Pod's start: scheduled, containers started, or backing off.
    async fn record_start(&self, pod: &Value, containers: &[String], fail: bool) {
        let name = object::name(pod);
        let ns = object::meta_str(pod, "namespace").unwrap_or("");
        let scheduled = EventRecord {
            severity: Severity::Normal,
            reason: "Scheduled",
            message: format!("Successfully assigned {ns}/{name} to {NODE_NAME}"),
            component: "default-scheduler",
        };
        self.api.record_event(pod, scheduled).await;
        for container in containers {
            let record = if fail {
                EventRecord {
                    severity: Severity::Warning,
                    reason: "BackOff",
                    message: format!(
                        "Back-off restarting failed container {container} in pod {name}"
                    ),
                    component: "kubelet",
                }
            } else {
                EventRecord {
                    severity: Severity::Normal,
                    reason: "Started",
                    message: format!("Started container {container}"),
                    component: "kubelet",
                }
            };
            self.api.record_event(pod, record).await;
        }
    }

    /// Ends a Pod that runs to completion: `Succeeded` (exit code 0) or `Failed` (exit code 1).
    async fn finish(&self, mut pod: Value, success: bool) -> StepResult {
        let now = object::now();
        let (phase, reason, exit_code) = if success {
            ("Succeeded", "Completed", 0)
        } else {
            ("Failed", "Error", 1)
        };
        let pod_reason = if success { "PodCompleted" } else { "PodFailed" };
        let cond = |ty: &str, status: &str, reason: Option<&str>| {
            let mut c = json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
            if let Some(r) = reason {
                c["reason"] = json!(r);
            }
            c
        };
        let statuses: Vec<Value> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                json!({"name": c.get("name").cloned().unwrap_or(json!("")),
                       "image": c.get("image").cloned().unwrap_or(json!("")),
                       "imageID": "", "ready": false, "started": false, "restartCount": 0,
                       "containerID": format!("fjord://{}", uuid::Uuid::new_v4().simple()),
                       "state": {"terminated": {"exitCode": exit_code, "reason": reason,
                                                "startedAt": now, "finishedAt": now}}})
            })
            .collect();
        let mut status = pod.get("status").cloned().unwrap_or(json!({}));
        status["phase"] = json!(phase);
        status["conditions"] = json!([
            cond("PodReadyToStartContainers", "False", None),
            cond("Initialized", "True", Some(pod_reason)),
            cond("Ready", "False", Some(pod_reason)),
            cond("ContainersReady", "False", Some(pod_reason)),
            cond("PodScheduled", "True", None),
        ]);
        status["hostIP"] = json!(HOST_IP);
        status["hostIPs"] = json!([{"ip": HOST_IP}]);
        if status.get("startTime").is_none() {
            status["startTime"] = json!(now);
        }
        status["containerStatuses"] = Value::Array(statuses);
        pod["status"] = status;
        let Some(rt) = self.api.type_of("v1", "Pod") else {
            return Ok(());
        };
        self.api
            .controller_update(&rt, pod, Some("status"), KUBELET_MANAGER)
            .await
    }

    /// The failure annotation on the Pod, its controller, or its controller's controller.
    fn pod_fails(&self, pod: &Value) -> bool {
        if simulated_failure(pod) {
            return true;
        }
        let mut current = pod.clone();
        for _ in 0..2 {
            let Some(owner) = controller_ref(&current) else {
                return false;
            };
            let Some(uid) = owner.get("uid").and_then(Value::as_str) else {
                return false;
            };
            let Some(stored) = self.index.key_of(uid).and_then(|k| self.api.store.get(k)) else {
                return false;
            };
            if simulated_failure(&stored.value) {
                return true;
            }
            current = (*stored.value).clone();
        }
        false
    }
}
