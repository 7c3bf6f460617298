//! Self-heal triggers and the live cache: per destination cluster, one watch per kind
//! the Applications use, started when a kind is first seen. A change to an object carrying a tracking id re-queues
//! the Application the id names (Applications live in the controller's namespace, so the
//! id's instance name is the Application's name). Reconciles read live objects from these
//! stores, so a reconcile with nothing to do reads nothing from the API; anything found
//! out of sync is re-read before it is acted on (a cache may lag).
//!
//! The caches keep each object as its JSON text, not as a parsed tree: a parsed object takes
//! several times the memory of its text, and at a thousand Applications the live objects
//! were the largest part of the controller's memory. A reconcile parses only the few objects
//! of its Application.

use super::live::Kind;
use crate::resource::ResourceKey;
use crate::resource::{ANNOTATION_TRACKING_ID, parse_tracking_id};
use crate::types::Application;
use futures::TryStreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// An object's namespace ("" for cluster-scoped ones) and name.
type ObjectKey = (String, String);

/// The live objects of one kind, as JSON text, filled from its watch.
#[derive(Default)]
struct KindStore {
    /// The first full list has arrived.
    ready: bool,
    objects: HashMap<ObjectKey, Box<[u8]>>,
    /// A re-list in progress: it replaces `objects` when complete.
    relist: Option<HashMap<ObjectKey, Box<[u8]>>>,
}

fn object_key(obj: &DynamicObject) -> ObjectKey {
    (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

fn compact(obj: &DynamicObject) -> Box<[u8]> {
    serde_json::to_vec(obj)
        .unwrap_or_default()
        .into_boxed_slice()
}

impl KindStore {
    fn apply(&mut self, event: &watcher::Event<DynamicObject>) {
        match event {
            watcher::Event::Apply(obj) => {
                self.objects.insert(object_key(obj), compact(obj));
            }
            watcher::Event::Delete(obj) => {
                self.objects.remove(&object_key(obj));
            }
            watcher::Event::Init => self.relist = Some(HashMap::new()),
            watcher::Event::InitApply(obj) => {
                self.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(object_key(obj), compact(obj));
            }
            watcher::Event::InitDone => {
                self.objects = self.relist.take().unwrap_or_default();
                self.objects.shrink_to_fit();
                self.ready = true;
            }
        }
    }
}

/// The running watchers of one cluster and the trigger channel they feed. Dropping it
/// stops the watchers (a cluster whose Secret changed gets new ones).
pub(crate) struct Watches {
    client: Client,
    namespace: String,
    started: Mutex<HashMap<GroupVersionKind, Arc<RwLock<KindStore>>>>,
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
        let store = Arc::new(RwLock::new(KindStore::default()));
        started.insert(gvk.clone(), Arc::clone(&store));
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
            let stream = watcher(api, watcher::Config::default()).default_backoff();
            futures::pin_mut!(stream);
            loop {
                match stream.try_next().await {
                    Ok(Some(event)) => {
                        store
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .apply(&event);
                        if let Some(events) = &events
                            && !matches!(event, watcher::Event::Init | watcher::Event::InitDone)
                        {
                            events.inc();
                        }
                        let obj = match &event {
                            watcher::Event::Apply(o)
                            | watcher::Event::Delete(o)
                            | watcher::Event::InitApply(o) => o,
                            _ => continue,
                        };
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
                objects: store
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .objects
                    .len(),
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
        let store = store
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !store.ready {
            return None;
        }
        let namespace = if kind.namespaced {
            key.namespace.as_str()
        } else {
            ""
        };
        let found = store
            .objects
            .get(&(namespace.to_string(), key.name.clone()));
        // Text that does not parse (it cannot, short of a bug) reads as "not cached", so the
        // caller asks the API rather than taking the object for absent.
        match found {
            None => Some(None),
            Some(text) => serde_json::from_slice(text).ok().map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ns: &str, name: &str, marker: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {"marker": marker},
        }))
        .unwrap()
    }

    fn marker(store: &KindStore, ns: &str, name: &str) -> Option<String> {
        let text = store.objects.get(&(ns.to_string(), name.to_string()))?;
        let v: Value = serde_json::from_slice(text).unwrap();
        v["data"]["marker"].as_str().map(str::to_string)
    }

    #[test]
    fn a_relist_replaces_the_objects_only_when_complete() {
        let mut store = KindStore::default();
        store.apply(&watcher::Event::Init);
        store.apply(&watcher::Event::InitApply(obj("a", "one", "1")));
        assert!(!store.ready, "not ready before the first list is complete");
        store.apply(&watcher::Event::InitDone);
        assert!(store.ready);
        assert_eq!(marker(&store, "a", "one").as_deref(), Some("1"));
        store.apply(&watcher::Event::Apply(obj("a", "two", "2")));
        store.apply(&watcher::Event::Apply(obj("a", "one", "1b")));
        assert_eq!(marker(&store, "a", "one").as_deref(), Some("1b"));
        // A re-list after a watch error: the old objects serve until it completes, then
        // whatever it did not list is gone.
        store.apply(&watcher::Event::Init);
        store.apply(&watcher::Event::InitApply(obj("a", "two", "2b")));
        assert_eq!(marker(&store, "a", "one").as_deref(), Some("1b"));
        store.apply(&watcher::Event::InitDone);
        assert_eq!(marker(&store, "a", "one"), None);
        assert_eq!(marker(&store, "a", "two").as_deref(), Some("2b"));
        store.apply(&watcher::Event::Delete(obj("a", "two", "2b")));
        assert!(store.objects.is_empty());
    }
}
