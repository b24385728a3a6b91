//! Behaviour of `RedisCache` on a standalone server that the conformance
//! suite does not cover: the two `get_or_set` paths, script reloading,
//! authentication failures, database isolation, the command timeout, and
//! validation before I/O.

mod harness_support;

use cache_testing::wait::eventually;
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::config::Secret;
use cache_core::{Cache, CacheError, ErrorKind};
use cache_redis::RedisConfig;
use cache_redis::{ConnectOptions, RedisCache};
use cache_testing::server::{RedisServer, RespValue};
use harness_support::shared_server;

const TTL: Duration = Duration::from_secs(60);

fn config_for(server: &RedisServer) -> RedisConfig {
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    config
}

/// A key no other test uses.
fn unique_key(name: &str) -> String {
    format!("standalone-test:{}:{name}", rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    match server.command(&["PTTL", key]) {
        RespValue::Integer(ms) => ms,
        other => panic!("PTTL answered {other:?}"),
    }
}

/// Every description of `err` a log or a caller could print.
fn every_rendering(err: &CacheError) -> String {
    let mut text = format!("{err}\n{err:?}\n");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!("{cause}\n{cause:?}\n"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn get_or_set_uses_set_nx_get_on_redis_7_and_later() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    let (engine, version) = cache.server_version().expect("INFO server is allowed");
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    assert_eq!(
        cache.uses_set_nx_get(),
        engine == "valkey" || major >= 7,
        "{engine} {version}"
    );
}

/// Both `get_or_set` paths keep the contract: store when absent, otherwise
/// return the existing value and leave its TTL alone.
async fn get_or_set_contract(cache: &RedisCache, server: &RedisServer) {
    let key = unique_key("gos");
    let (value, stored) = cache.get_or_set(&key, b"first", TTL).await.unwrap();
    assert_eq!((&value[..], stored), (&b"first"[..], true));
    let ttl_before = pttl(server, &key);
    let (value, stored) = cache
        .get_or_set(&key, b"second", Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!((&value[..], stored), (&b"first"[..], false));
    let ttl_after = pttl(server, &key);
    assert!(
        ttl_after <= ttl_before && ttl_after > 0,
        "the existing TTL must stay ({ttl_before} ms then {ttl_after} ms)"
    );
    assert_eq!(&cache.get(&key).await.unwrap().unwrap()[..], b"first");
}

#[tokio::test]
async fn get_or_set_with_set_nx_get_stores_only_when_absent() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    assert!(
        cache.uses_set_nx_get(),
        "the test server is Redis 7+ or Valkey"
    );
    get_or_set_contract(&cache, &server).await;
}

#[tokio::test]
async fn get_or_set_with_the_lua_script_stores_only_when_absent() {
    let server = shared_server();
    let options = ConnectOptions::default().force_lua_get_or_set(true);
    let cache = RedisCache::connect_with(&config_for(&server), options)
        .await
        .unwrap();
    assert!(!cache.uses_set_nx_get());
    get_or_set_contract(&cache, &server).await;
}

#[tokio::test]
async fn lua_get_or_set_passes_the_get_or_set_conformance_checks() {
    let server = shared_server();
    let factory = || {
        let config = config_for(&server);
        async move {
            let options = ConnectOptions::default().force_lua_get_or_set(true);
            Arc::new(RedisCache::connect_with(&config, options).await.unwrap()) as Arc<dyn Cache>
        }
    };
    let report = cache_testing::conformance::run_checks(&factory, |name| {
        name.starts_with("get_or_set") || name.starts_with("closed")
    })
    .await;
    assert!(!report.passed.is_empty(), "no get_or_set check selected");
    report.assert_ok();
}

#[tokio::test]
async fn scripts_are_reloaded_after_script_flush() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    let key = unique_key("cas");
    cache.set(&key, b"v1", TTL).await.unwrap();
    assert!(
        cache
            .compare_and_set(&key, Some(b"v1"), b"v2", TTL)
            .await
            .unwrap()
    );
    assert_eq!(
        server.command(&["SCRIPT", "FLUSH"]),
        RespValue::Simple("OK".into())
    );
    assert!(
        cache
            .compare_and_set(&key, Some(b"v2"), b"v3", TTL)
            .await
            .unwrap(),
        "compare_and_set after SCRIPT FLUSH"
    );
    assert!(cache.compare_and_delete(&key, b"v3").await.unwrap());
    assert_eq!(cache.incr_by(&key, 5, TTL).await.unwrap(), 5);
}

/// A server requiring the password `required`, and what connecting to it
/// with `given` (or with no password) gives.
async fn connect_to_password_server(
    required: &str,
    given: Option<&str>,
) -> (RedisServer, Result<RedisCache, CacheError>) {
    let server = RedisServer::builder().password(required).start();
    let mut config = config_for(&server);
    config.password = given.map(Secret::new);
    let connected = RedisCache::connect(&config).await;
    (server, connected)
}

#[tokio::test]
async fn a_wrong_password_fails_connect_naming_the_address_not_the_password() {
    let (server, connected) =
        connect_to_password_server("the-right-one", Some("hunter2-wrong-secret")).await;
    let err = connected.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
    assert!(!err.is_transient(), "{err:?}");
    let shown = every_rendering(&err);
    assert!(shown.contains(&server.addr()), "{shown}");
    assert!(!shown.contains("hunter2-wrong-secret"), "{shown}");
    assert!(!shown.contains("the-right-one"), "{shown}");
}

#[tokio::test]
async fn a_missing_password_fails_connect_with_a_hint() {
    let (server, connected) = connect_to_password_server("the-right-one", None).await;
    let err = connected.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err:?}");
    let shown = every_rendering(&err);
    assert!(shown.contains("cache.redis.password"), "{shown}");
    assert!(shown.contains(&server.addr()), "{shown}");
}

#[tokio::test]
async fn password_only_auth_connects_and_debug_hides_the_password() {
    let (server, connected) =
        connect_to_password_server("pw-only-secret", Some("pw-only-secret")).await;
    let cache = connected.unwrap();
    let key = unique_key("auth");
    cache.set(&key, b"v", TTL).await.unwrap();
    assert_eq!(&cache.get(&key).await.unwrap().unwrap()[..], b"v");
    let debug = format!("{cache:?}");
    assert!(!debug.contains("pw-only-secret"), "{debug}");
    assert!(debug.contains(&server.addr()), "{debug}");
}

#[tokio::test]
async fn an_unreachable_server_fails_connect_fast_naming_the_address() {
    let port = cache_testing::server::free_port();
    let mut config = RedisConfig::default();
    config.addrs = vec![format!("127.0.0.1:{port}")];
    let err = RedisCache::connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn databases_do_not_see_each_others_keys() {
    let server = shared_server();
    let mut one = config_for(&server);
    one.database = 1;
    let mut two = config_for(&server);
    two.database = 2;
    let (one, two) = (
        RedisCache::connect(&one).await.unwrap(),
        RedisCache::connect(&two).await.unwrap(),
    );
    let key = unique_key("db");
    one.set(&key, b"in db 1", TTL).await.unwrap();
    assert_eq!(two.get(&key).await.unwrap(), None);
    assert_eq!(&one.get(&key).await.unwrap().unwrap()[..], b"in db 1");
    two.set(&key, b"in db 2", TTL).await.unwrap();
    assert_eq!(&one.get(&key).await.unwrap().unwrap()[..], b"in db 1");
    let page = two
        .scan_keys(
            &cache_core::pattern::escape(&key),
            &cache_core::ScanCursor::start(),
            100,
        )
        .await
        .unwrap();
    assert!(page.keys.is_empty() || page.keys == vec![key.clone()]);
    assert_eq!(
        two.delete_pattern(&cache_core::pattern::escape(&key))
            .await
            .unwrap(),
        1
    );
    assert_eq!(&one.get(&key).await.unwrap().unwrap()[..], b"in db 1");
}

#[tokio::test]
async fn a_paused_server_gives_a_timeout_within_the_command_timeout_then_recovers() {
    let server = RedisServer::start();
    let mut config = config_for(&server);
    config.command_timeout = Duration::from_millis(300);
    let cache = RedisCache::connect(&config).await.unwrap();
    let key = unique_key("pause");
    cache.set(&key, b"v", TTL).await.unwrap();

    // A new connection cannot unpause an ALL pause: keep it short and let it end.
    let pause_ms = 3_000;
    server.command(&["CLIENT", "PAUSE", &pause_ms.to_string(), "ALL"]);
    let started = Instant::now();
    let err = cache.get(&key).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(pause_ms),
        "the call returned after {took:?}: it must end at the command timeout, not wait for the server"
    );

    eventually("get after the pause", || async {
        matches!(cache.get(&key).await, Ok(Some(v)) if v == "v")
    })
    .await;
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_io() {
    let mut server = RedisServer::start();
    let mut config = config_for(&server);
    config.max_value_bytes = 16;
    let cache = RedisCache::connect(&config).await.unwrap();
    // With the server gone, anything that reached the network would be a
    // connection error: these must be refused before.
    server.stop();
    let err = cache.set("k", &[0; 17], TTL).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.value_size(), err.size_limit()),
        (ErrorKind::ValueTooLarge, Some(17), Some(16)),
        "{err:?}"
    );
    let err = cache.get_or_set("k", &[0; 17], TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    let err = cache
        .set_many(&[("a", b"ok"), ("b", &[0; 17])], TTL)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(
        cache.publish("chan", &[0; 17]).await.unwrap_err().kind(),
        ErrorKind::ValueTooLarge
    );
    assert_eq!(
        cache.set("", b"v", TTL).await.unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
    assert_eq!(
        cache
            .set("k", b"v", Duration::ZERO)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidTtl
    );
    assert_eq!(
        cache
            .incr_by("k", 1, Duration::ZERO)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidTtl
    );
    // And the server really is gone: a valid call fails on the network.
    let err = cache.set("k", b"v", TTL).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Connection | ErrorKind::ConnectionLost | ErrorKind::Timeout
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn incr_by_on_a_counter_without_ttl_gives_it_one_and_keeps_an_existing_one() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    let key = unique_key("counter");
    assert_eq!(cache.incr_by(&key, 1, TTL).await.unwrap(), 1);
    let first = pttl(&server, &key);
    assert!(first > 0 && first <= 60_000, "{first}");
    assert_eq!(
        cache
            .incr_by(&key, 1, Duration::from_secs(3600))
            .await
            .unwrap(),
        2
    );
    assert!(
        pttl(&server, &key) <= first,
        "an existing counter keeps its TTL"
    );

    // A counter another client wrote without a TTL gets one: every entry expires.
    let foreign = unique_key("foreign");
    server.command(&["SET", &foreign, "10"]);
    assert_eq!(cache.incr_by(&foreign, 5, TTL).await.unwrap(), 15);
    assert!(pttl(&server, &foreign) > 0);
}

#[tokio::test]
async fn sliding_window_retry_after_points_at_the_oldest_admitted_request() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    let key = unique_key("rate");
    let rule = cache_core::RateLimitRule::sliding(2, Duration::from_secs(10));
    assert!(cache.rate_limit(&key, &rule).await.unwrap().allowed);
    assert!(cache.rate_limit(&key, &rule).await.unwrap().allowed);
    let denied = cache.rate_limit(&key, &rule).await.unwrap();
    assert!(!denied.allowed);
    assert!(
        denied.retry_after > Duration::from_secs(5)
            && denied.retry_after <= Duration::from_secs(10),
        "{denied:?}"
    );
    // Denied requests are not logged: the set still holds the two admitted ones.
    assert_eq!(server.command(&["ZCARD", &key]), RespValue::Integer(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_window_logs_every_admitted_request_of_a_burst() {
    let server = shared_server();
    let cache = Arc::new(RedisCache::connect(&config_for(&server)).await.unwrap());
    let key = unique_key("burst");
    let rule = cache_core::RateLimitRule::sliding(10_000, Duration::from_secs(60));
    // Scripts run back to back, microseconds apart: every admitted request
    // must still get its own entry in the log.
    let calls = (0..300).map(|_| {
        let (cache, key) = (cache.clone(), key.clone());
        tokio::spawn(async move { cache.rate_limit(&key, &rule).await.unwrap() })
    });
    let mut admitted = 0;
    for call in calls {
        admitted += i64::from(call.await.unwrap().allowed);
    }
    assert_eq!(admitted, 300);
    assert_eq!(
        server.command(&["ZCARD", &key]),
        RespValue::Integer(admitted)
    );
    let last = cache.rate_limit(&key, &rule).await.unwrap();
    assert_eq!(last.remaining, 10_000 - 301);
}

#[tokio::test]
async fn the_builder_connects_like_a_config() {
    let server = shared_server();
    let cache = RedisCache::builder()
        .addr(server.addr())
        .command_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let key = unique_key("builder");
    cache.set(&key, b"built", TTL).await.unwrap();
    assert_eq!(
        cache.get(&key).await.unwrap().as_deref(),
        Some(&b"built"[..])
    );
    cache.close().await.unwrap();
}

#[tokio::test]
async fn the_builder_names_the_invalid_field_before_any_io() {
    let err = RedisCache::builder()
        .addr("127.0.0.1:1")
        .pool_size(0)
        .connect()
        .await
        .unwrap_err();
    let config = err.config_error().expect("a config error");
    assert_eq!(config.field, "pool_size");
}
