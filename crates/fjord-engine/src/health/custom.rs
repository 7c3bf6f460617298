//! Health overrides from Argo CD's `argocd-cm` ConfigMap: Lua scripts under
//! `resource.customizations.health.<group>_<kind>` keys (`<kind>` or `_<kind>` for the core
//! group), and under the `resource.customizations` YAML document (`<group>/<kind>:
//! {health.lua: ...}`, where group and kind may be globs such as `*.crossplane.io/*`).
//! A per-kind key wins over the YAML document, an exact entry over a glob. A configured
//! script wins over the built-in rule; when it returns an empty table the built-in rule
//! decides. A script that fails (does not compile, errors, loops, exhausts memory, returns
//! garbage) gives health `Unknown` with the reason, as Argo CD does.

use super::lua::{HealthScript, LuaHealthError, LuaLimits};
use super::{HealthStatus, HealthStatusCode, assess};
use crate::resource::group_of;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The key prefix of per-kind health scripts.
pub const HEALTH_KEY_PREFIX: &str = "resource.customizations.health.";
/// The key of the YAML document of resource customizations.
pub const CUSTOMIZATIONS_KEY: &str = "resource.customizations";

type Compiled = Arc<Result<HealthScript, String>>;

/// The compiled health overrides of one version of `argocd-cm`.
#[derive(Default)]
pub struct HealthOverrides {
    version: String,
    exact: HashMap<(String, String), Compiled>,
    globs: Vec<(globset::GlobMatcher, Compiled)>,
    problems: Vec<String>,
}

/// `group/kind` → (group, kind); no slash means the core group.
fn split_group_kind(s: &str) -> (String, String) {
    match s.rsplit_once('/') {
        Some((g, k)) => (g.to_string(), k.to_string()),
        None => (String::new(), s.to_string()),
    }
}

fn compile(name: &str, source: &str) -> Compiled {
    Arc::new(HealthScript::compile(name, source).map_err(|e| e.to_string()))
}

impl HealthOverrides {
    /// Compiles the health scripts in `data` (the ConfigMap's data) of `version` (its
    /// resourceVersion). Problems (a YAML document that does not parse, an entry without
    /// `health.lua`) are kept for [`HealthOverrides::problems`]; scripts that do not compile
    /// make their kind Unknown.
    pub fn from_data(version: &str, data: &BTreeMap<String, String>) -> HealthOverrides {
        let mut out = HealthOverrides {
            version: version.to_string(),
            ..Default::default()
        };
        if let Some(doc) = data.get(CUSTOMIZATIONS_KEY) {
            match serde_norway::from_str::<BTreeMap<String, Value>>(doc) {
                Ok(entries) => {
                    for (group_kind, entry) in entries {
                        let Some(source) = entry.get("health.lua").and_then(Value::as_str) else {
                            continue;
                        };
                        let name = format!("argocd-cm {CUSTOMIZATIONS_KEY} {group_kind:?}");
                        let script = compile(&name, source);
                        if group_kind.contains(['*', '?', '[', '{']) {
                            match globset::GlobBuilder::new(&group_kind)
                                .literal_separator(true)
                                .build()
                            {
                                Ok(g) => out.globs.push((g.compile_matcher(), script)),
                                Err(e) => out
                                    .problems
                                    .push(format!("{name}: not a valid pattern: {e}")),
                            }
                        } else {
                            out.exact.insert(split_group_kind(&group_kind), script);
                        }
                    }
                }
                Err(e) => out.problems.push(format!(
                    "argocd-cm {CUSTOMIZATIONS_KEY}: not a YAML map of group/kind entries: {e}"
                )),
            }
        }
        for (key, source) in data {
            let Some(group_kind) = key.strip_prefix(HEALTH_KEY_PREFIX) else {
                continue;
            };
            let (group, kind) = match group_kind.rsplit_once('_') {
                Some((g, k)) => (g.to_string(), k.to_string()),
                None => (String::new(), group_kind.to_string()),
            };
            let script = compile(&format!("argocd-cm {key}"), source);
            out.exact.insert((group, kind), script);
        }
        out
    }

    /// The ConfigMap version these were compiled from.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Configuration problems found while reading the ConfigMap.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Whether no script is configured.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.globs.is_empty()
    }

    fn script_for(&self, group: &str, kind: &str) -> Option<&Compiled> {
        if let Some(s) = self.exact.get(&(group.to_string(), kind.to_string())) {
            return Some(s);
        }
        let key = format!("{group}/{kind}");
        self.globs
            .iter()
            .find(|(g, _)| g.is_match(&key))
            .map(|(_, s)| s)
    }

    /// The health of `obj`: a configured script first, then the built-in rule. The second
    /// value is the script failure, if one happened (the health is then `Unknown` with it).
    pub fn assess(
        &self,
        obj: &Value,
        limits: &LuaLimits,
    ) -> (Option<HealthStatus>, Option<String>) {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let deleting = obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        let script = match self.script_for(group_of(api_version), kind) {
            Some(s) if !deleting => s,
            _ => return (assess(obj), None),
        };
        let result = match script.as_ref() {
            Ok(script) => script
                .run(obj, limits)
                .map_err(|e: LuaHealthError| e.to_string()),
            Err(compile_error) => Err(compile_error.clone()),
        };
        match result {
            Ok(Some(h)) => (Some(h), None),
            Ok(None) => (assess(obj), None),
            Err(message) => (
                Some(HealthStatus::new(
                    HealthStatusCode::Unknown,
                    message.clone(),
                )),
                Some(message),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn widget(phase: &str) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": phase}})
    }

    const PHASE: &str = "if obj.status.phase == 'Ready' then return {status='Healthy'} end return {status='Degraded', message=obj.status.phase}";

    #[test]
    fn per_kind_keys_and_the_yaml_document() {
        let o = HealthOverrides::from_data(
            "1",
            &data(&[("resource.customizations.health.example.com_Widget", PHASE)]),
        );
        let limits = LuaLimits::default();
        assert_eq!(
            o.assess(&widget("Ready"), &limits).0.unwrap().status,
            HealthStatusCode::Healthy
        );
        let (h, err) = o.assess(&widget("Broken"), &limits);
        assert_eq!(h.unwrap().message, "Broken");
        assert!(err.is_none());

        let doc = "\"*.com/*\":\n  health.lua: |\n    return {status='Suspended'}\n";
        let o = HealthOverrides::from_data("2", &data(&[("resource.customizations", doc)]));
        assert_eq!(
            o.assess(&widget("x"), &limits).0.unwrap().status,
            HealthStatusCode::Suspended
        );
        // The per-kind key wins over the document.
        let o = HealthOverrides::from_data(
            "3",
            &data(&[
                ("resource.customizations", doc),
                ("resource.customizations.health.example.com_Widget", PHASE),
            ]),
        );
        assert_eq!(
            o.assess(&widget("Ready"), &limits).0.unwrap().status,
            HealthStatusCode::Healthy
        );
    }

    #[test]
    fn core_group_keys_and_fallback_to_built_in() {
        let o = HealthOverrides::from_data(
            "1",
            &data(&[("resource.customizations.health._Service", "return {}")]),
        );
        let svc = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}});
        // The script has no opinion: the built-in rule (Progressing without an address).
        assert_eq!(
            o.assess(&svc, &LuaLimits::default()).0.unwrap().status,
            HealthStatusCode::Progressing
        );
    }

    #[test]
    fn failing_scripts_give_unknown_with_the_reason() {
        let o = HealthOverrides::from_data(
            "1",
            &data(&[
                (
                    "resource.customizations.health.example.com_Widget",
                    "error('boom')",
                ),
                (
                    "resource.customizations.health.example.com_Gadget",
                    "return {",
                ),
            ]),
        );
        let (h, err) = o.assess(&widget("x"), &LuaLimits::default());
        let h = h.unwrap();
        assert_eq!(h.status, HealthStatusCode::Unknown);
        assert!(h.message.contains("boom") && err.unwrap().contains("boom"));
        let gadget = json!({"apiVersion": "example.com/v1", "kind": "Gadget"});
        let (h, err) = o.assess(&gadget, &LuaLimits::default());
        assert_eq!(h.unwrap().status, HealthStatusCode::Unknown);
        assert!(err.unwrap().contains("does not compile"));
    }

    #[test]
    fn a_bad_document_is_a_problem_not_a_panic() {
        let o = HealthOverrides::from_data("1", &data(&[("resource.customizations", "- a\n- b")]));
        assert_eq!(o.problems().len(), 1);
        assert!(o.is_empty());
    }
}
