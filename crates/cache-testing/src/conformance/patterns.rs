//! The pattern suite: scenarios of `cache-patterns` that must behave the same
//! on every backend, written once and run on each (the in-memory backend in
//! `cache-patterns`' tests, Redis in the workspace tests).
//!
//! Each scenario takes a [`CacheFactory`], works in its own key namespace and
//! races many tasks against one backend instance, the way production load
//! does. Run them all with [`run_patterns`] or one test each with
//! [`pattern_tests!`](crate::pattern_tests):
//!
//! ```
//! use std::sync::Arc;
//! use cache_core::Cache;
//! use cache_memory::MemoryCache;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
//! let factory = || async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> };
//! let report = cache_testing::conformance::patterns::run_patterns(&factory).await;
//! assert!(report.is_ok(), "{report}");
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_patterns::aside::CacheAside;
use cache_patterns::counter::Counter;
use cache_patterns::idempotency::{Claim, Idempotency};
use cache_patterns::lock::DistributedLock;
use cache_patterns::ratelimit::RateLimiter;

use super::support::{CheckResult, LONG_TTL, Outcome, ensure, fail, join_all, with_fixture};
use super::{Check, Report};
use crate::conformance::CacheFactory;

/// Concurrent callers in each scenario.
const CALLERS: usize = 1000;

/// `CALLERS` concurrent misses of one key run the loader once and all get its value.
pub async fn check_concurrent_get_or_load_runs_the_loader_once(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let aside = CacheAside::new(fx.cache.clone());
        let key = fx.ns.key("hot");
        let arrived = Arc::new(AtomicUsize::new(0));
        let loads = Arc::new(AtomicUsize::new(0));
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..CALLERS {
            let (aside, key, arrived, loads) =
                (aside.clone(), key.clone(), arrived.clone(), loads.clone());
            let mut go = go_rx.clone();
            tasks.push(tokio::spawn(async move {
                arrived.fetch_add(1, Ordering::SeqCst);
                aside
                    .get_or_load(&key, LONG_TTL, move || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        // Stay in flight until every caller has called.
                        let _ = go.wait_for(|go| *go).await;
                        Ok::<_, std::io::Error>("loaded once".to_owned())
                    })
                    .await
            }));
        }
        while arrived.load(Ordering::SeqCst) < CALLERS {
            tokio::task::yield_now().await;
        }
        // Every caller has entered get_or_load; give the last ones a moment
        // to reach the flight before the loader returns.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        go_tx.send_replace(true);
        for result in join_all(tasks, "get_or_load").await? {
            match result {
                Ok(value) if value == "loaded once" => {}
                Ok(other) => fail!("a caller got {other:?} instead of the loaded value"),
                Err(e) => fail!("a caller failed: {e}"),
            }
        }
        let loads = loads.load(Ordering::SeqCst);
        ensure!(
            loads == 1,
            "{CALLERS} concurrent misses ran the loader {loads} times, not once"
        );
        Ok(())
    })
    .await
}

/// A rate limiter admits exactly its limit out of many concurrent requests,
/// for both algorithms.
pub async fn check_rate_limiter_admits_exactly_the_limit_under_concurrency(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        const LIMIT: u64 = 25;
        for limiter in [
            RateLimiter::sliding(fx.cache.clone(), LIMIT, LONG_TTL),
            RateLimiter::fixed(fx.cache.clone(), LIMIT, LONG_TTL),
        ] {
            let key = fx.ns.key(&format!("{:?}", limiter.rule().algorithm));
            let tasks = (0..CALLERS)
                .map(|_| {
                    let (limiter, key) = (limiter.clone(), key.clone());
                    tokio::spawn(async move { limiter.check(&key).await })
                })
                .collect();
            let mut admitted = 0;
            for decision in join_all(tasks, "rate limit").await? {
                admitted += u64::from(decision.must("rate limit check")?.allowed);
            }
            ensure!(
                admitted == LIMIT,
                "{:?}: {admitted} of {CALLERS} concurrent requests admitted, the limit is {LIMIT}",
                limiter.rule().algorithm
            );
        }
        Ok(())
    })
    .await
}

/// Of many concurrent claims of one idempotency key exactly one runs; its
/// completion is what a later claim replays.
pub async fn check_exactly_one_concurrent_idempotency_claim_runs(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let requests = Idempotency::new(fx.cache.clone()).prefix(fx.ns.key("idem:"));
        let tasks = (0..CALLERS)
            .map(|_| {
                let requests = requests.clone();
                tokio::spawn(async move { requests.claim::<String>("req-42", None).await })
            })
            .collect();
        let mut tickets = Vec::new();
        for claim in join_all(tasks, "claim").await? {
            if let Claim::First(ticket) = claim.must("claim")? {
                tickets.push(ticket);
            }
        }
        ensure!(
            tickets.len() == 1,
            "{} of {CALLERS} concurrent claims ran first, not one",
            tickets.len()
        );
        let ticket = tickets.pop().expect("one ticket");
        ensure!(
            requests
                .complete(ticket, "created")
                .await
                .must("complete")?,
            "completing the first claim reported that it was no longer held"
        );
        let again = requests
            .claim::<String>("req-42", None)
            .await
            .must("claim again")?;
        ensure!(
            again == Claim::Completed("created".to_owned()),
            "a claim after completion got {again:?}, not the stored response"
        );
        Ok(())
    })
    .await
}

/// Concurrent increments of a counter lose nothing.
pub async fn check_counter_increments_lose_nothing(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        const TASKS: usize = 10;
        const EACH: usize = 50;
        let counter = Counter::new(fx.cache.clone(), fx.ns.key("views"), LONG_TTL);
        let tasks = (0..TASKS)
            .map(|_| {
                let counter = counter.clone();
                tokio::spawn(async move {
                    for _ in 0..EACH {
                        counter.incr().await?;
                    }
                    Ok::<_, cache_core::CacheError>(())
                })
            })
            .collect();
        for done in join_all(tasks, "increments").await? {
            done.must("incr")?;
        }
        let total = counter.get().await.must("get")?;
        ensure!(
            total == (TASKS * EACH) as i64,
            "{TASKS}×{EACH} concurrent increments gave {total}"
        );
        let after = counter.decr_by(100).await.must("decr_by")?;
        ensure!(
            after == total - 100,
            "decr_by(100) from {total} gave {after}"
        );
        Ok(())
    })
    .await
}

/// Of many concurrent `try_acquire`s of one lock exactly one wins, and after
/// its release the lock can be taken again.
pub async fn check_one_lock_holder_at_a_time(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let locks = DistributedLock::new(fx.cache.clone()).prefix(fx.ns.key("lock:"));
        let tasks = (0..CALLERS)
            .map(|_| {
                let locks = locks.clone();
                tokio::spawn(async move { locks.try_acquire("job", LONG_TTL).await })
            })
            .collect();
        let mut guards = Vec::new();
        for attempt in join_all(tasks, "try_acquire").await? {
            if let Some(guard) = attempt.must("try_acquire")? {
                guards.push(guard);
            }
        }
        ensure!(
            guards.len() == 1,
            "{} of {CALLERS} concurrent try_acquire calls won the lock, not one",
            guards.len()
        );
        let guard = guards.pop().expect("one guard");
        ensure!(
            guard.release().await.must("release")?,
            "the holder's release reported the lock was not held"
        );
        let again = locks
            .try_acquire("job", Duration::from_secs(5))
            .await
            .must("re-acquire")?;
        ensure!(
            again.is_some(),
            "the lock could not be taken after its release"
        );
        Ok(())
    })
    .await
}

#[doc(hidden)]
#[macro_export]
macro_rules! __pattern_checks {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { ($($args)*)
            concurrent_get_or_load_runs_the_loader_once => check_concurrent_get_or_load_runs_the_loader_once,
            rate_limiter_admits_exactly_the_limit_under_concurrency => check_rate_limiter_admits_exactly_the_limit_under_concurrency,
            exactly_one_concurrent_idempotency_claim_runs => check_exactly_one_concurrent_idempotency_claim_runs,
            counter_increments_lose_nothing => check_counter_increments_lose_nothing,
            one_lock_holder_at_a_time => check_one_lock_holder_at_a_time,
        }
    };
}

__pattern_checks!(__conformance_registry!(PATTERN_CHECKS));

/// Expands to one `#[tokio::test]` (multi-threaded, 4 workers) per pattern
/// scenario, each against a fresh instance from `$factory`.
///
/// ```no_run
/// // tests/patterns_on_mine.rs
/// use std::sync::Arc;
/// use cache_core::Cache;
/// use cache_memory::MemoryCache;
///
/// cache_testing::pattern_tests!(|| async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> });
/// ```
#[macro_export]
macro_rules! pattern_tests {
    ($factory:expr $(,)?) => {
        $crate::__pattern_checks!(__conformance_test_fns!($factory));
    };
}

/// Runs every scenario of [`PATTERN_CHECKS`] against `factory`.
pub async fn run_patterns(factory: &dyn CacheFactory) -> Report {
    super::run_list(PATTERN_CHECKS, factory, |_| true).await
}
