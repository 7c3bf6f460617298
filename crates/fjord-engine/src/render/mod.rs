//! Rendering: desired objects from a source tree.
//!
//! A [`Renderer`] turns one Application source (a path in a [`SourceTree`]) into
//! [`Rendered`] objects. The directory renderer lives here; kustomize (a separate native
//! crate) and Helm (the external helm binary, [`helm`]) plug in behind the same trait,
//! chosen by [`detect_source_type`] with Argo CD's rules. What a render needs beyond the
//! source (the Application's name and namespace, the cluster's capabilities, the trees of
//! `ref` sources) travels in a [`RenderContext`]; [`sources`] plans and merges multi-source
//! renders. An empty result is not an error but is reported as such
//! ([`Rendered::is_empty`], [`Rendered::may_prune`]): the controller must never prune on it
//! unless the Application allows empty.

pub mod cache;
pub mod directory;
pub mod helm;
pub mod kustomize;
pub mod parse;
pub mod sources;
pub mod tree;
mod yaml11;

pub use directory::DirectoryRenderer;
pub use helm::{Capabilities, HelmRenderer};
pub use kustomize::KustomizeRenderer;
pub use tree::{DirEntry, LocalTree, MemoryTree, SourceTree, TreeError};

use crate::resource::ResourceKey;
use crate::types::ApplicationSource;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a render needs beyond the source itself.
#[derive(Clone, Copy, Default)]
pub struct RenderContext<'a> {
    /// The Application's name (Helm's default release name).
    pub app_name: &'a str,
    /// The destination namespace (Helm's release namespace).
    pub namespace: &'a str,
    /// The target cluster's `.Capabilities`, when known.
    pub capabilities: Option<&'a Capabilities>,
    /// Trees of the sources with `ref: name`, for `$name/...` value files.
    pub refs: Option<&'a BTreeMap<String, &'a dyn SourceTree>>,
}

impl<'a> RenderContext<'a> {
    /// The tree of the source with `ref: name`.
    pub fn reference(&self, name: &str) -> Option<&'a dyn SourceTree> {
        self.refs.and_then(|r| r.get(name).copied())
    }
}

/// One rendered object and where it came from. `Debug` masks Secret values.
#[derive(Clone, PartialEq)]
pub struct DesiredObject {
    /// Its key.
    pub key: ResourceKey,
    /// The object as rendered.
    pub object: Value,
    /// The file it came from (tree path).
    pub file: String,
    /// The document within the file, counting from 1.
    pub document: usize,
}

impl std::fmt::Debug for DesiredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut object = self.object.clone();
        crate::diff::mask_secret(&mut object);
        f.debug_struct("DesiredObject")
            .field("key", &self.key)
            .field("object", &object)
            .field("file", &self.file)
            .field("document", &self.document)
            .finish()
    }
}

/// The output of a render.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// Objects in file and document order.
    pub objects: Vec<DesiredObject>,
    /// How many manifest files were read.
    pub files_read: usize,
}

impl Rendered {
    /// True when no object was rendered.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Whether a sync may prune against this result: never on an empty render unless the
    /// Application sets `allowEmpty`.
    pub fn may_prune(&self, allow_empty: bool) -> bool {
        allow_empty || !self.is_empty()
    }
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The application path does not exist or is not a directory.
    #[error("app path {path:?} does not exist or is not a directory")]
    PathNotFound {
        /// The path.
        path: String,
    },
    /// The application path leaves the repository.
    #[error("app path {path:?} leaves the repository")]
    PathOutsideRepo {
        /// The path.
        path: String,
    },
    /// Reading the tree failed.
    #[error("reading {path}: {source}")]
    Read {
        /// What was being read.
        path: String,
        /// The cause.
        #[source]
        source: TreeError,
    },
    /// A YAML document does not parse.
    #[error("{file}: document {document}: invalid YAML: {message}")]
    InvalidYaml {
        /// The file.
        file: String,
        /// The document, counting from 1.
        document: usize,
        /// The parser's message.
        message: String,
    },
    /// A JSON file does not parse.
    #[error("{file}: invalid JSON: {message}")]
    InvalidJson {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A document is not a valid Kubernetes object.
    #[error("{file}: document {document}: {problem}")]
    InvalidObject {
        /// The file.
        file: String,
        /// The document, counting from 1.
        document: usize,
        /// What is wrong.
        problem: String,
    },
    /// A file is not UTF-8.
    #[error("{file}: not UTF-8 text")]
    NotUtf8 {
        /// The file.
        file: String,
    },
    /// An include or exclude glob is invalid.
    #[error("directory.{option}: invalid glob {glob:?}: {message}")]
    InvalidGlob {
        /// `include` or `exclude`.
        option: &'static str,
        /// The glob.
        glob: String,
        /// The glob compiler's message.
        message: String,
    },
    /// The source needs something this build cannot do (Jsonnet, Helm, a missing renderer).
    #[error("{what} is not supported{}", at.as_deref().map(|f| format!(" ({f})")).unwrap_or_default())]
    Unsupported {
        /// What is not supported.
        what: String,
        /// The file that needs it, when there is one.
        at: Option<String>,
    },
    /// `kustomize build` failed.
    #[error("kustomize build {path}: {message}")]
    Kustomize {
        /// The kustomization directory (tree path).
        path: String,
        /// The kustomize error (file and field included).
        message: String,
    },
    /// The source sets more than one tool block.
    #[error("multiple application sources defined: {0}")]
    AmbiguousSourceType(String),
    /// No helm binary is available.
    #[error("{0}")]
    HelmNotInstalled(String),
    /// `helm template` or `helm dependency build` failed.
    #[error("helm chart {path:?}: {message}")]
    Helm {
        /// The chart path (tree path or local directory).
        path: String,
        /// What failed (helm's own message included).
        message: String,
    },
    /// A value file or `--set-file` path is missing or invalid.
    #[error("{field}: {file}: {message}")]
    HelmFile {
        /// `helm.valueFiles` or `helm.fileParameters`.
        field: &'static str,
        /// The file as written in the Application.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A chart could not be pulled from a Helm repository.
    #[error("pulling chart {chart:?} from {repo}: {message}")]
    HelmPull {
        /// The repository URL.
        repo: String,
        /// The chart name.
        chart: String,
        /// What failed.
        message: String,
    },
}

/// Renders one source.
pub trait Renderer: Send + Sync {
    /// Renders `source` at `path` (normalised, relative to the tree root) from `tree`.
    fn render(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        source: &ApplicationSource,
    ) -> Result<Rendered, RenderError>;
}

/// The tool a source is rendered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceType {
    /// Plain manifests.
    Directory,
    /// `kustomize build`.
    Kustomize,
    /// `helm template`.
    Helm,
    /// A config-management plugin.
    Plugin,
}

impl SourceType {
    /// Argo CD's `status.sourceType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::Directory => "Directory",
            SourceType::Kustomize => "Kustomize",
            SourceType::Helm => "Helm",
            SourceType::Plugin => "Plugin",
        }
    }
}

/// The kustomization file names kustomize looks for, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Picks the tool with Argo CD's rules: an explicit block (`helm`, `kustomize`,
/// `directory`, `plugin`) wins, and two are an error; otherwise a chart (`chart` set or
/// `Chart.yaml` present) means Helm, a kustomization file means Kustomize, else Directory.
pub fn detect_source_type(
    tree: &dyn SourceTree,
    path: &str,
    source: &ApplicationSource,
) -> Result<SourceType, RenderError> {
    let mut explicit = Vec::new();
    if source.helm.is_some() {
        explicit.push(SourceType::Helm);
    }
    if source.kustomize.is_some() {
        explicit.push(SourceType::Kustomize);
    }
    if source.directory.is_some() {
        explicit.push(SourceType::Directory);
    }
    if source.plugin.is_some() {
        explicit.push(SourceType::Plugin);
    }
    match explicit.as_slice() {
        [one] => return Ok(*one),
        [] => {}
        many => {
            let names: Vec<&str> = many.iter().map(|t| t.as_str()).collect();
            return Err(RenderError::AmbiguousSourceType(names.join(", ")));
        }
    }
    if source.chart.is_some() || tree.is_file(&tree::join(path, "Chart.yaml")) {
        return Ok(SourceType::Helm);
    }
    if KUSTOMIZATION_FILES
        .iter()
        .any(|f| tree.is_file(&tree::join(path, f)))
    {
        return Ok(SourceType::Kustomize);
    }
    Ok(SourceType::Directory)
}

/// The renderers available to the controller, one per tool; tools without a renderer
/// report [`RenderError::Unsupported`].
#[derive(Default)]
pub struct Renderers {
    /// Plain directories (always available).
    pub directory: DirectoryRenderer,
    /// Kustomize, when the native crate is wired in.
    pub kustomize: Option<Box<dyn Renderer>>,
    /// Helm, when configured (else Helm sources are [`RenderError::Unsupported`]).
    pub helm: Option<HelmRenderer>,
}

impl Renderers {
    /// The directory and native kustomize renderers.
    pub fn with_kustomize() -> Self {
        Renderers {
            kustomize: Some(Box::new(KustomizeRenderer::default())),
            ..Default::default()
        }
    }

    /// Directory, native kustomize and helm.
    pub fn with_kustomize_and_helm(helm: HelmRenderer) -> Self {
        Renderers {
            helm: Some(helm),
            ..Renderers::with_kustomize()
        }
    }

    /// Detects the tool and renders `source` from `tree` without Application context.
    pub fn render(
        &self,
        tree: &dyn SourceTree,
        source: &ApplicationSource,
    ) -> Result<(SourceType, Rendered), RenderError> {
        self.render_with(tree, source, &RenderContext::default())
    }

    /// Renders a chart unpacked from a Helm repository (`path` is its directory in `tree`).
    pub fn render_helm_chart(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        source: &ApplicationSource,
        ctx: &RenderContext<'_>,
    ) -> Result<Rendered, RenderError> {
        self.helm
            .as_ref()
            .ok_or_else(|| unsupported("helm"))?
            .render_chart(tree, path, source, ctx)
    }

    /// Detects the tool and renders `source` from `tree` for the Application in `ctx`.
    pub fn render_with(
        &self,
        tree: &dyn SourceTree,
        source: &ApplicationSource,
        ctx: &RenderContext<'_>,
    ) -> Result<(SourceType, Rendered), RenderError> {
        let raw = source.path.as_deref().unwrap_or("");
        let path = tree::normalize(raw).ok_or_else(|| RenderError::PathOutsideRepo {
            path: raw.to_string(),
        })?;
        if !tree.is_dir(&path) {
            return Err(RenderError::PathNotFound { path });
        }
        let kind = detect_source_type(tree, &path, source)?;
        if kind == SourceType::Helm {
            let rendered = self.render_helm_chart(tree, &path, source, ctx)?;
            return Ok((kind, rendered));
        }
        let renderer: &dyn Renderer = match kind {
            SourceType::Directory => &self.directory,
            SourceType::Kustomize => self
                .kustomize
                .as_deref()
                .ok_or_else(|| unsupported("kustomize"))?,
            SourceType::Helm => return Err(unsupported("helm")),
            SourceType::Plugin => return Err(unsupported("config management plugins")),
        };
        Ok((kind, renderer.render(tree, &path, source)?))
    }
}

fn unsupported(what: &str) -> RenderError {
    RenderError::Unsupported {
        what: what.to_string(),
        at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{HelmSource, KustomizeSource};

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";

    #[test]
    fn detection_follows_argo_rules() {
        let t = MemoryTree::new()
            .with_file("k/kustomization.yaml", "resources: []")
            .with_file("h/Chart.yaml", "name: x")
            .with_file("d/a.yaml", CM);
        let plain = ApplicationSource::default();
        assert_eq!(
            detect_source_type(&t, "k", &plain).unwrap(),
            SourceType::Kustomize
        );
        assert_eq!(
            detect_source_type(&t, "h", &plain).unwrap(),
            SourceType::Helm
        );
        assert_eq!(
            detect_source_type(&t, "d", &plain).unwrap(),
            SourceType::Directory
        );
        let both = ApplicationSource {
            helm: Some(Box::new(HelmSource::default())),
            kustomize: Some(Box::new(KustomizeSource::default())),
            ..Default::default()
        };
        assert_eq!(
            detect_source_type(&t, "d", &both).unwrap_err().to_string(),
            "multiple application sources defined: Helm, Kustomize"
        );
    }

    #[test]
    fn missing_renderer_and_bad_paths_are_errors_not_empty_results() {
        let t = MemoryTree::new().with_file("k/kustomization.yaml", "resources: []");
        let r = Renderers::default();
        let src = |p: &str| ApplicationSource {
            path: Some(p.into()),
            ..Default::default()
        };
        assert_eq!(
            r.render(&t, &src("k")).unwrap_err().to_string(),
            "kustomize is not supported"
        );
        assert_eq!(
            r.render(&t, &src("missing")).unwrap_err().to_string(),
            "app path \"missing\" does not exist or is not a directory"
        );
        assert!(matches!(
            r.render(&t, &src("../x")),
            Err(RenderError::PathOutsideRepo { .. })
        ));
    }

    /// A stand-in for the native kustomize crate: proves the seam passes tree, path and
    /// source through.
    struct FakeKustomize;

    impl Renderer for FakeKustomize {
        fn render(
            &self,
            tree: &dyn SourceTree,
            path: &str,
            source: &ApplicationSource,
        ) -> Result<Rendered, RenderError> {
            let text = tree
                .read_file(&tree::join(path, "kustomization.yaml"))
                .map_err(|source| RenderError::Read {
                    path: path.to_string(),
                    source,
                })?;
            let prefix = source
                .kustomize
                .as_ref()
                .and_then(|k| k.name_prefix.clone())
                .unwrap_or_default();
            let name = format!("{prefix}{}", String::from_utf8_lossy(&text).trim());
            let objects = parse::parse_yaml(
                "generated",
                &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"),
            )?;
            Ok(Rendered {
                objects,
                files_read: 1,
            })
        }
    }

    #[test]
    fn kustomize_plugs_in_behind_the_trait() {
        let t = MemoryTree::new().with_file("k8s/overlays/production/kustomization.yaml", "cm");
        let r = Renderers {
            kustomize: Some(Box::new(FakeKustomize)),
            ..Default::default()
        };
        let src = ApplicationSource {
            path: Some("./k8s/overlays/production/".into()),
            kustomize: Some(Box::new(KustomizeSource {
                name_prefix: Some("prod-".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let (kind, rendered) = r.render(&t, &src).unwrap();
        assert_eq!(kind, SourceType::Kustomize);
        assert_eq!(rendered.objects[0].key.name, "prod-cm");
    }

    #[test]
    fn debug_output_masks_secrets() {
        let t = MemoryTree::new().with_file(
            "app/s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: aHVudGVyMg==}\nstringData: {p: hunter2}\n",
        );
        let r = DirectoryRenderer.render_dir(&t, "app", None).unwrap();
        let text = format!("{r:?}");
        assert!(
            !text.contains("aHVudGVyMg==") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("++++++++"));
        // The object itself is untouched.
        assert_eq!(r.objects[0].object["stringData"]["p"], "hunter2");
    }

    #[test]
    fn empty_render_blocks_prune_unless_allowed() {
        let empty = Rendered::default();
        assert!(empty.is_empty());
        assert!(!empty.may_prune(false));
        assert!(empty.may_prune(true));
    }
}
