//! What the config load accepts, the backend accepts: every rule of the Redis
//! section has one implementation (`cache_redis::RedisConfig::validate`), and
//! these cases pin the disagreements that two validators once had.

mod config_common;

use cache_core::ErrorKind;
use cache_manager::config::Config;
use cache_redis::RedisCache;
use config_common::{TEST_CA_PEM, env};

/// A loopback port with nothing listening: connecting fails at I/O, so any
/// error before that is the validator's.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `(name, environment)`: each loaded on the defaults with `cache.type: redis`.
fn cases(port: u16) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let addr = format!("127.0.0.1:{port}");
    let ca = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(TEST_CA_PEM)
    };
    let unpadded = ca.trim_end_matches('=').to_owned();
    let wrapped: String = ca
        .as_bytes()
        .chunks(60)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    let base = |extra: &[(&'static str, String)]| {
        let mut v = vec![
            ("CACHE_TYPE", "redis".to_owned()),
            ("CACHE_REDIS_ADDRS", addr.clone()),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    vec![
        ("defaults", base(&[])),
        ("pool 500", base(&[("CACHE_REDIS_POOL_SIZE", "500".into())])),
        (
            "pool 1024",
            base(&[("CACHE_REDIS_POOL_SIZE", "1024".into())]),
        ),
        (
            "pool 1025",
            base(&[("CACHE_REDIS_POOL_SIZE", "1025".into())]),
        ),
        ("pool 0", base(&[("CACHE_REDIS_POOL_SIZE", "0".into())])),
        (
            "no port",
            vec![
                ("CACHE_TYPE", "redis".into()),
                ("CACHE_REDIS_ADDRS", "127.0.0.1".into()),
            ],
        ),
        (
            "a URL",
            vec![
                ("CACHE_TYPE", "redis".into()),
                ("CACHE_REDIS_ADDRS", format!("redis://{addr}")),
            ],
        ),
        (
            "two addresses, standalone",
            base(&[("CACHE_REDIS_ADDRS", format!("{addr},{addr}"))]),
        ),
        (
            "CA padded",
            base(&[
                ("CACHE_REDIS_TLS_ENABLED", "true".into()),
                ("CACHE_REDIS_TLS_CA_CERT_BASE64", ca.clone()),
            ]),
        ),
        (
            "CA without padding",
            base(&[
                ("CACHE_REDIS_TLS_ENABLED", "true".into()),
                ("CACHE_REDIS_TLS_CA_CERT_BASE64", unpadded),
            ]),
        ),
        (
            "CA wrapped over lines",
            base(&[
                ("CACHE_REDIS_TLS_ENABLED", "true".into()),
                ("CACHE_REDIS_TLS_CA_CERT_BASE64", wrapped),
            ]),
        ),
        (
            "CA that is not base64",
            base(&[
                ("CACHE_REDIS_TLS_ENABLED", "true".into()),
                ("CACHE_REDIS_TLS_CA_CERT_BASE64", "not*base64".into()),
            ]),
        ),
        (
            "CA without TLS",
            base(&[("CACHE_REDIS_TLS_CA_CERT_BASE64", ca.clone())]),
        ),
        (
            "21 retries",
            base(&[("CACHE_REDIS_MAX_RETRIES", "21".into())]),
        ),
        (
            "zero timeout",
            base(&[("CACHE_REDIS_COMMAND_TIMEOUT", "0s".into())]),
        ),
        (
            "backoff above its cap",
            base(&[
                ("CACHE_REDIS_RETRY_BACKOFF", "5s".into()),
                ("CACHE_REDIS_MAX_RETRY_BACKOFF", "1s".into()),
            ]),
        ),
        (
            "empty password",
            base(&[("CACHE_REDIS_PASSWORD", String::new())]),
        ),
        (
            "negative database",
            base(&[("CACHE_REDIS_DATABASE", "-1".into())]),
        ),
        (
            "cluster with a database",
            base(&[
                ("CACHE_REDIS_MODE", "cluster".into()),
                ("CACHE_REDIS_DATABASE", "2".into()),
            ]),
        ),
    ]
}

#[tokio::test]
async fn what_the_config_load_accepts_the_backend_accepts() {
    let port = closed_port();
    let mut accepted = 0;
    for (name, pairs) in cases(port) {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let loaded = Config::load_with_env(None, &env(&pairs));
        let mut section = cache_redis::RedisConfig::default();
        // The section as the load read it, validated or not: apply_env without validate.
        let mut raw = Config::default();
        if raw.apply_env(&env(&pairs)).is_ok() {
            section = raw.cache.redis.clone();
        }
        match loaded {
            Ok(config) => {
                accepted += 1;
                assert!(
                    config.cache.redis.validate().is_ok(),
                    "{name}: the load accepted what the backend's validator refuses"
                );
                let err = RedisCache::connect(&config.cache.redis)
                    .await
                    .expect_err("nothing listens on the port");
                assert_eq!(
                    err.kind(),
                    ErrorKind::Connection,
                    "{name}: the load accepted it but connect refused it before I/O: {err}"
                );
            }
            Err(load_error) => {
                if load_error.field.starts_with("CACHE_") {
                    // Refused while parsing the variable itself (not a number...).
                    continue;
                }
                assert!(
                    section.validate().is_err(),
                    "{name}: the load refused it ({load_error}) but the backend's validator accepts it"
                );
            }
        }
    }
    assert!(accepted >= 6, "only {accepted} cases were accepted");
}
