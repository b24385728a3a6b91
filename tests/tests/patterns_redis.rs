//! The near cache and its invalidation bus across several connections to a
//! real Redis, and fail-open patterns facing an ACL refusal. The scenarios that must behave the same on every backend
//! (cache-aside, rate limits, idempotency, counters, locks under concurrency)
//! are the pattern suite of `cache-testing`, run on Redis by cache-redis's
//! `conformance_standalone` and on memory by cache-patterns' `pattern_suite`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::Cache;
use cache_memory::MemoryCache;
use cache_patterns::aside::CacheAside;
use cache_patterns::invalidation::NearCache;
use cache_patterns::ratelimit::RateLimiter;
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::{RedisServer, cli_binary};
use cache_testing::wait::{eventually, reads};

mod support;

const TTL: Duration = Duration::from_secs(60);

async fn redis(server: &RedisServer) -> Arc<dyn Cache> {
    support::connect(&server.addr()).await
}

/// One instance of a service: an L1 in memory over its own connection to `server`.
async fn near(server: &RedisServer) -> NearCache {
    NearCache::start(
        Arc::new(MemoryCache::new()),
        redis(server).await,
        "svc:",
        TTL,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_write_through_one_redis_connection_drops_the_local_copy_of_another() {
    let server = RedisServer::start();
    // Two instances of a service: two connections to the same server.
    let a = near(&server).await;
    let b = near(&server).await;
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

/// An ACL user confined to `app:` keys, as in production setups that share
/// one server between applications.
async fn confined_to_app_prefix(server: &RedisServer) -> Arc<dyn Cache> {
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    config.username = Some("app".to_owned());
    config.password = Some(cache_core::config::Secret::new("app-pw-2c81"));
    config.max_retries = 0;
    Arc::new(
        RedisCache::connect(&config)
            .await
            .expect("connect as the confined user"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_patterns_never_bypass_an_acl_refusal() {
    let server = RedisServer::builder()
        .config_file(
            "user default on nopass ~* &* +@all\n\
             user app on >app-pw-2c81 ~app:* &app:* +@all -@dangerous\n",
        )
        .start();
    let cache = confined_to_app_prefix(&server).await;

    // Cache-aside fails open by default, yet a NOPERM is not an outage.
    let aside = CacheAside::new(cache.clone());
    let loads = Arc::new(AtomicUsize::new(0));
    let counted = loads.clone();
    let err = aside
        .get_or_load("other:user:1", TTL, move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(1u32)
        })
        .await
        .unwrap_err();
    let cause = err.cache_error().expect("the cache's error");
    assert_eq!(
        cause.kind(),
        cache_core::ErrorKind::PermissionDenied,
        "{err}"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 0, "the loader ran instead");
    // Inside the prefix the same aside works.
    let got: u32 = aside
        .get_or_load("app:user:1", TTL, || async {
            Ok::<_, std::io::Error>(7u32)
        })
        .await
        .unwrap();
    assert_eq!(got, 7);

    // A fail-open limiter admits through an outage, not through a refusal.
    let limiter = RateLimiter::sliding(cache.clone(), 1, Duration::from_secs(60))
        .prefix("other:rl:")
        .fail_open(true);
    let err = limiter.check("client-1").await.unwrap_err();
    assert!(err.is_refused() && !err.is_transient(), "{err:?}");
    assert_eq!(limiter.stats().allowed, 0);
}
