//! Calls over many keys: batches, listing and pattern deletion. The keys of
//! every check are many and unrelated, so on a cluster they land on many slots.

use std::collections::BTreeMap;

use cache_core::ErrorKind;
use cache_core::pattern::escape;

use super::CacheFactory;
use super::support::{
    CheckError, CheckResult, LONG_TTL, Outcome, ensure, expect_absent, expect_value, fail,
    scan_all, show, with_fixture,
};

/// `get_many` answers in the order asked, `None` for each miss, duplicates included.
pub async fn check_get_many_keeps_order_and_reports_misses(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let keys: Vec<String> = (0..40).map(|i| fx.ns.key(&format!("k{i}"))).collect();
        for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
            c.set(key, format!("v{i}").as_bytes(), LONG_TTL)
                .await
                .must("set")?;
        }
        // Reversed, with a repeat of the first key asked at the end.
        let mut asked: Vec<&str> = keys.iter().rev().map(String::as_str).collect();
        asked.push(asked[0]);
        let got = c.get_many(&asked).await.must("get_many")?;
        ensure!(
            got.len() == asked.len(),
            "get_many of {} keys: expected {} answers, got {}",
            asked.len(),
            asked.len(),
            got.len()
        );
        for (key, answer) in asked.iter().zip(&got) {
            let i = keys
                .iter()
                .position(|k| k == key)
                .expect("asked keys come from keys");
            let expected = (i % 3 != 0).then(|| format!("v{i}"));
            let answer_text = answer
                .as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned());
            ensure!(
                answer_text == expected,
                "get_many answer for {key:?}: expected {expected:?}, got {answer_text:?}"
            );
        }
        Ok(())
    })
    .await
}

/// Everything `set_many` writes, `get_many` reads back.
pub async fn check_set_many_then_get_many_round_trips(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let keys: Vec<String> = (0..64).map(|i| fx.ns.key(&format!("m{i}"))).collect();
        let values: Vec<Vec<u8>> = (0..64).map(|i| format!("value-{i}").into_bytes()).collect();
        let entries: Vec<(&str, &[u8])> = keys
            .iter()
            .map(String::as_str)
            .zip(values.iter().map(Vec::as_slice))
            .collect();
        c.set_many(&entries, LONG_TTL).await.must("set_many")?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let got = c.get_many(&refs).await.must("get_many")?;
        for ((key, value), answer) in entries.iter().zip(&got) {
            match answer {
                Some(v) if v.as_ref() == *value => {}
                other => fail!(
                    "get_many after set_many: expected {key:?} = {}, got {}",
                    show(value),
                    other.as_ref().map_or("None".to_owned(), |v| show(v))
                ),
            }
        }
        ensure!(
            got.len() == keys.len(),
            "get_many: expected {} answers, got {}",
            keys.len(),
            got.len()
        );
        Ok(())
    })
    .await
}

/// `set_many` with one invalid key writes nothing.
pub async fn check_set_many_validates_before_writing(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let keys: Vec<String> = (0..10).map(|i| fx.ns.key(&format!("s{i}"))).collect();
        let mut entries: Vec<(&str, &[u8])> =
            keys.iter().map(|k| (k.as_str(), &b"v"[..])).collect();
        entries.insert(5, ("", b"v"));
        c.set_many(&entries, LONG_TTL).await.must_fail(
            ErrorKind::InvalidKey,
            "set_many with an empty key among valid ones",
        )?;
        for key in &keys {
            expect_absent(c, key, "after a refused set_many").await?;
        }
        Ok(())
    })
    .await
}

/// `delete_many` returns how many of the keys held a value and removes them.
pub async fn check_delete_many_counts_deleted_keys(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let keys: Vec<String> = (0..50).map(|i| fx.ns.key(&format!("d{i}"))).collect();
        for key in keys.iter().step_by(5).chain(keys.iter().skip(1).step_by(5)) {
            c.set(key, b"v", LONG_TTL).await.must("set")?;
        }
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let deleted = c.delete_many(&refs).await.must("delete_many")?;
        ensure!(
            deleted == 20,
            "delete_many over 20 present and 30 absent keys: expected 20, got {deleted}"
        );
        let got = c.get_many(&refs).await.must("get_many after delete_many")?;
        ensure!(
            got.iter().all(Option::is_none),
            "get_many after delete_many: expected all None, got {} values",
            got.iter().filter(|v| v.is_some()).count()
        );
        let again = c.delete_many(&refs).await.must("second delete_many")?;
        ensure!(
            again == 0,
            "delete_many of deleted keys: expected 0, got {again}"
        );
        Ok(())
    })
    .await
}

/// Batch calls with no keys are valid and do nothing.
pub async fn check_batch_calls_accept_no_keys(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let got = c.get_many(&[]).await.must("get_many(&[])")?;
        ensure!(got.is_empty(), "get_many(&[]): expected [], got {got:?}");
        c.set_many(&[], LONG_TTL).await.must("set_many(&[])")?;
        let n = c.delete_many(&[]).await.must("delete_many(&[])")?;
        ensure!(n == 0, "delete_many(&[]): expected 0, got {n}");
        Ok(())
    })
    .await
}

/// Paging through 300 keys 20 at a time lists each exactly once and nothing
/// that does not match; a pattern that matches nothing lists nothing.
pub async fn check_scan_keys_lists_every_match_exactly_once(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let wanted: Vec<String> = (0..300).map(|i| fx.ns.key(&format!("scan:{i}"))).collect();
        let others: Vec<String> = (0..30).map(|i| fx.ns.key(&format!("other:{i}"))).collect();
        for chunk in wanted.chunks(50).chain(others.chunks(50)) {
            let entries: Vec<(&str, &[u8])> =
                chunk.iter().map(|k| (k.as_str(), &b"v"[..])).collect();
            c.set_many(&entries, LONG_TTL).await.must("set_many")?;
        }
        // Our keys do not change during the scan, but on a shared server
        // other writers may make Redis shrink its table mid-scan, which may
        // repeat keys. A repeat that happens twice in a row is a bug.
        let mut attempt = 1;
        loop {
            let listed = scan_all(c, &fx.ns.pattern("scan:*"), 20).await?;
            let repeated = check_listing(&listed, &wanted)?;
            if repeated.is_empty() {
                break;
            }
            ensure!(
                attempt < 2,
                "scan_keys without writes to the scanned keys listed some more than once, in two \
                 runs: {repeated:?}"
            );
            attempt += 1;
        }
        let none = scan_all(c, &fx.ns.pattern("nothing-here:*"), 20).await?;
        ensure!(
            none.is_empty(),
            "scan_keys of a pattern that matches nothing: expected [], got {none:?}"
        );
        Ok(())
    })
    .await
}

/// Fails on keys listed that are not `wanted` or `wanted` keys missing;
/// returns the keys listed more than once, with their counts.
fn check_listing(listed: &[String], wanted: &[String]) -> Result<Vec<(String, usize)>, CheckError> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for key in listed {
        *counts.entry(key.as_str()).or_default() += 1;
    }
    let unexpected: Vec<&&str> = counts
        .keys()
        .filter(|k| !wanted.iter().any(|w| w == **k))
        .collect();
    ensure!(
        unexpected.is_empty(),
        "scan_keys listed keys that do not match: {unexpected:?}"
    );
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !counts.contains_key(w.as_str()))
        .collect();
    ensure!(
        missing.is_empty(),
        "scan_keys missed {} of {} keys, e.g. {:?}",
        missing.len(),
        wanted.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    Ok(counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| (k.to_owned(), n))
        .collect())
}

/// Glob metacharacters in keys are matched literally once escaped with
/// `cache_core::pattern::escape`, by `scan_keys` and `delete_pattern` alike.
pub async fn check_escaped_glob_characters_match_literally(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let names = [
            "a*b", "a?b", "a[b]", "a\\b", "a^b", "a-b", "aXb", "ab", "a[bc]",
        ];
        for name in names {
            c.set(&fx.ns.key(name), name.as_bytes(), LONG_TTL)
                .await
                .must("set")?;
        }
        for name in names {
            let exact = escape(&fx.ns.key(name));
            let listed = scan_all(c, &exact, 100).await?;
            ensure!(
                listed == [fx.ns.key(name)],
                "scan_keys with escaped pattern {exact:?}: expected only {:?}, got {listed:?}",
                fx.ns.key(name)
            );
        }
        let target = fx.ns.key("a[b]");
        let deleted = c
            .delete_pattern(&escape(&target))
            .await
            .must("delete_pattern")?;
        ensure!(
            deleted == 1,
            "delete_pattern of escaped {target:?}: expected 1 deletion, got {deleted}"
        );
        expect_absent(c, &target, "after delete_pattern of its escaped name").await?;
        for name in names.iter().filter(|n| **n != "a[b]") {
            expect_value(
                c,
                &fx.ns.key(name),
                name.as_bytes(),
                "after deleting a neighbour by pattern",
            )
            .await?;
        }
        Ok(())
    })
    .await
}

/// `delete_pattern` deletes the matching keys, returns how many, and leaves the rest.
pub async fn check_delete_pattern_removes_only_matching_keys(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let c = &*fx.cache;
        let doomed: Vec<String> = (0..120)
            .map(|i| fx.ns.key(&format!("doomed:{i}")))
            .collect();
        let kept: Vec<String> = (0..20).map(|i| fx.ns.key(&format!("kept:{i}"))).collect();
        for chunk in doomed.chunks(40).chain(kept.chunks(40)) {
            let entries: Vec<(&str, &[u8])> =
                chunk.iter().map(|k| (k.as_str(), &b"v"[..])).collect();
            c.set_many(&entries, LONG_TTL).await.must("set_many")?;
        }
        let deleted = c
            .delete_pattern(&fx.ns.pattern("doomed:*"))
            .await
            .must("delete_pattern")?;
        ensure!(
            deleted == 120,
            "delete_pattern over 120 matching keys: expected 120, got {deleted}"
        );
        let refs: Vec<&str> = doomed.iter().map(String::as_str).collect();
        let left = c
            .get_many(&refs)
            .await
            .must("get_many")?
            .into_iter()
            .flatten()
            .count();
        ensure!(
            left == 0,
            "after delete_pattern: expected no matching key left, {left} remain"
        );
        let refs: Vec<&str> = kept.iter().map(String::as_str).collect();
        let kept_now = c
            .get_many(&refs)
            .await
            .must("get_many")?
            .into_iter()
            .flatten()
            .count();
        ensure!(
            kept_now == 20,
            "after delete_pattern: expected 20 non-matching keys kept, got {kept_now}"
        );
        let again = c
            .delete_pattern(&fx.ns.pattern("doomed:*"))
            .await
            .must("second delete_pattern")?;
        ensure!(
            again == 0,
            "delete_pattern with nothing matching: expected 0, got {again}"
        );
        Ok(())
    })
    .await
}
