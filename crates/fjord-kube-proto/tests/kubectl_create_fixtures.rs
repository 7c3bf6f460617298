//! Real request bodies captured from `kubectl.1.33` (testdata/create) and `kubectl.1.32`
//! (testdata/create-1.32) — see tools/capture_create.py and each MANIFEST.json — decode to exactly
//! the JSON kubectl prints for the same command with `-o json --dry-run=client`.

use std::path::PathBuf;

use serde_json::Value;

const CAPTURES: [&str; 2] = ["create", "create-1.32"];

fn testdata(capture: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata")).join(capture)
}

fn read_json(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_captured_kubectl_1_33_body_decodes_to_its_json() {
    assert_captures_decode("create");
}

#[test]
fn every_captured_kubectl_1_32_body_decodes_to_its_json() {
    assert_captures_decode("create-1.32");
}

fn assert_captures_decode(capture: &str) {
    let testdata = || testdata(capture);
    let manifest = read_json(&testdata().join("MANIFEST.json"));
    let cases = manifest.as_array().expect("MANIFEST.json is an array");
    assert!(
        cases.len() >= 30,
        "expected at least 30 captured cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in cases {
        let name = case["case"].as_str().expect("case name");
        let body = std::fs::read(testdata().join(format!("{name}.pb"))).expect("captured body");
        assert!(
            fjord_kube_proto::is_protobuf(&body),
            "{name}: not a protobuf body"
        );
        let expected = read_json(&testdata().join(format!("{name}.json")));
        match fjord_kube_proto::decode_object(&body) {
            Ok(decoded) if decoded == expected => {}
            Ok(decoded) => failures.push(format!(
                "{name}:\n  decoded  {}\n  expected {}",
                serde_json::to_string(&decoded).unwrap_or_default(),
                serde_json::to_string(&expected).unwrap_or_default()
            )),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_kind_kubectl_sends_as_protobuf_is_covered_by_a_fixture() {
    for capture in CAPTURES {
        assert_kinds_covered(capture);
    }
}

fn assert_kinds_covered(capture: &str) {
    let testdata = || testdata(capture);
    let manifest = read_json(&testdata().join("MANIFEST.json"));
    let mut kinds: Vec<(String, String)> = Vec::new();
    for case in manifest.as_array().expect("array") {
        let name = case["case"].as_str().expect("case name");
        let expected = read_json(&testdata().join(format!("{name}.json")));
        kinds.push((
            expected["apiVersion"].as_str().unwrap_or_default().into(),
            expected["kind"].as_str().unwrap_or_default().into(),
        ));
    }
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "ResourceQuota"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("networking.k8s.io/v1", "Ingress"),
        ("policy/v1", "PodDisruptionBudget"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("authentication.k8s.io/v1", "TokenRequest"),
    ] {
        assert!(
            kinds.contains(&(api_version.into(), kind.into())),
            "no fixture for {api_version} {kind}"
        );
    }
}
