//! Wrappers of a [`Cache`] without restating the trait: [`CacheLayer`].
//!
//! A wrapper (a key-prefix view, a lease, a near cache, a recording or
//! fault-injecting test double) implements [`CacheLayer`] instead of
//! [`Cache`], and a blanket impl makes it a [`Cache`]. Every method of the
//! layer has a default that forwards to [`CacheLayer::inner`], so a layer
//! writes only what it does differently, through three kinds of hooks:
//!
//! | hook | for | sees |
//! | --- | --- | --- |
//! | [`around`](CacheLayer::around) | recording, fault injection | every call but `stats`: its [`Operation`], keys and TTL as the caller gave them, and the result the caller gets |
//! | [`key_mapping`](CacheLayer::key_mapping) | namespacing | every key, pattern and channel on the way in; scan results and errors on the way out |
//! | [`is_closed`](CacheLayer::is_closed) | a view closed on its own (its inner cache stays open) | every call but `close`, which it refuses |
//! | the per-method bodies ([`CacheLayer::get`]...) | behaviour of its own (a near cache's two levels, a lease's `close`) | the call's arguments, keys already mapped |
//!
//! The blanket impl runs a call as
//! `around(call, { refuse if closed → map names → body → map results back })`.
//! The key mapping is applied there, outside the bodies, for every method: a
//! body (default or overridden) only ever sees names already mapped, and a
//! method added to [`Cache`] later is mapped in the same place for every
//! layer. A [`KeyMapping`] has no defaults, so a namespacing layer cannot
//! leave one kind of name (channels, say) unmapped either.
//!
//! `Arc<C>` and `Box<C>` are caches too, for any `C: Cache + ?Sized`
//! (`Arc<MemoryCache>`, `Box<dyn Cache>`...).
//!
//! # Example
//! A layer that counts calls, over a layer that keeps its keys under a prefix:
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//! use cache_core::layer::{CacheLayer, CallInfo, KeyMapping, Next};
//! use cache_core::{Cache, CacheError, Result};
//! use cache_memory::MemoryCache;
//!
//! /// Keeps every name under `app:`.
//! #[derive(Debug)]
//! struct App(Arc<dyn Cache>);
//!
//! impl CacheLayer for App {
//!     type Inner = dyn Cache;
//!     fn inner(&self) -> &Self::Inner {
//!         &*self.0
//!     }
//!     fn key_mapping(&self) -> Option<&dyn KeyMapping> {
//!         Some(self)
//!     }
//! }
//!
//! impl KeyMapping for App {
//!     fn map_key(&self, key: &str) -> Result<String> {
//!         Ok(format!("app:{key}"))
//!     }
//!     fn map_pattern(&self, pattern: &str) -> Result<String> {
//!         Ok(format!("app:{pattern}"))
//!     }
//!     fn map_channel(&self, channel: &str) -> Result<String> {
//!         Ok(format!("app:{channel}"))
//!     }
//!     fn unmap_key(&self, key: String) -> Option<String> {
//!         key.strip_prefix("app:").map(str::to_owned)
//!     }
//!     fn unmap_error(&self, error: CacheError, _call: &CallInfo<'_>) -> CacheError {
//!         error
//!     }
//! }
//!
//! /// Counts the calls that reach it.
//! #[derive(Debug)]
//! struct Counted<C> {
//!     inner: C,
//!     calls: AtomicU64,
//! }
//!
//! impl<C: Cache> CacheLayer for Counted<C> {
//!     type Inner = C;
//!     fn inner(&self) -> &C {
//!         &self.inner
//!     }
//!     async fn around<T: Send>(&self, _call: CallInfo<'_>, next: impl Next<T>) -> Result<T> {
//!         self.calls.fetch_add(1, Ordering::Relaxed);
//!         next.await
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
//! let cache = Counted { inner: App(shared.clone()), calls: AtomicU64::new(0) };
//! cache.set("user:1", b"alice", Duration::from_secs(60)).await?;
//! assert_eq!(shared.get("app:user:1").await?.as_deref(), Some(&b"alice"[..]));
//! let page = cache.scan_keys("user:*", &Default::default(), 10).await?;
//! assert_eq!(page.keys, ["user:1"]);
//! assert_eq!(cache.calls.load(Ordering::Relaxed), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Bodies take `this: &Self`
//! The bodies are written `async fn get(this: &Self, key: &str)`, not
//! `&self`: they are not methods, so `layer.get(key)` always means
//! [`Cache::get`] (the whole call, hooks included), even where [`CacheLayer`]
//! is imported, as `Arc::strong_count(this: &Self)` keeps out of the way of
//! the methods of what an `Arc` points to.
//!
//! # Sets and hashes
//! A layer over a cache with [`Collections`](crate::collections::Collections)
//! has them too, with no code of its own: a blanket impl runs each of their
//! calls the same way (`around`, `is_closed`, the key mapped on the way in,
//! errors mapped back), forwarding to the inner cache's collections. Over a
//! cache without them, [`Cache::collections`] is `None` and a direct call
//! fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
//!
//! # Adding a method to `Cache`
//! Give [`CacheLayer`] a body for it that forwards to the inner cache, and
//! write it in the blanket impl the way the others are: a [`CallInfo`] for
//! `around`, every name through the layer's [`KeyMapping`] on the way in,
//! and the result back through it. A new kind of name (not a key, pattern or
//! channel) is a new required method of [`KeyMapping`].

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

mod collections;

use crate::cache::{Cache, KeyPage, KeyTtl, RateDecision, RateLimitRule, ScanCursor, Subscription};
use crate::error::{CacheError, Operation, Result};
use crate::stats::CacheStats;

/// A wrapper of a [`Cache`]; the blanket `impl<L: CacheLayer> Cache for L`
/// makes it a cache. See the [module docs](self).
///
/// Every method has a default: a layer names its [`inner`](Self::inner)
/// cache and writes only the hooks and bodies where it differs. The bodies
/// (`get(this: &Self, ..)`, `set`...) receive keys, patterns and channels
/// already mapped by [`key_mapping`](Self::key_mapping), and their results
/// are mapped back after them; [`around`](Self::around) wraps all of that.
pub trait CacheLayer: Send + Sync + fmt::Debug {
    /// The cache this layer forwards to.
    type Inner: Cache + ?Sized;

    /// The cache this layer forwards to.
    fn inner(&self) -> &Self::Inner;

    /// How this layer renames keys, patterns and channels; `None` (the
    /// default) forwards them as they are.
    fn key_mapping(&self) -> Option<&dyn KeyMapping> {
        None
    }

    /// Whether this layer was closed on its own, leaving its inner cache
    /// open (a view of a shared cache): every call but `close` then fails with
    /// a closed error ([`ErrorKind::Closed`](crate::ErrorKind::Closed)) before its key mapping and body, as the
    /// contract requires. Default: `false`, for layers whose `close` closes
    /// the inner cache, which then refuses calls itself.
    fn is_closed(&self) -> bool {
        false
    }

    /// Runs around every call but `stats`: `call` is the call as the caller
    /// made it, `next` the rest of it (key mapping, body, mapping back), and
    /// what this returns is what the caller gets. It may return without
    /// polling `next` (an injected fault). Default: `next`.
    fn around<T: Send>(
        &self,
        call: CallInfo<'_>,
        next: impl Next<T>,
    ) -> impl Future<Output = Result<T>> + Send {
        let _ = call;
        next
    }

    /// The body of [`Cache::get`].
    fn get(this: &Self, key: &str) -> impl Future<Output = Result<Option<Bytes>>> + Send {
        async move { Cache::get(this.inner(), key).await }
    }

    /// The body of [`Cache::set`].
    fn set(
        this: &Self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> impl Future<Output = Result<()>> + Send {
        async move { Cache::set(this.inner(), key, value, ttl).await }
    }

    /// The body of [`Cache::delete`].
    fn delete(this: &Self, key: &str) -> impl Future<Output = Result<bool>> + Send {
        async move { Cache::delete(this.inner(), key).await }
    }

    /// The body of [`Cache::get_or_set`].
    fn get_or_set(
        this: &Self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> impl Future<Output = Result<(Bytes, bool)>> + Send {
        async move { Cache::get_or_set(this.inner(), key, value, ttl).await }
    }

    /// The body of [`Cache::compare_and_set`].
    fn compare_and_set(
        this: &Self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send {
        async move { Cache::compare_and_set(this.inner(), key, expected, new, ttl).await }
    }

    /// The body of [`Cache::compare_and_delete`].
    fn compare_and_delete(
        this: &Self,
        key: &str,
        expected: &[u8],
    ) -> impl Future<Output = Result<bool>> + Send {
        async move { Cache::compare_and_delete(this.inner(), key, expected).await }
    }

    /// The body of [`Cache::get_many`].
    fn get_many(
        this: &Self,
        keys: &[&str],
    ) -> impl Future<Output = Result<Vec<Option<Bytes>>>> + Send {
        async move { Cache::get_many(this.inner(), keys).await }
    }

    /// The body of [`Cache::set_many`].
    fn set_many(
        this: &Self,
        entries: &[(&str, &[u8])],
        ttl: Duration,
    ) -> impl Future<Output = Result<()>> + Send {
        async move { Cache::set_many(this.inner(), entries, ttl).await }
    }

    /// The body of [`Cache::delete_many`].
    fn delete_many(this: &Self, keys: &[&str]) -> impl Future<Output = Result<u64>> + Send {
        async move { Cache::delete_many(this.inner(), keys).await }
    }

    /// The body of [`Cache::incr_by`].
    fn incr_by(
        this: &Self,
        key: &str,
        delta: i64,
        ttl: Duration,
    ) -> impl Future<Output = Result<i64>> + Send {
        async move { Cache::incr_by(this.inner(), key, delta, ttl).await }
    }

    /// The body of [`Cache::exists`].
    fn exists(this: &Self, keys: &[&str]) -> impl Future<Output = Result<u64>> + Send {
        async move { Cache::exists(this.inner(), keys).await }
    }

    /// The body of [`Cache::expire`].
    fn expire(this: &Self, key: &str, ttl: Duration) -> impl Future<Output = Result<bool>> + Send {
        async move { Cache::expire(this.inner(), key, ttl).await }
    }

    /// The body of [`Cache::persist`].
    fn persist(this: &Self, key: &str) -> impl Future<Output = Result<bool>> + Send {
        async move { Cache::persist(this.inner(), key).await }
    }

    /// The body of [`Cache::ttl`].
    fn ttl(this: &Self, key: &str) -> impl Future<Output = Result<KeyTtl>> + Send {
        async move { Cache::ttl(this.inner(), key).await }
    }

    /// The body of [`Cache::touch`].
    fn touch(this: &Self, keys: &[&str]) -> impl Future<Output = Result<u64>> + Send {
        async move { Cache::touch(this.inner(), keys).await }
    }

    /// The body of [`Cache::scan_keys`] (the keys it returns are mapped back
    /// after it).
    fn scan_keys(
        this: &Self,
        pattern: &str,
        cursor: &ScanCursor,
        count: usize,
    ) -> impl Future<Output = Result<KeyPage>> + Send {
        async move { Cache::scan_keys(this.inner(), pattern, cursor, count).await }
    }

    /// The body of [`Cache::delete_pattern`].
    fn delete_pattern(this: &Self, pattern: &str) -> impl Future<Output = Result<u64>> + Send {
        async move { Cache::delete_pattern(this.inner(), pattern).await }
    }

    /// The body of [`Cache::rate_limit`].
    fn rate_limit(
        this: &Self,
        key: &str,
        rule: &RateLimitRule,
    ) -> impl Future<Output = Result<RateDecision>> + Send {
        async move { Cache::rate_limit(this.inner(), key, rule).await }
    }

    /// The body of [`Cache::publish`].
    fn publish(
        this: &Self,
        channel: &str,
        message: &[u8],
    ) -> impl Future<Output = Result<u64>> + Send {
        async move { Cache::publish(this.inner(), channel, message).await }
    }

    /// The body of [`Cache::subscribe`] (the subscription it returns is
    /// renamed to the caller's channel after it).
    fn subscribe(this: &Self, channel: &str) -> impl Future<Output = Result<Subscription>> + Send {
        async move { Cache::subscribe(this.inner(), channel).await }
    }

    /// The body of [`Cache::health`].
    fn health(this: &Self) -> impl Future<Output = Result<()>> + Send {
        async move { Cache::health(this.inner()).await }
    }

    /// [`Cache::stats`]. Default: the inner cache's.
    fn stats(this: &Self) -> CacheStats {
        Cache::stats(this.inner())
    }

    /// The body of [`Cache::close`].
    fn close(this: &Self) -> impl Future<Output = Result<()>> + Send {
        async move { Cache::close(this.inner()).await }
    }
}

/// The rest of a call, as [`CacheLayer::around`] receives it: a future of
/// the call's result (`impl Next<T>` reads better than the bounds it stands for).
pub trait Next<T>: Future<Output = Result<T>> + Send {}

impl<T, F: Future<Output = Result<T>> + Send> Next<T> for F {}

/// How a [`CacheLayer`] renames what it forwards, for a view of a shared
/// cache under a namespace. No method has a default: a mapping says what it
/// does with every kind of name, and one added later must be answered by
/// every mapping before it compiles.
pub trait KeyMapping: Send + Sync {
    /// A caller's key in the inner cache's terms (every key of every call,
    /// batches included). An error refuses the call before it reaches the
    /// inner cache.
    fn map_key(&self, key: &str) -> Result<String>;

    /// A glob of [`Cache::scan_keys`] or [`Cache::delete_pattern`] in the
    /// inner cache's terms. It must match only keys that [`map_key`](Self::map_key)
    /// can produce.
    fn map_pattern(&self, pattern: &str) -> Result<String>;

    /// A channel of [`Cache::publish`] or [`Cache::subscribe`] in the inner
    /// cache's terms.
    fn map_channel(&self, channel: &str) -> Result<String>;

    /// A key listed by the inner cache's `scan_keys` in the caller's terms;
    /// `None` leaves it out of the page (a key this view must not see).
    fn unmap_key(&self, key: String) -> Option<String>;

    /// An error of the inner cache in the caller's terms (the key it names).
    /// Errors of the mapping itself, of a closed layer and of
    /// [`CacheLayer::around`] are not passed here.
    fn unmap_error(&self, error: CacheError, call: &CallInfo<'_>) -> CacheError;
}

/// A call as its caller made it, for [`CacheLayer::around`] and
/// [`KeyMapping::unmap_error`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallInfo<'a> {
    /// The operation.
    pub op: Operation,
    /// The keys, pattern or channel it names.
    pub keys: CallKeys<'a>,
    /// The TTL it passes (a rate limit's window), for calls that take one.
    pub ttl: Option<Duration>,
}

impl<'a> CallInfo<'a> {
    /// A call of `op` naming `keys`.
    pub fn new(op: Operation, keys: CallKeys<'a>, ttl: Option<Duration>) -> Self {
        CallInfo { op, keys, ttl }
    }

    /// The key of a call on exactly one key (`get`, `set`, `incr_by`...);
    /// `None` for batches, patterns, channels and calls without keys.
    pub fn key(&self) -> Option<&'a str> {
        match self.keys {
            CallKeys::Key(key) => Some(key),
            _ => None,
        }
    }
}

/// What a call names. Its `Debug` shows the keys of a batch write, never the
/// values.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum CallKeys<'a> {
    /// Nothing (`health`, `close`).
    None,
    /// One key.
    Key(&'a str),
    /// The keys of `get_many` or `delete_many`.
    Keys(&'a [&'a str]),
    /// The entries of `set_many`.
    Entries(&'a [(&'a str, &'a [u8])]),
    /// The glob of `scan_keys` or `delete_pattern`.
    Pattern(&'a str),
    /// The channel of `publish` or `subscribe`.
    Channel(&'a str),
}

impl<'a> CallKeys<'a> {
    /// Every name, in order: the key, each key of a batch, the pattern or
    /// the channel.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        const NO_KEYS: &[&str] = &[];
        const NO_ENTRIES: &[(&str, &[u8])] = &[];
        let (one, keys, entries) = match *self {
            CallKeys::None => (None, NO_KEYS, NO_ENTRIES),
            CallKeys::Key(s) | CallKeys::Pattern(s) | CallKeys::Channel(s) => {
                (Some(s), NO_KEYS, NO_ENTRIES)
            }
            CallKeys::Keys(keys) => (None, keys, NO_ENTRIES),
            CallKeys::Entries(entries) => (None, NO_KEYS, entries),
        };
        one.into_iter()
            .chain(keys.iter().copied())
            .chain(entries.iter().map(|(key, _)| *key))
    }
}

impl fmt::Debug for CallKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            CallKeys::None => return f.write_str("None"),
            CallKeys::Key(_) => "Key",
            CallKeys::Keys(_) => "Keys",
            CallKeys::Entries(_) => "Entries",
            CallKeys::Pattern(_) => "Pattern",
            CallKeys::Channel(_) => "Channel",
        };
        let mut tuple = f.debug_tuple(name);
        match self {
            CallKeys::Key(s) | CallKeys::Pattern(s) | CallKeys::Channel(s) => tuple.field(s),
            _ => tuple.field(&self.iter().collect::<Vec<_>>()),
        };
        tuple.finish()
    }
}

/// `name` in the inner cache's terms, through `map` when the layer maps.
fn mapped<'k>(
    mapping: Option<&dyn KeyMapping>,
    name: &'k str,
    map: fn(&dyn KeyMapping, &str) -> Result<String>,
) -> Result<Cow<'k, str>> {
    Ok(match mapping {
        Some(mapping) => Cow::Owned(map(mapping, name)?),
        None => Cow::Borrowed(name),
    })
}

/// Every key of a batch in the inner cache's terms; `None` when the layer
/// does not map (the caller's keys are forwarded as they are).
fn mapped_all<'k>(
    mapping: Option<&dyn KeyMapping>,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<Option<Vec<String>>> {
    mapping
        .map(|mapping| keys.into_iter().map(|k| mapping.map_key(k)).collect())
        .transpose()
}

/// The mapped keys of a batch as `&str`s, or the caller's own when the layer
/// does not map.
fn refs_or<'k>(owned: &'k Option<Vec<String>>, keys: &'k [&'k str]) -> Cow<'k, [&'k str]> {
    match owned {
        Some(owned) => Cow::Owned(owned.iter().map(String::as_str).collect()),
        None => Cow::Borrowed(keys),
    }
}

/// The inner cache's result in the caller's terms.
fn unmapped<T>(
    mapping: Option<&dyn KeyMapping>,
    call: &CallInfo<'_>,
    result: Result<T>,
) -> Result<T> {
    match mapping {
        Some(mapping) => result.map_err(|e| mapping.unmap_error(e, call)),
        None => result,
    }
}

/// `body` (the call's mapping, body and mapping back) inside the layer's
/// `around`, refused first if the layer is closed.
fn run<'a, L: CacheLayer, T: Send + 'a>(
    layer: &'a L,
    call: CallInfo<'a>,
    body: impl Future<Output = Result<T>> + Send + 'a,
) -> impl Future<Output = Result<T>> + Send + 'a {
    layer.around(call, async move {
        if call.op != Operation::Close && layer.is_closed() {
            return Err(CacheError::closed(call.op));
        }
        body.await
    })
}

/// The blanket impl: every call is `around(call, map → body → map back)`.
/// A method added to [`Cache`] is added here, with its names mapped.
#[async_trait]
impl<L: CacheLayer> Cache for L {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let call = CallInfo::new(Operation::Get, CallKeys::Key(key), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::get(self, &key).await)
        })
        .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let call = CallInfo::new(Operation::Set, CallKeys::Key(key), Some(ttl));
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::set(self, &key, value, ttl).await)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let call = CallInfo::new(Operation::Delete, CallKeys::Key(key), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::delete(self, &key).await)
        })
        .await
    }

    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        let call = CallInfo::new(Operation::GetOrSet, CallKeys::Key(key), Some(ttl));
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(
                m,
                &call,
                CacheLayer::get_or_set(self, &key, value, ttl).await,
            )
        })
        .await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let call = CallInfo::new(Operation::CompareAndSet, CallKeys::Key(key), Some(ttl));
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            let result = CacheLayer::compare_and_set(self, &key, expected, new, ttl).await;
            unmapped(m, &call, result)
        })
        .await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let call = CallInfo::new(Operation::CompareAndDelete, CallKeys::Key(key), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(
                m,
                &call,
                CacheLayer::compare_and_delete(self, &key, expected).await,
            )
        })
        .await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let call = CallInfo::new(Operation::GetMany, CallKeys::Keys(keys), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let owned = mapped_all(m, keys.iter().copied())?;
            let keys = refs_or(&owned, keys);
            unmapped(m, &call, CacheLayer::get_many(self, &keys).await)
        })
        .await
    }

    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        let call = CallInfo::new(Operation::SetMany, CallKeys::Entries(entries), Some(ttl));
        run(self, call, async move {
            let m = self.key_mapping();
            let owned = mapped_all(m, entries.iter().map(|(k, _)| *k))?;
            let refs: Option<Vec<(&str, &[u8])>> = owned.as_ref().map(|o| {
                o.iter()
                    .zip(entries)
                    .map(|(k, (_, v))| (k.as_str(), *v))
                    .collect()
            });
            let entries = refs.as_deref().unwrap_or(entries);
            unmapped(m, &call, CacheLayer::set_many(self, entries, ttl).await)
        })
        .await
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let call = CallInfo::new(Operation::DeleteMany, CallKeys::Keys(keys), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let owned = mapped_all(m, keys.iter().copied())?;
            let keys = refs_or(&owned, keys);
            unmapped(m, &call, CacheLayer::delete_many(self, &keys).await)
        })
        .await
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let call = CallInfo::new(Operation::IncrBy, CallKeys::Key(key), Some(ttl));
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::incr_by(self, &key, delta, ttl).await)
        })
        .await
    }

    async fn exists(&self, keys: &[&str]) -> Result<u64> {
        let call = CallInfo::new(Operation::Exists, CallKeys::Keys(keys), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let owned = mapped_all(m, keys.iter().copied())?;
            let keys = refs_or(&owned, keys);
            unmapped(m, &call, CacheLayer::exists(self, &keys).await)
        })
        .await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        let call = CallInfo::new(Operation::Expire, CallKeys::Key(key), Some(ttl));
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::expire(self, &key, ttl).await)
        })
        .await
    }

    async fn persist(&self, key: &str) -> Result<bool> {
        let call = CallInfo::new(Operation::Persist, CallKeys::Key(key), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::persist(self, &key).await)
        })
        .await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let call = CallInfo::new(Operation::Ttl, CallKeys::Key(key), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::ttl(self, &key).await)
        })
        .await
    }

    async fn touch(&self, keys: &[&str]) -> Result<u64> {
        let call = CallInfo::new(Operation::Touch, CallKeys::Keys(keys), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let owned = mapped_all(m, keys.iter().copied())?;
            let keys = refs_or(&owned, keys);
            unmapped(m, &call, CacheLayer::touch(self, &keys).await)
        })
        .await
    }

    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        let call = CallInfo::new(Operation::ScanKeys, CallKeys::Pattern(pattern), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let pattern = mapped(m, pattern, |m, p| m.map_pattern(p))?;
            let page = unmapped(
                m,
                &call,
                CacheLayer::scan_keys(self, &pattern, cursor, count).await,
            )?;
            Ok(match m {
                Some(m) => {
                    let keys = page
                        .keys
                        .into_iter()
                        .filter_map(|k| m.unmap_key(k))
                        .collect();
                    KeyPage::new(keys, page.next)
                }
                None => page,
            })
        })
        .await
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let call = CallInfo::new(Operation::DeletePattern, CallKeys::Pattern(pattern), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let pattern = mapped(m, pattern, |m, p| m.map_pattern(p))?;
            unmapped(m, &call, CacheLayer::delete_pattern(self, &pattern).await)
        })
        .await
    }

    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        let call = CallInfo::new(Operation::RateLimit, CallKeys::Key(key), Some(rule.window));
        run(self, call, async move {
            let m = self.key_mapping();
            let key = mapped(m, key, |m, k| m.map_key(k))?;
            unmapped(m, &call, CacheLayer::rate_limit(self, &key, rule).await)
        })
        .await
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        let call = CallInfo::new(Operation::Publish, CallKeys::Channel(channel), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let channel = mapped(m, channel, |m, c| m.map_channel(c))?;
            unmapped(m, &call, CacheLayer::publish(self, &channel, message).await)
        })
        .await
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        let call = CallInfo::new(Operation::Subscribe, CallKeys::Channel(channel), None);
        run(self, call, async move {
            let m = self.key_mapping();
            let inner_channel = mapped(m, channel, |m, c| m.map_channel(c))?;
            let subscription =
                unmapped(m, &call, CacheLayer::subscribe(self, &inner_channel).await)?;
            Ok(subscription.named(channel))
        })
        .await
    }

    async fn health(&self) -> Result<()> {
        let call = CallInfo::new(Operation::Health, CallKeys::None, None);
        run(self, call, async move {
            unmapped(self.key_mapping(), &call, CacheLayer::health(self).await)
        })
        .await
    }

    fn stats(&self) -> CacheStats {
        CacheLayer::stats(self)
    }

    /// This layer, when the cache under it has collections: their calls then
    /// go through the layer's hooks and key mapping (see `layer/collections.rs`).
    fn collections(&self) -> Option<&dyn crate::collections::Collections> {
        self.inner().collections()?;
        Some(self)
    }

    async fn close(&self) -> Result<()> {
        let call = CallInfo::new(Operation::Close, CallKeys::None, None);
        run(self, call, async move {
            unmapped(self.key_mapping(), &call, CacheLayer::close(self).await)
        })
        .await
    }
}

/// A `Box` is a layer over what it holds: a direct `impl Cache for Box<C>`
/// would overlap the blanket impl (`Box` is `#[fundamental]`, so another
/// crate could make a `Box<Local>` a layer).
impl<C: Cache + ?Sized> CacheLayer for Box<C> {
    type Inner = C;

    fn inner(&self) -> &C {
        self
    }
}

/// The future of a [`Cache`] method, as `#[async_trait]` declares it.
type CacheFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Methods that hand the call to `C` and return its future as it is, in the
/// form `#[async_trait]` expands the trait's `async fn`s to: one lifetime
/// per reference (the first is `self`'s), each outliving `'async_trait`.
macro_rules! forward_to_target {
    ($(
        fn $name:ident<$self_lt:lifetime $(, $lt:lifetime)*>($($arg:ident: $ty:ty),*) -> $ret:ty;
    )*) => {$(
        fn $name<$self_lt, $($lt,)* 'async_trait>(
            &$self_lt self,
            $($arg: $ty),*
        ) -> CacheFuture<'async_trait, $ret>
        where
            $self_lt: 'async_trait,
            $($lt: 'async_trait,)*
            Self: 'async_trait,
        {
            C::$name(self, $($arg),*)
        }
    )*};
}

/// An `Arc` of a cache is a cache: every call goes to the cache it points to
/// and returns that cache's own future (an `async fn` awaiting it would box
/// a second one on every call through an `Arc<dyn Cache>`).
impl<C: Cache + ?Sized> Cache for Arc<C> {
    forward_to_target! {
        fn get<'s, 'k>(key: &'k str) -> Option<Bytes>;
        fn set<'s, 'k, 'v>(key: &'k str, value: &'v [u8], ttl: Duration) -> ();
        fn delete<'s, 'k>(key: &'k str) -> bool;
        fn get_or_set<'s, 'k, 'v>(key: &'k str, value: &'v [u8], ttl: Duration) -> (Bytes, bool);
        fn compare_and_set<'s, 'k, 'e, 'v>(
            key: &'k str, expected: Option<&'e [u8]>, new: &'v [u8], ttl: Duration
        ) -> bool;
        fn compare_and_delete<'s, 'k, 'e>(key: &'k str, expected: &'e [u8]) -> bool;
        fn get_many<'s, 'l, 'k>(keys: &'l [&'k str]) -> Vec<Option<Bytes>>;
        fn set_many<'s, 'l, 'k, 'v>(entries: &'l [(&'k str, &'v [u8])], ttl: Duration) -> ();
        fn delete_many<'s, 'l, 'k>(keys: &'l [&'k str]) -> u64;
        fn incr_by<'s, 'k>(key: &'k str, delta: i64, ttl: Duration) -> i64;
        fn exists<'s, 'l, 'k>(keys: &'l [&'k str]) -> u64;
        fn expire<'s, 'k>(key: &'k str, ttl: Duration) -> bool;
        fn persist<'s, 'k>(key: &'k str) -> bool;
        fn ttl<'s, 'k>(key: &'k str) -> KeyTtl;
        fn touch<'s, 'l, 'k>(keys: &'l [&'k str]) -> u64;
        fn scan_keys<'s, 'p, 'c>(pattern: &'p str, cursor: &'c ScanCursor, count: usize) -> KeyPage;
        fn delete_pattern<'s, 'p>(pattern: &'p str) -> u64;
        fn rate_limit<'s, 'k, 'r>(key: &'k str, rule: &'r RateLimitRule) -> RateDecision;
        fn publish<'s, 'c, 'm>(channel: &'c str, message: &'m [u8]) -> u64;
        fn subscribe<'s, 'c>(channel: &'c str) -> Subscription;
        fn health<'s>() -> ();
        fn close<'s>() -> ();
    }

    fn stats(&self) -> CacheStats {
        C::stats(self)
    }

    fn collections(&self) -> Option<&dyn crate::collections::Collections> {
        C::collections(self)
    }
}
