//! Sets and hashes on Redis beyond the conformance suite (which every
//! topology's test file runs): field TTL chosen from the server's version,
//! the suite catching a backend that claims field TTLs it does not have, and
//! the per-call and value limits of the builder. Under plain `cargo test`
//! (Redis 7.0) field TTLs are unsupported; `scripts/test-valkey.sh` (Valkey
//! 9.1) runs the supported path.

mod harness_support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, ErrorKind};
use cache_redis::{ConnectOptions, RedisCache, RedisConfig};
use cache_testing::conformance::{self, Namespace};
use cache_testing::server::RedisServer;
use harness_support::shared_server;

const TTL: Duration = Duration::from_secs(60);

fn config_for(server: &RedisServer) -> RedisConfig {
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    config
}

/// Whether the server behind `cache` has `HPEXPIRE`: Redis 7.4+, Valkey 9.0+.
fn has_field_ttl(cache: &RedisCache) -> bool {
    let (engine, version) = cache.server_version().expect("INFO server is allowed");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
    let version = (parts.next().unwrap(), parts.next().unwrap_or(0));
    match engine {
        "valkey" => version >= (9, 0),
        _ => version >= (7, 4),
    }
}

#[tokio::test]
async fn field_ttl_support_follows_the_server_version() {
    let server = shared_server();
    let cache = RedisCache::connect(&config_for(&server)).await.unwrap();
    let collections = cache.collections().expect("RedisCache has collections");
    assert_eq!(
        collections.supports_field_ttl(),
        has_field_ttl(&cache),
        "{:?}",
        cache.server_version()
    );
}

#[tokio::test]
async fn the_suite_catches_a_backend_that_claims_field_ttl_without_it() {
    let server = shared_server();
    let plain = RedisCache::connect(&config_for(&server)).await.unwrap();
    let claims = move || {
        let config = config_for(&server);
        async move {
            let options = ConnectOptions::default().assume_field_ttl(true);
            let cache = RedisCache::connect_with(&config, options).await.unwrap();
            Arc::new(cache) as Arc<dyn Cache>
        }
    };
    let report = conformance::run_checks(&claims, |name| {
        name == "hash_field_ttl_works_where_supported"
    })
    .await;
    if has_field_ttl(&plain) {
        // The claim is true here: the check must pass.
        report.assert_ok();
    } else {
        assert_eq!(report.failed.len(), 1, "{report}");
        let message = &report.failed[0].message;
        assert!(message.contains("hash_expire_fields"), "{message}");
    }
}

#[tokio::test]
async fn the_builder_sets_the_per_call_limit_and_values_follow_the_value_limit() {
    let server = shared_server();
    let cache = RedisCache::builder()
        .addr(server.addr())
        .max_per_call(2)
        .max_value_bytes(8)
        .connect()
        .await
        .unwrap();
    assert_eq!(cache.max_per_call(), 2);
    let ns = Namespace::new();
    let key = ns.key("limited");
    let collections = cache.collections().unwrap();
    let err = collections
        .set_add(&key, &[b"a", b"b", b"c"], TTL)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(
        err.reason(),
        Some("3 members is more than the limit of 2"),
        "{err}"
    );
    let err = collections
        .hash_set(&key, &[("f", b"123456789")], TTL)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.value_size(), err.size_limit()),
        (ErrorKind::ValueTooLarge, Some(9), Some(8))
    );
    assert_eq!(
        collections.set_add(&key, &[b"a", b"b"], TTL).await.unwrap(),
        2
    );
    cache.delete(&key).await.unwrap();
    let err = RedisCache::builder()
        .addr(server.addr())
        .max_per_call(0)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(
        err.config_error().map(|e| e.field.as_str()),
        Some("max_per_call")
    );
}
