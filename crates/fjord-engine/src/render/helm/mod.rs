//! Helm sources: `helm template` through the external helm v3 binary.
//!
//! The chart comes from a [`SourceTree`] (a Git commit, or a chart pulled from a Helm
//! repository and unpacked, see [`repo`]); it is copied to a temporary directory with its
//! local dependencies ([`chart`]), value files and `--set-file` files are read from the
//! chart's tree or from another source (`$ref/...`, [`files`]) and written beside it, and
//! the command line is built purely ([`args`]). `.Capabilities` come from the caller (the
//! controller reads the target cluster's discovery), so this module never talks to an API.
//! `helm dependency build` runs only when the chart has dependencies and no `charts/`.

pub mod args;
pub mod chart;
pub mod files;
pub mod repo;
pub mod run;

pub use args::Capabilities;
pub use run::{HELM_ENV, HelmRunError};

use super::parse::parse_yaml;
use super::tree::SourceTree;
use super::{RenderContext, RenderError, Rendered, Renderer};
use crate::types::{ApplicationSource, HelmSource};
use args::{TemplateInputs, inline_values, template_args};
use files::FileRef;
use run::HelmCommand;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Renders Helm charts with the helm binary.
#[derive(Clone, Debug)]
pub struct HelmRenderer {
    /// A fixed binary; `None` looks it up at each render (`FJORD_HELM`, then `PATH`).
    pub binary: Option<PathBuf>,
    /// Private helm home (cache, config, data) and pulled charts.
    pub home: PathBuf,
    /// Time limit per helm invocation.
    pub timeout: Duration,
}

impl HelmRenderer {
    /// A renderer keeping helm's state under `home`.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        HelmRenderer {
            binary: None,
            home: home.into(),
            timeout: run::DEFAULT_TIMEOUT,
        }
    }

    /// The helm command, or [`RenderError::HelmNotInstalled`].
    pub fn command(&self) -> Result<HelmCommand, RenderError> {
        let binary = match &self.binary {
            Some(b) if b.is_file() => b.clone(),
            Some(b) => {
                return Err(RenderError::HelmNotInstalled(format!(
                    "the configured helm binary {} does not exist",
                    b.display()
                )));
            }
            None => run::locate().map_err(|e| match e {
                HelmRunError::NotInstalled(m) => RenderError::HelmNotInstalled(m),
                other => RenderError::Helm {
                    path: String::new(),
                    message: other.to_string(),
                },
            })?,
        };
        Ok(HelmCommand {
            binary,
            home: self.home.clone(),
            timeout: self.timeout,
        })
    }

    /// Renders the chart at `path` in `tree` for `source`, with the Application's release
    /// name, namespace, capabilities and `ref` sources from `ctx`.
    pub fn render_chart(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        source: &ApplicationSource,
        ctx: &RenderContext<'_>,
    ) -> Result<Rendered, RenderError> {
        let default_helm = HelmSource::default();
        let helm = source.helm.as_deref().unwrap_or(&default_helm);
        if let Some(v) = helm.version.as_deref()
            && !v.is_empty()
            && v != "v3"
        {
            return Err(RenderError::Unsupported {
                what: format!("helm.version {v:?} (only v3)"),
                at: Some(path.to_string()),
            });
        }
        let helm_cmd = self.command()?;
        std::fs::create_dir_all(&self.home).map_err(|e| chart::write_error(&self.home, e))?;
        let work = tempfile::Builder::new()
            .prefix("render-")
            .tempdir_in(&self.home)
            .map_err(|e| chart::write_error(&self.home, e))?;
        let chart_dir = chart::materialize(tree, path, &work.path().join("tree"))?;
        let helm_err = |message: String| RenderError::Helm {
            path: path.to_string(),
            message,
        };
        let deps = chart::dependencies(tree, path)?;
        if !deps.is_empty() && !tree.is_dir(&super::tree::join(path, "charts")) {
            let remote: Vec<&str> = deps
                .iter()
                .filter(|d| !d.repository.starts_with("file://"))
                .map(|d| d.repository.as_str())
                .collect();
            let build = vec![
                "dependency".to_string(),
                "build".to_string(),
                chart_dir.display().to_string(),
            ];
            helm_cmd
                .run("dependency build", &build, work.path())
                .map_err(|e| {
                    let network = if remote.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (charts/ is missing, so the dependencies are fetched over the network from {})",
                            remote.join(", ")
                        )
                    };
                    helm_err(format!("{e}{network}"))
                })?;
        }
        let files_dir = work.path().join("files");
        std::fs::create_dir_all(&files_dir).map_err(|e| chart::write_error(&files_dir, e))?;
        let mut value_files = Vec::new();
        for (i, file) in helm.value_files.iter().enumerate() {
            let ignore_missing = helm.ignore_missing_value_files.unwrap_or(false);
            match fetch_file(tree, path, ctx, file, "valueFiles", &files_dir, i)? {
                Some(p) => value_files.push(p),
                None if ignore_missing => {}
                None => {
                    return Err(RenderError::HelmFile {
                        field: "helm.valueFiles",
                        file: file.clone(),
                        message:
                            "not found (set helm.ignoreMissingValueFiles to skip missing files)"
                                .into(),
                    });
                }
            }
        }
        if let Some(values) = inline_values(helm) {
            let p = files_dir.join("inline-values.yaml");
            std::fs::write(&p, values).map_err(|e| chart::write_error(&p, e))?;
            value_files.push(p);
        }
        let mut file_parameters = Vec::new();
        for (i, fp) in helm.file_parameters.iter().enumerate() {
            let p = fetch_file(tree, path, ctx, &fp.path, "fileParameters", &files_dir, i)?
                .ok_or_else(|| RenderError::HelmFile {
                    field: "helm.fileParameters",
                    file: fp.path.clone(),
                    message: "not found".into(),
                })?;
            file_parameters.push((fp.name.clone(), p));
        }
        let namespace = helm
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ctx.namespace.to_string());
        let release_name = match helm.release_name.as_deref() {
            Some(r) if !r.is_empty() => r.to_string(),
            _ if !ctx.app_name.is_empty() => ctx.app_name.to_string(),
            _ => "release-name".to_string(),
        };
        let inputs = TemplateInputs {
            release_name,
            namespace,
            chart: chart_dir,
            value_files,
            file_parameters,
            capabilities: ctx.capabilities.cloned().unwrap_or_default(),
        };
        let output = helm_cmd
            .run("template", &template_args(helm, &inputs), work.path())
            .map_err(|e| match e {
                HelmRunError::NotInstalled(m) => RenderError::HelmNotInstalled(m),
                other => helm_err(other.to_string()),
            })?;
        parse_template_output(path, &output)
    }
}

impl Renderer for HelmRenderer {
    fn render(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        source: &ApplicationSource,
    ) -> Result<Rendered, RenderError> {
        self.render_chart(tree, path, source, &RenderContext::default())
    }
}

/// Copies one referenced file (value file or `--set-file` path) to `dir`; `Ok(None)` when
/// it does not exist. URLs are passed to helm as they are.
fn fetch_file(
    tree: &dyn SourceTree,
    chart_path: &str,
    ctx: &RenderContext<'_>,
    file: &str,
    field: &'static str,
    dir: &Path,
    index: usize,
) -> Result<Option<PathBuf>, RenderError> {
    let field_name = if field == "valueFiles" {
        "helm.valueFiles"
    } else {
        "helm.fileParameters"
    };
    let bad = |message: String| RenderError::HelmFile {
        field: field_name,
        file: file.to_string(),
        message,
    };
    let (source_tree, path): (&dyn SourceTree, String) =
        match files::classify(file, chart_path).map_err(bad)? {
            FileRef::Url(u) => return Ok(Some(PathBuf::from(u))),
            FileRef::Tree(p) => (tree, p),
            FileRef::Ref { name, path } => match ctx.reference(&name) {
                Some(t) => (t, path),
                None => {
                    return Err(bad(format!(
                        "source referenced \"${name}\", but no source has a 'ref' field of {name:?}"
                    )));
                }
            },
        };
    if !source_tree.is_file(&path) {
        return Ok(None);
    }
    let bytes = source_tree
        .read_file(&path)
        .map_err(|e| bad(e.to_string()))?;
    let base = path.rsplit('/').next().unwrap_or("file");
    let target = dir.join(format!("{field}-{index}-{base}"));
    std::fs::write(&target, bytes).map_err(|e| chart::write_error(&target, e))?;
    Ok(Some(target))
}

/// Splits `helm template` output into documents, naming each by its `# Source:` comment.
pub fn parse_template_output(chart_path: &str, output: &str) -> Result<Rendered, RenderError> {
    let mut objects = Vec::new();
    let mut files = std::collections::BTreeSet::new();
    let mut chunks: Vec<String> = vec![String::new()];
    for line in output.lines() {
        if line.trim_end() == "---" {
            chunks.push(String::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    let mut per_file: std::collections::HashMap<String, usize> = Default::default();
    for chunk in chunks {
        if chunk.trim().is_empty() {
            continue;
        }
        let file = chunk
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| chart_path.to_string());
        let n = per_file.entry(file.clone()).or_insert(0);
        *n += 1;
        for mut o in parse_yaml(&file, &chunk)? {
            o.document = *n;
            objects.push(o);
        }
        files.insert(file);
    }
    Ok(Rendered {
        objects,
        files_read: files.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_output_is_split_by_source() {
        let out = "---\n# Source: web/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# Source: web/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---\n# Source: web/templates/empty.yaml\n# nothing\n---\n# Source: web/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n";
        let r = parse_template_output("charts/web", out).unwrap();
        let got: Vec<(&str, usize, &str)> = r
            .objects
            .iter()
            .map(|o| (o.file.as_str(), o.document, o.key.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("web/templates/cm.yaml", 1, "a"),
                ("web/templates/cm.yaml", 2, "b"),
                ("web/templates/svc.yaml", 1, "s"),
            ]
        );
    }

    #[test]
    fn a_missing_binary_is_its_own_error() {
        let r = HelmRenderer {
            binary: Some("/nonexistent/helm".into()),
            ..HelmRenderer::new(std::env::temp_dir())
        };
        let err = r.command().unwrap_err();
        assert!(matches!(err, RenderError::HelmNotInstalled(_)), "{err}");
        assert!(err.to_string().contains("/nonexistent/helm"), "{err}");
    }
}
