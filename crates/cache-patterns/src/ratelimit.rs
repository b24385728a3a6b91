//! Rate limiting over [`Cache::rate_limit`]: atomic in the backend, on the
//! backend's clock (the server's on Redis, so client clock skew between
//! instances does not matter).
//!
//! A [`RateLimiter`] holds one rule (sliding window by default, fixed window
//! as an option) and a key prefix, so `check("user:42")` counts against
//! `ratelimit:user:42`. Limit several dimensions (per user and per IP, per
//! tier) with one limiter per rule.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use std::{sync::Arc, time::Duration};
//! use cache_memory::MemoryCache;
//! use cache_patterns::ratelimit::RateLimiter;
//!
//! let cache = Arc::new(MemoryCache::new());
//! let otp = RateLimiter::sliding(cache, 3, Duration::from_secs(60)).prefix("ratelimit:otp:");
//! for _ in 0..3 {
//!     assert!(otp.check("phone:+15550100").await?.allowed);
//! }
//! let denied = otp.check("phone:+15550100").await?;
//! assert!(!denied.allowed);
//! assert!(denied.retry_after > Duration::ZERO); // e.g. a Retry-After header
//! assert!(otp.check("phone:+15550199").await?.allowed); // another key, its own window
//! assert_eq!(otp.stats().denied, 1);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::cache::{Cache, RateDecision, RateLimitRule};
use cache_core::error::Result;
use cache_core::metrics::{self, labels, names};

/// Decisions counted since the [`RateLimiter`] was built (shared by its clones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitStats {
    /// Requests admitted.
    pub allowed: u64,
    /// Requests denied.
    pub denied: u64,
    /// Checks the cache could not answer; admitted when failing open, errors otherwise.
    pub cache_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    allowed: AtomicU64,
    denied: AtomicU64,
    cache_errors: AtomicU64,
}

/// A rate limit rule applied to many keys. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    cache: Arc<dyn Cache>,
    rule: RateLimitRule,
    prefix: String,
    fail_open: bool,
    counters: Arc<Counters>,
}

impl RateLimiter {
    /// A limiter applying `rule`, with the key prefix `ratelimit:`, failing
    /// closed (a cache error is an error).
    pub fn new(cache: Arc<dyn Cache>, rule: RateLimitRule) -> Self {
        RateLimiter {
            cache,
            rule,
            prefix: "ratelimit:".to_owned(),
            fail_open: false,
            counters: Arc::default(),
        }
    }

    /// At most `limit` requests in any `window`-long interval.
    pub fn sliding(cache: Arc<dyn Cache>, limit: u64, window: Duration) -> Self {
        Self::new(cache, RateLimitRule::sliding(limit, window))
    }

    /// At most `limit` requests per window starting at a key's first request
    /// (cheaper; up to 2× the limit across a window edge).
    pub fn fixed(cache: Arc<dyn Cache>, limit: u64, window: Duration) -> Self {
        Self::new(cache, RateLimitRule::fixed(limit, window))
    }

    cache_core::setters! {
        /// The prefix put before every key (default `ratelimit:`).
        prefix: impl Into<String> => into;

        /// When the cache cannot answer for now (a transient failure: unreachable,
        /// timing out, between roles; see [`CacheError::is_transient`](cache_core::CacheError::is_transient)),
        /// admit the request (`true`) or return the error (`false`, the default).
        /// Failing open keeps a service up through a cache outage at the price of
        /// not limiting meanwhile; either way the failure is counted in
        /// [`RateLimitStats::cache_errors`]. Any other error is always returned:
        /// above all a refusal (an ACL `NOPERM` on the limiter's keys, wrong
        /// credentials), which failing open would turn into no limit at all.
        fail_open: bool;
    }

    /// The rule.
    pub fn rule(&self) -> &RateLimitRule {
        &self.rule
    }

    /// Counters since this limiter was built.
    pub fn stats(&self) -> RateLimitStats {
        RateLimitStats {
            allowed: self.counters.allowed.load(Ordering::Relaxed),
            denied: self.counters.denied.load(Ordering::Relaxed),
            cache_errors: self.counters.cache_errors.load(Ordering::Relaxed),
        }
    }

    /// Counts one request for `key` and says whether it is admitted. A denied
    /// request does not count against the window.
    pub async fn check(&self, key: &str) -> Result<RateDecision> {
        // An invalid rule is a programming error that must not be hidden by
        // failing open.
        self.rule.validate()?;
        let full_key = format!("{}{key}", self.prefix);
        match self.cache.rate_limit(&full_key, &self.rule).await {
            Ok(decision) => {
                let (counter, outcome) = if decision.allowed {
                    (&self.counters.allowed, "allowed")
                } else {
                    tracing::debug!(key = %full_key, retry_after = ?decision.retry_after, "rate limit exceeded");
                    (&self.counters.denied, "denied")
                };
                counter.fetch_add(1, Ordering::Relaxed);
                decided(outcome);
                Ok(decision)
            }
            Err(e) if self.fail_open && e.is_transient() => {
                self.counters.cache_errors.fetch_add(1, Ordering::Relaxed);
                self.counters.allowed.fetch_add(1, Ordering::Relaxed);
                decided("fail_open");
                tracing::warn!(key = %full_key, error = %e, "rate limit check failed; admitting (fail-open)");
                Ok(RateDecision::new(true, self.rule.limit, 0, Duration::ZERO))
            }
            Err(e) => {
                self.counters.cache_errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

/// Counts one decision in `cache.rate_limit.decisions`.
fn decided(outcome: &'static str) {
    metrics::count(names::RATE_LIMIT_DECISIONS, &[(labels::OUTCOME, outcome)]);
}
