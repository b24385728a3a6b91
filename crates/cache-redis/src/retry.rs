//! Which failures are retried, and how long to wait between tries.
//!
//! The policy is deliberately conservative: a retry that runs a command twice
//! is worse than an error for anything that is not idempotent (an `incr_by`
//! counted twice, a rate-limit slot taken twice, a message published twice).
//! See the table in the crate docs.

use std::time::Duration;

use cache_core::backoff::Backoff;
use redis::{ErrorKind, RedisError};

use crate::errors::{is_connection_error, is_server_between_roles};

/// Whether running an operation twice has the same effect as running it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// get, set, delete, the batch calls, scan, health: retried on any
    /// connection or timeout failure.
    Idempotent,
    /// get_or_set, compare_and_set, compare_and_delete, incr_by, rate_limit,
    /// publish: retried only when the failure proves the server never ran the
    /// command.
    NotIdempotent,
}

/// The shared [`Backoff`] (exponential, with jitter), bounded by a number of
/// retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Backoff,
}

impl RetryPolicy {
    pub(crate) fn new(max_retries: u32, base: Duration, max: Duration) -> Self {
        RetryPolicy {
            max_retries,
            backoff: Backoff::new(base, max),
        }
    }

    /// The wait before retry number `retry` (0-based): see [`Backoff::delay`]
    /// (`base · 2^retry` capped at `max`, drawn from its upper half).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        self.backoff.delay(retry)
    }

    /// Whether a failed attempt number `attempt` (0-based) may be tried again.
    pub(crate) fn should_retry(
        &self,
        attempt: u32,
        idempotency: Idempotency,
        err: &RedisError,
    ) -> bool {
        if attempt >= self.max_retries {
            return false;
        }
        match idempotency {
            Idempotency::Idempotent => is_transient(err),
            Idempotency::NotIdempotent => proves_not_executed(err),
        }
    }
}

/// A failure that may pass by itself: what the contract calls transient
/// (see [`crate::errors::kind_of`]): a timeout, the connection broke or could
/// not be made, or the server is between roles (failover, loading, busy).
/// A refusal (`NOPERM`, `NOAUTH`, `WRONGPASS`) is not.
pub(crate) fn is_transient(err: &RedisError) -> bool {
    err.is_timeout() || is_connection_error(err) || is_server_between_roles(err)
}

/// A failure that proves the command never ran: the connection could not even
/// be made, or the server refused the command before executing it because of
/// its role or state (READONLY on a demoted master, LOADING, MASTERDOWN,
/// TRYAGAIN, CLUSTERDOWN, BUSY).
pub(crate) fn proves_not_executed(err: &RedisError) -> bool {
    err.is_connection_refusal()
        || err.kind() == ErrorKind::ClusterConnectionNotFound
        || is_server_between_roles(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> RedisError {
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()
    }

    fn reset() -> RedisError {
        std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()
    }

    fn server(text: &str) -> RedisError {
        redis::parse_redis_value(format!("-{text}\r\n").as_bytes())
            .unwrap()
            .extract_error()
            .unwrap_err()
    }

    #[test]
    fn backoff_is_the_shared_one_within_its_bounds() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(
            p.backoff,
            Backoff::new(Duration::from_millis(100), Duration::from_millis(500))
        );
        for retry in 0..10 {
            let d = p.backoff(retry);
            let ceiling = p.backoff.ceiling(retry);
            assert!(d >= ceiling / 2 && d <= ceiling, "retry {retry}: {d:?}");
        }
        assert!(p.backoff(u32::MAX) <= Duration::from_millis(500));
    }

    #[test]
    fn idempotent_operations_retry_on_dropped_connections() {
        let p = RetryPolicy::new(3, Duration::ZERO, Duration::ZERO);
        assert!(p.should_retry(0, Idempotency::Idempotent, &reset()));
        assert!(p.should_retry(0, Idempotency::Idempotent, &refused()));
        assert!(!p.should_retry(3, Idempotency::Idempotent, &reset()));
    }

    #[test]
    fn other_operations_retry_only_when_the_command_never_ran() {
        let p = RetryPolicy::new(3, Duration::ZERO, Duration::ZERO);
        assert!(!p.should_retry(0, Idempotency::NotIdempotent, &reset()));
        assert!(p.should_retry(0, Idempotency::NotIdempotent, &refused()));
        assert!(p.should_retry(
            0,
            Idempotency::NotIdempotent,
            &server("READONLY You can't write against a read only replica.")
        ));
        assert!(p.should_retry(0, Idempotency::NotIdempotent, &server("LOADING loading")));
    }

    #[test]
    fn command_errors_are_never_retried() {
        let p = RetryPolicy::new(3, Duration::ZERO, Duration::ZERO);
        let wrongtype = server("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert!(!p.should_retry(0, Idempotency::Idempotent, &wrongtype));
        assert!(!p.should_retry(0, Idempotency::NotIdempotent, &wrongtype));
        let noperm = server("NOPERM this user has no permissions to run the 'get' command");
        assert!(!p.should_retry(0, Idempotency::Idempotent, &noperm));
        assert!(!p.should_retry(0, Idempotency::NotIdempotent, &noperm));
        let noauth = server("NOAUTH Authentication required.");
        assert!(!p.should_retry(0, Idempotency::Idempotent, &noauth));
    }

    #[test]
    fn retrying_agrees_with_the_contract_s_transient_kinds() {
        let cases = [
            refused(),
            reset(),
            std::io::Error::from(std::io::ErrorKind::TimedOut).into(),
            server("LOADING loading"),
            server("TRYAGAIN resharding"),
            server("BUSY running a script"),
            server("NOPERM no"),
            server("WRONGPASS no"),
            server("WRONGTYPE no"),
            server("ERR user_script:1: boom"),
            server("ERR unknown"),
        ];
        for err in cases {
            let kind = crate::errors::kind_of(cache_core::Operation::Get, &err);
            assert_eq!(
                is_transient(&err),
                kind.is_transient(),
                "{err:?} as {kind:?}"
            );
        }
    }
}
