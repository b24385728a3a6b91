//! The near cache and its invalidation bus across several connections to a
//! real Redis. The scenarios that must behave the same on every backend
//! (cache-aside, rate limits, idempotency, counters, locks under concurrency)
//! are the pattern suite of `cache-testing`, run on Redis by cache-redis's
//! `conformance_standalone` and on memory by cache-patterns' `pattern_suite`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cache_core::Cache;
use cache_memory::MemoryCache;
use cache_patterns::invalidation::NearCache;
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::{RedisServer, cli_binary};

const TTL: Duration = Duration::from_secs(60);
const DEADLINE: Duration = Duration::from_secs(30);

async fn redis(server: &RedisServer) -> Arc<dyn Cache> {
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    Arc::new(
        RedisCache::connect(&config)
            .await
            .expect("connect to the test server"),
    )
}

async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn reads(cache: &NearCache, key: &str, expected: &'static str) -> bool {
    cache
        .get(key)
        .await
        .is_ok_and(|v| v.is_some_and(|v| v == expected))
}

#[tokio::test]
async fn a_write_through_one_redis_connection_drops_the_local_copy_of_another() {
    let server = RedisServer::start();
    // Two instances of a service: two connections to the same server.
    let a = NearCache::start(
        Arc::new(MemoryCache::new()),
        redis(&server).await,
        "svc:",
        TTL,
    )
    .await
    .unwrap();
    let b = NearCache::start(
        Arc::new(MemoryCache::new()),
        redis(&server).await,
        "svc:",
        TTL,
    )
    .await
    .unwrap();
    a.set("user:1", b"v1", TTL).await.unwrap();
    assert_eq!(b.get("user:1").await.unwrap().unwrap(), "v1");
    a.set("user:1", b"v2", TTL).await.unwrap();
    eventually("b drops its copy of user:1", || reads(&b, "user:1", "v2")).await;
    a.delete_pattern("user:*").await.unwrap();
    eventually("b drops the pattern", || async {
        b.get("user:1").await.is_ok_and(|v| v.is_none())
    })
    .await;
    assert!(b.bus().stats().received >= 2);
    assert_eq!(b.bus().stats().own_ignored, 0);
}

#[tokio::test]
async fn a_lost_redis_subscription_drops_all_local_state() {
    let server = RedisServer::start();
    let shared = redis(&server).await;
    let a = NearCache::start(Arc::new(MemoryCache::new()), shared.clone(), "svc:", TTL)
        .await
        .unwrap();
    shared.set("k", b"old", TTL).await.unwrap();
    assert_eq!(a.get("k").await.unwrap().unwrap(), "old");
    // Changed without an invalidation (as if the message were lost) ...
    shared.set("k", b"new", TTL).await.unwrap();
    assert_eq!(a.get("k").await.unwrap().unwrap(), "old");
    // ... and the subscriber connection is cut: after reconnecting, the bus
    // must assume it missed messages.
    let killed = std::process::Command::new(cli_binary())
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(["CLIENT", "KILL", "TYPE", "pubsub"])
        .output()
        .expect("run redis-cli");
    assert!(killed.status.success(), "{killed:?}");
    eventually("all local state is dropped", || reads(&a, "k", "new")).await;
    assert!(a.bus().stats().resets >= 1);
}
