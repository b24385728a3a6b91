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

use tokio::sync::{mpsc, watch};

use cache_core::cache::{Cache, Subscription};
use cache_core::error::{CacheError, Result};
use cache_core::key::MAX_KEY_BYTES;
use cache_core::layer::{CacheLayer, CallInfo, KeyMapping};
use cache_core::pattern;

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

/// Every key, pattern and channel gets the prefix on the way in and loses it
/// on the way out (see [`KeyMapping`]); calls on a closed view fail.
impl<C: Cache + ?Sized> CacheLayer for Namespaced<C> {
    type Inner = C;

    fn inner(&self) -> &C {
        &self.inner
    }

    fn key_mapping(&self) -> Option<&dyn KeyMapping> {
        Some(self)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The view's subscription must end when the view closes although the
    /// backend stays open: forward through a task that stops on either.
    async fn subscribe(this: &Self, channel: &str) -> Result<Subscription> {
        let mut upstream = this.inner.subscribe(channel).await?;
        let (tx, rx) = mpsc::channel(FORWARD_BUFFER);
        let mut closed = this.closed_signal.subscribe();
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

    async fn close(this: &Self) -> Result<()> {
        this.closed.store(true, Ordering::Release);
        this.closed_signal.send_replace(true);
        if this.owns_inner {
            this.inner.close().await?;
        }
        Ok(())
    }
}

/// The prefix, checked against the key rules on the whole key; globs get
/// it [escaped](pattern::escape); scan results and errors lose it.
impl<C: Cache + ?Sized> KeyMapping for Namespaced<C> {
    /// `key` with the prefix, after checking the key rules on the whole key
    /// (the prefix counts against [`MAX_KEY_BYTES`]).
    fn map_key(&self, key: &str) -> Result<String> {
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

    fn map_pattern(&self, pattern: &str) -> Result<String> {
        Ok(format!("{}{pattern}", self.pattern_prefix))
    }

    fn map_channel(&self, channel: &str) -> Result<String> {
        Ok(format!("{}{channel}", self.prefix))
    }

    /// Every key matched the escaped prefix, so each starts with it; the
    /// check only keeps a misbehaving backend from leaking other keys.
    fn unmap_key(&self, key: String) -> Option<String> {
        key.strip_prefix(&self.prefix).map(str::to_owned)
    }

    /// The key the error names loses the prefix (it becomes the caller's
    /// key where the call had exactly one).
    fn unmap_error(&self, error: CacheError, call: &CallInfo<'_>) -> CacheError {
        let rest = match (call.key(), error.key()) {
            (_, None) => return error,
            (Some(k), Some(_)) => k.to_owned(),
            (None, Some(named)) => match named.strip_prefix(&self.prefix) {
                Some(rest) => rest.to_owned(),
                None => return error,
            },
        };
        error.with_key(&rest)
    }
}
