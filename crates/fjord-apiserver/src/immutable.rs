//! Validation of updates against fields that may not change (422 Invalid), and of the few
//! per-kind values a real apiserver refuses that this server's defaults could otherwise produce. A
//! GitOps operator's "recreate on immutable field" path is only exercised when the server refuses
//! these writes as a cluster would.

use serde_json::Value;

use crate::http::error::{ApiError, ApiResult, FieldCause};
use crate::object;
use crate::registry::ResourceType;

/// The StatefulSet spec fields an update may change.
const STATEFUL_SET_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Checks an update of `current` to `new` (both defaulted) for changes to immutable fields.
pub fn check_update(rt: &ResourceType, current: &Value, new: &Value) -> ApiResult<()> {
    if rt.is_custom() {
        return Ok(());
    }
    let mut causes = Vec::new();
    let old_spec = current.get("spec");
    let new_spec = new.get("spec");
    let spec_field = |s: Option<&Value>, f: &str| s.and_then(|s| s.get(f)).cloned();
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            let (a, b) = (
                spec_field(old_spec, "selector"),
                spec_field(new_spec, "selector"),
            );
            if a != b {
                causes.push(FieldCause::invalid(
                    "spec.selector",
                    format!(
                        "Invalid value: {}: field is immutable",
                        go_label_selector(b.as_ref())
                    ),
                ));
            }
        }
        ("apps", "StatefulSet") => {
            let strip = |s: Option<&Value>| {
                let mut m = s.and_then(Value::as_object).cloned().unwrap_or_default();
                for f in STATEFUL_SET_MUTABLE {
                    m.remove(*f);
                }
                m
            };
            if strip(old_spec) != strip(new_spec) {
                causes.push(FieldCause {
                    reason: "FieldValueForbidden",
                    message: "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".into(),
                    field: "spec".into(),
                });
            }
        }
        ("batch", "Job") => {
            let (a, b) = (
                spec_field(old_spec, "selector"),
                spec_field(new_spec, "selector"),
            );
            if a != b {
                causes.push(FieldCause::invalid(
                    "spec.selector",
                    format!(
                        "Invalid value: {}: field is immutable",
                        go_label_selector(b.as_ref())
                    ),
                ));
            }
            // A suspended Job's template may still change (its scheduling directives, on a real
            // server); this server allows any template change while suspended.
            let suspended = spec_field(old_spec, "suspend") == Some(Value::Bool(true));
            let (a, b) = (
                spec_field(old_spec, "template"),
                spec_field(new_spec, "template"),
            );
            if !suspended && a != b {
                causes.push(FieldCause::invalid(
                    "spec.template",
                    format!(
                        "Invalid value: {}: field is immutable",
                        b.map(|v| v.to_string()).unwrap_or_else(|| "null".into())
                    ),
                ));
            }
        }
        ("", "Service") => {
            let ty = new_spec.and_then(|s| s.get("type")).and_then(Value::as_str);
            let old_ip = old_spec
                .and_then(|s| s.get("clusterIP"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let new_ip = new_spec
                .and_then(|s| s.get("clusterIP"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if ty != Some("ExternalName")
                && let Some(old_ip) = old_ip
                && old_ip != new_ip
            {
                causes.push(FieldCause::invalid(
                    "spec.clusterIPs[0]",
                    format!("Invalid value: []string{{\"{new_ip}\"}}: may not change once set"),
                ));
            }
        }
        ("", "Secret" | "ConfigMap") if current.get("immutable") == Some(&Value::Bool(true)) => {
            let forbidden = |field: &str| FieldCause {
                reason: "FieldValueForbidden",
                message: "Forbidden: field is immutable when `immutable` is set".into(),
                field: field.into(),
            };
            if new.get("immutable") != Some(&Value::Bool(true)) {
                causes.push(forbidden("immutable"));
            }
            for f in ["data", "binaryData"] {
                let empty = |v: Option<&Value>| {
                    v.is_none_or(|v| v.as_object().is_some_and(|m| m.is_empty()) || v.is_null())
                };
                let (a, b) = (current.get(f), new.get(f));
                if a != b && !(empty(a) && empty(b)) {
                    causes.push(forbidden(f));
                }
            }
        }
        ("", "PersistentVolumeClaim") => {
            let strip = |s: Option<&Value>| {
                let mut m = s.and_then(Value::as_object).cloned().unwrap_or_default();
                m.remove("volumeAttributesClassName");
                if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
                m
            };
            if strip(old_spec) != strip(new_spec) {
                causes.push(FieldCause {
                    reason: "FieldValueForbidden",
                    message: "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into(),
                    field: "spec".into(),
                });
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt, object::name(new), causes))
    }
}

/// Checks values a real apiserver refuses on any write: a Job (or CronJob Job template) whose pods
/// would restart `Always`.
pub fn check_object(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    let path = match (rt.group.as_str(), rt.kind.as_str()) {
        _ if rt.is_custom() => return Ok(()),
        ("batch", "Job") => "/spec/template/spec/restartPolicy",
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template/spec/restartPolicy",
        _ => return Ok(()),
    };
    match obj.pointer(path).and_then(Value::as_str) {
        Some("OnFailure" | "Never") | None => Ok(()),
        Some(other) => Err(ApiError::invalid(
            rt,
            object::name(obj),
            vec![FieldCause {
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: \"{other}\": supported values: \"OnFailure\", \"Never\""
                ),
                field: path.trim_start_matches('/').replace('/', "."),
            }],
        )),
    }
}

/// A label selector as Go's `%#v` prints it in Kubernetes' messages.
fn go_label_selector(v: Option<&Value>) -> String {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return "(*v1.LabelSelector)(nil)".into();
    };
    let labels = match v.get("matchLabels").and_then(Value::as_object) {
        Some(m) if !m.is_empty() => format!(
            "map[string]string{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{:?}:{}", k, v))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "map[string]string(nil)".into(),
    };
    let exprs = match v.get("matchExpressions").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => format!(
            "[]v1.LabelSelectorRequirement{{{}}}",
            a.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    fn rt(group: &str, kind: &str) -> std::sync::Arc<ResourceType> {
        Registry::new()
            .snapshot()
            .by_kind(group, "v1", kind)
            .unwrap()
    }

    #[test]
    fn deployment_selector_is_immutable() {
        let a = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "replicas": 1}});
        let mut b = a.clone();
        b["spec"]["replicas"] = json!(3);
        check_update(&rt("apps", "Deployment"), &a, &b).unwrap();
        b["spec"]["selector"]["matchLabels"]["app"] = json!("web2");
        let e = check_update(&rt("apps", "Deployment"), &a, &b).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        );
    }

    #[test]
    fn stateful_set_spec_fields_are_forbidden() {
        let a = json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db", "replicas": 1}});
        let mut b = a.clone();
        b["spec"]["replicas"] = json!(2);
        check_update(&rt("apps", "StatefulSet"), &a, &b).unwrap();
        b["spec"]["serviceName"] = json!("other");
        let e = check_update(&rt("apps", "StatefulSet"), &a, &b).unwrap_err();
        assert!(
            e.message.contains(
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas'"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn service_cluster_ip_may_not_change() {
        let a = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.5"}});
        let b = json!({"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.6"}});
        let e = check_update(&rt("", "Service"), &a, &b).unwrap_err();
        assert!(e.message.ends_with("spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.6\"}: may not change once set"), "{}", e.message);
        let to_external = json!({"metadata": {"name": "s"}, "spec": {"type": "ExternalName"}});
        check_update(&rt("", "Service"), &a, &to_external).unwrap();
    }

    #[test]
    fn immutable_config_maps_and_secrets() {
        let a = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"k": "v"}});
        check_update(&rt("", "ConfigMap"), &a, &a).unwrap();
        let mut b = a.clone();
        b["data"]["k"] = json!("w");
        let e = check_update(&rt("", "ConfigMap"), &a, &b).unwrap_err();
        assert!(
            e.message
                .ends_with("data: Forbidden: field is immutable when `immutable` is set"),
            "{}",
            e.message
        );
        let mut c = a.clone();
        c["immutable"] = json!(false);
        let e = check_update(&rt("", "Secret"), &a, &c).unwrap_err();
        assert!(e.message.contains("immutable: Forbidden"), "{}", e.message);
        let mutable = json!({"metadata": {"name": "c"}, "data": {"k": "v"}});
        check_update(&rt("", "ConfigMap"), &mutable, &b).unwrap();
    }

    #[test]
    fn job_selector_and_template_are_immutable_unless_suspended() {
        let a = json!({"metadata": {"name": "j"}, "spec": {"selector": {"matchLabels": {"u": "1"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}}});
        let mut b = a.clone();
        b["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        let e = check_update(&rt("batch", "Job"), &a, &b).unwrap_err();
        assert!(
            e.message.contains("spec.template: Invalid value:"),
            "{}",
            e.message
        );
        let mut suspended = a.clone();
        suspended["spec"]["suspend"] = json!(true);
        b["spec"]["suspend"] = json!(true);
        check_update(&rt("batch", "Job"), &suspended, &b).unwrap();
    }

    #[test]
    fn jobs_may_not_restart_always() {
        let j = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Always"}}}});
        let e = check_object(&rt("batch", "Job"), &j).unwrap_err();
        assert!(e.message.ends_with("spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""), "{}", e.message);
    }
}
