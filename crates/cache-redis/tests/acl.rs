//! `RedisCache` with ACL users and `requirepass` on a real `redis-server`: a
//! user confined to a key prefix works inside it and gets a clear `NOPERM`
//! error outside it, a `PermissionDenied` that is never transient (so no
//! fail-open caller absorbs it), from every operation; a wrong or missing
//! password is an `Unauthenticated` refusal that names the address and never
//! the password.
//!
//! Each test starts its own server (milliseconds), because each needs its own
//! users. Runs against Valkey too:
//! `CACHE_TEST_REDIS_SERVER=valkey-server CACHE_TEST_REDIS_CLI=valkey-cli`.

mod harness_support;

use std::time::Duration;

use cache_core::config::Secret;
use cache_core::{Cache, ErrorKind, RateLimitRule, ScanCursor, SubscriptionEvent};
use cache_redis::RedisCache;
use cache_redis::RedisConfig;
use cache_testing::server::{RedisServer, RespValue};
use harness_support::{chain, connect_error};

const TTL: Duration = Duration::from_secs(60);
const APP_PASSWORD: &str = "app-pw-7f3a9c";
const WRONG_PASSWORD: &str = "not-the-pw-51d2e8";

/// A server whose user `app` may touch keys and channels under `app:` only,
/// with every command but the dangerous ones (the default user stays open,
/// for the harness and for checks from outside).
fn server_with_app_user() -> RedisServer {
    RedisServer::builder()
        .config_file(format!(
            "user default on nopass ~* &* +@all\n\
             user app on >{APP_PASSWORD} ~app:* &app:* +@all -@dangerous\n"
        ))
        .start()
}

fn config_as(server: &RedisServer, username: Option<&str>, password: Option<&str>) -> RedisConfig {
    let mut config = harness_support::config(vec![server.addr()]);
    config.username = username.map(str::to_owned);
    config.password = password.map(Secret::new);
    config
}

async fn connect(config: &RedisConfig) -> RedisCache {
    RedisCache::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connect: {}", chain(&e)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_confined_user_can_use_every_operation_inside_its_prefix() {
    let server = server_with_app_user();
    let cache = connect(&config_as(&server, Some("app"), Some(APP_PASSWORD))).await;

    cache.set("app:a", b"1", TTL).await.unwrap();
    assert_eq!(&cache.get("app:a").await.unwrap().unwrap()[..], b"1");
    assert_eq!(
        cache.get_or_set("app:b", b"2", TTL).await.unwrap(),
        (b"2"[..].into(), true)
    );
    assert!(
        cache
            .compare_and_set("app:b", Some(b"2"), b"3", TTL)
            .await
            .unwrap()
    );
    assert!(cache.compare_and_delete("app:b", b"3").await.unwrap());
    assert_eq!(cache.incr_by("app:n", 5, TTL).await.unwrap(), 5);
    cache
        .set_many(&[("app:m1", &b"x"[..]), ("app:m2", &b"y"[..])], TTL)
        .await
        .unwrap();
    let many = cache.get_many(&["app:m1", "app:m2"]).await.unwrap();
    assert_eq!(many.len(), 2);
    assert!(many.iter().all(Option::is_some));
    let page = cache
        .scan_keys("app:m*", &ScanCursor::start(), 100)
        .await
        .unwrap();
    assert!(page.keys.len() <= 2);
    let decision = cache
        .rate_limit(
            "app:rl",
            &RateLimitRule::sliding(2, Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert!(decision.allowed);
    let mut subscription = cache.subscribe("app:events").await.unwrap();
    cache.publish("app:events", b"hello").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), subscription.recv()).await;
    assert_eq!(
        event.unwrap(),
        Some(SubscriptionEvent::Message(b"hello"[..].into()))
    );
    assert_eq!(cache.delete_many(&["app:m1", "app:m2"]).await.unwrap(), 2);
    assert!(cache.delete_pattern("app:*").await.unwrap() >= 2);
    cache.health().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_confined_user_gets_a_noperm_error_outside_its_prefix() {
    let server = server_with_app_user();
    let cache = connect(&config_as(&server, Some("app"), Some(APP_PASSWORD))).await;

    let write = cache.set("other:k", b"v", TTL).await.unwrap_err();
    let read = cache.get("other:k").await.unwrap_err();

    for err in [&write, &read] {
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{}", chain(err));
        assert!(!err.is_transient(), "a refusal is not transient");
        assert!(err.is_refused());
        assert!(
            chain(err).contains("NOPERM"),
            "worded as NOPERM: {}",
            chain(err)
        );
        assert!(!chain(err).contains(APP_PASSWORD), "{}", chain(err));
    }
    assert_eq!(
        server.command(&["EXISTS", "other:k"]),
        RespValue::Integer(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_outside_the_prefix_is_a_refusal_that_is_not_transient() {
    let server = server_with_app_user();
    let cache = connect(&config_as(&server, Some("app"), Some(APP_PASSWORD))).await;
    let rule = RateLimitRule::sliding(2, Duration::from_secs(10));
    // Plain commands, the Lua scripts (get_or_set on old servers,
    // compare_and_set, incr_by, rate_limit), batches, pub/sub.
    let refusals = [
        ("get", cache.get("other:k").await.err()),
        ("set", cache.set("other:k", b"v", TTL).await.err()),
        ("delete", cache.delete("other:k").await.err()),
        (
            "get_or_set",
            cache.get_or_set("other:k", b"v", TTL).await.err(),
        ),
        (
            "compare_and_set",
            cache
                .compare_and_set("other:k", None, b"v", TTL)
                .await
                .err(),
        ),
        (
            "compare_and_delete",
            cache.compare_and_delete("other:k", b"v").await.err(),
        ),
        ("incr_by", cache.incr_by("other:n", 1, TTL).await.err()),
        (
            "rate_limit",
            cache.rate_limit("other:rl", &rule).await.err(),
        ),
        (
            "get_many",
            cache.get_many(&["app:a", "other:k"]).await.err(),
        ),
        (
            "set_many",
            cache.set_many(&[("other:a", &b"x"[..])], TTL).await.err(),
        ),
        ("publish", cache.publish("other:events", b"x").await.err()),
    ];
    for (what, err) in refusals {
        let err = err.unwrap_or_else(|| panic!("{what} outside the prefix succeeded"));
        assert_eq!(
            err.kind(),
            ErrorKind::PermissionDenied,
            "{what}: {}",
            chain(&err)
        );
        assert!(!err.is_transient(), "{what}: {}", chain(&err));
        assert!(chain(&err).contains("ACL"), "{what}: {}", chain(&err));
    }
    // Nothing was written outside the prefix.
    assert_eq!(
        server.command(&["DBSIZE"]),
        RespValue::Integer(0),
        "the refused calls wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_names_the_address_and_never_the_password() {
    let server = server_with_app_user();
    let config = config_as(&server, Some("app"), Some(WRONG_PASSWORD));

    let err = connect_error(&config).await;

    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{}", chain(&err));
    assert!(
        !err.is_transient(),
        "no fallback or retry fixes a wrong password"
    );
    assert!(err.to_string().contains(&server.addr()), "{err}");
    let text = format!("{} {err:?}", chain(&err));
    assert!(
        text.contains("WRONGPASS") || text.to_lowercase().contains("authentication"),
        "says the login was refused: {text}"
    );
    assert!(
        !text.contains(WRONG_PASSWORD),
        "the password leaked: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_only_auth_works_with_requirepass() {
    let server = RedisServer::builder()
        .password("requirepass-pw-9b1")
        .start();
    let cache = connect(&config_as(&server, None, Some("requirepass-pw-9b1"))).await;

    cache.set("k", b"v", TTL).await.unwrap();

    assert_eq!(&cache.get("k").await.unwrap().unwrap()[..], b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_password_is_an_authentication_refusal_naming_the_address() {
    let server = RedisServer::builder()
        .password("requirepass-pw-9b1")
        .start();
    let config = config_as(&server, None, None);

    let err = connect_error(&config).await;

    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{}", chain(&err));
    assert!(!err.is_transient());
    assert!(err.to_string().contains(&server.addr()), "{err}");
    assert!(chain(&err).contains("NOAUTH"), "{}", chain(&err));
}
