//! The background task of one replica: renews its member Lease, watches all shard Leases,
//! computes the view, drains and publishes, detects agreement and re-queues gained
//! Applications, fences itself when renewals stop succeeding, and runs leader election.

use super::leader::{self, LeaderState, Timing};
use super::membership::{
    LEADER_LEASE, MEMBER, Observations, Record, SHARD_LABEL, VIEW_ANNOTATION, member_lease_name,
};
use super::ring::Ring;
use super::{Shard, lock};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the view is re-evaluated without any event (no requests: local only).
const EVALUATE_EVERY: Duration = Duration::from_millis(500);

struct Coordinator {
    shard: Arc<Shard>,
    api: Api<Lease>,
    timing: Timing,
    /// Our member name (the replica id).
    member: String,
    /// Shard Leases by name, as the watch delivered them.
    leases: HashMap<String, Lease>,
    init_buffer: Option<HashMap<String, Lease>>,
    obs: Observations,
    /// The view hash our Lease carries (as of our last successful write).
    published: Option<String>,
    /// resourceVersion of our last successful write: agreement waits until the watch has
    /// delivered it.
    last_write: Option<String>,
    drain_since: Option<(String, Instant)>,
    leader: LeaderState,
}

/// Cancels every reconcile in flight as soon as the fencing deadline passes, independently
/// of the coordinator loop (which may be waiting on a slow renewal).
pub(super) async fn enforce_fence(shard: Arc<Shard>) {
    let mut stop = shard.stop.subscribe();
    loop {
        let now = Instant::now();
        let next = {
            let mut gate = lock(&shard.gate);
            if gate.fenced(now) && gate.fence(false) {
                tracing::warn!(replica = %shard.config.replica_id, "shard Lease not renewed in time: stopped reconciling");
            }
            match gate.fence_at() {
                Some(at) if at > now => at.min(now + Duration::from_millis(250)),
                _ => now + Duration::from_millis(100),
            }
        };
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            _ = tokio::time::sleep_until(next.into()) => {}
        }
    }
}

pub(super) async fn run(shard: Arc<Shard>) {
    let duration = shard.config.lease_duration;
    let api: Api<Lease> = Api::namespaced(shard.client.clone(), &shard.config.namespace);
    let mut c = Coordinator {
        member: shard.config.replica_id.clone(),
        api: api.clone(),
        timing: Timing {
            duration,
            margin: duration / 4,
            request_timeout: duration / 3,
        },
        shard,
        leases: HashMap::new(),
        init_buffer: None,
        obs: Observations::default(),
        published: None,
        last_write: None,
        drain_since: None,
        leader: LeaderState::default(),
    };
    let mut stop = c.shard.stop.subscribe();
    let mut events = std::pin::pin!(
        watcher(api, watcher::Config::default().labels(SHARD_LABEL)).default_backoff()
    );
    let period = duration / 3;
    let mut renew_at = Instant::now();
    loop {
        let fence_at = lock(&c.shard.gate).fence_at();
        let leader_until = c.leader.until;
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            event = events.next() => c.on_event(event),
            _ = tokio::time::sleep_until(renew_at.into()) => {
                let ok = c.renew().await;
                renew_at = Instant::now() + if ok { period } else { period.min(Duration::from_secs(1)) };
            }
            _ = tokio::time::sleep(EVALUATE_EVERY) => {}
            _ = c.shard.wake.notified() => {}
            _ = until(fence_at) => {}
            _ = until(leader_until) => {}
        }
        c.evaluate().await;
    }
    c.shutdown().await;
}

async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Coordinator {
    fn my_lease(&self) -> String {
        member_lease_name(&self.member)
    }

    fn on_event(&mut self, event: Option<Result<watcher::Event<Lease>, watcher::Error>>) {
        let Some(Ok(event)) = event else { return };
        let name = |l: &Lease| l.metadata.name.clone().unwrap_or_default();
        match event {
            watcher::Event::Init => self.init_buffer = Some(HashMap::new()),
            watcher::Event::InitApply(l) => {
                self.init_buffer
                    .get_or_insert_with(HashMap::new)
                    .insert(name(&l), l);
            }
            watcher::Event::InitDone => {
                if let Some(all) = self.init_buffer.take() {
                    self.leases = all;
                }
            }
            watcher::Event::Apply(l) => {
                self.leases.insert(name(&l), l);
            }
            watcher::Event::Delete(l) => {
                self.leases.remove(&name(&l));
            }
        }
    }

    /// Writes our member Lease (renewTime, and the view hash `view`); true on success.
    async fn write_member(&mut self, view: Option<String>) -> bool {
        let name = self.my_lease();
        let now = MicroTime(Timestamp::now());
        let body = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "labels": {SHARD_LABEL: MEMBER},
                "annotations": {VIEW_ANNOTATION: view.clone().unwrap_or_default()},
            },
            "spec": {
                "holderIdentity": self.member,
                "leaseDurationSeconds": self.timing.duration.as_secs(),
                "renewTime": now,
            }
        });
        let sent = Instant::now();
        let api = self.api.clone();
        let write = async {
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    let mut lease: Lease =
                        serde_json::from_value(body.clone()).map_err(kube::Error::SerdeError)?;
                    if let Some(spec) = lease.spec.as_mut() {
                        spec.acquire_time = spec.renew_time.clone();
                    }
                    api.create(&PostParams::default(), &lease).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.timing.request_timeout, write).await {
            Ok(Ok(lease)) => {
                self.last_write = lease.metadata.resource_version.clone();
                self.published = view;
                lock(&self.shard.gate).renewed(sent + self.timing.duration - self.timing.margin);
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(lease = %name, error = %e, "renewing the shard Lease failed");
                false
            }
            Err(_) => {
                tracing::warn!(lease = %name, "renewing the shard Lease timed out");
                false
            }
        }
    }

    /// The periodic renewal: our Lease, then leader election and (as leader) removal of
    /// long-dead members' Leases.
    async fn renew(&mut self) -> bool {
        if !self.write_member(self.published.clone()).await {
            return false;
        }
        let seen = self.leases.get(LEADER_LEASE).cloned();
        leader::step(
            &mut self.leader,
            &self.api,
            &self.member,
            seen.as_ref(),
            &self.timing,
        )
        .await;
        if self.leader.is_leader(Instant::now()) {
            self.remove_dead_members().await;
        }
        true
    }

    /// As leader: deletes member Leases dead for more than two durations (at their read
    /// resourceVersion, so a late renewal wins).
    async fn remove_dead_members(&mut self) {
        let wall = Timestamp::now();
        let now = Instant::now();
        let mut dead = Vec::new();
        for (name, lease) in &self.leases {
            if !is_member(lease) {
                continue;
            }
            let rec = Record::of(lease);
            let long_expired = rec.renew_time.is_none_or(|t| {
                t.as_millisecond() + 2 * (rec.duration.as_millis() as i64) < wall.as_millisecond()
            });
            if long_expired && !self.obs.alive(&rec, wall, now) {
                dead.push((name.clone(), lease.metadata.resource_version.clone()));
            }
        }
        for (name, rv) in dead {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: rv,
                    uid: None,
                }),
                ..Default::default()
            };
            match self.api.delete(&name, &params).await {
                Ok(_) => tracing::info!(lease = %name, "removed the Lease of a dead replica"),
                Err(e) => tracing::debug!(lease = %name, error = %e, "removing a dead Lease"),
            }
        }
    }

    /// Recomputes the view and acts on it: fence, drain, publish, agree.
    async fn evaluate(&mut self) {
        let now = Instant::now();
        let wall = Timestamp::now();
        let fenced = {
            let mut gate = lock(&self.shard.gate);
            let fenced = gate.fenced(now);
            if fenced && gate.fence(false) {
                tracing::warn!(replica = %self.shard.config.replica_id, "shard Lease not renewed in time: stopped reconciling");
            }
            fenced
        };
        if !self.leader.is_leader(now) && self.leader.until.is_some() {
            self.leader.drop_leadership();
        }
        let is_leader = self.leader.is_leader(now) && !fenced;
        self.shard.leader.send_if_modified(|l| {
            let changed = *l != is_leader;
            if changed && !is_leader {
                tracing::info!(replica = %self.member, "no longer the leader");
            }
            *l = is_leader;
            changed
        });

        let mut members = BTreeSet::from([self.member.clone()]);
        let mut views: HashMap<String, Option<String>> = HashMap::new();
        let mut present = BTreeSet::new();
        let mut seen_own_write = false;
        for (name, lease) in &self.leases {
            if !is_member(lease) {
                continue;
            }
            let rec = Record::of(lease);
            if *name == self.my_lease() {
                seen_own_write =
                    self.last_write.is_some() && lease.metadata.resource_version == self.last_write;
                continue;
            }
            let Some(holder) = rec.holder.clone() else {
                continue;
            };
            present.insert(holder.clone());
            if self.obs.alive(&rec, wall, now) {
                members.insert(holder.clone());
                views.insert(holder, rec.view);
            }
        }
        self.obs.retain(&present);
        let view = Ring::new(members.iter().cloned());
        let hash = view.view_hash();
        let changed = lock(&self.shard.gate).view().view_hash() != hash;
        if changed {
            tracing::info!(replica = %self.member, members = ?view.members(), view = %hash, "membership view changed");
        }
        lock(&self.shard.gate).set_view(view.clone());
        if fenced {
            return;
        }
        if self.published.as_deref() != Some(hash.as_str()) {
            let lost = lock(&self.shard.gate).lost_in_flight();
            if lost.is_empty() {
                if self.write_member(Some(hash.clone())).await {
                    lock(&self.shard.gate).published(&view);
                    self.drain_since = None;
                }
            } else {
                let since = match &self.drain_since {
                    Some((h, at)) if *h == hash => *at,
                    _ => {
                        self.drain_since = Some((hash.clone(), now));
                        now
                    }
                };
                if now.duration_since(since) >= self.timing.duration {
                    tracing::warn!(
                        count = lost.len(),
                        "cancelling reconciles of lost Applications that did not finish within a lease duration"
                    );
                    lock(&self.shard.gate).abort(&lost);
                }
            }
            return;
        }
        let agreed = seen_own_write
            && members
                .iter()
                .filter(|m| **m != self.member)
                .all(|m| views.get(m).and_then(|v| v.as_deref()) == Some(hash.as_str()));
        if !agreed || lock(&self.shard.gate).holds_exactly(&view) {
            return;
        }
        let attached = lock(&self.shard.attached).clone();
        let keys: Vec<(String, ObjectRef<crate::types::Application>)> = attached
            .as_ref()
            .map(|(store, _)| {
                store
                    .state()
                    .iter()
                    .map(|a| {
                        let r = ObjectRef::from_obj(a.as_ref());
                        let ns = r.namespace.clone().unwrap_or_default();
                        (format!("{ns}/{}", r.name), r)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let gained = lock(&self.shard.gate).agreed(&view, keys.iter().map(|(k, _)| k.as_str()));
        tracing::info!(replica = %self.member, members = view.members().len(), view = %hash, gained = gained.len(), "every live replica agrees on the view");
        if let Some((_, requeue)) = attached {
            let gained: BTreeSet<String> = gained.into_iter().collect();
            for (key, r) in keys {
                if gained.contains(&key) {
                    let _ = requeue.unbounded_send(r);
                }
            }
        }
    }

    /// Stops reconciling, deletes our member Lease and releases leadership.
    async fn shutdown(&mut self) {
        lock(&self.shard.gate).fence(true);
        self.shard.leader.send_replace(false);
        leader::release(&mut self.leader, &self.api, &self.timing).await;
        let _ = tokio::time::timeout(
            self.timing.request_timeout,
            self.api.delete(&self.my_lease(), &DeleteParams::default()),
        )
        .await;
        tracing::info!(replica = %self.member, "left the shard");
    }
}

fn is_member(lease: &Lease) -> bool {
    lease
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SHARD_LABEL))
        .is_some_and(|v| v == MEMBER)
}
