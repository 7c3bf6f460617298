//! The ownership gate: which Applications this replica may start reconciling now, and which
//! reconciles are in flight (so that a hand-over can wait for them, or cancel them).
//!
//! The rule (argued in the module docs of [`super`]): a reconcile of key `k` may start when
//! the replica is not fenced, the current view's ring gives `k` to this replica, and every ring
//! in `held` does too. `held` starts with the last view every live member agreed on and
//! collects each view published since; it is empty (`None`) before the first agreement and
//! after a fence, when nothing may start.

use super::ring::Ring;
use futures::future::AbortHandle;
use std::collections::HashMap;
use std::time::Instant;

/// One reconcile in flight.
struct InFlight {
    id: u64,
    abort: AbortHandle,
}

/// The gate's state; the coordinator changes it, reconciles read it.
pub(crate) struct GateState {
    me: String,
    /// Until when the last successful renewal protects this replica (`None`: never renewed, or
    /// shut down).
    fence_at: Option<Instant>,
    /// The current local view of the live members (always with this replica).
    view: Ring,
    /// The last agreed view, then every view published after it.
    held: Option<Vec<Ring>>,
    in_flight: HashMap<String, InFlight>,
    next_id: u64,
}

impl GateState {
    pub(crate) fn new(me: &str) -> GateState {
        GateState {
            me: me.to_string(),
            fence_at: None,
            view: Ring::new([me]),
            held: None,
            in_flight: HashMap::new(),
            next_id: 0,
        }
    }

    /// Whether the self-fencing deadline has passed (or there never was a renewal).
    pub(crate) fn fenced(&self, now: Instant) -> bool {
        self.fence_at.is_none_or(|at| now >= at)
    }

    /// Whether a reconcile of `key` may start now.
    pub(crate) fn may_start(&self, key: &str, now: Instant) -> bool {
        !self.fenced(now) && self.owns_now(key)
    }

    /// `may_start` without the clock: the view and every held ring own `key`.
    pub(crate) fn owns_now(&self, key: &str) -> bool {
        self.view.owns(&self.me, key)
            && self
                .held
                .as_ref()
                .is_some_and(|h| h.iter().all(|r| r.owns(&self.me, key)))
    }

    /// Registers a reconcile of `key` when it may start; returns its id.
    pub(crate) fn admit(&mut self, key: &str, abort: AbortHandle, now: Instant) -> Option<u64> {
        if !self.may_start(key, now) {
            return None;
        }
        self.next_id += 1;
        let id = self.next_id;
        self.in_flight
            .insert(key.to_string(), InFlight { id, abort });
        Some(id)
    }

    /// Forgets the reconcile `id` of `key` (it ended or was cancelled).
    pub(crate) fn finish(&mut self, key: &str, id: u64) {
        if self.in_flight.get(key).is_some_and(|f| f.id == id) {
            self.in_flight.remove(key);
        }
    }

    /// A renewal that was sent at `sent` succeeded: protected until `sent + duration - margin`.
    pub(crate) fn renewed(&mut self, protected_until: Instant) {
        self.fence_at = Some(
            self.fence_at
                .map_or(protected_until, |f| f.max(protected_until)),
        );
    }

    /// The self-fencing deadline, if any.
    pub(crate) fn fence_at(&self) -> Option<Instant> {
        self.fence_at
    }

    /// Fences: nothing may start or continue; every reconcile in flight is cancelled. Returns
    /// whether this changed anything.
    pub(crate) fn fence(&mut self, shutdown: bool) -> bool {
        let changed = self.held.is_some() || !self.in_flight.is_empty();
        self.held = None;
        if shutdown {
            self.fence_at = None;
        }
        for (_, f) in self.in_flight.drain() {
            f.abort.abort();
        }
        changed
    }

    /// Adopts a new local view; reconciles of keys it does not give us stop being started.
    pub(crate) fn set_view(&mut self, view: Ring) {
        self.view = view;
    }

    /// The current view.
    pub(crate) fn view(&self) -> &Ring {
        &self.view
    }

    /// Keys in flight that the current view does not give us (to drain before publishing).
    pub(crate) fn lost_in_flight(&self) -> Vec<String> {
        self.in_flight
            .keys()
            .filter(|k| !self.view.owns(&self.me, k))
            .cloned()
            .collect()
    }

    /// Number of reconciles in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Cancels the reconciles of `keys`.
    pub(crate) fn abort(&mut self, keys: &[String]) {
        for k in keys {
            if let Some(f) = self.in_flight.remove(k) {
                f.abort.abort();
            }
        }
    }

    /// This replica published `view` (after draining what it does not own there).
    pub(crate) fn published(&mut self, view: &Ring) {
        if let Some(held) = &mut self.held
            && held.last().map(Ring::view_hash) != Some(view.view_hash())
        {
            held.push(view.clone());
        }
    }

    /// Every live member published `view`: it becomes the held view. Returns, among `keys`,
    /// those that may start now and could not before (to re-queue).
    pub(crate) fn agreed<'k>(
        &mut self,
        view: &Ring,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Vec<String> {
        let keys: Vec<&str> = keys.into_iter().collect();
        let before: Vec<bool> = keys.iter().map(|k| self.owns_now(k)).collect();
        self.held = Some(vec![view.clone()]);
        keys.iter()
            .zip(before)
            .filter(|(k, was)| !was && self.owns_now(k))
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// Whether `view` is the agreed view with nothing published since.
    pub(crate) fn holds_exactly(&self, view: &Ring) -> bool {
        self.held
            .as_ref()
            .is_some_and(|h| h.len() == 1 && h[0].view_hash() == view.view_hash())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn handle() -> AbortHandle {
        AbortHandle::new_pair().0
    }

    /// Keys `0..n` as `argocd/app-i`, with the owner each ring gives them.
    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("argocd/app-{i}")).collect()
    }

    fn unfenced(me: &str) -> (GateState, Instant) {
        let now = Instant::now();
        let mut g = GateState::new(me);
        g.renewed(now + Duration::from_secs(10));
        (g, now)
    }

    #[test]
    fn nothing_starts_before_the_first_agreement_or_without_a_renewal() {
        let now = Instant::now();
        let mut g = GateState::new("a");
        let solo = Ring::new(["a"]);
        g.agreed(&solo, []);
        assert!(!g.may_start("argocd/x", now), "never renewed: fenced");
        let (mut g, now) = unfenced("a");
        assert!(!g.may_start("argocd/x", now), "no agreement yet");
        let gained = g.agreed(&solo, ["argocd/x", "argocd/y"]);
        assert_eq!(gained, vec!["argocd/x", "argocd/y"]);
        assert!(g.may_start("argocd/x", now));
        assert!(
            !g.may_start("argocd/x", now + Duration::from_secs(10)),
            "fenced at the deadline"
        );
    }

    #[test]
    fn a_new_view_stops_lost_keys_and_gains_wait_for_agreement() {
        let (mut g, now) = unfenced("a");
        let ks = keys(200);
        let one = Ring::new(["a"]);
        g.agreed(&one, ks.iter().map(String::as_str));
        let two = Ring::new(["a", "b"]);
        g.set_view(two.clone());
        for k in &ks {
            // Kept keys continue at once; lost ones stop at once.
            assert_eq!(g.may_start(k, now), two.owns("a", k), "{k}");
        }
        // Back to a view where we own everything: still only what both views give us, until
        // everyone agrees again.
        g.published(&two);
        g.set_view(one.clone());
        for k in &ks {
            assert_eq!(g.may_start(k, now), two.owns("a", k), "{k}");
        }
        let regained = g.agreed(&one, ks.iter().map(String::as_str));
        let expect: Vec<String> = ks.iter().filter(|k| !two.owns("a", k)).cloned().collect();
        assert_eq!(regained, expect);
        assert!(ks.iter().all(|k| g.may_start(k, now)));
    }

    #[test]
    fn published_views_restrict_what_an_old_agreement_allows() {
        // Agreed on {a}, published {a,b}: keys given to b under {a,b} must not restart under a
        // later view {a,c} on the strength of the old agreement (b may be running them).
        let (mut g, now) = unfenced("a");
        let ks = keys(300);
        g.agreed(&Ring::new(["a"]), ks.iter().map(String::as_str));
        let ab = Ring::new(["a", "b"]);
        g.set_view(ab.clone());
        g.published(&ab);
        let ac = Ring::new(["a", "c"]);
        g.set_view(ac.clone());
        for k in &ks {
            assert_eq!(
                g.may_start(k, now),
                ab.owns("a", k) && ac.owns("a", k),
                "{k}"
            );
        }
    }

    #[test]
    fn in_flight_reconciles_are_tracked_drained_and_fenced() {
        let (mut g, now) = unfenced("a");
        let ks = keys(100);
        g.agreed(&Ring::new(["a"]), ks.iter().map(String::as_str));
        let ids: Vec<u64> = ks
            .iter()
            .map(|k| g.admit(k, handle(), now).unwrap())
            .collect();
        assert_eq!(g.in_flight(), 100);
        let ab = Ring::new(["a", "b"]);
        g.set_view(ab.clone());
        let lost = g.lost_in_flight();
        assert!(!lost.is_empty());
        assert!(lost.iter().all(|k| !ab.owns("a", k)));
        for (k, id) in ks.iter().zip(&ids) {
            g.finish(k, *id);
        }
        assert!(g.lost_in_flight().is_empty());
        let (h2, _r2) = AbortHandle::new_pair();
        let owned = ks.iter().find(|k| ab.owns("a", k)).unwrap();
        g.admit(owned, h2.clone(), now).unwrap();
        assert!(g.fence(false));
        assert!(h2.is_aborted(), "fencing cancels what is in flight");
        assert!(!g.may_start(owned, now));
        assert_eq!(g.in_flight(), 0);
    }
}
