//! Remote checks (`git ls-remote`, or a Helm repository's index) shared by every Application
//! that tracks the same repository and revision: a fleet of a thousand Applications on one
//! repository costs one check per poll interval, not a thousand, and the Applications one push
//! refreshes share one check. The poller ([`SourceChecks::poll`]) repeats each check once per
//! interval and names the Applications whose revision moved, so that an idle Application is
//! reconciled only when its source changes, its live objects change, or its resync is due.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The last check of one `repoURL@revision`.
#[derive(Clone, Debug)]
struct SourceCheck {
    /// When the check started: what it saw is at least that recent.
    at: Instant,
    commit: String,
}

/// How to repeat one check (it carries the credentials it needs).
pub(crate) type Recheck = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// A check the poller repeats, and the Applications (`namespace/name`) that use it.
struct Tracked {
    recheck: Recheck,
    apps: BTreeSet<String>,
}

/// The shared checks, by `repoURL@revision`.
#[derive(Default)]
pub(crate) struct SourceChecks {
    last: Mutex<HashMap<String, SourceCheck>>,
    /// One check at a time per key; the others wait for it and reuse what it saw.
    flights: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    tracked: Mutex<HashMap<String, Tracked>>,
}

impl SourceChecks {
    fn last(&self, key: &str) -> Option<SourceCheck> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// The commit `key` points at. A check younger than `poll_interval` is reused; a forced
    /// refresh reuses only a check that started after this call did (that check saw whatever
    /// push prompted the refresh). Otherwise `check` runs, one at a time per key. Blocking.
    pub(crate) fn resolve<E>(
        &self,
        key: &str,
        forced: bool,
        poll_interval: Duration,
        check: impl FnOnce() -> Result<String, E>,
    ) -> Result<String, E> {
        let asked = Instant::now();
        let usable = |c: &SourceCheck| {
            if forced {
                c.at >= asked
            } else {
                c.at.elapsed() < poll_interval
            }
        };
        if let Some(c) = self.last(key).filter(|c| usable(c)) {
            return Ok(c.commit);
        }
        let flight = self
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default()
            .clone();
        let _one_at_a_time = flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = self.last(key).filter(|c| usable(c)) {
            return Ok(c.commit);
        }
        let at = Instant::now();
        let commit = check()?;
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key.to_string(),
                SourceCheck {
                    at,
                    commit: commit.clone(),
                },
            );
        Ok(commit)
    }
}

impl SourceChecks {
    /// Records that `app` uses the check `key`, repeated by `recheck`.
    pub(crate) fn track(&self, key: &str, app: &str, recheck: Recheck) {
        let mut tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = tracked.entry(key.to_string()).or_insert_with(|| Tracked {
            recheck: recheck.clone(),
            apps: BTreeSet::new(),
        });
        // The newest credentials win, as in the repository registry.
        entry.recheck = recheck;
        entry.apps.insert(app.to_string());
    }

    /// Repeats every tracked check that is `poll_interval` old and returns the Applications
    /// whose revision moved. Applications for which `exists` is false are forgotten first, and
    /// a check no Application uses any more is dropped. Blocking; a failed check is logged and
    /// tried at the next poll.
    pub(crate) fn poll(
        &self,
        poll_interval: Duration,
        exists: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let work: Vec<(String, Recheck, Vec<String>)> = {
            let mut tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
            tracked.retain(|_, t| {
                t.apps.retain(|app| exists(app));
                !t.apps.is_empty()
            });
            tracked
                .iter()
                .map(|(k, t)| {
                    (
                        k.clone(),
                        t.recheck.clone(),
                        t.apps.iter().cloned().collect(),
                    )
                })
                .collect()
        };
        let mut moved = Vec::new();
        for (key, recheck, apps) in work {
            let before = self.last(&key).map(|c| c.commit);
            match self.resolve(&key, false, poll_interval, || recheck()) {
                Ok(now) if before.as_deref() != Some(now.as_str()) => moved.extend(apps),
                Ok(_) => {}
                Err(e) => tracing::debug!(source = %key, error = %e, "polling a source failed"),
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const MINUTE: Duration = Duration::from_secs(60);

    fn counted(calls: &AtomicUsize, commit: &str) -> Result<String, ()> {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(commit.to_string())
    }

    #[test]
    fn polls_within_the_interval_share_one_check_per_repository() {
        let checks = SourceChecks::default();
        let calls = AtomicUsize::new(0);
        for _ in 0..1000 {
            let c = checks.resolve("r@HEAD", false, MINUTE, || counted(&calls, "a"));
            assert_eq!(c.unwrap(), "a");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        checks
            .resolve("other@HEAD", false, MINUTE, || counted(&calls, "b"))
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "another repository is checked"
        );
        let stale = checks.resolve("r@HEAD", false, Duration::ZERO, || counted(&calls, "c"));
        assert_eq!(stale.unwrap(), "c", "an expired check is redone");
    }

    #[test]
    fn a_refresh_never_reuses_a_check_older_than_itself() {
        let checks = SourceChecks::default();
        let calls = AtomicUsize::new(0);
        checks
            .resolve("r@HEAD", false, MINUTE, || counted(&calls, "old"))
            .unwrap();
        let c = checks.resolve("r@HEAD", true, MINUTE, || counted(&calls, "new"));
        assert_eq!(c.unwrap(), "new");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let after = checks.resolve("r@HEAD", false, MINUTE, || counted(&calls, "x"));
        assert_eq!(after.unwrap(), "new", "polls reuse what the refresh saw");
    }

    #[test]
    fn refreshes_waiting_on_one_check_reuse_it() {
        let checks = Arc::new(SourceChecks::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (checks, calls, gate) = (checks.clone(), calls.clone(), gate.clone());
                std::thread::spawn(move || {
                    gate.wait();
                    checks.resolve("r@HEAD", true, MINUTE, || {
                        std::thread::sleep(Duration::from_millis(50));
                        counted(&calls, "pushed")
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().unwrap(), "pushed");
        }
        // All eight asked before the first check started, so they can share it; a thread
        // scheduled late may have asked after it started and check again.
        assert!(
            calls.load(Ordering::SeqCst) < 8,
            "{}",
            calls.load(Ordering::SeqCst)
        );
    }

    #[test]
    fn the_poller_names_the_applications_whose_revision_moved() {
        let checks = SourceChecks::default();
        let head = Arc::new(Mutex::new("a".to_string()));
        let calls = Arc::new(AtomicUsize::new(0));
        let recheck: Recheck = {
            let (head, calls) = (head.clone(), calls.clone());
            Arc::new(move || {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(head.lock().unwrap().clone())
            })
        };
        for app in ["argocd/one", "argocd/two"] {
            checks.track("r@HEAD", app, recheck.clone());
            let c = checks.resolve("r@HEAD", false, MINUTE, || recheck());
            assert_eq!(c.unwrap(), "a");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            checks.poll(MINUTE, |_| true).is_empty(),
            "a fresh check is not repeated"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            checks.poll(Duration::ZERO, |_| true).is_empty(),
            "nothing moved"
        );
        *head.lock().unwrap() = "b".into();
        assert_eq!(
            checks.poll(Duration::ZERO, |_| true),
            vec!["argocd/one", "argocd/two"]
        );
        assert!(
            checks.poll(Duration::ZERO, |_| true).is_empty(),
            "reported once"
        );
        let c = checks.resolve("r@HEAD", false, MINUTE, || recheck());
        assert_eq!(c.unwrap(), "b", "reconciles reuse what the poller saw");
        // Deleted Applications are forgotten; a check nobody uses is not repeated.
        *head.lock().unwrap() = "c".into();
        assert_eq!(
            checks.poll(Duration::ZERO, |app| app == "argocd/two"),
            vec!["argocd/two"]
        );
        let before = calls.load(Ordering::SeqCst);
        assert!(checks.poll(Duration::ZERO, |_| false).is_empty());
        assert!(checks.poll(Duration::ZERO, |_| true).is_empty());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before,
            "no check runs for Applications that are gone"
        );
    }

    #[test]
    fn a_failed_check_is_not_remembered() {
        let checks = SourceChecks::default();
        let failed: Result<String, &str> = checks.resolve("r@HEAD", false, MINUTE, || Err("down"));
        assert!(failed.is_err());
        let calls = AtomicUsize::new(0);
        let c = checks.resolve("r@HEAD", false, MINUTE, || counted(&calls, "a"));
        assert_eq!(c.unwrap(), "a");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
