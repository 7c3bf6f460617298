//! `transformers:` and `generators:` entries naming builtin plugin configurations
//! (`apiVersion: builtin`, e.g. `PrefixSuffixTransformer`, `PatchTransformer`,
//! `ConfigMapGenerator`). Each is translated into the kustomization field it corresponds to and
//! run by the same code, with its own field specs when it gives them. Entries are files,
//! directories (built as kustomizations whose output is the list of configurations) or inline
//! YAML. Exec, Go and container plugins are refused.

use crate::build::{Accumulated, Builder};
use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, TransformerConfig, split_path};
use crate::kustomization::Kustomization;
use crate::source::normalize;
use serde_json::{Map, Value};

/// Reads the plugin configurations named by `field` (`transformers` or `generators`).
fn load_configs(
    b: &Builder,
    kust: &Kustomization,
    field: &str,
) -> Result<Vec<(Map<String, Value>, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for (i, entry) in kust.strings(field)?.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let mut origin = kust.path.clone();
        let docs: Vec<Value> = if entry.contains('\n') {
            crate::yaml::parse_documents(entry)
                .map_err(|e| kust.field_error(&f, format!("inline configuration: {e}")))?
        } else {
            let joined = normalize(&kust.dir.join(entry));
            if b.src.is_dir(&joined) {
                let list = crate::build::build_nested(b, &joined)?;
                list.into_iter().map(Value::Object).collect()
            } else {
                let (path, bytes) = b.read_file(kust, &f, entry)?;
                origin = normalize(&kust.dir.join(entry));
                crate::yaml::parse_documents(&String::from_utf8_lossy(&bytes)).map_err(|e| {
                    Error::ParseYaml {
                        path,
                        message: e.to_string(),
                    }
                })?
            }
        };
        for d in docs {
            match d {
                Value::Object(m) => out.push((m, origin.clone())),
                _ => return Err(kust.field_error(&f, "a plugin configuration must be a mapping")),
            }
        }
    }
    Ok(out)
}

fn specs_of(cfg: &Map<String, Value>) -> Option<Vec<FieldSpec>> {
    let items = cfg.get("fieldSpecs")?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|m| {
                let path = m.get("path").and_then(Value::as_str)?;
                let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                Some(FieldSpec {
                    group: s("group"),
                    version: s("version"),
                    kind: s("kind"),
                    path: split_path(path),
                    create: m.get("create").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect(),
    )
}

fn copy(cfg: &Map<String, Value>, from: &str, to: &str, fields: &mut Map<String, Value>) {
    if let Some(v) = cfg.get(from).filter(|v| !v.is_null()) {
        fields.insert(to.to_string(), v.clone());
    }
}

fn unsupported(kust: &Kustomization, field: &str, cfg: &Map<String, Value>) -> Error {
    let kind = cfg
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("(no kind)");
    let api = cfg
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("(no apiVersion)");
    Error::Unsupported {
        path: kust.path.clone(),
        field: field.into(),
        message: format!(
            "plugin {api}/{kind} is not supported (only builtin transformers and generators are)"
        ),
    }
}

pub(crate) fn run_transformer_plugins(
    b: &Builder,
    kust: &Kustomization,
    acc: &mut Accumulated,
) -> Result<()> {
    for field in ["validators"] {
        if !kust.strings(field)?.is_empty() {
            return Err(Error::Unsupported {
                path: kust.path.clone(),
                field: field.into(),
                message: "validator plugins are not supported".into(),
            });
        }
    }
    for (cfg, origin) in load_configs(b, kust, "transformers")? {
        if cfg.get("apiVersion").and_then(Value::as_str) != Some("builtin") {
            return Err(unsupported(kust, "transformers", &cfg));
        }
        let kind = cfg.get("kind").and_then(Value::as_str).unwrap_or("");
        let mut fields = Map::new();
        let saved = acc.config.clone();
        let specs = specs_of(&cfg);
        let set = |target: &mut Vec<FieldSpec>| {
            if let Some(s) = &specs {
                *target = s.clone();
            }
        };
        let mut config: TransformerConfig = (*acc.config).clone();
        match kind {
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                copy(&cfg, "prefix", "namePrefix", &mut fields);
                copy(&cfg, "suffix", "nameSuffix", &mut fields);
                set(&mut config.name_prefix);
            }
            "LabelTransformer" => {
                copy(&cfg, "labels", "commonLabels", &mut fields);
                if specs.is_some() {
                    set(&mut config.common_labels);
                }
            }
            "AnnotationsTransformer" => {
                copy(&cfg, "annotations", "commonAnnotations", &mut fields);
                set(&mut config.common_annotations);
            }
            "NamespaceTransformer" => {
                if let Some(ns) = cfg.get("metadata").and_then(|m| m.get("namespace")) {
                    fields.insert("namespace".into(), ns.clone());
                }
                set(&mut config.namespace);
            }
            "ImageTagTransformer" => {
                if let Some(t) = cfg.get("imageTag") {
                    fields.insert("images".into(), Value::Array(vec![t.clone()]));
                }
                set(&mut config.images);
            }
            "ReplicaCountTransformer" => {
                if let Some(r) = cfg.get("replica") {
                    fields.insert("replicas".into(), Value::Array(vec![r.clone()]));
                }
                set(&mut config.replicas);
            }
            "PatchTransformer" => {
                let mut p = Map::new();
                for k in ["path", "patch", "target", "options"] {
                    copy(&cfg, k, k, &mut p);
                }
                fields.insert("patches".into(), Value::Array(vec![Value::Object(p)]));
            }
            "PatchJson6902Transformer" => {
                let mut p = Map::new();
                copy(&cfg, "target", "target", &mut p);
                copy(&cfg, "path", "path", &mut p);
                copy(&cfg, "jsonOp", "patch", &mut p);
                fields.insert(
                    "patchesJson6902".into(),
                    Value::Array(vec![Value::Object(p)]),
                );
            }
            "PatchStrategicMergeTransformer" => {
                let mut list = Vec::new();
                for k in ["paths", "patches"] {
                    match cfg.get(k) {
                        Some(Value::Array(a)) => list.extend(a.iter().cloned()),
                        Some(Value::String(s)) => list.push(Value::String(s.clone())),
                        _ => {}
                    }
                }
                fields.insert("patchesStrategicMerge".into(), Value::Array(list));
            }
            "ReplacementTransformer" => copy(&cfg, "replacements", "replacements", &mut fields),
            _ => return Err(unsupported(kust, "transformers", &cfg)),
        }
        acc.config = std::sync::Arc::new(config);
        let mut synth = Kustomization::synthetic(kust, fields);
        let meta = cfg.get("metadata");
        let text = |k: &str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        synth.plugin_origin = Some((origin, text("name"), text("namespace")));
        let outcome = crate::transform::run_builtin_transformers(b, &synth, acc);
        acc.config = saved;
        outcome?;
    }
    Ok(())
}

pub(crate) fn run_generator_plugins(
    b: &Builder,
    kust: &Kustomization,
    acc: &mut Accumulated,
) -> Result<()> {
    for (cfg, origin) in load_configs(b, kust, "generators")? {
        if cfg.get("apiVersion").and_then(Value::as_str) != Some("builtin") {
            return Err(unsupported(kust, "generators", &cfg));
        }
        let kind = cfg.get("kind").and_then(Value::as_str).unwrap_or("");
        let target = match kind {
            "ConfigMapGenerator" => "configMapGenerator",
            "SecretGenerator" => "secretGenerator",
            "IAMPolicyGenerator" => {
                let res = iam_policy_service_account(kust, &cfg)?;
                acc.resources.push(res);
                continue;
            }
            _ => return Err(unsupported(kust, "generators", &cfg)),
        };
        let mut entry = Map::new();
        let meta = cfg
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        copy(&meta, "name", "name", &mut entry);
        copy(&meta, "namespace", "namespace", &mut entry);
        for k in [
            "name",
            "namespace",
            "behavior",
            "files",
            "literals",
            "envs",
            "env",
            "options",
            "type",
        ] {
            copy(&cfg, k, k, &mut entry);
        }
        let mut fields = Map::new();
        fields.insert(target.into(), Value::Array(vec![Value::Object(entry)]));
        let synth = Kustomization::synthetic(kust, fields);
        let before = acc.resources.len();
        crate::generate::run_generators(b, &synth, acc)?;
        let name = meta.get("name").and_then(Value::as_str).map(str::to_string);
        for r in acc.resources.iter_mut().skip(before) {
            r.origin = Some(crate::resource::Origin::Generator {
                file: origin.clone(),
                kind: kind.to_string(),
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// The builtin IAMPolicyGenerator (GKE workload identity): a ServiceAccount annotated with the
/// Google service account it impersonates.
fn iam_policy_service_account(
    kust: &Kustomization,
    cfg: &Map<String, Value>,
) -> Result<crate::resource::Resource> {
    let text = |a: &str, b: &str| {
        cfg.get(a)
            .and_then(|v| v.get(b))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let cloud = cfg.get("cloud").and_then(Value::as_str).unwrap_or("");
    if cloud != "gke" {
        return Err(kust.field_error(
            "generators",
            format!("IAMPolicyGenerator: cloud {cloud:?} is not supported (only gke)"),
        ));
    }
    let (name, ns) = (
        text("kubernetesService", "name"),
        text("kubernetesService", "namespace"),
    );
    let (gsa, project) = (
        text("serviceAccount", "name"),
        text("serviceAccount", "projectId"),
    );
    if name.is_empty() || gsa.is_empty() || project.is_empty() {
        return Err(kust.field_error(
            "generators",
            "IAMPolicyGenerator needs kubernetesService.name, serviceAccount.name and serviceAccount.projectId",
        ));
    }
    let mut meta = Map::new();
    let mut ann = Map::new();
    ann.insert(
        "iam.gke.io/gcp-service-account".into(),
        Value::String(format!("{gsa}@{project}.iam.gserviceaccount.com")),
    );
    meta.insert("annotations".into(), Value::Object(ann));
    meta.insert("name".into(), Value::String(name));
    if !ns.is_empty() {
        meta.insert("namespace".into(), Value::String(ns));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::from("v1"));
    obj.insert("kind".into(), Value::from("ServiceAccount"));
    obj.insert("metadata".into(), Value::Object(meta));
    Ok(crate::resource::Resource::new(obj))
}
