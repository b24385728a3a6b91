//! Helpers shared by the real-server test binaries of this crate (cluster,
//! sentinel, TLS, ACL, resilience). Each binary uses a part of them.
#![allow(dead_code)]

use std::error::Error;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cache_core::CacheError;
use cache_redis::RedisConfig;
use cache_testing::server::RedisServer;
use tokio::time::Instant;

/// How long a test waits for a deployment to recover after a crash or a
/// failover. Generous: failover timing varies on a loaded 2-core machine.
pub(crate) const RECOVERY_DEADLINE: Duration = Duration::from_secs(60);

/// The standalone server of the tests running now, started by the first of
/// them and stopped when the last one ends (each test works in its own keys).
/// Tests that disturb a server (pause it, stop it, require a password) start
/// their own.
pub(crate) fn shared_server() -> Arc<RedisServer> {
    static SERVER: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());
    let mut slot = SERVER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(server) = slot.upgrade() {
        return server;
    }
    let server = Arc::new(RedisServer::start());
    *slot = Arc::downgrade(&server);
    server
}

/// A config for `addrs` with short timeouts, so that failures show quickly.
pub(crate) fn config(addrs: Vec<String>) -> RedisConfig {
    let mut config = RedisConfig::default();
    config.addrs = addrs;
    config.connect_timeout = Duration::from_secs(2);
    config.command_timeout = Duration::from_secs(2);
    config
}

/// The connect attempt's error, bounded so that a hang fails the test.
pub(crate) async fn connect_error(config: &RedisConfig) -> CacheError {
    let bound = config.connect_timeout * 5;
    match tokio::time::timeout(bound, cache_redis::RedisCache::connect(config)).await {
        Ok(Ok(_)) => panic!("connected although it should not have"),
        Ok(Err(e)) => e,
        Err(_) => panic!("connect did not give up within {bound:?}"),
    }
}

/// The error and every cause, joined with `: ` (what an operator reads).
pub(crate) fn chain(err: &CacheError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Runs `attempt` every 100 ms until it returns `Ok`, and returns that value.
/// Each attempt is bounded by `attempt_timeout`, so a stuck call fails the
/// test instead of hanging it.
///
/// # Panics
/// When `deadline` passes first; the message names `what` and the last error.
pub(crate) async fn eventually<T, E, F, Fut>(
    what: &str,
    deadline: Duration,
    attempt_timeout: Duration,
    mut attempt: F,
) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let until = Instant::now() + deadline;
    loop {
        let last = match tokio::time::timeout(attempt_timeout, attempt()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(e)) => e.to_string(),
            Err(_) => panic!("{what}: one attempt did not finish within {attempt_timeout:?}"),
        };
        if Instant::now() >= until {
            panic!("{what}: not reached within {deadline:?}; last error: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A random namespace for one test's keys, e.g. `t:3f9a1c2e:`.
pub(crate) fn namespace(prefix: &str) -> String {
    format!("{prefix}:{:08x}:", rand::random::<u32>())
}
