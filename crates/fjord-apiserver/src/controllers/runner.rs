//! The controllers' one task: follow the store's revision log, turn each event into work items,
//! run them, and sleep until the next event or timer. Nothing polls.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::ControllerOptions;
use super::index::OwnerIndex;
use crate::http::error::ApiError;
use crate::object;
use crate::rest::Api;
use crate::store::{Event, EventType};

/// One thing to reconcile, by store key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Work {
    /// An object being deleted with a garbage-collector finalizer.
    GcOwner(String),
    /// An object whose owners may be gone.
    GcDependent(String),
    Deployment(String),
    ReplicaSet(String),
    Pod(String),
    StatefulSet(String),
    DaemonSet(String),
    Job(String),
    /// A namespace that needs its `default` ServiceAccount.
    Namespace(String),
    PersistentVolumeClaim(String),
    /// A LoadBalancer Service or an Ingress.
    LoadBalancer(String),
}

/// The controllers' state.
pub(super) struct Controllers {
    pub(super) api: Arc<Api>,
    pub(super) options: ControllerOptions,
    pub(super) index: OwnerIndex,
    queue: BTreeSet<Work>,
    timers: BTreeMap<(Instant, u64), Work>,
    timer_seq: u64,
    /// When something began (a Pod's start, a rollout, a Job's run), by key, with a marker of what
    /// began (a generation, a template hash).
    clocks: HashMap<String, (String, Instant)>,
}

/// Runs until `shutdown` turns true.
pub(super) async fn run(
    api: Arc<Api>,
    options: ControllerOptions,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut revisions = api.store.subscribe();
    let mut ctl = Controllers {
        api,
        options,
        index: OwnerIndex::default(),
        queue: BTreeSet::new(),
        timers: BTreeMap::new(),
        timer_seq: 0,
        clocks: HashMap::new(),
    };
    let mut last = ctl.resync();
    loop {
        ctl.drain().await;
        let wake = ctl
            .timers
            .keys()
            .next()
            .map(|(t, _)| *t)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            changed = revisions.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match ctl.api.store.events_after(last, "") {
            Ok((events, rev)) => {
                for e in events {
                    ctl.observe(&e);
                }
                last = rev;
            }
            Err(_) => last = ctl.resync(),
        }
        ctl.fire_timers();
    }
}

impl Controllers {
    /// Rebuilds the index from the store and queues everything. Returns the revision read.
    fn resync(&mut self) -> u64 {
        self.index = OwnerIndex::default();
        let (items, rev, _) = self.api.store.list("", None, None, |_| true);
        for item in items {
            let Some(key) = key_of(&item.value, &self.api) else {
                continue;
            };
            let (_, has_owners) = self.index.update(&key, Some(&item.value));
            if self.options.garbage_collector && has_owners {
                self.queue.insert(Work::GcDependent(key.clone()));
            }
            self.route(&key, &item.value, true);
        }
        rev
    }

    fn observe(&mut self, e: &Event) {
        let deleted = e.kind == EventType::Deleted;
        let (old_owners, owners_changed) =
            self.index.update(&e.key, (!deleted).then_some(&*e.object));
        if deleted {
            self.clocks.remove(&e.key);
        }
        if self.options.garbage_collector {
            if deleted {
                if let Some(uid) = object::meta_str(&e.object, "uid") {
                    for dep in self.index.dependents(uid) {
                        self.queue.insert(Work::GcDependent(dep));
                    }
                }
                // Owners waiting in a Foreground deletion may be free now.
                for uid in old_owners {
                    if let Some(k) = self.index.key_of(&uid) {
                        self.queue.insert(Work::GcOwner(k.to_string()));
                    }
                }
            } else if owners_changed {
                self.queue.insert(Work::GcDependent(e.key.clone()));
            }
        }
        self.route(&e.key, &e.object, !deleted);
    }

    /// Queues the work an object at `key` calls for (`exists`: it was not just deleted).
    fn route(&mut self, key: &str, obj: &Value, exists: bool) {
        if self.options.garbage_collector
            && exists
            && object::is_deleting(obj)
            && object::finalizers(obj).iter().any(|f| {
                f == crate::lifecycle::FOREGROUND_FINALIZER
                    || f == crate::lifecycle::ORPHAN_FINALIZER
            })
        {
            self.queue.insert(Work::GcOwner(key.to_string()));
        }
        if !self.options.workloads {
            return;
        }
        let owner_key = |kind_prefix: &str, owner_kind: &str| -> Option<String> {
            let ns = object::meta_str(obj, "namespace")?;
            let owner = super::workloads::controller_ref(obj)?;
            (owner.get("kind").and_then(Value::as_str) == Some(owner_kind)).then(|| {
                format!(
                    "{kind_prefix}{ns}/{}",
                    owner.get("name").and_then(Value::as_str).unwrap_or("")
                )
            })
        };
        let k = key.to_string();
        if key.starts_with("apps/deployments/") {
            self.queue.insert(Work::Deployment(k));
        } else if key.starts_with("apps/replicasets/") {
            if exists {
                self.queue.insert(Work::ReplicaSet(k));
            }
            if let Some(o) = owner_key("apps/deployments/", "Deployment") {
                self.queue.insert(Work::Deployment(o));
            }
        } else if key.starts_with("/pods/") {
            if exists {
                self.queue.insert(Work::Pod(k));
            }
            if let Some(o) = owner_key("apps/replicasets/", "ReplicaSet") {
                self.queue.insert(Work::ReplicaSet(o));
            }
            if let Some(o) = owner_key("batch/jobs/", "Job") {
                self.queue.insert(Work::Job(o));
            }
            if let (Some((prefix, name)), Some(ns)) = (
                super::sets::set_owner(obj),
                object::meta_str(obj, "namespace"),
            ) {
                let set = format!("{prefix}{ns}/{name}");
                if prefix.starts_with("apps/statefulsets/") {
                    self.queue.insert(Work::StatefulSet(set));
                } else {
                    self.queue.insert(Work::DaemonSet(set));
                }
            }
        } else if key.starts_with("apps/statefulsets/") && exists {
            self.queue.insert(Work::StatefulSet(k));
        } else if key.starts_with("apps/daemonsets/") && exists {
            self.queue.insert(Work::DaemonSet(k));
        } else if key.starts_with("batch/jobs/") && exists {
            self.queue.insert(Work::Job(k));
        } else if key.starts_with("/persistentvolumeclaims/") && exists {
            self.queue.insert(Work::PersistentVolumeClaim(k));
        } else if (key.starts_with("/services/") || key.starts_with("networking.k8s.io/ingresses/"))
            && exists
        {
            self.queue.insert(Work::LoadBalancer(k));
        } else if key.starts_with("/namespaces//") && exists {
            self.queue
                .insert(Work::Namespace(object::name(obj).to_string()));
        } else if key.starts_with("/serviceaccounts/")
            && !exists
            && object::name(obj) == "default"
            && let Some(ns) = object::meta_str(obj, "namespace")
        {
            self.queue.insert(Work::Namespace(ns.to_string()));
        }
    }

    /// Runs every queued item (and what they queue in turn, up to a bound per wake-up).
    async fn drain(&mut self) {
        for _ in 0..10_000 {
            let Some(work) = self.queue.pop_first() else {
                return;
            };
            let result = match &work {
                Work::GcOwner(k) => self.gc_owner(k).await,
                Work::GcDependent(k) => self.gc_dependent(k).await,
                Work::Deployment(k) => self.deployment(k).await,
                Work::ReplicaSet(k) => self.replica_set(k).await,
                Work::Pod(k) => self.pod(k).await,
                Work::StatefulSet(k) => self.stateful_set(k).await,
                Work::DaemonSet(k) => self.daemon_set(k).await,
                Work::Job(k) => self.job(k).await,
                Work::Namespace(n) => self.service_account(n).await,
                Work::PersistentVolumeClaim(k) => self.persistent_volume_claim(k).await,
                Work::LoadBalancer(k) => self.load_balancer(k).await,
            };
            match result {
                Ok(()) => {}
                Err(e) if e.code == 404 => {}
                Err(e) if e.code == 409 => self.after(Duration::from_millis(20), work),
                Err(e) => {
                    tracing::debug!(?work, error = %e.message, "controller step failed; retrying");
                    self.after(Duration::from_millis(500), work);
                }
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let work = entry.remove();
            self.queue.insert(work);
        }
    }

    /// Queues `work` again after `delay`.
    pub(super) fn after(&mut self, delay: Duration, work: Work) {
        self.timer_seq += 1;
        self.timers
            .insert((Instant::now() + delay, self.timer_seq), work);
    }

    /// How long ago what `marker` names began at `key` (now, when it is new).
    pub(super) fn elapsed(&mut self, key: &str, marker: &str) -> Duration {
        let now = Instant::now();
        let entry = self
            .clocks
            .entry(key.to_string())
            .or_insert_with(|| (marker.to_string(), now));
        if entry.0 != marker {
            *entry = (marker.to_string(), now);
        }
        now - entry.1
    }

    /// Queues `work` for when `elapsed` reaches `total`, if it has not yet.
    pub(super) fn wake_at(&mut self, elapsed: Duration, total: Duration, work: Work) -> bool {
        if elapsed >= total {
            return true;
        }
        self.after(total - elapsed + Duration::from_millis(5), work);
        false
    }
}

/// The store key of a stored object.
fn key_of(obj: &Value, api: &Api) -> Option<String> {
    let rt = api.type_of_object(obj)?;
    Some(rt.key(object::meta_str(obj, "namespace"), object::name(obj)))
}

/// Errors of a reconcile step.
pub(super) type StepResult = Result<(), ApiError>;
