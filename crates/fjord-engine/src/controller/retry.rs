//! `syncPolicy.retry`: a failed automated sync of a revision is retried with backoff
//! (Argo CD's defaults: 5 s, factor 2, at most 3 min) up to `limit` times (negative:
//! forever). Without a retry policy a failed revision is not synced again automatically.

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

/// For a failed last operation: `Some(wait)` when a retry is allowed (zero: now).
pub(crate) fn next_retry(
    strategy: Option<&RetryStrategy>,
    last: &OperationState,
) -> Option<Duration> {
    let strategy = strategy?;
    let limit = strategy.limit.unwrap_or(0);
    let done = last.retry_count.unwrap_or(0);
    if limit >= 0 && done >= limit {
        return None;
    }
    let wait = delay(strategy, done);
    let finished = last
        .finished_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())?;
    let elapsed = chrono::Utc::now()
        .signed_duration_since(finished)
        .to_std()
        .unwrap_or_default();
    Some(wait.saturating_sub(elapsed))
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
        let mut last: OperationState = serde_json::from_value(serde_json::json!({
            "phase": "Failed", "startedAt": "2020-01-01T00:00:00Z",
            "finishedAt": "2020-01-01T00:00:01Z", "retryCount": 1
        }))
        .unwrap();
        assert_eq!(next_retry(Some(&s), &last), Some(Duration::ZERO));
        last.retry_count = Some(2);
        assert_eq!(next_retry(Some(&s), &last), None);
        assert_eq!(next_retry(None, &last), None);
    }
}
