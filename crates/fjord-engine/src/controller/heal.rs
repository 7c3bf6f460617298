//! Self-heal pacing and attribution. A sync that only reverts drift (same revision as the
//! last sync) runs at once the first time; while another writer keeps changing the objects
//! back, further heals wait with Argo CD's backoff (2 s, ×3, capped at 5 min). Each heal
//! names who made the change: the latest non-`fjord` manager in the object's
//! `managedFields`.

use super::sync::Item;
use crate::diff::DiffKind;
use crate::resource::FIELD_MANAGER;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const INITIAL: Duration = Duration::from_secs(2);
const FACTOR: u32 = 3;
const CAP: Duration = Duration::from_secs(300);

/// The wait before heal number `n + 1` after `n` recent heals (0 for the first).
pub(crate) fn backoff(recent_heals: u32) -> Duration {
    if recent_heals == 0 {
        return Duration::ZERO;
    }
    let mut d = INITIAL;
    for _ in 1..recent_heals {
        d = d.saturating_mul(FACTOR);
        if d >= CAP {
            return CAP;
        }
    }
    d.min(CAP)
}

#[derive(Clone, Copy)]
struct HealState {
    count: u32,
    last: Instant,
}

/// Recent heals per Application.
#[derive(Default)]
pub(crate) struct HealTracker {
    states: Mutex<HashMap<String, HealState>>,
}

impl HealTracker {
    /// How long the next heal of `app` must still wait (zero: heal now).
    pub fn wait(&self, app: &str) -> Duration {
        let states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match states.get(app) {
            Some(s) if s.last.elapsed() < CAP => backoff(s.count).saturating_sub(s.last.elapsed()),
            _ => Duration::ZERO,
        }
    }

    /// Records a heal of `app`.
    pub fn record(&self, app: &str) {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = match states.get(app) {
            Some(s) if s.last.elapsed() < CAP => s.count + 1,
            _ => 1,
        };
        states.insert(
            app.to_string(),
            HealState {
                count,
                last: Instant::now(),
            },
        );
    }
}

/// The manager that last wrote `live`, other than Fjord.
pub(crate) fn last_writer(live: &Value) -> Option<String> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str) != Some(FIELD_MANAGER))
        .max_by(|a, b| {
            let t = |e: &Value| {
                e.get("time")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            t(a).cmp(&t(b))
        })
        .and_then(|e| e.get("manager").and_then(Value::as_str))
        .map(String::from)
}

/// "apps/Deployment payment-prod/x (changed by kubectl)" for every drifted object.
pub(crate) fn describe_drift(items: &[Item]) -> String {
    items
        .iter()
        .filter(|i| i.diff.kind != DiffKind::Unchanged)
        .map(|i| {
            let who = i.live.as_ref().and_then(last_writer);
            match who {
                Some(w) => format!("{} (changed by {w})", i.key),
                None => format!("{} (missing or extraneous)", i.key),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_follows_argo_defaults() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(2), Duration::from_secs(6));
        assert_eq!(backoff(3), Duration::from_secs(18));
        assert_eq!(backoff(10), CAP);
    }

    #[test]
    fn tracker_waits_after_a_recent_heal() {
        let t = HealTracker::default();
        assert_eq!(t.wait("a"), Duration::ZERO);
        t.record("a");
        let w = t.wait("a");
        assert!(w > Duration::from_millis(1500) && w <= INITIAL, "{w:?}");
        assert_eq!(t.wait("b"), Duration::ZERO);
    }

    #[test]
    fn last_writer_skips_fjord_and_takes_the_latest() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "fjord", "time": "2026-01-01T00:00:09Z"},
            {"manager": "kube-controller-manager", "time": "2026-01-01T00:00:01Z"},
            {"manager": "kubectl-scale", "time": "2026-01-01T00:00:05Z"}
        ]}});
        assert_eq!(last_writer(&live).as_deref(), Some("kubectl-scale"));
        assert_eq!(last_writer(&json!({})), None);
    }
}
