//! The OpenAPI → SMD conversion must equal the oracle's (kube-openapi schemaconv) for every
//! type the conformance fixtures use, built-in definitions and the CRD-style Widget alike.

use fjord_smd::{builtin_definitions, convert_definitions, crd_root_document};
use serde_json::Value;
use std::collections::HashMap;

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

#[test]
fn every_oracle_type_converts_identically() {
    let oracle = load(&format!("{SHARED}/schema.json"));
    let oracle_types = oracle["types"].as_array().expect("types array");
    let mine = convert_definitions(builtin_definitions().as_object().expect("$defs object"))
        .expect("vendored definitions convert");
    let by_name: HashMap<&str, &Value> = mine
        .iter()
        .map(|t| (t["name"].as_str().unwrap_or_default(), t))
        .collect();
    let widget_schema = load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/testdata/widget-openapiv3.json"
    ));
    let widget = crd_root_document("example.fjord.dev", "v1", "Widget", &widget_schema)
        .expect("widget converts");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for t in oracle_types {
        let name = t["name"].as_str().expect("type name");
        let got = if name == "dev.fjord.example.v1.Widget" {
            Some(&widget)
        } else {
            by_name.get(name).copied()
        };
        match got {
            Some(g) if g == t => checked += 1,
            Some(g) => mismatches.push(format!("{name}:\n  oracle {t}\n  mine   {g}")),
            None => mismatches.push(format!("{name}: not converted")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} types differ:\n{}",
        mismatches.len(),
        oracle_types.len(),
        mismatches.join("\n")
    );
    assert_eq!(checked, 210, "expected the oracle's 210 types");
}
