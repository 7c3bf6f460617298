//! Multiple sources (`spec.sources`): which sources render, which only lend files through
//! `ref`, and how their objects are merged.
//!
//! Argo CD's rules: every source renders except one that sets `ref` and neither `path` nor
//! `chart` (it only provides `$name/...` files); `$name` is the root of that source even
//! when it also renders; a `ref` source cannot be a Helm-repository chart; when two sources
//! render the same object, the last one wins (Argo CD reports a RepeatedResourceWarning).

use super::{DesiredObject, Rendered};
use crate::resource::ResourceKey;
use crate::types::ApplicationSource;
use std::collections::{BTreeMap, HashMap};

/// What one source contributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRole {
    /// Position in `spec.sources` (from 0).
    pub index: usize,
    /// It is rendered into objects.
    pub renders: bool,
    /// The `ref` name it provides files under.
    pub reference: Option<String>,
}

/// Checks the sources and says what each contributes; `Err` is the spec problem.
pub fn plan(sources: &[&ApplicationSource]) -> Result<Vec<SourceRole>, String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut roles = Vec::new();
    for (index, s) in sources.iter().enumerate() {
        let n = index + 1;
        if s.repo_url.is_empty() {
            return Err(format!(
                "spec.sources[{index}].repoURL: required (source {n})"
            ));
        }
        let reference = s.reference.clone().filter(|r| !r.is_empty());
        let has_chart = s.chart.as_deref().is_some_and(|c| !c.is_empty());
        let has_path = s.path.as_deref().is_some_and(|p| !p.is_empty());
        if let Some(r) = &reference {
            if has_chart {
                return Err(format!(
                    "spec.sources[{index}]: a source with ref {r:?} cannot set chart (source {n})"
                ));
            }
            if !r
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "spec.sources[{index}].ref: {r:?} may hold only letters, digits, '-' and '_'"
                ));
            }
            if let Some(first) = seen.insert(r.clone(), index) {
                return Err(format!(
                    "spec.sources[{index}].ref: {r:?} is already used by spec.sources[{first}]"
                ));
            }
        }
        roles.push(SourceRole {
            index,
            renders: reference.is_none() || has_path || has_chart,
            reference,
        });
    }
    if !roles.iter().any(|r| r.renders) {
        return Err("spec.sources: no source renders objects (every source only sets ref)".into());
    }
    Ok(roles)
}

/// Concatenates renders in source order; an object rendered again by a later source
/// replaces the earlier one in place of the later. Returns the merged render and the keys
/// rendered more than once.
pub fn merge(parts: Vec<Rendered>) -> (Rendered, Vec<ResourceKey>) {
    let mut last: HashMap<ResourceKey, (usize, usize)> = HashMap::new();
    for (p, part) in parts.iter().enumerate() {
        for (i, o) in part.objects.iter().enumerate() {
            last.insert(o.key.clone(), (p, i));
        }
    }
    let mut repeated = Vec::new();
    let mut counted: HashMap<&ResourceKey, usize> = HashMap::new();
    for part in &parts {
        for o in &part.objects {
            *counted.entry(&o.key).or_default() += 1;
        }
    }
    for (k, n) in counted {
        if n > 1 {
            repeated.push(k.clone());
        }
    }
    repeated.sort_by_key(|k| k.to_string());
    let files_read = parts.iter().map(|p| p.files_read).sum();
    let mut objects: Vec<DesiredObject> = Vec::new();
    for (p, part) in parts.into_iter().enumerate() {
        for (i, o) in part.objects.into_iter().enumerate() {
            if last.get(&o.key) == Some(&(p, i)) {
                objects.push(o);
            }
        }
    }
    (
        Rendered {
            objects,
            files_read,
        },
        repeated,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::parse::parse_yaml;

    fn src(repo: &str, path: Option<&str>, reference: Option<&str>) -> ApplicationSource {
        ApplicationSource {
            repo_url: repo.into(),
            path: path.map(String::from),
            reference: reference.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn ref_only_sources_do_not_render() {
        let a = src("https://g/charts.git", Some("web"), None);
        let b = src("https://g/values.git", None, Some("values"));
        let c = src("https://g/extra.git", Some("cm"), Some("extra"));
        let roles = plan(&[&a, &b, &c]).unwrap();
        assert_eq!(
            roles
                .iter()
                .map(|r| (r.renders, r.reference.as_deref()))
                .collect::<Vec<_>>(),
            [(true, None), (false, Some("values")), (true, Some("extra"))]
        );
    }

    #[test]
    fn bad_source_lists_are_spec_errors() {
        let a = src("https://g/a.git", None, Some("v"));
        let b = src("https://g/b.git", None, Some("v"));
        assert!(plan(&[&a, &b]).unwrap_err().contains("already used"));
        assert!(plan(&[&a]).unwrap_err().contains("no source renders"));
        let mut chart = src("https://charts.example.com", None, Some("c"));
        chart.chart = Some("redis".into());
        assert!(plan(&[&chart]).unwrap_err().contains("cannot set chart"));
        let bad = src("https://g/a.git", None, Some("a/b"));
        assert!(plan(&[&bad]).is_err());
        let empty = src("", Some("x"), None);
        assert!(plan(&[&empty]).unwrap_err().contains("repoURL"));
    }

    fn rendered(file: &str, text: &str) -> Rendered {
        Rendered {
            objects: parse_yaml(file, text).unwrap(),
            files_read: 1,
        }
    }

    #[test]
    fn later_sources_win_on_the_same_object() {
        let a = rendered(
            "a.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\ndata: {from: a}\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: only-a}\n",
        );
        let b = rendered(
            "b.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\ndata: {from: b}\n",
        );
        let (merged, repeated) = merge(vec![a, b]);
        let names: Vec<(&str, &str)> = merged
            .objects
            .iter()
            .map(|o| (o.key.name.as_str(), o.file.as_str()))
            .collect();
        assert_eq!(names, [("only-a", "a.yaml"), ("x", "b.yaml")]);
        assert_eq!(merged.objects[1].object["data"]["from"], "b");
        assert_eq!(repeated.len(), 1);
        assert_eq!(merged.files_read, 2);
    }
}
