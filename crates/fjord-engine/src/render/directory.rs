//! The plain-directory renderer (Argo CD's "Directory" source type).
//!
//! Reads `.yaml`, `.yml` and `.json` files at the app path (and below it with `recurse`),
//! in lexical order like Go's `filepath.Walk`. `include` and `exclude` are globs matched
//! against the file's path relative to the app path, with `{a,b}` alternatives and `*`
//! crossing `/` (Argo CD's glob semantics); `exclude` wins. Jsonnet files are reported as
//! unsupported rather than silently skipped, so a partial render never looks complete.

use super::parse::{parse_json, parse_yaml};
use super::tree::{SourceTree, join};
use super::{RenderError, Rendered, Renderer};
use crate::types::{ApplicationSource, DirectorySource};
use globset::{GlobBuilder, GlobMatcher};

/// Renders plain manifest directories.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectoryRenderer;

struct Options {
    recurse: bool,
    include: Option<GlobMatcher>,
    exclude: Option<GlobMatcher>,
}

fn compile(option: &'static str, glob: Option<&str>) -> Result<Option<GlobMatcher>, RenderError> {
    let Some(glob) = glob.filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    GlobBuilder::new(glob)
        .literal_separator(false)
        .build()
        .map(|g| Some(g.compile_matcher()))
        .map_err(|e| RenderError::InvalidGlob {
            option,
            glob: glob.to_string(),
            message: e.kind().to_string(),
        })
}

impl Options {
    fn from(dir: Option<&DirectorySource>) -> Result<Self, RenderError> {
        Ok(Options {
            recurse: dir.and_then(|d| d.recurse).unwrap_or(false),
            include: compile("include", dir.and_then(|d| d.include.as_deref()))?,
            exclude: compile("exclude", dir.and_then(|d| d.exclude.as_deref()))?,
        })
    }

    fn selects(&self, rel: &str) -> bool {
        if self.exclude.as_ref().is_some_and(|g| g.is_match(rel)) {
            return false;
        }
        self.include.as_ref().is_none_or(|g| g.is_match(rel))
    }
}

enum FileType {
    Yaml,
    Json,
    Jsonnet,
}

fn file_type(name: &str) -> Option<FileType> {
    let ext = name.rsplit_once('.')?.1;
    match ext {
        "yaml" | "yml" => Some(FileType::Yaml),
        "json" => Some(FileType::Json),
        "jsonnet" | "libsonnet" => Some(FileType::Jsonnet),
        _ => None,
    }
}

impl DirectoryRenderer {
    /// Renders the directory at `path` with the given options.
    pub fn render_dir(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        options: Option<&DirectorySource>,
    ) -> Result<Rendered, RenderError> {
        let options = Options::from(options)?;
        let mut out = Rendered::default();
        walk(tree, path, "", &options, &mut out)?;
        Ok(out)
    }
}

impl Renderer for DirectoryRenderer {
    fn render(
        &self,
        tree: &dyn SourceTree,
        path: &str,
        source: &ApplicationSource,
    ) -> Result<Rendered, RenderError> {
        self.render_dir(tree, path, source.directory.as_deref())
    }
}

fn walk(
    tree: &dyn SourceTree,
    root: &str,
    rel_dir: &str,
    options: &Options,
    out: &mut Rendered,
) -> Result<(), RenderError> {
    let dir = join(root, rel_dir);
    let entries = tree.list_dir(&dir).map_err(|source| RenderError::Read {
        path: dir.clone(),
        source,
    })?;
    for entry in entries {
        let rel = join(rel_dir, &entry.name);
        if entry.is_dir {
            if options.recurse && entry.name != ".git" {
                walk(tree, root, &rel, options, out)?;
            }
            continue;
        }
        let Some(kind) = file_type(&entry.name) else {
            continue;
        };
        if !options.selects(&rel) {
            continue;
        }
        let file = join(root, &rel);
        if let FileType::Jsonnet = kind {
            return Err(RenderError::Unsupported {
                what: "jsonnet".to_string(),
                at: Some(file),
            });
        }
        let bytes = tree.read_file(&file).map_err(|source| RenderError::Read {
            path: file.clone(),
            source,
        })?;
        let text =
            String::from_utf8(bytes).map_err(|_| RenderError::NotUtf8 { file: file.clone() })?;
        let objects = match kind {
            FileType::Json => parse_json(&file, &text)?,
            _ => parse_yaml(&file, &text)?,
        };
        out.files_read += 1;
        out.objects.extend(objects);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{LocalTree, MemoryTree};

    fn cm(name: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
    }

    fn tree() -> MemoryTree {
        MemoryTree::new()
            .with_file("app/a.yaml", cm("a"))
            .with_file("app/b.yml", cm("b"))
            .with_file(
                "app/c.json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
            )
            .with_file("app/README.md", "# not a manifest")
            .with_file("app/config.json", r#"{"not": "an object"}"#)
            .with_file("app/sub/d.yaml", cm("d"))
            .with_file("app/sub/deeper/e.yaml", cm("e"))
            .with_file("app/env-usw2/f.yaml", cm("f"))
            .with_file("other/g.yaml", cm("g"))
    }

    fn render(dir: DirectorySource) -> Result<Vec<String>, RenderError> {
        let r = DirectoryRenderer.render_dir(&tree(), "app", Some(&dir))?;
        Ok(r.objects.iter().map(|o| o.key.name.clone()).collect())
    }

    fn dir(recurse: bool, include: Option<&str>, exclude: Option<&str>) -> DirectorySource {
        DirectorySource {
            recurse: Some(recurse),
            include: include.map(String::from),
            exclude: exclude.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn top_level_only_without_recurse() {
        // config.json is not an object of the right shape: exclude it as Argo's docs do.
        assert_eq!(
            render(dir(false, None, Some("config.json"))).unwrap(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn recurse_walks_lexically() {
        let names = render(dir(true, None, Some("config.json"))).unwrap();
        assert_eq!(names, ["a", "b", "c", "f", "d", "e"]);
    }

    #[test]
    fn include_and_exclude_use_braces_and_relative_paths() {
        assert_eq!(
            render(dir(true, Some("*.yaml"), None)).unwrap(),
            ["a", "f", "d", "e"]
        );
        assert_eq!(
            render(dir(true, None, Some("{config.json,env-usw2/*}"))).unwrap(),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(render(dir(true, Some("sub/*"), None)).unwrap(), ["d", "e"]);
        // Exclude wins over include.
        assert_eq!(
            render(dir(true, Some("{a.yaml,b.yml}"), Some("b.yml"))).unwrap(),
            ["a"]
        );
    }

    #[test]
    fn invalid_file_and_glob_errors_are_named() {
        let err = render(dir(false, None, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "app/config.json: document 1: missing apiVersion"
        );
        let err = render(dir(false, Some("{a"), None)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("directory.include: invalid glob \"{a\""),
            "{err}"
        );
    }

    #[test]
    fn jsonnet_is_reported_unsupported() {
        let t = MemoryTree::new().with_file("app/main.jsonnet", "{}");
        let err = DirectoryRenderer.render_dir(&t, "app", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "jsonnet is not supported (app/main.jsonnet)"
        );
    }

    #[test]
    fn empty_directory_is_an_empty_render() {
        let t = MemoryTree::new().with_file("app/notes.txt", "x");
        let r = DirectoryRenderer.render_dir(&t, "app", None).unwrap();
        assert!(r.is_empty() && r.files_read == 0);
    }

    #[test]
    fn renders_from_a_local_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("k8s/nested")).unwrap();
        std::fs::write(
            d.path().join("k8s/one.yaml"),
            cm("one") + "---\n" + &cm("two"),
        )
        .unwrap();
        std::fs::write(d.path().join("k8s/nested/three.yaml"), cm("three")).unwrap();
        let r = DirectoryRenderer
            .render_dir(
                &LocalTree::new(d.path()),
                "k8s",
                Some(&dir(true, None, None)),
            )
            .unwrap();
        let names: Vec<&str> = r.objects.iter().map(|o| o.key.name.as_str()).collect();
        assert_eq!(names, ["three", "one", "two"]);
        assert_eq!(r.objects[2].file, "k8s/one.yaml");
        assert_eq!(r.objects[2].document, 2);
        assert_eq!(r.files_read, 2);
    }
}
