//! Serving a metrics registry on its own listener (`--metrics-listen`), as Argo CD serves
//! `argocd-metrics:8082` and `argocd-server-metrics:8083` apart from the API: no login,
//! and a port that a NetworkPolicy or ServiceMonitor can single out.

use std::net::SocketAddr;

use anyhow::Context;
use fjord_engine::metrics::Metrics;

/// Serves `GET /metrics` on `addr` until the runtime stops; returns the bound address.
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("listening for metrics on {addr} (choose another with --metrics-listen)")
    })?;
    serve_on(listener, metrics)
}

/// Serves `GET /metrics` on `listener`; returns its address.
pub fn serve_on(listener: tokio::net::TcpListener, metrics: Metrics) -> anyhow::Result<SocketAddr> {
    let bound = listener
        .local_addr()
        .context("reading the metrics address")?;
    let router = fjord_server::metrics::router(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(bound)
}

/// Serves `GET /metrics` on `addr`, or on a free port of the same IP when `addr` is busy
/// (for `fjord up`, where metrics are a convenience); returns the bound address.
pub async fn serve_loopback(addr: SocketAddr, metrics: Metrics) -> anyhow::Result<SocketAddr> {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0))
            .await
            .with_context(|| format!("listening for metrics on {} (any port)", addr.ip()))?,
    };
    serve_on(listener, metrics)
}
