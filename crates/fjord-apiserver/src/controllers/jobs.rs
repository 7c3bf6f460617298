//! The Job controller: Pods from the Job's template, `parallelism` at a time, until `completions`
//! have succeeded (`Complete` and `SuccessCriteriaMet`) or more than `backoffLimit` have failed
//! (`FailureTarget` and `Failed`, reason `BackoffLimitExceeded`). A suspended Job only gets the
//! `Suspended` condition. Pod outcomes come from the kubelet (`kubelet`): a Job's Pod succeeds
//! `job_duration` after it starts, or fails `ready_delay` after it appears when the Job (or its
//! template) has the failure annotation.

use serde_json::{Value, json};

use super::CONTROLLER_MANAGER;
use super::events::{EventRecord, Severity};
use super::runner::{Controllers, StepResult};
use super::workloads::{condition, int_at};
use crate::object;

/// A Job condition: `lastProbeTime` as well.
fn job_condition(prev: Option<&Value>, ty: &str, reason: &str, message: &str) -> Value {
    let mut c = condition(prev, ty, "True", reason, message, false);
    c["lastProbeTime"] = c["lastTransitionTime"].clone();
    c
}

fn phase(pod: &Value) -> Option<&str> {
    pod.pointer("/status/phase").and_then(Value::as_str)
}

impl Controllers {
    /// Runs a Job.
    pub(super) async fn job(&mut self, key: &str) -> StepResult {
        let Some(stored) = self.api.store.get(key) else {
            return Ok(());
        };
        let j = stored.value.clone();
        if object::is_deleting(&j) {
            return Ok(());
        }
        let prev = j.get("status");
        let finished = prev
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    matches!(
                        c.get("type").and_then(Value::as_str),
                        Some("Complete" | "Failed")
                    ) && c.get("status") == Some(&json!("True"))
                })
            });
        if finished {
            return Ok(());
        }
        if j.pointer("/spec/suspend") == Some(&json!(true)) {
            let mut status = prev.cloned().unwrap_or(json!({}));
            status["conditions"] = json!([job_condition(
                prev,
                "Suspended",
                "JobSuspended",
                "Job suspended"
            )]);
            return self.write_status(&stored, status, CONTROLLER_MANAGER).await;
        }
        let ns = object::meta_str(&j, "namespace").unwrap_or("").to_string();
        let pods: Vec<Value> = self
            .owned(&j, &format!("/pods/{ns}/"))
            .into_iter()
            .map(|p| (*p.value).clone())
            .collect();
        let succeeded = pods
            .iter()
            .filter(|p| phase(p) == Some("Succeeded"))
            .count() as i64;
        let failed = pods.iter().filter(|p| phase(p) == Some("Failed")).count() as i64;
        let active: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                !matches!(phase(p), Some("Succeeded" | "Failed")) && !object::is_deleting(p)
            })
            .collect();
        let ready = active
            .iter()
            .filter(|p| super::kubelet::is_ready(p))
            .count() as i64;
        let completions = int_at(&j, "/spec/completions").unwrap_or(1);
        let parallelism = int_at(&j, "/spec/parallelism").unwrap_or(1);
        let backoff_limit = int_at(&j, "/spec/backoffLimit").unwrap_or(6);
        let start = prev
            .and_then(|s| s.get("startTime"))
            .cloned()
            .unwrap_or(json!(object::now()));
        let mut status = json!({"startTime": start, "ready": ready, "terminating": 0,
                                "uncountedTerminatedPods": {}});
        if succeeded > 0 {
            status["succeeded"] = json!(succeeded);
        }
        if failed > 0 {
            status["failed"] = json!(failed);
        }
        if succeeded >= completions {
            let message = "Reached expected number of succeeded pods";
            status["completionTime"] = json!(object::now());
            status["conditions"] = json!([
                job_condition(prev, "SuccessCriteriaMet", "CompletionsReached", message),
                job_condition(prev, "Complete", "CompletionsReached", message),
            ]);
        } else if failed > backoff_limit {
            let message = "Job has reached the specified backoff limit";
            for pod in &active {
                if let Some(rt) = self.api.type_of_object(pod) {
                    match self.api.controller_delete(&rt, pod, "Background").await {
                        Err(e) if e.code != 404 => return Err(e),
                        _ => {}
                    }
                }
            }
            status["conditions"] = json!([
                job_condition(prev, "FailureTarget", "BackoffLimitExceeded", message),
                job_condition(prev, "Failed", "BackoffLimitExceeded", message),
            ]);
        } else {
            let wanted = parallelism.min(completions - succeeded).max(0);
            let missing = wanted - active.len() as i64;
            for _ in 0..missing {
                self.create_pod(&j, "batch/v1", "Job").await?;
            }
            if missing > 0 {
                // The new Pods' events bring the Job back with the right counts.
                return Ok(());
            }
            if !active.is_empty() {
                status["active"] = json!(active.len());
            }
        }
        let outcome = if succeeded >= completions {
            Some((Severity::Normal, "Completed", "Job completed"))
        } else if failed > backoff_limit {
            Some((
                Severity::Warning,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else {
            None
        };
        self.write_status(&stored, status, CONTROLLER_MANAGER)
            .await?;
        if let Some((severity, reason, message)) = outcome {
            let record = EventRecord {
                severity,
                reason,
                message: message.to_string(),
                component: "job-controller",
            };
            self.api.record_event(&j, record).await;
        }
        Ok(())
    }
}
