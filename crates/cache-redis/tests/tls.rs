//! `RedisCache` over TLS against a TLS-only `redis-server` whose certificate
//! a throw-away CA signed (see `cache_testing::server::TlsMaterial`): the
//! whole conformance suite with the CA given as base64 (the ElastiCache way)
//! and again with the CA given as a file, and clear errors when the
//! certificate cannot be trusted.
//!
//! All tests share one TLS server (`TlsRedisServer::shared`, killed when the
//! binary exits). Runs against Valkey too:
//! `CACHE_TEST_REDIS_SERVER=valkey-server CACHE_TEST_REDIS_CLI=valkey-cli`
//! (both built with TLS).

mod harness_support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::config::Secret;
use cache_core::{Cache, ErrorKind};
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::{TlsMaterial, TlsRedisServer};
use harness_support::{chain, connect_error};

/// The binary's shared TLS server, started off the async workers.
fn shared_server() -> &'static TlsRedisServer {
    tokio::task::block_in_place(TlsRedisServer::shared)
}

/// TLS on, trusting no CA yet.
fn tls_config(server: &TlsRedisServer) -> RedisConfig {
    let mut config = harness_support::config(vec![server.addr()]);
    config.tls.enabled = true;
    config
}

fn with_ca_base64(server: &TlsRedisServer, material: &TlsMaterial) -> RedisConfig {
    let mut config = tls_config(server);
    config.tls.ca_cert_base64 = Some(Secret::new(material.ca_cert_base64()));
    config
}

fn with_ca_path(server: &TlsRedisServer, material: &TlsMaterial) -> RedisConfig {
    let mut config = tls_config(server);
    config.tls.ca_cert_path = Some(material.ca_cert_path());
    config
}

async fn connect(config: &RedisConfig) -> Arc<dyn Cache> {
    let cache = RedisCache::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connect over TLS: {}", chain(&e)));
    Arc::new(cache)
}

mod conformance_with_ca_as_base64 {
    use super::*;

    async fn make_cache() -> Arc<dyn Cache> {
        let server = shared_server();
        connect(&with_ca_base64(server, server.material())).await
    }

    cache_testing::conformance_tests!(make_cache);
}

mod conformance_with_ca_as_file {
    use super::*;

    async fn make_cache() -> Arc<dyn Cache> {
        let server = shared_server();
        connect(&with_ca_path(server, server.material())).await
    }

    cache_testing::conformance_tests!(make_cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_a_connection_error_naming_the_address() {
    let server = shared_server();
    let stranger = TlsMaterial::generate();
    let config = with_ca_base64(server, &stranger);

    let err = connect_error(&config).await;

    assert_eq!(err.kind(), ErrorKind::Connection, "{}", chain(&err));
    assert!(
        err.to_string().contains(&server.addr()),
        "the error names the address: {err}"
    );
    let text = format!("{} {err:?}", chain(&err));
    assert!(
        text.to_lowercase().contains("certificate"),
        "the cause says the certificate is the problem: {text}"
    );
    for secret in [stranger.ca_cert_base64(), stranger.ca_cert_pem().to_owned()] {
        assert!(!text.contains(&secret[..40]), "CA material leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_text_client_gets_a_connection_error_not_a_hang() {
    let server = shared_server();
    let mut config = tls_config(server);
    config.tls.enabled = false;

    let err = connect_error(&config).await;

    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{}",
        chain(&err)
    );
    assert!(chain(&err).contains(&server.addr()), "{}", chain(&err));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_written_over_tls_are_on_the_server() {
    let server = shared_server();
    let cache = connect(&with_ca_path(server, server.material())).await;
    let key = format!("{}k", harness_support::namespace("tls"));

    cache
        .set(&key, b"secret-free", Duration::from_secs(60))
        .await
        .unwrap();

    let out = server
        .material()
        .cli(server.server(), &["GET", &key])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "secret-free");
    cache.delete(&key).await.unwrap();
}
