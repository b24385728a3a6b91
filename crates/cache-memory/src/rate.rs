//! Rate-limit decisions: pure functions of the current entry, the rule and
//! the time, called under the key's stripe lock (which makes them atomic).
//!
//! - Sliding window: a log of admission times. A request is admitted when
//!   fewer than `limit` admissions lie less than `window` before it. The entry
//!   expires `window` after the newest admission, when the log is all stale.
//! - Fixed window: a decimal counter (the `incr_by` representation), whose TTL
//!   of `window` starts at the window's first request.
//!
//! Denied requests change nothing (they do not count against the window).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use cache_core::cache::{RateDecision, RateLimitAlgorithm, RateLimitRule};
use cache_core::error::{CacheError, Result};
use cache_core::ttl::normalize_ttl;

use super::entry::{Entry, RequestLog, Stored, parse_counter};

/// What a rate-limit call answers and, when it admitted, what to store.
#[derive(Debug)]
pub(crate) struct RateOutcome {
    /// The answer.
    pub(crate) decision: RateDecision,
    /// The entry to store at the key, if the state changed.
    pub(crate) write: Option<Entry>,
}

/// Decides one request against `rule`, given the live entry at `key`.
/// `room` is the largest payload the key may store (so that an admission is
/// never recorded in a log that then cannot be stored).
pub(crate) fn decide(
    key: &str,
    current: Option<&Entry>,
    rule: &RateLimitRule,
    now: Instant,
    room: u64,
) -> Result<RateOutcome> {
    let window = normalize_ttl(rule.window)?;
    match rule.algorithm {
        RateLimitAlgorithm::SlidingWindow => sliding(key, current, rule.limit, window, now, room),
        RateLimitAlgorithm::FixedWindow => fixed(key, current, rule.limit, window, now, room),
        // The enum is non-exhaustive: an algorithm added to the contract later
        // counts as the exact one until this backend learns it.
        _ => sliding(key, current, rule.limit, window, now, room),
    }
}

fn sliding(
    key: &str,
    current: Option<&Entry>,
    limit: u64,
    window: Duration,
    now: Instant,
    room: u64,
) -> Result<RateOutcome> {
    let log = match current {
        None => Arc::new(RequestLog::default()),
        Some(Entry {
            value: Stored::RequestLog(log),
            ..
        }) => Arc::clone(log),
        Some(_) => return Err(wrong_type(key, "a sliding-window request log")),
    };
    let mut times = log.times.lock();
    while times
        .front()
        .is_some_and(|&admitted| now.duration_since(admitted) >= window)
    {
        times.pop_front();
    }
    let used = times.len() as u64;
    if used >= limit {
        // Admitted again once the oldest `used - limit + 1` admissions have
        // left the window; the last of them is at index `used - limit`.
        let blocking = times[usize::try_from(used - limit).unwrap_or(0)];
        let retry_after = (blocking + window).saturating_duration_since(now);
        return Ok(RateOutcome {
            decision: RateDecision::new(false, limit, 0, whole_millis(retry_after)),
            write: None,
        });
    }
    let needed = (times.len() as u64 + 1) * std::mem::size_of::<Instant>() as u64;
    if needed > room {
        return Err(too_large(key, needed, room));
    }
    times.push_back(now);
    // The weigher reads the log: release it before the entry is stored.
    drop(times);
    Ok(RateOutcome {
        decision: RateDecision::new(true, limit, limit - used - 1, Duration::ZERO),
        write: Some(Entry {
            value: Stored::RequestLog(log),
            expires_at: Some(now + window),
        }),
    })
}

fn fixed(
    key: &str,
    current: Option<&Entry>,
    limit: u64,
    window: Duration,
    now: Instant,
    room: u64,
) -> Result<RateOutcome> {
    let (used, expires_at) = match current {
        None => (0, now + window),
        Some(Entry {
            value: Stored::Bytes(value),
            expires_at,
        }) => match parse_counter(value) {
            // A counter pushed below zero by `incr_by` counts as unused.
            // A counter without expiry (after `persist`) gets the window, as on Redis.
            Some(count) => (
                u64::try_from(count).unwrap_or(0),
                expires_at.unwrap_or(now + window),
            ),
            None => return Err(wrong_type(key, "a fixed-window counter")),
        },
        Some(_) => return Err(wrong_type(key, "a fixed-window counter")),
    };
    if used >= limit {
        let retry_after = expires_at.saturating_duration_since(now);
        return Ok(RateOutcome {
            decision: RateDecision::new(false, limit, 0, whole_millis(retry_after)),
            write: None,
        });
    }
    let count = used + 1;
    let text = Bytes::from(count.to_string());
    if text.len() as u64 > room {
        return Err(too_large(key, text.len() as u64, room));
    }
    Ok(RateOutcome {
        decision: RateDecision::new(true, limit, limit - count, Duration::ZERO),
        write: Some(Entry::bytes(text, expires_at)),
    })
}

/// `d` rounded up to whole milliseconds, at least one: retrying after the
/// returned duration is admitted (the contract's precision is the millisecond).
fn whole_millis(d: Duration) -> Duration {
    let millis = u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    Duration::from_millis(millis.max(1))
}

fn wrong_type(key: &str, expected: &'static str) -> CacheError {
    CacheError::wrong_type(key, expected)
}

fn too_large(key: &str, size: u64, max: u64) -> CacheError {
    CacheError::value_too_large(
        key,
        usize::try_from(size).unwrap_or(usize::MAX),
        usize::try_from(max).unwrap_or(usize::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_core::ErrorKind;

    const WINDOW: Duration = Duration::from_secs(10);

    /// Runs `decide` and applies the write, like the store does.
    fn step(stored: &mut Option<Entry>, rule: &RateLimitRule, now: Instant) -> RateDecision {
        let outcome = decide("k", stored.as_ref(), rule, now, u64::MAX).unwrap();
        if let Some(entry) = outcome.write {
            *stored = Some(entry);
        }
        outcome.decision
    }

    #[test]
    fn sliding_admits_up_to_the_limit_then_denies() {
        let rule = RateLimitRule::sliding(3, WINDOW);
        let (mut stored, t0) = (None, Instant::now());
        let remaining: Vec<u64> = (0..3)
            .map(|_| step(&mut stored, &rule, t0).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let denied = step(&mut stored, &rule, t0);
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.retry_after, WINDOW);
    }

    #[test]
    fn sliding_readmits_when_the_oldest_leaves_the_window() {
        let rule = RateLimitRule::sliding(2, WINDOW);
        let (mut stored, t0) = (None, Instant::now());
        assert!(step(&mut stored, &rule, t0).allowed);
        assert!(step(&mut stored, &rule, t0 + Duration::from_secs(4)).allowed);
        let denied = step(&mut stored, &rule, t0 + Duration::from_secs(6));
        assert_eq!(denied.retry_after, Duration::from_secs(4));
        // Exactly one window after the first admission, it no longer counts.
        assert!(step(&mut stored, &rule, t0 + WINDOW).allowed);
    }

    #[test]
    fn sliding_denials_do_not_count() {
        let rule = RateLimitRule::sliding(1, WINDOW);
        let (mut stored, t0) = (None, Instant::now());
        assert!(step(&mut stored, &rule, t0).allowed);
        for s in 1..10 {
            assert!(!step(&mut stored, &rule, t0 + Duration::from_secs(s)).allowed);
        }
        assert!(step(&mut stored, &rule, t0 + WINDOW).allowed);
    }

    #[test]
    fn sliding_entry_expires_a_window_after_the_newest_admission() {
        let rule = RateLimitRule::sliding(5, WINDOW);
        let (mut stored, t0) = (None, Instant::now());
        step(&mut stored, &rule, t0);
        step(&mut stored, &rule, t0 + Duration::from_secs(3));
        assert_eq!(
            stored.unwrap().expires_at,
            Some(t0 + Duration::from_secs(3) + WINDOW)
        );
    }

    #[test]
    fn fixed_counts_in_a_window_that_starts_at_the_first_request() {
        let rule = RateLimitRule::fixed(2, WINDOW);
        let (mut stored, t0) = (None, Instant::now());
        assert_eq!(step(&mut stored, &rule, t0).remaining, 1);
        assert_eq!(
            step(&mut stored, &rule, t0 + Duration::from_secs(1)).remaining,
            0
        );
        let denied = step(&mut stored, &rule, t0 + Duration::from_secs(4));
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Duration::from_secs(6));
        let entry = stored.unwrap();
        assert_eq!(entry.expires_at, Some(t0 + WINDOW));
        assert!(matches!(entry.value, Stored::Bytes(ref b) if b.as_ref() == b"2"));
    }

    #[test]
    fn retry_after_is_rounded_up_to_the_millisecond() {
        let rule = RateLimitRule::fixed(1, WINDOW);
        let (mut stored, t0) = (None, Instant::now());
        step(&mut stored, &rule, t0);
        let denied = step(&mut stored, &rule, t0 + Duration::from_nanos(1));
        assert_eq!(denied.retry_after, WINDOW);
    }

    #[test]
    fn a_window_over_a_value_it_does_not_own_is_a_wrong_type() {
        let cases = [
            (
                "fixed window on a non-counter",
                RateLimitRule::fixed(1, WINDOW),
                &b"text"[..],
            ),
            (
                "sliding window on bytes",
                RateLimitRule::sliding(1, WINDOW),
                &b"1"[..],
            ),
        ];
        for (case, rule, stored) in cases {
            let entry = Entry::bytes(Bytes::from_static(stored), Instant::now() + WINDOW);
            let err = decide("k", Some(&entry), &rule, Instant::now(), u64::MAX).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WrongType, "{case}: {err:?}");
        }
    }

    #[test]
    fn a_log_that_cannot_fit_is_refused_before_recording() {
        let rule = RateLimitRule::sliding(10, WINDOW);
        let err = decide("k", None, &rule, Instant::now(), 8).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueTooLarge, "{err:?}");
    }
}
