//! Leader election on the Lease `fjord-controller-leader` (labelled `fjord.dev/shard=leader`,
//! so the member watch delivers it too), and the engine's leader duty: the `default`
//! AppProject.
//!
//! Standard Kubernetes leader election: take the Lease when it is free (no holder), ours, or
//! expired by the two-clock rule of [`super::membership`]; every write is a replace at the
//! resourceVersion we read, so two candidates cannot both win. The leader renews with its
//! member Lease and counts itself leader only until `sent + duration − margin` of its last
//! successful renewal, so it stops its duties before anyone may take over. On shutdown it
//! releases the Lease (no holder, duration 1 s) and a successor takes it at its next renewal.

use super::membership::{LEADER, LEADER_LEASE, Observations, Record, SHARD_LABEL};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use std::time::{Duration, Instant};

/// What this replica knows of its own leadership.
#[derive(Default)]
pub(crate) struct LeaderState {
    /// The Lease as our last successful write returned it.
    lease: Option<Lease>,
    /// Leader until then.
    pub until: Option<Instant>,
    obs: Observations,
}

impl LeaderState {
    pub(crate) fn is_leader(&self, now: Instant) -> bool {
        self.lease.is_some() && self.until.is_some_and(|u| now < u)
    }

    /// Gives up leadership at once (its protection ran out).
    pub(crate) fn drop_leadership(&mut self) {
        self.lease = None;
        self.until = None;
    }
}

/// Timing of one member.
pub(crate) struct Timing {
    pub duration: Duration,
    pub margin: Duration,
    pub request_timeout: Duration,
}

fn lease_for(me: &str, seen: Option<&Lease>, timing: &Timing) -> Lease {
    let now = MicroTime(Timestamp::now());
    let mut lease = seen.cloned().unwrap_or_else(|| Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(LEADER_LEASE.into()),
            ..Default::default()
        },
        spec: None,
    });
    lease
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(SHARD_LABEL.into(), LEADER.into());
    lease.metadata.managed_fields = None;
    let old = lease.spec.take().unwrap_or_default();
    let changed_hands = old.holder_identity.as_deref() != Some(me);
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(me.into()),
        lease_duration_seconds: Some(timing.duration.as_secs() as i32),
        acquire_time: if changed_hands {
            Some(now.clone())
        } else {
            old.acquire_time
        },
        renew_time: Some(now),
        lease_transitions: Some(
            old.lease_transitions.unwrap_or(0) + i32::from(changed_hands && seen.is_some()),
        ),
        ..old
    });
    lease
}

/// One round: renew when leader, else try to take the Lease when it is free. `seen` is the
/// Lease as the watch last delivered it.
pub(crate) async fn step(
    st: &mut LeaderState,
    api: &Api<Lease>,
    me: &str,
    seen: Option<&Lease>,
    timing: &Timing,
) {
    let now = Instant::now();
    let base = if st.is_leader(now) {
        st.lease.clone()
    } else {
        match seen {
            None => None,
            Some(l) => {
                let rec = Record::of(l);
                let free = rec.holder.is_none()
                    || rec.holder.as_deref() == Some(me)
                    || !st.obs.alive(&rec, Timestamp::now(), now);
                if !free {
                    return;
                }
                Some(l.clone())
            }
        }
    };
    let lease = lease_for(me, base.as_ref(), timing);
    let sent = Instant::now();
    let write = async {
        match &base {
            Some(_) => {
                api.replace(LEADER_LEASE, &PostParams::default(), &lease)
                    .await
            }
            None => api.create(&PostParams::default(), &lease).await,
        }
    };
    match tokio::time::timeout(timing.request_timeout, write).await {
        Ok(Ok(written)) => {
            if !st.is_leader(now) {
                tracing::info!(replica = %me, "became the leader");
            }
            st.lease = Some(written);
            st.until = Some(sent + timing.duration - timing.margin);
        }
        Ok(Err(e)) => {
            if st.is_leader(now) {
                tracing::warn!(error = %e, "renewing the leader Lease failed");
            }
            st.lease = None;
        }
        Err(_) => st.lease = None,
    }
}

/// Releases the Lease when we hold it, so that a successor need not wait for it to expire.
pub(crate) async fn release(st: &mut LeaderState, api: &Api<Lease>, timing: &Timing) {
    if !st.is_leader(Instant::now()) {
        return;
    }
    let Some(mut lease) = st.lease.take() else {
        return;
    };
    st.until = None;
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
    }
    let _ = tokio::time::timeout(
        timing.request_timeout,
        api.replace(LEADER_LEASE, &PostParams::default(), &lease),
    )
    .await;
}

/// While this replica leads: keeps the permissive `default` AppProject present (created on
/// gaining leadership and again whenever it is deleted).
pub(crate) async fn keep_default_project(
    client: kube::Client,
    namespace: String,
    mut leadership: tokio::sync::watch::Receiver<bool>,
) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    loop {
        if leadership.wait_for(|l| *l).await.is_err() {
            return;
        }
        let api: Api<crate::types::AppProject> = Api::namespaced(client.clone(), &namespace);
        let mut events = std::pin::pin!(
            watcher(
                api,
                watcher::Config::default().fields("metadata.name=default")
            )
            .default_backoff()
        );
        let mut ensure = true;
        loop {
            if ensure {
                match super::super::install::ensure_default_project(&client, &namespace).await {
                    Ok(()) => ensure = false,
                    Err(e) => tracing::warn!(error = %e, "ensuring the default AppProject"),
                }
            }
            let retry = async {
                if ensure {
                    tokio::time::sleep(Duration::from_secs(5)).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                closed = async { leadership.wait_for(|l| !*l).await.is_err() } => {
                    if closed {
                        return;
                    }
                    break;
                }
                event = events.next() => match event {
                    Some(Ok(watcher::Event::Delete(_))) => ensure = true,
                    Some(_) => {}
                    None => return,
                },
                _ = retry => {}
            }
        }
    }
}
