//! Prometheus metrics over HTTP: `GET /metrics` serving a [`Metrics`] registry (the
//! controller's or the server's), and the server's own request metrics.
//!
//! ```text
//! request ─▶ track() layer ─▶ fjord_http_requests_total{method,route,code}
//!                            fjord_http_request_duration_seconds{method,route}
//! GET /metrics ─▶ router(metrics) ─▶ Metrics::encode() (OpenMetrics text)
//! ```
//!
//! `route` is the matched route template (`/api/v1/applications/{name}`), never the raw
//! path, so the series stay few; requests no route matched count as `unmatched`.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fjord_engine::metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// `GET /metrics`: the registry's text. Serve it on its own listener (Argo CD's
/// `argocd-metrics:8082`, `argocd-server-metrics:8083`): it needs no login.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Metrics>| async move {
                ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], m.encode()).into_response()
            }),
        )
        .with_state(metrics)
}

type RequestLabels = [(&'static str, String); 3];
type DurationLabels = [(&'static str, String); 2];

/// Request buckets (seconds): API reads take milliseconds, diffs and manifests seconds.
const HTTP_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

#[derive(Clone)]
struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
}

/// `router` with every request counted in `metrics` (`fjord_http_requests_total`,
/// `fjord_http_request_duration_seconds`).
pub fn track(router: Router, metrics: &Metrics) -> Router {
    let http = HttpMetrics {
        requests: Family::default(),
        durations: Family::new_with_constructor(http_histogram),
    };
    metrics.register(
        "fjord_http_requests",
        "HTTP requests served, by method, route and status code",
        http.requests.clone(),
    );
    metrics.register(
        "fjord_http_request_duration_seconds",
        "Time to serve HTTP requests, by method and route",
        http.durations.clone(),
    );
    router.layer(middleware::from_fn_with_state(http, record))
}

async fn record(State(http): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    let code = response.status().as_str().to_string();
    http.durations
        .get_or_create(&[("method", method.clone()), ("route", route.clone())])
        .observe(started.elapsed().as_secs_f64());
    http.requests
        .get_or_create(&[("method", method), ("route", route), ("code", code)])
        .inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_text(app: Router, uri: &str) -> (u16, String, String) {
        let res = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let ctype = res
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, ctype, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn metrics_are_served_as_openmetrics_text() {
        let metrics = Metrics::process_only();
        let (status, ctype, body) = get_text(router(metrics), "/metrics").await;
        assert_eq!(status, 200);
        assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
        assert!(body.ends_with("# EOF\n"), "{body}");
        if cfg!(target_os = "linux") {
            assert!(body.contains("process_start_time_seconds "), "{body}");
        }
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template() {
        let metrics = Metrics::process_only();
        let app = Router::new().route("/api/v1/applications/{name}", get(|| async { "app" }));
        let app = track(app, &metrics).merge(router(metrics.clone()));
        for uri in ["/api/v1/applications/a", "/api/v1/applications/b", "/nope"] {
            let _ = get_text(app.clone(), uri).await;
        }
        let (_, _, body) = get_text(app, "/metrics").await;
        assert!(
            body.contains(
                "fjord_http_requests_total{method=\"GET\",route=\"/api/v1/applications/{name}\",code=\"200\"} 2\n"
            ),
            "{body}"
        );
        assert!(
            body.contains(
                "fjord_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/applications/{name}\"} 2\n"
            ),
            "{body}"
        );
        assert!(
            !body.contains("applications/a\""),
            "raw paths never become labels: {body}"
        );
    }
}
