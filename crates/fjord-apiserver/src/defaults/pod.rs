//! Defaults of pod specs (in Pods and in every workload's pod template) and of their containers,
//! probes and volumes (Kubernetes `core/v1` `SetDefaults_PodSpec`, `SetDefaults_Container`,
//! `SetDefaults_Probe`, `SetDefaults_Volume`, …).

use serde_json::{Map, Value, json};

use super::quantity;
use super::{child, child_or_insert, each_object, set_default};

/// `0644`, the default file mode of secret, configMap, downwardAPI and projected volumes.
const DEFAULT_MODE: i64 = 420;

/// Defaults of a PodTemplateSpec (`spec.template` of workloads).
pub fn template(template: &mut Map<String, Value>) {
    if let Some(spec) = child(template, "spec") {
        pod_spec(spec);
    }
}

/// Defaults of a Pod object: its spec, plus what only Pods get (requests from limits, service
/// links, and what the ServiceAccount, Priority and DefaultTolerationSeconds admission plugins of a
/// real cluster set).
pub fn pod(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    pod_spec(spec);
    for list in ["containers", "initContainers"] {
        each_object(spec, list, |c| {
            if let Some(resources) = child(c, "resources") {
                requests_from_limits(resources);
            }
        });
    }
    set_default(spec, "enableServiceLinks", json!(true));
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| spec.get("serviceAccount").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    set_default(spec, "serviceAccountName", json!(sa));
    set_default(spec, "serviceAccount", json!(sa));
    set_default(spec, "priority", json!(0));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let tolerations = spec
        .entry("tolerations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !list.iter().any(|t| t.get("key") == Some(&json!(key))) {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

/// The QoS class of a Pod: `BestEffort` without requests or limits, `Guaranteed` when every
/// container limits cpu and memory and requests equal limits, `Burstable` otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let list = |c: &Value, which: &str| -> Map<String, Value> {
        c.pointer(&format!("/resources/{which}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    if containers
        .iter()
        .all(|c| list(c, "requests").is_empty() && list(c, "limits").is_empty())
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let (req, lim) = (list(c, "requests"), list(c, "limits"));
        ["cpu", "memory"].iter().all(|r| lim.contains_key(*r))
            && req.iter().all(|(k, v)| lim.get(k) == Some(v))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Defaults of a PodSpec.
pub fn pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    let host_network = spec.get("hostNetwork") == Some(&json!(true));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        each_object(spec, list, |c| container(c, host_network));
    }
    each_object(spec, "volumes", volume);
    if let Some(overhead) = child(spec, "overhead") {
        quantity::canonicalize_list(overhead);
    }
}

/// Defaults of a container.
pub fn container(c: &mut Map<String, Value>, host_network: bool) {
    if let Some(image) = c.get("image").and_then(Value::as_str) {
        let policy = if image_tag(image) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        set_default(c, "imagePullPolicy", json!(policy));
    }
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    each_object(c, "ports", |p| {
        set_default(p, "protocol", json!("TCP"));
        if host_network && let Some(port) = p.get("containerPort").cloned() {
            set_default(p, "hostPort", port);
        }
    });
    for probe_field in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child(c, probe_field) {
            probe(p);
        }
    }
    if let Some(lifecycle) = child(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = child(lifecycle, hook) {
                handler(h);
            }
        }
    }
    each_object(c, "env", |e| {
        if let Some(from) = child(e, "valueFrom") {
            if let Some(f) = child(from, "fieldRef") {
                set_default(f, "apiVersion", json!("v1"));
            }
            if let Some(r) = child(from, "resourceFieldRef") {
                set_default(r, "divisor", json!("0"));
                if let Some(d) = r.get_mut("divisor") {
                    quantity::canonicalize_value(d);
                }
            }
        }
    });
    if let Some(resources) = child(c, "resources") {
        for list in ["requests", "limits"] {
            if let Some(l) = child(resources, list) {
                quantity::canonicalize_list(l);
            }
        }
    }
}

/// The tag of an image reference: `latest` when there is neither tag nor digest, empty with a
/// digest only.
fn image_tag(image: &str) -> &str {
    let (name, has_digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => tag,
        None if has_digest => "",
        None => "latest",
    }
}

fn probe(p: &mut Map<String, Value>) {
    set_default(p, "timeoutSeconds", json!(1));
    set_default(p, "periodSeconds", json!(10));
    set_default(p, "successThreshold", json!(1));
    set_default(p, "failureThreshold", json!(3));
    handler(p);
}

/// httpGet and grpc actions (of probes and lifecycle hooks).
fn handler(h: &mut Map<String, Value>) {
    if let Some(get) = child(h, "httpGet") {
        set_default(get, "path", json!("/"));
        set_default(get, "scheme", json!("HTTP"));
    }
    if let Some(grpc) = child(h, "grpc") {
        set_default(grpc, "service", json!(""));
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn volume(v: &mut Map<String, Value>) {
    if !VOLUME_SOURCES.iter().any(|s| v.contains_key(*s)) {
        v.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = child(v, source) {
            set_default(s, "defaultMode", json!(DEFAULT_MODE));
        }
    }
    if let Some(d) = child(v, "downwardAPI") {
        each_object(d, "items", downward_item);
    }
    if let Some(h) = child(v, "hostPath") {
        set_default(h, "type", json!(""));
    }
    if let Some(e) = child(v, "emptyDir")
        && let Some(limit) = e.get_mut("sizeLimit")
    {
        quantity::canonicalize_value(limit);
    }
    if let Some(p) = child(v, "projected") {
        each_object(p, "sources", |s| {
            if let Some(t) = child(s, "serviceAccountToken") {
                set_default(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = child(s, "downwardAPI") {
                each_object(d, "items", downward_item);
            }
        });
    }
}

fn downward_item(item: &mut Map<String, Value>) {
    if let Some(f) = child(item, "fieldRef") {
        set_default(f, "apiVersion", json!("v1"));
    }
}

/// A Pod's requests default to its limits.
fn requests_from_limits(resources: &mut Map<String, Value>) {
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let requests = child_or_insert(resources, "requests");
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("registry:5000/team/app", "Always"),
            ("registry:5000/team/app:v2", "IfNotPresent"),
            ("nginx@sha256:0123", "IfNotPresent"),
            ("nginx:latest@sha256:0123", "Always"),
        ] {
            let mut c = json!({"name": "c", "image": image});
            container(c.as_object_mut().unwrap(), false);
            assert_eq!(c["imagePullPolicy"], want, "{image}");
        }
    }

    #[test]
    fn a_given_pull_policy_is_kept() {
        let mut c = json!({"name": "c", "image": "nginx", "imagePullPolicy": "Never"});
        container(c.as_object_mut().unwrap(), false);
        assert_eq!(c["imagePullPolicy"], "Never");
    }

    #[test]
    fn pod_spec_defaults() {
        let mut spec = json!({
            "containers": [{
                "name": "web", "image": "nginx:1.25",
                "ports": [{"containerPort": 80}],
                "readinessProbe": {"httpGet": {"port": 80}},
                "resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"}, "limits": {"cpu": "1"}},
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            }],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "s"}},
                {"name": "scratch"},
                {"name": "host", "hostPath": {"path": "/tmp"}},
            ],
        });
        pod_spec(spec.as_object_mut().unwrap());
        assert_eq!(
            spec,
            json!({
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "containers": [{
                    "name": "web", "image": "nginx:1.25",
                    "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "readinessProbe": {
                        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                        "timeoutSeconds": 1, "periodSeconds": 10,
                        "successThreshold": 1, "failureThreshold": 3,
                    },
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}},
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName", "apiVersion": "v1"}}}],
                }],
                "volumes": [
                    {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
                    {"name": "sec", "secret": {"secretName": "s", "defaultMode": 420}},
                    {"name": "scratch", "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": "/tmp", "type": ""}},
                ],
            })
        );
    }

    #[test]
    fn pods_get_requests_from_limits_and_admission_defaults() {
        let mut pod_obj = json!({"spec": {"containers": [{
            "name": "c", "image": "busybox:1.36",
            "resources": {"limits": {"cpu": "0.1", "memory": "64Mi"}},
        }]}});
        pod(pod_obj.as_object_mut().unwrap());
        let spec = &pod_obj["spec"];
        assert_eq!(
            spec["containers"][0]["resources"],
            json!({"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}})
        );
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
    }
}
