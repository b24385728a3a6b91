//! rate_limit through the cache (the decision rules are tested in `rate.rs`).

use std::time::Duration;

use super::{MS, cache, manual};
use cache_core::{Cache, ErrorKind, RateLimitRule};

const WINDOW: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn sliding_window_admits_the_limit_then_denies() {
    let c = cache();
    let rule = RateLimitRule::sliding(3, WINDOW);
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let decision = c.rate_limit("ip:1", &rule).await.unwrap();
        assert!(decision.allowed);
        assert_eq!(decision.retry_after, Duration::ZERO);
        remaining.push(decision.remaining);
    }
    assert_eq!(remaining, [2, 1, 0]);
    let denied = c.rate_limit("ip:1", &rule).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!((denied.limit, denied.remaining), (3, 0));
    assert!(denied.retry_after > Duration::ZERO && denied.retry_after <= WINDOW);
}

#[tokio::test]
async fn fixed_window_admits_the_limit_then_denies() {
    let c = cache();
    let rule = RateLimitRule::fixed(2, WINDOW);
    assert_eq!(c.rate_limit("k", &rule).await.unwrap().remaining, 1);
    assert_eq!(c.rate_limit("k", &rule).await.unwrap().remaining, 0);
    let denied = c.rate_limit("k", &rule).await.unwrap();
    assert!(!denied.allowed);
    assert!(denied.retry_after > Duration::ZERO && denied.retry_after <= WINDOW);
}

#[tokio::test]
async fn fixed_window_is_a_readable_counter() {
    let c = cache();
    let rule = RateLimitRule::fixed(5, WINDOW);
    c.rate_limit("k", &rule).await.unwrap();
    c.rate_limit("k", &rule).await.unwrap();
    assert_eq!(c.get("k").await.unwrap().unwrap(), "2");
}

#[tokio::test]
async fn denied_requests_do_not_count() {
    let c = cache();
    let rule = RateLimitRule::fixed(1, WINDOW);
    c.rate_limit("k", &rule).await.unwrap();
    for _ in 0..5 {
        assert!(!c.rate_limit("k", &rule).await.unwrap().allowed);
    }
    assert_eq!(c.get("k").await.unwrap().unwrap(), "1");
}

#[tokio::test]
async fn keys_are_limited_independently() {
    let c = cache();
    let rule = RateLimitRule::sliding(1, WINDOW);
    assert!(c.rate_limit("a", &rule).await.unwrap().allowed);
    assert!(c.rate_limit("b", &rule).await.unwrap().allowed);
    assert!(!c.rate_limit("a", &rule).await.unwrap().allowed);
}

#[tokio::test]
async fn a_sliding_window_admits_again_once_the_window_has_passed() {
    let (c, clock) = manual();
    let rule = RateLimitRule::sliding(2, WINDOW);
    assert!(c.rate_limit("k", &rule).await.unwrap().allowed);
    clock.advance(WINDOW / 4);
    assert!(c.rate_limit("k", &rule).await.unwrap().allowed);
    let denied = c.rate_limit("k", &rule).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!(
        denied.retry_after,
        WINDOW * 3 / 4,
        "until the oldest leaves"
    );
    clock.advance(WINDOW * 3 / 4 - MS);
    assert!(!c.rate_limit("k", &rule).await.unwrap().allowed);
    clock.advance(MS);
    let again = c.rate_limit("k", &rule).await.unwrap();
    assert!(again.allowed, "the window slid past the first request");
    assert_eq!(again.remaining, 0, "the second request still counts");
}

#[tokio::test]
async fn a_fixed_window_admits_again_in_the_next_window() {
    let (c, clock) = manual();
    let rule = RateLimitRule::fixed(1, WINDOW);
    clock.advance(WINDOW / 3);
    assert!(c.rate_limit("k", &rule).await.unwrap().allowed);
    clock.advance(WINDOW - MS);
    let denied = c.rate_limit("k", &rule).await.unwrap();
    assert_eq!(
        denied.retry_after, MS,
        "the window started at its first request"
    );
    clock.advance(MS);
    assert!(
        c.rate_limit("k", &rule).await.unwrap().allowed,
        "the next window"
    );
}

#[tokio::test]
async fn the_rate_limit_entry_expires_a_window_after_the_newest_admission() {
    let (c, clock) = manual();
    let rule = RateLimitRule::sliding(5, WINDOW);
    c.rate_limit("k", &rule).await.unwrap();
    clock.advance(WINDOW / 2);
    c.rate_limit("k", &rule).await.unwrap();
    assert_eq!(c.remaining_ttl("k"), Some(WINDOW));
    clock.advance(WINDOW);
    assert_eq!(c.remaining_ttl("k"), None);
    assert_eq!(c.keys(), Vec::<String>::new());
}

#[tokio::test]
async fn an_invalid_rule_is_refused() {
    let c = cache();
    let zero_limit = c.rate_limit("k", &RateLimitRule::sliding(0, WINDOW)).await;
    assert_eq!(zero_limit.unwrap_err().kind(), ErrorKind::Config);
    let zero_window = c
        .rate_limit("k", &RateLimitRule::sliding(1, Duration::ZERO))
        .await;
    assert_eq!(zero_window.unwrap_err().kind(), ErrorKind::InvalidTtl);
    assert!(c.get("k").await.unwrap().is_none(), "nothing stored");
}

#[tokio::test]
async fn switching_algorithms_on_one_key_is_a_wrong_type() {
    let c = cache();
    c.rate_limit("k", &RateLimitRule::sliding(5, WINDOW))
        .await
        .unwrap();
    let err = c
        .rate_limit("k", &RateLimitRule::fixed(5, WINDOW))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongType);
}
