//! Reading and setting `metadata` fields of JSON objects, and the name rules of the API.

use serde_json::{Map, Value};

use crate::http::error::FieldCause;

/// `metadata` of an object, if it is a map.
pub fn meta(v: &Value) -> Option<&Map<String, Value>> {
    v.get("metadata").and_then(Value::as_object)
}

/// `metadata`, created if missing.
pub fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let obj = v.as_object_mut().expect("just made an object");
    let m = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("just made an object")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    meta(v).and_then(|m| m.get(field)).and_then(Value::as_str)
}

/// `metadata.name` (empty if unset).
pub fn name(v: &Value) -> &str {
    meta_str(v, "name").unwrap_or("")
}

/// `metadata.labels`.
pub fn labels(v: &Value) -> Option<&Map<String, Value>> {
    meta(v)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
}

/// `metadata.finalizers` as strings.
pub fn finalizers(v: &Value) -> Vec<String> {
    meta(v)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(v: &Value) -> bool {
    meta(v).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|t| !t.is_null()))
}

/// The current time as the API writes it (RFC 3339, seconds).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The 5-character random suffix of `generateName`, from the same alphabet as the real apiserver
/// (no vowels, no confusable digits).
pub fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// How a kind's names are validated.
#[derive(Debug, Clone, Copy)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (Namespace).
    Label,
    /// RFC 1035 label (Service).
    Dns1035,
    /// Path segment only (RBAC kinds allow almost anything).
    PathSegment,
}

/// The name rule of a kind.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Checks a name against a rule; the error is a 422 cause on `metadata.name`.
pub fn validate_name(name: &str, rule: NameRule) -> Result<(), FieldCause> {
    let invalid = |msg: &str| {
        Err(FieldCause::invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": {msg}"),
        ))
    };
    if name == "." || name == ".." || name.contains('/') || name.contains('%') {
        return invalid("may not be '.' or '..' and may not contain '/' or '%'");
    }
    match rule {
        NameRule::Subdomain if !is_subdomain(name) => {
            if name.len() > 253 {
                invalid("must be no more than 253 characters")
            } else {
                invalid(DNS1123_SUBDOMAIN_MSG)
            }
        }
        NameRule::Label if !is_label(name) => {
            if name.len() > 63 {
                invalid("must be no more than 63 characters")
            } else {
                invalid(DNS1123_LABEL_MSG)
            }
        }
        NameRule::Dns1035
            if !is_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) =>
        {
            if name.len() > 63 {
                invalid("must be no more than 63 characters")
            } else {
                invalid(DNS1035_LABEL_MSG)
            }
        }
        _ => Ok(()),
    }
}

/// Checks label keys and values (qualified names, 63-character values).
pub fn validate_labels(v: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    let Some(labels) = labels(v) else {
        return causes;
    };
    for (k, val) in labels {
        if !is_qualified_name(k) {
            causes.push(FieldCause::invalid(
                "metadata.labels",
                format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
            ));
        }
        let s = match val {
            Value::String(s) => s.as_str(),
            _ => {
                causes.push(FieldCause::invalid(
                    format!("metadata.labels.{k}"),
                    "Invalid value: label values must be strings",
                ));
                continue;
            }
        };
        if !is_label_value(s) {
            causes.push(FieldCause::invalid(
                "metadata.labels",
                format!("Invalid value: \"{s}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
            ));
        }
    }
    causes
}

fn is_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_subdomain(prefix) && is_name_part(name),
        None => is_name_part(s),
    }
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_name_part(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_kind_rules() {
        assert!(validate_name("web-1.example", NameRule::Subdomain).is_ok());
        let e = validate_name("Bad_Name", NameRule::Subdomain).unwrap_err();
        assert!(e.message.contains("RFC 1123 subdomain"), "{}", e.message);
        assert!(validate_name("a.b", NameRule::Label).is_err());
        assert!(validate_name("1svc", NameRule::Dns1035).is_err());
        assert!(validate_name("system:admin", NameRule::PathSegment).is_ok());
    }

    #[test]
    fn labels_are_checked() {
        let ok = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web", "x": ""}}});
        assert!(validate_labels(&ok).is_empty());
        let bad = json!({"metadata": {"labels": {"-x": "a b"}}});
        assert_eq!(validate_labels(&bad).len(), 2);
    }

    #[test]
    fn generate_name_suffixes_use_the_safe_alphabet() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
