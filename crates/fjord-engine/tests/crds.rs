//! The shipped CRDs match Argo CD's names, scope, columns and (absent) subresources, and
//! their schemas keep fields the types do not model.

use serde_json::{Value, json};

fn load(file: &str) -> Value {
    let path = format!("{}/manifests/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn application_crd_matches_argo() {
    let crd = load("application-crd.yaml");
    assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
    assert_eq!(crd["metadata"]["name"], "applications.argoproj.io");
    let spec = &crd["spec"];
    assert_eq!(spec["group"], "argoproj.io");
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(
        spec["names"],
        json!({"kind": "Application", "listKind": "ApplicationList", "plural": "applications",
               "singular": "application", "shortNames": ["app", "apps"]})
    );
    let versions = spec["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert_eq!(
        (
            v["name"].as_str(),
            v["served"].as_bool(),
            v["storage"].as_bool()
        ),
        (Some("v1alpha1"), Some(true), Some(true))
    );
    assert_eq!(v["subresources"], json!({}));
    let cols: Vec<(String, String, i64)> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["jsonPath"].as_str().unwrap().to_string(),
                c["priority"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let expect = [
        ("Sync Status", ".status.sync.status", 0),
        ("Health Status", ".status.health.status", 0),
        ("Revision", ".status.sync.revision", 10),
        ("Project", ".spec.project", 10),
    ];
    let expect: Vec<(String, String, i64)> = expect
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect();
    assert_eq!(cols, expect);
    let schema = &v["schema"]["openAPIV3Schema"];
    for field in ["spec", "status", "operation"] {
        assert_eq!(
            schema["properties"][field]["x-kubernetes-preserve-unknown-fields"], true,
            "{field}"
        );
    }
    assert_eq!(
        schema["properties"]["spec"]["required"],
        json!(["destination", "project"])
    );
}

#[test]
fn appproject_crd_matches_argo() {
    let crd = load("appproject-crd.yaml");
    assert_eq!(crd["metadata"]["name"], "appprojects.argoproj.io");
    let spec = &crd["spec"];
    assert_eq!(spec["group"], "argoproj.io");
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(
        spec["names"],
        json!({"kind": "AppProject", "listKind": "AppProjectList", "plural": "appprojects",
               "singular": "appproject", "shortNames": ["appproj", "appprojs"]})
    );
    let v = &spec["versions"][0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["subresources"], json!({}));
    assert_eq!(
        v["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
}

fn fixture(file: &str) -> Value {
    let path = format!("{}/testdata/apps/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The CRD schema keeps every field of real Application/AppProject manifests: an API server
/// pruning unknown fields with it removes nothing.
#[test]
fn schemas_prune_nothing_from_argo_manifests() {
    for (crd, kind, files) in [
        (
            "application-crd.yaml",
            "Application",
            vec!["seed-nordic-payment-gateway.yaml", "full-with-status.yaml"],
        ),
        ("appproject-crd.yaml", "AppProject", vec!["project.yaml"]),
    ] {
        let crd = load(crd);
        let openapi = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let (schema, ty) =
            fjord_smd::Schema::from_crd_schema("argoproj.io", "v1alpha1", kind, openapi)
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        for file in files {
            let original = fixture(file);
            let mut obj = original.clone();
            let removed = fjord_smd::prune_unknown_fields(&schema, &ty, &mut obj);
            assert!(removed.is_empty(), "{file}: pruned {removed:?}");
            assert_eq!(obj, original, "{file}");
            // The check can fail: a field outside the schema's open parts is pruned.
            let mut bogus = original.clone();
            bogus["notAField"] = json!(1);
            assert_eq!(
                fjord_smd::prune_unknown_fields(&schema, &ty, &mut bogus).len(),
                1
            );
        }
    }
}
