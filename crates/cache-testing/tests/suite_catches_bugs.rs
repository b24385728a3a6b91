//! The conformance suite fails backends that break the contract, and says why.
//!
//! Each test plants one bug in an otherwise correct cache (`MemoryCache`, on a
//! manual clock unless the test is about waiting on real time) and checks
//! that the check for that behaviour fails with a useful message.

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Bytes, Cache, CacheLayer, CacheStats, KeyPage, Result, ScanCursor};
use cache_memory::{ManualClock, MemoryCache};
use cache_testing::conformance::{self, CacheFactory, OnManualClock, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    DeleteAlwaysReportsTrue,
    GetOrSetIsReadThenWrite,
    SetIgnoresTtl,
    SetHalvesTtl,
    ZeroTtlBecomesOneMillisecond,
    ScanRepeatsTheFirstPage,
    CloseDoesNothing,
    HealthPanics,
    MissesAreNotCounted,
    ExistsCountsDistinctKeys,
    ExpireAddsToTheTtl,
    PersistIsIgnored,
}

#[derive(Debug)]
struct Buggy {
    inner: MemoryCache,
    bug: Bug,
}

/// Only the methods with a bug are written; the rest are `MemoryCache`'s.
impl CacheLayer for Buggy {
    type Inner = MemoryCache;

    fn inner(&self) -> &MemoryCache {
        &self.inner
    }

    async fn set(this: &Self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let ttl = match this.bug {
            Bug::SetIgnoresTtl => Duration::from_secs(3600),
            Bug::SetHalvesTtl => ttl / 2,
            Bug::ZeroTtlBecomesOneMillisecond if ttl.is_zero() => Duration::from_millis(1),
            _ => ttl,
        };
        this.inner.set(key, value, ttl).await
    }
    async fn delete(this: &Self, key: &str) -> Result<bool> {
        let existed = this.inner.delete(key).await?;
        Ok(existed || this.bug == Bug::DeleteAlwaysReportsTrue)
    }
    async fn get_or_set(
        this: &Self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(Bytes, bool)> {
        if this.bug != Bug::GetOrSetIsReadThenWrite {
            return this.inner.get_or_set(key, value, ttl).await;
        }
        match this.inner.get(key).await? {
            Some(existing) => Ok((existing, false)),
            None => {
                // Long enough for every racer to read before the first writes.
                tokio::time::sleep(Duration::from_millis(100)).await;
                this.inner.set(key, value, ttl).await?;
                Ok((Bytes::copy_from_slice(value), true))
            }
        }
    }
    async fn scan_keys(
        this: &Self,
        pattern: &str,
        cursor: &ScanCursor,
        count: usize,
    ) -> Result<KeyPage> {
        if this.bug == Bug::ScanRepeatsTheFirstPage && !cursor.is_start() {
            let first = this
                .inner
                .scan_keys(pattern, &ScanCursor::start(), count)
                .await?;
            let rest = this.inner.scan_keys(pattern, cursor, count).await?;
            let mut keys = first.keys;
            keys.extend(rest.keys);
            return Ok(KeyPage::new(keys, rest.next));
        }
        this.inner.scan_keys(pattern, cursor, count).await
    }
    async fn exists(this: &Self, keys: &[&str]) -> Result<u64> {
        if this.bug != Bug::ExistsCountsDistinctKeys {
            return this.inner.exists(keys).await;
        }
        let mut distinct = keys.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        this.inner.exists(&distinct).await
    }
    async fn expire(this: &Self, key: &str, ttl: Duration) -> Result<bool> {
        let ttl = match (this.bug, this.inner.remaining_ttl(key)) {
            (Bug::ExpireAddsToTheTtl, Some(left)) => ttl + left,
            _ => ttl,
        };
        this.inner.expire(key, ttl).await
    }
    async fn persist(this: &Self, key: &str) -> Result<bool> {
        if this.bug == Bug::PersistIsIgnored {
            return Ok(this.inner.exists(&[key]).await? == 1);
        }
        this.inner.persist(key).await
    }
    async fn health(this: &Self) -> Result<()> {
        assert!(this.bug != Bug::HealthPanics, "health blew up");
        this.inner.health().await
    }
    fn stats(this: &Self) -> CacheStats {
        let mut stats = this.inner.stats();
        if this.bug == Bug::MissesAreNotCounted {
            stats.misses = 0;
        }
        stats
    }
    async fn close(this: &Self) -> Result<()> {
        if this.bug == Bug::CloseDoesNothing {
            return Ok(());
        }
        this.inner.close().await
    }
}

/// Caches with `bug` on a manual clock each.
fn factory(bug: Bug) -> impl CacheFactory {
    OnManualClock::new(move |clock: ManualClock| async move {
        let inner = MemoryCache::builder().clock(clock).build().unwrap();
        Arc::new(Buggy { inner, bug }) as Arc<dyn Cache>
    })
}

/// Caches with `bug` on real time.
fn real_time_factory(bug: Bug) -> impl CacheFactory {
    move || async move {
        let inner = MemoryCache::new();
        Arc::new(Buggy { inner, bug }) as Arc<dyn Cache>
    }
}

/// Runs only `check` against a cache with `bug` and returns its failure message.
async fn failure_of(bug: Bug, check: &str) -> String {
    failure_from(&factory(bug), bug, check).await
}

async fn failure_from(factory: &dyn CacheFactory, bug: Bug, check: &str) -> String {
    let report = conformance::run_checks(factory, |name| name == check).await;
    assert_eq!(
        report.passed.len() + report.failed.len(),
        1,
        "no check named {check}"
    );
    match report.failed.as_slice() {
        [failure] => failure.message.clone(),
        _ => panic!("{check} passed against a cache with {bug:?}"),
    }
}

/// Each planted bug is caught by the check written for it, whose message says
/// what went wrong (every expected fragment appears).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_planted_bug_fails_its_check_with_a_clear_message() {
    let cases: [(Bug, &str, &[&str]); 12] = [
        (
            Bug::DeleteAlwaysReportsTrue,
            "delete_reports_whether_the_key_existed",
            &["expected false, got true"],
        ),
        (
            Bug::GetOrSetIsReadThenWrite,
            "get_or_set_is_atomic",
            &["expected exactly one to store"],
        ),
        // Caught at once on a manual clock, without waiting.
        (
            Bug::SetIgnoresTtl,
            "entries_expire_after_their_ttl",
            &[
                "to expire",
                "once the manual clock advanced by 150ms",
                "still holds",
            ],
        ),
        (
            Bug::SetHalvesTtl,
            "entries_expire_after_their_ttl",
            &["to live until its TTL", "advanced by 149ms"],
        ),
        (
            Bug::ZeroTtlBecomesOneMillisecond,
            "zero_ttl_is_invalid",
            &["expected an InvalidTtl error, got Ok"],
        ),
        (
            Bug::ScanRepeatsTheFirstPage,
            "scan_keys_lists_every_match_exactly_once",
            &["more than once"],
        ),
        (
            Bug::CloseDoesNothing,
            "closed_cache_refuses_every_call",
            &["expected a Closed error, got Ok"],
        ),
        // A panicking backend fails its check instead of the run.
        (
            Bug::HealthPanics,
            "health_is_ok",
            &["panicked", "health blew up"],
        ),
        (
            Bug::MissesAreNotCounted,
            "stats_count_hits_misses_and_operations",
            &["expected (hits, misses"],
        ),
        (
            Bug::ExistsCountsDistinctKeys,
            "exists_counts_keys_that_hold_a_value",
            &["expected 21, got 20"],
        ),
        (
            Bug::ExpireAddsToTheTtl,
            "expire_replaces_the_ttl_and_keeps_the_value",
            &["to expire"],
        ),
        (
            Bug::PersistIsIgnored,
            "persisted_key_outlives_its_ttl",
            &["got a miss"],
        ),
    ];
    for (bug, check, fragments) in cases {
        let msg = failure_of(bug, check).await;
        for fragment in fragments {
            assert!(msg.contains(fragment), "{bug:?} / {check}: {msg}");
        }
    }
}

#[tokio::test]
async fn entries_that_never_expire_are_caught_on_real_time() {
    let started = tokio::time::Instant::now();
    let check = "entries_expire_after_their_ttl";
    let msg = failure_from(
        &real_time_factory(Bug::SetIgnoresTtl),
        Bug::SetIgnoresTtl,
        check,
    )
    .await;
    assert!(
        msg.contains("to expire") && msg.contains("still holds"),
        "{msg}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "waited the whole deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_names_every_failed_check_and_passes_the_rest() {
    let report: Report = conformance::run_all(&factory(Bug::DeleteAlwaysReportsTrue)).await;
    let failed: Vec<&str> = report.failed.iter().map(|f| f.check).collect();
    assert_eq!(
        failed,
        ["delete_reports_whether_the_key_existed"],
        "{report}"
    );
    assert_eq!(report.passed.len(), conformance::CHECKS.len() - 1);
    let shown = report.to_string();
    assert!(
        shown.contains("FAILED delete_reports_whether_the_key_existed"),
        "{shown}"
    );
}

#[tokio::test]
async fn every_check_has_a_distinct_name() {
    let mut names: Vec<&str> = conformance::CHECKS.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), conformance::CHECKS.len());
}
