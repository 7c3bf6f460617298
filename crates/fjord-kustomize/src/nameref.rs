//! Name references: after prefixes, suffixes, namespaces and hash suffixes changed names, every
//! field that names another object (per the nameReference configuration) is updated to that
//! object's final name, picking the referral the way kustomize does (same namespace, then same
//! prefixes and suffixes as the referrer).

use crate::error::Result;
use crate::fieldspec::{TransformerConfig, visit_path};
use crate::kustomization::Kustomization;
use crate::resource::{Gvk, ResId, Resource};
use serde_json::Value;

fn gvk_matches(want: &Gvk, have: &Gvk) -> bool {
    (want.group.is_empty() || want.group == have.group)
        && (want.version.is_empty() || want.version == have.version)
        && (want.kind.is_empty() || want.kind == have.kind)
}

fn eff_ns(ns: &str) -> &str {
    if ns == "default" { "" } else { ns }
}

struct Candidate {
    prev: Vec<ResId>,
    cur: ResId,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    cluster_scoped: bool,
}

pub(crate) fn fix_name_references(
    kust: &Kustomization,
    resources: &mut [Resource],
    config: &TransformerConfig,
) -> Result<()> {
    let snapshot: Vec<Candidate> = resources
        .iter()
        .map(|r| Candidate {
            prev: r.prev_ids.clone(),
            cur: r.id(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
            cluster_scoped: r.gvk().is_cluster_scoped(),
        })
        .collect();
    for r in resources.iter() {
        if !matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding") {
            continue;
        }
        for s in r
            .obj
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let blank = s
                .get("namespace")
                .is_some_and(|n| n.is_null() || n.as_str() == Some(""));
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") && blank {
                return Err(kust.transform_error(
                    "nameReference",
                    format!(
                        "Invalid Input: namespace is blank for resource {:?}",
                        r.id().to_string()
                    ),
                ));
            }
        }
    }
    for rule in &config.name_reference {
        let cands: Vec<&Candidate> = snapshot
            .iter()
            .filter(|c| gvk_matches(&rule.gvk, &c.cur.gvk) && !c.prev.is_empty())
            .collect();
        if cands.is_empty() {
            continue;
        }
        for res in resources.iter_mut() {
            let gvk = res.gvk();
            let specs: Vec<_> = rule
                .referrers
                .iter()
                .filter(|s| s.applies_to(&gvk))
                .cloned()
                .collect();
            if specs.is_empty() {
                continue;
            }
            let referrer = Referrer {
                id: res.id(),
                cluster_scoped: gvk.is_cluster_scoped(),
                prefixes: res.prefixes.clone(),
                suffixes: res.suffixes.clone(),
                role_ref_kind: role_ref_kind(res),
            };
            let mut root = Value::Object(std::mem::take(&mut res.obj));
            let mut failure = None;
            for spec in &specs {
                let outcome = visit_path(&mut root, &spec.path, false, &mut |v| {
                    update_value(v, &cands, &referrer, &rule.gvk)
                });
                if let Err(e) = outcome {
                    failure = Some(e);
                    break;
                }
            }
            if let Value::Object(m) = root {
                res.obj = m;
            }
            if let Some(e) = failure {
                let field = specs.first().map(|s| s.path.join("/")).unwrap_or_default();
                return Err(kust.transform_error(
                    "nameReference",
                    format!(
                        "updating name reference in '{field}' field of '{}': found multiple possible referrals: {e}",
                        referrer.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

struct Referrer {
    id: ResId,
    cluster_scoped: bool,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    role_ref_kind: Option<String>,
}

fn role_ref_kind(r: &Resource) -> Option<String> {
    if !matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding") {
        return None;
    }
    r.obj
        .get("roleRef")
        .and_then(|rr| rr.get("kind"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn select<'a>(
    name: &str,
    namespace: Option<&str>,
    cands: &[&'a Candidate],
    referrer: &Referrer,
    target: &Gvk,
) -> std::result::Result<Option<&'a Candidate>, String> {
    let mut found: Vec<&Candidate> = cands
        .iter()
        .copied()
        .filter(|c| {
            c.prev.iter().any(|p| {
                p.name == name && namespace.is_none_or(|ns| eff_ns(&p.namespace) == eff_ns(ns))
            })
        })
        .collect();
    if let Some(kind) = &referrer.role_ref_kind
        && target.kind.ends_with("Role")
    {
        found.retain(|c| &c.cur.gvk.kind == kind);
    }
    if namespace.is_none() && !referrer.cluster_scoped {
        found.retain(|c| {
            c.cluster_scoped
                || c.cur.gvk.kind == "ServiceAccount"
                || eff_ns(&c.cur.namespace) == eff_ns(&referrer.id.namespace)
        });
    }
    if found.len() <= 1 {
        return Ok(found.first().copied());
    }
    // Same prefixes and suffixes as the referrer: first strictly, then letting an empty list
    // on either side match anything.
    for allow_empty in [false, true] {
        let same_affixes: Vec<&Candidate> = found
            .iter()
            .copied()
            .filter(|c| {
                same_ending(&c.prefixes, &referrer.prefixes, allow_empty)
                    && same_ending(&c.suffixes, &referrer.suffixes, allow_empty)
            })
            .collect();
        if same_affixes.len() == 1 {
            return Ok(Some(same_affixes[0]));
        }
    }
    let first = &found[0].cur;
    if found
        .iter()
        .all(|c| c.cur.name == first.name && eff_ns(&c.cur.namespace) == eff_ns(&first.namespace))
    {
        return Ok(Some(found[0]));
    }
    Err(found
        .iter()
        .map(|c| c.cur.to_string())
        .collect::<Vec<_>>()
        .join(", "))
}

/// Whether the shorter list is the end of the longer one. An empty list matches only an empty
/// one, unless `allow_empty`.
fn same_ending(a: &[String], b: &[String], allow_empty: bool) -> bool {
    if a.is_empty() || b.is_empty() {
        return allow_empty || a.len() == b.len();
    }
    let n = a.len().min(b.len());
    a[a.len() - n..] == b[b.len() - n..]
}

fn update_value(
    v: &mut Value,
    cands: &[&Candidate],
    referrer: &Referrer,
    target: &Gvk,
) -> std::result::Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(c) = select(s, None, cands, referrer, target)? {
                *s = c.cur.name.clone();
            }
        }
        Value::Array(items) => {
            for item in items {
                update_value(item, cands, referrer, target)?;
            }
        }
        Value::Object(m) => {
            // kustomize does not look at a subject's kind: a Group or User named like a
            // renamed ServiceAccount is renamed too.
            let Some(name) = m.get("name").and_then(Value::as_str).map(str::to_string) else {
                return Ok(());
            };
            let ns = m
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            let lookup = ns.as_deref();
            if let Some(c) = select(&name, lookup, cands, referrer, target)? {
                m.insert("name".into(), Value::String(c.cur.name.clone()));
                if !c.cur.namespace.is_empty() {
                    m.insert("namespace".into(), Value::String(c.cur.namespace.clone()));
                }
            }
        }
        _ => {}
    }
    Ok(())
}
