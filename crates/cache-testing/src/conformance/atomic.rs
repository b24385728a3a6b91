//! The atomic single-key primitives: `get_or_set`, `compare_and_set`,
//! `compare_and_delete`, `incr_by`, alone and under concurrency.

use std::sync::Arc;

use cache_core::{Cache, ErrorKind};

use super::CacheFactory;
use super::support::{
    CheckError, CheckResult, LONG_TTL, Outcome, RACERS, SHORT_TTL, ensure, expect_absent,
    expect_value, fail, join_all, show, wait_until_gone, with_fixture,
};

/// `get_or_set` stores and returns `(new, true)` on an absent key, then
/// returns `(existing, false)` without changing the stored value.
pub async fn check_get_or_set_stores_only_when_absent(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("once");
        let (v, stored) = c
            .get_or_set(&key, b"first", LONG_TTL)
            .await
            .must("first get_or_set")?;
        ensure!(
            stored && v.as_ref() == b"first",
            "get_or_set on an absent key: expected (b\"first\", true), got ({}, {stored})",
            show(&v)
        );
        let (v, stored) = c
            .get_or_set(&key, b"second", LONG_TTL)
            .await
            .must("second get_or_set")?;
        ensure!(
            !stored && v.as_ref() == b"first",
            "get_or_set on a present key: expected (b\"first\", false), got ({}, {stored})",
            show(&v)
        );
        expect_value(c, &key, b"first", "after a get_or_set that found a value").await
    })
    .await
}

/// `get_or_set` on a present key leaves that key's TTL alone.
pub async fn check_get_or_set_keeps_the_existing_ttl(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("short-lived");
        c.set(&key, b"v", SHORT_TTL).await.must("set short")?;
        let (_, stored) = c
            .get_or_set(&key, b"w", LONG_TTL)
            .await
            .must("get_or_set")?;
        if stored {
            // The short TTL may legitimately have run out already on a slow
            // machine; then the check proves nothing, but nothing is wrong.
            return Ok(());
        }
        wait_until_gone(
            &fx,
            &key,
            SHORT_TTL,
            "the original short TTL, which get_or_set must not extend",
        )
        .await
    })
    .await
}

/// Of 128 concurrent `get_or_set` calls on one key exactly one stores, and
/// every caller sees the winner's value.
pub async fn check_get_or_set_is_atomic(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let key = Arc::new(fx.ns.key("race"));
        let handles = (0..RACERS)
            .map(|i| {
                let (c, key) = (fx.cache.clone(), key.clone());
                tokio::spawn(async move {
                    c.get_or_set(&key, format!("racer-{i}").as_bytes(), LONG_TTL)
                        .await
                        .map(|(v, stored)| (i, v, stored))
                })
            })
            .collect();
        let results = join_all(handles, "get_or_set racers").await?;
        let mut winners = Vec::new();
        let mut seen = Vec::new();
        for r in results {
            let (i, v, stored) = r.must("a racing get_or_set")?;
            if stored {
                winners.push(i);
            }
            seen.push((i, v));
        }
        ensure!(
            winners.len() == 1,
            "{RACERS} racing get_or_set: expected exactly one to store, got {} ({winners:?})",
            winners.len()
        );
        let winning = format!("racer-{}", winners[0]);
        for (i, v) in seen {
            ensure!(
                v.as_ref() == winning.as_bytes(),
                "racer {i} got {} from get_or_set, expected the winner's {winning:?}",
                show(&v)
            );
        }
        expect_value(&*fx.cache, &key, winning.as_bytes(), "after the race").await
    })
    .await
}

/// `compare_and_set(None)` writes only when the key is absent.
pub async fn check_compare_and_set_none_only_sets_absent_keys(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("lock");
        let done = c
            .compare_and_set(&key, None, b"owner-1", LONG_TTL)
            .await
            .must("cas(None) on absent")?;
        ensure!(
            done,
            "compare_and_set(None) on an absent key: expected true, got false"
        );
        expect_value(c, &key, b"owner-1", "after cas(None) on an absent key").await?;
        let done = c
            .compare_and_set(&key, None, b"owner-2", LONG_TTL)
            .await
            .must("cas(None) on present")?;
        ensure!(
            !done,
            "compare_and_set(None) on a present key: expected false, got true"
        );
        expect_value(c, &key, b"owner-1", "after cas(None) on a present key").await
    })
    .await
}

/// `compare_and_set(Some(expected))` writes on a match only; never on an absent key.
pub async fn check_compare_and_set_replaces_only_the_expected_value(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("cas");
        let absent = fx.ns.key("cas-absent");
        c.set(&key, b"v1", LONG_TTL).await.must("set")?;
        let done = c
            .compare_and_set(&key, Some(b"other"), b"v2", LONG_TTL)
            .await
            .must("cas mismatch")?;
        ensure!(
            !done,
            "compare_and_set with a mismatching expected value: expected false, got true"
        );
        expect_value(c, &key, b"v1", "after a mismatching compare_and_set").await?;
        let done = c
            .compare_and_set(&key, Some(b"v1"), b"v2", LONG_TTL)
            .await
            .must("cas match")?;
        ensure!(
            done,
            "compare_and_set with the matching expected value: expected true, got false"
        );
        expect_value(c, &key, b"v2", "after a matching compare_and_set").await?;
        let done = c
            .compare_and_set(&absent, Some(b"v1"), b"v2", LONG_TTL)
            .await
            .must("cas absent")?;
        ensure!(
            !done,
            "compare_and_set(Some) on an absent key: expected false, got true"
        );
        expect_absent(c, &absent, "after compare_and_set(Some) on an absent key").await
    })
    .await
}

/// `Some(b"")` means "holds the empty value", which is not "absent".
pub async fn check_compare_and_set_tells_empty_from_absent(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("empty-vs-absent");
        let done = c
            .compare_and_set(&key, Some(b""), b"x", LONG_TTL)
            .await
            .must("cas(Some(\"\")) absent")?;
        ensure!(
            !done,
            "compare_and_set(Some(b\"\")) on an absent key: expected false, got true"
        );
        expect_absent(
            c,
            &key,
            "after compare_and_set(Some(b\"\")) on an absent key",
        )
        .await?;
        c.set(&key, b"", LONG_TTL).await.must("set empty")?;
        let done = c
            .compare_and_set(&key, Some(b""), b"x", LONG_TTL)
            .await
            .must("cas(Some(\"\")) empty")?;
        ensure!(
            done,
            "compare_and_set(Some(b\"\")) on a stored empty value: expected true, got false"
        );
        expect_value(c, &key, b"x", "after compare_and_set over an empty value").await
    })
    .await
}

/// A successful `compare_and_set` gives the key the new TTL.
pub async fn check_compare_and_set_applies_the_new_ttl(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("cas-ttl");
        c.set(&key, b"v1", LONG_TTL).await.must("set long")?;
        let done = c
            .compare_and_set(&key, Some(b"v1"), b"v2", SHORT_TTL)
            .await
            .must("cas short")?;
        ensure!(
            done,
            "compare_and_set with the matching value: expected true, got false"
        );
        wait_until_gone(
            &fx,
            &key,
            SHORT_TTL,
            "the short TTL given by compare_and_set",
        )
        .await
    })
    .await
}

/// Of 128 concurrent `compare_and_set(None)` calls on one key exactly one wins.
pub async fn check_compare_and_set_none_is_atomic(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let key = Arc::new(fx.ns.key("lock-race"));
        let handles = (0..RACERS)
            .map(|i| {
                let (c, key) = (fx.cache.clone(), key.clone());
                tokio::spawn(async move {
                    c.compare_and_set(&key, None, format!("owner-{i}").as_bytes(), LONG_TTL)
                        .await
                        .map(|won| (i, won))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for r in join_all(handles, "compare_and_set racers").await? {
            let (i, won) = r.must("a racing compare_and_set(None)")?;
            if won {
                winners.push(i);
            }
        }
        ensure!(
            winners.len() == 1,
            "{RACERS} racing compare_and_set(None): expected exactly one winner, got {winners:?}"
        );
        expect_value(
            &*fx.cache,
            &key,
            format!("owner-{}", winners[0]).as_bytes(),
            "after the race",
        )
        .await
    })
    .await
}

/// 64 tasks incrementing one counter through read + `compare_and_set` loops
/// lose no update.
pub async fn check_compare_and_set_loops_lose_no_update(factory: &dyn CacheFactory) -> CheckResult {
    const TASKS: usize = 64;
    const INCREMENTS: u64 = 4;
    with_fixture(factory, |fx| async move {
        let key = Arc::new(fx.ns.key("cas-counter"));
        fx.cache.set(&key, b"0", LONG_TTL).await.must("set 0")?;
        let handles = (0..TASKS)
            .map(|_| {
                let (c, key) = (fx.cache.clone(), key.clone());
                tokio::spawn(async move { cas_increment_loop(&*c, &key, INCREMENTS).await })
            })
            .collect();
        for r in join_all(handles, "compare_and_set increment loops").await? {
            r?;
        }
        let total = (TASKS as u64 * INCREMENTS).to_string();
        expect_value(
            &*fx.cache,
            &key,
            total.as_bytes(),
            "after all CAS increments",
        )
        .await
    })
    .await
}

async fn cas_increment_loop(c: &dyn Cache, key: &str, times: u64) -> CheckResult {
    for _ in 0..times {
        loop {
            let current = c
                .get(key)
                .await
                .must("get in a CAS loop")?
                .ok_or_else(|| CheckError::new(format!("the CAS counter {key:?} vanished")))?;
            let n: u64 = std::str::from_utf8(&current)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    CheckError::new(format!(
                        "CAS loop read {} instead of a number",
                        show(&current)
                    ))
                })?;
            let next = (n + 1).to_string();
            if c.compare_and_set(key, Some(&current), next.as_bytes(), LONG_TTL)
                .await
                .must("compare_and_set in a CAS loop")?
            {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

/// `compare_and_delete` deletes on a match only, and says whether it did.
pub async fn check_compare_and_delete_removes_only_the_expected_value(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("cad");
        c.set(&key, b"mine", LONG_TTL).await.must("set")?;
        let done = c
            .compare_and_delete(&key, b"theirs")
            .await
            .must("cad mismatch")?;
        ensure!(
            !done,
            "compare_and_delete with a mismatching value: expected false, got true"
        );
        expect_value(c, &key, b"mine", "after a mismatching compare_and_delete").await?;
        let done = c
            .compare_and_delete(&key, b"mine")
            .await
            .must("cad match")?;
        ensure!(
            done,
            "compare_and_delete with the matching value: expected true, got false"
        );
        expect_absent(c, &key, "after a matching compare_and_delete").await?;
        let done = c
            .compare_and_delete(&key, b"mine")
            .await
            .must("cad absent")?;
        ensure!(
            !done,
            "compare_and_delete on an absent key: expected false, got true"
        );
        Ok(())
    })
    .await
}

/// A lock holder whose TTL ran out cannot release the lock a later holder took.
pub async fn check_stale_lock_holder_cannot_release_the_new_lock(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("lock");
        let took = c
            .compare_and_set(&key, None, b"token-A", SHORT_TTL)
            .await
            .must("A locks")?;
        ensure!(took, "first holder: expected to take the free lock");
        wait_until_gone(&fx, &key, SHORT_TTL, "holder A's lock TTL").await?;
        let took = c
            .compare_and_set(&key, None, b"token-B", LONG_TTL)
            .await
            .must("B locks")?;
        ensure!(took, "second holder: expected to take the expired lock");
        let released = c
            .compare_and_delete(&key, b"token-A")
            .await
            .must("A releases")?;
        ensure!(
            !released,
            "stale holder A released B's lock: expected false, got true"
        );
        expect_value(c, &key, b"token-B", "after the stale holder's release").await
    })
    .await
}

/// `incr_by` starts an absent counter at 0, returns the new value, accepts
/// negative deltas, and stores decimal ASCII.
pub async fn check_incr_by_counts_from_zero(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("counter");
        for (delta, expected) in [(5, 5), (-7, -2), (0, -2), (2, 0)] {
            let n = c
                .incr_by(&key, delta, LONG_TTL)
                .await
                .must(&format!("incr_by({delta})"))?;
            ensure!(
                n == expected,
                "incr_by({delta}): expected {expected}, got {n}"
            );
        }
        expect_value(c, &key, b"0", "counter after increments").await?;
        let set_counter = fx.ns.key("set-counter");
        c.set(&set_counter, b"41", LONG_TTL)
            .await
            .must("set b\"41\"")?;
        let n = c
            .incr_by(&set_counter, 1, LONG_TTL)
            .await
            .must("incr_by on a stored \"41\"")?;
        ensure!(
            n == 42,
            "incr_by(1) on a stored b\"41\": expected 42, got {n}"
        );
        expect_value(c, &set_counter, b"42", "after incr_by on a set value").await
    })
    .await
}

/// A new counter gets the TTL of its first `incr_by`; later increments keep it.
pub async fn check_incr_by_ttl_applies_to_new_counters_only(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("window");
        c.incr_by(&key, 1, SHORT_TTL).await.must("first incr_by")?;
        match c.incr_by(&key, 1, LONG_TTL).await.must("second incr_by")? {
            2 => {
                wait_until_gone(
                    &fx,
                    &key,
                    SHORT_TTL,
                    "the first increment's short TTL, kept by the second",
                )
                .await
            }
            // The short TTL may already have run out on a slow machine: then
            // the second call started a new counter and proves nothing.
            1 => Ok(()),
            n => fail!("second incr_by(1): expected 2, got {n}"),
        }
    })
    .await
}

/// 128 concurrent `incr_by` calls on one key add up exactly.
pub async fn check_incr_by_is_atomic(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let key = Arc::new(fx.ns.key("hot-counter"));
        let handles = (1..=RACERS as i64)
            .map(|delta| {
                let (c, key) = (fx.cache.clone(), key.clone());
                tokio::spawn(async move { c.incr_by(&key, delta, LONG_TTL).await })
            })
            .collect();
        for r in join_all(handles, "incr_by racers").await? {
            r.must("a racing incr_by")?;
        }
        let sum = (RACERS * (RACERS + 1) / 2).to_string();
        expect_value(
            &*fx.cache,
            &key,
            sum.as_bytes(),
            "after concurrent increments",
        )
        .await
    })
    .await
}

/// `incr_by` on a value that is not a decimal `i64` is `WrongType` and
/// leaves the value alone.
pub async fn check_incr_by_on_non_integer_is_wrong_type(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        for (i, value) in [&b"abc"[..], b"1.5", b"", b" 1", b"99999999999999999999"]
            .into_iter()
            .enumerate()
        {
            let key = fx.ns.key(&format!("not-a-number-{i}"));
            c.set(&key, value, LONG_TTL).await.must("set")?;
            c.incr_by(&key, 1, LONG_TTL)
                .await
                .must_fail(ErrorKind::WrongType, &format!("incr_by on {}", show(value)))?;
            expect_value(c, &key, value, "after a refused incr_by").await?;
        }
        Ok(())
    })
    .await
}

/// `incr_by` past `i64::MAX` or `i64::MIN` is an [`ErrorKind::Overflow`]
/// error, never a wrap, and leaves the counter alone.
pub async fn check_incr_by_overflow_is_an_error(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let (high, low) = (fx.ns.key("max"), fx.ns.key("min"));
        let n = c
            .incr_by(&high, i64::MAX, LONG_TTL)
            .await
            .must("incr_by(i64::MAX)")?;
        ensure!(
            n == i64::MAX,
            "incr_by(i64::MAX) on absent: expected {}, got {n}",
            i64::MAX
        );
        c.incr_by(&high, 1, LONG_TTL)
            .await
            .must_fail(ErrorKind::Overflow, "incr_by(1) at i64::MAX")?;
        expect_value(
            c,
            &high,
            i64::MAX.to_string().as_bytes(),
            "after a refused overflow",
        )
        .await?;
        c.incr_by(&low, i64::MIN, LONG_TTL)
            .await
            .must("incr_by(i64::MIN)")?;
        c.incr_by(&low, -1, LONG_TTL)
            .await
            .must_fail(ErrorKind::Overflow, "incr_by(-1) at i64::MIN")?;
        expect_value(
            c,
            &low,
            i64::MIN.to_string().as_bytes(),
            "after a refused underflow",
        )
        .await
    })
    .await
}
