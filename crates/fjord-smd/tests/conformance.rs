//! Replays every server-side-apply scenario of `shared/conformance/ssa` (the oracle is
//! structured-merge-diff wrapped like a 1.33 apiserver; `expected-NN.smd-v4.6.0.json` is used
//! where the current apiserver differs) and compares each step: result, conflicts, status
//! code and body, objectChanged / managedFieldsChanged, the object (list order significant)
//! and managedFields as a set keyed by (manager, operation, apiVersion, subresource),
//! including which step last set each entry's time and the exact fieldsV1 bytes.

use fjord_smd::{
    ApplyError, ApplyRequest, FieldPath, FieldSet, Schema, TypeRef, UpdateRequest, apply,
    builtin_schema, update,
};
use serde_json::Value;
use std::collections::BTreeMap;

const SHARED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/ssa"
);

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("conformance fixture {path} missing (shared/ must sit beside the repo): {e}")
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn time_of(step: usize) -> String {
    format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        step / 3600,
        (step / 60) % 60,
        step % 60
    )
}

struct Kind {
    api_version: String,
    reset: Vec<FieldPath>,
}

fn kinds() -> BTreeMap<String, Kind> {
    let k = load(&format!("{SHARED}/kinds.json"));
    k["kinds"]
        .as_array()
        .expect("kinds array")
        .iter()
        .map(|k| {
            let reset = k["resetFields"]
                .as_array()
                .expect("resetFields")
                .iter()
                .map(|p| FieldPath::from_dotted(p.as_str().expect("reset path")))
                .collect();
            (
                k["type"].as_str().expect("type").to_string(),
                Kind {
                    api_version: k["apiVersion"].as_str().expect("apiVersion").to_string(),
                    reset,
                },
            )
        })
        .collect()
}

fn widget() -> (Schema, TypeRef) {
    let schema = load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/testdata/widget-openapiv3.json"
    ));
    Schema::from_crd_schema("example.fjord.dev", "v1", "Widget", &schema).expect("widget schema")
}

type EntryKey = (String, String, String, String);

fn entries_by_key(list: &[Value]) -> BTreeMap<EntryKey, &Value> {
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (
                (
                    s("manager"),
                    s("operation"),
                    s("apiVersion"),
                    s("subresource"),
                ),
                e,
            )
        })
        .collect()
}

fn sorted_causes(status: &Value) -> Vec<String> {
    let mut c: Vec<String> = status["details"]["causes"]
        .as_array()
        .map(|a| a.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    c.sort();
    c
}

/// Compares one step; returns the differences found.
fn check_step(
    exp: &Value,
    result: &str,
    error: Option<&ApplyError>,
    changed: (bool, bool),
    state: &Value,
    times: &[String],
) -> Vec<String> {
    let mut diffs = Vec::new();
    if exp["result"] != result {
        diffs.push(format!("result {result}, expected {}", exp["result"]));
    }
    if let Some(es) = exp.get("status") {
        match error {
            None => diffs.push("no error, expected a Status".into()),
            Some(e) => {
                let got = e.status();
                for k in ["code", "message", "reason", "status", "kind", "apiVersion"] {
                    if got.get(k) != es.get(k) {
                        diffs.push(format!(
                            "status {k}: {:?} vs expected {:?}",
                            got.get(k),
                            es.get(k)
                        ));
                    }
                }
                if sorted_causes(&got) != sorted_causes(es) {
                    diffs.push(format!(
                        "causes {:?} vs {:?}",
                        sorted_causes(&got),
                        sorted_causes(es)
                    ));
                }
            }
        }
    }
    if let Some(ec) = exp.get("conflicts").and_then(Value::as_array) {
        let mut want: Vec<(String, String, String)> = ec
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
                (s("manager"), s("operation"), s("field"))
            })
            .collect();
        want.sort();
        let mut got: Vec<(String, String, String)> = match error {
            Some(ApplyError::Conflicts(cs)) => cs
                .conflicts
                .iter()
                .map(|c| {
                    (
                        c.manager.clone(),
                        c.operation.as_str().to_string(),
                        c.field.clone(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        got.sort();
        if got != want {
            diffs.push(format!("conflicts {got:?} vs expected {want:?}"));
        }
    }
    if exp["objectChanged"] != changed.0 {
        diffs.push(format!(
            "objectChanged {} vs expected {}",
            changed.0, exp["objectChanged"]
        ));
    }
    if exp["managedFieldsChanged"] != changed.1 {
        diffs.push(format!(
            "managedFieldsChanged {} vs expected {}",
            changed.1, exp["managedFieldsChanged"]
        ));
    }
    let mut object = state.clone();
    let entries = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let want_obj = if exp["object"].is_null() {
        Value::Object(Default::default())
    } else {
        exp["object"].clone()
    };
    if object != want_obj {
        diffs.push(format!(
            "object\n    got      {object}\n    expected {want_obj}"
        ));
    }
    let want_entries = exp["managedFields"].as_array().cloned().unwrap_or_default();
    let (got_map, want_map) = (entries_by_key(&entries), entries_by_key(&want_entries));
    if got_map.keys().collect::<Vec<_>>() != want_map.keys().collect::<Vec<_>>() {
        diffs.push(format!(
            "managedFields entries {:?} vs expected {:?}",
            got_map.keys().collect::<Vec<_>>(),
            want_map.keys().collect::<Vec<_>>()
        ));
    }
    for (k, w) in &want_map {
        let Some(g) = got_map.get(k) else { continue };
        let (gf, wf) = (&g["fieldsV1"], &w["fieldsV1"]);
        if serde_json::to_string(gf).ok() != serde_json::to_string(wf).ok() {
            diffs.push(format!(
                "fieldsV1 of {k:?}\n    got      {gf}\n    expected {wf}"
            ));
        }
        if g["fieldsType"] != "FieldsV1" {
            diffs.push(format!("fieldsType of {k:?}: {}", g["fieldsType"]));
        }
        if FieldSet::from_fields_v1(gf)
            .map(|s| s.to_fields_v1())
            .as_ref()
            != Ok(gf)
        {
            diffs.push(format!("fieldsV1 of {k:?} does not round-trip"));
        }
        let step = g.get("time").and_then(Value::as_str).map(|t| {
            times
                .iter()
                .position(|x| x == t)
                .map_or(Value::from(-1), Value::from)
        });
        let step = step.unwrap_or(Value::Null);
        if step != w["timeStep"] {
            diffs.push(format!(
                "timeStep of {k:?}: {step} vs expected {}",
                w["timeStep"]
            ));
        }
    }
    diffs
}

#[test]
fn ssa_conformance_scenarios() {
    let kinds = kinds();
    let widget = widget();
    let mut files: Vec<String> = std::fs::read_dir(SHARED)
        .unwrap_or_else(|e| panic!("{SHARED}: {e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("scenario-") && n.ends_with(".json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 33,
        "expected at least 33 scenarios, found {}",
        files.len()
    );
    let (mut steps_total, mut steps_ok, mut scen_ok) = (0, 0, 0);
    let mut report = Vec::new();
    for f in &files {
        let sc = load(&format!("{SHARED}/{f}"));
        let id = sc["id"].as_str().expect("id");
        let v46 = format!("{SHARED}/expected-{id}.smd-v4.6.0.json");
        let expected = if std::path::Path::new(&v46).exists() {
            load(&v46)
        } else {
            load(&format!("{SHARED}/expected-{id}.json"))
        };
        let ty_name = sc["type"].as_str().expect("type");
        let kind = kinds
            .get(ty_name)
            .unwrap_or_else(|| panic!("{f}: type {ty_name} not in kinds.json"));
        let (schema, ty): (&Schema, TypeRef) = if ty_name == "dev.fjord.example.v1.Widget" {
            (&widget.0, widget.1)
        } else {
            let s = builtin_schema();
            (
                s,
                s.type_named(ty_name)
                    .unwrap_or_else(|| panic!("{ty_name} not in builtin schema")),
            )
        };
        let mut live: Option<Value> = None;
        let mut times = Vec::new();
        let mut scenario_ok = true;
        for (i, (step, exp)) in sc["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .zip(expected["steps"].as_array().expect("expected steps"))
            .enumerate()
        {
            steps_total += 1;
            let now = time_of(i);
            times.push(now.clone());
            let manager = step["manager"].as_str().unwrap_or("");
            let (result, error, changed) = if step["op"] == "apply" {
                let req = ApplyRequest {
                    manager,
                    force: step["force"].as_bool().unwrap_or(false),
                    api_version: &kind.api_version,
                    subresource: None,
                    now: &now,
                    reset_fields: &kind.reset,
                };
                match apply(schema, &ty, live.as_ref(), &step["object"], &req) {
                    Ok(out) => {
                        let r = if live.is_none() {
                            "created"
                        } else if out.object_changed || out.managed_fields_changed {
                            "updated"
                        } else {
                            "unchanged"
                        };
                        let ch = (out.object_changed, out.managed_fields_changed);
                        live = Some(out.object);
                        (r, None, ch)
                    }
                    Err(e) => {
                        let r = if matches!(e, ApplyError::Conflicts(_)) {
                            "conflict"
                        } else {
                            "error"
                        };
                        (r, Some(e), (false, false))
                    }
                }
            } else {
                let req = UpdateRequest {
                    manager,
                    api_version: &kind.api_version,
                    subresource: None,
                    now: &now,
                    reset_fields: &kind.reset,
                };
                let out = update(schema, &ty, live.as_ref(), &step["object"], &req);
                let r = if live.is_none() {
                    "created"
                } else if out.object_changed || out.managed_fields_changed {
                    "updated"
                } else {
                    "unchanged"
                };
                let ch = (out.object_changed, out.managed_fields_changed);
                live = Some(out.object);
                (r, None, ch)
            };
            let state = live.clone().unwrap_or(Value::Null);
            let diffs = check_step(exp, result, error.as_ref(), changed, &state, &times);
            if diffs.is_empty() {
                steps_ok += 1;
            } else {
                scenario_ok = false;
                report.push(format!(
                    "{f} step {i} ({} {manager}):\n  {}",
                    step["op"],
                    diffs.join("\n  ")
                ));
            }
        }
        if scenario_ok {
            scen_ok += 1;
        }
    }
    println!(
        "SSA conformance: {steps_ok}/{steps_total} steps, {scen_ok}/{} scenarios match",
        files.len()
    );
    assert!(report.is_empty(), "{}", report.join("\n"));
}
