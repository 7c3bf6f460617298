//! Sharding by Application across controller replicas, and leader election for the
//! cluster-wide duties.
//!
//! # Membership
//! Every replica keeps one `coordination.k8s.io/v1` Lease in the controller namespace,
//! `fjord-controller-<member>` labelled `fjord.dev/shard=member`, renewed every third of the
//! lease duration ([`membership`]). All replicas watch these Leases (one watch, no polling),
//! so in steady state a replica's only requests are its renewals. A member is dead when its
//! Lease has expired by the record (`renewTime + leaseDurationSeconds < now`) *and* we have
//! not seen it renewed for a whole duration on our own monotonic clock. The live members make
//! the *view*; Applications are assigned by consistent hashing of `namespace/name` over the
//! view ([`ring`]), so a member joining or leaving moves about 1/N of them.
//!
//! # Exactly one reconciler per Application
//! Each member publishes, in its Lease's `fjord.dev/shard-view` annotation, the hash of the
//! view it acts upon. The gate ([`gate`]) lets a reconcile of key `k` start only when:
//!
//! 1. the member is not *fenced*: its last renewal known to have succeeded, sent at `t`,
//!    protects it until `t + duration − margin` (margin = duration/4). At that deadline every
//!    reconcile in flight is cancelled, nothing starts, and the held list (rule 3) is emptied;
//!    a renewal that succeeds later lifts the fence but restores nothing: the member starts
//!    again only through a new agreement;
//! 2. the current view gives `k` to the member; and
//! 3. every ring in its *held* list gives `k` to it. The held list is reset to `[V]` when
//!    every member of the current view `V` (itself included) has published `V`
//!    (*agreement*), and each view the member publishes afterwards is appended.
//!
//! On a new view the member stops starting what the view no longer gives it (rule 2), waits
//! for those reconciles in flight (cancelling them after one lease duration), then publishes
//! the view. Agreement is only taken from a fresh picture: the watch must have delivered the
//! member's own latest write (watch events are ordered, so everything before it has been
//! seen too). When agreement is reached the keys that became startable are re-queued from the
//! controller's store.
//!
//! Why two members never run `k` at once: suppose A may start `k` while B runs it. B
//! started it under an agreement on some `W` that gives `k` to B.
//!
//! - If A is in `W`, A had published `W` — after draining `k`, which `W` does not give it.
//!   Since then A can start `k` only through a later agreement, which needs B to publish a
//!   view that does not give `k` to B (after draining it), or through its held list, which
//!   now contains `W` and so excludes `k`.
//! - If A is not in `W`, B judged A dead from a fresh picture: B had seen its own latest
//!   write, hence every renewal of A applied before it, and saw none for a whole duration. So
//!   the renewals A knew had succeeded were sent at least a duration before, and A fenced
//!   itself a margin before B could agree: it cancelled everything and emptied its held list.
//!   A renewal of A applied later lifts A's fence, but A then needs a new agreement, which
//!   needs B to publish a view that contains A (so B has seen A alive again, and drained
//!   what that view gives A). Both arguments need only the observed-change clock; the
//!   record's own expiry merely keeps members alive longer.
//!
//! A member that misses the agreement (watch behind, a member about to expire) just waits:
//! disagreement costs availability, never exclusivity. The margin covers a request still
//! travelling when its reconcile is cancelled. Replica ids must be unique among live
//! processes (pod names are).
//!
//! # Leader
//! The cluster-wide duties (the Sealed Secrets key manager, the `default` AppProject) run on
//! the holder of the Lease `fjord-controller-leader` ([`leader`]): acquired when free or
//! expired (by the same two-clock rule), renewed with the member Lease, released on shutdown,
//! and given up a margin before it could expire unrenewed. [`Shard::leadership`] tells the
//! duties when to start and stop.
//!
//! Each reconcile a member runs logs one event on target `fjord::shard` (replica, app,
//! `start_ms`, `end_ms` since the Unix epoch, outcome), from which tests check that no two
//! replicas' intervals of one Application overlap.

mod coordinator;
mod gate;
mod leader;
pub mod membership;
pub mod ring;

use crate::types::Application;
use futures::future::{AbortHandle, Abortable};
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

pub use membership::{default_replica_id, member_lease_name};

/// How a replica takes part in sharding.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// The controller namespace, where the Leases live.
    pub namespace: String,
    /// This replica's id (its Lease is `fjord-controller-<id>`).
    pub replica_id: String,
    /// Lease duration (Kubernetes leader election's default: 15 s). Renewals every third.
    pub lease_duration: Duration,
}

impl ShardConfig {
    /// A replica `replica_id` in `namespace` with a 15 s lease.
    pub fn new(namespace: impl Into<String>, replica_id: impl Into<String>) -> ShardConfig {
        ShardConfig {
            namespace: namespace.into(),
            replica_id: replica_id.into(),
            lease_duration: Duration::from_secs(15),
        }
    }
}

/// Why sharding could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The replica id makes no valid Lease name.
    #[error("sharding: {0}")]
    ReplicaId(String),
    /// The lease duration is too short to renew within.
    #[error("sharding: a lease duration of {0:?} is too short (at least 3 s)")]
    LeaseDuration(Duration),
}

/// The controller store and re-queue channel, once the Application controller runs.
type Attachment = (Store<Application>, Requeue);

/// Where gained Applications are re-queued (the controller's `reconcile_on` channel).
pub(crate) type Requeue = futures::channel::mpsc::UnboundedSender<ObjectRef<Application>>;

/// One replica's membership: the gate reconciles pass, the leader flag, and the background
/// task that renews and watches the Leases.
pub struct Shard {
    config: ShardConfig,
    client: Client,
    gate: Mutex<gate::GateState>,
    /// A reconcile ended (a drain may be complete).
    wake: Notify,
    leader: watch::Sender<bool>,
    attached: Mutex<Option<Attachment>>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("replica_id", &self.config.replica_id)
            .field("leader", &*self.leader.borrow())
            .finish()
    }
}

impl Shard {
    /// Starts membership (the first renewal, the Lease watch, leader election) in the
    /// background. Reconciles are admitted once every live replica agrees on the view.
    pub fn start(client: Client, config: ShardConfig) -> Result<Arc<Shard>, ShardError> {
        membership::check_replica_id(&config.replica_id).map_err(ShardError::ReplicaId)?;
        if config.lease_duration < Duration::from_secs(3) {
            return Err(ShardError::LeaseDuration(config.lease_duration));
        }
        let shard = Arc::new(Shard {
            gate: Mutex::new(gate::GateState::new(&config.replica_id)),
            config,
            client,
            wake: Notify::new(),
            leader: watch::channel(false).0,
            attached: Mutex::new(None),
            stop: watch::channel(false).0,
            task: Mutex::new(None),
        });
        tokio::spawn(coordinator::enforce_fence(Arc::clone(&shard)));
        let task = tokio::spawn(coordinator::run(Arc::clone(&shard)));
        *lock(&shard.task) = Some(task);
        tracing::info!(replica = %shard.config.replica_id, lease_duration = ?shard.config.lease_duration, "sharding on");
        Ok(shard)
    }

    /// This replica's id.
    pub fn replica_id(&self) -> &str {
        &self.config.replica_id
    }

    /// Whether this replica holds the leader Lease now, as a watch (`true` while leader).
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// Whether this replica reconciles the Application `namespace/name` now (what it reports
    /// in `argocd_app_info`, so that replicas' series add up to each Application once).
    pub fn owns(&self, key: &str) -> bool {
        lock(&self.gate).owns_now(key)
    }

    /// Whether this replica is the leader now.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Stops reconciling (cancelling what is in flight), deletes this replica's Lease so the
    /// others take over at once, and releases the leader Lease. Call after the controllers
    /// stopped.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(task) = task
            && tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
        {
            tracing::warn!("sharding did not stop within 5 s");
        }
    }

    /// Gives the coordinator the controller's store and re-queue channel, and starts the
    /// leader's `default` AppProject duty.
    pub(crate) fn attach(self: &Arc<Self>, store: Store<Application>, requeue: Requeue) {
        *lock(&self.attached) = Some((store, requeue));
        tokio::spawn(leader::keep_default_project(
            self.client.clone(),
            self.config.namespace.clone(),
            self.leadership(),
        ));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn epoch_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Removes the reconcile from the gate when it ends, however it ends.
struct InFlightGuard<'a> {
    shard: &'a Shard,
    key: &'a str,
    id: u64,
    start_ms: u128,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shard.gate).finish(self.key, self.id);
        self.shard.wake.notify_one();
    }
}

/// Runs `reconcile` of Application `key` when this replica may (always when `shard` is
/// `None`); otherwise returns `Action::await_change()` without touching anything: the
/// Application is re-queued when this replica gains it.
pub(crate) async fn gated<E>(
    shard: Option<&Arc<Shard>>,
    key: &str,
    reconcile: impl Future<Output = Result<Action, E>>,
) -> Result<Action, E> {
    let Some(shard) = shard else {
        return reconcile.await;
    };
    let (handle, registration) = AbortHandle::new_pair();
    let Some(id) = lock(&shard.gate).admit(key, handle, Instant::now()) else {
        return Ok(Action::await_change());
    };
    let guard = InFlightGuard {
        shard,
        key,
        id,
        start_ms: epoch_ms(),
    };
    let result = Abortable::new(reconcile, registration).await;
    let outcome = match &result {
        Ok(Ok(_)) => "done",
        Ok(Err(_)) => "failed",
        Err(_) => "cancelled",
    };
    tracing::info!(
        target: "fjord::shard",
        replica = %shard.config.replica_id,
        app = %key,
        start_ms = guard.start_ms as u64,
        end_ms = epoch_ms() as u64,
        outcome,
        "reconcile"
    );
    drop(guard);
    result.unwrap_or(Ok(Action::await_change()))
}

/// Whether this process may do a leader's duty now: always without sharding.
pub(crate) fn may_lead(shard: Option<&Arc<Shard>>) -> bool {
    shard.is_none_or(|s| s.is_leader())
}
