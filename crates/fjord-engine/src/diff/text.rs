//! A unified text diff of two normalised, masked objects, rendered as YAML, for the UI and
//! the CLI (`--- live` / `+++ desired`, three lines of context).

use serde_json::Value;
use similar::TextDiff;

fn yaml(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        // Serialising a JSON value to YAML cannot fail; fall back to JSON just in case.
        Some(v) => serde_norway::to_string(v).unwrap_or_else(|_| v.to_string()),
    }
}

/// The unified diff from `live` to `desired`; empty when they render the same.
pub fn unified(live: Option<&Value>, desired: Option<&Value>) -> String {
    let (a, b) = (yaml(live), yaml(desired));
    if a == b {
        return String::new();
    }
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header("live", "desired")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_changed_lines_with_headers() {
        let live = json!({"spec": {"replicas": 2, "paused": false}});
        let desired = json!({"spec": {"replicas": 3, "paused": false}});
        assert_eq!(
            unified(Some(&live), Some(&desired)),
            "--- live\n+++ desired\n@@ -1,3 +1,3 @@\n spec:\n-  replicas: 2\n+  replicas: 3\n   paused: false\n"
        );
        assert_eq!(unified(Some(&live), Some(&live)), "");
    }
}
