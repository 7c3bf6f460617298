//! Retrying a failed sync operation, as Argo CD does: the operation stays `Running`
//! ("Retrying attempt #n") and runs again from the start after a backoff of
//! `duration * factor^n` (Argo CD's defaults: 5 s, factor 2, at most 3 min), up to `limit`
//! times (negative: forever). The strategy is the operation's `retry`; an automated sync
//! takes `syncPolicy.retry`, or Argo CD's default of 5 attempts.

use crate::types::{OperationState, RetryStrategy};
use std::time::Duration;

/// Parses Go-style durations as Argo CD writes them (`5s`, `3m`, `1h`, `1m30s`).
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
    }
    if !number.is_empty() {
        total += number.parse::<u64>().ok()?; // bare seconds
    }
    Some(Duration::from_secs(total))
}

/// The delay before retry number `attempt + 1` (attempt counts earlier retries).
pub(crate) fn delay(strategy: &RetryStrategy, attempt: i64) -> Duration {
    let backoff = strategy.backoff.as_ref();
    let base = backoff
        .and_then(|b| b.duration.as_deref())
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(5));
    let factor = backoff.and_then(|b| b.factor).unwrap_or(2).max(1);
    let cap = backoff
        .and_then(|b| b.max_duration.as_deref())
        .and_then(parse_duration)
        .unwrap_or(Duration::from_secs(180));
    let mut d = base;
    for _ in 0..attempt.max(0) {
        d = d.saturating_mul(u32::try_from(factor).unwrap_or(u32::MAX));
        if d >= cap {
            return cap;
        }
    }
    d.min(cap)
}

/// Argo CD's retry strategy for an automated sync without `syncPolicy.retry`.
pub(crate) fn automated_default() -> RetryStrategy {
    RetryStrategy {
        limit: Some(5),
        ..Default::default()
    }
}

/// Whether another attempt is allowed after `done` retries.
pub(crate) fn may_retry(strategy: &RetryStrategy, done: i64) -> bool {
    let limit = strategy.limit.unwrap_or(0);
    limit < 0 || done < limit
}

/// For an operation waiting to retry (its `retryCount` counts the retries asked for, its
/// `finishedAt` is the end of the failed attempt): the time left before the next attempt
/// (zero: now).
pub(crate) fn remaining(strategy: &RetryStrategy, state: &OperationState) -> Duration {
    let wait = delay(strategy, state.retry_count.unwrap_or(1) - 1);
    let Some(finished) = state
        .finished_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return Duration::ZERO;
    };
    let elapsed = chrono::Utc::now()
        .signed_duration_since(finished)
        .to_std()
        .unwrap_or_default();
    wait.saturating_sub(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Backoff;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("3m"), Some(Duration::from_secs(180)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2x"), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let s = RetryStrategy {
            limit: Some(5),
            backoff: Some(Backoff {
                duration: Some("5s".into()),
                factor: Some(2),
                max_duration: Some("30s".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(delay(&s, 0), Duration::from_secs(5));
        assert_eq!(delay(&s, 1), Duration::from_secs(10));
        assert_eq!(delay(&s, 3), Duration::from_secs(30));
    }

    #[test]
    fn retries_stop_at_the_limit() {
        let s = RetryStrategy {
            limit: Some(2),
            ..Default::default()
        };
        assert!(may_retry(&s, 0) && may_retry(&s, 1) && !may_retry(&s, 2));
        assert!(!may_retry(&RetryStrategy::default(), 0));
        let forever = RetryStrategy {
            limit: Some(-1),
            ..Default::default()
        };
        assert!(may_retry(&forever, 1000));
        assert!(may_retry(&automated_default(), 4) && !may_retry(&automated_default(), 5));
    }

    #[test]
    fn the_wait_counts_from_the_failed_attempt() {
        let s = RetryStrategy {
            limit: Some(3),
            ..Default::default()
        };
        let mut state: OperationState = serde_json::from_value(serde_json::json!({
            "phase": "Running", "startedAt": "2020-01-01T00:00:00Z",
            "finishedAt": "2020-01-01T00:00:01Z", "retryCount": 1
        }))
        .unwrap();
        assert_eq!(remaining(&s, &state), Duration::ZERO, "long past");
        state.finished_at = Some(crate::controller::now());
        let left = remaining(&s, &state);
        assert!(
            left > Duration::from_secs(3) && left <= Duration::from_secs(5),
            "{left:?}"
        );
        state.retry_count = Some(2);
        assert!(remaining(&s, &state) > Duration::from_secs(8));
    }
}
