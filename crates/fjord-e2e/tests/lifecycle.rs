//! Object lifecycle against real kubectl: the simulated controllers bring Deployments, Jobs and
//! namespaces to their end states, the garbage collector completes Background, Foreground and
//! Orphan deletions, finalizers hold deletion, defaults and immutable fields behave as on a
//! cluster.

use std::time::{Duration, Instant};

use fjord_e2e::TestCluster;
use serde_json::Value;

const KUBECTL: &str = "1.31";

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn k(tc: &TestCluster, args: &[&str]) -> String {
    tc.kubectl_ok(KUBECTL, args)
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn get(tc: &TestCluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
    json(&k(tc, &all))
}

fn apply(tc: &TestCluster, name: &str, manifest: &str, extra: &[&str]) -> String {
    let path = tc.scratch().join(name);
    std::fs::write(&path, manifest).unwrap();
    let mut args = vec!["apply", "-f", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    k(tc, &args)
}

/// Polls `check` (bounded) until it returns Some.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn deployment(name: &str, replicas: u32, annotations: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: life
  annotations: {{{annotations}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        resources:
          requests: {{cpu: 0.5, memory: 64Mi}}
"#
    )
}

async fn cluster() -> TestCluster {
    let tc = TestCluster::start().await.expect("cluster starts");
    k(&tc, &["create", "namespace", "life"]);
    tc
}

fn condition<'a>(obj: &'a Value, ty: &str) -> &'a Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .unwrap_or_else(|| panic!("no {ty} condition: {}", obj["status"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn kubectl_wait_available_returns_once_the_deployment_is_rolled_out() {
    let tc = cluster().await;
    apply(&tc, "web.yaml", &deployment("web", 2, ""), &[]);
    let out = k(
        &tc,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    assert!(out.contains("deployment.apps/web condition met"), "{out}");
    let out = k(
        &tc,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    assert!(out.contains("successfully rolled out"), "{out}");

    let d = get(&tc, &["deployment", "web", "-n", "life"]);
    assert_eq!(
        d["status"]["observedGeneration"],
        d["metadata"]["generation"]
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1",
        "the controller records the revision without bumping the generation"
    );
    assert_eq!(d["metadata"]["generation"], 1);

    // The rollout's story is told by events, as kube-controller-manager tells it.
    let rs_name = items(&get(&tc, &["replicasets", "-n", "life", "-l", "app=web"]))[0]["metadata"]
        ["name"]
        .as_str()
        .unwrap()
        .to_string();
    let described = eventually("the deployment's scaling event", || {
        let out = k(&tc, &["describe", "deployment", "web", "-n", "life"]);
        out.contains("ScalingReplicaSet").then_some(out)
    });
    assert!(
        described.contains(&format!("Scaled up replica set {rs_name} from 0 to 2")),
        "{described}"
    );
    let events = items(&get(
        &tc,
        &[
            "events",
            "-n",
            "life",
            "--field-selector",
            &format!("involvedObject.name={rs_name}"),
        ],
    ));
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| e["reason"] == "SuccessfulCreate")
        .collect();
    assert_eq!(
        created.len(),
        2,
        "one SuccessfulCreate per pod: {events:#?}"
    );
    let pod_name = created[0]["message"]
        .as_str()
        .unwrap()
        .strip_prefix("Created pod: ")
        .unwrap()
        .to_string();
    get(&tc, &["pod", &pod_name, "-n", "life"]);
    let pod_events = k(&tc, &["describe", "pod", &pod_name, "-n", "life"]);
    assert!(
        pod_events.contains("Scheduled") && pod_events.contains("Started container web"),
        "{pod_events}"
    );
    assert_eq!(d["status"]["replicas"], 2);
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert_eq!(d["status"]["readyReplicas"], 2);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert_eq!(
        condition(&d, "Available")["reason"],
        "MinimumReplicasAvailable"
    );
    assert_eq!(
        condition(&d, "Progressing")["reason"],
        "NewReplicaSetAvailable"
    );
    // Status is written through /status by the controller manager.
    let managers: Vec<(String, String)> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or("").to_string(),
                m["subresource"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("kube-controller-manager".into(), "status".into())),
        "{managers:?}"
    );

    let rss = items(&get(&tc, &["replicasets", "-n", "life"]));
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(
        rs["metadata"]["ownerReferences"][0]["uid"],
        d["metadata"]["uid"]
    );
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash
    );

    let pods = items(&get(&tc, &["pods", "-n", "life", "-l", "app=web"]));
    assert_eq!(pods.len(), 2);
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(condition(p, "Ready")["status"], "True");
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["uid"],
            rs["metadata"]["uid"]
        );
        // Defaults reach the pods: canonical quantities.
        assert_eq!(
            p["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "500m"
        );
    }

    // Scaling goes through to the pods.
    k(
        &tc,
        &["scale", "deployment/web", "-n", "life", "--replicas=3"],
    );
    eventually("three ready pods", || {
        let d = get(&tc, &["deployment", "web", "-n", "life"]);
        (d["status"]["readyReplicas"] == 3
            && d["status"]["observedGeneration"] == d["metadata"]["generation"])
            .then_some(())
    });
    // A template change rolls out a second ReplicaSet and scales the first to zero.
    k(
        &tc,
        &[
            "set",
            "image",
            "deployment/web",
            "web=nginx:1.27",
            "-n",
            "life",
        ],
    );
    k(
        &tc,
        &[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let rss = items(&get(&tc, &["replicasets", "-n", "life"]));
    assert_eq!(rss.len(), 2);
    let mut replicas: Vec<i64> = rss
        .iter()
        .map(|r| r["spec"]["replicas"].as_i64().unwrap())
        .collect();
    replicas.sort();
    assert_eq!(replicas, vec![0, 3]);

    // Pausing is reported, resuming completes again.
    k(&tc, &["rollout", "pause", "deployment/web", "-n", "life"]);
    eventually("the paused condition", || {
        let d = get(&tc, &["deployment", "web", "-n", "life"]);
        (condition(&d, "Progressing")["reason"] == "DeploymentPaused"
            && condition(&d, "Progressing")["status"] == "Unknown")
            .then_some(())
    });
    k(&tc, &["rollout", "resume", "deployment/web", "-n", "life"]);
    eventually("progress after resuming", || {
        let d = get(&tc, &["deployment", "web", "-n", "life"]);
        (condition(&d, "Progressing")["reason"] == "NewReplicaSetAvailable"
            && d["status"]["observedGeneration"] == d["metadata"]["generation"])
            .then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn the_failure_annotation_fails_rollouts_and_jobs() {
    let tc = cluster().await;
    apply(
        &tc,
        "bad.yaml",
        &deployment("bad", 1, "fjord.dev/simulate: fail"),
        &[],
    );
    let out = k(
        &tc,
        &[
            "wait",
            "--for=condition=Progressing=False",
            "deployment/bad",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    assert!(out.contains("condition met"), "{out}");
    let d = get(&tc, &["deployment", "bad", "-n", "life"]);
    let progressing = condition(&d, "Progressing");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .ends_with("has timed out progressing.")
    );
    assert_eq!(condition(&d, "Available")["status"], "False");
    assert!(
        d["status"].get("availableReplicas").is_none(),
        "{}",
        d["status"]
    );
    let pods = items(&get(&tc, &["pods", "-n", "life", "-l", "app=bad"]));
    assert_eq!(pods.len(), 1);
    assert_eq!(condition(&pods[0], "Ready")["status"], "False");
    assert_eq!(
        pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "CrashLoopBackOff"
    );

    let job = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: life
  annotations: {fjord.dev/simulate: fail}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: run, image: busybox:1.36}]
"#;
    apply(&tc, "job.yaml", job, &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Failed",
            "job/migrate",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let j = get(&tc, &["job", "migrate", "-n", "life"]);
    assert_eq!(condition(&j, "Failed")["reason"], "BackoffLimitExceeded");
    assert_eq!(
        condition(&j, "FailureTarget")["reason"],
        "BackoffLimitExceeded"
    );
    assert_eq!(j["status"]["failed"], 3);
    let pods = items(&get(&tc, &["pods", "-n", "life", "-l", "job-name=migrate"]));
    assert_eq!(pods.len(), 3, "backoffLimit 2: three pods tried");
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Failed"));
    assert!(j["status"].get("completionTime").is_none());
    let warnings = items(&get(
        &tc,
        &["events", "-n", "life", "--field-selector", "type=Warning"],
    ));
    assert!(
        warnings
            .iter()
            .any(|e| e["reason"] == "BackoffLimitExceeded"
                && e["involvedObject"]["name"] == "migrate"),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|e| e["reason"] == "BackOff"),
        "the failing Deployment's pod backs off: {warnings:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn jobs_complete_and_statefulsets_and_daemonsets_become_ready() {
    let tc = cluster().await;
    let manifests = r#"apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: life}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: run, image: busybox:1.36}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: life}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: life}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: busybox:1.36}]
"#;
    apply(&tc, "all.yaml", manifests, &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Complete",
            "job/once",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let j = get(&tc, &["job", "once", "-n", "life"]);
    assert_eq!(j["status"]["succeeded"], 2);
    assert!(j["status"]["completionTime"].is_string());
    assert_eq!(condition(&j, "SuccessCriteriaMet")["status"], "True");
    assert_eq!(condition(&j, "Complete")["reason"], "CompletionsReached");
    // Defaults and the generated selector.
    assert_eq!(j["spec"]["backoffLimit"], 6);
    let uid = j["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        j["spec"]["template"]["metadata"]["labels"]["job-name"],
        "once"
    );
    let pods = items(&get(&tc, &["pods", "-n", "life", "-l", "job-name=once"]));
    assert_eq!(pods.len(), 2);
    for p in &pods {
        assert_eq!(p["status"]["phase"], "Succeeded");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], uid);
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
    }
    // kubectl deletes Jobs in the background: their pods go too.
    k(&tc, &["delete", "job", "once", "-n", "life"]);
    eventually("the job's pods collected", || {
        items(&get(&tc, &["pods", "-n", "life", "-l", "job-name=once"]))
            .is_empty()
            .then_some(())
    });

    let out = k(
        &tc,
        &[
            "rollout",
            "status",
            "statefulset/db",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    assert!(
        out.contains("roll out complete") || out.contains("rolling update complete"),
        "{out}"
    );
    let s = get(&tc, &["statefulset", "db", "-n", "life"]);
    assert_eq!(s["status"]["readyReplicas"], 2);
    assert_eq!(
        s["status"]["currentRevision"],
        s["status"]["updateRevision"]
    );
    let out = k(
        &tc,
        &[
            "rollout",
            "status",
            "daemonset/agent",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn namespaces_get_a_default_service_account_and_their_deletion_completes() {
    let tc = cluster().await;
    let sa = eventually("the default ServiceAccount", || {
        let out = tc
            .kubectl(
                KUBECTL,
                &[
                    "get",
                    "serviceaccount",
                    "default",
                    "-n",
                    "life",
                    "-o",
                    "json",
                    "--show-managed-fields",
                ],
            )
            .unwrap();
        out.status
            .success()
            .then(|| json(&String::from_utf8_lossy(&out.stdout)))
    });
    assert_eq!(sa["metadata"]["namespace"], "life");
    apply(&tc, "web.yaml", &deployment("web", 2, ""), &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let out = k(&tc, &["delete", "namespace", "life", "--timeout=30s"]);
    assert!(out.contains("namespace \"life\" deleted"), "{out}");
    let gone = tc.kubectl(KUBECTL, &["get", "namespace", "life"]).unwrap();
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
    let pods = get(&tc, &["pods", "-A"]);
    assert!(items(&pods).is_empty(), "{pods}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn background_deletion_collects_dependents() {
    let tc = cluster().await;
    apply(&tc, "web.yaml", &deployment("web", 2, ""), &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    k(&tc, &["delete", "deployment", "web", "-n", "life"]);
    eventually("ReplicaSets and Pods collected", || {
        (items(&get(&tc, &["replicasets", "-n", "life"])).is_empty()
            && items(&get(&tc, &["pods", "-n", "life"])).is_empty())
        .then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let tc = cluster().await;
    apply(&tc, "web.yaml", &deployment("web", 1, ""), &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let pods = items(&get(&tc, &["pods", "-n", "life"]));
    let pod = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    // A finalizer on the pod holds the whole chain.
    k(
        &tc,
        &[
            "patch",
            "pod",
            &pod,
            "-n",
            "life",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
    );
    k(
        &tc,
        &[
            "delete",
            "deployment",
            "web",
            "-n",
            "life",
            "--cascade=foreground",
            "--wait=false",
        ],
    );
    let d = eventually("the deployment held in foreground deletion", || {
        let d = get(&tc, &["deployment", "web", "-n", "life"]);
        let pod = get(&tc, &["pod", &pod, "-n", "life"]);
        (pod["metadata"]["deletionTimestamp"].is_string()).then_some(d)
    });
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        d["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    let rs = items(&get(&tc, &["replicasets", "-n", "life"]));
    assert_eq!(rs.len(), 1, "the ReplicaSet waits for its pod");
    assert_eq!(
        rs[0]["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        get(&tc, &["deployment", "web", "-n", "life"])["metadata"]["deletionTimestamp"].is_string()
    );

    k(
        &tc,
        &[
            "patch",
            "pod",
            &pod,
            "-n",
            "life",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ],
    );
    eventually("the deployment gone", || {
        let out = tc
            .kubectl(KUBECTL, &["get", "deployment", "web", "-n", "life"])
            .unwrap();
        (!out.status.success()).then_some(())
    });
    assert!(items(&get(&tc, &["replicasets", "-n", "life"])).is_empty());
    assert!(items(&get(&tc, &["pods", "-n", "life"])).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn orphan_deletion_strips_owner_references() {
    let tc = cluster().await;
    apply(&tc, "web.yaml", &deployment("web", 2, ""), &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let out = k(
        &tc,
        &[
            "delete",
            "deployment",
            "web",
            "-n",
            "life",
            "--cascade=orphan",
        ],
    );
    assert!(out.contains("deleted"), "{out}");
    let gone = tc
        .kubectl(KUBECTL, &["get", "deployment", "web", "-n", "life"])
        .unwrap();
    assert!(
        !gone.status.success(),
        "kubectl waits for the orphan finalizer to go"
    );
    let rss = items(&get(&tc, &["replicasets", "-n", "life"]));
    assert_eq!(rss.len(), 1);
    assert!(
        rss[0]["metadata"].get("ownerReferences").is_none(),
        "{}",
        rss[0]["metadata"]
    );
    std::thread::sleep(Duration::from_millis(300));
    let pods = items(&get(&tc, &["pods", "-n", "life"]));
    assert_eq!(pods.len(), 2, "the orphaned ReplicaSet keeps its pods");
    assert_eq!(
        pods[0]["metadata"]["ownerReferences"][0]["kind"],
        "ReplicaSet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn a_finalizer_holds_deletion_until_removed() {
    let tc = cluster().await;
    let cm = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: held, namespace: life, finalizers: [example.com/hold]}
data: {k: v}
"#;
    apply(&tc, "cm.yaml", cm, &[]);
    k(
        &tc,
        &["delete", "configmap", "held", "-n", "life", "--wait=false"],
    );
    let live = get(&tc, &["configmap", "held", "-n", "life"]);
    assert!(live["metadata"]["deletionTimestamp"].is_string());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        get(&tc, &["configmap", "held", "-n", "life"])["metadata"]["deletionTimestamp"].is_string()
    );
    k(
        &tc,
        &[
            "patch",
            "configmap",
            "held",
            "-n",
            "life",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
    let gone = tc
        .kubectl(KUBECTL, &["get", "configmap", "held", "-n", "life"])
        .unwrap();
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn defaults_allocations_and_immutable_fields() {
    let tc = cluster().await;
    let svc = r#"apiVersion: v1
kind: Service
metadata: {name: web, namespace: life}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"#;
    apply(&tc, "svc.yaml", svc, &[]);
    k(
        &tc,
        &[
            "create",
            "service",
            "clusterip",
            "other",
            "-n",
            "life",
            "--tcp=8080:8080",
        ],
    );
    let a = get(&tc, &["service", "web", "-n", "life"]);
    let b = get(&tc, &["service", "other", "-n", "life"]);
    let ip = a["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.9") || ip.starts_with("10.1"), "{ip}");
    assert_ne!(a["spec"]["clusterIP"], b["spec"]["clusterIP"]);
    assert_eq!(a["spec"]["clusterIPs"], serde_json::json!([ip]));
    assert_eq!(a["spec"]["ipFamilies"], serde_json::json!(["IPv4"]));
    assert_eq!(
        a["spec"]["ports"][0],
        serde_json::json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );
    assert_eq!(a["spec"]["sessionAffinity"], "None");
    assert_eq!(a["spec"]["type"], "ClusterIP");
    // Re-applying the manifest (no clusterIP) keeps the allocated IP.
    apply(&tc, "svc.yaml", svc, &[]);
    assert_eq!(
        get(&tc, &["service", "web", "-n", "life"])["spec"]["clusterIP"],
        ip.as_str()
    );
    let changed = svc.replace("spec:\n", "spec:\n  clusterIP: 10.96.200.200\n");
    let path = tc.scratch().join("svc2.yaml");
    std::fs::write(&path, changed).unwrap();
    let out = tc
        .kubectl(KUBECTL, &["apply", "-f", path.to_str().unwrap()])
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("may not change once set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    apply(&tc, "web.yaml", &deployment("web", 1, ""), &[]);
    let d = get(&tc, &["deployment", "web", "-n", "life"]);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "500m"
    );
    // A second apply of the same manifest sends `cpu: 0.5` again (kubectl compares it with the
    // live `500m`), and the server, after canonicalising, finds nothing to change.
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let rv = get(&tc, &["deployment", "web", "-n", "life"])["metadata"]["resourceVersion"].clone();
    apply(&tc, "web.yaml", &deployment("web", 1, ""), &[]);
    assert_eq!(
        get(&tc, &["deployment", "web", "-n", "life"])["metadata"]["resourceVersion"],
        rv
    );
    let changed = deployment("web", 1, "")
        .replace("matchLabels: {app: web}", "matchLabels: {app: web, x: y}")
        .replace("labels: {app: web}", "labels: {app: web, x: y}");
    let path = tc.scratch().join("web2.yaml");
    std::fs::write(&path, changed).unwrap();
    let out = tc
        .kubectl(KUBECTL, &["apply", "-f", path.to_str().unwrap()])
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("spec.selector: Invalid value") && stderr.contains("field is immutable"),
        "{stderr}"
    );

    // Custom resources get their schema's defaults.
    let crd = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            default: {}
            properties:
              size: {type: integer, default: 3}
              mode: {type: string, default: fast}
"#;
    apply(&tc, "crd.yaml", crd, &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=condition=Established",
            "crd/gadgets.example.com",
            "--timeout=30s",
        ],
    );
    let gadget = "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g, namespace: life}\nspec: {mode: slow}\n";
    apply(&tc, "gadget.yaml", gadget, &[]);
    let g = get(&tc, &["gadget", "g", "-n", "life"]);
    assert_eq!(g["spec"], serde_json::json!({"mode": "slow", "size": 3}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn claims_are_bound_and_load_balancers_get_addresses() {
    let tc = cluster().await;
    let manifests = r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: life}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1024Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: public, namespace: life}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: life}
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: public, port: {number: 443}}}
"#;
    apply(&tc, "infra.yaml", manifests, &[]);
    k(
        &tc,
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Bound",
            "pvc/data",
            "-n",
            "life",
            "--timeout=30s",
        ],
    );
    let pvc = get(&tc, &["pvc", "data", "-n", "life"]);
    assert_eq!(pvc["status"]["capacity"]["storage"], "1Gi");
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    let svc = eventually("a load-balancer address", || {
        let s = get(&tc, &["service", "public", "-n", "life"]);
        s["status"]["loadBalancer"]["ingress"][0]["ip"]
            .is_string()
            .then_some(s)
    });
    assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    eventually("an ingress address", || {
        let i = get(&tc, &["ingress", "web", "-n", "life"]);
        i["status"]["loadBalancer"]["ingress"][0]["ip"]
            .is_string()
            .then_some(())
    });
}

fn stateful_set(image: &str, replicas: u32, annotations: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web, namespace: life, annotations: {{{annotations}}}}}
spec:
  serviceName: web
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "{image}"}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"#
    )
}

fn pod_names(tc: &TestCluster, selector: &str) -> Vec<String> {
    let mut names: Vec<String> = items(&get(tc, &["pods", "-n", "life", "-l", selector]))
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn statefulsets_run_ordered_pods_and_roll_them_from_the_highest_ordinal() {
    let tc = cluster().await;
    apply(&tc, "sts.yaml", &stateful_set("nginx:1.25", 3, ""), &[]);
    let rollout = [
        "rollout",
        "status",
        "statefulset/web",
        "-n",
        "life",
        "--timeout=60s",
    ];
    k(&tc, &rollout);
    assert_eq!(pod_names(&tc, "app=web"), ["web-0", "web-1", "web-2"]);
    let s = get(&tc, &["statefulset", "web", "-n", "life"]);
    let first = s["status"]["updateRevision"].as_str().unwrap().to_string();
    assert_eq!(s["status"]["currentRevision"], first.as_str());
    assert_eq!(s["status"]["readyReplicas"], 3);
    let p = get(&tc, &["pod", "web-1", "-n", "life"]);
    assert_eq!(
        p["metadata"]["labels"]["controller-revision-hash"],
        first.as_str()
    );
    assert_eq!(
        p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "web-1"
    );
    assert_eq!(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "1");
    assert_eq!(p["spec"]["hostname"], "web-1");
    assert_eq!(p["spec"]["subdomain"], "web");
    assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    for claim in ["data-web-0", "data-web-1", "data-web-2"] {
        get(&tc, &["pvc", claim, "-n", "life"]);
    }
    // OrderedReady: each Pod was created after the one before it was Ready, so the creation
    // events come in ordinal order.
    let events = items(&get(
        &tc,
        &[
            "events",
            "-n",
            "life",
            "--field-selector",
            "involvedObject.name=web,reason=SuccessfulCreate",
        ],
    ));
    let mut created: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["metadata"]["name"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    created.sort();
    let messages: Vec<&str> = created.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        messages,
        [
            "create Pod web-0 in StatefulSet web successful",
            "create Pod web-1 in StatefulSet web successful",
            "create Pod web-2 in StatefulSet web successful",
        ]
    );

    // A new image rolls every Pod to the new revision; the current revision follows at the end.
    apply(&tc, "sts.yaml", &stateful_set("nginx:1.27", 3, ""), &[]);
    k(&tc, &rollout);
    let s = get(&tc, &["statefulset", "web", "-n", "life"]);
    let second = s["status"]["updateRevision"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(s["status"]["currentRevision"], second.as_str());
    assert_eq!(s["status"]["updatedReplicas"], 3);
    for p in items(&get(&tc, &["pods", "-n", "life", "-l", "app=web"])) {
        assert_eq!(
            p["metadata"]["labels"]["controller-revision-hash"],
            second.as_str()
        );
        assert_eq!(p["spec"]["containers"][0]["image"], "nginx:1.27");
    }
    let history = k(
        &tc,
        &["rollout", "history", "statefulset/web", "-n", "life"],
    );
    assert!(history.contains('1') && history.contains('2'), "{history}");
    let revisions = items(&get(&tc, &["controllerrevisions", "-n", "life"]));
    assert_eq!(revisions.len(), 2, "{revisions:#?}");

    // Scaling down removes the highest ordinals; their claims stay (Retain).
    k(
        &tc,
        &["scale", "statefulset/web", "-n", "life", "--replicas=1"],
    );
    eventually("web scaled to one Pod", || {
        (pod_names(&tc, "app=web") == ["web-0"]).then_some(())
    });
    get(&tc, &["pvc", "data-web-2", "-n", "life"]);
    k(&tc, &rollout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "e2e: boots the embedded control plane"]
async fn failing_statefulsets_stop_at_the_first_pod_and_daemonsets_follow_their_template() {
    let tc = cluster().await;
    apply(
        &tc,
        "sts.yaml",
        &stateful_set("nginx:1.25", 3, "fjord.dev/simulate: fail"),
        &[],
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        pod_names(&tc, "app=web"),
        ["web-0"],
        "OrderedReady waits for web-0"
    );
    let s = get(&tc, &["statefulset", "web", "-n", "life"]);
    assert!(s["status"]["readyReplicas"].is_null(), "{}", s["status"]);
    assert_eq!(s["status"]["replicas"], 1);

    let daemon_set = |image: &str, selector: &str| {
        format!(
            r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: life}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      nodeSelector: {{{selector}}}
      containers: [{{name: agent, image: "{image}"}}]
"#
        )
    };
    let rollout = [
        "rollout",
        "status",
        "daemonset/agent",
        "-n",
        "life",
        "--timeout=60s",
    ];
    apply(
        &tc,
        "ds.yaml",
        &daemon_set("busybox:1.36", "kubernetes.io/os: linux"),
        &[],
    );
    k(&tc, &rollout);
    let first = pod_names(&tc, "app=agent");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("agent-"), "{first:?}");
    apply(
        &tc,
        "ds.yaml",
        &daemon_set("busybox:1.37", "kubernetes.io/os: linux"),
        &[],
    );
    k(&tc, &rollout);
    let second = pod_names(&tc, "app=agent");
    assert_eq!(second.len(), 1);
    assert_ne!(second, first, "the template change replaced the Pod");
    let p = get(&tc, &["pod", &second[0], "-n", "life"]);
    assert_eq!(p["spec"]["containers"][0]["image"], "busybox:1.37");
    assert_eq!(p["metadata"]["labels"]["pod-template-generation"], "2");
    // A node selector the node does not match: no Pod is wanted.
    apply(
        &tc,
        "ds.yaml",
        &daemon_set("busybox:1.37", "kubernetes.io/os: windows"),
        &[],
    );
    eventually("the agent Pod removed", || {
        pod_names(&tc, "app=agent").is_empty().then_some(())
    });
    let d = get(&tc, &["daemonset", "agent", "-n", "life"]);
    assert_eq!(d["status"]["desiredNumberScheduled"], 0);
}
