//! Membership records: one `coordination.k8s.io/v1` Lease per replica
//! (`fjord-controller-<replica>`, label `fjord.dev/shard=member`, the published view in the
//! annotation `fjord.dev/shard-view`), and the judgement of which replicas are alive.
//!
//! A replica is dead when both clocks say so: its `renewTime + leaseDurationSeconds` is in
//! the past on our wall clock, and we have not seen its `renewTime` change for a whole
//! duration on our monotonic clock. The second condition is Kubernetes leader election's
//! (client-go judges by when it observed a change, so another host's clock cannot make us
//! declare a live replica dead); the first is the record's own expiry. Requiring both errs on
//! the side of keeping a member alive, which can only delay a hand-over, never double it (a
//! newcomer waits up to one duration before it treats an expired-but-present Lease as dead).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The label every shard Lease carries (value [`MEMBER`] or [`LEADER`]).
pub const SHARD_LABEL: &str = "fjord.dev/shard";
/// Label value of a replica's membership Lease.
pub const MEMBER: &str = "member";
/// Label value of the leader election Lease.
pub const LEADER: &str = "leader";
/// Annotation with the hash of the membership view the replica acts upon.
pub const VIEW_ANNOTATION: &str = "fjord.dev/shard-view";
/// Prefix of the Lease names.
pub const LEASE_PREFIX: &str = "fjord-controller-";
/// Name of the leader election Lease.
pub const LEADER_LEASE: &str = "fjord-controller-leader";

/// The Lease name of replica `id`.
pub fn member_lease_name(id: &str) -> String {
    format!("{LEASE_PREFIX}{id}")
}

/// Checks that `id` makes a valid Lease name (a DNS subdomain, at most 253 characters).
pub fn check_replica_id(id: &str) -> Result<(), String> {
    let name = member_lease_name(id);
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ends_ok = id.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if id.is_empty() || !ok_chars || !ends_ok || name.len() > 253 || id == "leader" {
        return Err(format!(
            "replica id {id:?}: must be lowercase letters, digits, '-' or '.', end with a letter or digit, and not be \"leader\" (it names the Lease {name:?})"
        ));
    }
    Ok(())
}

/// A default replica id: `$POD_NAME`, else the host name with a random suffix, so that a
/// restarted process is a new member.
pub fn default_replica_id() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && check_replica_id(&pod).is_ok()
    {
        return pod;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_else(|| "fjord".into());
    let mut clean: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    clean = clean.trim_matches('-').to_string();
    if clean.is_empty() {
        clean = "fjord".into();
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let salt = super::ring::stable_hash(format!("{}:{nanos}", std::process::id()).as_bytes());
    format!("{clean}-{:06x}", salt & 0xff_ffff)
}

/// The fields of a Lease the protocol reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Record {
    pub holder: Option<String>,
    pub renew_time: Option<Timestamp>,
    pub duration: Duration,
    pub view: Option<String>,
}

impl Record {
    pub(crate) fn of(lease: &Lease) -> Record {
        let spec = lease.spec.clone().unwrap_or_default();
        Record {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.map(|t| t.0),
            duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64),
            view: lease
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(VIEW_ANNOTATION).cloned()),
        }
    }
}

/// When we last saw each holder's `renewTime` change.
#[derive(Default)]
pub(crate) struct Observations {
    seen: HashMap<String, (Option<Timestamp>, Instant)>,
}

impl Observations {
    /// Notes `record` as of `now`; returns whether the holder is alive by both clocks' rules.
    pub(crate) fn alive(&mut self, record: &Record, wall: Timestamp, now: Instant) -> bool {
        let Some(holder) = &record.holder else {
            return false;
        };
        let entry = self
            .seen
            .entry(holder.clone())
            .or_insert((record.renew_time, now));
        if entry.0 != record.renew_time {
            *entry = (record.renew_time, now);
        }
        let observed_fresh = now.duration_since(entry.1) < record.duration;
        // No renewTime: only what we observed counts.
        let record_fresh = record.renew_time.is_some_and(|t| {
            let deadline_ms = t.as_millisecond() + record.duration.as_millis() as i64;
            wall.as_millisecond() < deadline_ms
        });
        observed_fresh || record_fresh
    }

    /// Forgets holders not in `keep` (their Leases are gone).
    pub(crate) fn retain(&mut self, keep: &BTreeSet<String>) {
        self.seen.retain(|h, _| keep.contains(h));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: &str, renewed: Timestamp) -> Record {
        Record {
            holder: Some(holder.into()),
            renew_time: Some(renewed),
            duration: Duration::from_secs(10),
            view: None,
        }
    }

    #[test]
    fn replica_ids_must_make_lease_names() {
        assert!(check_replica_id("fjord-controller-7d9f-abcde").is_ok());
        for bad in ["", "Upper", "a_b", "ends-", "leader"] {
            assert!(check_replica_id(bad).is_err(), "{bad:?}");
        }
        let id = default_replica_id();
        assert!(check_replica_id(&id).is_ok(), "{id}");
    }

    #[test]
    fn a_member_dies_only_when_both_clocks_say_so() {
        let mut obs = Observations::default();
        let t0 = Instant::now();
        let wall = Timestamp::now();
        let r = record("a", wall);
        assert!(obs.alive(&r, wall, t0));
        // Wall clock says expired, but we saw it change only just now: alive.
        let later = wall + std::time::Duration::from_secs(11);
        assert!(obs.alive(&r, later, t0 + Duration::from_secs(1)));
        // Both expired: dead.
        assert!(!obs.alive(&r, later, t0 + Duration::from_secs(11)));
        // A renewal revives it.
        let r2 = record("a", later);
        assert!(obs.alive(&r2, later, t0 + Duration::from_secs(12)));
        // A record stamped by a clock far ahead keeps its member alive (the safe side: it
        // only delays a hand-over); one stamped far behind is still alive while we see it
        // renewing.
        let mut obs = Observations::default();
        let ahead = record("b", wall + std::time::Duration::from_secs(3600));
        assert!(obs.alive(&ahead, wall, t0 + Duration::from_secs(20)));
        let behind = record("c", wall - std::time::Duration::from_secs(3600));
        assert!(obs.alive(&behind, wall, t0));
        assert!(!obs.alive(&behind, wall, t0 + Duration::from_secs(10)));
        let never_renewed = Record {
            renew_time: None,
            ..record("d", wall)
        };
        assert!(obs.alive(&never_renewed, wall, t0));
        assert!(!obs.alive(&never_renewed, wall, t0 + Duration::from_secs(10)));
        assert!(!obs.alive(
            &Record {
                holder: None,
                ..ahead
            },
            wall,
            t0
        ));
    }
}
