//! Kustomize sources, rendered by the native `fjord-kustomize` crate straight from a
//! [`SourceTree`] (a Git commit's tree or a local directory, no working copy).
//!
//! The kustomize crate reads files through its own `FileSource` trait with absolute paths;
//! [`TreeFileSource`] maps `/` to the tree root, so the load restrictor's "stay inside the
//! root" rule and the tree's "stay inside the repository" rule both hold. Trees resolve
//! symlinks themselves (refusing escapes), so the canonical form of a path is its lexical
//! normalisation.
//!
//! The Application's own `kustomize` options (`namePrefix`, `images`, `replicas`, ...) are
//! applied as Argo CD applies them, like `kustomize edit` on the kustomization file: the
//! edited file is served in place of the original, nothing is written. Options Fjord does
//! not apply (`version`, unknown ones) are reported as unsupported.

use super::tree::{self, SourceTree};
use super::{DesiredObject, RenderError, Rendered, Renderer};
use crate::resource::ResourceKey;
use crate::types::{ApplicationSource, KustomizeSource};
use serde_json::{Map, Value};
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
    /// A file served in place of the tree's (tree path, content).
    replaced: Option<(String, Vec<u8>)>,
}

impl<'a> TreeFileSource<'a> {
    /// Wraps `tree`.
    pub fn new(tree: &'a dyn SourceTree) -> Self {
        TreeFileSource {
            tree,
            replaced: None,
        }
    }

    /// Serves `content` in place of the file at `path` (tree path).
    pub fn with_replaced(mut self, path: &str, content: Vec<u8>) -> Self {
        self.replaced = Some((path.to_string(), content));
        self
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
        if let Some((replaced, content)) = &self.replaced
            && *replaced == p
        {
            return Ok(content.clone());
        }
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

/// The options of an Application's `kustomize` block that Fjord does not apply.
fn unsupported_options(k: &KustomizeSource) -> Vec<String> {
    let mut out: Vec<String> = k.extra.keys().cloned().collect();
    if k.version.is_some() {
        out.push("version".to_string());
    }
    out
}

/// True when the block asks for any edit.
fn has_edits(k: &KustomizeSource) -> bool {
    k.name_prefix.is_some()
        || k.name_suffix.is_some()
        || k.namespace.is_some()
        || !k.images.is_empty()
        || k.common_labels.as_ref().is_some_and(|m| !m.is_empty())
        || k.common_annotations.as_ref().is_some_and(|m| !m.is_empty())
        || !k.replicas.is_empty()
        || !k.patches.is_empty()
        || !k.components.is_empty()
}

/// Parses an image override like `kustomize edit set image`: `[name=]newName[:tag|@digest]`.
fn image_entry(spec: &str) -> Map<String, Value> {
    let (name, rest) = match spec.split_once('=') {
        Some((n, r)) => (Some(n), r),
        None => (None, spec),
    };
    let mut entry = Map::new();
    let (image, tag, digest) = if let Some((i, d)) = rest.split_once('@') {
        (i, None, Some(d))
    } else {
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[slash..].rfind(':') {
            Some(c) => (&rest[..slash + c], Some(&rest[slash + c + 1..]), None),
            None => (rest, None, None),
        }
    };
    match name {
        Some(n) => {
            entry.insert("name".into(), Value::String(n.to_string()));
            if n != image {
                entry.insert("newName".into(), Value::String(image.to_string()));
            }
        }
        None => {
            entry.insert("name".into(), Value::String(image.to_string()));
        }
    }
    if let Some(t) = tag {
        entry.insert("newTag".into(), Value::String(t.to_string()));
    }
    if let Some(d) = digest {
        entry.insert("digest".into(), Value::String(d.to_string()));
    }
    entry
}

/// Replaces the list entry whose `name` equals the new entry's, or appends it.
fn upsert_named(list: &mut Value, entry: Map<String, Value>) {
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let Value::Array(items) = list else { return };
    let name = entry.get("name").cloned();
    match items.iter_mut().find(|i| i.get("name") == name.as_ref()) {
        Some(existing) => *existing = Value::Object(entry),
        None => items.push(Value::Object(entry)),
    }
}

fn merge_map(target: &mut Value, extra: &Map<String, Value>) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(m) = target {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
}

fn append(target: &mut Value, items: impl IntoIterator<Item = Value>) {
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    if let Value::Array(list) = target {
        list.extend(items);
    }
}

/// Applies the Application's kustomize options to the kustomization document.
fn edit_kustomization(doc: &mut Map<String, Value>, k: &KustomizeSource) {
    let mut set = |key: &str, v: &Option<String>| {
        if let Some(v) = v {
            doc.insert(key.to_string(), Value::String(v.clone()));
        }
    };
    set("namePrefix", &k.name_prefix);
    set("nameSuffix", &k.name_suffix);
    set("namespace", &k.namespace);
    for image in &k.images {
        upsert_named(
            doc.entry("images").or_insert(Value::Null),
            image_entry(image),
        );
    }
    if let Some(labels) = k.common_labels.as_ref().filter(|m| !m.is_empty()) {
        merge_map(doc.entry("commonLabels").or_insert(Value::Null), labels);
    }
    if let Some(a) = k.common_annotations.as_ref().filter(|m| !m.is_empty()) {
        merge_map(doc.entry("commonAnnotations").or_insert(Value::Null), a);
    }
    for r in &k.replicas {
        let mut entry = Map::new();
        entry.insert("name".into(), Value::String(r.name.clone()));
        let count = match &r.count {
            Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(r.count.clone()),
            other => other.clone(),
        };
        entry.insert("count".into(), count);
        upsert_named(doc.entry("replicas").or_insert(Value::Null), entry);
    }
    if !k.patches.is_empty() {
        append(
            doc.entry("patches").or_insert(Value::Null),
            k.patches.iter().cloned(),
        );
    }
    if !k.components.is_empty() {
        append(
            doc.entry("components").or_insert(Value::Null),
            k.components.iter().cloned().map(Value::String),
        );
    }
}

/// The kustomization file at `path` with the Application's edits applied.
fn edited_kustomization(
    tree: &dyn SourceTree,
    path: &str,
    k: &KustomizeSource,
) -> Result<(String, Vec<u8>), RenderError> {
    let file = super::KUSTOMIZATION_FILES
        .iter()
        .map(|f| tree::join(path, f))
        .find(|f| tree.is_file(f))
        .ok_or_else(|| RenderError::Kustomize {
            path: path.to_string(),
            message: "no kustomization file to apply spec.source.kustomize to".to_string(),
        })?;
    let bytes = tree.read_file(&file).map_err(|source| RenderError::Read {
        path: file.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| RenderError::NotUtf8 { file: file.clone() })?;
    let invalid = |message: String| RenderError::InvalidYaml {
        file: file.clone(),
        document: 1,
        message,
    };
    let mut docs = fjord_kustomize::parse_documents(&text).map_err(|e| invalid(e.to_string()))?;
    let mut doc = match docs.drain(..).next() {
        Some(Value::Object(m)) => m,
        Some(Value::Null) | None => Map::new(),
        Some(_) => return Err(invalid("expected a mapping".to_string())),
    };
    edit_kustomization(&mut doc, k);
    Ok((
        file,
        fjord_kustomize::to_yaml(&Value::Object(doc)).into_bytes(),
    ))
}

impl Renderer for KustomizeRenderer {
    fn render(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        source: &ApplicationSource,
    ) -> Result<Rendered, RenderError> {
        let mut files = TreeFileSource::new(tree);
        if let Some(k) = &source.kustomize {
            let unsupported = unsupported_options(k);
            if !unsupported.is_empty() {
                return Err(RenderError::Unsupported {
                    what: format!("spec.source.kustomize.{}", unsupported.join(", ")),
                    at: None,
                });
            }
            if has_edits(k) {
                let (file, content) = edited_kustomization(tree, path, k)?;
                files = files.with_replaced(&file, content);
            }
        }
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
    fn application_kustomize_options_are_applied_like_kustomize_edit() {
        let tree = LocalTree::new(EXAMPLE);
        let src = ApplicationSource {
            path: Some(OVERLAY.into()),
            kustomize: Some(Box::new(KustomizeSource {
                name_prefix: Some("eu-".into()),
                images: vec!["ghcr.io/my-org/payment-gateway:1.5.0".into()],
                replicas: vec![crate::types::KustomizeReplica {
                    name: "payment-gateway".into(),
                    count: Value::from(5),
                    ..Default::default()
                }],
                common_labels: Some(
                    serde_json::json!({"region": "eu-north"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
                ..Default::default()
            })),
            ..Default::default()
        };
        let (_, rendered) = renderers().render(&tree, &src).unwrap();
        let dep = rendered
            .objects
            .iter()
            .find(|o| o.key.kind == "Deployment")
            .expect("a Deployment");
        assert_eq!(dep.key.name, "eu-payment-gateway");
        assert_eq!(
            dep.object["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/my-org/payment-gateway:1.5.0"
        );
        assert_eq!(dep.object["spec"]["replicas"], 5);
        assert_eq!(dep.object["metadata"]["labels"]["region"], "eu-north");
        assert_eq!(dep.object["metadata"]["namespace"], "payment-prod");
        // The tree itself is untouched.
        assert_eq!(
            values(&renderers().render(&tree, &source()).unwrap().1),
            expected()
        );
        // An empty block is allowed; an unknown option is reported.
        let src = ApplicationSource {
            path: Some(OVERLAY.into()),
            kustomize: Some(Box::new(KustomizeSource::default())),
            ..Default::default()
        };
        assert_eq!(
            values(&renderers().render(&tree, &src).unwrap().1),
            expected()
        );
        let src = ApplicationSource {
            path: Some(OVERLAY.into()),
            kustomize: Some(Box::new(KustomizeSource {
                version: Some("v4".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let err = renderers().render(&tree, &src).unwrap_err().to_string();
        assert!(err.contains("version"), "{err}");
    }

    #[test]
    fn image_overrides_parse_like_kustomize_edit_set_image() {
        let e = |s: &str| Value::Object(image_entry(s));
        assert_eq!(
            e("ghcr.io/my-org/app:1.5"),
            serde_json::json!({"name": "ghcr.io/my-org/app", "newTag": "1.5"})
        );
        assert_eq!(
            e("app=registry:5000/other/app:2"),
            serde_json::json!({"name": "app", "newName": "registry:5000/other/app", "newTag": "2"})
        );
        assert_eq!(
            e("registry:5000/app@sha256:abc"),
            serde_json::json!({"name": "registry:5000/app", "digest": "sha256:abc"})
        );
    }
}
