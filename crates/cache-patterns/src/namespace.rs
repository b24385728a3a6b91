//! Key namespaces: a view of a shared [`Cache`] in which every key and channel
//! carries a fixed prefix.
//!
//! [`Namespaced`] is how `cache.key_prefix` keeps several applications apart on
//! one server, and how the tenant manager keeps tenants apart on one backend.
//! A view can only see and touch keys that start with its prefix:
//!
//! - every key (batch calls included) and every channel is prefixed;
//! - the patterns of [`Cache::scan_keys`] and [`Cache::delete_pattern`] get
//!   the prefix [escaped](cache_core::pattern::escape) in front, so a prefix full of
//!   glob metacharacters (`*`, `?`, `[`) matches only itself and never widens
//!   the match to another namespace;
//! - keys returned by `scan_keys` and keys named in errors come back without
//!   the prefix: the caller speaks the view's keys only.
//!
//! Two views are isolated from each other when neither prefix is a prefix of
//! the other (`a:` and `ab:` are; `a` and `ab` are not). The tenant manager
//! guarantees that by escaping tenant ids; callers choosing prefixes by hand
//! should end them with a separator such as `:`.
//!
//! # What is shared
//! [`Cache::stats`] and [`Cache::health`] pass through: they are the shared
//! backend's, counting every view's calls together. [`Cache::close`] closes the
//! *view* (every later call on it fails with [`ErrorKind::Closed`](cache_core::ErrorKind::Closed) and its
//! subscriptions end) but leaves a backend built with [`Namespaced::new`] open
//! for the other views: whoever built the backend closes it. A view built with
//! [`Namespaced::owning`] is the backend's only owner and closes it too.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_memory::MemoryCache;
//! use cache_patterns::namespace::Namespaced;
//! use cache_core::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
//! let orders = Namespaced::new(shared.clone(), "orders:");
//! orders.set("42", b"paid", Duration::from_secs(60)).await?;
//! assert_eq!(shared.get("orders:42").await?.as_deref(), Some(&b"paid"[..]));
//! let page = orders.scan_keys("*", &Default::default(), 100).await?;
//! assert_eq!(page.keys, vec!["42".to_owned()]);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use cache_core::cache::{Cache, KeyPage, RateDecision, RateLimitRule, ScanCursor, Subscription};
use cache_core::error::{CacheError, Operation, Result};
use cache_core::key::MAX_KEY_BYTES;
use cache_core::pattern;
use cache_core::stats::CacheStats;

/// Events buffered between the backend's subscription and the view's; a slow
/// reader pushes back on the backend's buffer, which reports lag as usual.
const FORWARD_BUFFER: usize = 16;

/// A view of a shared [`Cache`] under a key prefix. See the [module docs](self).
///
/// Generic over the backend: `Namespaced` (that is, `Namespaced<dyn Cache>`)
/// over an `Arc<dyn Cache>`, or `Namespaced<C>` over a concrete backend.
pub struct Namespaced<C: ?Sized = dyn Cache> {
    inner: Arc<C>,
    prefix: String,
    /// `prefix` quoted for globs, computed once.
    pattern_prefix: String,
    owns_inner: bool,
    closed: AtomicBool,
    /// Tells the subscription forwarders to stop when the view closes.
    closed_signal: watch::Sender<bool>,
}

impl<C: Cache + ?Sized> Namespaced<C> {
    /// A view of `inner` under `prefix`. Closing the view leaves `inner` open.
    pub fn new(inner: Arc<C>, prefix: impl Into<String>) -> Self {
        Self::build(inner, prefix.into(), false)
    }

    /// A view of `inner` under `prefix` that owns `inner`: closing the view
    /// closes `inner` too. For a backend that only this view uses.
    pub fn owning(inner: Arc<C>, prefix: impl Into<String>) -> Self {
        Self::build(inner, prefix.into(), true)
    }

    fn build(inner: Arc<C>, prefix: String, owns_inner: bool) -> Self {
        Namespaced {
            pattern_prefix: pattern::escape(&prefix),
            inner,
            prefix,
            owns_inner,
            closed: AtomicBool::new(false),
            closed_signal: watch::channel(false).0,
        }
    }

    /// The prefix put in front of every key and channel.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The backend this view writes to.
    pub fn inner(&self) -> &Arc<C> {
        &self.inner
    }

    /// Whether closing this view closes the backend too.
    pub fn owns_inner(&self) -> bool {
        self.owns_inner
    }

    fn check_open(&self, op: Operation) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CacheError::closed(op));
        }
        Ok(())
    }

    /// `key` with the prefix, after checking the key rules on the whole key
    /// (the prefix counts against [`MAX_KEY_BYTES`]).
    fn full_key(&self, key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(CacheError::invalid_key(key, "a key must not be empty"));
        }
        let total = self.prefix.len() + key.len();
        if total > MAX_KEY_BYTES {
            return Err(CacheError::invalid_key(
                key,
                format!(
                    "a key must be at most {MAX_KEY_BYTES} bytes with its namespace prefix of {} bytes, this one is {total}",
                    self.prefix.len()
                ),
            ));
        }
        let mut full = String::with_capacity(total);
        full.push_str(&self.prefix);
        full.push_str(key);
        Ok(full)
    }

    fn full_keys(&self, keys: &[&str]) -> Result<Vec<String>> {
        keys.iter().map(|k| self.full_key(k)).collect()
    }

    fn full_channel(&self, channel: &str) -> String {
        format!("{}{channel}", self.prefix)
    }

    fn full_pattern(&self, pattern: &str) -> String {
        format!("{}{pattern}", self.pattern_prefix)
    }

    /// The backend's error in the view's terms: the key it names loses the
    /// prefix (`key` is the caller's key where the call had exactly one).
    fn unprefix_error(&self, error: CacheError, key: Option<&str>) -> CacheError {
        let rest = match (key, error.key()) {
            (_, None) => return error,
            (Some(k), Some(_)) => k.to_owned(),
            (None, Some(named)) => match named.strip_prefix(&self.prefix) {
                Some(rest) => rest.to_owned(),
                None => return error,
            },
        };
        error.with_key(&rest)
    }

    fn one<T>(&self, key: &str, result: Result<T>) -> Result<T> {
        result.map_err(|e| self.unprefix_error(e, Some(key)))
    }

    fn many<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| self.unprefix_error(e, None))
    }
}

impl<C: Cache + ?Sized> fmt::Debug for Namespaced<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespaced")
            .field("prefix", &self.prefix)
            .field("owns_inner", &self.owns_inner)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .field("inner", &self.inner)
            .finish()
    }
}

#[async_trait]
impl<C: Cache + ?Sized> Cache for Namespaced<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.check_open(Operation::Get)?;
        let full = self.full_key(key)?;
        self.one(key, self.inner.get(&full).await)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.check_open(Operation::Set)?;
        let full = self.full_key(key)?;
        self.one(key, self.inner.set(&full, value, ttl).await)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.check_open(Operation::Delete)?;
        let full = self.full_key(key)?;
        self.one(key, self.inner.delete(&full).await)
    }

    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        self.check_open(Operation::GetOrSet)?;
        let full = self.full_key(key)?;
        self.one(key, self.inner.get_or_set(&full, value, ttl).await)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        self.check_open(Operation::CompareAndSet)?;
        let full = self.full_key(key)?;
        let result = self.inner.compare_and_set(&full, expected, new, ttl).await;
        self.one(key, result)
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.check_open(Operation::CompareAndDelete)?;
        let full = self.full_key(key)?;
        self.one(key, self.inner.compare_and_delete(&full, expected).await)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.check_open(Operation::GetMany)?;
        let full = self.full_keys(keys)?;
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        self.many(self.inner.get_many(&refs).await)
    }

    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        self.check_open(Operation::SetMany)?;
        let full = entries
            .iter()
            .map(|(k, _)| self.full_key(k))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<(&str, &[u8])> = full
            .iter()
            .zip(entries)
            .map(|(k, (_, v))| (k.as_str(), *v))
            .collect();
        self.many(self.inner.set_many(&refs, ttl).await)
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.check_open(Operation::DeleteMany)?;
        let full = self.full_keys(keys)?;
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        self.many(self.inner.delete_many(&refs).await)
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        self.check_open(Operation::IncrBy)?;
        let full = self.full_key(key)?;
        self.one(key, self.inner.incr_by(&full, delta, ttl).await)
    }

    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        self.check_open(Operation::ScanKeys)?;
        let page = self.many(
            self.inner
                .scan_keys(&self.full_pattern(pattern), cursor, count)
                .await,
        )?;
        // Every key matched the escaped prefix, so each starts with it; the
        // filter only keeps a misbehaving backend from leaking other keys.
        let keys = page
            .keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect();
        Ok(KeyPage::new(keys, page.next))
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        self.check_open(Operation::DeletePattern)?;
        self.many(self.inner.delete_pattern(&self.full_pattern(pattern)).await)
    }

    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        self.check_open(Operation::RateLimit)?;
        let full = self.full_key(key)?;
        self.one(key, self.inner.rate_limit(&full, rule).await)
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        self.check_open(Operation::Publish)?;
        let full = self.full_channel(channel);
        self.many(self.inner.publish(&full, message).await)
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        self.check_open(Operation::Subscribe)?;
        let mut upstream = self.many(self.inner.subscribe(&self.full_channel(channel)).await)?;
        // The view's subscription names the view's channel and must end when
        // the view closes although the backend stays open: forward through a
        // task that stops on either.
        let (tx, rx) = mpsc::channel(FORWARD_BUFFER);
        let mut closed = self.closed_signal.subscribe();
        tokio::spawn(async move {
            let view_closed = closed.wait_for(|c| *c);
            tokio::pin!(view_closed);
            loop {
                let event = tokio::select! {
                    event = upstream.recv() => event,
                    _ = &mut view_closed => None,
                    _ = tx.closed() => None,
                };
                let Some(event) = event else { break };
                tokio::select! {
                    sent = tx.send(event) => if sent.is_err() { break },
                    _ = &mut view_closed => break,
                }
            }
        });
        Ok(Subscription::new(channel, rx))
    }

    async fn health(&self) -> Result<()> {
        self.check_open(Operation::Health)?;
        self.inner.health().await
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats()
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        self.closed_signal.send_replace(true);
        if self.owns_inner {
            self.inner.close().await?;
        }
        Ok(())
    }
}
