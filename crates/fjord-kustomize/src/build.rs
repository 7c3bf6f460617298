//! The build: load a kustomization, accumulate its resources (recursively), run its generators
//! and transformers, and at the top level finish with hash suffixes, name references, vars and
//! ordering — the same sequence kustomize's `KustTarget` follows.

use crate::error::{Error, Result};
use crate::fieldspec::TransformerConfig;
use crate::kustomization::{KUSTOMIZATION_FILE_NAMES, KustKind, Kustomization};
use crate::resource::{ResId, Resource};
use crate::source::{FileSource, normalize};
use crate::vars::Var;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Which files a kustomization may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadRestrictor {
    /// Only files in or below the kustomization's own directory (kustomize's default).
    #[default]
    RootOnly,
    /// Any file (`--load-restrictor=LoadRestrictionsNone`).
    None,
}

/// Build settings (the flags of `kustomize build`).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// File access rule.
    pub load_restrictor: LoadRestrictor,
}

/// The rendered objects, in output order.
#[derive(Debug, Clone)]
pub struct ResourceList {
    docs: Vec<Map<String, Value>>,
}

impl ResourceList {
    /// The YAML stream `kubectl kustomize` prints: documents separated by `---`.
    pub fn to_yaml_string(&self) -> String {
        let mut out = String::new();
        for (i, d) in self.docs.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&crate::yaml::to_yaml_object(d));
        }
        out
    }
    /// Each object as its own YAML document (no `---`), in output order.
    pub fn to_yaml_documents(&self) -> Vec<String> {
        self.docs.iter().map(crate::yaml::to_yaml_object).collect()
    }
    /// Each object as JSON.
    pub fn to_values(&self) -> Vec<Value> {
        self.docs.iter().cloned().map(Value::Object).collect()
    }
    /// Consumes the list into JSON values.
    pub fn into_values(self) -> Vec<Value> {
        self.docs.into_iter().map(Value::Object).collect()
    }
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.docs.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

/// Builds the kustomization in `dir`.
///
/// # Errors
/// Any failure kustomize would report: unreadable or malformed files, unknown kustomization
/// fields, missing resources, load-restrictor violations, cycles, conflicting ids, patches that
/// match nothing, unresolvable vars or replacements; helmCharts and remote bases are refused.
pub fn build(source: &dyn FileSource, dir: &Path, options: &BuildOptions) -> Result<ResourceList> {
    let dir = source.canonical(dir).map_err(|e| Error::ReadFile {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let b = Builder {
        src: source,
        opts: options,
        stack: std::cell::RefCell::new(Vec::new()),
    };
    let kust = b.load_kustomization(&dir)?;
    let mut acc = b.accumulate(&kust, Accumulated::default())?;
    crate::generate::add_hash_suffixes(&mut acc.resources);
    crate::nameref::fix_name_references(&kust, &mut acc.resources, &acc.config)?;
    crate::vars::resolve_vars(&kust, &mut acc.resources, &acc.vars, &acc.config)?;
    // Objects marked local-config feed the build but are not part of its output.
    acc.resources.retain(|r| {
        r.annotations()
            .get("config.kubernetes.io/local-config")
            .and_then(Value::as_str)
            != Some("true")
    });
    crate::metadata::apply_build_metadata(&kust, &dir, &mut acc.resources)?;
    for r in acc.resources.iter_mut() {
        crate::metadata::normalize_annotations(r);
    }
    let resources = crate::order::sort(&kust, acc.resources)?;
    let docs = resources.into_iter().map(|r| r.obj).collect();
    Ok(ResourceList { docs })
}

/// Builds a directory named by `transformers:`/`generators:` into plain objects (plugin
/// configurations), with the same steps as a top-level build.
pub(crate) fn build_nested(b: &Builder, dir: &Path) -> Result<Vec<Map<String, Value>>> {
    let kust = b.load_kustomization(dir)?;
    let mut acc = b.accumulate(&kust, Accumulated::default())?;
    crate::generate::add_hash_suffixes(&mut acc.resources);
    crate::nameref::fix_name_references(&kust, &mut acc.resources, &acc.config)?;
    Ok(acc.resources.into_iter().map(|r| r.obj).collect())
}

/// An id as compared for conflicts: group, version, kind, name, namespace ("default" as "").
pub(crate) type IdKey = (String, String, String, String, String);

fn id_key(id: &ResId) -> IdKey {
    (
        id.gvk.group.clone(),
        id.gvk.version.clone(),
        id.gvk.kind.clone(),
        id.name.clone(),
        id.effective_namespace().to_string(),
    )
}

/// What a kustomization level hands up to its parent.
#[derive(Debug, Default)]
pub(crate) struct Accumulated {
    pub resources: Vec<Resource>,
    /// Field specs; shared with the defaults until a level customizes them.
    pub config: std::sync::Arc<TransformerConfig>,
    pub vars: Vec<Var>,
    pub config_loaded: bool,
    /// A custom OpenAPI schema (`openapi: {path: ...}`) for strategic merge patches.
    pub openapi: Option<std::sync::Arc<Value>>,
    /// Current ids of `resources`, kept while resources are being added (conflict checks);
    /// `None` once anything may have renamed them.
    pub id_index: Option<std::collections::HashSet<IdKey>>,
}

pub(crate) struct Builder<'a> {
    pub src: &'a dyn FileSource,
    pub opts: &'a BuildOptions,
    stack: std::cell::RefCell<Vec<PathBuf>>,
}

fn looks_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.contains("?ref=")
        || entry.contains(".git/")
        || entry.ends_with(".git")
}

impl<'a> Builder<'a> {
    pub fn load_kustomization(&self, dir: &Path) -> Result<Kustomization> {
        let found: Vec<PathBuf> = KUSTOMIZATION_FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| self.src.is_file(p))
            .collect();
        let path = match found.len() {
            0 => {
                return Err(Error::MissingKustomization {
                    dir: dir.to_path_buf(),
                });
            }
            1 => found[0].clone(),
            _ => {
                return Err(Error::MultipleKustomizations {
                    dir: dir.to_path_buf(),
                });
            }
        };
        let bytes = self.src.read(&path).map_err(|e| Error::ReadFile {
            path: path.clone(),
            source: e,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let k = Kustomization::parse(&path, &text)?;
        for field in ["helmCharts", "helmChartInflationGenerator", "helmGlobals"] {
            if k.has(field) {
                return Err(Error::Unsupported {
                    path: path.clone(),
                    field: field.into(),
                    message: "helm chart inflation is not supported by fjord's kustomize".into(),
                });
            }
        }
        Ok(k)
    }

    /// Resolves a path named by `field` of `kust` and reads it as a file, enforcing the load
    /// restrictor against `kust`'s directory.
    pub fn read_file(
        &self,
        kust: &Kustomization,
        field: &str,
        entry: &str,
    ) -> Result<(PathBuf, Vec<u8>)> {
        let joined = normalize(&kust.dir.join(entry));
        let canon = self.src.canonical(&joined).map_err(|_| Error::NotFound {
            path: kust.path.clone(),
            field: field.into(),
            entry: entry.into(),
        })?;
        self.check_restrictor(kust, field, &canon)?;
        if self.src.is_dir(&canon) {
            return Err(
                kust.field_error(field, format!("'{entry}' is a directory, expected a file"))
            );
        }
        let bytes = self.src.read(&canon).map_err(|e| Error::ReadFile {
            path: canon.clone(),
            source: e,
        })?;
        Ok((canon, bytes))
    }

    fn check_restrictor(&self, kust: &Kustomization, field: &str, canon: &Path) -> Result<()> {
        if self.opts.load_restrictor == LoadRestrictor::RootOnly {
            let root = self
                .src
                .canonical(&kust.dir)
                .unwrap_or_else(|_| kust.dir.clone());
            if !canon.starts_with(&root) {
                return Err(Error::LoadRestriction {
                    path: kust.path.clone(),
                    field: field.into(),
                    file: canon.to_path_buf(),
                    root,
                });
            }
        }
        Ok(())
    }

    /// Parses a resource file into objects, expanding `List` kinds.
    pub fn parse_resources(&self, path: &Path, text: &str) -> Result<Vec<Resource>> {
        let docs = crate::yaml::parse_documents(text).map_err(|e| Error::ParseYaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut out = Vec::new();
        for doc in docs {
            self.push_resource(path, doc, &mut out)?;
        }
        Ok(out)
    }

    fn push_resource(&self, path: &Path, doc: Value, out: &mut Vec<Resource>) -> Result<()> {
        let Value::Object(obj) = doc else {
            return Err(Error::InvalidResource {
                path: path.to_path_buf(),
                message: "a resource must be a mapping".into(),
            });
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("List") && obj.get("items").is_some_and(Value::is_array) {
            if let Some(Value::Array(items)) = obj.get("items") {
                for mut item in items.clone() {
                    // List items reach kustomize through JSON, so their annotation values
                    // are the JSON text of whatever they held.
                    if let Some(Value::Object(ann)) = item.pointer_mut("/metadata/annotations") {
                        for v in ann.values_mut() {
                            if !v.is_string() {
                                *v = Value::String(json_text(v));
                            }
                        }
                    }
                    self.push_resource(path, item, out)?;
                }
            }
            return Ok(());
        }
        if kind.is_empty() {
            return Err(Error::InvalidResource {
                path: path.to_path_buf(),
                message: "missing kind".into(),
            });
        }
        if kind == "Kustomization" || kind == "Component" {
            return Err(Error::InvalidResource {
                path: path.to_path_buf(),
                message: format!(
                    "a {kind} file cannot be listed as a resource; list its directory"
                ),
            });
        }
        let name_ok = obj
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !name_ok {
            return Err(Error::InvalidResource {
                path: path.to_path_buf(),
                message: format!("missing metadata.name in object of kind {kind}"),
            });
        }
        out.push(Resource::new(obj));
        Ok(())
    }

    fn append(
        &self,
        acc: &mut Accumulated,
        res: Resource,
        kust: &Kustomization,
        field: &str,
        entry: &str,
    ) -> Result<()> {
        let id = res.id();
        let index = acc
            .id_index
            .get_or_insert_with(|| acc.resources.iter().map(|r| id_key(&r.id())).collect());
        if !index.insert(id_key(&id)) {
            return Err(Error::ConflictingId {
                path: kust.path.clone(),
                field: field.to_string(),
                entry: entry.to_string(),
                id: id.to_string(),
            });
        }
        acc.resources.push(res);
        Ok(())
    }

    fn enter(&self, kust: &Kustomization, field: &str, dir: &Path) -> Result<()> {
        let mut stack = self.stack.borrow_mut();
        if stack.iter().any(|d| d == dir) {
            return Err(Error::Cycle {
                path: kust.path.clone(),
                field: field.into(),
                dir: dir.to_path_buf(),
            });
        }
        stack.push(dir.to_path_buf());
        Ok(())
    }

    fn leave(&self) {
        self.stack.borrow_mut().pop();
    }

    /// Runs one kustomization level on top of `acc`.
    pub fn accumulate(&self, kust: &Kustomization, mut acc: Accumulated) -> Result<Accumulated> {
        let canon_dir = self
            .src
            .canonical(&kust.dir)
            .unwrap_or_else(|_| kust.dir.clone());
        self.enter(kust, "resources", &canon_dir)?;
        let result = self.accumulate_inner(kust, &mut acc);
        self.leave();
        result.map(|_| acc)
    }

    fn accumulate_inner(&self, kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
        if !acc.config_loaded {
            acc.config = TransformerConfig::shared_defaults();
            acc.config_loaded = true;
        }
        let mut entries: Vec<(String, String)> = kust
            .strings("resources")?
            .into_iter()
            .map(|e| ("resources".to_string(), e))
            .collect();
        entries.extend(
            kust.strings("bases")?
                .into_iter()
                .map(|e| ("bases".to_string(), e)),
        );
        for (field, entry) in entries {
            self.accumulate_entry(kust, &field, &entry, acc)?;
        }
        // Generators and transformers below may rename objects.
        acc.id_index = None;
        for cfg in kust.strings("configurations")? {
            let (path, bytes) = self.read_file(kust, "configurations", &cfg)?;
            let docs =
                crate::yaml::parse_documents(&String::from_utf8_lossy(&bytes)).map_err(|e| {
                    Error::ParseYaml {
                        path: path.clone(),
                        message: e.to_string(),
                    }
                })?;
            for d in docs {
                std::sync::Arc::make_mut(&mut acc.config)
                    .merge_value(&d)
                    .map_err(|m| kust.field_error("configurations", format!("{cfg}: {m}")))?;
            }
        }
        for crd in kust.strings("crds")? {
            let (path, bytes) = self.read_file(kust, "crds", &crd)?;
            crate::transform::load_crd_config(
                kust,
                &path,
                &bytes,
                std::sync::Arc::make_mut(&mut acc.config),
            )?;
        }
        self.load_openapi(kust, acc)?;
        // Generators run before components, so components can transform generated objects.
        crate::generate::run_generators(self, kust, acc)?;
        crate::plugins::run_generator_plugins(self, kust, acc)?;
        for comp in kust.strings("components")? {
            let dir = normalize(&kust.dir.join(&comp));
            let canon = self.src.canonical(&dir).map_err(|_| Error::NotFound {
                path: kust.path.clone(),
                field: "components".into(),
                entry: comp.clone(),
            })?;
            if !self.src.is_dir(&canon) {
                return Err(kust.field_error(
                    "components",
                    format!("'{comp}' must be a directory holding a Component"),
                ));
            }
            let sub = self.load_kustomization(&canon)?;
            if sub.kind != KustKind::Component {
                return Err(kust.field_error(
                    "components",
                    format!(
                        "expected kind 'Component' for path '{}' but got 'Kustomization'",
                        canon.display()
                    ),
                ));
            }
            let taken = std::mem::take(acc);
            *acc = self.accumulate(&sub, taken)?;
        }
        crate::transform::run_transformers(self, kust, acc)?;
        crate::vars::merge_vars(kust, acc)?;
        Ok(())
    }

    fn load_openapi(&self, kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
        let Some(spec) = kust.get("openapi") else {
            return Ok(());
        };
        let path = spec.get("path").and_then(Value::as_str);
        let version = spec.get("version").and_then(Value::as_str);
        match (path, version) {
            (Some(_), Some(_)) => Err(kust.field_error(
                "openapi",
                "builtin version and custom schema provided, cannot use both",
            )),
            (None, Some(v)) => {
                if v == "v1.21.2" || v == "v1212" {
                    // The built-in schema replaces a custom one from a base.
                    acc.openapi = None;
                    Ok(())
                } else {
                    Err(kust.field_error(
                        "openapi.version",
                        "the specified OpenAPI version is not built in",
                    ))
                }
            }
            (Some(p), None) => {
                let (file, bytes) = self.read_file(kust, "openapi.path", p)?;
                let text = String::from_utf8_lossy(&bytes);
                let doc = if text.trim_start().starts_with('{') {
                    serde_json::from_str::<Value>(&text).map_err(|e| Error::ParseYaml {
                        path: file.clone(),
                        message: e.to_string(),
                    })?
                } else {
                    crate::yaml::parse_documents(&text)
                        .map_err(|e| Error::ParseYaml {
                            path: file.clone(),
                            message: e.to_string(),
                        })?
                        .into_iter()
                        .next()
                        .unwrap_or(Value::Null)
                };
                acc.openapi = Some(std::sync::Arc::new(doc));
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    fn accumulate_entry(
        &self,
        kust: &Kustomization,
        field: &str,
        entry: &str,
        acc: &mut Accumulated,
    ) -> Result<()> {
        let joined = normalize(&kust.dir.join(entry));
        let canon = match self.src.canonical(&joined) {
            Ok(c) => c,
            Err(_) => {
                if looks_remote(entry) {
                    return Err(Error::Unsupported {
                        path: kust.path.clone(),
                        field: field.into(),
                        message: format!(
                            "remote base '{entry}' is not supported by fjord's kustomize"
                        ),
                    });
                }
                return Err(Error::NotFound {
                    path: kust.path.clone(),
                    field: field.into(),
                    entry: entry.into(),
                });
            }
        };
        if self.src.is_dir(&canon) {
            if self.stack.borrow().contains(&canon) {
                return Err(Error::Cycle {
                    path: kust.path.clone(),
                    field: field.into(),
                    dir: canon,
                });
            }
            let sub = self.load_kustomization(&canon)?;
            if sub.kind == KustKind::Component {
                return Err(kust.field_error(
                    field,
                    format!(
                        "expected kind != 'Component' for path '{}'",
                        canon.display()
                    ),
                ));
            }
            let sub_acc = self.accumulate(&sub, Accumulated::default())?;
            for r in sub_acc.resources {
                self.append(acc, r, kust, field, entry)?;
            }
            if !std::sync::Arc::ptr_eq(&acc.config, &sub_acc.config) {
                if TransformerConfig::is_shared_defaults(&acc.config) {
                    acc.config = sub_acc.config.clone();
                } else if !TransformerConfig::is_shared_defaults(&sub_acc.config) {
                    std::sync::Arc::make_mut(&mut acc.config).merge(&sub_acc.config);
                }
            }
            if acc.openapi.is_none() {
                acc.openapi = sub_acc.openapi;
            }
            for v in sub_acc.vars {
                crate::vars::add_var(kust, acc, v)?;
            }
            return Ok(());
        }
        self.check_restrictor(kust, field, &canon)?;
        let bytes = self.src.read(&canon).map_err(|e| Error::ReadFile {
            path: canon.clone(),
            source: e,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        for mut r in self.parse_resources(&joined, &text)? {
            r.origin = Some(crate::resource::Origin::File(joined.clone()));
            self.append(acc, r, kust, field, entry)?;
        }
        Ok(())
    }
}

/// A scalar as Go's encoding/json writes it (integral floats without a fraction).
fn json_text(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Finds resources any of whose ids (current or earlier) equals `id`.
pub(crate) fn find_by_any_id(resources: &[Resource], id: &ResId) -> Vec<usize> {
    resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.all_ids().iter().any(|p| p.same_as(id)))
        .map(|(i, _)| i)
        .collect()
}
