//! Defaults of the `apps/v1` workloads (Kubernetes `pkg/apis/apps/v1/defaults.go`): Deployment,
//! StatefulSet, DaemonSet and ReplicaSet, and of the pod templates inside them.

use serde_json::{Map, Value, json};

use super::{child, child_or_insert, pod, set_default};

/// Deployment: one replica, a 25 %/25 % rolling update, ten old ReplicaSets, a 600 s progress
/// deadline.
pub fn deployment(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    let strategy = child_or_insert(spec, "strategy");
    set_default(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type") == Some(&json!("RollingUpdate")) {
        let ru = child_or_insert(strategy, "rollingUpdate");
        set_default(ru, "maxUnavailable", json!("25%"));
        set_default(ru, "maxSurge", json!("25%"));
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    templated(spec);
}

/// StatefulSet: ordered pod management, rolling updates from partition 0, PVCs retained.
pub fn stateful_set(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    let strategy = child_or_insert(spec, "updateStrategy");
    set_default(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type") == Some(&json!("RollingUpdate")) {
        let ru = child_or_insert(strategy, "rollingUpdate");
        set_default(ru, "partition", json!(0));
    }
    let retention = child_or_insert(spec, "persistentVolumeClaimRetentionPolicy");
    set_default(retention, "whenDeleted", json!("Retain"));
    set_default(retention, "whenScaled", json!("Retain"));
    set_default(spec, "revisionHistoryLimit", json!(10));
    super::each_object(spec, "volumeClaimTemplates", |pvc| {
        super::core::persistent_volume_claim(pvc);
        child_or_insert(pvc, "status")
            .entry("phase")
            .or_insert(json!("Pending"));
    });
    templated(spec);
}

/// DaemonSet: rolling updates of one pod at a time, no surge.
pub fn daemon_set(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    let strategy = child_or_insert(spec, "updateStrategy");
    set_default(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type") == Some(&json!("RollingUpdate")) {
        let ru = child_or_insert(strategy, "rollingUpdate");
        set_default(ru, "maxUnavailable", json!(1));
        set_default(ru, "maxSurge", json!(0));
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    templated(spec);
}

/// ReplicaSet: one replica.
pub fn replica_set(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    templated(spec);
}

fn templated(spec: &mut Map<String, Value>) {
    if let Some(t) = child(spec, "template") {
        pod::template(t);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deployment_defaults() {
        let mut d = json!({"spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
        }});
        deployment(d.as_object_mut().unwrap());
        assert_eq!(
            d["spec"],
            json!({
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web", "image": "nginx", "imagePullPolicy": "Always",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        }],
                        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
                        "securityContext": {},
                    },
                },
            })
        );
    }

    #[test]
    fn recreate_strategy_gets_no_rolling_update() {
        let mut d = json!({"spec": {"strategy": {"type": "Recreate"}, "replicas": 3}});
        deployment(d.as_object_mut().unwrap());
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(d["spec"]["replicas"], 3);
    }

    #[test]
    fn stateful_set_defaults() {
        let mut s = json!({"spec": {"serviceName": "db", "volumeClaimTemplates": [
            {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
             "resources": {"requests": {"storage": "1024Mi"}}}}
        ]}});
        stateful_set(s.as_object_mut().unwrap());
        assert_eq!(s["spec"]["replicas"], 1);
        assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(s["spec"]["revisionHistoryLimit"], 10);
        let vct = &s["spec"]["volumeClaimTemplates"][0];
        assert_eq!(vct["spec"]["volumeMode"], "Filesystem");
        assert_eq!(vct["spec"]["resources"]["requests"]["storage"], "1Gi");
        assert_eq!(vct["status"]["phase"], "Pending");
    }

    #[test]
    fn daemon_set_and_replica_set_defaults() {
        let mut ds = json!({"spec": {}});
        daemon_set(ds.as_object_mut().unwrap());
        assert_eq!(
            ds["spec"],
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                   "revisionHistoryLimit": 10})
        );
        let mut rs = json!({"spec": {}});
        replica_set(rs.as_object_mut().unwrap());
        assert_eq!(rs["spec"], json!({"replicas": 1}));
    }
}
