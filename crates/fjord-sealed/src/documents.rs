//! Reading Kubernetes objects from YAML (multi-document) or JSON (one or several concatenated
//! objects), and writing them the way kubeseal does. Parser messages are redacted: a value that
//! failed to parse may be a secret.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, redact};

/// Output format of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Indented JSON ending with a newline (kubeseal's default).
    #[default]
    Json,
    /// YAML starting with `---`.
    Yaml,
}

/// Parse every document of `text` into JSON values, skipping empty YAML documents.
pub fn parse_documents(text: &str, origin: &str) -> Result<Vec<serde_json::Value>> {
    let trimmed = text.trim_start();
    let mut docs = Vec::new();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        for doc in serde_json::Deserializer::from_str(trimmed).into_iter::<serde_json::Value>() {
            let doc = doc.map_err(|e| Error::Parse {
                origin: origin.into(),
                reason: format!(
                    "invalid JSON at line {} column {}: {}",
                    e.line(),
                    e.column(),
                    redact(&e.to_string())
                ),
            })?;
            docs.push(doc);
        }
    } else {
        for doc in serde_norway::Deserializer::from_str(text) {
            let value = serde_json::Value::deserialize(doc).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                    .unwrap_or_default();
                Error::Parse {
                    origin: origin.into(),
                    reason: format!("invalid YAML{at}: {}", redact(&e.to_string())),
                }
            })?;
            if !value.is_null() {
                docs.push(value);
            }
        }
    }
    Ok(docs)
}

/// Deserialize one parsed document into a typed object, with a redacted message on failure.
pub fn from_document<T: for<'de> Deserialize<'de>>(
    doc: serde_json::Value,
    origin: &str,
    what: &str,
) -> Result<T> {
    serde_json::from_value(doc).map_err(|e| Error::Parse {
        origin: origin.into(),
        reason: format!("not a valid {what}: {}", redact(&e.to_string())),
    })
}

/// Render an object as kubeseal prints it: JSON indented by two spaces plus a newline, or YAML
/// after a `---` line.
pub fn render<T: Serialize>(object: &T, format: Format) -> Result<String> {
    let fail = |e: String| Error::Parse {
        origin: "output".into(),
        reason: e,
    };
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(object).map_err(|e| fail(e.to_string()))?;
            s.push('\n');
            Ok(s)
        }
        Format::Yaml => {
            let body = serde_norway::to_string(object).map_err(|e| fail(e.to_string()))?;
            Ok(format!("---\n{body}"))
        }
    }
}

/// `namespace/name` of an object for messages (`<no name>` / no namespace when absent).
pub fn object_ref(meta: &ObjectMeta) -> String {
    let name = meta
        .name
        .as_deref()
        .or(meta.generate_name.as_deref())
        .unwrap_or("<no name>");
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_streams_and_concatenated_json() {
        let docs = parse_documents("---\na: 1\n---\n---\nb: 2\n", "in").unwrap();
        assert_eq!(docs.len(), 2);
        let docs = parse_documents("{\"a\":1}\n{\"b\":2}", "in").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["b"], 2);
    }

    #[test]
    fn parse_errors_name_the_input_and_hide_values() {
        let err = parse_documents("a: \"unterminated secret\n", "secret.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("secret.yaml"), "{text}");
        let err = from_document::<k8s_openapi::api::core::v1::Secret>(
            serde_json::json!({"kind": "Secret", "apiVersion": "v1", "data": {"k": "not base64 hunter2!"}}),
            "in",
            "Secret",
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
