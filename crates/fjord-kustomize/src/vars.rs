//! `vars`: `$(NAME)` placeholders in selected fields, replaced with a field of a named object
//! once the whole build is done.

use crate::build::Accumulated;
use crate::error::Result;
use crate::fieldspec::{TransformerConfig, apply_specs};
use crate::kustomization::Kustomization;
use crate::resource::{Gvk, Resource};
use serde_json::Value;

/// One declared var.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    /// Placeholder name.
    pub name: String,
    /// Object type (empty parts match any).
    pub gvk: Gvk,
    /// Object name as written (before renames).
    pub obj_name: String,
    /// Object namespace, if given.
    pub obj_namespace: String,
    /// Dotted field path, default `metadata.name`.
    pub field_path: String,
}

pub(crate) fn add_var(kust: &Kustomization, acc: &mut Accumulated, v: Var) -> Result<()> {
    if let Some(existing) = acc.vars.iter().find(|x| x.name == v.name) {
        if *existing != v {
            return Err(
                kust.transform_error("vars", format!("var '{}' already encountered", v.name))
            );
        }
        return Ok(());
    }
    acc.vars.push(v);
    Ok(())
}

pub(crate) fn merge_vars(kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    for (i, e) in kust.objects("vars")?.iter().enumerate() {
        let field = format!("vars[{i}]");
        let name = e
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| kust.field_error(&format!("{field}.name"), "missing name"))?
            .to_string();
        let objref = e
            .get("objref")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let s = |k: &str| {
            objref
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut gvk = Gvk {
            group: s("group"),
            version: s("version"),
            kind: s("kind"),
        };
        let api = s("apiVersion");
        if !api.is_empty() {
            let g = Gvk::from_api_version(&api, "");
            gvk.group = g.group;
            gvk.version = g.version;
        }
        let field_path = e
            .get("fieldref")
            .and_then(|f| f.get("fieldpath").or_else(|| f.get("fieldPath")))
            .and_then(Value::as_str)
            .unwrap_or("metadata.name")
            .to_string();
        let v = Var {
            name,
            gvk,
            obj_name: s("name"),
            obj_namespace: s("namespace"),
            field_path,
        };
        if acc.vars.iter().any(|x| x.name == v.name) {
            return Err(
                kust.transform_error(&field, format!("var '{}' already encountered", v.name))
            );
        }
        // Bind the var to the one object its reference names at this level.
        let matches: Vec<usize> = acc
            .resources
            .iter()
            .enumerate()
            .filter(|(_, r)| var_matches(&v, r))
            .map(|(i, _)| i)
            .collect();
        if matches.len() > 1 {
            return Err(kust.transform_error(
                &field,
                format!(
                    "found {} resId matches for var '{}' (unable to disambiguate)",
                    matches.len(),
                    v.name
                ),
            ));
        }
        if let Some(&i) = matches.first() {
            acc.resources[i].ref_vars.push(v.name.clone());
        }
        acc.vars.push(v);
    }
    Ok(())
}

fn var_matches(v: &Var, r: &Resource) -> bool {
    let gvk = r.gvk();
    (v.gvk.kind.is_empty() || v.gvk.kind == gvk.kind)
        && (v.gvk.group.is_empty() || v.gvk.group == gvk.group)
        && (v.gvk.version.is_empty() || v.gvk.version == gvk.version)
        && r.all_ids().iter().any(|id| {
            id.name == v.obj_name
                && (v.obj_namespace.is_empty()
                    || id.effective_namespace() == v.obj_namespace.as_str()
                    || id.namespace == v.obj_namespace)
        })
}

/// Reads a dotted field path (`spec.ports[0].port`, `a.b`) from an object.
pub(crate) fn read_field<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in split_dotted(path) {
        let (key, index) = match seg.find('[') {
            Some(i) if seg.ends_with(']') => (&seg[..i], Some(&seg[i + 1..seg.len() - 1])),
            _ => (seg.as_str(), None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(ix) = index {
            cur = match ix.split_once('=') {
                Some((k, v)) => cur
                    .as_array()?
                    .iter()
                    .find(|e| e.get(k).and_then(Value::as_str) == Some(v))?,
                None => cur.get(ix.parse::<usize>().ok()?)?,
            };
        }
    }
    Some(cur)
}

fn split_dotted(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c)
            }
            ']' => {
                depth -= 1;
                cur.push(c)
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn expand(s: &str, values: &[(String, Value)], used: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let name = &after[..j];
                match values.iter().find(|(n, _)| n == name) {
                    Some((_, v)) => {
                        out.push_str(
                            &crate::kustomization::scalar_string(v)
                                .unwrap_or_else(|| v.to_string()),
                        );
                        if !used.iter().any(|u| u == name) {
                            used.push(name.to_string());
                        }
                    }
                    None => {
                        out.push_str("$(");
                        out.push_str(name);
                        out.push(')');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

pub(crate) fn resolve_vars(
    kust: &Kustomization,
    resources: &mut [Resource],
    vars: &[Var],
    config: &TransformerConfig,
) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values = Vec::new();
    for v in vars {
        let matches: Vec<&Resource> = resources
            .iter()
            .filter(|r| r.ref_vars.contains(&v.name))
            .collect();
        let target = match matches.len() {
            0 => {
                return Err(kust.transform_error(
                    "vars",
                    format!(
                        "var '{}' cannot be mapped to a field in the set of known resources",
                        v.name
                    ),
                ));
            }
            1 => matches[0],
            _ => {
                return Err(kust.transform_error(
                    "vars",
                    format!(
                        "unable to disambiguate var '{}': it matches {} objects",
                        v.name,
                        matches.len()
                    ),
                ));
            }
        };
        let obj = Value::Object(target.obj.clone());
        let value = read_field(&obj, &v.field_path).ok_or_else(|| {
            kust.transform_error(
                "vars",
                format!(
                    "field specified in var '{}' not found in corresponding resource",
                    v.name
                ),
            )
        })?;
        values.push((v.name.clone(), value.clone()));
    }
    let mut used = Vec::new();
    for r in resources.iter_mut() {
        let _ = apply_specs::<()>(r, &config.var_reference, &mut |val| {
            expand_value(val, &values, &mut used);
            Ok(())
        });
    }
    Ok(())
}

fn expand_value(v: &mut Value, values: &[(String, Value)], used: &mut Vec<String>) {
    // A field that is exactly one placeholder takes the var's value with its type.
    if let Value::String(s) = v
        && let Some(name) = s.strip_prefix("$(").and_then(|r| r.strip_suffix(')'))
        && let Some((_, val)) = values.iter().find(|(n, _)| n == name)
    {
        *v = val.clone();
        return;
    }
    match v {
        Value::String(s) if s.contains("$(") => *s = expand(s, values, used),
        Value::Array(items) => items.iter_mut().for_each(|i| expand_value(i, values, used)),
        Value::Object(m) => m.values_mut().for_each(|i| expand_value(i, values, used)),
        _ => {}
    }
}
