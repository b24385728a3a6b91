//! Rate limits, publish/subscribe, health, stats and closing.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{ErrorKind, Operation, RateLimitRule, ScanCursor, SubscriptionEvent};

use super::CacheFactory;
use super::support::{
    CheckError, CheckResult, EXPIRY_DEADLINE, LONG_TTL, Outcome, RACERS, ensure, eventually, fail,
    join_all, show, with_fixture,
};

/// A sliding-window limit of N admits N requests with a decreasing
/// `remaining`, then denies with a positive `retry_after`.
pub async fn check_rate_limit_sliding_window_admits_up_to_the_limit(
    factory: &dyn CacheFactory,
) -> CheckResult {
    admits_up_to_the_limit(factory, RateLimitRule::sliding(5, LONG_TTL)).await
}

/// A fixed-window limit of N admits N requests with a decreasing
/// `remaining`, then denies with a positive `retry_after`.
pub async fn check_rate_limit_fixed_window_admits_up_to_the_limit(
    factory: &dyn CacheFactory,
) -> CheckResult {
    admits_up_to_the_limit(factory, RateLimitRule::fixed(5, LONG_TTL)).await
}

async fn admits_up_to_the_limit(factory: &dyn CacheFactory, rule: RateLimitRule) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("client");
        let what = format!("{:?} limit {}", rule.algorithm, rule.limit);
        for i in 1..=rule.limit {
            let d = c
                .rate_limit(&key, &rule)
                .await
                .must(&format!("{what}, request {i}"))?;
            let expected_remaining = rule.limit - i;
            ensure!(
                d.allowed
                    && d.remaining == expected_remaining
                    && d.limit == rule.limit
                    && d.retry_after.is_zero(),
                "{what}, request {i}: expected allowed with remaining {expected_remaining}, limit \
                 {}, retry_after 0; got {d:?}",
                rule.limit
            );
        }
        for i in rule.limit + 1..=rule.limit + 3 {
            let d = c
                .rate_limit(&key, &rule)
                .await
                .must(&format!("{what}, request {i}"))?;
            ensure!(
                !d.allowed
                    && d.remaining == 0
                    && d.limit == rule.limit
                    && !d.retry_after.is_zero()
                    && d.retry_after <= rule.window,
                "{what}, request {i}: expected denied with remaining 0 and 0 < retry_after <= \
                 {:?}; got {d:?}",
                rule.window
            );
        }
        let other = fx.ns.key("other-client");
        let d = c.rate_limit(&other, &rule).await.must("another key")?;
        ensure!(
            d.allowed,
            "{what}: another key must have its own budget, got {d:?}"
        );
        Ok(())
    })
    .await
}

/// Denied requests do not count: a client that keeps retrying while denied
/// is admitted again once the window has passed its admitted requests.
pub async fn check_rate_limit_denied_requests_do_not_count(
    factory: &dyn CacheFactory,
) -> CheckResult {
    for rule in [
        RateLimitRule::sliding(2, Duration::from_millis(300)),
        RateLimitRule::fixed(2, Duration::from_millis(300)),
    ] {
        with_fixture(factory, |fx| async move {
            let c = &*fx.cache;
            let key = fx.ns.key("impatient");
            for i in 1..=2 {
                let d = c.rate_limit(&key, &rule).await.must("admitted request")?;
                if !d.allowed {
                    // A stall longer than the window cannot deny; anything else is wrong.
                    fail!(
                        "{:?}: request {i} of 2 must be admitted, got {d:?}",
                        rule.algorithm
                    );
                }
            }
            // Retries every ~10 ms, far more often than the window: if denied
            // requests counted, a sliding window would never admit again.
            eventually(
                &fx,
                &format!(
                    "{:?} limit 2 per 300 ms: expected a retrying client to be admitted again",
                    rule.algorithm
                ),
                EXPIRY_DEADLINE,
                || async { Ok(c.rate_limit(&key, &rule).await.must("retry")?.allowed) },
            )
            .await
        })
        .await?;
    }
    Ok(())
}

/// Under 128 concurrent requests exactly `limit` are admitted.
pub async fn check_rate_limit_is_atomic(factory: &dyn CacheFactory) -> CheckResult {
    for rule in [
        RateLimitRule::sliding(50, LONG_TTL),
        RateLimitRule::fixed(50, LONG_TTL),
    ] {
        with_fixture(factory, |fx| async move {
            let key = Arc::new(fx.ns.key("crowd"));
            let handles = (0..RACERS)
                .map(|_| {
                    let (c, key) = (fx.cache.clone(), key.clone());
                    tokio::spawn(async move { c.rate_limit(&key, &rule).await })
                })
                .collect();
            let mut admitted = 0;
            for r in join_all(handles, "rate_limit racers").await? {
                admitted += u64::from(r.must("a racing rate_limit")?.allowed);
            }
            ensure!(
                admitted == rule.limit,
                "{:?}: {RACERS} concurrent requests against a limit of {}: expected {} admitted, \
                 got {admitted}",
                rule.algorithm,
                rule.limit,
                rule.limit
            );
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// A rule with a zero limit is refused like `RateLimitRule::validate` refuses it.
pub async fn check_rate_limit_refuses_a_zero_limit(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let rule = RateLimitRule::sliding(0, LONG_TTL);
        let kind = rule.validate().expect_err("a zero limit is invalid").kind();
        fx.cache
            .rate_limit(&fx.ns.key("k"), &rule)
            .await
            .must_fail(kind, "rate_limit with limit 0")?;
        Ok(())
    })
    .await
}

/// A subscriber receives what is published on its channel (binary payloads
/// included), and `publish` then reports at least one receiver.
pub async fn check_published_messages_reach_subscribers(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let channel = fx.ns.key("events");
        let mut sub = c.subscribe(&channel).await.must("subscribe")?;
        ensure!(
            sub.channel() == channel,
            "Subscription::channel: expected {channel:?}, got {:?}",
            sub.channel()
        );
        // The subscription may become active on the server a moment after
        // `subscribe` returns: publish until the first message arrives.
        let first: &[u8] = b"\x00first\xff";
        let until = tokio::time::Instant::now() + EXPIRY_DEADLINE;
        loop {
            c.publish(&channel, first).await.must("publish")?;
            let got = next_message(&mut sub, Duration::from_millis(50)).await?;
            match got {
                Some(m) if m.as_ref() == first => break,
                Some(m) => fail!("subscriber: expected {}, got {}", show(first), show(&m)),
                None if tokio::time::Instant::now() >= until => fail!(
                    "subscriber: expected a message published after subscribe to arrive within \
                     {EXPIRY_DEADLINE:?}, got nothing"
                ),
                None => {}
            }
        }
        let second: &[u8] = b"second";
        let n = c
            .publish(&channel, second)
            .await
            .must("publish to a live subscription")?;
        ensure!(
            n >= 1,
            "publish with an active subscriber: expected a count >= 1, got {n}"
        );
        // Skip late copies of the first message.
        let deadline = tokio::time::Instant::now() + EXPIRY_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match next_message(&mut sub, left).await? {
                Some(m) if m.as_ref() == second => return Ok(()),
                Some(m) if m.as_ref() == first => continue,
                Some(m) => fail!("subscriber: expected {}, got {}", show(second), show(&m)),
                None => fail!(
                    "subscriber: expected {} within {EXPIRY_DEADLINE:?}, got nothing",
                    show(second)
                ),
            }
        }
    })
    .await
}

/// The next message within `wait`, skipping other events; `None` on timeout.
async fn next_message(
    sub: &mut cache_core::Subscription,
    wait: Duration,
) -> Result<Option<cache_core::Bytes>, CheckError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Err(_) => return Ok(None),
            Ok(None) => fail!("subscription ended while the cache was open"),
            Ok(Some(SubscriptionEvent::Message(m))) => return Ok(Some(m)),
            Ok(Some(_)) => continue,
        }
    }
}

/// `health` answers Ok on a working backend.
pub async fn check_health_is_ok(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        fx.cache.health().await.must("health")?;
        Ok(())
    })
    .await
}

/// A fresh instance's stats start without lookups and count hits (per key
/// for `get_many`), misses and operations; a miss is not an error.
pub async fn check_stats_count_hits_misses_and_operations(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let before = c.stats();
        ensure!(
            before.hits == 0 && before.misses == 0,
            "a fresh instance's stats: expected 0 hits and 0 misses, got {} and {}",
            before.hits,
            before.misses
        );
        let (hit, miss) = (fx.ns.key("hit"), fx.ns.key("miss"));
        c.set(&hit, b"v", LONG_TTL).await.must("set")?;
        c.get(&hit).await.must("get hit")?;
        c.get(&hit).await.must("get hit")?;
        if c.get(&miss).await.must("get miss")?.is_some() {
            fail!("get of a key never written returned a value");
        }
        c.get_many(&[hit.as_str(), miss.as_str()]).await.must("get_many")?;
        let after = c.stats();
        let delta = |op| after.ops(op) - before.ops(op);
        let got = (
            after.hits - before.hits,
            after.misses - before.misses,
            after.errors - before.errors,
            delta(Operation::Get),
            delta(Operation::Set),
            delta(Operation::GetMany),
        );
        ensure!(
            got == (3, 2, 0, 3, 1, 1),
            "stats after set, 2 get hits, 1 get miss, get_many of a hit and a miss: expected \
             (hits, misses, errors, get ops, set ops, get_many ops) = (3, 2, 0, 3, 1, 1), got {got:?}"
        );
        Ok(())
    })
    .await
}

/// After `close`, every call fails with `Closed`; closing again is fine.
pub async fn check_closed_cache_refuses_every_call(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let k = fx.ns.key("k");
        let k = k.as_str();
        c.set(k, b"v", LONG_TTL).await.must("set before close")?;
        c.close().await.must("close")?;
        let closed = ErrorKind::Closed;
        let rule = RateLimitRule::fixed(1, LONG_TTL);
        c.get(k).await.must_fail(closed, "get after close")?;
        c.set(k, b"v", LONG_TTL)
            .await
            .must_fail(closed, "set after close")?;
        c.delete(k).await.must_fail(closed, "delete after close")?;
        c.get_or_set(k, b"v", LONG_TTL)
            .await
            .must_fail(closed, "get_or_set after close")?;
        c.compare_and_set(k, None, b"v", LONG_TTL)
            .await
            .must_fail(closed, "compare_and_set after close")?;
        c.compare_and_delete(k, b"v")
            .await
            .must_fail(closed, "compare_and_delete after close")?;
        c.get_many(&[k])
            .await
            .must_fail(closed, "get_many after close")?;
        c.set_many(&[(k, b"v")], LONG_TTL)
            .await
            .must_fail(closed, "set_many after close")?;
        c.delete_many(&[k])
            .await
            .must_fail(closed, "delete_many after close")?;
        c.incr_by(k, 1, LONG_TTL)
            .await
            .must_fail(closed, "incr_by after close")?;
        c.exists(&[k])
            .await
            .must_fail(closed, "exists after close")?;
        c.expire(k, LONG_TTL)
            .await
            .must_fail(closed, "expire after close")?;
        c.persist(k)
            .await
            .must_fail(closed, "persist after close")?;
        c.ttl(k).await.must_fail(closed, "ttl after close")?;
        c.touch(&[k]).await.must_fail(closed, "touch after close")?;
        c.scan_keys(&fx.ns.pattern("*"), &ScanCursor::start(), 10)
            .await
            .must_fail(closed, "scan_keys after close")?;
        c.delete_pattern(&fx.ns.pattern("*"))
            .await
            .must_fail(closed, "delete_pattern after close")?;
        c.rate_limit(k, &rule)
            .await
            .must_fail(closed, "rate_limit after close")?;
        c.publish(k, b"m")
            .await
            .must_fail(closed, "publish after close")?;
        c.subscribe(k)
            .await
            .must_fail(closed, "subscribe after close")?;
        c.health().await.must_fail(closed, "health after close")?;
        c.close().await.must("a second close")?;
        Ok(())
    })
    .await
}

/// Closing the cache ends its subscriptions: `recv` returns `None`.
pub async fn check_close_ends_subscriptions(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let mut sub = fx
            .cache
            .subscribe(&fx.ns.key("chan"))
            .await
            .must("subscribe")?;
        fx.cache.close().await.must("close")?;
        let deadline = tokio::time::Instant::now() + EXPIRY_DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(None) => return Ok(()),
                // Events already queued may still be delivered.
                Ok(Some(_)) => continue,
                Err(_) => fail!(
                    "Subscription::recv after close: expected None within {EXPIRY_DEADLINE:?}, it \
                     kept waiting"
                ),
            }
        }
    })
    .await
}
