//! The metrics and spans of `RedisCache` against a real `redis-server` on a
//! free loopback port: exact counts for hits, misses and errors, a reconnect
//! after the server is killed, OpenTelemetry span attributes, and no key or
//! secret in any label or attribute.
//!
//! Each test runs on a current-thread runtime inside a debugging recorder
//! local to the test (`MetricsCapture::block_on`), so nothing is shared.

mod harness_support;

use std::time::Duration;

use cache_core::config::Secret;
use cache_core::metrics::names;
use cache_core::{Cache, SubscriptionEvent};
use cache_redis::RedisCache;
use cache_testing::metrics::{MetricsCapture, SpanCapture};
use cache_testing::server::{RedisServer, RespValue};

use harness_support::{RECOVERY_DEADLINE, chain, config, eventually};

const TTL: Duration = Duration::from_secs(60);
const PASSWORD: &str = "hunter2-secret-password";
const KEY: &str = "secret-key-of-a-customer";

/// What `db.system.name` must say for `server`: `valkey` or `redis`, from
/// the server's own `INFO server` (the suites run on both).
fn engine(server: &RedisServer, password: Option<&str>) -> &'static str {
    let mut conn =
        cache_testing::server::ping(&server.addr(), None, password, Duration::from_secs(5))
            .expect("ping the test server");
    match conn.command(&["INFO", "server"]).expect("INFO server") {
        RespValue::Bulk(Some(text))
            if String::from_utf8_lossy(&text).contains("valkey_version") =>
        {
            "valkey"
        }
        _ => "redis",
    }
}

async fn connect(server: &RedisServer, password: Option<&str>) -> RedisCache {
    let mut config = config(vec![server.addr()]);
    config.password = password.map(Secret::new);
    RedisCache::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("connect: {}", chain(&e)))
}

#[test]
fn hits_misses_writes_and_errors_are_counted_exactly() {
    let server = RedisServer::start();
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache = connect(&server, None).await;
        cache.set("m:1", b"v", TTL).await.unwrap();
        assert!(cache.get("m:1").await.unwrap().is_some());
        assert!(cache.get("m:1").await.unwrap().is_some());
        assert!(cache.get("m:2").await.unwrap().is_none());
        cache.incr_by("m:1", 1, TTL).await.unwrap_err(); // not an integer
    });
    let snap = capture.snapshot();
    let redis = ("db.system.name", engine(&server, None));
    let op = |name| ("db.operation.name", name);
    let outcome = |name| ("outcome", name);
    let ops = names::OPERATIONS;
    assert_eq!(
        snap.counter(ops, &[redis, op("get"), outcome("hit")]),
        2,
        "{}",
        snap.describe()
    );
    assert_eq!(snap.counter(ops, &[redis, op("get"), outcome("miss")]), 1);
    assert_eq!(snap.counter(ops, &[redis, op("set"), outcome("ok")]), 1);
    assert_eq!(
        snap.counter(
            ops,
            &[
                redis,
                op("incr_by"),
                outcome("wrong_type"),
                ("error.type", "wrong_type")
            ]
        ),
        1
    );
    assert_eq!(snap.counter(ops, &[]), 5);
    assert_eq!(snap.histogram(names::OPERATION_DURATION, &[redis]).len(), 5);
    assert_eq!(snap.counter(names::REDIS_CONNECTION_ERRORS, &[]), 0);
}

#[test]
fn a_killed_server_counts_connection_errors_and_one_reconnect() {
    let mut server = RedisServer::start();
    let port = server.port().to_string();
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache = connect(&server, None).await;
        cache.set("r:1", b"v", TTL).await.unwrap();

        server.stop(); // kills the process; the runtime has one thread, blocking is fine
        let err = cache.get("r:1").await.expect_err("the server is down");
        assert!(err.is_transient(), "{}", chain(&err));

        server.restart();
        eventually(
            "a call after the restart",
            RECOVERY_DEADLINE,
            Duration::from_secs(5),
            || cache.get("r:1"),
        )
        .await;
        // Once recovered, further calls are no new reconnect.
        cache.get("r:1").await.unwrap();
    });
    let snap = capture.snapshot();
    let node = [
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
    ];
    let errors = snap.counter(names::REDIS_CONNECTION_ERRORS, &node);
    assert!(errors >= 1, "{}", snap.describe());
    assert_eq!(
        snap.counter(names::REDIS_RECONNECTS, &node),
        1,
        "{}",
        snap.describe()
    );
    let failed_calls = snap.counter(names::OPERATIONS, &[("outcome", "connection")])
        + snap.counter(names::OPERATIONS, &[("outcome", "timeout")]);
    assert_eq!(failed_calls, errors, "{}", snap.describe());
}

#[test]
fn a_lost_pubsub_connection_counts_one_pubsub_reconnect_on_its_node() {
    let mut server = RedisServer::start();
    let port = server.port().to_string();
    let capture = MetricsCapture::new();
    capture.block_on(async {
        let cache = connect(&server, None).await;
        let mut subscription = cache.subscribe("news").await.unwrap();
        server.stop(); // kills the process; the runtime has one thread, blocking is fine
        server.restart();
        // `Reconnected` comes after the count (and after every channel was
        // subscribed again).
        loop {
            let event = tokio::time::timeout(RECOVERY_DEADLINE, subscription.recv())
                .await
                .expect("an event after the restart");
            match event {
                Some(SubscriptionEvent::Reconnected) => break,
                Some(SubscriptionEvent::Lagged(_)) => {}
                other => panic!("expected Reconnected after the restart, got {other:?}"),
            }
        }
        // The resubscribed connection works: nothing more to reconnect. (A
        // publish that reaches the server before the subscription is restored
        // is lost by contract, so publish until one is heard.)
        let until = tokio::time::Instant::now() + RECOVERY_DEADLINE;
        loop {
            let _ = cache.publish("news", b"after").await;
            match tokio::time::timeout(Duration::from_millis(200), subscription.recv()).await {
                Ok(Some(SubscriptionEvent::Message(_))) => break,
                Ok(None) => panic!("the subscription ended"),
                Ok(Some(_)) | Err(_) => assert!(
                    tokio::time::Instant::now() < until,
                    "no message on the reconnected subscription within {RECOVERY_DEADLINE:?}"
                ),
            }
        }
    });
    let snap = capture.snapshot();
    let node = [
        ("db.system.name", engine(&server, None)),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
    ];
    assert_eq!(
        snap.counter(names::REDIS_PUBSUB_RECONNECTS, &node),
        1,
        "{}",
        snap.describe()
    );
    assert_eq!(snap.counter(names::REDIS_PUBSUB_RECONNECTS, &[]), 1);
}

#[test]
fn spans_carry_the_database_client_attributes_and_no_key_or_secret() {
    let server = RedisServer::builder().password(PASSWORD).start();
    let spans = SpanCapture::new();
    let capture = MetricsCapture::new();
    spans.run(|| {
        capture.block_on(async {
            let cache = connect(&server, Some(PASSWORD)).await;
            cache.set(KEY, b"secret-value", TTL).await.unwrap();
            cache.get(KEY).await.unwrap();
            cache.incr_by(KEY, 1, TTL).await.unwrap_err();
        })
    });
    let calls = spans.named("cache.redis");
    assert_eq!(calls.len(), 3, "{calls:?}");
    let get = calls
        .iter()
        .find(|s| s.fields.get("db.operation.name").map(String::as_str) == Some("get"))
        .expect("a get span");
    let field = |name: &str| get.fields.get(name).map(String::as_str);
    assert_eq!(
        field("db.system.name"),
        Some(engine(&server, Some(PASSWORD)))
    );
    assert_eq!(field("server.address"), Some("127.0.0.1"));
    assert_eq!(
        field("server.port"),
        Some(server.port().to_string().as_str())
    );
    assert_eq!(field("db.namespace"), Some("0"));
    assert_eq!(field("error.type"), None);
    let failed = calls
        .iter()
        .find(|s| s.fields.get("db.operation.name").map(String::as_str) == Some("incr_by"))
        .expect("an incr_by span");
    assert_eq!(
        failed.fields.get("error.type").map(String::as_str),
        Some("wrong_type")
    );

    let every_span = spans.spans();
    let attributes = every_span.iter().flat_map(|s| s.fields.values());
    let labels = capture.snapshot().label_values();
    for text in attributes.chain(labels.iter()) {
        assert!(
            !text.contains("secret") && !text.contains("hunter2"),
            "leaked: {text}"
        );
    }
}
