//! Pod: with restart policy Always (the API default), a container waiting for a reason like
//! `Err*`, `*Error` or `*BackOff` is Degraded; otherwise the phase decides. Running pods
//! with OnFailure/Never are treated like jobs (Progressing), so hook pods are never judged
//! Degraded before they finish.

use super::{HealthStatus, HealthStatusCode::*, string};
use crate::resource::{ANNOTATION_HOOK, annotation};
use serde_json::Value;

fn list<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn fail_message(ctr: &Value) -> Option<String> {
    let t = ctr.pointer("/state/terminated")?;
    let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
    if !s("message").is_empty() {
        return Some(s("message").to_string());
    }
    if s("reason") == "OOMKilled" {
        return Some("OOMKilled".to_string());
    }
    let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
    if code != 0 {
        let name = ctr.get("name").and_then(Value::as_str).unwrap_or("");
        return Some(format!("container {name:?} failed with exit code {code}"));
    }
    None
}

fn is_ready(obj: &Value) -> bool {
    list(obj, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Ready")
            && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

pub(super) fn health(obj: &Value) -> HealthStatus {
    let policy = match string(obj, "/spec/restartPolicy") {
        "" => "Always",
        p => p,
    };
    let ignore_policy = annotation(obj, "argocd.argoproj.io/ignore-restart-policy") == Some("true")
        && annotation(obj, ANNOTATION_HOOK).is_none();
    if policy == "Always" || ignore_policy {
        let mut messages = Vec::new();
        for ctr in list(obj, "/status/containerStatuses") {
            let Some(waiting) = ctr.pointer("/state/waiting") else {
                continue;
            };
            let reason = waiting.get("reason").and_then(Value::as_str).unwrap_or("");
            if reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
            {
                messages.push(waiting.get("message").and_then(Value::as_str).unwrap_or(""));
            }
        }
        if !messages.is_empty() {
            return HealthStatus::new(Degraded, messages.join(", "));
        }
    }
    let message = string(obj, "/status/message");
    match string(obj, "/status/phase") {
        "Pending" => HealthStatus::new(Progressing, message),
        "Succeeded" => HealthStatus::new(Healthy, message),
        "Failed" => {
            if !message.is_empty() {
                return HealthStatus::new(Degraded, message);
            }
            let all = list(obj, "/status/initContainerStatuses")
                .iter()
                .chain(list(obj, "/status/containerStatuses"));
            let detail = all.filter_map(fail_message).next().unwrap_or_default();
            HealthStatus::new(Degraded, detail)
        }
        "Running" => match policy {
            "Always" => {
                if is_ready(obj) {
                    HealthStatus::new(Healthy, message)
                } else if list(obj, "/status/containerStatuses")
                    .iter()
                    .any(|c| c.pointer("/lastState/terminated").is_some())
                {
                    HealthStatus::new(Degraded, message)
                } else {
                    HealthStatus::new(Progressing, message)
                }
            }
            "OnFailure" | "Never" => HealthStatus::new(Progressing, message),
            _ => HealthStatus::new(Unknown, message),
        },
        _ => HealthStatus::new(Unknown, message),
    }
}
