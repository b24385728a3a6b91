//! From redis-rs errors to the contract's [`CacheError`]: [`kind_of`] is the
//! one classification (the retry policy asks it too), [`map_error`] and
//! [`map_connect_error`] build the error around it.
//!
//! | redis-rs failure | [`ErrorKind`] | transient |
//! | --- | --- | --- |
//! | a timeout reported by the connection | `Timeout` | yes |
//! | refused, unreachable, no connection to the slot's cluster node, no master from the sentinels (the command was never sent) | `Connection` (names the endpoint) | yes |
//! | reset, broken pipe, closed, any other I/O failure of an established connection (the command was in flight: it may have run) | `ConnectionLost` (names the endpoint) | yes |
//! | `LOADING`, `TRYAGAIN`, `READONLY`, `MASTERDOWN`, `CLUSTERDOWN`, `BUSY`, `MOVED`/`ASK` once retries are spent (the server between roles or busy: the command did not run) | `Unavailable` | yes |
//! | `WRONGTYPE`, or "not an integer" from `incr_by` | `WrongType` | no |
//! | `NOPERM`, and a script's "the user executing the script can't..." | `PermissionDenied`, with a cause that says what to grant | no |
//! | `NOAUTH`, `WRONGPASS`, a failed `AUTH` | `Unauthenticated` (at start-up too), with a cause that says what to set | no |
//! | "would overflow" from `incr_by` | `Overflow` | no |
//! | a Lua error (runtime, compile, killed) | `Script` | no |
//! | anything else | `Operation` with the redis error as cause | no |
//!
//! Redis error replies never contain the password, and redis-rs redacts it
//! from its own `Debug` output; connection info is built from structs, never
//! from a URL, so no message here can carry a credential.

use std::time::Duration;

use cache_core::{CacheError, ErrorKind, Operation};
use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};

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

/// A refusal's kind and the explanation to wrap the redis error in.
type Refusal = (ErrorKind, fn(RedisError) -> ServerRefusal);

/// The refusals: the kind and the explanation to wrap the error in.
fn refusal(err: &RedisError) -> Option<Refusal> {
    const NO_PERM: Refusal = (ErrorKind::PermissionDenied, ServerRefusal::NoPerm);
    const WRONG_PASS: Refusal = (ErrorKind::Unauthenticated, ServerRefusal::WrongPass);
    if err.kind() == RedisKind::Server(ServerErrorKind::NoPerm) {
        return Some(NO_PERM);
    }
    if err.kind() == RedisKind::AuthenticationFailed {
        return Some(WRONG_PASS);
    }
    let code = code_or_text(err);
    if code.starts_with("NOAUTH") {
        Some((ErrorKind::Unauthenticated, ServerRefusal::NoAuth))
    } else if code.starts_with("WRONGPASS") {
        Some(WRONG_PASS)
    } else if code.starts_with("NOPERM")
        // An ACL refusal inside a script arrives as an `ERR` (keys the script
        // did not declare, commands the user may not run).
        || err.to_string().contains("user executing the script can't")
    {
        Some(NO_PERM)
    } else {
        None
    }
}

/// Whether the failure is about the connection rather than the command:
/// [`never_sent`] or [`lost_in_flight`].
pub(crate) fn is_connection_error(err: &RedisError) -> bool {
    never_sent(err) || lost_in_flight(err)
}

/// No connection could be made, so the command was never written: refused,
/// unreachable, no node serves the slot, no master from the sentinels.
pub(crate) fn never_sent(err: &RedisError) -> bool {
    use std::io::ErrorKind as Io;
    !err.is_timeout()
        && (err.is_connection_refusal()
            || matches!(
                err.kind(),
                RedisKind::ClusterConnectionNotFound
                    | RedisKind::MasterNameNotFoundBySentinel
                    | RedisKind::NoValidReplicasFoundBySentinel
            )
            || io_kind(err).is_some_and(|kind| {
                matches!(
                    kind,
                    Io::HostUnreachable | Io::NetworkUnreachable | Io::AddrNotAvailable
                )
            }))
}

/// The kind of the I/O error inside `err`, if it is one.
fn io_kind(err: &RedisError) -> Option<std::io::ErrorKind> {
    if !err.is_io_error() {
        return None;
    }
    let source = std::error::Error::source(err)?;
    // redis-rs keeps the cause in an `Arc`, which is what `source` hands out.
    source
        .downcast_ref::<std::io::Error>()
        .or_else(|| {
            source
                .downcast_ref::<std::sync::Arc<dyn std::error::Error + Send + Sync>>()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        })
        .map(std::io::Error::kind)
}

/// The connection broke with the command possibly written (reset, broken
/// pipe, closed before the reply, any other I/O failure): it may have run.
/// redis-rs reports a driver that died before the write the same way, so
/// this errs on the side of "may have run".
pub(crate) fn lost_in_flight(err: &RedisError) -> bool {
    !err.is_timeout() && !never_sent(err) && (err.is_io_error() || err.is_connection_dropped())
}

/// A cluster redirect that reached the caller (`MOVED`, `ASK`): the slot is
/// served elsewhere and the command did not run. Only the connection that
/// redis-rs may not resend on (non-idempotent calls) lets one through.
pub(crate) fn is_redirect(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        RedisKind::Server(ServerErrorKind::Moved | ServerErrorKind::Ask)
    )
}

/// Whether the server refused the command, without running it, because of
/// its role or state: loading its data, a demoted master during failover, a
/// cluster that is down or resharding, a script still running.
pub(crate) fn is_server_between_roles(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        RedisKind::Server(
            ServerErrorKind::ReadOnly
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::MasterDown
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
        )
    ) || err.code() == Some("BUSY")
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

/// A Lua error: at run time (`user_script:N:` in Redis 7 and Valkey, "Error
/// running script" before), at compile time, or a script killed.
fn is_script_error(err: &RedisError) -> bool {
    let text = err.to_string();
    [
        "user_script",
        "Error running script",
        "Error compiling script",
        "Script killed",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Whether `op` adds to a counter (whose "not an integer" and "overflow"
/// errors have kinds of their own).
fn is_counter(op: Operation) -> bool {
    matches!(op, Operation::IncrBy | Operation::HashIncrBy)
}

/// What an operation needed when the stored value had the wrong shape.
fn expected_shape(op: Operation) -> &'static str {
    match op {
        Operation::IncrBy => "a decimal i64 counter",
        Operation::RateLimit => "a rate-limit window",
        Operation::HashIncrBy => "a hash whose field holds a decimal i64 counter",
        Operation::SetAdd
        | Operation::SetRemove
        | Operation::SetContains
        | Operation::SetCount
        | Operation::SetMembers => "a set",
        Operation::HashSet
        | Operation::HashGet
        | Operation::HashGetAll
        | Operation::HashDelete
        | Operation::HashExpireFields
        | Operation::HashFieldTtl
        | Operation::HashPersistFields => "a hash",
        _ => "a string value",
    }
}

/// What a failure of `op` is, in the contract's terms (see the table above).
pub(crate) fn kind_of(op: Operation, err: &RedisError) -> ErrorKind {
    if err.is_timeout() {
        ErrorKind::Timeout
    } else if never_sent(err) {
        ErrorKind::Connection
    } else if lost_in_flight(err) {
        ErrorKind::ConnectionLost
    } else if is_server_between_roles(err) || is_redirect(err) {
        ErrorKind::Unavailable
    } else if is_wrong_type(err) || (is_counter(op) && is_not_an_integer(err)) {
        ErrorKind::WrongType
    } else if let Some((kind, _)) = refusal(err) {
        kind
    } else if is_counter(op) && is_overflow(err) {
        ErrorKind::Overflow
    } else if is_script_error(err) {
        ErrorKind::Script
    } else {
        ErrorKind::Operation
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
    let kind = kind_of(op, &err);
    let error = match kind {
        ErrorKind::Timeout => return CacheError::timeout(op, key, command_timeout),
        ErrorKind::WrongType => {
            return CacheError::wrong_type(key.unwrap_or_default(), expected_shape(op));
        }
        ErrorKind::Connection | ErrorKind::ConnectionLost => CacheError::new(kind, op)
            .with_addr(endpoint)
            .with_source(err),
        ErrorKind::Overflow => CacheError::new(kind, op).with_source(ServerRefusal::Overflow(err)),
        _ => match refusal(&err) {
            Some((_, explain)) => CacheError::new(kind, op).with_source(explain(err)),
            None => CacheError::new(kind, op).with_source(err),
        },
    };
    match key {
        Some(key) => error.with_key(key),
        None => error,
    }
}

/// Maps a failure to open connections at start-up: a refusal keeps its kind
/// (`Unauthenticated`, `PermissionDenied`: no fallback or retry fixes it),
/// explained; anything else is a `Connection` error. Both name the endpoint.
pub(crate) fn map_connect_error(endpoint: &str, err: RedisError) -> CacheError {
    match refusal(&err) {
        Some((kind, explain)) => CacheError::new(kind, Operation::Connect)
            .with_addr(endpoint)
            .with_source(explain(err)),
        None => CacheError::connection(endpoint, err),
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
        assert_eq!(e.kind(), ErrorKind::WrongType, "{e:?}");
        assert_eq!(e.key(), Some("k"));
    }

    #[test]
    fn not_an_integer_becomes_wrong_type_for_counters_only() {
        let err = || server("ERR value is not an integer or out of range");
        assert_eq!(map(Operation::IncrBy, err()).kind(), ErrorKind::WrongType);
        assert_eq!(map(Operation::Set, err()).kind(), ErrorKind::Operation);
    }

    #[test]
    fn overflow_is_an_overflow_that_says_so() {
        // As the INCR_BY script reports it on Redis 7.
        let e = map(
            Operation::IncrBy,
            server(
                "ERR increment or decrement would overflow script: 8cd00688c05c46bde4a2e60658ef20a2e5c0b248, on @user_script:1.",
            ),
        );
        assert_eq!(e.kind(), ErrorKind::Overflow, "{e:?}");
        assert!(!e.is_transient());
        assert!(e.source().unwrap().to_string().contains("overflow"));
    }

    #[test]
    fn io_failures_are_connection_errors_naming_the_endpoint() {
        let io: RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        let e = map(Operation::Get, io);
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert_eq!(e.addr(), Some("host:1"));
        assert_eq!(e.to_string(), "cannot connect to host:1");
        assert!(e.is_transient());
    }

    #[test]
    fn a_connection_lost_in_flight_says_the_command_may_have_run() {
        for io in [
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::UnexpectedEof,
            std::io::ErrorKind::ConnectionAborted,
        ] {
            let e = map(Operation::IncrBy, std::io::Error::from(io).into());
            assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{io:?}");
            assert!(e.may_have_run() && e.is_transient(), "{io:?}");
            assert_eq!(e.addr(), Some("host:1"));
            assert_eq!(
                e.to_string(),
                "the connection to host:1 was lost with incr_by in flight: it may have run"
            );
        }
        for io in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::HostUnreachable,
        ] {
            let e = map(Operation::IncrBy, std::io::Error::from(io).into());
            assert_eq!(e.kind(), ErrorKind::Connection, "{io:?}");
            assert!(!e.may_have_run(), "{io:?}");
        }
        let no_node: RedisError = (RedisKind::ClusterConnectionNotFound, "no node").into();
        assert_eq!(map(Operation::Get, no_node).kind(), ErrorKind::Connection);
    }

    #[test]
    fn io_timeouts_are_timeouts() {
        let io: RedisError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
        let e = map(Operation::Get, io);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.is_transient());
    }

    #[test]
    fn a_server_between_roles_is_unavailable_and_transient() {
        for reply in [
            "LOADING Redis is loading the dataset in memory",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "READONLY You can't write against a read only replica.",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            "CLUSTERDOWN The cluster is down",
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        ] {
            let e = map(Operation::Set, server(reply));
            assert_eq!(e.kind(), ErrorKind::Unavailable, "{reply}");
            assert!(e.is_transient(), "{reply}");
            assert!(!e.is_refused(), "{reply}");
            let cause = e.source().unwrap().downcast_ref::<RedisError>().unwrap();
            let code = reply.split(' ').next().unwrap();
            assert_eq!(cause.code(), Some(code), "the cause is the server's reply");
        }
    }

    #[test]
    fn refusals_are_never_transient() {
        let cases = [
            (
                "NOPERM User app has no permissions to run the 'set' command",
                ErrorKind::PermissionDenied,
            ),
            (
                "NOPERM this user has no permissions to access one of the keys used as arguments",
                ErrorKind::PermissionDenied,
            ),
            (
                "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments script: 3b0b5, on @user_script:1.",
                ErrorKind::PermissionDenied,
            ),
            (
                "NOAUTH Authentication required.",
                ErrorKind::Unauthenticated,
            ),
            (
                "WRONGPASS invalid username-password pair or user is disabled.",
                ErrorKind::Unauthenticated,
            ),
        ];
        for (reply, kind) in cases {
            let e = map(Operation::Get, server(reply));
            assert_eq!(e.kind(), kind, "{reply}");
            assert!(!e.is_transient(), "{reply}");
            assert!(e.is_refused(), "{reply}");
        }
    }

    #[test]
    fn script_errors_are_script_errors() {
        for reply in [
            "ERR user_script:1: attempt to perform arithmetic on a nil value script: d13bc48d, on @user_script:1.",
            "ERR Error running script (call to f_d13bc48d): @user_script:1: user_script:1: attempt to perform arithmetic on a nil value",
            "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'",
            "ERR Script killed by user with SCRIPT KILL... script: 694a5fe1, on @user_script:1.",
        ] {
            let e = map(Operation::CompareAndSet, server(reply));
            assert_eq!(e.kind(), ErrorKind::Script, "{reply}");
            assert!(!e.is_transient(), "{reply}");
        }
    }

    #[test]
    fn anything_else_is_an_operation_error_and_not_transient() {
        let e = map(Operation::Get, server("ERR unknown command 'FOO'"));
        assert_eq!(e.kind(), ErrorKind::Operation);
        assert!(!e.is_transient());
        assert_eq!(e.to_string(), "get of key \"k\" failed");
    }

    #[test]
    fn acl_refusals_are_worded_for_the_operator() {
        let e = map(
            Operation::Set,
            server("NOPERM User app has no permissions to run the 'set' command"),
        );
        assert_eq!(
            e.to_string(),
            "set of key \"k\" was refused: permission denied"
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
    }

    #[test]
    fn refusals_at_start_up_keep_their_kind_and_name_the_endpoint() {
        let e = map_connect_error(
            "host:1",
            server("WRONGPASS invalid username-password pair or user is disabled."),
        );
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            "connecting to host:1 was refused: not authenticated"
        );
        assert!(e.source().unwrap().to_string().contains("WRONGPASS"));
        let io: RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
        let e = map_connect_error("host:1", io);
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert!(e.is_transient());
    }

    #[test]
    fn long_keys_are_cut() {
        let key = "x".repeat(1000);
        let timeout: RedisError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
        for err in [server("WRONGTYPE x"), server("NOPERM x"), timeout] {
            let e = map_error(
                Operation::Get,
                Some(&key),
                "h:1",
                Duration::from_secs(1),
                err,
            );
            assert!(e.to_string().len() < 300, "{e}");
            assert_eq!(e.key(), Some(cache_core::error::cut_key(&key).as_str()));
        }
    }
}
