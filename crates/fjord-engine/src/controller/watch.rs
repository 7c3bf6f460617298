//! Self-heal triggers and the live cache: per destination cluster, one reflector per kind
//! the Applications use, started when a kind is first seen. A change to an object carrying a tracking id re-queues
//! the Application the id names (Applications live in the controller's namespace, so the
//! id's instance name is the Application's name). Reconciles read live objects from these
//! stores, so a reconcile with nothing to do reads nothing from the API; anything found
//! out of sync is re-read before it is acted on (a cache may lag).

use super::live::Kind;
use crate::resource::ResourceKey;
use crate::resource::{ANNOTATION_TRACKING_ID, parse_tracking_id};
use crate::types::Application;
use futures::FutureExt;
use futures::TryStreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::{self, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// The running watchers of one cluster and the trigger channel they feed. Dropping it
/// stops the watchers (a cluster whose Secret changed gets new ones).
pub(crate) struct Watches {
    client: Client,
    namespace: String,
    started: Mutex<HashMap<GroupVersionKind, Store<DynamicObject>>>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    tx: UnboundedSender<ObjectRef<Application>>,
    events: Mutex<Option<crate::metrics::ClusterEvents>>,
}

/// The channel self-heal triggers travel on; the receiver goes to
/// `Controller::reconcile_on`.
pub(crate) fn trigger_channel() -> (
    UnboundedSender<ObjectRef<Application>>,
    UnboundedReceiver<ObjectRef<Application>>,
) {
    unbounded()
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Watches {
    /// No watchers yet, for the cluster `client` talks to.
    pub fn new(
        client: Client,
        namespace: String,
        tx: UnboundedSender<ObjectRef<Application>>,
    ) -> Self {
        Watches {
            client,
            namespace,
            started: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            tx,
            events: Mutex::new(None),
        }
    }

    /// Counts the events of watches started from now on (`argocd_cluster_events_total`).
    pub fn count_events(&self, events: crate::metrics::ClusterEvents) {
        *self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(events);
    }

    /// Starts watching `gvk` (all namespaces) unless already watched.
    pub fn ensure(&self, gvk: &GroupVersionKind, kind: &Kind) {
        let mut started = self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if started.contains_key(gvk) {
            return;
        }
        let writer = reflector::store::Writer::new(kind.resource.clone());
        started.insert(gvk.clone(), writer.as_reader());
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &kind.resource);
        let tx = self.tx.clone();
        let namespace = self.namespace.clone();
        let what = format!("{}/{} {}", gvk.group, gvk.version, gvk.kind);
        let events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|e| e.for_kind(&gvk.group, &gvk.kind));
        tracing::debug!(kind = %what, "watching for self-heal");
        let task = tokio::spawn(async move {
            let stream = reflector(writer, watcher(api, watcher::Config::default()))
                .default_backoff()
                .touched_objects();
            futures::pin_mut!(stream);
            loop {
                match stream.try_next().await {
                    Ok(Some(obj)) => {
                        if let Some(events) = &events {
                            events.inc();
                        }
                        let Some(id) = obj
                            .metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(ANNOTATION_TRACKING_ID))
                            .and_then(|v| parse_tracking_id(v))
                        else {
                            continue;
                        };
                        if id.app.contains('_') {
                            continue; // an Application of another namespace
                        }
                        let target = ObjectRef::<Application>::new(&id.app).within(&namespace);
                        if tx.unbounded_send(target).is_err() {
                            return; // the controller stopped
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        // The watcher re-lists on the next poll, with backoff.
                        tracing::debug!(kind = %what, error = %e, "watch error");
                    }
                }
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task.abort_handle());
    }

    /// The kinds watched and the objects cached for each (for metrics).
    pub fn counts(&self) -> Vec<crate::metrics::KindCount> {
        let started = self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        started
            .iter()
            .map(|(gvk, store)| crate::metrics::KindCount {
                group: gvk.group.clone(),
                version: gvk.version.clone(),
                kind: gvk.kind.clone(),
                objects: store.len(),
            })
            .collect()
    }

    /// The cached live object: `None` when the kind's cache is not ready yet, `Some(None)`
    /// when the object is absent.
    pub fn cached(
        &self,
        gvk: &GroupVersionKind,
        kind: &Kind,
        key: &ResourceKey,
    ) -> Option<Option<Value>> {
        let store = self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(gvk)
            .cloned()?;
        store.wait_until_ready().now_or_never()?.ok()?;
        let mut target = ObjectRef::new_with(&key.name, kind.resource.clone());
        if kind.namespaced {
            target = target.within(&key.namespace);
        }
        Some(
            store
                .get(&target)
                .and_then(|o| serde_json::to_value(o.as_ref()).ok()),
        )
    }
}
