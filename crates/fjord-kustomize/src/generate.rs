//! configMapGenerator and secretGenerator: objects made from literals, files and env files,
//! combined with existing ones by behavior (create, merge, replace), and named with a hash of
//! their content at the end of the build so that references follow the new name.

use crate::build::{Accumulated, Builder};
use crate::error::Result;
use crate::kustomization::{Kustomization, scalar_string, string_map};
use crate::resource::{Behavior, Resource};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

#[derive(Default, Clone)]
struct Options {
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    disable_hash: Option<bool>,
    immutable: Option<bool>,
}

fn parse_options(kust: &Kustomization, field: &str, v: Option<&Value>) -> Result<Options> {
    let mut o = Options::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(o);
    };
    let Value::Object(m) = v else {
        return Err(kust.field_error(field, "expected a mapping"));
    };
    for (k, val) in m {
        match k.as_str() {
            "labels" => {
                o.labels = string_map(val)
                    .ok_or_else(|| kust.field_error(&format!("{field}.labels"), "expected a map"))?
            }
            "annotations" => {
                o.annotations = string_map(val).ok_or_else(|| {
                    kust.field_error(&format!("{field}.annotations"), "expected a map")
                })?
            }
            "disableNameSuffixHash" => o.disable_hash = val.as_bool(),
            "immutable" => o.immutable = val.as_bool(),
            _ => return Err(kust.field_error(field, format!("json: unknown field \"{k}\""))),
        }
    }
    Ok(o)
}

fn merge_options(global: &Options, local: &Options) -> Options {
    let mut out = global.clone();
    for (k, v) in &local.labels {
        out.labels.retain(|(x, _)| x != k);
        out.labels.push((k.clone(), v.clone()));
    }
    for (k, v) in &local.annotations {
        out.annotations.retain(|(x, _)| x != k);
        out.annotations.push((k.clone(), v.clone()));
    }
    if local.disable_hash.is_some() {
        out.disable_hash = local.disable_hash;
    }
    if local.immutable.is_some() {
        out.immutable = local.immutable;
    }
    out
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2
        && ((b[0] == b'"' && b[b.len() - 1] == b'"') || (b[0] == b'\'' && b[b.len() - 1] == b'\''))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Parses an env file: `KEY=VALUE` lines (the key as written, spaces included), `#` comments
/// and blank lines skipped; a bare name gets an empty value (kustomize does not read the
/// environment during a build).
fn parse_env(text: &str) -> Vec<(String, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => out.push((line.to_string(), String::new())),
        }
    }
    out
}

/// Reads one generator entry's key/value pairs (text values, or bytes for binary files).
fn collect_data(
    b: &Builder,
    kust: &Kustomization,
    field: &str,
    e: &Map<String, Value>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut data: Vec<(String, Vec<u8>)> = Vec::new();
    let mut put = |k: String, v: Vec<u8>, f: &str| -> Result<()> {
        if data.iter().any(|(x, _)| *x == k) {
            return Err(kust.field_error(
                f,
                format!("configmap/secret key {k:?} is given more than once"),
            ));
        }
        data.push((k, v));
        Ok(())
    };
    let list = |name: &str| -> Result<Vec<String>> {
        match e.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    scalar_string(v).ok_or_else(|| {
                        kust.field_error(&format!("{field}.{name}"), "expected strings")
                    })
                })
                .collect(),
            Some(Value::String(s)) if name == "env" => Ok(vec![s.clone()]),
            Some(_) => {
                Err(kust.field_error(&format!("{field}.{name}"), "expected a list of strings"))
            }
        }
    };
    let mut envs = list("envs")?;
    if let Some(Value::String(s)) = e.get("env") {
        envs.push(s.clone());
    }
    for env in envs {
        let f = format!("{field}.envs");
        let (_, bytes) = b.read_file(kust, &f, &env)?;
        for (k, v) in parse_env(&String::from_utf8_lossy(&bytes)) {
            put(k, v.into_bytes(), &f)?;
        }
    }
    for lit in list("literals")? {
        let f = format!("{field}.literals");
        let (k, v) = lit
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                kust.field_error(
                    &f,
                    format!("invalid literal source {lit:?}, expected key=value"),
                )
            })?;
        put(k.to_string(), unquote(v).into_bytes(), &f)?;
    }
    for file in list("files")? {
        let f = format!("{field}.files");
        let (key, path) = match file.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => {
                let base = file.rsplit('/').next().unwrap_or(&file).to_string();
                (base, file.clone())
            }
        };
        let (_, bytes) = b.read_file(kust, &f, &path)?;
        put(key, bytes, &f)?;
    }
    Ok(data)
}

pub(crate) fn run_generators(
    b: &Builder,
    kust: &Kustomization,
    acc: &mut Accumulated,
) -> Result<()> {
    let global = parse_options(kust, "generatorOptions", kust.get("generatorOptions"))?;
    for (field_name, kind) in [
        ("configMapGenerator", "ConfigMap"),
        ("secretGenerator", "Secret"),
    ] {
        for (i, e) in kust.objects(field_name)?.iter().enumerate() {
            let field = format!("{field_name}[{i}]");
            for k in e.keys() {
                if !matches!(
                    k.as_str(),
                    "name"
                        | "namespace"
                        | "behavior"
                        | "files"
                        | "literals"
                        | "envs"
                        | "env"
                        | "options"
                        | "type"
                ) {
                    return Err(kust.field_error(&field, format!("json: unknown field \"{k}\"")));
                }
            }
            let s = |k: &str| e.get(k).and_then(scalar_string).unwrap_or_default();
            let name = s("name");
            if name.is_empty() {
                return Err(kust.field_error(&format!("{field}.name"), "a generator needs a name"));
            }
            let behavior = match s("behavior").as_str() {
                "" | "create" => Behavior::Create,
                "merge" => Behavior::Merge,
                "replace" => Behavior::Replace,
                other => {
                    return Err(kust.field_error(
                        &format!("{field}.behavior"),
                        format!("unknown behavior {other:?}"),
                    ));
                }
            };
            let local = parse_options(kust, &format!("{field}.options"), e.get("options"))?;
            let opts = merge_options(&global, &local);
            let data = collect_data(b, kust, &field, e)?;
            let mut obj = Map::new();
            obj.insert("apiVersion".into(), Value::from("v1"));
            obj.insert("kind".into(), Value::from(kind));
            let mut meta = Map::new();
            meta.insert("name".into(), Value::from(name.clone()));
            let ns = s("namespace");
            if !ns.is_empty() {
                meta.insert("namespace".into(), Value::from(ns));
            }
            if !opts.labels.is_empty() {
                meta.insert("labels".into(), pairs_to_map(&opts.labels));
            }
            if !opts.annotations.is_empty() {
                meta.insert("annotations".into(), pairs_to_map(&opts.annotations));
            }
            obj.insert("metadata".into(), Value::Object(meta));
            let mut text = Map::new();
            let mut binary = Map::new();
            for (k, v) in data {
                if kind == "Secret" {
                    text.insert(k, Value::from(encode_base64_lines(&v)));
                } else {
                    match String::from_utf8(v) {
                        Ok(s) => {
                            text.insert(k, Value::from(s));
                        }
                        Err(e) => {
                            binary.insert(k, Value::from(encode_base64_lines(e.as_bytes())));
                        }
                    }
                }
            }
            if kind == "Secret" {
                let t = s("type");
                obj.insert(
                    "type".into(),
                    Value::from(if t.is_empty() {
                        "Opaque".to_string()
                    } else {
                        t
                    }),
                );
            }
            if kind == "Secret" || !text.is_empty() {
                obj.insert("data".into(), Value::Object(text));
            }
            if !binary.is_empty() {
                obj.insert("binaryData".into(), Value::Object(binary));
            }
            if opts.immutable == Some(true) {
                obj.insert("immutable".into(), Value::Bool(true));
            }
            let mut res = Resource::new(obj);
            res.needs_hash = opts.disable_hash != Some(true);
            res.behavior = Some(behavior);
            res.origin = Some(crate::resource::Origin::Generator {
                file: kust.path.clone(),
                kind: if kind == "ConfigMap" {
                    "ConfigMapGenerator"
                } else {
                    "SecretGenerator"
                }
                .to_string(),
                name: None,
            });
            combine(kust, acc, res, behavior, &field)?;
        }
    }
    Ok(())
}

/// Base64 as kustomize writes generated data: lines of 70 characters, each ending in a newline,
/// once the text is longer than one line.
fn encode_base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < 70 {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 70 + 1);
    for chunk in encoded.as_bytes().chunks(70) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

fn pairs_to_map(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
    )
}

fn combine(
    kust: &Kustomization,
    acc: &mut Accumulated,
    res: Resource,
    behavior: Behavior,
    field: &str,
) -> Result<()> {
    let id = res.id();
    let existing: Vec<usize> = acc
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let rid = r.id();
            rid.gvk.kind == id.gvk.kind
                && r.all_ids().iter().any(|p| {
                    p.name == id.name && p.effective_namespace() == id.effective_namespace()
                })
        })
        .map(|(i, _)| i)
        .collect();
    match behavior {
        Behavior::Create => {
            if !existing.is_empty() {
                return Err(kust.transform_error(
                    field,
                    format!("id {id} exists; behavior must be merge or replace"),
                ));
            }
            acc.resources.push(res);
        }
        Behavior::Merge | Behavior::Replace => {
            let Some(&idx) = existing.first() else {
                return Err(kust.transform_error(
                    field,
                    format!("id {id} does not exist; cannot merge or replace"),
                ));
            };
            let old = &mut acc.resources[idx];
            if behavior == Behavior::Replace {
                old.origin = res.origin.clone();
                for f in ["data", "binaryData", "type", "immutable"] {
                    old.obj.remove(f);
                    if let Some(v) = res.obj.get(f) {
                        old.obj.insert(f.into(), v.clone());
                    }
                }
            } else {
                for f in ["data", "binaryData"] {
                    if let Some(Value::Object(new)) = res.obj.get(f) {
                        let entry = old
                            .obj
                            .entry(f)
                            .or_insert_with(|| Value::Object(Map::new()));
                        if let Value::Object(m) = entry {
                            for (k, v) in new {
                                m.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
                if let Some(v) = res.obj.get("immutable") {
                    old.obj.insert("immutable".into(), v.clone());
                }
            }
            for f in ["labels", "annotations"] {
                if let Some(Value::Object(new)) = res.obj.get("metadata").and_then(|m| m.get(f)) {
                    let meta = old.metadata_mut();
                    let entry = meta.entry(f).or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(m) = entry {
                        for (k, v) in new {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            // An object that came from a plain resource keeps its name as it is.
            old.needs_hash = old.behavior.is_some() && res.needs_hash;
            if old.behavior.is_none() {
                old.behavior = Some(behavior);
            }
        }
    }
    Ok(())
}

/// kustomize's content hash of a ConfigMap or Secret (10 characters, vowel-free alphabet).
pub(crate) fn content_hash(obj: &Map<String, Value>) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut m = Map::new();
    m.insert("kind".into(), Value::from(kind));
    m.insert("name".into(), Value::from(""));
    // kustomize writes an absent or empty data map as "".
    let data = match obj.get("data") {
        Some(Value::Object(d)) if !d.is_empty() => Value::Object(d.clone()),
        _ => Value::from(""),
    };
    m.insert("data".into(), data);
    if kind == "ConfigMap" {
        if let Some(Value::Object(bd)) = obj.get("binaryData")
            && !bd.is_empty()
        {
            m.insert("binaryData".into(), Value::Object(bd.clone()));
        }
    } else if kind == "Secret" {
        m.insert(
            "type".into(),
            obj.get("type").cloned().unwrap_or_else(|| Value::from("")),
        );
    }
    let encoded = go_json(&Value::Object(m));
    let digest = Sha256::digest(encoded.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

/// JSON as Go's encoding/json writes it: sorted keys, `<`, `>`, `&` escaped.
fn go_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        go_json(&Value::String((*k).clone())),
                        go_json(&m[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(go_json).collect::<Vec<_>>().join(",")),
        Value::String(s) => {
            let base = serde_json::to_string(s).unwrap_or_default();
            base.replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029")
        }
        other => other.to_string(),
    }
}

/// Appends the content hash to the names of generated objects that asked for one.
pub(crate) fn add_hash_suffixes(resources: &mut [Resource]) {
    for r in resources.iter_mut().filter(|r| r.needs_hash) {
        let hash = content_hash(&r.obj);
        let name = format!("{}-{}", r.name(), hash);
        r.set_name(&name);
        r.needs_hash = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_matches_kubectl() {
        // Values checked against `kubectl kustomize` (v5.5.0).
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "p-cm"}, "data": {"a": "1", "b": "x"}});
        assert_eq!(content_hash(cm.as_object().unwrap()), "b5g875c65k");
        let s = json!({"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "MQ=="}});
        assert_eq!(content_hash(s.as_object().unwrap()), "25khgmg44c");
    }
}
