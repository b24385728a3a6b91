//! `RedisCache` when its standalone server goes away and comes back: a
//! killed server, a frozen server, a server that never was, and
//! subscriptions across a restart.
//!
//! The contract under test: while the server is unreachable every call ends
//! within the command timeout with a `Connection` or `Timeout` error (never a
//! panic, never a stuck task), and once the server is back the same cache
//! works again without the caller doing anything. Each test starts its own
//! server, because each stops it. Runs against Valkey too:
//! `CACHE_TEST_REDIS_SERVER=valkey-server CACHE_TEST_REDIS_CLI=valkey-cli`.

mod harness_support;

use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{Cache, CacheError, ErrorKind, RateLimitRule, ScanCursor, SubscriptionEvent};
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::{RedisServer, free_port};
use harness_support::{chain, eventually};

const TTL: Duration = Duration::from_secs(60);

/// How long the tests give the server to come back and the cache to notice.
const RECOVERY: Duration = Duration::from_secs(30);

/// The command timeout of the caches under test: short, so outages show quickly.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The bound a call must finish within: its command timeout, plus slack for a
/// loaded machine (the contract is the command timeout; this catches hangs).
const CALL_BOUND: Duration = Duration::from_secs(4);

fn config_for(server: &RedisServer) -> RedisConfig {
    let mut config = harness_support::config(vec![server.addr()]);
    config.command_timeout = COMMAND_TIMEOUT;
    config.connect_timeout = COMMAND_TIMEOUT;
    config
}

async fn connect(server: &RedisServer) -> Arc<RedisCache> {
    let cache = RedisCache::connect(&config_for(server))
        .await
        .unwrap_or_else(|e| panic!("connect: {}", chain(&e)));
    Arc::new(cache)
}

type Call<'a> = Pin<Box<dyn Future<Output = Result<(), CacheError>> + Send + 'a>>;

/// One call of every kind, each reduced to success or its error.
fn every_call(cache: &RedisCache) -> Vec<(&'static str, Call<'_>)> {
    vec![
        ("get", Box::pin(async { cache.get("k").await.map(drop) })),
        ("set", Box::pin(cache.set("k", b"v", TTL))),
        (
            "delete",
            Box::pin(async { cache.delete("k").await.map(drop) }),
        ),
        (
            "get_or_set",
            Box::pin(async { cache.get_or_set("k", b"v", TTL).await.map(drop) }),
        ),
        (
            "compare_and_set",
            Box::pin(async { cache.compare_and_set("k", None, b"v", TTL).await.map(drop) }),
        ),
        (
            "incr_by",
            Box::pin(async { cache.incr_by("n", 1, TTL).await.map(drop) }),
        ),
        (
            "get_many",
            Box::pin(async { cache.get_many(&["a", "b"]).await.map(drop) }),
        ),
        (
            "scan_keys",
            Box::pin(async {
                cache
                    .scan_keys("*", &ScanCursor::start(), 10)
                    .await
                    .map(drop)
            }),
        ),
        (
            "delete_pattern",
            Box::pin(async { cache.delete_pattern("x:*").await.map(drop) }),
        ),
        (
            "rate_limit",
            Box::pin(async {
                let rule = RateLimitRule::fixed(10, Duration::from_secs(1));
                cache.rate_limit("rl", &rule).await.map(drop)
            }),
        ),
        (
            "publish",
            Box::pin(async { cache.publish("ch", b"m").await.map(drop) }),
        ),
        ("health", Box::pin(cache.health())),
    ]
}

/// Runs every kind of call and checks that each fails with a transient
/// error of the outage kinds within [`CALL_BOUND`].
async fn assert_every_call_fails_fast(cache: &RedisCache) {
    for (name, call) in every_call(cache) {
        match tokio::time::timeout(CALL_BOUND, call).await {
            Err(_) => panic!("{name} did not finish within {CALL_BOUND:?}"),
            Ok(Ok(())) => panic!("{name} succeeded against a server that is down"),
            Ok(Err(e)) => assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Connection | ErrorKind::ConnectionLost | ErrorKind::Timeout
                ),
                "{name} failed with {:?}: {}",
                e.kind(),
                chain(&e)
            ),
        }
    }
}

/// Waits until a write and a read succeed again on `cache`.
async fn await_recovery(cache: &RedisCache, what: &str) {
    let value = eventually(what, RECOVERY, CALL_BOUND, || async {
        cache.set("after", b"back", TTL).await?;
        cache.get("after").await
    })
    .await;
    assert_eq!(value.as_deref(), Some(&b"back"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_the_server_is_down_and_recover_after_it_restarts() {
    let mut server = RedisServer::start();
    let cache = connect(&server).await;
    cache.set("k", b"v", TTL).await.unwrap();

    tokio::task::block_in_place(|| server.stop());
    assert_every_call_fails_fast(&cache).await;

    tokio::task::block_in_place(|| server.restart());
    await_recovery(&cache, "calls after the restart").await;
    // The restarted server is empty (no persistence): the old key is gone.
    assert!(cache.get("k").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_during_an_outage_all_get_an_answer() {
    let mut server = RedisServer::start();
    let cache = connect(&server).await;
    tokio::task::block_in_place(|| server.stop());

    let callers: Vec<_> = (0..64)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let key = format!("k{i}");
                tokio::time::timeout(CALL_BOUND, cache.get(&key)).await
            })
        })
        .collect();

    for caller in callers {
        let outcome = caller.await.expect("a caller panicked");
        let result = outcome.unwrap_or_else(|_| panic!("a caller hung past {CALL_BOUND:?}"));
        let err = result.expect_err("a get succeeded against a server that is down");
        assert!(err.is_transient(), "{}", chain(&err));
    }
    tokio::task::block_in_place(|| server.restart());
    await_recovery(&cache, "calls after the restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_frozen_server_time_out_and_recover_when_it_resumes() {
    let server = RedisServer::start();
    let cache = connect(&server).await;
    cache.set("kept", b"v", TTL).await.unwrap();
    let pid = server.pid().expect("running").to_string();

    // SIGSTOP: the socket stays open but nothing answers, like a hung server.
    let stopped = Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    assert!(stopped.success());
    for (name, call) in every_call(&cache).into_iter().take(3) {
        match tokio::time::timeout(CALL_BOUND, call).await {
            Err(_) => panic!("{name} did not finish within {CALL_BOUND:?}"),
            Ok(Ok(())) => panic!("{name} succeeded against a frozen server"),
            Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::Timeout, "{name}: {}", chain(&e)),
        }
    }

    let resumed = Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    assert!(resumed.success());
    await_recovery(&cache, "calls after the server resumed").await;
    // Same process, same data. (The calls that timed out may still have run
    // once it resumed: a timeout says "no answer", not "not done".)
    assert_eq!(&cache.get("kept").await.unwrap().unwrap()[..], b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_port_without_a_server_is_a_connection_error_naming_it() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut config = harness_support::config(vec![addr.clone()]);
    config.connect_timeout = COMMAND_TIMEOUT;

    let outcome = tokio::time::timeout(CALL_BOUND * 3, RedisCache::connect(&config)).await;

    let err = outcome
        .expect("connect gave up in time")
        .expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::Connection, "{}", chain(&err));
    assert!(err.to_string().contains(&addr), "{err}");
}

/// The next event of `subscription`, within `RECOVERY`.
async fn next_event(
    subscription: &mut cache_core::Subscription,
    what: &str,
) -> Option<SubscriptionEvent> {
    tokio::time::timeout(RECOVERY, subscription.recv())
        .await
        .unwrap_or_else(|_| panic!("no event within {RECOVERY:?} while waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_is_told_of_the_reconnect_and_then_gets_new_messages() {
    let mut server = RedisServer::start();
    let cache = connect(&server).await;
    let mut subscription = cache.subscribe("news").await.unwrap();
    cache.publish("news", b"before").await.unwrap();
    assert_eq!(
        next_event(&mut subscription, "the first message").await,
        Some(SubscriptionEvent::Message(Bytes::from_static(b"before")))
    );

    tokio::task::block_in_place(|| server.stop());
    tokio::task::block_in_place(|| server.restart());

    loop {
        match next_event(&mut subscription, "Reconnected").await {
            Some(SubscriptionEvent::Reconnected) => break,
            Some(SubscriptionEvent::Lagged(_)) => {}
            other => panic!("expected Reconnected after the restart, got {other:?}"),
        }
    }
    // Publish until the resubscribed connection hears it (a publish that
    // reaches the server before the subscription is restored is lost, by
    // contract, so one publish alone could race).
    let publisher = {
        let cache = cache.clone();
        tokio::spawn(async move {
            loop {
                let _ = cache.publish("news", b"after").await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let event = next_event(&mut subscription, "a message after the restart").await;
    publisher.abort();
    assert_eq!(
        event,
        Some(SubscriptionEvent::Message(Bytes::from_static(b"after")))
    );
}
