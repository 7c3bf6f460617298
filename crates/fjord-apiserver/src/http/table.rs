//! `meta.k8s.io/v1` Table responses for `kubectl get`: the familiar columns of the common kinds,
//! a CRD's `additionalPrinterColumns`, and Name/Created At for everything else. Every row carries
//! the object's metadata (kubectl needs it for `-A`, `-L` and `--show-labels`).

use serde_json::{Value, json};

use crate::object;
use crate::registry::{Origin, ResourceType};

struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    priority: u8,
}

const fn col(name: &'static str, ty: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        priority: 0,
    }
}

const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    priority: 0,
};
const AGE: Column = col("Age", "string");

/// A Table of `objects`.
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    rev: u64,
    continue_token: Option<&str>,
    with_columns: bool,
) -> Value {
    let now = chrono::Utc::now();
    let (columns, rows): (Vec<Value>, Vec<Value>) = match &rt.origin {
        Origin::Crd {
            printer_columns, ..
        } if !printer_columns.is_empty() => crd_table(printer_columns, objects),
        _ => builtin_table(rt, objects, now),
    };
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rev.to_string()},
        "columnDefinitions": if with_columns { Value::Array(columns) } else { Value::Null },
        "rows": rows,
    });
    if !with_columns && let Some(m) = t.as_object_mut() {
        m.remove("columnDefinitions");
    }
    if let Some(c) = continue_token {
        t["metadata"]["continue"] = Value::String(c.to_string());
    }
    t
}

fn column_json(c: &Column) -> Value {
    json!({"name": c.name, "type": c.ty, "format": c.format, "description": "", "priority": c.priority})
}

fn row(obj: &Value, cells: Vec<Value>) -> Value {
    json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }
    })
}

fn crd_table(printer_columns: &[Value], objects: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let mut columns = vec![column_json(&NAME)];
    for c in printer_columns {
        columns.push(json!({
            "name": c.get("name").cloned().unwrap_or(json!("")),
            "type": c.get("type").cloned().unwrap_or(json!("string")),
            "format": c.get("format").cloned().unwrap_or(json!("")),
            "description": c.get("description").cloned().unwrap_or(json!("")),
            "priority": c.get("priority").cloned().unwrap_or(json!(0)),
        }));
    }
    let rows = objects
        .iter()
        .map(|o| {
            let mut cells = vec![json!(object::name(o))];
            for c in printer_columns {
                let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or("");
                cells.push(json_path(o, path).unwrap_or(Value::Null));
            }
            row(o, cells)
        })
        .collect();
    (columns, rows)
}

fn builtin_table(
    rt: &ResourceType,
    objects: &[Value],
    now: chrono::DateTime<chrono::Utc>,
) -> (Vec<Value>, Vec<Value>) {
    let age = move |o: &Value| json!(age(o, now));
    let s = |o: &Value, p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let n = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let count = |o: &Value, p: &str| {
        o.pointer(p)
            .map(|v| match v {
                Value::Object(m) => m.len(),
                Value::Array(a) => a.len(),
                _ => 0,
            })
            .unwrap_or(0)
    };
    type Cells = Box<dyn Fn(&Value) -> Vec<Value>>;
    let (cols, cells): (Vec<Column>, Cells) = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => (
            vec![NAME, col("Status", "string"), AGE],
            Box::new(move |o| vec![json!(object::name(o)), json!(s(o, "/status/phase")), age(o)]),
        ),
        ("", "ConfigMap") => (
            vec![NAME, col("Data", "string"), AGE],
            Box::new(move |o| {
                vec![
                    json!(object::name(o)),
                    json!(count(o, "/data") + count(o, "/binaryData")),
                    age(o),
                ]
            }),
        ),
        ("", "Secret") => (
            vec![NAME, col("Type", "string"), col("Data", "string"), AGE],
            Box::new(move |o| {
                vec![
                    json!(object::name(o)),
                    json!(s(o, "/type")),
                    json!(count(o, "/data")),
                    age(o),
                ]
            }),
        ),
        ("", "ServiceAccount") => (
            vec![NAME, col("Secrets", "string"), AGE],
            Box::new(move |o| vec![json!(object::name(o)), json!(count(o, "/secrets")), age(o)]),
        ),
        ("", "Service") => (
            vec![
                NAME,
                col("Type", "string"),
                col("Cluster-IP", "string"),
                col("External-IP", "string"),
                col("Port(s)", "string"),
                AGE,
            ],
            Box::new(move |o| {
                let ports = o
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .map(|ps| {
                        ps.iter()
                            .map(|p| {
                                let port = p.get("port").map(|v| v.to_string()).unwrap_or_default();
                                let proto =
                                    p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                                match p.get("nodePort") {
                                    Some(np) => format!("{port}:{np}/{proto}"),
                                    None => format!("{port}/{proto}"),
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "<none>".into());
                let ty = o
                    .pointer("/spec/type")
                    .and_then(Value::as_str)
                    .unwrap_or("ClusterIP");
                let cip = o
                    .pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .unwrap_or("<none>");
                vec![
                    json!(object::name(o)),
                    json!(ty),
                    json!(cip),
                    json!("<none>"),
                    json!(ports),
                    age(o),
                ]
            }),
        ),
        ("", "Pod") => (
            vec![
                NAME,
                col("Ready", "string"),
                col("Status", "string"),
                col("Restarts", "string"),
                AGE,
            ],
            Box::new(move |o| {
                let statuses = o
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array);
                let total = o
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let ready = statuses.map_or(0, |s| {
                    s.iter()
                        .filter(|c| c.get("ready") == Some(&json!(true)))
                        .count()
                });
                let restarts: i64 = statuses.map_or(0, |s| {
                    s.iter()
                        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                        .sum()
                });
                let phase = o
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("Pending");
                vec![
                    json!(object::name(o)),
                    json!(format!("{ready}/{total}")),
                    json!(phase),
                    json!(restarts),
                    age(o),
                ]
            }),
        ),
        ("apps", "Deployment") => (
            vec![
                NAME,
                col("Ready", "string"),
                col("Up-to-date", "string"),
                col("Available", "string"),
                AGE,
            ],
            Box::new(move |o| {
                let want = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                vec![
                    json!(object::name(o)),
                    json!(format!("{}/{}", n(o, "/status/readyReplicas"), want)),
                    json!(n(o, "/status/updatedReplicas")),
                    json!(n(o, "/status/availableReplicas")),
                    age(o),
                ]
            }),
        ),
        ("apps", "StatefulSet") => (
            vec![NAME, col("Ready", "string"), AGE],
            Box::new(move |o| {
                let want = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                vec![
                    json!(object::name(o)),
                    json!(format!("{}/{}", n(o, "/status/readyReplicas"), want)),
                    age(o),
                ]
            }),
        ),
        ("apps", "ReplicaSet") => (
            vec![
                NAME,
                col("Desired", "integer"),
                col("Current", "integer"),
                col("Ready", "integer"),
                AGE,
            ],
            Box::new(move |o| {
                vec![
                    json!(object::name(o)),
                    json!(
                        o.pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    ),
                    json!(n(o, "/status/replicas")),
                    json!(n(o, "/status/readyReplicas")),
                    age(o),
                ]
            }),
        ),
        ("apps", "DaemonSet") => (
            vec![
                NAME,
                col("Desired", "integer"),
                col("Current", "integer"),
                col("Ready", "integer"),
                col("Up-to-date", "integer"),
                col("Available", "integer"),
                AGE,
            ],
            Box::new(move |o| {
                vec![
                    json!(object::name(o)),
                    json!(n(o, "/status/desiredNumberScheduled")),
                    json!(n(o, "/status/currentNumberScheduled")),
                    json!(n(o, "/status/numberReady")),
                    json!(n(o, "/status/updatedNumberScheduled")),
                    json!(n(o, "/status/numberAvailable")),
                    age(o),
                ]
            }),
        ),
        ("batch", "Job") => (
            vec![
                NAME,
                col("Status", "string"),
                col("Completions", "string"),
                AGE,
            ],
            Box::new(move |o| {
                let want = o
                    .pointer("/spec/completions")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let done = n(o, "/status/succeeded");
                let status = job_status(o);
                vec![
                    json!(object::name(o)),
                    json!(status),
                    json!(format!("{done}/{want}")),
                    age(o),
                ]
            }),
        ),
        ("batch", "CronJob") => (
            vec![
                NAME,
                col("Schedule", "string"),
                col("Suspend", "boolean"),
                col("Active", "integer"),
                AGE,
            ],
            Box::new(move |o| {
                vec![
                    json!(object::name(o)),
                    json!(s(o, "/spec/schedule")),
                    json!(
                        o.pointer("/spec/suspend")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                    ),
                    json!(count(o, "/status/active")),
                    age(o),
                ]
            }),
        ),
        ("", "Event") => (
            vec![
                col("Last Seen", "string"),
                col("Type", "string"),
                col("Reason", "string"),
                col("Object", "string"),
                col("Message", "string"),
            ],
            Box::new(move |o| {
                let obj = format!(
                    "{}/{}",
                    s(o, "/involvedObject/kind").to_ascii_lowercase(),
                    s(o, "/involvedObject/name")
                );
                vec![
                    age(o),
                    json!(s(o, "/type")),
                    json!(s(o, "/reason")),
                    json!(obj),
                    json!(s(o, "/message")),
                ]
            }),
        ),
        ("coordination.k8s.io", "Lease") => (
            vec![NAME, col("Holder", "string"), AGE],
            Box::new(move |o| {
                vec![
                    json!(object::name(o)),
                    json!(s(o, "/spec/holderIdentity")),
                    age(o),
                ]
            }),
        ),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => (
            vec![NAME, col("Role", "string"), AGE],
            Box::new(move |o| {
                let role = format!("{}/{}", s(o, "/roleRef/kind"), s(o, "/roleRef/name"));
                vec![json!(object::name(o)), json!(role), age(o)]
            }),
        ),
        _ => (
            vec![NAME, col("Created At", "date")],
            Box::new(move |o| {
                vec![
                    json!(object::name(o)),
                    json!(object::meta_str(o, "creationTimestamp").unwrap_or("")),
                ]
            }),
        ),
    };
    let columns = cols.iter().map(column_json).collect();
    let rows = objects.iter().map(|o| row(o, cells(o))).collect();
    (columns, rows)
}

fn job_status(o: &Value) -> &'static str {
    let conds = o.pointer("/status/conditions").and_then(Value::as_array);
    let has = |t: &str| {
        conds.is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(t)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if o.pointer("/spec/suspend") == Some(&json!(true)) {
        "Suspended"
    } else {
        "Running"
    }
}

/// The age column as kubectl shows it (`45s`, `3m20s`, `5h`, `2d3h`, ...).
fn age(o: &Value, now: chrono::DateTime<chrono::Utc>) -> String {
    let created = object::meta_str(o, "creationTimestamp")
        .or_else(|| o.get("lastTimestamp").and_then(Value::as_str))
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    match created {
        Some(t) => human_duration((now - t.with_timezone(&chrono::Utc)).num_seconds()),
        None => "<unknown>".into(),
    }
}

/// Kubernetes' `HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        let rem = s % 60;
        return if rem == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rem}s")
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 8 {
        let rem = m % 60;
        return if rem == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rem}m")
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        let d = h / 24;
        let rem = h % 24;
        return if rem == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{rem}h")
        };
    }
    if h < 24 * 365 * 2 {
        return format!("{}d", h / 24);
    }
    let y = h / (24 * 365);
    if h < 24 * 365 * 8 {
        let d = (h % (24 * 365)) / 24;
        return if d == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{d}d")
        };
    }
    format!("{y}y")
}

/// A small JSONPath subset, enough for printer columns: `.a.b`, `.a[0]`, `.a[?(@.k=="v")].b`.
pub fn json_path(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = vec![obj.clone()];
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    rest = rest.strip_prefix('$').unwrap_or(rest);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..end];
            cur = cur.iter().filter_map(|v| v.get(field).cloned()).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, v) = filter.split_once("==")?;
                let want = v.trim().trim_matches('"').trim_matches('\'');
                cur = cur
                    .iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter(|item| {
                        item.get(k.trim()).map(|x| match x {
                            Value::String(s) => s == want,
                            other => serde_json::to_string(other).ok().as_deref() == Some(want),
                        }) == Some(true)
                    })
                    .cloned()
                    .collect();
            } else if inner == "*" {
                cur = cur
                    .iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .cloned()
                    .collect();
            } else {
                let i: usize = inner.parse().ok()?;
                cur = cur.iter().filter_map(|v| v.get(i).cloned()).collect();
            }
        } else {
            return None;
        }
    }
    match cur.len() {
        0 => None,
        1 => cur.pop(),
        _ => Some(Value::String(
            cur.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(5 * 3600), "5h");
        assert_eq!(human_duration(51 * 3600), "2d3h");
    }

    #[test]
    fn json_path_subset() {
        let o = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]}, "spec": {"n": 3}});
        assert_eq!(json_path(&o, ".spec.n"), Some(json!(3)));
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(
            json_path(&o, ".status.conditions[1].type"),
            Some(json!("X"))
        );
        assert_eq!(json_path(&o, ".missing"), None);
    }

    #[test]
    fn rows_carry_metadata() {
        let rt = crate::registry::Registry::new()
            .snapshot()
            .get("", "v1", "configmaps")
            .unwrap();
        let t = table(
            &rt,
            &[
                json!({"metadata": {"name": "a", "namespace": "d", "creationTimestamp": "2020-01-01T00:00:00Z"}, "data": {"k": "v"}}),
            ],
            7,
            None,
            true,
        );
        assert_eq!(t["rows"][0]["cells"][1], 1);
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "d");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
    }
}
