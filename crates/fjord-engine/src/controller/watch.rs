//! Self-heal triggers: one watcher per kind the Applications use, started when a kind is
//! first seen. A change to an object carrying a tracking id re-queues the Application the
//! id names (Applications live in the controller's namespace, so the id's instance name is
//! the Application's name).

use super::live::Kind;
use crate::resource::{ANNOTATION_TRACKING_ID, parse_tracking_id};
use crate::types::Application;
use futures::TryStreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use std::collections::HashSet;
use std::sync::Mutex;

/// The running watchers and the trigger channel they feed.
pub(crate) struct Watches {
    client: Client,
    namespace: String,
    started: Mutex<HashSet<GroupVersionKind>>,
    tx: UnboundedSender<ObjectRef<Application>>,
}

impl Watches {
    /// No watchers yet; the receiver goes to `Controller::reconcile_on`.
    pub fn new(
        client: Client,
        namespace: String,
    ) -> (Self, UnboundedReceiver<ObjectRef<Application>>) {
        let (tx, rx) = unbounded();
        (
            Watches {
                client,
                namespace,
                started: Mutex::new(HashSet::new()),
                tx,
            },
            rx,
        )
    }

    /// Starts watching `gvk` (all namespaces) unless already watched.
    pub fn ensure(&self, gvk: &GroupVersionKind, kind: &Kind) {
        let mut started = self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !started.insert(gvk.clone()) {
            return;
        }
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &kind.resource);
        let tx = self.tx.clone();
        let namespace = self.namespace.clone();
        let what = format!("{}/{} {}", gvk.group, gvk.version, gvk.kind);
        tracing::debug!(kind = %what, "watching for self-heal");
        tokio::spawn(async move {
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .touched_objects();
            futures::pin_mut!(stream);
            loop {
                match stream.try_next().await {
                    Ok(Some(obj)) => {
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
    }
}
