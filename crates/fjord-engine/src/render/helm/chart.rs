//! A chart on disk for helm: the chart directory copied out of the source tree (a Git
//! commit has no working copy), together with the local `file://` dependencies it names,
//! at the same relative places so their relative paths still resolve.

use super::super::tree::{SourceTree, join};
use super::super::{RenderError, tree};
use super::files::resolve_relative;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One `dependencies[]` entry of a chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// Chart name.
    pub name: String,
    /// `repository` (`file://../x`, `https://...`, `oci://...`, or an `@alias`).
    pub repository: String,
}

/// The chart's dependencies, from `Chart.yaml` (apiVersion v2) or `requirements.yaml` (v1).
pub fn dependencies(
    tree: &dyn SourceTree,
    chart_path: &str,
) -> Result<Vec<Dependency>, RenderError> {
    let mut out = Vec::new();
    for file in ["Chart.yaml", "requirements.yaml"] {
        let path = join(chart_path, file);
        if !tree.is_file(&path) {
            continue;
        }
        let text = read_text(tree, &path)?;
        let doc: Value = serde_norway::from_str(&text).map_err(|e| RenderError::InvalidYaml {
            file: path.clone(),
            document: 1,
            message: e.to_string(),
        })?;
        for d in doc
            .get("dependencies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(Dependency {
                name: d.get("name").and_then(Value::as_str).unwrap_or("").into(),
                repository: d
                    .get("repository")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
            });
        }
    }
    Ok(out)
}

fn read_text(tree: &dyn SourceTree, path: &str) -> Result<String, RenderError> {
    let bytes = tree.read_file(path).map_err(|source| RenderError::Read {
        path: path.to_string(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| RenderError::NotUtf8 {
        file: path.to_string(),
    })
}

/// Copies the chart at `chart_path` (and, recursively, its `file://` dependencies) from
/// `tree` under `root`, keeping tree paths; returns the chart's directory on disk.
pub fn materialize(
    tree: &dyn SourceTree,
    chart_path: &str,
    root: &Path,
) -> Result<PathBuf, RenderError> {
    let mut done = BTreeSet::new();
    copy_chart(tree, chart_path, root, &mut done)?;
    Ok(root.join(chart_path))
}

fn copy_chart(
    tree: &dyn SourceTree,
    chart_path: &str,
    root: &Path,
    done: &mut BTreeSet<String>,
) -> Result<(), RenderError> {
    if !done.insert(chart_path.to_string()) {
        return Ok(());
    }
    copy_dir(tree, chart_path, root)?;
    for dep in dependencies(tree, chart_path)? {
        let Some(rel) = dep.repository.strip_prefix("file://") else {
            continue;
        };
        let dep_path =
            resolve_relative(chart_path, rel).ok_or_else(|| RenderError::PathOutsideRepo {
                path: format!("{chart_path}: dependency {} at {rel}", dep.name),
            })?;
        if tree.is_dir(&dep_path) {
            copy_chart(tree, &dep_path, root, done)?;
        }
    }
    Ok(())
}

fn copy_dir(tree: &dyn SourceTree, dir: &str, root: &Path) -> Result<(), RenderError> {
    let target = root.join(dir);
    std::fs::create_dir_all(&target).map_err(|e| write_error(&target, e))?;
    let entries = tree.list_dir(dir).map_err(|source| RenderError::Read {
        path: dir.to_string(),
        source,
    })?;
    for entry in entries {
        let path = tree::join(dir, &entry.name);
        if entry.is_dir {
            copy_dir(tree, &path, root)?;
        } else {
            let bytes = tree.read_file(&path).map_err(|source| RenderError::Read {
                path: path.clone(),
                source,
            })?;
            let file = root.join(&path);
            std::fs::write(&file, bytes).map_err(|e| write_error(&file, e))?;
        }
    }
    Ok(())
}

pub(super) fn write_error(path: &Path, e: std::io::Error) -> RenderError {
    RenderError::Helm {
        path: path.display().to_string(),
        message: format!("preparing files for helm: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::MemoryTree;

    #[test]
    fn chart_and_local_dependencies_are_copied_at_their_tree_paths() {
        let t = MemoryTree::new()
            .with_file(
                "charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n- name: common\n  version: 0.1.0\n  repository: file://../../lib/common\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n",
            )
            .with_file("charts/web/templates/cm.yaml", "kind: ConfigMap")
            .with_file("lib/common/Chart.yaml", "apiVersion: v2\nname: common\nversion: 0.1.0\n")
            .with_file("lib/common/templates/_h.tpl", "{{/* */}}")
            .with_file("other/x.yaml", "not copied");
        let dir = tempfile::tempdir().unwrap();
        let chart = materialize(&t, "charts/web", dir.path()).unwrap();
        assert_eq!(chart, dir.path().join("charts/web"));
        assert!(chart.join("templates/cm.yaml").is_file());
        assert!(dir.path().join("lib/common/templates/_h.tpl").is_file());
        assert!(!dir.path().join("other").exists());
        let deps = dependencies(&t, "charts/web").unwrap();
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[1].repository, "https://charts.example.com");
    }
}
