//! Which failures are retried, and how long to wait between tries.
//!
//! The policy is deliberately conservative: a retry that runs a command twice
//! is worse than an error for anything that is not idempotent (an `incr_by`
//! counted twice, a rate-limit slot taken twice, a message published twice).
//! See the table in the crate docs.

use std::time::Duration;

use cache_core::backoff::Backoff;
use redis::{ErrorKind, RedisError};

use crate::errors::{is_connection_error, is_redirect, is_server_between_roles, never_sent};

/// Whether running an operation twice has the same effect as running it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// get, set, delete, the batch calls, scan, health: retried on any
    /// connection or timeout failure.
    Idempotent,
    /// get_or_set, compare_and_set, compare_and_delete, incr_by, rate_limit,
    /// publish: retried only when the failure proves the server never ran the
    /// command. In a cluster they go through a connection that redis-rs
    /// never resends on.
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

    /// Whether a failed attempt number `attempt` (0-based) may be tried
    /// again. A server between roles ([`is_transient_state`]) is retried
    /// whatever the count, until the call's deadline (the caller's loop
    /// checks it): a load or a failover lasts as long as it lasts, and the
    /// command did not run.
    pub(crate) fn should_retry(
        &self,
        attempt: u32,
        idempotency: Idempotency,
        err: &RedisError,
    ) -> bool {
        let safe = match idempotency {
            Idempotency::Idempotent => is_transient(err),
            Idempotency::NotIdempotent => proves_not_executed(err),
        };
        safe && (attempt < self.max_retries || is_transient_state(err))
    }
}

/// The server (or the cluster) is between roles and refused the command
/// without running it: `LOADING`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`,
/// `READONLY`, `BUSY`, a redirect, or no node serves the slot yet. Retried
/// until the call's deadline, not for a fixed count.
pub(crate) fn is_transient_state(err: &RedisError) -> bool {
    is_server_between_roles(err)
        || is_redirect(err)
        || err.kind() == ErrorKind::ClusterConnectionNotFound
}

/// A failure that may pass by itself: what the contract calls transient
/// (see [`crate::errors::kind_of`]): a timeout, the connection broke or could
/// not be made, or the server is between roles (failover, loading, busy).
/// A refusal (`NOPERM`, `NOAUTH`, `WRONGPASS`) is not.
pub(crate) fn is_transient(err: &RedisError) -> bool {
    err.is_timeout() || is_connection_error(err) || is_transient_state(err)
}

/// A failure that proves the command never ran: the connection could not even
/// be made ([`never_sent`]), or the server refused the command before
/// executing it because of its role or state (READONLY on a demoted master,
/// LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, BUSY, MOVED, ASK). Exactly the
/// transient failures whose kind does not say "may have run".
pub(crate) fn proves_not_executed(err: &RedisError) -> bool {
    never_sent(err) || is_transient_state(err)
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
    fn a_server_between_roles_is_retried_past_the_count() {
        let p = RetryPolicy::new(3, Duration::ZERO, Duration::ZERO);
        for reply in [
            "LOADING Redis is loading the dataset in memory",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "MASTERDOWN Link with MASTER is down",
            "MOVED 3999 127.0.0.1:6381",
        ] {
            for idempotency in [Idempotency::Idempotent, Idempotency::NotIdempotent] {
                assert!(p.should_retry(50, idempotency, &server(reply)), "{reply}");
            }
        }
        let no_node: RedisError = (ErrorKind::ClusterConnectionNotFound, "no node").into();
        assert!(p.should_retry(50, Idempotency::NotIdempotent, &no_node));
        assert!(!p.should_retry(3, Idempotency::Idempotent, &refused()));
        assert!(
            !RetryPolicy::new(0, Duration::ZERO, Duration::ZERO).should_retry(
                0,
                Idempotency::Idempotent,
                &reset()
            )
        );
    }

    #[test]
    fn non_idempotent_retries_are_exactly_the_kinds_that_say_it_never_ran() {
        let p = RetryPolicy::new(3, Duration::ZERO, Duration::ZERO);
        let cases: [RedisError; 8] = [
            refused(),
            reset(),
            std::io::Error::from(std::io::ErrorKind::BrokenPipe).into(),
            std::io::Error::from(std::io::ErrorKind::TimedOut).into(),
            server("LOADING loading"),
            server("READONLY no"),
            server("WRONGTYPE no"),
            (ErrorKind::ClusterConnectionNotFound, "no node").into(),
        ];
        for err in cases {
            let kind = crate::errors::kind_of(cache_core::Operation::IncrBy, &err);
            assert_eq!(
                p.should_retry(0, Idempotency::NotIdempotent, &err),
                kind.is_transient() && !kind.may_have_run(),
                "{err:?} as {kind:?}"
            );
        }
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
            server("MOVED 3999 127.0.0.1:6381"),
            std::io::Error::from(std::io::ErrorKind::BrokenPipe).into(),
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
