//! Gauges read from the controller's state at each scrape: per destination cluster
//! (`argocd_cluster_info`, `argocd_cluster_api_resources` = kinds watched,
//! `argocd_cluster_api_resource_objects` = live objects cached, `fjord_live_cache_objects`
//! per kind), and the sizes of the render cache and the repository registry. Watch events
//! are counted as they arrive ([`ClusterEvents`]). `fjord_audit_write_failures_total` counts
//! audit records that could not be written.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::sync::{Arc, PoisonError, RwLock};

/// Objects cached for one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindCount {
    /// API group (empty for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Objects in the cache.
    pub objects: usize,
}

/// What the controller keeps for one destination cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// The API server URL.
    pub server: String,
    /// The cluster's name (`in-cluster` for the controller's own).
    pub name: String,
    /// The Kubernetes version when known (empty otherwise).
    pub k8s_version: String,
    /// The kinds watched, with their cached objects.
    pub kinds: Vec<KindCount>,
}

/// A snapshot of the controller's caches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerState {
    /// Destination clusters in use.
    pub clusters: Vec<ClusterStats>,
    /// Rendered sources kept in memory.
    pub render_cache_entries: usize,
    /// Distinct Git repositories with a shared clone.
    pub repositories: usize,
}

/// Where the state gauges come from (the controller implements it).
pub trait StateSource: Send + Sync {
    /// The current state.
    fn state(&self) -> ControllerState;
}

#[derive(Default)]
pub(crate) struct StateCollector {
    source: RwLock<Option<Arc<dyn StateSource>>>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCollector").finish_non_exhaustive()
    }
}

impl StateCollector {
    pub(crate) fn register(registry: &mut Registry) -> Arc<StateCollector> {
        let collector = Arc::new(StateCollector::default());
        registry.register_collector(Box::new(Arc::clone(&collector)));
        collector
    }

    pub(crate) fn set_source(&self, source: Arc<dyn StateSource>) {
        *self.source.write().unwrap_or_else(PoisonError::into_inner) = Some(source);
    }
}

fn gauge<S: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &S,
    value: usize,
) -> Result<(), std::fmt::Error> {
    ConstGauge::new(value as i64).encode(encoder.encode_family(labels)?)
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let source = self
            .source
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let state = source.map(|s| s.state()).unwrap_or_default();
        let mut m = encoder.encode_descriptor(
            "argocd_cluster_info",
            "Information about cluster",
            None,
            MetricType::Gauge,
        )?;
        for c in &state.clusters {
            let labels = [
                ("server", c.server.as_str()),
                ("k8s_version", c.k8s_version.as_str()),
                ("name", c.name.as_str()),
            ];
            gauge(&mut m, &labels, 1)?;
        }
        let mut m = encoder.encode_descriptor(
            "argocd_cluster_api_resources",
            "Number of monitored kubernetes API resources",
            None,
            MetricType::Gauge,
        )?;
        for c in &state.clusters {
            gauge(&mut m, &[("server", c.server.as_str())], c.kinds.len())?;
        }
        let mut m = encoder.encode_descriptor(
            "argocd_cluster_api_resource_objects",
            "Number of k8s resource objects in the cache",
            None,
            MetricType::Gauge,
        )?;
        for c in &state.clusters {
            let objects = c.kinds.iter().map(|k| k.objects).sum();
            gauge(&mut m, &[("server", c.server.as_str())], objects)?;
        }
        let mut m = encoder.encode_descriptor(
            "fjord_live_cache_objects",
            "Live objects cached per destination cluster and kind",
            None,
            MetricType::Gauge,
        )?;
        for c in &state.clusters {
            for k in &c.kinds {
                let labels = [
                    ("server", c.server.as_str()),
                    ("group", k.group.as_str()),
                    ("version", k.version.as_str()),
                    ("kind", k.kind.as_str()),
                ];
                gauge(&mut m, &labels, k.objects)?;
            }
        }
        let m = encoder.encode_descriptor(
            "fjord_render_cache_entries",
            "Rendered sources kept in memory",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(state.render_cache_entries as i64).encode(m)?;
        let m = encoder.encode_descriptor(
            "fjord_git_repositories",
            "Git repositories with a shared clone",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(state.repositories as i64).encode(m)?;
        // Audit records that could not be written: never lost silently (issue 11).
        let m = encoder.encode_descriptor(
            "fjord_audit_write_failures",
            "Audit records whose Event could not be written after retries",
            None,
            MetricType::Counter,
        )?;
        prometheus_client::metrics::counter::ConstCounter::new(crate::audit::write_failures())
            .encode(m)
    }
}

type EventLabels = [(&'static str, String); 3];

/// `argocd_cluster_events_total{server, group, kind}`: watch events received from a
/// destination cluster. Each watch takes its kind's counter once.
#[derive(Clone, Debug)]
pub struct ClusterEvents {
    family: Family<EventLabels, Counter>,
    server: String,
}

impl ClusterEvents {
    pub(crate) fn register(registry: &mut Registry) -> ClusterEvents {
        let family = Family::<EventLabels, Counter>::default();
        registry.register(
            "argocd_cluster_events",
            "Number of processes k8s resource events",
            family.clone(),
        );
        ClusterEvents {
            family,
            server: String::new(),
        }
    }

    pub(crate) fn for_server(&self, server: &str) -> ClusterEvents {
        ClusterEvents {
            family: self.family.clone(),
            server: server.to_string(),
        }
    }

    /// The counter of `group`/`kind` events of this cluster.
    pub fn for_kind(&self, group: &str, kind: &str) -> Counter {
        self.family.get_or_create_owned(&[
            ("server", self.server.clone()),
            ("group", group.to_string()),
            ("kind", kind.to_string()),
        ])
    }
}
