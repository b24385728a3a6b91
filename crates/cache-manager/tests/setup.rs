//! Building everything from configuration: `CacheSetup` and `build_cache`.
//! Redis cases run against a real `redis-server` on a free loopback port.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use cache_core::{Cache, ErrorKind};
use cache_manager::config::{BackendKind, Config};
use cache_manager::{CacheSetup, RequestContext, build_cache};
use cache_redis::RedisCache;
use cache_testing::server::RedisServer;

const TTL: Duration = Duration::from_secs(60);

fn yaml(text: &str) -> Config {
    Config::from_yaml_str_with_env(text, &|_| None).expect("valid YAML")
}

/// A loopback address nothing listens on.
fn closed_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

fn redis_yaml(addr: &str, extra: &str) -> Config {
    yaml(&format!(
        "cache:\n  type: redis\n  redis:\n    addrs: [\"{addr}\"]\n    connect_timeout: 2s\n    max_retries: 0\n{extra}"
    ))
}

async fn raw_redis(server: &RedisServer) -> RedisCache {
    let mut config = cache_redis::RedisConfig::default();
    config.addrs = vec![server.addr()];
    RedisCache::connect(&config).await.unwrap()
}

/// Stores `value` under `key` as `tenant`, with the tests' TTL.
async fn set_as(setup: &CacheSetup, tenant: &str, key: &str, value: &[u8]) {
    let cache = tenant_cache(setup, tenant).await;
    cache.set(key, value, TTL).await.unwrap();
}

/// Whether the server holds the raw key `key`, read past every prefix.
async fn server_holds(server: &RedisServer, key: &str) -> bool {
    raw_redis(server).await.get(key).await.unwrap().is_some()
}

async fn tenant_cache(setup: &CacheSetup, tenant: &str) -> std::sync::Arc<dyn Cache> {
    (setup.get_cache())(&RequestContext::for_tenant(tenant))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_disabled_cache_builds_no_manager() {
    let setup = CacheSetup::from_config(&yaml("cache:\n  enabled: false\n"))
        .await
        .unwrap();
    assert!(setup.manager().is_none());
    assert!(!setup.is_enabled());
}

#[tokio::test]
async fn a_disabled_caches_closure_answers_disabled() {
    let setup = CacheSetup::from_config(&yaml("cache:\n  enabled: false\n"))
        .await
        .unwrap();
    let error = (setup.get_cache())(&RequestContext::for_tenant("acme"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disabled);
}

#[tokio::test]
async fn a_memory_setup_gives_isolated_tenants() {
    let setup = CacheSetup::from_config(&yaml("cache:\n  type: memory\n"))
        .await
        .unwrap();
    let acme = tenant_cache(&setup, "acme").await;
    let globex = tenant_cache(&setup, "globex").await;
    acme.set("plan", b"gold", TTL).await.unwrap();
    assert!(globex.get("plan").await.unwrap().is_none());
    setup.close().await.unwrap();
}

#[tokio::test]
async fn the_tenants_section_configures_the_manager() {
    let config = yaml("cache:\n  tenants:\n    max_tenants: 7\n    idle_ttl: 5m\n");
    let setup = CacheSetup::from_config(&config).await.unwrap();
    assert_eq!(setup.manager().unwrap().stats().max_tenants, 7);
}

#[tokio::test]
async fn keys_carry_the_key_prefix_outside_the_tenant_namespace() {
    let server = RedisServer::start();
    let setup = CacheSetup::from_config(&redis_yaml(&server.addr(), "  key_prefix: \"orders:\"\n"))
        .await
        .unwrap();
    set_as(&setup, "acme:eu", "k", b"v").await;
    let raw = raw_redis(&server).await;
    assert_eq!(
        &raw.get("orders:tenant:{acme%3Aeu}:k")
            .await
            .unwrap()
            .unwrap()[..],
        b"v"
    );
    setup.close().await.unwrap();
}

#[tokio::test]
async fn the_namespace_template_comes_from_the_config() {
    let server = RedisServer::start();
    let extra = "  tenants:\n    namespace: \"t/<tenant>/\"\n";
    let setup = CacheSetup::from_config(&redis_yaml(&server.addr(), extra))
        .await
        .unwrap();
    set_as(&setup, "acme", "k", b"v").await;
    assert!(server_holds(&server, "t/acme/k").await);
    setup.close().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_fails_start_up() {
    let error = CacheSetup::from_config(&redis_yaml(&closed_addr(), ""))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
}

#[tokio::test]
async fn an_unreachable_redis_with_fallback_uses_memory() {
    let config = redis_yaml(&closed_addr(), "  fallback_to_memory: true\n");
    let setup = CacheSetup::from_config(&config).await.unwrap();
    let acme = tenant_cache(&setup, "acme").await;
    acme.set("k", b"v", TTL).await.unwrap();
    assert_eq!(&acme.get("k").await.unwrap().unwrap()[..], b"v");
    setup.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_login_fails_start_up_even_with_fallback() {
    // Reachable, but it wants a password we do not send: an in-memory
    // fallback would hide the mistake.
    let server = RedisServer::builder().password("setup-pw-4e1").start();
    let config = redis_yaml(&server.addr(), "  fallback_to_memory: true\n");
    let error = CacheSetup::from_config(&config).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthenticated, "{error}");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn misconfiguration_fails_start_up_naming_the_field() {
    let long = "t".repeat(300);
    let cases = [
        (
            "redis without addresses",
            "cache:\n  type: redis\n".to_owned(),
            "cache.redis.addrs",
        ),
        (
            "a namespace template that would mix tenants",
            "cache:\n  tenants:\n    namespace: \"tenant:<tenant>x\"\n".to_owned(),
            "cache.tenants.namespace",
        ),
        (
            "an override with an over-long tenant id",
            format!("cache:\n  tenants:\n    overrides:\n      {long}:\n        type: memory\n"),
            "cache.tenants.overrides",
        ),
    ];
    for (case, text, field) in cases {
        let error = CacheSetup::from_config(&yaml(&text)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{case}: {error}");
        assert!(error.to_string().contains(field), "{case}: {error}");
    }
}

#[tokio::test]
async fn a_tenant_override_gets_its_own_backend() {
    let own = RedisServer::start();
    let config = yaml(&format!(
        "cache:\n  type: memory\n  tenants:\n    overrides:\n      big:\n        type: redis\n        redis:\n          addrs: [\"{}\"]\n",
        own.addr()
    ));
    let setup = CacheSetup::from_config(&config).await.unwrap();
    set_as(&setup, "big", "k", b"big's").await;
    set_as(&setup, "small", "k", b"small's").await;
    let raw = raw_redis(&own).await;
    assert_eq!(
        &raw.get("tenant:{big}:k").await.unwrap().unwrap()[..],
        b"big's"
    );
    assert!(raw.get("tenant:{small}:k").await.unwrap().is_none());
    setup.close().await.unwrap();
}

/// A value well above the default threshold that zstd shrinks.
fn page() -> Vec<u8> {
    "<li class=\"order\">an order line</li>\n"
        .repeat(300)
        .into_bytes()
}

#[tokio::test]
async fn compression_from_the_config_reaches_the_server_and_reads_back() {
    let server = RedisServer::start();
    let setup = CacheSetup::from_config(&redis_yaml(
        &server.addr(),
        "  compression:\n    enabled: true\n    threshold: 64\n",
    ))
    .await
    .unwrap();
    let cache = tenant_cache(&setup, "acme").await;
    cache.set("page", &page(), TTL).await.unwrap();
    cache.set("small", b"short", TTL).await.unwrap();
    assert_eq!(&cache.get("page").await.unwrap().unwrap()[..], &page()[..]);

    let raw = raw_redis(&server).await;
    let stored = raw.get("tenant:{acme}:page").await.unwrap().unwrap();
    assert!(stored.starts_with(cache_patterns::compress::MARKER));
    assert!(stored.len() < page().len() / 10, "{} bytes", stored.len());
    // Below the threshold a value is stored as it is.
    assert_eq!(
        &raw.get("tenant:{acme}:small").await.unwrap().unwrap()[..],
        b"short"
    );
    setup.close().await.unwrap();
}

#[tokio::test]
async fn values_written_before_compression_was_on_still_read() {
    let server = RedisServer::start();
    let plain = CacheSetup::from_config(&redis_yaml(&server.addr(), ""))
        .await
        .unwrap();
    set_as(&plain, "acme", "old", &page()).await;
    plain.close().await.unwrap();
    assert_eq!(
        raw_redis(&server)
            .await
            .get("tenant:{acme}:old")
            .await
            .unwrap()
            .unwrap()
            .len(),
        page().len()
    );

    let compressing = CacheSetup::from_config(&redis_yaml(
        &server.addr(),
        "  compression:\n    enabled: true\n",
    ))
    .await
    .unwrap();
    let cache = tenant_cache(&compressing, "acme").await;
    assert_eq!(&cache.get("old").await.unwrap().unwrap()[..], &page()[..]);
    compressing.close().await.unwrap();
}

#[tokio::test]
async fn a_tenant_override_is_compressed_too() {
    let own = RedisServer::start();
    let config = yaml(&format!(
        "cache:\n  compression:\n    enabled: true\n  tenants:\n    overrides:\n      big:\n        type: redis\n        redis:\n          addrs: [\"{}\"]\n",
        own.addr()
    ));
    let setup = CacheSetup::from_config(&config).await.unwrap();
    set_as(&setup, "big", "page", &page()).await;
    let stored = raw_redis(&own)
        .await
        .get("tenant:{big}:page")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.starts_with(cache_patterns::compress::MARKER));
    let cache = tenant_cache(&setup, "big").await;
    assert_eq!(&cache.get("page").await.unwrap().unwrap()[..], &page()[..]);
    setup.close().await.unwrap();
}

#[tokio::test]
async fn closing_the_setup_refuses_later_lookups() {
    let setup = CacheSetup::from_config(&yaml("cache: {}\n")).await.unwrap();
    setup.close().await.unwrap();
    let error = (setup.get_cache())(&RequestContext::for_tenant("acme"))
        .await
        .unwrap_err();
    assert!(error.is_closed());
}

#[tokio::test]
async fn load_reads_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.yaml");
    std::fs::write(
        &path,
        "cache:\n  type: memory\n  tenants:\n    max_tenants: 3\n",
    )
    .unwrap();
    let env = HashMap::from([("CACHE_TENANTS_MAX_TENANTS", "9")]);
    let setup =
        CacheSetup::load_with_env(Some(&path), &|name| env.get(name).map(|v| v.to_string()))
            .await
            .unwrap();
    assert_eq!(
        setup.manager().unwrap().stats().max_tenants,
        9,
        "the environment wins"
    );
}

#[tokio::test]
async fn build_cache_applies_the_key_prefix() {
    let server = RedisServer::start();
    let config = redis_yaml(&server.addr(), "  key_prefix: \"tool:\"\n");
    let cache = build_cache(&config.cache).await.unwrap();
    cache.set("k", b"v", TTL).await.unwrap();
    assert!(server_holds(&server, "tool:k").await);
    cache.close().await.unwrap();
}

#[tokio::test]
async fn build_cache_of_a_disabled_config_is_disabled() {
    let config = yaml("cache:\n  enabled: false\n");
    assert_eq!(
        build_cache(&config.cache).await.unwrap_err().kind(),
        ErrorKind::Disabled
    );
}

#[tokio::test]
async fn build_cache_builds_the_configured_backend() {
    let config = yaml("cache:\n  type: memory\n");
    assert_eq!(config.cache.backend, BackendKind::Memory);
    let cache = build_cache(&config.cache).await.unwrap();
    cache.set("k", b"v", TTL).await.unwrap();
    assert_eq!(&cache.get("k").await.unwrap().unwrap()[..], b"v");
}

#[tokio::test]
async fn the_memory_default_ttl_reaches_the_modules() {
    let config = cache_manager::config::Config::from_yaml_str_with_env(
        "cache:\n  memory:\n    default_ttl: 7m\n",
        &|_| None,
    )
    .unwrap();
    let setup = CacheSetup::from_config(&config).await.unwrap();
    let deps = setup.module_deps();
    assert_eq!(deps.default_ttl(), Duration::from_secs(420));
    let ctx = cache_manager::RequestContext::for_tenant("acme");
    let aside = deps.aside(&ctx).await.unwrap();
    assert_eq!(aside.default_ttl(), Duration::from_secs(420));
    setup.close().await.unwrap();
}
