//! Defaults of the other `core/v1` kinds (Secret, PersistentVolumeClaim, PersistentVolume,
//! ResourceQuota, LimitRange, Endpoints) and of `networking.k8s.io` NetworkPolicies and
//! `apiextensions.k8s.io` CustomResourceDefinitions.

use serde_json::{Map, Value, json};

use super::{child, each_object, quantity, set_default};

/// Secret: `type: Opaque`.
pub fn secret(obj: &mut Map<String, Value>) {
    set_default(obj, "type", json!("Opaque"));
}

/// PersistentVolumeClaim (also StatefulSet volumeClaimTemplates): `volumeMode: Filesystem`,
/// canonical storage quantities.
pub fn persistent_volume_claim(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    set_default(spec, "volumeMode", json!("Filesystem"));
    if let Some(r) = child(spec, "resources") {
        for list in ["requests", "limits"] {
            if let Some(l) = child(r, list) {
                quantity::canonicalize_list(l);
            }
        }
    }
}

/// PersistentVolume: `Retain`, `Filesystem`, canonical capacity.
pub fn persistent_volume(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
    set_default(spec, "volumeMode", json!("Filesystem"));
    if let Some(c) = child(spec, "capacity") {
        quantity::canonicalize_list(c);
    }
}

/// ResourceQuota: canonical `hard` quantities.
pub fn resource_quota(obj: &mut Map<String, Value>) {
    if let Some(spec) = child(obj, "spec")
        && let Some(hard) = child(spec, "hard")
    {
        quantity::canonicalize_list(hard);
    }
}

/// LimitRange: canonical quantities in every limit.
pub fn limit_range(obj: &mut Map<String, Value>) {
    if let Some(spec) = child(obj, "spec") {
        each_object(spec, "limits", |l| {
            for list in [
                "max",
                "min",
                "default",
                "defaultRequest",
                "maxLimitRequestRatio",
            ] {
                if let Some(q) = child(l, list) {
                    quantity::canonicalize_list(q);
                }
            }
        });
    }
}

/// Endpoints: port protocol TCP.
pub fn endpoints(obj: &mut Map<String, Value>) {
    each_object(obj, "subsets", |s| {
        each_object(s, "ports", |p| set_default(p, "protocol", json!("TCP")))
    });
}

/// NetworkPolicy: port protocol TCP; `policyTypes` from the rules present.
pub fn network_policy(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    for dir in ["ingress", "egress"] {
        each_object(spec, dir, |rule| {
            each_object(rule, "ports", |p| set_default(p, "protocol", json!("TCP")))
        });
    }
    if spec.get("policyTypes").is_none_or(Value::is_null) {
        let mut types = vec![json!("Ingress")];
        if spec.get("egress").is_some_and(|e| !e.is_null()) {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

/// CustomResourceDefinition: `conversion.strategy: None`.
pub fn custom_resource_definition(obj: &mut Map<String, Value>) {
    if let Some(spec) = child(obj, "spec") {
        let conversion = super::child_or_insert(spec, "conversion");
        set_default(conversion, "strategy", json!("None"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pvc_and_pv_defaults() {
        let mut pvc = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "0.5Gi"}}}});
        persistent_volume_claim(pvc.as_object_mut().unwrap());
        assert_eq!(
            pvc["spec"],
            json!({"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                   "resources": {"requests": {"storage": "512Mi"}}})
        );
        let mut pv = json!({"spec": {"capacity": {"storage": "2048Mi"}}});
        persistent_volume(pv.as_object_mut().unwrap());
        assert_eq!(
            pv["spec"],
            json!({"capacity": {"storage": "2Gi"}, "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"})
        );
    }

    #[test]
    fn network_policy_defaults() {
        let mut np = json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}});
        network_policy(np.as_object_mut().unwrap());
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn secret_and_crd_defaults() {
        let mut s = json!({"data": {}});
        secret(s.as_object_mut().unwrap());
        assert_eq!(s["type"], "Opaque");
        let mut t = json!({"type": "kubernetes.io/tls"});
        secret(t.as_object_mut().unwrap());
        assert_eq!(t["type"], "kubernetes.io/tls");
        let mut crd = json!({"spec": {"group": "x.io"}});
        custom_resource_definition(crd.as_object_mut().unwrap());
        assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
    }
}
