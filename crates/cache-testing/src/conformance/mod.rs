//! The conformance suite: the behaviour every [`Cache`] backend must show.
//!
//! Each check is a `pub async fn check_<behaviour>(&dyn CacheFactory) ->
//! CheckResult` that asks the factory for a **fresh** cache instance, works in
//! its own random key namespace (`ct:<random>:`), and never assumes the
//! keyspace is empty: backends may be servers shared by all checks at once
//! and by other tests. Every key it writes carries a TTL of at most two
//! minutes, and it deletes its namespace and closes its instance when done.
//!
//! Run the whole suite with [`run_all`], or get one test per check with
//! [`conformance_tests!`](crate::conformance_tests):
//!
//! ```
//! use std::sync::Arc;
//! use cache_core::Cache;
//! use cache_memory::MemoryCache;
//! use cache_testing::conformance::{self, OnManualClock};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // On a manual clock: the expiry checks advance it instead of waiting.
//! let report = conformance::run_all(&OnManualClock::new(|clock| async move {
//!     Arc::new(MemoryCache::builder().clock(clock).build().unwrap()) as Arc<dyn Cache>
//! }))
//! .await;
//! assert!(report.is_ok(), "{report}");
//! # }
//! ```
//!
//! # Time
//! On real time, a check about expiry polls until the entry is gone (up to
//! ten seconds). A factory whose instances run on a [`ManualClock`] says so
//! through [`CacheFactory::instance`] (see [`OnManualClock`]); those checks
//! are then exact and take no time: the entry must still be there a
//! millisecond before its TTL has passed and gone once it has, and retries
//! that wait for a rate-limit window advance the clock in 10 ms steps
//! instead of sleeping.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cache_core::Cache;
use cache_memory::ManualClock;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};

mod atomic;
mod basic;
mod batch;
mod collections;
mod hashes;
mod keys;
pub mod patterns;
mod service;
mod support;

pub use atomic::*;
pub use basic::*;
pub use batch::*;
pub use collections::*;
pub use hashes::*;
pub use keys::*;
pub use patterns::*;
pub use service::*;
pub use support::{CheckError, CheckResult, Namespace};

/// The longest a single check may run before it counts as failed (a hung
/// backend must fail the suite, not hang it).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// How many checks [`run_all`] runs at once.
const PARALLEL_CHECKS: usize = 4;

/// Makes a fresh cache instance for each check.
///
/// Implemented for every `Fn() -> impl Future<Output = Arc<dyn Cache>>`, so a
/// factory is usually a closure:
///
/// ```
/// # use std::sync::Arc;
/// # use cache_core::Cache;
/// # use cache_memory::MemoryCache;
/// # use cache_testing::conformance::CacheFactory;
/// let factory = || async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> };
/// let _: &dyn CacheFactory = &factory;
/// ```
#[async_trait]
pub trait CacheFactory: Send + Sync {
    /// A new cache instance: fresh stats, not closed. It may talk to a server
    /// other instances share.
    async fn make(&self) -> Arc<dyn Cache>;

    /// A new instance for one check, with its clock if the checks may move
    /// it. By default [`make`](Self::make) on real time; [`OnManualClock`]
    /// gives each instance a [`ManualClock`] of its own.
    async fn instance(&self) -> Instance {
        Instance::new(self.make().await)
    }
}

/// A fresh cache for one check and, if it runs on a test clock, that clock
/// (see [`CacheFactory::instance`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Instance {
    /// The cache under test.
    pub cache: Arc<dyn Cache>,
    /// The clock the cache reads, if the checks move it instead of waiting.
    /// Nothing else may advance it during the check.
    pub clock: Option<ManualClock>,
}

impl Instance {
    /// An instance on real time: checks about expiry wait for it.
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        Instance { cache, clock: None }
    }

    /// An instance whose time is `clock`: checks about expiry advance it.
    pub fn on_manual_clock(cache: Arc<dyn Cache>, clock: ManualClock) -> Self {
        Instance {
            cache,
            clock: Some(clock),
        }
    }
}

/// A factory whose every instance runs on a new [`ManualClock`] of its own,
/// given to `make`; the checks advance it instead of waiting for TTLs.
///
/// ```no_run
/// // tests/conformance_fake.rs
/// use std::sync::Arc;
/// use cache_core::Cache;
/// use cache_memory::MemoryCache;
/// use cache_testing::conformance::OnManualClock;
///
/// cache_testing::conformance_tests!(OnManualClock::new(|clock| async move {
///     Arc::new(MemoryCache::builder().clock(clock).build().unwrap()) as Arc<dyn Cache>
/// }));
/// ```
pub struct OnManualClock<F> {
    make: F,
}

impl<F, Fut> OnManualClock<F>
where
    F: Fn(ManualClock) -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn Cache>> + Send,
{
    /// A factory calling `make` with each instance's clock.
    pub fn new(make: F) -> Self {
        OnManualClock { make }
    }
}

impl<F> fmt::Debug for OnManualClock<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnManualClock").finish_non_exhaustive()
    }
}

#[async_trait]
impl<F, Fut> CacheFactory for OnManualClock<F>
where
    F: Fn(ManualClock) -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn Cache>> + Send,
{
    async fn make(&self) -> Arc<dyn Cache> {
        self.instance().await.cache
    }

    async fn instance(&self) -> Instance {
        let clock = ManualClock::new();
        let cache = (self.make)(clock.clone()).await;
        Instance::on_manual_clock(cache, clock)
    }
}

#[async_trait]
impl<F, Fut> CacheFactory for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Arc<dyn Cache>> + Send,
{
    async fn make(&self) -> Arc<dyn Cache> {
        self().await
    }
}

/// A check's function, boxed so that checks can be listed.
pub type CheckFn = for<'a> fn(&'a dyn CacheFactory) -> BoxFuture<'a, CheckResult>;

/// One check of the suite.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Check {
    /// The behaviour checked, e.g. `get_or_set_is_atomic`.
    pub name: &'static str,
    /// Runs it.
    pub run: CheckFn,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// Calls `$callback!` with `($($args)*)` followed by `name => check_fn,` for
/// every check: the one list that [`CHECKS`] and
/// [`conformance_tests!`](crate::conformance_tests) are made from.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checks {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { ($($args)*)
            get_returns_what_set_stored => check_get_returns_what_set_stored,
            get_of_absent_key_is_not_found => check_get_of_absent_key_is_not_found,
            delete_reports_whether_the_key_existed => check_delete_reports_whether_the_key_existed,
            set_replaces_value_and_ttl => check_set_replaces_value_and_ttl,
            entries_expire_after_their_ttl => check_entries_expire_after_their_ttl,
            sub_millisecond_ttl_is_rounded_up => check_sub_millisecond_ttl_is_rounded_up,
            zero_ttl_is_invalid => check_zero_ttl_is_invalid,
            ttl_over_max_is_invalid => check_ttl_over_max_is_invalid,
            empty_and_oversized_keys_are_invalid => check_empty_and_oversized_keys_are_invalid,
            keys_and_values_are_binary_safe => check_keys_and_values_are_binary_safe,
            empty_value_is_stored_not_a_miss => check_empty_value_is_stored_not_a_miss,
            get_or_set_stores_only_when_absent => check_get_or_set_stores_only_when_absent,
            get_or_set_keeps_the_existing_ttl => check_get_or_set_keeps_the_existing_ttl,
            get_or_set_is_atomic => check_get_or_set_is_atomic,
            compare_and_set_none_only_sets_absent_keys => check_compare_and_set_none_only_sets_absent_keys,
            compare_and_set_replaces_only_the_expected_value => check_compare_and_set_replaces_only_the_expected_value,
            compare_and_set_tells_empty_from_absent => check_compare_and_set_tells_empty_from_absent,
            compare_and_set_applies_the_new_ttl => check_compare_and_set_applies_the_new_ttl,
            compare_and_set_none_is_atomic => check_compare_and_set_none_is_atomic,
            compare_and_set_loops_lose_no_update => check_compare_and_set_loops_lose_no_update,
            compare_and_delete_removes_only_the_expected_value => check_compare_and_delete_removes_only_the_expected_value,
            stale_lock_holder_cannot_release_the_new_lock => check_stale_lock_holder_cannot_release_the_new_lock,
            incr_by_counts_from_zero => check_incr_by_counts_from_zero,
            incr_by_ttl_applies_to_new_counters_only => check_incr_by_ttl_applies_to_new_counters_only,
            incr_by_is_atomic => check_incr_by_is_atomic,
            incr_by_on_non_integer_is_wrong_type => check_incr_by_on_non_integer_is_wrong_type,
            incr_by_overflow_is_an_error => check_incr_by_overflow_is_an_error,
            exists_counts_keys_that_hold_a_value => check_exists_counts_keys_that_hold_a_value,
            expire_replaces_the_ttl_and_keeps_the_value => check_expire_replaces_the_ttl_and_keeps_the_value,
            expire_refuses_an_invalid_ttl => check_expire_refuses_an_invalid_ttl,
            ttl_tells_absent_no_expiry_and_remaining => check_ttl_tells_absent_no_expiry_and_remaining,
            persisted_key_outlives_its_ttl => check_persisted_key_outlives_its_ttl,
            incr_by_gives_a_persisted_counter_a_ttl => check_incr_by_gives_a_persisted_counter_a_ttl,
            touch_counts_keys_and_keeps_their_ttl => check_touch_counts_keys_and_keeps_their_ttl,
            key_operations_refuse_invalid_keys => check_key_operations_refuse_invalid_keys,
            get_many_keeps_order_and_reports_misses => check_get_many_keeps_order_and_reports_misses,
            set_many_then_get_many_round_trips => check_set_many_then_get_many_round_trips,
            set_many_validates_before_writing => check_set_many_validates_before_writing,
            delete_many_counts_deleted_keys => check_delete_many_counts_deleted_keys,
            batch_calls_accept_no_keys => check_batch_calls_accept_no_keys,
            scan_keys_lists_every_match_exactly_once => check_scan_keys_lists_every_match_exactly_once,
            escaped_glob_characters_match_literally => check_escaped_glob_characters_match_literally,
            delete_pattern_removes_only_matching_keys => check_delete_pattern_removes_only_matching_keys,
            rate_limit_sliding_window_admits_up_to_the_limit => check_rate_limit_sliding_window_admits_up_to_the_limit,
            rate_limit_fixed_window_admits_up_to_the_limit => check_rate_limit_fixed_window_admits_up_to_the_limit,
            rate_limit_denied_requests_do_not_count => check_rate_limit_denied_requests_do_not_count,
            rate_limit_is_atomic => check_rate_limit_is_atomic,
            rate_limit_refuses_a_zero_limit => check_rate_limit_refuses_a_zero_limit,
            published_messages_reach_subscribers => check_published_messages_reach_subscribers,
            health_is_ok => check_health_is_ok,
            stats_count_hits_misses_and_operations => check_stats_count_hits_misses_and_operations,
            closed_cache_refuses_every_call => check_closed_cache_refuses_every_call,
            close_ends_subscriptions => check_close_ends_subscriptions,
            sets_add_remove_contain_and_count => check_sets_add_remove_contain_and_count,
            set_members_pages_through_a_large_set => check_set_members_pages_through_a_large_set,
            hashes_set_get_and_delete_fields => check_hashes_set_get_and_delete_fields,
            hash_incr_by_counts_atomically => check_hash_incr_by_counts_atomically,
            collections_get_a_ttl_and_keep_it => check_collections_get_a_ttl_and_keep_it,
            collections_are_keys_to_the_key_calls => check_collections_are_keys_to_the_key_calls,
            collections_refuse_the_wrong_type => check_collections_refuse_the_wrong_type,
            collections_refuse_invalid_calls => check_collections_refuse_invalid_calls,
            hash_field_ttl_works_where_supported => check_hash_field_ttl_works_where_supported,
            closed_cache_refuses_collection_calls => check_closed_cache_refuses_collection_calls,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_registry {
    (($list:ident) $($name:ident => $check:ident,)*) => {
        /// Every check of the suite, in a stable order.
        pub static $list: &[Check] = &[
            $(Check { name: stringify!($name), run: |f| Box::pin($check(f)) },)*
        ];
    };
}

__conformance_checks!(__conformance_registry!(CHECKS));

/// Expands to one `#[tokio::test]` (multi-threaded, 4 workers) per check,
/// named for the behaviour, each running it against a fresh instance from
/// `$factory` (an expression evaluated in each test, any [`CacheFactory`]).
///
/// The calling crate needs `tokio` (features `macros`, `rt-multi-thread`) as
/// a dev-dependency. To run the suite against several backends in one file,
/// invoke it once per module.
///
/// ```no_run
/// // tests/conformance_mine.rs
/// use std::sync::Arc;
/// use cache_core::Cache;
/// use cache_memory::MemoryCache;
///
/// cache_testing::conformance_tests!(|| async { Arc::new(MemoryCache::new()) as Arc<dyn Cache> });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__conformance_checks!(__conformance_test_fns!($factory));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    (($factory:expr) $($name:ident => $check:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let factory = $factory;
                $crate::conformance::run_one(
                    stringify!($name),
                    $crate::conformance::$check(&factory),
                )
                .await;
            }
        )*
    };
}

/// Runs one check's future with [`CHECK_TIMEOUT`] and panics with its
/// message when it fails (what the generated tests call).
pub async fn run_one(name: &str, check: impl Future<Output = CheckResult>) {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("conformance check `{name}` failed: {e}"),
        Err(_) => panic!("conformance check `{name}` did not finish within {CHECK_TIMEOUT:?}"),
    }
}

/// A failed check: its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckFailure {
    /// The check's name (see [`Check::name`]).
    pub check: &'static str,
    /// What was expected and what came.
    pub message: String,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

/// The result of [`run_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The checks that passed, in suite order.
    pub passed: Vec<&'static str>,
    /// The checks that failed, in suite order.
    pub failed: Vec<CheckFailure>,
}

impl Report {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// Panics listing every failure unless all checks passed.
    pub fn assert_ok(&self) {
        assert!(self.is_ok(), "{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.passed.len() + self.failed.len();
        write!(
            f,
            "{} of {total} conformance checks passed",
            self.passed.len()
        )?;
        for failure in &self.failed {
            write!(f, "\n  FAILED {failure}")?;
        }
        Ok(())
    }
}

/// Runs every check in [`CHECKS`] against `factory` and reports which failed.
/// A check that panics or exceeds [`CHECK_TIMEOUT`] fails with that as its message.
pub async fn run_all(factory: &dyn CacheFactory) -> Report {
    run_checks(factory, |_| true).await
}

/// Runs the checks whose name `select` accepts (a few at a time).
pub async fn run_checks(factory: &dyn CacheFactory, select: impl Fn(&str) -> bool) -> Report {
    run_list(CHECKS, factory, select).await
}

/// Runs the checks of `checks` (e.g. [`CHECKS`] or [`PATTERN_CHECKS`]) whose
/// name `select` accepts, a few at a time.
pub async fn run_list(
    checks: &'static [Check],
    factory: &dyn CacheFactory,
    select: impl Fn(&str) -> bool,
) -> Report {
    let selected: Vec<(usize, &Check)> = checks
        .iter()
        .enumerate()
        .filter(|(_, c)| select(c.name))
        .collect();
    let mut outcomes: Vec<(usize, &'static str, Result<(), String>)> = stream::iter(selected)
        .map(|(i, check)| async move {
            let run = AssertUnwindSafe((check.run)(factory)).catch_unwind();
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, run).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(e))) => Err(e.message().to_owned()),
                Ok(Err(panic)) => Err(format!("panicked: {}", panic_message(&*panic))),
                Err(_) => Err(format!("did not finish within {CHECK_TIMEOUT:?}")),
            };
            (i, check.name, outcome)
        })
        .buffer_unordered(PARALLEL_CHECKS)
        .collect()
        .await;
    outcomes.sort_by_key(|(i, _, _)| *i);
    let mut report = Report::default();
    for (_, name, outcome) in outcomes {
        match outcome {
            Ok(()) => report.passed.push(name),
            Err(message) => report.failed.push(CheckFailure {
                check: name,
                message,
            }),
        }
    }
    report
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_owned()
    }
}
