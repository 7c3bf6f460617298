//! `buildMetadata`: annotations recording where each object came from (`originAnnotations`)
//! and the `app.kubernetes.io/managed-by` label (`managedByLabel`), added at the end of the
//! top-level build.

use crate::error::Result;
use crate::kustomization::Kustomization;
use crate::resource::{Origin, Resource};
use serde_json::{Map, Value};
use std::path::{Component, Path};

/// The label value kubectl's embedded kustomize writes.
const MANAGED_BY: &str = "kustomize-(devel)";

/// `to` relative to the directory `from` (both absolute and normalized), with `..` as needed.
pub(crate) fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(t.iter()).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..f.len() {
        parts.push("..".into());
    }
    for c in &t[common..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    parts.join("/")
}

fn origin_text(origin: &Origin, root: &Path) -> String {
    match origin {
        Origin::File(p) => format!("path: {}\n", relative(root, p)),
        Origin::Generator { file, kind, name } => {
            let mut s = format!(
                "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n",
                relative(root, file)
            );
            if let Some(n) = name {
                s.push_str(&format!("  name: {n}\n"));
            }
            s
        }
    }
}

fn put(meta_field: &str, r: &mut Resource, key: &str, value: String) {
    let meta = r.metadata_mut();
    let entry = meta
        .entry(meta_field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(m) = entry {
        m.insert(key.to_string(), Value::String(value));
    }
}

pub(crate) fn apply_build_metadata(
    kust: &Kustomization,
    root: &Path,
    resources: &mut [Resource],
) -> Result<()> {
    let options = kust.strings("buildMetadata")?;
    for opt in &options {
        match opt.as_str() {
            "originAnnotations" => {
                for r in resources.iter_mut() {
                    if let Some(o) = r.origin.clone() {
                        put(
                            "annotations",
                            r,
                            "config.kubernetes.io/origin",
                            origin_text(&o, root),
                        );
                    }
                }
            }
            "managedByLabel" => {
                for r in resources.iter_mut() {
                    put(
                        "labels",
                        r,
                        "app.kubernetes.io/managed-by",
                        MANAGED_BY.to_string(),
                    );
                }
            }
            "transformerAnnotations" => {
                for r in resources.iter_mut() {
                    if r.transformations.is_empty() {
                        continue;
                    }
                    let mut text = String::new();
                    for t in &r.transformations {
                        text.push_str(&format!(
                            "- configuredIn: {}\n  configuredBy:\n    apiVersion: builtin\n    kind: {}\n",
                            relative(root, &t.file),
                            t.kind
                        ));
                        if let Some(n) = &t.name {
                            text.push_str(&format!("    name: {n}\n"));
                        }
                        if let Some(ns) = &t.namespace {
                            text.push_str(&format!("    namespace: {ns}\n"));
                        }
                    }
                    put(
                        "annotations",
                        r,
                        "alpha.config.kubernetes.io/transformations",
                        text,
                    );
                }
            }
            other => {
                return Err(kust.field_error(
                    "buildMetadata",
                    format!("invalid option {other:?}: must be one of managedByLabel, originAnnotations, transformerAnnotations"),
                ));
            }
        }
    }
    Ok(())
}

/// kustomize rewrites annotations as strings when it writes an object (a value a patch set
/// to a number or boolean comes out quoted) and leaves out an empty (or null) annotation map.
pub(crate) fn normalize_annotations(r: &mut Resource) {
    let Some(Value::Object(meta)) = r.obj.get_mut("metadata") else {
        return;
    };
    if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
        for v in ann.values_mut() {
            match v {
                Value::String(_) => {}
                Value::Number(n) => *v = Value::String(n.to_string()),
                Value::Bool(b) => *v = Value::String(b.to_string()),
                _ => *v = Value::String(String::new()),
            }
        }
    }
    if meta
        .get("annotations")
        .is_some_and(|a| a.is_null() || a.as_object().is_some_and(Map::is_empty))
    {
        meta.remove("annotations");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_out_of_the_root() {
        assert_eq!(
            relative(Path::new("/a/prod"), Path::new("/a/base/x.yaml")),
            "../base/x.yaml"
        );
        assert_eq!(
            relative(Path::new("/a/prod"), Path::new("/a/prod/x.yaml")),
            "x.yaml"
        );
    }
}
