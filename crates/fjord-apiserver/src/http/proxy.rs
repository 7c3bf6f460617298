//! The service proxy: `/api/v1/namespaces/<ns>/services/<[scheme:]name[:port]>/proxy/<path>`.
//!
//! Clients reach an in-cluster HTTP endpoint through the API server this way; kubeseal fetches
//! the Sealed Secrets certificate and verifies and re-encrypts through it by default. As on a
//! real cluster, the target is the Service's port resolved through its Endpoints. The embedded
//! control plane has no pod network, so the endpoints are addresses this machine can reach: a
//! controller running beside the API server registers a Service without selector and an
//! Endpoints object pointing at its loopback listener.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::request::MAX_BODY_BYTES;
use crate::rest::Api;

/// How long the endpoint may take to accept the connection and to answer.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);

/// The parts of `[scheme:]name[:port]`.
#[derive(Debug, PartialEq, Eq)]
struct ServiceRef<'a> {
    scheme: &'a str,
    name: &'a str,
    port: &'a str,
}

fn parse_service_ref(segment: &str) -> ApiResult<ServiceRef<'_>> {
    let parts: Vec<&str> = segment.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => {
            return Err(ApiError::bad_request(format!(
                "invalid service request {segment:?}: expected name, name:port or scheme:name:port"
            )));
        }
    };
    if !matches!(scheme, "" | "http" | "https") {
        return Err(ApiError::bad_request(format!(
            "invalid service request {segment:?}: scheme must be http or https"
        )));
    }
    Ok(ServiceRef { scheme, name, port })
}

/// The Service port a request names: by name or number; an empty port picks the unnamed port,
/// or the only one.
fn service_port<'a>(service: &'a Value, wanted: &str) -> Option<&'a Value> {
    let ports = service.pointer("/spec/ports")?.as_array()?;
    let name_of = |p: &Value| {
        p.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if let Some(p) = ports.iter().find(|p| name_of(p) == wanted) {
        return Some(p);
    }
    if wanted.is_empty() {
        return (ports.len() == 1).then(|| &ports[0]);
    }
    ports.iter().find(|p| {
        p.get("port").and_then(Value::as_u64).map(|n| n.to_string()) == Some(wanted.into())
    })
}

/// The first ready address of the Endpoints with the port named like the Service port.
fn endpoint_address(endpoints: &Value, port_name: &str) -> Option<(String, u16)> {
    for subset in endpoints.get("subsets")?.as_array()? {
        let port = subset
            .get("ports")
            .and_then(Value::as_array)
            .and_then(|ports| {
                ports.iter().find(|p| {
                    p.get("name").and_then(Value::as_str).unwrap_or("") == port_name
                        || ports.len() == 1
                })
            });
        let Some(port) = port.and_then(|p| p.get("port")).and_then(Value::as_u64) else {
            continue;
        };
        let address = subset
            .get("addresses")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|a| a.get("ip"))
            .and_then(Value::as_str);
        if let (Some(ip), Ok(port)) = (address, u16::try_from(port)) {
            return Some((ip.to_string(), port));
        }
    }
    None
}

fn stored(api: &Api, plural: &str, namespace: &str, name: &str) -> Option<Value> {
    let types = api.registry.snapshot();
    let rt = types.get("", "v1", plural)?;
    let obj = api.store.get(&rt.key(Some(namespace), name))?;
    Some(obj.value.as_ref().clone())
}

/// Forwards one request to the service's endpoint and relays the answer.
pub async fn serve(
    api: &Api,
    namespace: &str,
    segment: &str,
    path: &str,
    req: Request,
) -> ApiResult<Response> {
    let target = parse_service_ref(segment)?;
    let service = stored(api, "services", namespace, target.name)
        .ok_or_else(|| ApiError::not_found_raw("", "services", target.name))?;
    let port = service_port(&service, target.port).ok_or_else(|| {
        ApiError::service_unavailable(format!(
            "no port {:?} on service {:?}",
            target.port, target.name
        ))
    })?;
    if target.scheme == "https" {
        return Err(ApiError::service_unavailable(
            "the embedded control plane proxies to http endpoints only",
        ));
    }
    let port_name = port.get("name").and_then(Value::as_str).unwrap_or("");
    let (ip, endpoint_port) = stored(api, "endpoints", namespace, target.name)
        .and_then(|ep| endpoint_address(&ep, port_name))
        .ok_or_else(|| {
            ApiError::service_unavailable(format!(
                "no endpoints available for service {:?}",
                target.name
            ))
        })?;
    let host = if ip.contains(':') {
        format!("[{ip}]:{endpoint_port}")
    } else {
        format!("{ip}:{endpoint_port}")
    };
    let uri = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    let mut forward = hyper::Request::builder()
        .method(parts.method)
        .uri(&uri)
        .header(header::HOST, &host);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = parts.headers.get(&name) {
            forward = forward.header(name, v);
        }
    }
    let forward = forward
        .body(http_body_util::Full::new(body))
        .map_err(|e| ApiError::bad_request(format!("cannot forward the request: {e}")))?;
    let unreachable =
        |e: String| ApiError::service_unavailable(format!("error trying to reach service: {e}"));
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(connection);
        let answer = sender
            .send_request(forward)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (parts, body) = answer.into_parts();
        // Relayed whole, so bounded: an endpoint cannot make the API server hold an unbounded
        // answer in memory.
        let bytes = http_body_util::Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                ApiError::bad_gateway(format!("the endpoint's answer cannot be relayed: {e}"))
            })?
            .to_bytes();
        Ok::<_, ApiError>((parts, bytes))
    };
    let (parts, bytes) = tokio::time::timeout(ENDPOINT_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable(format!("{host} did not answer in time")))??;
    let mut response = (
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        Body::from(bytes),
    )
        .into_response();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_references_split_like_client_go() {
        assert_eq!(
            parse_service_ref("http:sealed-secrets-controller:").unwrap(),
            ServiceRef {
                scheme: "http",
                name: "sealed-secrets-controller",
                port: ""
            }
        );
        assert_eq!(
            parse_service_ref("web:8080").unwrap(),
            ServiceRef {
                scheme: "",
                name: "web",
                port: "8080"
            }
        );
        assert!(parse_service_ref("ftp:web:21").is_err());
        assert!(parse_service_ref("a:b:c:d").is_err());
    }

    #[test]
    fn ports_are_found_by_name_number_or_as_the_only_one() {
        let svc = json!({"spec": {"ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 8081}]}});
        assert_eq!(service_port(&svc, "metrics").unwrap()["port"], 8081);
        assert_eq!(service_port(&svc, "8080").unwrap()["name"], "http");
        assert!(
            service_port(&svc, "").is_none(),
            "two named ports: an empty port is ambiguous"
        );
        let single = json!({"spec": {"ports": [{"name": "http", "port": 8080}]}});
        assert_eq!(service_port(&single, "").unwrap()["port"], 8080);
    }

    #[test]
    fn endpoints_resolve_the_named_port() {
        let ep = json!({"subsets": [
            {"addresses": [], "ports": [{"name": "http", "port": 1}]},
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "metrics", "port": 9}, {"name": "http", "port": 4242}]}
        ]});
        assert_eq!(
            endpoint_address(&ep, "http"),
            Some(("127.0.0.1".into(), 4242))
        );
        assert_eq!(endpoint_address(&json!({}), "http"), None);
    }
}
