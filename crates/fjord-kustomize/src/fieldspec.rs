//! Field specs: "this path, in objects of this type". Every builtin transformer takes its list
//! from a transformer configuration; the defaults live in `defaults.yaml`, and a kustomization's
//! `configurations:` files (and `crds:`) add to them.

use crate::resource::{Gvk, Resource};
use serde_json::{Map, Value};

/// One field spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Group to match ("" matches any).
    pub group: String,
    /// Version to match ("" matches any).
    pub version: String,
    /// Kind to match ("" matches any).
    pub kind: String,
    /// Path segments.
    pub path: Vec<String>,
    /// Create missing fields on the way.
    pub create: bool,
}

impl FieldSpec {
    /// Whether it applies to objects of type `gvk`.
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        (self.group.is_empty() || self.group == gvk.group)
            && (self.version.is_empty() || self.version == gvk.version)
            && (self.kind.is_empty() || self.kind == gvk.kind)
    }
}

/// Splits a field-spec path on `/`, honoring `\/` escapes.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'/') {
            cur.push('/');
            chars.next();
        } else if c == '/' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// A name-reference rule: fields that hold the name of an object of type `gvk`.
#[derive(Debug, Clone)]
pub struct NameBackRef {
    /// The referenced type (empty parts match any).
    pub gvk: Gvk,
    /// The referring fields.
    pub referrers: Vec<FieldSpec>,
}

/// All field specs of the builtin transformers.
#[derive(Debug, Clone, Default)]
pub struct TransformerConfig {
    /// namePrefix.
    pub name_prefix: Vec<FieldSpec>,
    /// nameSuffix.
    pub name_suffix: Vec<FieldSpec>,
    /// namespace.
    pub namespace: Vec<FieldSpec>,
    /// commonLabels and labels with includeSelectors.
    pub common_labels: Vec<FieldSpec>,
    /// labels with includeTemplates.
    pub template_labels: Vec<FieldSpec>,
    /// Extra fields for every `labels` entry (`labels:` in a configuration file).
    pub labels: Vec<FieldSpec>,
    /// commonAnnotations.
    pub common_annotations: Vec<FieldSpec>,
    /// images.
    pub images: Vec<FieldSpec>,
    /// replicas.
    pub replicas: Vec<FieldSpec>,
    /// Name references.
    pub name_reference: Vec<NameBackRef>,
    /// Fields where `$(VAR)` is expanded.
    pub var_reference: Vec<FieldSpec>,
}

fn parse_spec(m: &Map<String, Value>) -> Result<FieldSpec, String> {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut group = s("group");
    let mut version = s("version");
    if let Some(api) = m.get("apiVersion").and_then(Value::as_str) {
        let g = Gvk::from_api_version(api, "");
        group = g.group;
        version = g.version;
    }
    let path = s("path");
    if path.is_empty() {
        return Err("field spec without path".into());
    }
    Ok(FieldSpec {
        group,
        version,
        kind: s("kind"),
        path: split_path(&path),
        create: m.get("create").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn parse_specs(v: &Value) -> Result<Vec<FieldSpec>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Object(m) => parse_spec(m),
                _ => Err("field spec must be a mapping".into()),
            })
            .collect(),
        _ => Err("expected a list of field specs".into()),
    }
}

impl TransformerConfig {
    /// The builtin defaults, shared (parsed once per process).
    pub fn shared_defaults() -> std::sync::Arc<TransformerConfig> {
        Self::defaults_cell().clone()
    }

    /// Whether `cfg` is the shared, unmodified defaults.
    pub fn is_shared_defaults(cfg: &std::sync::Arc<TransformerConfig>) -> bool {
        std::sync::Arc::ptr_eq(cfg, Self::defaults_cell())
    }

    fn defaults_cell() -> &'static std::sync::Arc<TransformerConfig> {
        static DEFAULTS: std::sync::OnceLock<std::sync::Arc<TransformerConfig>> =
            std::sync::OnceLock::new();
        DEFAULTS.get_or_init(|| {
            // defaults.json is defaults.yaml in JSON form (a unit test keeps them equal);
            // JSON parses an order of magnitude faster, which matters for one-shot builds.
            let doc: Value =
                serde_json::from_str(include_str!("defaults.json")).unwrap_or(Value::Null);
            let mut cfg = TransformerConfig::default();
            // The embedded file is checked by a unit test; a failure here leaves defaults empty.
            let _ = cfg.merge_value(&doc);
            std::sync::Arc::new(cfg)
        })
    }

    /// Adds the specs of one configuration document (`configurations:` file format).
    pub fn merge_value(&mut self, v: &Value) -> Result<(), String> {
        let Value::Object(m) = v else {
            return Err("transformer configuration must be a mapping".into());
        };
        for (k, v) in m {
            let target = match k.as_str() {
                "namePrefix" => &mut self.name_prefix,
                "nameSuffix" => &mut self.name_suffix,
                "namespace" => &mut self.namespace,
                "commonLabels" => &mut self.common_labels,
                "templateLabels" => &mut self.template_labels,
                "labels" => &mut self.labels,
                "commonAnnotations" => &mut self.common_annotations,
                "images" => &mut self.images,
                "replicas" => &mut self.replicas,
                "varReference" => &mut self.var_reference,
                "nameReference" => {
                    let Value::Array(items) = v else {
                        return Err("nameReference must be a list".into());
                    };
                    for item in items {
                        let Value::Object(im) = item else {
                            return Err("nameReference entry must be a mapping".into());
                        };
                        let s =
                            |k: &str| im.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        let mut gvk = Gvk {
                            group: s("group"),
                            version: s("version"),
                            kind: s("kind"),
                        };
                        if let Some(api) = im.get("apiVersion").and_then(Value::as_str) {
                            let g = Gvk::from_api_version(api, "");
                            gvk.group = g.group;
                            gvk.version = g.version;
                        }
                        let specs = parse_specs(im.get("fieldSpecs").unwrap_or(&Value::Null))?;
                        self.add_back_ref(gvk, specs);
                    }
                    continue;
                }
                _ => continue,
            };
            for spec in parse_specs(v)? {
                if !target.contains(&spec) {
                    target.push(spec);
                }
            }
        }
        Ok(())
    }

    /// Adds a name-reference rule, merging with one for the same type.
    pub fn add_back_ref(&mut self, gvk: Gvk, specs: Vec<FieldSpec>) {
        if let Some(existing) = self.name_reference.iter_mut().find(|r| r.gvk == gvk) {
            for s in specs {
                if !existing.referrers.contains(&s) {
                    existing.referrers.push(s);
                }
            }
        } else {
            self.name_reference.push(NameBackRef {
                gvk,
                referrers: specs,
            });
        }
    }

    /// Merges another configuration into this one.
    pub fn merge(&mut self, other: &TransformerConfig) {
        fn add(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) {
            for s in from {
                if !into.contains(s) {
                    into.push(s.clone());
                }
            }
        }
        add(&mut self.name_prefix, &other.name_prefix);
        add(&mut self.name_suffix, &other.name_suffix);
        add(&mut self.namespace, &other.namespace);
        add(&mut self.common_labels, &other.common_labels);
        add(&mut self.template_labels, &other.template_labels);
        add(&mut self.labels, &other.labels);
        add(&mut self.common_annotations, &other.common_annotations);
        add(&mut self.images, &other.images);
        add(&mut self.replicas, &other.replicas);
        add(&mut self.var_reference, &other.var_reference);
        for r in &other.name_reference {
            self.add_back_ref(r.gvk.clone(), r.referrers.clone());
        }
    }
}

/// Calls `f` on every value at `path` in `v`, walking into every element of lists on the way.
/// With `create`, missing mappings on the way (and a missing last field, as null) are added.
pub fn visit_path<E>(
    v: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    if path.is_empty() {
        return f(v);
    }
    match v {
        Value::Array(items) => {
            for item in items {
                visit_path(item, path, create, f)?;
            }
            Ok(())
        }
        Value::Object(m) => {
            let seg = path[0].as_str();
            let (key, is_list) = match seg.strip_suffix("[]") {
                Some(k) => (k, true),
                None => (seg, false),
            };
            if !m.contains_key(key) {
                if !create || is_list {
                    return Ok(());
                }
                let fresh = if path.len() == 1 {
                    Value::Null
                } else {
                    Value::Object(Map::new())
                };
                m.insert(key.to_string(), fresh);
            }
            match m.get_mut(key) {
                Some(child) => {
                    if child.is_null() && path.len() > 1 {
                        if !create {
                            return Ok(());
                        }
                        *child = Value::Object(Map::new());
                    }
                    visit_path(child, &path[1..], create, f)
                }
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Applies `f` at every spec in `specs` that applies to `res`.
pub fn apply_specs<E>(
    res: &mut Resource,
    specs: &[FieldSpec],
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let gvk = res.gvk();
    let mut root = Value::Object(std::mem::take(&mut res.obj));
    let mut result = Ok(());
    for spec in specs.iter().filter(|s| s.applies_to(&gvk)) {
        result = visit_path(&mut root, &spec.path, spec.create, f);
        if result.is_err() {
            break;
        }
    }
    if let Value::Object(m) = root {
        res.obj = m;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_parse_and_cover_builtins() {
        let d = TransformerConfig::shared_defaults();
        assert!(
            d.common_labels
                .iter()
                .any(|s| s.path == ["spec", "selector"] && s.kind == "Service")
        );
        assert!(
            d.name_reference
                .iter()
                .any(|r| r.gvk.kind == "ConfigMap" && r.referrers.len() > 40)
        );
        assert!(!d.var_reference.is_empty());
    }

    #[test]
    fn defaults_json_is_defaults_yaml() {
        let from_yaml = crate::yaml::parse_documents(include_str!("defaults.yaml")).unwrap();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/defaults.json");
        if std::env::var("FJORD_REGEN_DEFAULTS").is_ok() {
            std::fs::write(path, serde_json::to_string(&from_yaml[0]).unwrap()).unwrap();
        }
        let from_json: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            from_yaml[0], from_json,
            "src/defaults.json is stale: run FJORD_REGEN_DEFAULTS=1 cargo test -p fjord-kustomize defaults_json"
        );
    }

    #[test]
    fn escaped_slash_stays_in_segment() {
        assert_eq!(
            split_path("metadata/annotations/a.io\\/b"),
            vec!["metadata", "annotations", "a.io/b"]
        );
    }

    #[test]
    fn visit_walks_lists_and_creates() {
        let mut v = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let path = split_path("spec/containers/image");
        visit_path::<()>(&mut v, &path, true, &mut |x| {
            *x = json!("img");
            Ok(())
        })
        .unwrap();
        assert_eq!(v["spec"]["containers"][1]["image"], json!("img"));
    }
}
