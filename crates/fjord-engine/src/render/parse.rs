//! Turning manifest file text into Kubernetes objects.
//!
//! YAML files may hold several documents (`---`), read with kubectl's YAML 1.1 scalar rules
//! (see `yaml11`: `defaultMode: 0644` is 420); empty documents are skipped; JSON files
//! hold one object (or an array of them). `List` kinds are flattened into their `items`, as
//! `kubectl apply` does. Every object must have `apiVersion`, `kind` and `metadata.name`:
//! the error names the file, the document (counting from 1) and what is missing.

use super::yaml11::Yaml11;
use super::{DesiredObject, RenderError};
use crate::resource::ResourceKey;
use serde::de::DeserializeSeed;
use serde_json::Value;

/// The objects of one YAML file (several documents).
pub fn parse_yaml(file: &str, text: &str) -> Result<Vec<DesiredObject>, RenderError> {
    let mut out = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        let value =
            Yaml11 { input: text }
                .deserialize(doc)
                .map_err(|e| RenderError::InvalidYaml {
                    file: file.to_string(),
                    document,
                    message: e.to_string(),
                })?;
        if value.is_null() {
            continue;
        }
        collect(file, document, value, &mut out)?;
    }
    Ok(out)
}

/// The objects of one JSON file (an object, a `List`, or an array of objects).
pub fn parse_json(file: &str, text: &str) -> Result<Vec<DesiredObject>, RenderError> {
    let value: Value = serde_json::from_str(text).map_err(|e| RenderError::InvalidJson {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    match value {
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                collect(file, i + 1, item, &mut out)?;
            }
        }
        Value::Null => {}
        other => collect(file, 1, other, &mut out)?,
    }
    Ok(out)
}

fn collect(
    file: &str,
    document: usize,
    value: Value,
    out: &mut Vec<DesiredObject>,
) -> Result<(), RenderError> {
    let invalid = |problem: String| RenderError::InvalidObject {
        file: file.to_string(),
        document,
        problem,
    };
    if !value.is_object() {
        return Err(invalid(format!(
            "expected a mapping, found {}",
            type_name(&value)
        )));
    }
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.ends_with("List") && value.get("items").is_some_and(Value::is_array) {
        let mut value = value;
        let items = value.get_mut("items").map(Value::take);
        for (i, item) in items.into_iter().flat_map(array_items).enumerate() {
            collect(file, document, item, out).map_err(|e| match e {
                RenderError::InvalidObject {
                    file,
                    document,
                    problem,
                } => RenderError::InvalidObject {
                    file,
                    document,
                    problem: format!("items[{i}]: {problem}"),
                },
                other => other,
            })?;
        }
        return Ok(());
    }
    for field in ["apiVersion", "kind"] {
        match value.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(other) if !other.is_null() => {
                return Err(invalid(format!("{field} must be a string")));
            }
            _ => return Err(invalid(format!("missing {field}"))),
        }
    }
    // A hook may carry only `generateName`; the sync names it (`plan::hooks::name_hook`).
    let key = ResourceKey::of(&value).or_else(|| generate_name_key(&value));
    let Some(key) = key else {
        return Err(invalid("missing metadata.name".to_string()));
    };
    if key.name.is_empty() {
        return Err(invalid("missing metadata.name".to_string()));
    }
    out.push(DesiredObject {
        key,
        object: value,
        file: file.to_string(),
        document,
    });
    Ok(())
}

/// The key of a `generateName`-only object, named by its prefix.
fn generate_name_key(value: &Value) -> Option<ResourceKey> {
    let meta = value.get("metadata")?;
    if meta.get("name").and_then(Value::as_str).is_some() {
        return None;
    }
    let prefix = meta.get("generateName")?.as_str()?;
    let api_version = value.get("apiVersion")?.as_str()?;
    Some(ResourceKey::new(
        crate::resource::group_of(api_version),
        value.get("kind")?.as_str()?,
        meta.get("namespace").and_then(Value::as_str).unwrap_or(""),
        prefix,
    ))
}

fn array_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(objs: &[DesiredObject]) -> Vec<String> {
        objs.iter().map(|o| o.key.to_string()).collect()
    }

    #[test]
    fn multi_document_yaml_skips_empty_documents() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns1}\n---\n---\n# only a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n";
        let objs = parse_yaml("app/x.yaml", text).unwrap();
        assert_eq!(names(&objs), ["ConfigMap ns1/a", "apps/Deployment b"]);
        assert_eq!(objs[1].document, 4);
    }

    #[test]
    fn list_kinds_are_flattened() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n";
        assert_eq!(
            names(&parse_yaml("l.yaml", text).unwrap()),
            ["Service s", "ConfigMap c"]
        );
        let bad = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {}\n";
        assert_eq!(
            parse_yaml("l.yaml", bad).unwrap_err().to_string(),
            "l.yaml: document 1: items[0]: missing metadata.name"
        );
    }

    #[test]
    fn errors_name_file_document_and_problem() {
        let missing_kind = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n";
        assert_eq!(
            parse_yaml("d/f.yaml", missing_kind)
                .unwrap_err()
                .to_string(),
            "d/f.yaml: document 2: missing kind"
        );
        assert_eq!(
            parse_yaml("f.yaml", "kind: X\nmetadata: {name: a}\n")
                .unwrap_err()
                .to_string(),
            "f.yaml: document 1: missing apiVersion"
        );
        assert_eq!(
            parse_yaml("f.yaml", "- a\n- b\n").unwrap_err().to_string(),
            "f.yaml: document 1: expected a mapping, found a list"
        );
        let invalid = parse_yaml(
            "f.yaml",
            "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nb: [1, 2\n",
        )
        .unwrap_err();
        assert!(
            matches!(invalid, RenderError::InvalidYaml { document: 2, .. }),
            "{invalid}"
        );
        assert!(
            invalid
                .to_string()
                .starts_with("f.yaml: document 2: invalid YAML: ")
        );
    }

    #[test]
    fn json_object_list_and_array() {
        let one = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}"#;
        assert_eq!(names(&parse_json("s.json", one).unwrap()), ["Secret s"]);
        let arr = format!("[{one},{one}]");
        assert_eq!(parse_json("s.json", &arr).unwrap().len(), 2);
        let err = parse_json("s.json", "{\"kind\": ").unwrap_err();
        assert!(
            err.to_string().starts_with("s.json: invalid JSON: "),
            "{err}"
        );
    }
}
