//! The API server check: request latency (`/version` and a list) and watch delivery lag (how long
//! after a write is acknowledged a watcher receives it). It writes a few labelled ConfigMaps in the
//! given namespace and deletes them again.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};

/// Latency percentiles of one measurement.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Samples.
    pub samples: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let n = samples.len().max(1);
        let pick = |p: f64| {
            samples
                .get(((n as f64 * p).ceil() as usize).clamp(1, n) - 1)
                .copied()
                .unwrap_or_default()
        };
        Latency {
            samples: samples.len(),
            p50: pick(0.5),
            p99: pick(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }

    fn line(&self, what: &str) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)\n",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.samples
        )
    }
}

/// The API server report.
#[derive(Debug, Clone)]
pub struct ApiReport {
    /// `GET /version`.
    pub version: Latency,
    /// `GET /api/v1/namespaces`.
    pub list: Latency,
    /// From a create's acknowledgement to its watch event (0 when the event came first).
    pub watch_lag: Latency,
}

impl ApiReport {
    /// The report as people read it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&self.version.line("request latency (GET /version)"));
        s.push_str(&self.list.line("list latency (namespaces)"));
        s.push_str(
            &self
                .watch_lag
                .line("watch delivery lag (create acknowledged → event received)"),
        );
        s
    }
}

/// A failed API check.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request failed.
    #[error("{step}: {source}")]
    Request {
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The watch never delivered a write.
    #[error("the watch did not deliver the creation of ConfigMap {name} within 10 s")]
    Lost {
        /// The probe's name.
        name: String,
    },
}

fn step(step: &'static str) -> impl FnOnce(kube::Error) -> ApiError {
    move |source| ApiError::Request { step, source }
}

/// Runs the API checks with `probes` samples each, writing probe ConfigMaps in `namespace`.
///
/// Guarantees: the probe ConfigMaps are deleted before returning, also after a failure of the
/// watch measurement.
pub async fn run(
    client: kube::Client,
    namespace: &str,
    probes: usize,
) -> Result<ApiReport, ApiError> {
    let mut version = Vec::new();
    for _ in 0..probes {
        let t = Instant::now();
        client
            .apiserver_version()
            .await
            .map_err(step("GET /version"))?;
        version.push(t.elapsed());
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut list = Vec::new();
    for _ in 0..probes {
        let t = Instant::now();
        namespaces
            .list(&ListParams::default())
            .await
            .map_err(step("listing namespaces"))?;
        list.push(t.elapsed());
    }
    let cms: Api<ConfigMap> = Api::namespaced(client, namespace);
    let label = format!("fjord.dev/doctor-probe={}", std::process::id());
    let result = watch_lag(&cms, &label, probes).await;
    let cleanup = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&label),
        )
        .await
        .map_err(step("deleting the probe ConfigMaps"));
    let watch_lag = result?;
    cleanup?;
    Ok(ApiReport {
        version: Latency::of(version),
        list: Latency::of(list),
        watch_lag: Latency::of(watch_lag),
    })
}

async fn watch_lag(
    cms: &Api<ConfigMap>,
    label: &str,
    probes: usize,
) -> Result<Vec<Duration>, ApiError> {
    let rv = cms
        .list(&ListParams::default().labels(label).limit(1))
        .await
        .map_err(step("listing probe ConfigMaps"))?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut events = cms
        .watch(&WatchParams::default().labels(label).timeout(60), &rv)
        .await
        .map_err(step("starting the probe watch"))?
        .boxed();
    let (key, value) = label.split_once('=').unwrap_or((label, ""));
    let mut lags = Vec::with_capacity(probes);
    for i in 0..probes {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"generateName": "fjord-doctor-probe-", "labels": {key: value}},
            "data": {"i": i.to_string()}
        }))
        .expect("a valid ConfigMap");
        let created = cms
            .create(&PostParams::default(), &cm)
            .await
            .map_err(step("creating a probe ConfigMap"))?;
        let acked = Instant::now();
        let name = created.metadata.name.unwrap_or_default();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.next()).await {
                Ok(Some(Ok(WatchEvent::Added(c)))) if c.metadata.name.as_deref() == Some(&name) => {
                    lags.push(acked.elapsed());
                    break;
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return Err(step("reading the probe watch")(e)),
                Ok(None) | Err(_) => return Err(ApiError::Lost { name }),
            }
        }
    }
    Ok(lags)
}
