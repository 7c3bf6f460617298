//! Normalisation before comparison, so that only real changes show.
//!
//! * Secret `stringData` is folded into `data` (base64), as the API server does.
//! * `status` is never compared (Argo CD 3's default); nulls in desired mean "absent".
//! * Bookkeeping metadata the server writes (uid, resourceVersion, managedFields, ...) is
//!   dropped.
//! * Scalars are equal when they denote the same value: quantities under resource maps
//!   (`0.5` = `500m`, `1Gi` = `1024Mi`), numbers (`3` = `3.0`), and ports written as
//!   int-or-string (`8080` = `"8080"`).

use super::quantity::same_quantity;
use base64::Engine;
use serde_json::{Map, Value};

const SERVER_METADATA: [&str; 8] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Fields whose children are quantities.
const QUANTITY_MAPS: [&str; 12] = [
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
    "overhead",
];

/// Fields that hold a quantity directly (HPA metric targets included).
const QUANTITY_FIELDS: [&str; 3] = ["sizeLimit", "storage", "averageValue"];

/// Int-or-string port fields.
const PORT_FIELDS: [&str; 5] = [
    "port",
    "targetPort",
    "containerPort",
    "hostPort",
    "nodePort",
];

/// Normalises an object of either side in place.
pub(crate) fn normalize(obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        map.shift_remove("status");
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in SERVER_METADATA {
            meta.shift_remove(f);
        }
    }
    if is_secret(obj) {
        fold_string_data(obj);
    }
    drop_nulls(obj);
}

/// True for a core-group Secret.
pub(crate) fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

fn fold_string_data(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = map.shift_remove("stringData") else {
        return;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in string_data {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            data.insert(k, Value::String(encoded));
        }
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// True when desired scalar `d` and live scalar `l` at `field` (child of `parent`) denote
/// the same value.
pub(crate) fn equivalent(field: &str, parent: &str, d: &Value, l: &Value) -> bool {
    if d == l {
        return true;
    }
    if let (Value::Number(a), Value::Number(b)) = (d, l)
        && let (Some(a), Some(b)) = (a.as_f64(), b.as_f64())
    {
        return a == b;
    }
    let (Some(a), Some(b)) = (scalar_text(d), scalar_text(l)) else {
        return false;
    };
    let hpa_target_value = field == "value" && parent == "target";
    if QUANTITY_MAPS.contains(&parent) || QUANTITY_FIELDS.contains(&field) || hpa_target_value {
        return same_quantity(&a, &b) == Some(true);
    }
    if PORT_FIELDS.contains(&field) {
        return a == b && !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_string_data_becomes_data() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "uid": "u"},
                           "data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}});
        normalize(&mut s);
        assert_eq!(
            s,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "data": {"a": "eQ==", "b": "aGVsbG8="}})
        );
    }

    #[test]
    fn status_server_metadata_and_nulls_are_dropped() {
        let mut d = json!({"kind": "X", "metadata": {"name": "a", "resourceVersion": "9", "labels": null},
                           "spec": {"x": null, "y": 1}, "status": {"ready": true}});
        normalize(&mut d);
        assert_eq!(
            d,
            json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"y": 1}})
        );
    }

    #[test]
    fn equivalence_is_contextual() {
        assert!(equivalent("cpu", "limits", &json!("0.5"), &json!("500m")));
        assert!(equivalent(
            "memory",
            "requests",
            &json!("1Gi"),
            &json!("1024Mi")
        ));
        assert!(equivalent("cpu", "requests", &json!(1), &json!("1")));
        assert!(equivalent(
            "storage",
            "requests",
            &json!("1Gi"),
            &json!("1073741824")
        ));
        assert!(equivalent("targetPort", "x", &json!(8080), &json!("8080")));
        assert!(equivalent("replicas", "spec", &json!(3), &json!(3.0)));
        assert!(equivalent(
            "averageValue",
            "target",
            &json!("0.5"),
            &json!("500m")
        ));
        assert!(equivalent("value", "target", &json!("1k"), &json!("1000")));
        // Outside quantity maps, strings are compared as written.
        assert!(!equivalent("value", "env", &json!("0.5"), &json!("500m")));
        assert!(!equivalent("targetPort", "x", &json!("http"), &json!(80)));
        assert!(!equivalent("cpu", "limits", &json!("1"), &json!("2")));
    }
}
