//! `CacheLayer`: the blanket impl maps every name of every call, runs
//! `around` on every call, and hands bodies mapped keys; `Arc` and `Box` of a
//! cache are caches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cache_core::{
    Bytes, Cache, CacheError, CacheLayer, CallInfo, CallKeys, ErrorKind, KeyMapping, KeyTtl, Next,
    Operation, RateLimitRule, Result, ScanCursor, Subscription, SubscriptionEvent,
};
use cache_memory::MemoryCache;
use futures::{FutureExt, StreamExt};
use parking_lot::Mutex;

const TTL: Duration = Duration::from_secs(60);

/// The next event of `subscription`, failing the test if none comes in time.
async fn next_event(subscription: &mut Subscription) -> Option<SubscriptionEvent> {
    tokio::time::timeout(Duration::from_secs(10), subscription.recv())
        .await
        .expect("no event within 10 s")
}

/// Writes, reads, counts and closes through `cache`, whatever its type.
async fn round_trip(cache: impl Cache) {
    cache.set("k", b"v", TTL).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(cache.delete("k").await.unwrap());
    assert_eq!(cache.get("k").await.unwrap(), None);
    assert_eq!(cache.stats().hits, 1);
    cache.close().await.unwrap();
    let err = cache.get("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn arc_and_box_of_a_cache_are_caches() {
    round_trip(Arc::new(MemoryCache::new())).await;
    round_trip(Box::new(MemoryCache::new())).await;
    round_trip(Arc::new(MemoryCache::new()) as Arc<dyn Cache>).await;
    round_trip(Box::new(MemoryCache::new()) as Box<dyn Cache>).await;
    round_trip(Arc::new(Box::new(MemoryCache::new()))).await;
    // A `&dyn Cache` still reaches the same methods.
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let boxed: Box<dyn Cache> = Box::new(shared.clone());
    boxed.set("k", b"v", TTL).await.unwrap();
    let by_ref: &dyn Cache = &*shared;
    assert_eq!(by_ref.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// Puts every name under `prefix`. `wide_patterns` makes `map_pattern` too
/// wide, as a misbehaving mapping (or backend) would be, to check the scan
/// filter.
#[derive(Debug)]
struct PrefixMap {
    prefix: &'static str,
    wide_patterns: bool,
}

impl PrefixMap {
    const P: PrefixMap = PrefixMap {
        prefix: "p:",
        wide_patterns: false,
    };
}

impl KeyMapping for PrefixMap {
    fn map_key(&self, key: &str) -> Result<String> {
        Ok(format!("{}{key}", self.prefix))
    }
    fn map_pattern(&self, pattern: &str) -> Result<String> {
        Ok(match self.wide_patterns {
            true => "*".to_owned(),
            false => format!("{}{pattern}", self.prefix),
        })
    }
    fn map_channel(&self, channel: &str) -> Result<String> {
        Ok(format!("{}{channel}", self.prefix))
    }
    fn unmap_key(&self, key: String) -> Option<String> {
        key.strip_prefix(self.prefix).map(str::to_owned)
    }
    fn unmap_error(&self, mut error: CacheError, call: &CallInfo<'_>) -> CacheError {
        if let (ErrorKind::WrongType, Some(caller)) = (error.kind(), call.key()) {
            error = error.with_key(caller);
        }
        error
    }
}

/// A view under a prefix that closes on its own, leaving `inner` open.
#[derive(Debug)]
struct Prefixed<C: ?Sized> {
    inner: Arc<C>,
    map: PrefixMap,
    closed: AtomicBool,
}

impl<C: Cache + ?Sized> Prefixed<C> {
    fn new(inner: Arc<C>, map: PrefixMap) -> Self {
        Prefixed {
            inner,
            map,
            closed: AtomicBool::new(false),
        }
    }
}

impl<C: Cache + ?Sized> CacheLayer for Prefixed<C> {
    type Inner = C;
    fn inner(&self) -> &C {
        &self.inner
    }
    fn key_mapping(&self) -> Option<&dyn KeyMapping> {
        Some(&self.map)
    }
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
    async fn close(this: &Self) -> Result<()> {
        this.closed.store(true, Ordering::Release);
        Ok(())
    }
}

fn prefixed() -> (Arc<MemoryCache>, Prefixed<MemoryCache>) {
    let backend = Arc::new(MemoryCache::new());
    (backend.clone(), Prefixed::new(backend, PrefixMap::P))
}

async fn held(backend: &MemoryCache, key: &str) -> Option<Bytes> {
    backend.get(key).await.unwrap()
}

#[tokio::test]
async fn every_key_of_every_call_is_mapped() {
    let (backend, view) = prefixed();

    view.set("a", b"1", TTL).await.unwrap();
    assert_eq!(held(&backend, "p:a").await.as_deref(), Some(&b"1"[..]));
    assert_eq!(held(&backend, "a").await, None);
    assert_eq!(view.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));

    assert!(view.get_or_set("b", b"2", TTL).await.unwrap().1);
    assert_eq!(held(&backend, "p:b").await.as_deref(), Some(&b"2"[..]));
    assert!(
        view.compare_and_set("b", Some(b"2"), b"3", TTL)
            .await
            .unwrap()
    );
    assert_eq!(held(&backend, "p:b").await.as_deref(), Some(&b"3"[..]));
    assert!(view.compare_and_delete("b", b"3").await.unwrap());
    assert_eq!(held(&backend, "p:b").await, None);

    view.set_many(&[("c", b"4"), ("d", b"5")], TTL)
        .await
        .unwrap();
    assert_eq!(held(&backend, "p:c").await.as_deref(), Some(&b"4"[..]));
    assert_eq!(held(&backend, "p:d").await.as_deref(), Some(&b"5"[..]));
    let values = view.get_many(&["c", "x", "d"]).await.unwrap();
    assert_eq!(values.iter().filter(|v| v.is_some()).count(), 2);
    assert_eq!(view.delete_many(&["c", "d"]).await.unwrap(), 2);
    assert_eq!(held(&backend, "p:c").await, None);

    assert_eq!(view.incr_by("n", 2, TTL).await.unwrap(), 2);
    assert_eq!(held(&backend, "p:n").await.as_deref(), Some(&b"2"[..]));

    let rule = RateLimitRule::fixed(1, TTL);
    assert!(view.rate_limit("r", &rule).await.unwrap().allowed);
    assert!(!backend.rate_limit("p:r", &rule).await.unwrap().allowed);

    assert!(view.delete("a").await.unwrap());
    assert_eq!(held(&backend, "p:a").await, None);
}

#[tokio::test]
async fn key_operations_are_mapped() {
    let (backend, view) = prefixed();
    backend.set("a", b"not the view's", TTL).await.unwrap();
    view.set("a", b"1", TTL).await.unwrap();
    view.set("b", b"2", TTL).await.unwrap();
    assert_eq!(view.exists(&["a", "b", "c"]).await.unwrap(), 2);
    assert_eq!(view.touch(&["a", "c"]).await.unwrap(), 1);
    let short = Duration::from_secs(5);
    assert!(view.expire("a", short).await.unwrap());
    assert!(backend.ttl("p:a").await.unwrap().remaining().unwrap() <= short);
    assert!(backend.ttl("a").await.unwrap().remaining().unwrap() > short);
    assert!(view.persist("b").await.unwrap());
    assert_eq!(backend.ttl("p:b").await.unwrap(), KeyTtl::NoExpiry);
    assert_eq!(view.ttl("b").await.unwrap(), KeyTtl::NoExpiry);
    assert_eq!(view.ttl("c").await.unwrap(), KeyTtl::Absent);
    assert!(!view.expire("c", short).await.unwrap());
}

#[tokio::test]
async fn patterns_are_mapped_and_scan_results_mapped_back() {
    let (backend, view) = prefixed();
    backend.set("p:x1", b"", TTL).await.unwrap();
    backend.set("p:x2", b"", TTL).await.unwrap();
    backend.set("x3", b"", TTL).await.unwrap();

    let page = view
        .scan_keys("x*", &ScanCursor::start(), 100)
        .await
        .unwrap();
    let mut keys = page.keys;
    keys.sort();
    assert_eq!(keys, ["x1", "x2"]);

    assert_eq!(view.delete_pattern("x*").await.unwrap(), 2);
    assert_eq!(held(&backend, "x3").await.as_deref(), Some(&b""[..]));
}

#[tokio::test]
async fn a_key_that_maps_back_to_nothing_is_left_out_of_the_page() {
    let backend = Arc::new(MemoryCache::new());
    backend.set("p:mine", b"", TTL).await.unwrap();
    backend.set("theirs", b"", TTL).await.unwrap();
    let wide = PrefixMap {
        wide_patterns: true,
        ..PrefixMap::P
    };
    let view = Prefixed::new(backend, wide);
    let page = view
        .scan_keys("*", &ScanCursor::start(), 100)
        .await
        .unwrap();
    assert_eq!(page.keys, ["mine"]);
}

#[tokio::test]
async fn channels_are_mapped_and_subscriptions_keep_the_callers_name() {
    let (backend, view) = prefixed();
    let mut through_view = view.subscribe("news").await.unwrap();
    assert_eq!(through_view.channel(), "news");
    let mut on_backend = backend.subscribe("p:news").await.unwrap();

    backend.publish("p:news", b"from backend").await.unwrap();
    view.publish("news", b"from view").await.unwrap();
    backend.publish("news", b"not for the view").await.unwrap();

    for expected in [&b"from backend"[..], b"from view"] {
        let event = next_event(&mut through_view).await;
        assert_eq!(
            event,
            Some(SubscriptionEvent::Message(Bytes::from(expected)))
        );
    }
    // Delivery is synchronous in memory: a message for the view would be queued.
    assert!(through_view.next().now_or_never().is_none());
    next_event(&mut on_backend).await.unwrap();
    assert_eq!(
        next_event(&mut on_backend).await,
        Some(SubscriptionEvent::Message(Bytes::from_static(b"from view")))
    );
}

#[tokio::test]
async fn errors_of_the_inner_cache_are_mapped_back() {
    let (backend, view) = prefixed();
    backend.set("p:n", b"not a number", TTL).await.unwrap();
    let err = view.incr_by("n", 1, TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongType, "{err:?}");
    assert_eq!(err.key(), Some("n"));
}

#[tokio::test]
async fn a_layer_closed_on_its_own_refuses_every_call_but_close() {
    let (backend, view) = prefixed();
    view.set("k", b"v", TTL).await.unwrap();
    view.close().await.unwrap();
    let refused = [
        view.get("k").await.map(drop),
        view.set("k", b"v", TTL).await,
        view.get_many(&["k"]).await.map(drop),
        view.scan_keys("*", &ScanCursor::start(), 10)
            .await
            .map(drop),
        view.publish("c", b"m").await.map(drop),
        view.subscribe("c").await.map(drop),
        view.health().await,
    ];
    for outcome in refused {
        let err = outcome.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err:?}");
    }
    view.close().await.unwrap();
    // The inner cache stays open, with what the view wrote.
    assert_eq!(held(&backend, "p:k").await.as_deref(), Some(&b"v"[..]));
}

/// Counts the calls that reach it.
#[derive(Debug)]
struct Counted<C> {
    inner: C,
    calls: AtomicU64,
}

impl<C: Cache> CacheLayer for Counted<C> {
    type Inner = C;
    fn inner(&self) -> &C {
        &self.inner
    }
    async fn around<T: Send>(&self, _call: CallInfo<'_>, next: impl Next<T>) -> Result<T> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        next.await
    }
}

/// Refuses every name, so that no keyed call may reach the inner cache.
#[derive(Debug)]
struct Refusing(Counted<MemoryCache>);

impl CacheLayer for Refusing {
    type Inner = Counted<MemoryCache>;
    fn inner(&self) -> &Counted<MemoryCache> {
        &self.0
    }
    fn key_mapping(&self) -> Option<&dyn KeyMapping> {
        Some(self)
    }
}

fn refused(name: &str) -> CacheError {
    CacheError::invalid_key(name, "refused by the mapping")
}

impl KeyMapping for Refusing {
    fn map_key(&self, key: &str) -> Result<String> {
        Err(refused(key))
    }
    fn map_pattern(&self, pattern: &str) -> Result<String> {
        Err(refused(pattern))
    }
    fn map_channel(&self, channel: &str) -> Result<String> {
        Err(refused(channel))
    }
    fn unmap_key(&self, key: String) -> Option<String> {
        Some(key)
    }
    fn unmap_error(&self, error: CacheError, _call: &CallInfo<'_>) -> CacheError {
        error
    }
}

#[tokio::test]
async fn no_keyed_call_gets_past_the_mapping() {
    let cache = Refusing(Counted {
        inner: MemoryCache::new(),
        calls: AtomicU64::new(0),
    });
    let rule = RateLimitRule::fixed(1, TTL);
    let outcomes: Vec<(Operation, Result<()>)> = vec![
        (Operation::Get, cache.get("k").await.map(drop)),
        (Operation::Set, cache.set("k", b"v", TTL).await),
        (Operation::Delete, cache.delete("k").await.map(drop)),
        (
            Operation::GetOrSet,
            cache.get_or_set("k", b"v", TTL).await.map(drop),
        ),
        (
            Operation::CompareAndSet,
            cache.compare_and_set("k", None, b"v", TTL).await.map(drop),
        ),
        (
            Operation::CompareAndDelete,
            cache.compare_and_delete("k", b"v").await.map(drop),
        ),
        (Operation::GetMany, cache.get_many(&["k"]).await.map(drop)),
        (
            Operation::SetMany,
            cache.set_many(&[("k", b"v")], TTL).await,
        ),
        (
            Operation::DeleteMany,
            cache.delete_many(&["k"]).await.map(drop),
        ),
        (
            Operation::IncrBy,
            cache.incr_by("k", 1, TTL).await.map(drop),
        ),
        (
            Operation::ScanKeys,
            cache
                .scan_keys("k*", &ScanCursor::start(), 10)
                .await
                .map(drop),
        ),
        (
            Operation::DeletePattern,
            cache.delete_pattern("k*").await.map(drop),
        ),
        (
            Operation::RateLimit,
            cache.rate_limit("k", &rule).await.map(drop),
        ),
        (Operation::Publish, cache.publish("c", b"m").await.map(drop)),
        (Operation::Subscribe, cache.subscribe("c").await.map(drop)),
    ];
    for (op, outcome) in &outcomes {
        let kind = outcome.as_ref().map_err(CacheError::kind).err();
        assert_eq!(kind, Some(ErrorKind::InvalidKey), "{op} was not refused");
    }
    assert_eq!(cache.0.calls.load(Ordering::Relaxed), 0);
    // Calls that name nothing pass.
    cache.health().await.unwrap();
    cache.close().await.unwrap();
    assert_eq!(cache.0.calls.load(Ordering::Relaxed), 2);
}

/// What `around` saw of a call: its operation, keys and TTL, and whether it succeeded.
type Seen = (Operation, Vec<String>, Option<Duration>, bool);

/// Records what `around` sees, and fails calls of `refuse` without running them.
#[derive(Debug)]
struct Watching {
    inner: Prefixed<MemoryCache>,
    seen: Mutex<Vec<Seen>>,
    refuse: Option<Operation>,
}

impl CacheLayer for Watching {
    type Inner = Prefixed<MemoryCache>;
    fn inner(&self) -> &Prefixed<MemoryCache> {
        &self.inner
    }
    async fn around<T: Send>(&self, call: CallInfo<'_>, next: impl Next<T>) -> Result<T> {
        let result = if self.refuse == Some(call.op) {
            Err(CacheError::closed(call.op))
        } else {
            next.await
        };
        let keys = call.keys.iter().map(str::to_owned).collect();
        self.seen
            .lock()
            .push((call.op, keys, call.ttl, result.is_ok()));
        result
    }
}

#[tokio::test]
async fn around_sees_each_call_as_its_caller_made_it() {
    let (backend, inner) = prefixed();
    let cache = Watching {
        inner,
        seen: Mutex::new(Vec::new()),
        refuse: Some(Operation::Delete),
    };
    cache.set("a", b"1", TTL).await.unwrap();
    cache
        .set_many(&[("b", b"2"), ("c", b"3")], TTL)
        .await
        .unwrap();
    cache
        .rate_limit("r", &RateLimitRule::fixed(5, TTL))
        .await
        .unwrap();
    cache.publish("ch", b"m").await.unwrap();
    let _ = cache.stats();
    let err = cache.delete("a").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert!(held(&backend, "p:a").await.is_some(), "a refused call ran");

    let s = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    let seen = cache.seen.lock().clone();
    assert_eq!(
        seen,
        [
            (Operation::Set, s(&["a"]), Some(TTL), true),
            (Operation::SetMany, s(&["b", "c"]), Some(TTL), true),
            (Operation::RateLimit, s(&["r"]), Some(TTL), true),
            (Operation::Publish, s(&["ch"]), None, true),
            (Operation::Delete, s(&["a"]), None, false),
        ]
    );
}

/// Overrides `get` and says which key it was given.
#[derive(Debug)]
struct Overriding {
    inner: Arc<MemoryCache>,
    map: PrefixMap,
    given: Mutex<Vec<String>>,
}

impl CacheLayer for Overriding {
    type Inner = MemoryCache;
    fn inner(&self) -> &MemoryCache {
        &self.inner
    }
    fn key_mapping(&self) -> Option<&dyn KeyMapping> {
        Some(&self.map)
    }
    async fn get(this: &Self, key: &str) -> Result<Option<Bytes>> {
        this.given.lock().push(key.to_owned());
        Err(CacheError::wrong_type(key, "anything"))
    }
}

#[tokio::test]
async fn an_overridden_body_gets_mapped_keys_and_its_errors_are_mapped_back() {
    let cache = Overriding {
        inner: Arc::new(MemoryCache::new()),
        map: PrefixMap {
            prefix: "o:",
            ..PrefixMap::P
        },
        given: Mutex::new(Vec::new()),
    };
    let err = cache.get("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongType, "{err:?}");
    assert_eq!(err.key(), Some("k"));
    assert_eq!(*cache.given.lock(), ["o:k"]);
    // The other methods still forward, mapped.
    cache.set("k", b"v", TTL).await.unwrap();
    assert!(cache.inner.get("o:k").await.unwrap().is_some());
}

#[test]
fn call_keys_never_show_values() {
    let entries: &[(&str, &[u8])] = &[("user:1", b"hunter2")];
    let shown = format!("{:?}", CallKeys::Entries(entries));
    assert!(shown.contains("user:1"), "{shown}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("104"),
        "{shown}"
    );
    let keys: Vec<&str> = CallKeys::Entries(entries).iter().collect();
    assert_eq!(keys, ["user:1"]);
    assert_eq!(CallKeys::None.iter().count(), 0);
    assert_eq!(
        CallKeys::Keys(&["a", "b"]).iter().collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[tokio::test]
async fn sets_and_hashes_go_through_the_key_mapping_and_back() {
    let (backend, view) = prefixed();
    let c = view
        .collections()
        .expect("a layer over a backend with collections has them");
    assert_eq!(c.set_add("s", &[b"a", b"b"], TTL).await.unwrap(), 2);
    c.hash_set("h", &[("f", b"v")], TTL).await.unwrap();
    let inner = backend.collections().unwrap();
    assert_eq!(inner.set_count("p:s").await.unwrap(), 2);
    assert_eq!(
        inner.hash_get("p:h", &["f"]).await.unwrap()[0].as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(inner.set_count("s").await.unwrap(), 0);
    // Errors name the caller's key, not the mapped one.
    let err = c.set_add("h", &[b"a"], TTL).await.unwrap_err();
    assert_eq!((err.kind(), err.key()), (ErrorKind::WrongType, Some("h")));
    assert!(c.supports_field_ttl());
    // Closed on its own, the view refuses before the mapping; the backend stays open.
    view.close().await.unwrap();
    let err = c.set_count("s").await.unwrap_err();
    assert_eq!(
        (err.kind(), err.op()),
        (ErrorKind::Closed, Some(Operation::SetCount))
    );
    assert_eq!(inner.set_count("p:s").await.unwrap(), 2);
}

#[tokio::test]
async fn around_sees_every_collection_call_and_a_refusing_mapping_stops_them() {
    let counted = Counted {
        inner: MemoryCache::new(),
        calls: AtomicU64::new(0),
    };
    let c = counted.collections().unwrap();
    c.set_add("s", &[b"a"], TTL).await.unwrap();
    c.set_members("s", &ScanCursor::start(), 10).await.unwrap();
    c.hash_incr_by("h", "n", 1, TTL).await.unwrap();
    assert_eq!(counted.calls.load(Ordering::Relaxed), 3);
    let refusing = Refusing(Counted {
        inner: MemoryCache::new(),
        calls: AtomicU64::new(0),
    });
    let err = refusing
        .collections()
        .unwrap()
        .set_count("s")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert_eq!(refusing.0.calls.load(Ordering::Relaxed), 0);
}

/// A cache without sets and hashes: every `Cache` method is unreachable.
#[derive(Debug)]
struct NoCollections;

#[async_trait::async_trait]
impl Cache for NoCollections {
    async fn get(&self, _: &str) -> Result<Option<Bytes>> {
        unreachable!()
    }
    async fn set(&self, _: &str, _: &[u8], _: Duration) -> Result<()> {
        unreachable!()
    }
    async fn delete(&self, _: &str) -> Result<bool> {
        unreachable!()
    }
    async fn get_or_set(&self, _: &str, _: &[u8], _: Duration) -> Result<(Bytes, bool)> {
        unreachable!()
    }
    async fn compare_and_set(
        &self,
        _: &str,
        _: Option<&[u8]>,
        _: &[u8],
        _: Duration,
    ) -> Result<bool> {
        unreachable!()
    }
    async fn compare_and_delete(&self, _: &str, _: &[u8]) -> Result<bool> {
        unreachable!()
    }
    async fn get_many(&self, _: &[&str]) -> Result<Vec<Option<Bytes>>> {
        unreachable!()
    }
    async fn set_many(&self, _: &[(&str, &[u8])], _: Duration) -> Result<()> {
        unreachable!()
    }
    async fn delete_many(&self, _: &[&str]) -> Result<u64> {
        unreachable!()
    }
    async fn incr_by(&self, _: &str, _: i64, _: Duration) -> Result<i64> {
        unreachable!()
    }
    async fn exists(&self, _: &[&str]) -> Result<u64> {
        unreachable!()
    }
    async fn expire(&self, _: &str, _: Duration) -> Result<bool> {
        unreachable!()
    }
    async fn persist(&self, _: &str) -> Result<bool> {
        unreachable!()
    }
    async fn ttl(&self, _: &str) -> Result<KeyTtl> {
        unreachable!()
    }
    async fn touch(&self, _: &[&str]) -> Result<u64> {
        unreachable!()
    }
    async fn scan_keys(&self, _: &str, _: &ScanCursor, _: usize) -> Result<cache_core::KeyPage> {
        unreachable!()
    }
    async fn delete_pattern(&self, _: &str) -> Result<u64> {
        unreachable!()
    }
    async fn rate_limit(&self, _: &str, _: &RateLimitRule) -> Result<cache_core::RateDecision> {
        unreachable!()
    }
    async fn publish(&self, _: &str, _: &[u8]) -> Result<u64> {
        unreachable!()
    }
    async fn subscribe(&self, _: &str) -> Result<Subscription> {
        unreachable!()
    }
    async fn health(&self) -> Result<()> {
        unreachable!()
    }
    fn stats(&self) -> cache_core::CacheStats {
        unreachable!()
    }
    async fn close(&self) -> Result<()> {
        unreachable!()
    }
}

#[tokio::test]
async fn a_layer_over_a_cache_without_collections_has_none() {
    use cache_core::Collections;
    let layer = Counted {
        inner: NoCollections,
        calls: AtomicU64::new(0),
    };
    assert!(layer.collections().is_none());
    assert!(Arc::new(NoCollections).collections().is_none());
    assert!(!layer.supports_field_ttl());
    // Called directly, the blanket impl says why.
    let err = Collections::set_count(&layer, "s").await.unwrap_err();
    assert_eq!(
        (err.kind(), err.op()),
        (ErrorKind::Unsupported, Some(Operation::SetCount))
    );
}
