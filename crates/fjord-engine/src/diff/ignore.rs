//! `ignoreDifferences`: fields left out of the comparison.
//!
//! A rule applies to objects of its group and kind (`*` matches any) and, when set, exactly
//! its name and namespace. It removes, from both desired and live, the fields at its JSON
//! pointers, the paths its jq expressions select, and the fields its managers own in live.
//! Rules are compiled once; an expression Fjord cannot evaluate is returned as an error for
//! the controller to report as a condition, and the rule's other entries still apply.

use super::jq::{JqPath, remove_all};
use super::owned::remove_path;
use crate::resource::ResourceKey;
use crate::types::ResourceIgnoreDifferences;
use fjord_smd::FieldSet;
use serde_json::Value;

/// A rule Fjord could not compile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IgnoreRuleError {
    /// A JSON pointer does not start with `/`.
    #[error("ignoreDifferences[{rule}]: invalid jsonPointer {pointer:?}: must start with '/'")]
    InvalidPointer {
        /// Index of the rule.
        rule: usize,
        /// The pointer.
        pointer: String,
    },
    /// A jq expression outside the supported subset.
    #[error("ignoreDifferences[{rule}]: unsupported jqPathExpression {expression:?}: {reason}")]
    UnsupportedJq {
        /// Index of the rule.
        rule: usize,
        /// The expression.
        expression: String,
        /// What is unsupported.
        reason: String,
    },
}

#[derive(Clone, Debug)]
struct Rule {
    group: String,
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
    pointers: Vec<Vec<String>>,
    jq: Vec<JqPath>,
    managers: Vec<String>,
}

/// Compiled ignore rules of one Application.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

/// Splits an RFC 6901 pointer into unescaped tokens.
fn pointer_tokens(p: &str) -> Option<Vec<String>> {
    if p.is_empty() {
        return Some(Vec::new());
    }
    let rest = p.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

fn remove_pointer(v: &mut Value, tokens: &[String]) {
    let Some((first, rest)) = tokens.split_first() else {
        return;
    };
    match v {
        Value::Object(m) => {
            if rest.is_empty() {
                m.shift_remove(first);
            } else if let Some(c) = m.get_mut(first) {
                remove_pointer(c, rest);
            }
        }
        Value::Array(a) => {
            let Ok(i) = first.parse::<usize>() else {
                return;
            };
            if i >= a.len() {
                return;
            }
            if rest.is_empty() {
                a.remove(i);
            } else {
                remove_pointer(&mut a[i], rest);
            }
        }
        _ => {}
    }
}

impl IgnoreRules {
    /// Compiles the rules; entries that cannot be compiled are left out and returned.
    pub fn compile(rules: &[ResourceIgnoreDifferences]) -> (Self, Vec<IgnoreRuleError>) {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let mut pointers = Vec::new();
            for p in &r.json_pointers {
                match pointer_tokens(p) {
                    Some(t) => pointers.push(t),
                    None => errors.push(IgnoreRuleError::InvalidPointer {
                        rule: i,
                        pointer: p.clone(),
                    }),
                }
            }
            let mut jq = Vec::new();
            for e in &r.jq_path_expressions {
                match JqPath::compile(e) {
                    Ok(j) => jq.push(j),
                    Err(reason) => errors.push(IgnoreRuleError::UnsupportedJq {
                        rule: i,
                        expression: e.clone(),
                        reason,
                    }),
                }
            }
            out.push(Rule {
                group: r.group.clone().unwrap_or_default(),
                kind: r.kind.clone(),
                name: r.name.clone().filter(|n| !n.is_empty()),
                namespace: r.namespace.clone().filter(|n| !n.is_empty()),
                pointers,
                jq,
                managers: r.managed_fields_managers.clone(),
            });
        }
        (IgnoreRules { rules: out }, errors)
    }

    fn matching<'a>(&'a self, key: &'a ResourceKey) -> impl Iterator<Item = &'a Rule> {
        self.rules.iter().filter(move |r| {
            (r.group == "*" || r.group == key.group)
                && (r.kind == "*" || r.kind == key.kind)
                && r.name.as_deref().is_none_or(|n| n == key.name)
                && r.namespace.as_deref().is_none_or(|n| n == key.namespace)
        })
    }

    /// The managers whose fields are ignored for `key`.
    pub fn managers_for<'a>(&'a self, key: &'a ResourceKey) -> Vec<&'a str> {
        self.matching(key)
            .flat_map(|r| r.managers.iter().map(String::as_str))
            .collect()
    }

    /// Removes the ignored fields of `key` from `obj` (one side of the diff). `ignored_fields`
    /// are the fields the ignored managers own in live.
    pub(crate) fn apply(&self, key: &ResourceKey, obj: &mut Value, ignored_fields: &FieldSet) {
        for rule in self.matching(key) {
            for p in &rule.pointers {
                remove_pointer(obj, p);
            }
            for j in &rule.jq {
                let paths = j.paths(obj);
                remove_all(obj, paths);
            }
        }
        for path in ignored_fields.paths() {
            remove_path(obj, &path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(kind: &str) -> ResourceIgnoreDifferences {
        ResourceIgnoreDifferences {
            group: Some("apps".into()),
            kind: kind.into(),
            ..Default::default()
        }
    }

    #[test]
    fn pointers_apply_to_matching_objects_only() {
        let mut r = rule("Deployment");
        r.json_pointers = vec!["/spec/replicas".into(), "/metadata/annotations/a~1b".into()];
        let (rules, errs) = IgnoreRules::compile(&[r]);
        assert!(errs.is_empty());
        let obj =
            json!({"metadata": {"annotations": {"a/b": "x", "c": "y"}}, "spec": {"replicas": 3}});
        let mut d = obj.clone();
        rules.apply(
            &ResourceKey::new("apps", "Deployment", "ns", "web"),
            &mut d,
            &FieldSet::new(),
        );
        assert_eq!(
            d,
            json!({"metadata": {"annotations": {"c": "y"}}, "spec": {}})
        );
        let mut s = obj.clone();
        rules.apply(
            &ResourceKey::new("apps", "StatefulSet", "ns", "web"),
            &mut s,
            &FieldSet::new(),
        );
        assert_eq!(s, obj);
    }

    #[test]
    fn name_namespace_and_wildcards() {
        let mut r = rule("*");
        r.group = Some("*".into());
        r.name = Some("web".into());
        r.json_pointers = vec!["/x".into()];
        let (rules, _) = IgnoreRules::compile(&[r]);
        let mut a = json!({"x": 1});
        rules.apply(
            &ResourceKey::new("", "Service", "ns", "web"),
            &mut a,
            &FieldSet::new(),
        );
        assert_eq!(a, json!({}));
        let mut b = json!({"x": 1});
        rules.apply(
            &ResourceKey::new("", "Service", "ns", "api"),
            &mut b,
            &FieldSet::new(),
        );
        assert_eq!(b, json!({"x": 1}));
    }

    #[test]
    fn bad_entries_are_reported_and_the_rest_applies() {
        let mut r = rule("Deployment");
        r.json_pointers = vec!["spec/replicas".into(), "/spec/paused".into()];
        r.jq_path_expressions = vec![".spec | map(.x)".into()];
        let (rules, errs) = IgnoreRules::compile(&[r]);
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[0].to_string(),
            "ignoreDifferences[0]: invalid jsonPointer \"spec/replicas\": must start with '/'"
        );
        assert!(
            errs[1]
                .to_string()
                .starts_with("ignoreDifferences[0]: unsupported jqPathExpression")
        );
        let mut d = json!({"spec": {"paused": true, "replicas": 1}});
        rules.apply(
            &ResourceKey::new("apps", "Deployment", "", "x"),
            &mut d,
            &FieldSet::new(),
        );
        assert_eq!(d, json!({"spec": {"replicas": 1}}));
    }
}
