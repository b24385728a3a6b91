//! Single-key reads and writes, TTLs, key rules, binary safety.

use std::time::Duration;

use cache_core::key::MAX_KEY_BYTES;
use cache_core::ttl::MAX_TTL;
use cache_core::{ErrorKind, RateLimitRule};

use super::CacheFactory;
use super::support::{
    CheckResult, LONG_TTL, Outcome, SHORT_TTL, ensure, expect_absent, expect_value, fail, scan_all,
    show, wait_until_gone, with_fixture,
};

/// `get` returns exactly what `set` stored.
pub async fn check_get_returns_what_set_stored(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let key = fx.ns.key("round-trip");
        fx.cache.set(&key, b"value-1", LONG_TTL).await.must("set")?;
        expect_value(&*fx.cache, &key, b"value-1", "right after set").await
    })
    .await
}

/// `get` of a key never written is `Ok(None)`, not an error.
pub async fn check_get_of_absent_key_is_not_found(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let key = fx.ns.key("never-written");
        expect_absent(&*fx.cache, &key, "get of a key never written").await
    })
    .await
}

/// `delete` says whether the key held a value; deleting an absent key is not an error.
pub async fn check_delete_reports_whether_the_key_existed(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let key = fx.ns.key("doomed");
        fx.cache.set(&key, b"v", LONG_TTL).await.must("set")?;
        let existed = fx
            .cache
            .delete(&key)
            .await
            .must("delete of a present key")?;
        ensure!(existed, "delete of a present key: expected true, got false");
        expect_absent(&*fx.cache, &key, "after delete").await?;
        let existed = fx
            .cache
            .delete(&key)
            .await
            .must("delete of an absent key")?;
        ensure!(
            !existed,
            "delete of an absent key: expected false, got true"
        );
        Ok(())
    })
    .await
}

/// A second `set` replaces both the value and the TTL.
pub async fn check_set_replaces_value_and_ttl(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let cache = &*fx.cache;
        // `lengthened` gets a short TTL first; `shortened` gets it last. Once
        // `shortened` has expired, the short TTL of `lengthened` (which
        // started earlier) has passed too: it must still be there.
        let lengthened = fx.ns.key("lengthened");
        let shortened = fx.ns.key("shortened");
        cache
            .set(&lengthened, b"old", SHORT_TTL)
            .await
            .must("set short")?;
        cache
            .set(&lengthened, b"new", LONG_TTL)
            .await
            .must("set long over short")?;
        cache
            .set(&shortened, b"old", LONG_TTL)
            .await
            .must("set long")?;
        cache
            .set(&shortened, b"new", SHORT_TTL)
            .await
            .must("set short over long")?;
        expect_value(cache, &lengthened, b"new", "after the second set").await?;
        wait_until_gone(
            &fx,
            &shortened,
            SHORT_TTL,
            "a short TTL set over a long one",
        )
        .await?;
        expect_value(
            cache,
            &lengthened,
            b"new",
            "after its first (short) TTL passed, having been replaced by a long one",
        )
        .await
    })
    .await
}

/// An entry written with a short TTL disappears; one with a long TTL stays.
pub async fn check_entries_expire_after_their_ttl(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let cache = &*fx.cache;
        let durable = fx.ns.key("durable");
        let ephemeral = fx.ns.key("ephemeral");
        cache
            .set(&durable, b"stays", LONG_TTL)
            .await
            .must("set long")?;
        expect_value(cache, &durable, b"stays", "right after set with a long TTL").await?;
        cache
            .set(&ephemeral, b"goes", SHORT_TTL)
            .await
            .must("set short")?;
        wait_until_gone(&fx, &ephemeral, SHORT_TTL, "150 ms TTL").await?;
        expect_value(cache, &durable, b"stays", "after a shorter TTL ran out").await
    })
    .await
}

/// A TTL under a millisecond is accepted (rounded up, never to zero) and expires.
pub async fn check_sub_millisecond_ttl_is_rounded_up(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let key = fx.ns.key("tiny-ttl");
        fx.cache
            .set(&key, b"v", Duration::from_micros(1))
            .await
            .must("set with a 1 µs TTL")?;
        let rounded = Duration::from_millis(1);
        wait_until_gone(&fx, &key, rounded, "1 µs TTL, rounded up to 1 ms").await
    })
    .await
}

/// A zero TTL is refused with `InvalidTtl` by every writing call, which write nothing.
pub async fn check_zero_ttl_is_invalid(factory: &dyn CacheFactory) -> CheckResult {
    invalid_ttl_is_refused(factory, Duration::ZERO, "zero TTL").await
}

/// A TTL over `MAX_TTL` is refused with `InvalidTtl`; `MAX_TTL` itself is accepted.
pub async fn check_ttl_over_max_is_invalid(factory: &dyn CacheFactory) -> CheckResult {
    invalid_ttl_is_refused(
        factory,
        MAX_TTL + Duration::from_millis(1),
        "TTL over MAX_TTL",
    )
    .await?;
    with_fixture(factory, |fx| async move {
        let key = fx.ns.key("max-ttl");
        fx.cache
            .set(&key, b"v", MAX_TTL)
            .await
            .must("set with MAX_TTL")?;
        expect_value(&*fx.cache, &key, b"v", "after set with MAX_TTL").await?;
        fx.cache.delete(&key).await.must("delete")?;
        Ok(())
    })
    .await
}

async fn invalid_ttl_is_refused(
    factory: &dyn CacheFactory,
    ttl: Duration,
    what: &str,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let k = fx.ns.key("k");
        let (a, b) = (fx.ns.key("many-a"), fx.ns.key("many-b"));
        let bad = ErrorKind::InvalidTtl;
        c.set(&k, b"v", ttl)
            .await
            .must_fail(bad, &format!("set with {what}"))?;
        c.get_or_set(&k, b"v", ttl)
            .await
            .must_fail(bad, &format!("get_or_set with {what}"))?;
        c.compare_and_set(&k, None, b"v", ttl)
            .await
            .must_fail(bad, &format!("compare_and_set with {what}"))?;
        c.incr_by(&k, 1, ttl)
            .await
            .must_fail(bad, &format!("incr_by with {what}"))?;
        c.set_many(&[(a.as_str(), b"1".as_slice()), (b.as_str(), b"2")], ttl)
            .await
            .must_fail(bad, &format!("set_many with {what}"))?;
        for key in [&k, &a, &b] {
            expect_absent(c, key, &format!("after writes refused for {what}")).await?;
        }
        let window_err = RateLimitRule::sliding(1, ttl)
            .validate()
            .expect_err("the rule is invalid");
        c.rate_limit(&k, &RateLimitRule::sliding(1, ttl))
            .await
            .must_fail(
                window_err.kind(),
                &format!("rate_limit with a window of {what}"),
            )?;
        Ok(())
    })
    .await
}

/// Empty keys and keys over `MAX_KEY_BYTES` are refused with `InvalidKey` by
/// every call that takes keys; a key of exactly `MAX_KEY_BYTES` works.
pub async fn check_empty_and_oversized_keys_are_invalid(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let longest = format!(
            "{}{}",
            fx.ns.prefix(),
            "k".repeat(MAX_KEY_BYTES - fx.ns.prefix().len())
        );
        let too_long = format!("{longest}k");
        let good = fx.ns.key("good");
        let bad = ErrorKind::InvalidKey;
        for (key, what) in [
            ("", "an empty key"),
            (too_long.as_str(), "a key over MAX_KEY_BYTES"),
        ] {
            let w = |op: &str| format!("{op} with {what}");
            c.get(key).await.must_fail(bad, &w("get"))?;
            c.set(key, b"v", LONG_TTL).await.must_fail(bad, &w("set"))?;
            c.delete(key).await.must_fail(bad, &w("delete"))?;
            c.get_or_set(key, b"v", LONG_TTL)
                .await
                .must_fail(bad, &w("get_or_set"))?;
            c.compare_and_set(key, None, b"v", LONG_TTL)
                .await
                .must_fail(bad, &w("compare_and_set"))?;
            c.compare_and_delete(key, b"v")
                .await
                .must_fail(bad, &w("compare_and_delete"))?;
            c.incr_by(key, 1, LONG_TTL)
                .await
                .must_fail(bad, &w("incr_by"))?;
            c.get_many(&[good.as_str(), key])
                .await
                .must_fail(bad, &w("get_many"))?;
            c.set_many(&[(good.as_str(), b"v".as_slice()), (key, b"v")], LONG_TTL)
                .await
                .must_fail(bad, &w("set_many"))?;
            expect_absent(c, &good, &w("set_many refused")).await?;
            c.delete_many(&[good.as_str(), key])
                .await
                .must_fail(bad, &w("delete_many"))?;
            c.rate_limit(key, &RateLimitRule::fixed(1, LONG_TTL))
                .await
                .must_fail(bad, &w("rate_limit"))?;
        }
        c.set(&longest, b"v", LONG_TTL)
            .await
            .must("set with a key of exactly MAX_KEY_BYTES")?;
        expect_value(c, &longest, b"v", "key of exactly MAX_KEY_BYTES").await
    })
    .await
}

/// Keys with NUL, non-ASCII, newlines and glob characters, and values with
/// every byte, empty and 1 MiB long, round-trip unchanged through every path.
pub async fn check_keys_and_values_are_binary_safe(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let suffixes = [
            "nul\0byte",
            "\u{ff}y-umlaut",
            "new\nline",
            "cr\r\nlf",
            "tab\there",
            "glob*?[]\\^-",
            "space key",
            "emoji-🦀",
            "{hash}tag",
            "%s%n",
        ];
        let keys: Vec<String> = suffixes.iter().map(|s| fx.ns.key(s)).collect();
        let all_bytes: Vec<u8> = (0..=255u8).collect();
        let mib: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
        let values: Vec<&[u8]> = vec![
            b"\x00",
            b"\xff\xfe",
            b"",
            &all_bytes,
            &mib,
            b"\r\n",
            b"\x00\x00\x00",
            b"-1",
            b"nil",
            b"$5\r\n",
        ];
        for (key, value) in keys.iter().zip(&values) {
            c.set(key, value, LONG_TTL)
                .await
                .must(&format!("set({key:?})"))?;
            expect_value(c, key, value, "after set").await?;
        }
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let got = c.get_many(&refs).await.must("get_many of binary keys")?;
        for ((key, value), got) in keys.iter().zip(&values).zip(&got) {
            match got {
                Some(v) if v.as_ref() == *value => {}
                other => fail!(
                    "get_many: expected {key:?} to hold {}, got {}",
                    show(value),
                    other.as_ref().map_or("None".to_owned(), |v| show(v))
                ),
            }
        }
        // Listing returns the keys exactly as written.
        let mut listed = scan_all(c, &fx.ns.pattern("*"), 100).await?;
        listed.sort();
        // Repeats are the listing check's business (a shared server may cause them).
        listed.dedup();
        let mut expected = keys.clone();
        expected.sort();
        ensure!(
            listed == expected,
            "scan_keys of binary keys: expected {expected:?}, got {listed:?}"
        );
        let deleted = c
            .delete_many(&refs)
            .await
            .must("delete_many of binary keys")?;
        ensure!(
            deleted == keys.len() as u64,
            "delete_many of binary keys: expected {}, got {deleted}",
            keys.len()
        );
        Ok(())
    })
    .await
}

/// The empty byte string is a value, not a miss.
pub async fn check_empty_value_is_stored_not_a_miss(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let key = fx.ns.key("empty");
        c.set(&key, b"", LONG_TTL)
            .await
            .must("set of an empty value")?;
        expect_value(c, &key, b"", "after set of an empty value").await?;
        let (v, stored) = c
            .get_or_set(&key, b"other", LONG_TTL)
            .await
            .must("get_or_set")?;
        ensure!(
            !stored && v.is_empty(),
            "get_or_set over an empty value: expected (b\"\", false), got ({}, {stored})",
            show(&v)
        );
        let got = c.get_many(&[key.as_str()]).await.must("get_many")?;
        ensure!(
            matches!(got.as_slice(), [Some(v)] if v.is_empty()),
            "get_many of an empty value: expected [Some(b\"\")], got {got:?}"
        );
        Ok(())
    })
    .await
}
