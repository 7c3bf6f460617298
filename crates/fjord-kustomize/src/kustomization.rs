//! The kustomization file: reading it, checking its fields, and typed access to them. Field
//! names match case-insensitively (Go's JSON decoding does), unknown fields are an error, as
//! they are for kustomize.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// File names kustomize looks for, in order.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

/// Whether a kustomization is a plain Kustomization or a Component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KustKind {
    /// `kind: Kustomization` (or no kind).
    Kustomization,
    /// `kind: Component`.
    Component,
}

/// A parsed kustomization file.
#[derive(Debug, Clone)]
pub struct Kustomization {
    /// The file it came from.
    pub path: PathBuf,
    /// Its directory (the kustomization root).
    pub dir: PathBuf,
    /// Kustomization or Component.
    pub kind: KustKind,
    fields: Map<String, Value>,
    /// For a plugin configuration run as a kustomization: its file, name and namespace.
    pub plugin_origin: Option<(PathBuf, Option<String>, Option<String>)>,
}

impl Kustomization {
    /// Parses and checks the text of a kustomization file.
    pub fn parse(path: &Path, text: &str) -> Result<Kustomization> {
        let docs = crate::yaml::parse_documents_with(text, true).map_err(|e| Error::ParseYaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let raw = match docs.into_iter().next() {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(Error::InvalidKustomization {
                    path: path.to_path_buf(),
                    field: "(document)".into(),
                    message: "a kustomization must be a mapping".into(),
                });
            }
        };
        if raw.is_empty() {
            return Err(Error::InvalidKustomization {
                path: path.to_path_buf(),
                field: "(document)".into(),
                message: "kustomization file is empty".into(),
            });
        }
        let mut fields = Map::new();
        for (k, v) in raw {
            let canonical = KNOWN_FIELDS
                .iter()
                .find(|f| **f == k)
                .or_else(|| KNOWN_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&k)));
            match canonical {
                Some(name) => {
                    fields.insert(name.to_string(), v);
                }
                None => {
                    return Err(Error::InvalidKustomization {
                        path: path.to_path_buf(),
                        field: k.clone(),
                        message: format!("json: unknown field \"{k}\""),
                    });
                }
            }
        }
        for (name, value) in &fields {
            check_type(&field_type(name), value, name).map_err(|(field, message)| {
                Error::InvalidKustomization {
                    path: path.to_path_buf(),
                    field,
                    message,
                }
            })?;
        }
        let kind = match fields.get("kind").and_then(Value::as_str) {
            None | Some("") | Some("Kustomization") => KustKind::Kustomization,
            Some("Component") => KustKind::Component,
            Some(other) => {
                return Err(Error::InvalidKustomization {
                    path: path.to_path_buf(),
                    field: "kind".into(),
                    message: format!("kind should be Kustomization or Component, not {other:?}"),
                });
            }
        };
        let api = fields
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if kind == KustKind::Component
            && !api.is_empty()
            && api != "kustomize.config.k8s.io/v1alpha1"
        {
            return Err(Error::InvalidKustomization {
                path: path.to_path_buf(),
                field: "apiVersion".into(),
                message: "apiVersion for Component should be kustomize.config.k8s.io/v1alpha1"
                    .into(),
            });
        }
        if kind == KustKind::Kustomization
            && !api.is_empty()
            && api != "kustomize.config.k8s.io/v1beta1"
            && api != "kustomize.config.k8s.io/v1"
        {
            return Err(Error::InvalidKustomization {
                path: path.to_path_buf(),
                field: "apiVersion".into(),
                message: "apiVersion for Kustomization should be kustomize.config.k8s.io/v1beta1"
                    .into(),
            });
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Kustomization {
            path: path.to_path_buf(),
            dir,
            kind,
            fields,
            plugin_origin: None,
        })
    }

    /// A kustomization with the given fields, at the same place as `base` (used to run a
    /// builtin plugin configuration through the transformer or generator it configures).
    pub fn synthetic(base: &Kustomization, fields: Map<String, Value>) -> Kustomization {
        Kustomization {
            path: base.path.clone(),
            dir: base.dir.clone(),
            kind: KustKind::Kustomization,
            fields,
            plugin_origin: None,
        }
    }

    /// Records on `res` that the transformer `kind` configured here visited it.
    pub fn record(&self, res: &mut crate::resource::Resource, kind: &str) {
        let (file, name, namespace) = match &self.plugin_origin {
            Some((f, n, ns)) => (f.clone(), n.clone(), ns.clone()),
            None => (self.path.clone(), None, None),
        };
        res.transformations.push(crate::resource::Transformation {
            file,
            kind: kind.to_string(),
            name,
            namespace,
        });
    }

    /// An error about `field` of this file.
    pub fn field_error(&self, field: &str, message: impl Into<String>) -> Error {
        Error::InvalidKustomization {
            path: self.path.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A transform error about `field` of this file.
    pub fn transform_error(&self, field: &str, message: impl Into<String>) -> Error {
        Error::Transform {
            path: self.path.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The raw value of a field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field).filter(|v| !v.is_null())
    }

    /// Whether the field is present and not null.
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// A string field ("" when absent).
    pub fn string(&self, field: &str) -> Result<String> {
        match self.get(field) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(_) => Err(self.field_error(field, "expected a string")),
        }
    }

    /// A list of strings.
    pub fn strings(&self, field: &str) -> Result<Vec<String>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    scalar_string(v).ok_or_else(|| {
                        self.field_error(&format!("{field}[{i}]"), "expected a string")
                    })
                })
                .collect(),
            Some(_) => Err(self.field_error(field, "expected a list of strings")),
        }
    }

    /// A map of strings to strings, in file order.
    pub fn string_map(&self, field: &str) -> Result<Vec<(String, String)>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(v) => {
                string_map(v).ok_or_else(|| self.field_error(field, "expected a map of strings"))
            }
        }
    }

    /// A list of objects.
    pub fn objects(&self, field: &str) -> Result<Vec<Map<String, Value>>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m.clone()),
                    _ => Err(self.field_error(&format!("{field}[{i}]"), "expected a mapping")),
                })
                .collect(),
            Some(_) => Err(self.field_error(field, "expected a list")),
        }
    }
}

/// A scalar as the string Go would decode into a `string` field.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// A mapping of scalars as string pairs.
pub fn string_map(v: &Value) -> Option<Vec<(String, String)>> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| scalar_string(v).map(|s| (k.clone(), s)))
            .collect(),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}

/// The Go type of a kustomization field, as far as decoding checks it: kustomize decodes the
/// file strictly into typed structs, so a number where a string belongs fails the build.
#[derive(Clone, Copy)]
enum FieldType {
    Str,
    Bool,
    Int,
    StrList,
    StrMap,
    List(&'static FieldType),
    Obj(&'static [(&'static str, FieldType)]),
    Any,
}

use FieldType::{Any, Bool, Int, List, Obj, Str, StrList, StrMap};

const SELECTOR: FieldType = Obj(&[
    ("group", Str),
    ("version", Str),
    ("kind", Str),
    ("name", Str),
    ("namespace", Str),
    ("labelSelector", Str),
    ("annotationSelector", Str),
]);
const GENERATOR_OPTIONS: FieldType = Obj(&[
    ("labels", StrMap),
    ("annotations", StrMap),
    ("disableNameSuffixHash", Bool),
    ("immutable", Bool),
]);
const GENERATOR: FieldType = Obj(&[
    ("name", Str),
    ("namespace", Str),
    ("behavior", Str),
    ("files", StrList),
    ("literals", StrList),
    ("envs", StrList),
    ("env", Str),
    ("type", Str),
    ("options", GENERATOR_OPTIONS),
]);
const FIELD_SPEC: FieldType = Obj(&[
    ("group", Str),
    ("version", Str),
    ("kind", Str),
    ("path", Str),
    ("create", Bool),
]);
const IMAGE: FieldType = Obj(&[
    ("name", Str),
    ("newName", Str),
    ("newTag", Str),
    ("digest", Str),
    ("tagSuffix", Str),
]);

fn field_type(name: &str) -> FieldType {
    match name {
        "apiVersion" | "kind" | "namePrefix" | "nameSuffix" | "namespace" => Str,
        "openapi" | "commonLabels" | "commonAnnotations" => StrMap,
        "resources"
        | "components"
        | "crds"
        | "bases"
        | "configurations"
        | "generators"
        | "transformers"
        | "validators"
        | "patchesStrategicMerge"
        | "buildMetadata" => StrList,
        "labels" => List(&Obj(&[
            ("pairs", StrMap),
            ("includeSelectors", Bool),
            ("includeTemplates", Bool),
            ("fields", List(&FIELD_SPEC)),
        ])),
        "patches" => List(&Obj(&[
            ("path", Str),
            ("patch", Str),
            ("target", SELECTOR),
            (
                "options",
                Obj(&[("allowNameChange", Bool), ("allowKindChange", Bool)]),
            ),
        ])),
        "patchesJson6902" => List(&Obj(&[("path", Str), ("patch", Str), ("target", SELECTOR)])),
        "images" | "imageTags" => List(&IMAGE),
        "replicas" => List(&Obj(&[("name", Str), ("count", Int)])),
        "configMapGenerator" | "secretGenerator" => List(&GENERATOR),
        "generatorOptions" => GENERATOR_OPTIONS,
        _ => Any,
    }
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn check_type(t: &FieldType, v: &Value, at: &str) -> std::result::Result<(), (String, String)> {
    let wrong = |want: &str| {
        Err((
            at.to_string(),
            format!(
                "json: cannot unmarshal {} into field {at} of type {want}",
                go_kind(v)
            ),
        ))
    };
    if v.is_null() {
        return Ok(());
    }
    match t {
        Any => Ok(()),
        Str => {
            if v.is_string() {
                Ok(())
            } else {
                wrong("string")
            }
        }
        Bool => {
            if v.is_boolean() {
                Ok(())
            } else {
                wrong("bool")
            }
        }
        Int => {
            if v.as_i64().is_some() {
                Ok(())
            } else {
                wrong("int")
            }
        }
        StrList => match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_type(&Str, item, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            _ => wrong("[]string"),
        },
        StrMap => match v {
            Value::Object(m) => {
                for (k, item) in m {
                    check_type(&Str, item, &format!("{at}.{k}"))?;
                }
                Ok(())
            }
            _ => wrong("map[string]string"),
        },
        List(inner) => match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_type(inner, item, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            _ => wrong("list"),
        },
        Obj(fields) => match v {
            Value::Object(m) => {
                for (k, item) in m {
                    if let Some((_, ft)) = fields.iter().find(|(name, _)| name == k) {
                        check_type(ft, item, &format!("{at}.{k}"))?;
                    }
                }
                Ok(())
            }
            _ => wrong("object"),
        },
    }
}
