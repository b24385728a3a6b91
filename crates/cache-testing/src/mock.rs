//! [`MockCache`]: a `mockall` mock of the [`Cache`] trait, for tests that
//! assert exact calls (a key, a TTL, a call count) or script odd answers.
//!
//! Prefer the [in-memory fake](crate::fakes) when behaviour matters more
//! than the exact calls: a mock knows nothing of the contract.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{Bytes, Cache, CacheError};
//! use cache_testing::mock::MockCache;
//! use mockall::predicate::eq;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut cache = MockCache::new();
//! cache
//!     .expect_get()
//!     .with(eq("user:42"))
//!     .times(1)
//!     .returning(|_| Ok(None));
//! cache
//!     .expect_set()
//!     .withf(|key, value, ttl| {
//!         key == "user:42" && value == b"alice" && *ttl == Duration::from_secs(300)
//!     })
//!     .times(1)
//!     .returning(|_, _, _| Ok(()));
//! // The six methods whose arguments nest references return a boxed future.
//! cache
//!     .expect_compare_and_set()
//!     .withf(|_, expected, _, _| expected.is_none())
//!     .returning(|_, _, _, _| Box::pin(async { Ok(true) }));
//! cache
//!     .expect_get_many()
//!     .returning(|keys| {
//!         let answers = vec![None; keys.len()];
//!         Box::pin(async move { Ok(answers) })
//!     });
//!
//! assert!(cache.get("user:42").await.unwrap().is_none());
//! cache.set("user:42", b"alice", Duration::from_secs(300)).await.unwrap();
//! assert!(cache.compare_and_set("lock", None, b"me", Duration::from_secs(5)).await.unwrap());
//! assert_eq!(cache.get_many(&["a", "b"]).await.unwrap(), vec![None::<Bytes>, None]);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{
    Cache, CacheStats, KeyPage, KeyTtl, RateDecision, RateLimitRule, Result, ScanCursor,
    Subscription,
};

/// The future returned by the six methods whose arguments nest references
/// (`compare_and_set`, `get_many`, `set_many`, `delete_many`, `exists`,
/// `touch`): mockall cannot
/// mock those through `#[async_trait]`, so they are declared in the form
/// `#[async_trait]` expands to, and their expectations return
/// `Box::pin(async { .. })`.
pub type BoxedFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

mockall::mock! {
    /// A mock [`Cache`]: set expectations with `expect_<method>()`.
    pub Cache {}

    #[async_trait]
    impl Cache for Cache {
        async fn get(&self, key: &str) -> Result<Option<Bytes>>;
        async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;
        async fn delete(&self, key: &str) -> Result<bool>;
        async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)>;
        fn compare_and_set<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 self,
            key: &'life1 str,
            expected: Option<&'life2 [u8]>,
            new: &'life3 [u8],
            ttl: Duration,
        ) -> BoxedFuture<'async_trait, bool>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            Self: 'async_trait;
        async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool>;
        fn get_many<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            keys: &'life1 [&'life2 str],
        ) -> BoxedFuture<'async_trait, Vec<Option<Bytes>>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait;
        fn set_many<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 self,
            entries: &'life1 [(&'life2 str, &'life3 [u8])],
            ttl: Duration,
        ) -> BoxedFuture<'async_trait, ()>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            Self: 'async_trait;
        fn delete_many<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            keys: &'life1 [&'life2 str],
        ) -> BoxedFuture<'async_trait, u64>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait;
        async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64>;
        fn exists<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            keys: &'life1 [&'life2 str],
        ) -> BoxedFuture<'async_trait, u64>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait;
        async fn expire(&self, key: &str, ttl: Duration) -> Result<bool>;
        async fn persist(&self, key: &str) -> Result<bool>;
        async fn ttl(&self, key: &str) -> Result<KeyTtl>;
        fn touch<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            keys: &'life1 [&'life2 str],
        ) -> BoxedFuture<'async_trait, u64>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait;
        async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage>;
        async fn delete_pattern(&self, pattern: &str) -> Result<u64>;
        async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision>;
        async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64>;
        async fn subscribe(&self, channel: &str) -> Result<Subscription>;
        async fn health(&self) -> Result<()>;
        fn stats(&self) -> CacheStats;
        async fn close(&self) -> Result<()>;
    }
}

impl std::fmt::Debug for MockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCache").finish_non_exhaustive()
    }
}
