//! Query parameters and request bodies: what a request asks for, decoded and checked once.

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// Largest accepted request body (a real apiserver's limit is 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The query parameters of a request, by name (last one wins), and the field manager that
/// non-apply writes are recorded under.
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>, String);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            raw.map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect::<HashMap<_, _>>()
            })
            .unwrap_or_default(),
            String::new(),
        )
    }

    /// Records the User-Agent, whose part before the first `/` names the manager of writes that
    /// give no `fieldManager`.
    pub fn with_user_agent(mut self, user_agent: Option<&str>) -> Query {
        self.1 = user_agent
            .and_then(|ua| ua.split('/').next())
            .unwrap_or("")
            .to_string();
        self
    }

    /// The field manager of a non-apply write: `fieldManager`, else the User-Agent's prefix.
    pub fn update_manager(&self) -> &str {
        match self.get("fieldManager") {
            Some(m) if !m.is_empty() => m,
            _ => &self.1,
        }
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A boolean parameter (`true`/`1`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// `dryRun=All` (any other non-empty value is refused, as the real server does).
    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other}; supported values: All"
            ))),
        }
    }

    /// `fieldValidation`, defaulting to Warn like a real apiserver.
    pub fn field_validation(&self) -> ApiResult<FieldValidation> {
        match self.get("fieldValidation") {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// `limit`, when positive.
    pub fn limit(&self) -> ApiResult<Option<usize>> {
        match self.get("limit") {
            None | Some("") => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n > 0 => Ok(Some(n as usize)),
                Ok(_) => Ok(None),
                Err(_) => Err(ApiError::bad_request(format!("invalid limit: {v}"))),
            },
        }
    }

    /// `timeoutSeconds`, when given.
    pub fn timeout_seconds(&self) -> ApiResult<Option<u64>> {
        match self.get("timeoutSeconds") {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {v}"))),
        }
    }
}

/// How unknown fields in a write are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and say so in `Warning` headers.
    Warn,
    /// Refuse the request with 400.
    Strict,
}

/// The body's media type, reduced to what decoding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    /// `application/json`
    Json,
    /// `application/yaml`
    Yaml,
    /// `application/vnd.kubernetes.protobuf`
    Protobuf,
    /// `application/merge-patch+json`
    MergePatch,
    /// `application/json-patch+json`
    JsonPatch,
    /// `application/strategic-merge-patch+json`
    StrategicMergePatch,
    /// `application/apply-patch+yaml`
    ApplyPatch,
}

/// The Content-Type of a request.
pub fn body_type(headers: &HeaderMap) -> Option<BodyType> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ct.split(';').next().unwrap_or("").trim();
    Some(match media {
        "application/json" | "" => BodyType::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => BodyType::Yaml,
        "application/vnd.kubernetes.protobuf" => BodyType::Protobuf,
        "application/merge-patch+json" => BodyType::MergePatch,
        "application/json-patch+json" => BodyType::JsonPatch,
        "application/strategic-merge-patch+json" => BodyType::StrategicMergePatch,
        "application/apply-patch+yaml" => BodyType::ApplyPatch,
        _ => return None,
    })
}

/// Decodes an object body (create/update) of JSON, YAML or protobuf.
pub fn decode_object(bytes: &[u8], ty: BodyType) -> ApiResult<Value> {
    match ty {
        BodyType::Json | BodyType::MergePatch | BodyType::StrategicMergePatch => decode_json(bytes),
        BodyType::JsonPatch => decode_json(bytes),
        BodyType::Yaml | BodyType::ApplyPatch => decode_yaml(bytes),
        BodyType::Protobuf => fjord_kube_proto::decode_object(bytes).map_err(|e| match e {
            fjord_kube_proto::DecodeError::UnknownKind { .. } => ApiError::unsupported_media_type(
                format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"),
            ),
            other => ApiError::bad_request(format!(
                "the object provided is unrecognized or malformed: {other}"
            )),
        }),
    }
}

fn decode_json(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized or malformed: error decoding JSON: {e}"
        ))
    })
}

fn decode_yaml(bytes: &[u8]) -> ApiResult<Value> {
    // Most YAML bodies are JSON (kube-rs, client-go and kubectl send apply patches as JSON), and
    // JSON is YAML: the JSON parser is many times faster. Anything it refuses goes to the YAML one.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && let Ok(v) = serde_json::from_slice::<Value>(bytes)
    {
        return Ok(v);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid UTF-8: {e}")))?;
    serde_norway::from_str::<Value>(text).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized or malformed: error converting YAML to JSON: {e}"
        ))
    })
}

/// What the client accepts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// The objects themselves.
    Full,
    /// A `meta.k8s.io` Table (kubectl get).
    Table,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
}

/// Reads the Accept header: the first of its alternatives this server can produce.
pub fn representation(headers: &HeaderMap) -> Representation {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for alt in accept.split(',') {
        let params: Vec<&str> = alt.split(';').map(str::trim).collect();
        let media = params.first().copied().unwrap_or("");
        if media != "application/json" && media != "*/*" && !media.is_empty() {
            continue;
        }
        let param = |k: &str| {
            params
                .iter()
                .find_map(|p| p.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        };
        match (param("as"), param("g"), param("v")) {
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Representation::Table;
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1" | "v1beta1"),
            ) => {
                return Representation::Metadata;
            }
            (None, _, _) => return Representation::Full,
            _ => continue,
        }
    }
    Representation::Full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let mut h = HeaderMap::new();
        h.insert(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
                .parse()
                .unwrap(),
        );
        assert_eq!(representation(&h), Representation::Table);
        h.insert("accept", "application/json, */*".parse().unwrap());
        assert_eq!(representation(&h), Representation::Full);
        h.insert(
            "accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
                .parse()
                .unwrap(),
        );
        assert_eq!(representation(&h), Representation::Metadata);
    }

    #[test]
    fn query_values() {
        let q = Query::parse(Some(
            "limit=500&watch=1&fieldSelector=metadata.name%3Ddemo&dryRun=All",
        ));
        assert_eq!(q.limit().unwrap(), Some(500));
        assert!(q.flag("watch"));
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=demo"));
        assert!(q.dry_run().unwrap());
        assert!(Query::parse(Some("dryRun=Some")).dry_run().is_err());
    }
}
