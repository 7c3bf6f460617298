//! The builtin transformers of one kustomization level, in kustomize's order: strategic-merge
//! patches, patches, namespace, name prefix and suffix, labels, annotations, JSON 6902 patches,
//! replicas, images, replacements.

use crate::build::{Accumulated, Builder};
use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, TransformerConfig, apply_specs, split_path};
use crate::kustomization::{Kustomization, scalar_string, string_map};
use crate::resource::{Gvk, Resource};
use serde_json::{Map, Value};
use std::path::Path;

pub(crate) fn run_transformers(
    b: &Builder,
    kust: &Kustomization,
    acc: &mut Accumulated,
) -> Result<()> {
    run_builtin_transformers(b, kust, acc)?;
    crate::plugins::run_transformer_plugins(b, kust, acc)
}

/// The transformers configured by kustomization fields, in kustomize's order.
pub(crate) fn run_builtin_transformers(
    b: &Builder,
    kust: &Kustomization,
    acc: &mut Accumulated,
) -> Result<()> {
    let count = |field: &str| {
        kust.get(field)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    let present = |field: &str| usize::from(kust.has(field));
    crate::patch::patches_strategic_merge(b, kust, acc)?;
    record_all(
        kust,
        acc,
        "PatchStrategicMergeTransformer",
        present("patchesStrategicMerge"),
    );
    crate::patch::patches(b, kust, acc)?;
    record_all(kust, acc, "PatchTransformer", count("patches"));
    namespace(kust, acc)?;
    name_prefix_suffix(kust, acc)?;
    labels(kust, acc)?;
    let label_steps = count("labels") + present("commonLabels");
    record_all(kust, acc, "LabelTransformer", label_steps);
    annotations(kust, acc)?;
    record_all(
        kust,
        acc,
        "AnnotationsTransformer",
        present("commonAnnotations"),
    );
    crate::patch::patches_json6902(b, kust, acc)?;
    record_all(
        kust,
        acc,
        "PatchJson6902Transformer",
        count("patchesJson6902"),
    );
    replicas(kust, acc)?;
    record_all(kust, acc, "ReplicaCountTransformer", count("replicas"));
    images(kust, acc)?;
    record_all(kust, acc, "ImageTagTransformer", count("images"));
    crate::replacements::run(b, kust, acc)?;
    record_all(kust, acc, "ReplacementTransformer", present("replacements"));
    Ok(())
}

/// Records `times` visits of the transformer `kind` on every object (kustomize runs each
/// configured transformer over all objects), for `buildMetadata: [transformerAnnotations]`.
fn record_all(kust: &Kustomization, acc: &mut Accumulated, kind: &str, times: usize) {
    for _ in 0..times {
        for r in acc.resources.iter_mut() {
            kust.record(r, kind);
        }
    }
}

fn namespace(kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    let ns = kust.string("namespace")?;
    if ns.is_empty() {
        return Ok(());
    }
    set_namespace(&mut acc.resources, &ns, &acc.config.namespace);
    for r in acc.resources.iter_mut() {
        kust.record(r, "NamespaceTransformer");
    }
    Ok(())
}

/// Moves every namespaced object to `ns` (Namespace objects are renamed to it).
pub(crate) fn set_namespace(resources: &mut [Resource], ns: &str, specs: &[FieldSpec]) {
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        if gvk.kind == "Namespace" && gvk.group.is_empty() {
            if r.name() != ns {
                r.set_name(ns);
            }
            continue;
        }
        if gvk.is_cluster_scoped() {
            // kustomize records the visit even when nothing changes; name references rely on it.
            let id = r.id();
            r.prev_ids.push(id);
        } else {
            r.set_namespace(ns);
        }
        if matches!(gvk.kind.as_str(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            // The default service account is taken to be the one of the new namespace.
            for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && s.get("name").and_then(Value::as_str) == Some("default")
                {
                    s.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        }
        let extra: Vec<FieldSpec> = specs
            .iter()
            .filter(|s| s.path != ["metadata", "namespace"])
            .cloned()
            .collect();
        let _ = apply_specs::<()>(r, &extra, &mut |v| {
            *v = Value::String(ns.to_string());
            Ok(())
        });
    }
}

fn name_prefix_suffix(kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    let prefix = kust.string("namePrefix")?;
    let suffix = kust.string("nameSuffix")?;
    if prefix.is_empty() && suffix.is_empty() {
        return Ok(());
    }
    for r in acc.resources.iter_mut() {
        if !prefix.is_empty() {
            kust.record(r, "PrefixTransformer");
        }
        if !suffix.is_empty() {
            kust.record(r, "SuffixTransformer");
        }
        let gvk = r.gvk();
        // kustomize never prefixes these: their names carry meaning.
        if matches!(gvk.kind.as_str(), "CustomResourceDefinition" | "Namespace")
            || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
        {
            continue;
        }
        // Without configured field specs the name itself is the only field (kustomize's default).
        if !acc.config.name_prefix.is_empty()
            && !acc
                .config
                .name_prefix
                .iter()
                .any(|s| s.applies_to(&gvk) && s.path == ["metadata", "name"])
        {
            continue;
        }
        let new = format!("{prefix}{}{suffix}", r.name());
        r.set_name(&new);
        if !prefix.is_empty() {
            r.prefixes.push(prefix.clone());
        }
        if !suffix.is_empty() {
            r.suffixes.push(suffix.clone());
        }
    }
    Ok(())
}

fn set_pairs(pairs: &[(String, String)]) -> impl FnMut(&mut Value) -> Result<(), ()> + '_ {
    move |v: &mut Value| {
        if v.is_null() {
            *v = Value::Object(Map::new());
        }
        if let Value::Object(m) = v {
            for (k, val) in pairs {
                m.insert(k.clone(), Value::String(val.clone()));
            }
        }
        Ok(())
    }
}

fn labels(kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    let entries = kust.objects("labels")?;
    for (i, e) in entries.iter().enumerate() {
        let field = format!("labels[{i}]");
        for k in e.keys() {
            if !matches!(
                k.as_str(),
                "pairs" | "includeSelectors" | "includeTemplates" | "fields"
            ) {
                return Err(kust.field_error(&field, format!("json: unknown field \"{k}\"")));
            }
        }
        let pairs = string_map(e.get("pairs").unwrap_or(&Value::Null)).ok_or_else(|| {
            kust.field_error(&format!("{field}.pairs"), "expected a map of strings")
        })?;
        let include_selectors = e
            .get("includeSelectors")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let include_templates = e
            .get("includeTemplates")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut specs: Vec<FieldSpec> = match e.get("fields") {
            Some(Value::Array(items)) => items
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
            _ => Vec::new(),
        };
        specs.extend(acc.config.labels.iter().cloned());
        if include_selectors {
            specs.extend(acc.config.common_labels.iter().cloned());
        } else {
            if include_templates {
                specs.extend(acc.config.template_labels.iter().cloned());
            }
            let meta = FieldSpec {
                group: String::new(),
                version: String::new(),
                kind: String::new(),
                path: vec!["metadata".into(), "labels".into()],
                create: true,
            };
            if !specs.contains(&meta) {
                specs.push(meta);
            }
        }
        for r in acc.resources.iter_mut() {
            let _ = apply_specs(r, &specs, &mut set_pairs(&pairs));
        }
    }
    let common = kust.string_map("commonLabels")?;
    if !common.is_empty() {
        let specs = acc.config.common_labels.clone();
        for r in acc.resources.iter_mut() {
            let _ = apply_specs(r, &specs, &mut set_pairs(&common));
        }
    }
    Ok(())
}

fn annotations(kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    let common = kust.string_map("commonAnnotations")?;
    if common.is_empty() {
        return Ok(());
    }
    let specs = acc.config.common_annotations.clone();
    for r in acc.resources.iter_mut() {
        let _ = apply_specs(r, &specs, &mut set_pairs(&common));
    }
    Ok(())
}

fn replicas(kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    for (i, e) in kust.objects("replicas")?.iter().enumerate() {
        let field = format!("replicas[{i}]");
        let name = e
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| kust.field_error(&format!("{field}.name"), "missing name"))?;
        let count = e
            .get("count")
            .and_then(Value::as_i64)
            .ok_or_else(|| kust.field_error(&format!("{field}.count"), "expected an integer"))?;
        let specs = acc.config.replicas.clone();
        let applies = |r: &Resource| {
            let gvk = r.gvk();
            r.all_ids().iter().any(|id| id.name == name) && specs.iter().any(|s| s.applies_to(&gvk))
        };
        if !acc.resources.iter().any(applies) {
            let kinds: Vec<String> = specs.iter().map(|s| s.kind.clone()).collect();
            return Err(kust.transform_error(
                &field,
                format!("resource with name {name} does not match a config with the following kinds {kinds:?}"),
            ));
        }
        for r in acc.resources.iter_mut() {
            if !r.all_ids().iter().any(|id| id.name == name) {
                continue;
            }
            let _ = apply_specs::<()>(r, &specs, &mut |v| {
                *v = Value::from(count);
                Ok(())
            });
        }
    }
    Ok(())
}

/// An `images:` entry.
struct ImageRule {
    name: String,
    new_name: String,
    new_tag: String,
    digest: String,
}

/// Splits `image` into name, tag and digest.
fn split_image(image: &str) -> (&str, &str, &str) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, d),
        None => (image, ""),
    };
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[slash..].rfind(':') {
        Some(c) => (&rest[..slash + c], &rest[slash + c + 1..], digest),
        None => (rest, "", digest),
    }
}

/// kustomize's match: the rule's name, then optionally `:tag`, then optionally `@sha256:digest`.
fn image_matches(image: &str, name: &str) -> bool {
    let Some(rest) = image.strip_prefix(name) else {
        return false;
    };
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.{}-".contains(c))
    };
    let (tag, digest) = match rest.find('@') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let tag_ok = tag.is_empty() || tag.strip_prefix(':').is_some_and(allowed);
    let digest_ok = digest.is_none_or(|d| d.strip_prefix("@sha256:").is_some_and(allowed));
    tag_ok && digest_ok
}

fn update_image(image: &str, rule: &ImageRule) -> Option<String> {
    if !image_matches(image, &rule.name) {
        return None;
    }
    let (name, tag, digest) = split_image(image);
    let mut name = name.to_string();
    let mut tag = tag.to_string();
    let mut digest = digest.to_string();
    if !rule.new_name.is_empty() {
        name = rule.new_name.clone();
    }
    if !rule.new_tag.is_empty() && !rule.digest.is_empty() {
        tag = rule.new_tag.clone();
        digest = rule.digest.clone();
    } else if !rule.new_tag.is_empty() {
        tag = rule.new_tag.clone();
        digest.clear();
    } else if !rule.digest.is_empty() {
        tag.clear();
        digest = rule.digest.clone();
    }
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    Some(name)
}

fn images(kust: &Kustomization, acc: &mut Accumulated) -> Result<()> {
    let mut rules = Vec::new();
    for (i, e) in kust.objects("images")?.iter().enumerate() {
        let s = |k: &str| e.get(k).and_then(scalar_string).unwrap_or_default();
        for k in e.keys() {
            if !matches!(
                k.as_str(),
                "name" | "newName" | "newTag" | "digest" | "tagSuffix"
            ) {
                return Err(kust.field_error(
                    &format!("images[{i}]"),
                    format!("json: unknown field \"{k}\""),
                ));
            }
        }
        let name = s("name");
        if name.is_empty()
            || name.contains([
                '[', ']', '{', '}', '(', ')', '*', '+', '?', '\\', '^', '$', '|', ' ',
            ])
        {
            return Err(kust.field_error(
                &format!("images[{i}].name"),
                format!("invalid image name {name:?}"),
            ));
        }
        rules.push(ImageRule {
            name: s("name"),
            new_name: s("newName"),
            new_tag: s("newTag"),
            digest: s("digest"),
        });
    }
    if rules.is_empty() {
        return Ok(());
    }
    let specs = acc.config.images.clone();
    let update = |v: &mut Value| {
        if let Value::String(s) = v {
            for rule in &rules {
                if let Some(new) = update_image(s, rule) {
                    *s = new;
                    break;
                }
            }
        }
    };
    for r in acc.resources.iter_mut() {
        let mut root = Value::Object(std::mem::take(&mut r.obj));
        walk_containers(&mut root, &update);
        if let Value::Object(m) = root {
            r.obj = m;
        }
        let _ = apply_specs::<()>(r, &specs, &mut |v| {
            update(v);
            Ok(())
        });
    }
    Ok(())
}

/// Calls `f` on the `image` of every element of every `containers` or `initContainers` list,
/// wherever it sits in the object (kustomize's default image field specs).
fn walk_containers(v: &mut Value, f: &dyn Fn(&mut Value)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(image) = item.get_mut("image") {
                            f(image);
                        }
                    }
                }
                walk_containers(child, f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk_containers(i, f)),
        _ => {}
    }
}

/// `crds:` files: each CRD's schema may mark fields as references to other objects
/// (`x-kubernetes-object-ref-kind`, `x-kubernetes-object-ref-name-key`).
pub(crate) fn load_crd_config(
    kust: &Kustomization,
    path: &Path,
    bytes: &[u8],
    config: &mut TransformerConfig,
) -> Result<()> {
    let text = String::from_utf8_lossy(bytes);
    let docs: Vec<Value> = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(&text)
            .map(|v| vec![v])
            .map_err(|e| kust.field_error("crds", format!("{}: {e}", path.display())))?
    } else {
        crate::yaml::parse_documents(&text).map_err(|e| Error::ParseYaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
    };
    for doc in docs {
        let Value::Object(defs) = doc else { continue };
        for (def_name, def) in &defs {
            let schema = crd_schema(def);
            let props = schema.get("properties").and_then(Value::as_object);
            // Only objects with a kind of their own start a walk (lists and sub-types are reached by $ref).
            if !props.is_some_and(|p| {
                p.contains_key("kind") && p.contains_key("apiVersion") && !p.contains_key("items")
            }) {
                continue;
            }
            let kind = def_name.rsplit('.').next().unwrap_or(def_name).to_string();
            let mut path_stack = Vec::new();
            collect_crd_refs(schema, &defs, &kind, &mut path_stack, config, 0);
        }
    }
    Ok(())
}

/// A definition's schema, unwrapping the `{Schema: ..., Dependencies: ...}` form.
fn crd_schema(def: &Value) -> &Value {
    def.get("Schema").unwrap_or(def)
}

fn collect_crd_refs(
    schema: &Value,
    defs: &Map<String, Value>,
    kind: &str,
    path: &mut Vec<String>,
    config: &mut TransformerConfig,
    depth: usize,
) {
    if depth > 12 {
        return;
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, prop) in props {
        path.push(name.clone());
        let resolved = prop
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| defs.get(r.trim_start_matches("#/definitions/")))
            .map(crd_schema)
            .unwrap_or(prop);
        if let Some(ref_kind) = prop
            .get("x-kubernetes-object-ref-kind")
            .and_then(Value::as_str)
        {
            let name_key = prop
                .get("x-kubernetes-object-ref-name-key")
                .and_then(Value::as_str)
                .unwrap_or("name");
            let mut p = path.clone();
            p.push(name_key.to_string());
            config.add_back_ref(
                Gvk {
                    group: String::new(),
                    version: String::new(),
                    kind: ref_kind.to_string(),
                },
                vec![FieldSpec {
                    group: String::new(),
                    version: String::new(),
                    kind: kind.to_string(),
                    path: p,
                    create: false,
                }],
            );
        }
        collect_crd_refs(resolved, defs, kind, path, config, depth + 1);
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_split_keeps_registry_port() {
        assert_eq!(
            split_image("reg:5000/app:1.0@sha256:abc"),
            ("reg:5000/app", "1.0", "sha256:abc")
        );
        assert_eq!(split_image("nginx"), ("nginx", "", ""));
    }

    #[test]
    fn image_rules_follow_kustomize() {
        let rule = ImageRule {
            name: "nginx".into(),
            new_name: "my/nginx".into(),
            new_tag: "1.2".into(),
            digest: String::new(),
        };
        assert_eq!(
            update_image("nginx:1.0@sha256:x", &rule).as_deref(),
            Some("my/nginx:1.2")
        );
        assert_eq!(update_image("nginxx:1.0", &rule), None);
        let pinned = ImageRule {
            name: "nginx:1.0".into(),
            new_name: String::new(),
            new_tag: "2".into(),
            digest: String::new(),
        };
        assert_eq!(
            update_image("nginx:1.0", &pinned).as_deref(),
            Some("nginx:2")
        );
    }
}
