//! Structured merge and diff for Kubernetes objects (being written).

use std::sync::OnceLock;

/// The vendored Kubernetes 1.33 schema definitions (the `$defs` map of kubernetes-validate's
/// `_definitions.json`), parsed once.
pub fn builtin_definitions() -> &'static serde_json::Value {
    static DEFS: OnceLock<serde_json::Value> = OnceLock::new();
    DEFS.get_or_init(|| {
        let raw: serde_json::Value =
            serde_json::from_str(include_str!("../data/k8s-v1.33-definitions.json"))
                .expect("the vendored definitions are valid JSON");
        raw.get("$defs").cloned().unwrap_or_default()
    })
}
