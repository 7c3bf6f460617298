//! Kustomize sources, rendered by the native `fjord-kustomize` crate straight from a
//! [`SourceTree`] (a Git commit's tree or a local directory, no working copy).
//!
//! The kustomize crate reads files through its own `FileSource` trait with absolute paths;
//! [`TreeFileSource`] maps `/` to the tree root, so the load restrictor's "stay inside the
//! root" rule and the tree's "stay inside the repository" rule both hold. Trees resolve
//! symlinks themselves (refusing escapes), so the canonical form of a path is its lexical
//! normalisation.
//!
//! The Application's own `kustomize` options (`namePrefix`, `images`, ...) are applied by
//! Argo CD through `kustomize edit`; Fjord does not implement them yet and reports a source
//! that sets one as unsupported rather than rendering something else.

use super::tree::{self, SourceTree};
use super::{DesiredObject, RenderError, Rendered, Renderer};
use crate::resource::ResourceKey;
use crate::types::{ApplicationSource, KustomizeSource};
use std::io;
use std::path::{Component, Path, PathBuf};

/// Renders kustomizations with the native kustomize crate.
#[derive(Clone, Debug, Default)]
pub struct KustomizeRenderer {
    /// Build options (load restrictor).
    pub options: fjord_kustomize::BuildOptions,
}

/// A [`SourceTree`] seen as a kustomize `FileSource`: absolute paths, `/` is the tree root.
pub struct TreeFileSource<'a> {
    tree: &'a dyn SourceTree,
}

impl<'a> TreeFileSource<'a> {
    /// Wraps `tree`.
    pub fn new(tree: &'a dyn SourceTree) -> Self {
        TreeFileSource { tree }
    }

    /// The tree path of an absolute (or root-relative) path; `None` when it leaves the root.
    fn tree_path(path: &Path) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    parts.pop()?;
                }
                Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            }
        }
        Some(parts.join("/"))
    }

    fn not_found(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no such file or directory", path.display()),
        )
    }
}

fn absolute(tree_path: &str) -> PathBuf {
    Path::new("/").join(tree_path)
}

fn io_error(e: tree::TreeError) -> io::Error {
    let kind = match e {
        tree::TreeError::NotFound { .. } => io::ErrorKind::NotFound,
        tree::TreeError::OutsideTree { .. } => io::ErrorKind::PermissionDenied,
        tree::TreeError::Io { .. } => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

impl fjord_kustomize::FileSource for TreeFileSource<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let p = Self::tree_path(path).ok_or_else(|| Self::not_found(path))?;
        self.tree.read_file(&p).map_err(io_error)
    }

    fn is_dir(&self, path: &Path) -> bool {
        Self::tree_path(path).is_some_and(|p| self.tree.is_dir(&p))
    }

    fn is_file(&self, path: &Path) -> bool {
        Self::tree_path(path).is_some_and(|p| self.tree.is_file(&p))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let p = Self::tree_path(path).ok_or_else(|| Self::not_found(path))?;
        Ok(self
            .tree
            .list_dir(&p)
            .map_err(io_error)?
            .into_iter()
            .map(|e| absolute(&tree::join(&p, &e.name)))
            .collect())
    }

    fn canonical(&self, path: &Path) -> io::Result<PathBuf> {
        let p = Self::tree_path(path).ok_or_else(|| Self::not_found(path))?;
        if self.tree.is_file(&p) || self.tree.is_dir(&p) {
            Ok(absolute(&p))
        } else {
            Err(Self::not_found(path))
        }
    }
}

/// The options of an Application's `kustomize` block that Fjord does not apply yet.
fn unsupported_options(k: &KustomizeSource) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |set: bool, name: &'static str| {
        if set {
            out.push(name);
        }
    };
    check(k.name_prefix.is_some(), "namePrefix");
    check(k.name_suffix.is_some(), "nameSuffix");
    check(k.namespace.is_some(), "namespace");
    check(!k.images.is_empty(), "images");
    check(
        k.common_labels.as_ref().is_some_and(|m| !m.is_empty()),
        "commonLabels",
    );
    check(
        k.common_annotations.as_ref().is_some_and(|m| !m.is_empty()),
        "commonAnnotations",
    );
    check(!k.replicas.is_empty(), "replicas");
    check(!k.patches.is_empty(), "patches");
    check(!k.components.is_empty(), "components");
    out
}

impl Renderer for KustomizeRenderer {
    fn render(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        source: &ApplicationSource,
    ) -> Result<Rendered, RenderError> {
        if let Some(k) = &source.kustomize {
            let unsupported = unsupported_options(k);
            if !unsupported.is_empty() {
                return Err(RenderError::Unsupported {
                    what: format!("spec.source.kustomize.{}", unsupported.join(", ")),
                    at: None,
                });
            }
        }
        let files = TreeFileSource::new(tree);
        let dir = absolute(path);
        let list = fjord_kustomize::build(&files, &dir, &self.options).map_err(|e| {
            RenderError::Kustomize {
                path: path.to_string(),
                message: e.to_string(),
            }
        })?;
        let file = tree::join(path, "kustomization.yaml");
        let mut objects = Vec::with_capacity(list.len());
        for (i, object) in list.into_values().into_iter().enumerate() {
            let key = ResourceKey::of(&object)
                .filter(|k| !k.kind.is_empty() && !k.name.is_empty())
                .ok_or_else(|| RenderError::InvalidObject {
                    file: file.clone(),
                    document: i + 1,
                    problem: "missing apiVersion, kind or metadata.name".to_string(),
                })?;
            objects.push(DesiredObject {
                key,
                object,
                file: file.clone(),
                document: i + 1,
            });
        }
        Ok(Rendered {
            objects,
            files_read: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{LocalTree, MemoryTree, Renderers, SourceType};
    use std::process::Command;

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/infra-config");
    const OVERLAY: &str = "k8s/overlays/production";

    fn renderers() -> Renderers {
        Renderers::with_kustomize()
    }

    fn source() -> ApplicationSource {
        ApplicationSource {
            path: Some(OVERLAY.into()),
            ..Default::default()
        }
    }

    /// What `fjord kustomize build` (the crate on the disk) prints for the overlay.
    fn expected() -> Vec<serde_json::Value> {
        fjord_kustomize::build(
            &fjord_kustomize::DiskSource,
            &Path::new(EXAMPLE).join(OVERLAY),
            &Default::default(),
        )
        .expect("the bundled overlay builds from disk")
        .into_values()
    }

    fn values(r: &Rendered) -> Vec<serde_json::Value> {
        r.objects.iter().map(|o| o.object.clone()).collect()
    }

    #[test]
    fn bundled_overlay_from_a_local_tree_equals_the_disk_build() {
        let tree = LocalTree::new(EXAMPLE);
        let (kind, rendered) = renderers().render(&tree, &source()).unwrap();
        assert_eq!(kind, SourceType::Kustomize);
        let want = expected();
        assert!(want.len() >= 4, "the example renders several objects");
        assert_eq!(values(&rendered), want);
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn bundled_overlay_from_a_git_commit_equals_the_disk_build() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        copy_dir(Path::new(EXAMPLE), &work);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "example"]);
        let url = format!("file://{}", work.display());
        let reg = crate::source::RepoRegistry::new(dir.path().join("cache"));
        let repo = reg.get(&url, Default::default());
        let sha = repo.resolve(&repo.ls_remote().unwrap(), "HEAD").unwrap();
        repo.ensure_commits(&[&sha]).unwrap();
        let tree = repo.tree(&sha).unwrap();
        let (kind, rendered) = renderers().render(&tree, &source()).unwrap();
        assert_eq!(kind, SourceType::Kustomize);
        assert_eq!(values(&rendered), expected());
    }

    #[test]
    fn resources_outside_the_repository_are_refused() {
        let tree = MemoryTree::new()
            .with_file("app/kustomization.yaml", "resources:\n- ../../x.yaml\n")
            .with_file(
                "app/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            );
        let src = ApplicationSource {
            path: Some("app".into()),
            ..Default::default()
        };
        let err = renderers().render(&tree, &src).unwrap_err();
        assert!(matches!(err, RenderError::Kustomize { .. }), "{err}");
    }

    #[test]
    fn invalid_kustomization_yaml_is_an_error_naming_the_file() {
        let tree = MemoryTree::new().with_file("app/kustomization.yaml", "resources: [\n");
        let src = ApplicationSource {
            path: Some("app".into()),
            ..Default::default()
        };
        let err = renderers().render(&tree, &src).unwrap_err().to_string();
        assert!(err.contains("kustomization.yaml"), "{err}");
    }

    #[test]
    fn application_kustomize_options_are_reported_unsupported() {
        let tree = LocalTree::new(EXAMPLE);
        let src = ApplicationSource {
            path: Some(OVERLAY.into()),
            kustomize: Some(KustomizeSource {
                name_prefix: Some("x-".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = renderers().render(&tree, &src).unwrap_err().to_string();
        assert!(err.contains("namePrefix"), "{err}");
        // An empty block is allowed.
        let src = ApplicationSource {
            path: Some(OVERLAY.into()),
            kustomize: Some(KustomizeSource::default()),
            ..Default::default()
        };
        assert_eq!(
            values(&renderers().render(&tree, &src).unwrap().1),
            expected()
        );
    }
}
