//! Secret values never leave the engine: every value under a Secret's `data` (and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, which repeats them) is
//! replaced by a run of `+` characters. Within one diff the same value gets the same mask
//! and different values get masks of different lengths, so a diff still shows *which* keys
//! changed without showing any value (Argo CD's `HideSecretData` idea).

use super::normalize::is_secret;
use serde_json::Value;
use std::collections::BTreeSet;

/// The annotation `kubectl apply` stores the applied object in (Secret data included).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const MASK: &str = "++++++++";

fn data_mut(obj: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    obj.get_mut("data").and_then(Value::as_object_mut)
}

/// Masks Secret values on both sides of a diff consistently. Non-Secrets are left alone.
pub fn mask_secret_pair(desired: Option<&mut Value>, live: Option<&mut Value>) {
    let mut sides: Vec<&mut Value> = desired
        .into_iter()
        .chain(live)
        .filter(|v| is_secret(v))
        .collect();
    let keys: BTreeSet<String> = sides
        .iter_mut()
        .filter_map(|s| data_mut(s))
        .flat_map(|d| d.keys().cloned().collect::<Vec<_>>())
        .collect();
    for key in &keys {
        let mut seen: Vec<Value> = Vec::new();
        for side in sides.iter_mut() {
            let Some(v) = data_mut(side).and_then(|d| d.get_mut(key)) else {
                continue;
            };
            let n = match seen.iter().position(|s| s == v) {
                Some(n) => n,
                None => {
                    seen.push(v.clone());
                    seen.len() - 1
                }
            };
            *v = Value::String(format!("{MASK}{}", "+".repeat(n)));
        }
    }
    for side in sides {
        if let Some(map) = side.get_mut("stringData").and_then(Value::as_object_mut) {
            map.values_mut()
                .for_each(|v| *v = Value::String(MASK.into()));
        }
        if let Some(a) = side
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
            && let Some(v) = a.get_mut(LAST_APPLIED)
        {
            *v = Value::String(MASK.into());
        }
    }
}

/// Masks one object (for showing a live or desired manifest on its own).
pub fn mask_secret(obj: &mut Value) {
    mask_secret_pair(Some(obj), None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
               "annotations": {LAST_APPLIED: "{\"data\":{\"a\":\"c2VjcmV0\"}}"}}, "data": data})
    }

    #[test]
    fn same_values_same_mask_changed_values_differ() {
        let mut d = secret(json!({"a": "c2VjcmV0", "b": "eA==", "c": "bmV3"}));
        let mut l = secret(json!({"a": "c2VjcmV0", "b": "eQ=="}));
        mask_secret_pair(Some(&mut d), Some(&mut l));
        assert_eq!(
            d["data"],
            json!({"a": "++++++++", "b": "++++++++", "c": "++++++++"})
        );
        assert_eq!(l["data"], json!({"a": "++++++++", "b": "+++++++++"}));
        assert_eq!(l["metadata"]["annotations"][LAST_APPLIED], "++++++++");
        let text = serde_json::to_string(&(d, l)).unwrap();
        assert!(!text.contains("c2VjcmV0") && !text.contains("eA==") && !text.contains("bmV3"));
    }

    #[test]
    fn other_kinds_are_untouched() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        mask_secret(&mut cm);
        assert_eq!(cm["data"]["a"], "b");
    }
}
