//! Rate limits, idempotency and counters on the in-memory backend.

mod patterns_support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, CacheError, ErrorKind, Operation, RateLimitRule};
use cache_memory::MemoryCache;
use cache_patterns::counter::Counter;
use cache_patterns::idempotency::{Claim, Idempotency};
use cache_patterns::ratelimit::RateLimiter;
use cache_testing::faulty::FaultyCache;
use patterns_support::{SwitchableCache, eventually};

const MINUTE: Duration = Duration::from_secs(60);

fn memory() -> Arc<MemoryCache> {
    Arc::new(MemoryCache::new())
}

#[tokio::test]
async fn a_denied_request_says_when_to_retry_and_the_window_admits_again_later() {
    let limiter = RateLimiter::sliding(memory(), 2, Duration::from_millis(100));
    assert!(limiter.check("ip:10.0.0.1").await.unwrap().allowed);
    let second = limiter.check("ip:10.0.0.1").await.unwrap();
    assert!(second.allowed);
    assert_eq!(second.remaining, 0);
    let denied = limiter.check("ip:10.0.0.1").await.unwrap();
    assert!(!denied.allowed);
    assert!(
        denied.retry_after > Duration::ZERO && denied.retry_after <= Duration::from_millis(100)
    );
    eventually("the window slides", || {
        let limiter = limiter.clone();
        async move { limiter.check("ip:10.0.0.1").await.unwrap().allowed }
    })
    .await;
}

#[tokio::test]
async fn keys_have_their_own_windows_under_the_prefix() {
    let cache = memory();
    let limiter = RateLimiter::fixed(cache.clone(), 1, MINUTE).prefix("rl:otp:");
    assert!(limiter.check("phone:1").await.unwrap().allowed);
    assert!(!limiter.check("phone:1").await.unwrap().allowed);
    assert!(limiter.check("phone:2").await.unwrap().allowed);
    let page = cache
        .scan_keys("rl:otp:*", &Default::default(), 100)
        .await
        .unwrap();
    let mut keys = page.keys;
    keys.sort();
    assert_eq!(keys, vec!["rl:otp:phone:1", "rl:otp:phone:2"]);
}

#[tokio::test]
async fn a_failing_cache_is_an_error_unless_failing_open() {
    let cache = SwitchableCache::new();
    cache.fail(true);
    let closed = RateLimiter::sliding(cache.clone(), 5, MINUTE);
    assert!(closed.check("k").await.unwrap_err().is_transient());
    let open = RateLimiter::sliding(cache.clone(), 5, MINUTE).fail_open(true);
    assert!(open.check("k").await.unwrap().allowed);
    assert_eq!(open.stats().cache_errors, 1);
}

#[tokio::test]
async fn an_acl_refusal_is_an_error_even_when_failing_open() {
    let cache = Arc::new(FaultyCache::new(memory()));
    cache.set_error(
        CacheError::new(ErrorKind::PermissionDenied, Operation::RateLimit)
            .with_source(std::io::Error::other("NOPERM injected")),
    );
    cache.fail_operation(Operation::RateLimit);
    let open = RateLimiter::sliding(cache.clone(), 5, MINUTE).fail_open(true);
    let err = open.check("k").await.unwrap_err();
    assert!(err.is_refused() && !err.is_transient(), "{err:?}");
    let stats = open.stats();
    assert_eq!((stats.allowed, stats.cache_errors), (0, 1), "{stats:?}");
}

#[tokio::test]
async fn an_invalid_rule_is_an_error_even_when_failing_open() {
    let limiter = RateLimiter::new(memory(), RateLimitRule::sliding(0, MINUTE)).fail_open(true);
    assert_eq!(
        limiter.check("k").await.unwrap_err().kind(),
        ErrorKind::Config
    );
}

#[tokio::test]
async fn a_duplicate_sees_in_progress_then_the_stored_response() {
    let requests = Idempotency::new(memory());
    let Claim::First(ticket) = requests.claim::<u32>("req-1", None).await.unwrap() else {
        panic!("first claim");
    };
    assert_eq!(
        requests.claim::<u32>("req-1", None).await.unwrap(),
        Claim::InProgress
    );
    assert!(requests.complete(ticket, &201u32).await.unwrap());
    assert_eq!(
        requests.claim::<u32>("req-1", None).await.unwrap(),
        Claim::Completed(201)
    );
}

#[tokio::test]
async fn a_released_claim_lets_the_next_request_run() {
    let requests = Idempotency::new(memory());
    let Claim::First(ticket) = requests.claim::<u32>("req-1", None).await.unwrap() else {
        panic!("first claim");
    };
    assert!(requests.release(ticket).await.unwrap());
    assert!(matches!(
        requests.claim::<u32>("req-1", None).await.unwrap(),
        Claim::First(_)
    ));
}

#[tokio::test]
async fn an_expired_claim_cannot_overwrite_a_newer_one() {
    let requests = Idempotency::new(memory());
    let Claim::First(stale) = requests
        .claim::<u32>("req-1", Duration::from_millis(30))
        .await
        .unwrap()
    else {
        panic!("first claim");
    };
    let newer = Arc::new(parking_lot::Mutex::new(None));
    eventually("the first claim expires and a retry claims again", || {
        let (requests, newer) = (requests.clone(), newer.clone());
        async move {
            match requests.claim::<u32>("req-1", MINUTE).await.unwrap() {
                Claim::First(ticket) => {
                    *newer.lock() = Some(ticket);
                    true
                }
                _ => false,
            }
        }
    })
    .await;
    assert!(!requests.complete(stale, &1u32).await.unwrap());
    assert_eq!(
        requests.claim::<u32>("req-1", None).await.unwrap(),
        Claim::InProgress,
        "the newer claim is intact"
    );
}

#[tokio::test]
async fn claims_are_kept_300_seconds_by_default_under_their_prefix() {
    assert_eq!(Idempotency::DEFAULT_TTL, Duration::from_secs(300));
    let cache = memory();
    let requests = Idempotency::new(cache.clone()).prefix("idem:");
    let Claim::First(ticket) = requests.claim::<u32>("req-1", None).await.unwrap() else {
        panic!("first claim");
    };
    assert_eq!(ticket.key(), "idem:req-1");
    assert!(cache.get("idem:req-1").await.is_ok_and(|v| v.is_some()));
}

#[tokio::test]
async fn a_counter_expires_its_ttl_after_the_first_increment() {
    let counter = Counter::new(memory(), "uploads:day", Duration::from_millis(50));
    assert_eq!(counter.incr_by(3).await.unwrap(), 3);
    eventually("the counter expires", || {
        let counter = counter.clone();
        async move { counter.get().await.unwrap() == 0 }
    })
    .await;
}

#[tokio::test]
async fn a_counter_over_a_non_integer_is_a_wrong_type_error() {
    let cache = memory();
    cache.set("c", b"not a number", MINUTE).await.unwrap();
    let counter = Counter::new(cache, "c", MINUTE);
    assert_eq!(
        counter.get().await.unwrap_err().kind(),
        ErrorKind::WrongType
    );
    assert_eq!(
        counter.incr().await.unwrap_err().kind(),
        ErrorKind::WrongType
    );
}

#[tokio::test]
async fn a_counter_overflow_is_an_error_never_a_wrap() {
    let counter = Counter::new(memory(), "c", MINUTE);
    counter.incr_by(i64::MAX).await.unwrap();
    assert!(counter.incr().await.is_err());
    assert!(counter.decr_by(i64::MIN).await.is_err());
    assert_eq!(counter.get().await.unwrap(), i64::MAX);
}
