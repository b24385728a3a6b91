//! From redis-rs errors to the contract's [`CacheError`].
//!
//! | redis-rs failure | `CacheError` |
//! | --- | --- |
//! | I/O, refused, reset, broken pipe, no connection to a cluster node | `Connection` (names the endpoint) |
//! | an I/O timeout reported by the connection | `Timeout` |
//! | `WRONGTYPE`, or "not an integer" from `incr_by` | `WrongType` |
//! | `NOAUTH`, `WRONGPASS`, `NOPERM` | `Connection` at start-up, `Operation` later, with a cause that says what to fix |
//! | anything else | `Operation` with the redis error as cause |
//!
//! Redis error replies never contain the password, and redis-rs redacts it
//! from its own `Debug` output; connection info is built from structs, never
//! from a URL, so no message here can carry a credential.

use std::time::Duration;

use cache_core::{CacheError, Operation};
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// A redis failure explained in terms of what the operator should do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerRefusal {
    /// `NOAUTH`.
    #[error(
        "the server requires authentication (NOAUTH): set cache.redis.password, and \
         cache.redis.username for an ACL user"
    )]
    NoAuth(#[source] RedisError),
    /// `WRONGPASS` or a failed `AUTH`.
    #[error(
        "authentication failed (WRONGPASS): the server rejected the username/password pair, \
         or the ACL user is disabled"
    )]
    WrongPass(#[source] RedisError),
    /// `NOPERM`.
    #[error(
        "permission denied by the server's ACL (NOPERM): the ACL user may not run this command \
         or touch this key; grant it with ACL SETUSER (the cache needs the @read, @write, \
         @keyspace, @scripting, @pubsub and @connection categories)"
    )]
    NoPerm(#[source] RedisError),
    /// `INCRBY` left the i64 range.
    #[error("integer overflow: the counter would leave the i64 range")]
    Overflow(#[source] RedisError),
}

fn code_or_text(err: &RedisError) -> String {
    match err.code() {
        Some(code) => code.to_owned(),
        None => err.to_string(),
    }
}

fn auth_refusal(err: &RedisError) -> Option<fn(RedisError) -> ServerRefusal> {
    if err.kind() == ErrorKind::Server(ServerErrorKind::NoPerm) {
        return Some(ServerRefusal::NoPerm);
    }
    if err.kind() == ErrorKind::AuthenticationFailed {
        return Some(ServerRefusal::WrongPass);
    }
    let code = code_or_text(err);
    if code.starts_with("NOAUTH") {
        Some(ServerRefusal::NoAuth)
    } else if code.starts_with("WRONGPASS") {
        Some(ServerRefusal::WrongPass)
    } else if code.starts_with("NOPERM") {
        Some(ServerRefusal::NoPerm)
    } else {
        None
    }
}

/// Whether the failure is about the connection rather than the command.
pub(crate) fn is_connection_error(err: &RedisError) -> bool {
    !err.is_timeout()
        && (err.is_io_error()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || matches!(
                err.kind(),
                ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::MasterNameNotFoundBySentinel
                    | ErrorKind::NoValidReplicasFoundBySentinel
            ))
}

fn is_wrong_type(err: &RedisError) -> bool {
    err.code() == Some("WRONGTYPE") || err.to_string().contains("WRONGTYPE")
}

fn is_not_an_integer(err: &RedisError) -> bool {
    err.to_string().contains("not an integer")
}

fn is_overflow(err: &RedisError) -> bool {
    err.to_string().contains("overflow")
}

/// What an operation needed when the stored value had the wrong shape.
fn expected_shape(op: Operation) -> &'static str {
    match op {
        Operation::IncrBy => "a decimal i64 counter",
        Operation::RateLimit => "a rate-limit window",
        _ => "a string value",
    }
}

/// Maps a failure of `op` (on `key`) against `endpoint`.
pub(crate) fn map_error(
    op: Operation,
    key: Option<&str>,
    endpoint: &str,
    command_timeout: Duration,
    err: RedisError,
) -> CacheError {
    if err.is_timeout() {
        return CacheError::Timeout {
            op,
            key: key.map(cut_key),
            after: command_timeout,
        };
    }
    if is_connection_error(&err) {
        return CacheError::connection(endpoint, err);
    }
    if is_wrong_type(&err) || (op == Operation::IncrBy && is_not_an_integer(&err)) {
        return CacheError::WrongType {
            key: cut_key(key.unwrap_or_default()),
            expected: expected_shape(op),
        };
    }
    if let Some(explain) = auth_refusal(&err) {
        return CacheError::operation(op, key, explain(err));
    }
    if op == Operation::IncrBy && is_overflow(&err) {
        return CacheError::operation(op, key, ServerRefusal::Overflow(err));
    }
    CacheError::operation(op, key, err)
}

/// Maps a failure to open connections at start-up: always a `Connection`
/// error naming the endpoint, with auth refusals explained.
pub(crate) fn map_connect_error(endpoint: &str, err: RedisError) -> CacheError {
    match auth_refusal(&err) {
        Some(explain) => CacheError::connection(endpoint, explain(err)),
        None => CacheError::connection(endpoint, err),
    }
}

/// The key cut to a readable length, as cache-core does in its own messages.
fn cut_key(key: &str) -> String {
    const MAX_CHARS: usize = 128;
    match key.char_indices().nth(MAX_CHARS) {
        None => key.to_owned(),
        Some((at, _)) => format!("{}…", &key[..at]),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn server(text: &str) -> RedisError {
        redis::parse_redis_value(format!("-{text}\r\n").as_bytes())
            .unwrap()
            .extract_error()
            .unwrap_err()
    }

    fn map(op: Operation, err: RedisError) -> CacheError {
        map_error(op, Some("k"), "host:1", Duration::from_secs(1), err)
    }

    #[test]
    fn wrongtype_becomes_wrong_type() {
        let e = map(
            Operation::Get,
            server("WRONGTYPE Operation against a key holding the wrong kind of value"),
        );
        assert!(
            matches!(e, CacheError::WrongType { ref key, .. } if key == "k"),
            "{e:?}"
        );
    }

    #[test]
    fn not_an_integer_becomes_wrong_type_for_counters_only() {
        let err = || server("ERR value is not an integer or out of range");
        assert!(matches!(
            map(Operation::IncrBy, err()),
            CacheError::WrongType { .. }
        ));
        assert!(matches!(
            map(Operation::Set, err()),
            CacheError::Operation { .. }
        ));
    }

    #[test]
    fn overflow_is_an_operation_error_that_says_so() {
        let e = map(
            Operation::IncrBy,
            server("ERR increment or decrement would overflow"),
        );
        assert!(matches!(e, CacheError::Operation { .. }));
        assert!(e.source().unwrap().to_string().contains("overflow"));
    }

    #[test]
    fn io_failures_are_connection_errors_naming_the_endpoint() {
        let io: RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        let e = map(Operation::Get, io);
        assert!(matches!(e, CacheError::Connection { ref addr, .. } if addr == "host:1"));
        assert_eq!(e.to_string(), "cannot connect to host:1");
    }

    #[test]
    fn io_timeouts_are_timeouts() {
        let io: RedisError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
        assert!(matches!(
            map(Operation::Get, io),
            CacheError::Timeout { .. }
        ));
    }

    #[test]
    fn acl_refusals_are_worded_for_the_operator() {
        let e = map(
            Operation::Set,
            server("NOPERM User app has no permissions to run the 'set' command"),
        );
        let cause = e.source().unwrap().to_string();
        assert!(cause.contains("NOPERM") && cause.contains("ACL"), "{cause}");
        let e = map(Operation::Get, server("NOAUTH Authentication required."));
        assert!(
            e.source()
                .unwrap()
                .to_string()
                .contains("cache.redis.password")
        );
        let e = map_connect_error(
            "host:1",
            server("WRONGPASS invalid username-password pair or user is disabled."),
        );
        assert!(matches!(e, CacheError::Connection { .. }));
        assert!(e.source().unwrap().to_string().contains("WRONGPASS"));
    }

    #[test]
    fn long_keys_are_cut() {
        let key = "x".repeat(1000);
        let e = map_error(
            Operation::Get,
            Some(&key),
            "h:1",
            Duration::from_secs(1),
            server("WRONGTYPE x"),
        );
        assert!(e.to_string().len() < 300);
    }
}
