//! Key operations: `exists`, `expire`, `persist`, `ttl` and `touch`.

use std::time::Duration;

use cache_core::{ErrorKind, KeyTtl, RateLimitRule};

use super::CacheFactory;
use super::support::{
    CheckResult, Fixture, LONG_TTL, Outcome, ensure, expect_absent, expect_value, fail,
    wait_until_gone, with_fixture,
};

/// A TTL that outlasts the few calls a check makes before it ends, even on a
/// loaded machine (150 ms may pass between two calls there), and is still
/// short enough to wait for.
const STEP_TTL: Duration = Duration::from_secs(2);

/// How far below the TTL just given a fresh key's remaining time may read (a
/// loaded machine can stall a process for seconds between two calls).
const TTL_SLACK: Duration = Duration::from_secs(30);

/// Fails unless `key` has a TTL of at most `given` and more than `given - TTL_SLACK`.
async fn expect_remaining(fx: &Fixture, key: &str, given: Duration, when: &str) -> CheckResult {
    match fx.cache.ttl(key).await.must(&format!("ttl {when}"))? {
        KeyTtl::Remaining(left) if left <= given && left + TTL_SLACK > given => Ok(()),
        other => fail!(
            "ttl({key:?}) {when}: expected Remaining(at most {given:?}, more than {:?}), got {other:?}",
            given.saturating_sub(TTL_SLACK)
        ),
    }
}

/// Fails unless `ttl(key)` is exactly `expected`.
async fn expect_ttl(fx: &Fixture, key: &str, expected: KeyTtl, when: &str) -> CheckResult {
    let got = fx.cache.ttl(key).await.must(&format!("ttl {when}"))?;
    ensure!(
        got == expected,
        "ttl({key:?}) {when}: expected {expected:?}, got {got:?}"
    );
    Ok(())
}

/// `exists` counts the keys that hold a value, a key named twice twice, a
/// rate-limit window too, whatever slots the keys are in.
pub async fn check_exists_counts_keys_that_hold_a_value(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let keys: Vec<String> = (0..20).map(|i| fx.ns.key(&format!("e{i}"))).collect();
        let absent = fx.ns.key("absent");
        for key in &keys {
            c.set(key, b"v", LONG_TTL).await.must("set")?;
        }
        let mut asked: Vec<&str> = keys.iter().map(String::as_str).collect();
        asked.push(&absent);
        asked.push(&keys[0]);
        let n = c.exists(&asked).await.must("exists")?;
        ensure!(
            n == 21,
            "exists of 20 keys held, one absent and one named twice: expected 21, got {n}"
        );
        let n = c.exists(&[]).await.must("exists of no keys")?;
        ensure!(n == 0, "exists of no keys: expected 0, got {n}");
        c.delete(&keys[0]).await.must("delete")?;
        let n = c.exists(&asked).await.must("exists after a delete")?;
        ensure!(
            n == 19,
            "exists after deleting the key named twice: expected 19, got {n}"
        );
        let window = fx.ns.key("window");
        c.rate_limit(&window, &RateLimitRule::sliding(5, LONG_TTL))
            .await
            .must("rate_limit")?;
        let n = c
            .exists(&[&window])
            .await
            .must("exists of a rate-limit window")?;
        ensure!(
            n == 1,
            "exists of a sliding rate-limit window: expected 1, got {n}"
        );
        Ok(())
    })
    .await
}

/// `expire` gives a key a new TTL from now, shorter or longer, and keeps its
/// value; on an absent key it answers `false` and writes nothing.
pub async fn check_expire_replaces_the_ttl_and_keeps_the_value(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        // As in `set_replaces_value_and_ttl`: once `shortened` has expired,
        // the first (short) TTL of `lengthened` has passed too.
        let lengthened = fx.ns.key("lengthened");
        let shortened = fx.ns.key("shortened");
        c.set(&lengthened, b"long", STEP_TTL)
            .await
            .must("set short")?;
        let held = c.expire(&lengthened, LONG_TTL).await.must("expire long")?;
        ensure!(
            held,
            "expire of a key that holds a value: expected true, got false"
        );
        c.set(&shortened, b"short", LONG_TTL)
            .await
            .must("set long")?;
        let held = c.expire(&shortened, STEP_TTL).await.must("expire short")?;
        ensure!(
            held,
            "expire of a key that holds a value: expected true, got false"
        );
        expect_value(c, &shortened, b"short", "right after expire").await?;
        wait_until_gone(&fx, &shortened, STEP_TTL, "a short TTL given by expire").await?;
        expect_value(
            c,
            &lengthened,
            b"long",
            "after its first (short) TTL passed, lengthened by expire",
        )
        .await?;
        expect_remaining(&fx, &lengthened, LONG_TTL, "after expire").await?;

        let absent = fx.ns.key("absent");
        let held = c
            .expire(&absent, LONG_TTL)
            .await
            .must("expire of an absent key")?;
        ensure!(!held, "expire of an absent key: expected false, got true");
        expect_absent(c, &absent, "after expire of an absent key").await
    })
    .await
}

/// `expire` with a zero TTL or one over `MAX_TTL` is refused with
/// `InvalidTtl` and leaves the key as it was.
pub async fn check_expire_refuses_an_invalid_ttl(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("k");
        c.set(&key, b"v", LONG_TTL).await.must("set")?;
        for (ttl, what) in [
            (Duration::ZERO, "zero TTL"),
            (
                cache_core::ttl::MAX_TTL + Duration::from_millis(1),
                "TTL over MAX_TTL",
            ),
        ] {
            c.expire(&key, ttl)
                .await
                .must_fail(ErrorKind::InvalidTtl, &format!("expire with a {what}"))?;
            expect_value(c, &key, b"v", &format!("after expire with a {what}")).await?;
            expect_remaining(&fx, &key, LONG_TTL, &format!("after expire with a {what}")).await?;
        }
        Ok(())
    })
    .await
}

/// `ttl` tells an absent key, a key without expiry and the time left apart;
/// `persist` removes a TTL (answering whether it did) and `set` brings one back.
pub async fn check_ttl_tells_absent_no_expiry_and_remaining(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("k");
        expect_ttl(&fx, &key, KeyTtl::Absent, "of a key never written").await?;
        let removed = c.persist(&key).await.must("persist of an absent key")?;
        ensure!(
            !removed,
            "persist of an absent key: expected false, got true"
        );
        expect_ttl(&fx, &key, KeyTtl::Absent, "after persist of an absent key").await?;

        c.set(&key, b"v", LONG_TTL).await.must("set")?;
        expect_remaining(&fx, &key, LONG_TTL, "right after set").await?;
        let removed = c.persist(&key).await.must("persist")?;
        ensure!(
            removed,
            "persist of a key with a TTL: expected true, got false"
        );
        expect_ttl(&fx, &key, KeyTtl::NoExpiry, "after persist").await?;
        expect_value(c, &key, b"v", "after persist").await?;
        let removed = c.persist(&key).await.must("a second persist")?;
        ensure!(
            !removed,
            "persist of a key without a TTL: expected false, got true"
        );

        // The next write gives it a TTL again (and the key of this check
        // does not outlive it on a shared server).
        c.set(&key, b"w", LONG_TTL)
            .await
            .must("set after persist")?;
        expect_remaining(&fx, &key, LONG_TTL, "after set over a persisted key").await?;
        c.delete(&key).await.must("delete")?;
        expect_ttl(&fx, &key, KeyTtl::Absent, "after delete").await
    })
    .await
}

/// A persisted key outlives the TTL it was written with.
pub async fn check_persisted_key_outlives_its_ttl(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let kept = fx.ns.key("kept");
        let witness = fx.ns.key("witness");
        c.set(&kept, b"kept", STEP_TTL).await.must("set kept")?;
        let removed = c.persist(&kept).await.must("persist")?;
        ensure!(
            removed,
            "persist of a key with a TTL: expected true, got false"
        );
        // Written after `kept`, with the same TTL: once it is gone, `kept`'s
        // TTL would have passed too.
        c.set(&witness, b"w", STEP_TTL).await.must("set witness")?;
        wait_until_gone(&fx, &witness, STEP_TTL, "the witness's short TTL").await?;
        expect_value(
            c,
            &kept,
            b"kept",
            "after its TTL would have passed, persisted",
        )
        .await?;
        expect_ttl(&fx, &kept, KeyTtl::NoExpiry, "after persist").await?;
        let held = c
            .expire(&kept, LONG_TTL)
            .await
            .must("expire after persist")?;
        ensure!(held, "expire of a persisted key: expected true, got false");
        expect_remaining(&fx, &kept, LONG_TTL, "after expire of a persisted key").await
    })
    .await
}

/// `incr_by` on a counter without expiry gives it the TTL it was called with
/// (so a persisted counter cannot be forgotten forever by accident).
pub async fn check_incr_by_gives_a_persisted_counter_a_ttl(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("n");
        c.incr_by(&key, 1, LONG_TTL).await.must("incr_by")?;
        let removed = c.persist(&key).await.must("persist")?;
        ensure!(removed, "persist of a counter: expected true, got false");
        let n = c
            .incr_by(&key, 1, LONG_TTL)
            .await
            .must("incr_by after persist")?;
        ensure!(n == 2, "incr_by after persist: expected 2, got {n}");
        expect_remaining(&fx, &key, LONG_TTL, "after incr_by on a persisted counter").await
    })
    .await
}

/// `touch` counts the keys that hold a value (a key named twice twice) and
/// changes neither values nor TTLs: a touched key still expires on time.
pub async fn check_touch_counts_keys_and_keeps_their_ttl(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let durable = fx.ns.key("durable");
        let ephemeral = fx.ns.key("ephemeral");
        let absent = fx.ns.key("absent");
        c.set(&durable, b"d", LONG_TTL).await.must("set durable")?;
        c.set(&ephemeral, b"e", STEP_TTL)
            .await
            .must("set ephemeral")?;
        let n = c
            .touch(&[&durable, &absent, &ephemeral, &durable])
            .await
            .must("touch")?;
        ensure!(
            n == 3,
            "touch of two keys held (one named twice) and one absent: expected 3, got {n}"
        );
        let n = c.touch(&[]).await.must("touch of no keys")?;
        ensure!(n == 0, "touch of no keys: expected 0, got {n}");
        expect_value(c, &durable, b"d", "after touch").await?;
        wait_until_gone(&fx, &ephemeral, STEP_TTL, "its TTL, touch notwithstanding").await?;
        expect_remaining(&fx, &durable, LONG_TTL, "after touch").await
    })
    .await
}

/// Every key operation refuses an invalid key with `InvalidKey`, the batch
/// ones even when only one of their keys is invalid.
pub async fn check_key_operations_refuse_invalid_keys(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let good = fx.ns.key("good");
        let bad = ErrorKind::InvalidKey;
        c.set(&good, b"v", LONG_TTL).await.must("set")?;
        c.exists(&[&good, ""])
            .await
            .must_fail(bad, "exists with an empty key")?;
        c.touch(&[&good, ""])
            .await
            .must_fail(bad, "touch with an empty key")?;
        c.expire("", LONG_TTL)
            .await
            .must_fail(bad, "expire of an empty key")?;
        c.persist("")
            .await
            .must_fail(bad, "persist of an empty key")?;
        c.ttl("").await.must_fail(bad, "ttl of an empty key")?;
        expect_remaining(&fx, &good, LONG_TTL, "after the refused calls").await
    })
    .await
}
