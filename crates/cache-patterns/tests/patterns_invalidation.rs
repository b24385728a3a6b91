//! Cross-instance invalidation on the in-memory backend (in-process pub/sub).

mod patterns_support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cache_core::{Cache, Operation, SubscriptionEvent};
use cache_memory::MemoryCache;
use cache_patterns::invalidation::{
    Invalidation, InvalidationBus, InvalidationListener, NearCache,
};
use cache_testing::wait::reads;
use parking_lot::Mutex;
use patterns_support::{SwitchableCache, eventually};

const TTL: Duration = Duration::from_secs(60);
const LOCAL_TTL: Duration = Duration::from_secs(60);

async fn near(shared: &Arc<dyn Cache>, prefix: &str) -> NearCache {
    NearCache::start(
        Arc::new(MemoryCache::new()),
        shared.clone(),
        prefix,
        LOCAL_TTL,
    )
    .await
    .unwrap()
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Invalidation>>);

#[async_trait]
impl InvalidationListener for Recorder {
    async fn invalidate(&self, what: &Invalidation) {
        self.0.lock().push(what.clone());
    }
}

impl Recorder {
    fn seen(&self) -> Vec<Invalidation> {
        self.0.lock().clone()
    }
}

#[tokio::test]
async fn a_near_cache_serves_repeated_reads_from_its_local_level() {
    let memory = Arc::new(MemoryCache::new());
    let shared: Arc<dyn Cache> = memory.clone();
    let a = near(&shared, "app:").await;
    shared.set("user:1", b"Ada", TTL).await.unwrap();
    assert_eq!(a.get("user:1").await.unwrap().unwrap(), "Ada");
    let shared_gets = memory.stats().ops(Operation::Get);
    for _ in 0..10 {
        assert_eq!(a.get("user:1").await.unwrap().unwrap(), "Ada");
    }
    assert_eq!(memory.stats().ops(Operation::Get), shared_gets);
    assert!(a.local_stats().hits >= 10);
}

#[tokio::test]
async fn a_write_on_one_instance_drops_the_key_from_every_other_instance() {
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let (a, b, c) = (
        near(&shared, "app:").await,
        near(&shared, "app:").await,
        near(&shared, "app:").await,
    );
    a.set("user:1", b"v1", TTL).await.unwrap();
    assert_eq!(b.get("user:1").await.unwrap().unwrap(), "v1");
    assert_eq!(c.get("user:1").await.unwrap().unwrap(), "v1");
    a.set("user:1", b"v2", TTL).await.unwrap();
    eventually("b drops its copy", || reads(&b, "user:1", "v2")).await;
    eventually("c drops its copy", || reads(&c, "user:1", "v2")).await;
    a.delete("user:1").await.unwrap();
    eventually("b drops the deleted key", || async {
        b.get("user:1").await.is_ok_and(|v| v.is_none())
    })
    .await;
}

#[tokio::test]
async fn a_pattern_delete_drops_only_matching_keys_from_other_instances() {
    let memory = Arc::new(MemoryCache::new());
    let shared: Arc<dyn Cache> = memory.clone();
    let (a, b) = (near(&shared, "app:").await, near(&shared, "app:").await);
    for key in ["feed:user:1:page:1", "feed:user:1:page:2", "profile:user:1"] {
        a.set(key, b"old", TTL).await.unwrap();
    }
    // The writes' own invalidations reach b before b fills its local level.
    eventually("b heard the three writes", || {
        let received = b.bus().stats().received;
        async move { received == 3 }
    })
    .await;
    for key in ["feed:user:1:page:1", "feed:user:1:page:2", "profile:user:1"] {
        assert_eq!(b.get(key).await.unwrap().unwrap(), "old");
    }
    // Rewrite behind the near caches' backs, then invalidate by pattern.
    for key in ["feed:user:1:page:1", "feed:user:1:page:2", "profile:user:1"] {
        memory.set(key, b"new", TTL).await.unwrap();
    }
    assert_eq!(a.delete_pattern("feed:user:1:*").await.unwrap(), 2);
    eventually("b drops the matching keys", || async {
        b.get("feed:user:1:page:1").await.is_ok_and(|v| v.is_none())
            && b.get("feed:user:1:page:2").await.is_ok_and(|v| v.is_none())
    })
    .await;
    assert_eq!(
        b.get("profile:user:1").await.unwrap().unwrap(),
        "old",
        "not matched: kept"
    );
}

#[tokio::test]
async fn an_instance_ignores_its_own_messages() {
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let bus = InvalidationBus::start(shared.clone(), "app:")
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    bus.register(recorder.clone());
    bus.publish(&Invalidation::Key("k".into())).await.unwrap();
    eventually("the own message came back and was ignored", || {
        let ignored = bus.stats().own_ignored;
        async move { ignored == 1 }
    })
    .await;
    assert!(recorder.seen().is_empty());
    assert_eq!(bus.stats().received, 0);
}

#[tokio::test]
async fn listeners_receive_keys_patterns_and_everything() {
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let sender = InvalidationBus::start(shared.clone(), "app:")
        .await
        .unwrap();
    let receiver = InvalidationBus::start(shared.clone(), "app:")
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    receiver.register(recorder.clone());
    let sent = vec![
        Invalidation::Key("user:1".into()),
        Invalidation::Pattern("feed:*".into()),
        Invalidation::All,
    ];
    for what in &sent {
        sender.publish(what).await.unwrap();
    }
    eventually("all three arrive", || {
        let n = recorder.seen().len();
        async move { n == 3 }
    })
    .await;
    assert_eq!(recorder.seen(), sent);
    assert_ne!(sender.instance_id(), receiver.instance_id());
}

#[tokio::test]
async fn applications_sharing_a_server_do_not_hear_each_other() {
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let billing_a = InvalidationBus::start(shared.clone(), "billing:")
        .await
        .unwrap();
    let billing_b = InvalidationBus::start(shared.clone(), "billing:")
        .await
        .unwrap();
    let search = InvalidationBus::start(shared.clone(), "search:")
        .await
        .unwrap();
    assert_eq!(billing_b.channel(), "billing:cache-invalidation");
    let recorder = Arc::new(Recorder::default());
    billing_b.register(recorder.clone());
    search
        .publish(&Invalidation::Key("search-key".into()))
        .await
        .unwrap();
    billing_a
        .publish(&Invalidation::Key("billing-key".into()))
        .await
        .unwrap();
    eventually("billing's own message arrives", || {
        let n = recorder.seen().len();
        async move { n >= 1 }
    })
    .await;
    assert_eq!(
        recorder.seen(),
        vec![Invalidation::Key("billing-key".into())]
    );
}

#[tokio::test]
async fn lost_messages_drop_all_local_state() {
    for event in [SubscriptionEvent::Reconnected, SubscriptionEvent::Lagged(3)] {
        let backend = SwitchableCache::new();
        backend.script_subscriptions();
        let shared: Arc<dyn Cache> = backend.clone();
        let a = near(&shared, "app:").await;
        shared.set("k1", b"old", TTL).await.unwrap();
        shared.set("k2", b"old", TTL).await.unwrap();
        assert_eq!(a.get("k1").await.unwrap().unwrap(), "old");
        assert_eq!(a.get("k2").await.unwrap().unwrap(), "old");
        // Changed elsewhere while the invalidations were lost:
        shared.set("k1", b"new", TTL).await.unwrap();
        shared.set("k2", b"new", TTL).await.unwrap();
        assert_eq!(
            a.get("k1").await.unwrap().unwrap(),
            "old",
            "the local copy, until told"
        );
        backend.feed(event.clone()).await;
        eventually("every local copy is dropped", || async {
            reads(&a, "k1", "new").await && reads(&a, "k2", "new").await
        })
        .await;
        assert_eq!(a.bus().stats().resets, 1, "{event:?}");
    }
}

#[tokio::test]
async fn when_the_subscription_ends_the_local_level_is_bypassed() {
    let backend = SwitchableCache::new();
    backend.script_subscriptions();
    let shared: Arc<dyn Cache> = backend.clone();
    let a = near(&shared, "app:").await;
    shared.set("k", b"old", TTL).await.unwrap();
    assert_eq!(a.get("k").await.unwrap().unwrap(), "old");
    backend.end_subscriptions();
    eventually("the bus notices", || {
        let listening = a.bus().is_listening();
        async move { !listening }
    })
    .await;
    shared.set("k", b"new", TTL).await.unwrap();
    assert_eq!(
        a.get("k").await.unwrap().unwrap(),
        "new",
        "read from the shared level"
    );
    assert_eq!(a.get("k").await.unwrap().unwrap(), "new");
}

#[tokio::test]
async fn a_closed_near_cache_refuses_calls_and_leaves_the_shared_level_open() {
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let a = near(&shared, "app:").await;
    a.close().await.unwrap();
    assert!(a.get("k").await.unwrap_err().is_closed());
    shared.set("k", b"v", TTL).await.unwrap();
}

/// What `b` returns for `key` through its typed level, as a string.
async fn reads_typed(cache: &NearCache, key: &str) -> Option<String> {
    cache
        .get_arc::<String>(key)
        .await
        .unwrap()
        .map(|v| v.as_ref().clone())
}

#[tokio::test]
async fn a_typed_local_hit_returns_the_value_decoded_once_without_reading_the_shared_level() {
    use cache_core::TypedCacheExt;
    let memory = Arc::new(MemoryCache::new());
    let shared: Arc<dyn Cache> = memory.clone();
    let a = near(&shared, "app:").await;
    shared
        .set_as("user:1", &"Ada".to_owned(), TTL)
        .await
        .unwrap();
    let first = a.get_arc::<String>("user:1").await.unwrap().unwrap();
    let shared_reads = memory.stats().hits;
    let again = a.get_arc::<String>("user:1").await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the same decoded value");
    assert_eq!(memory.stats().hits, shared_reads, "L2 not read again");
    assert_eq!(*again, "Ada");
}

#[tokio::test]
async fn own_writes_drop_the_typed_copy_at_once() {
    use cache_core::TypedCacheExt;
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let a = near(&shared, "app:").await;
    a.set_as("user:1", &"v1".to_owned(), TTL).await.unwrap();
    assert_eq!(reads_typed(&a, "user:1").await.as_deref(), Some("v1"));
    a.set_as("user:1", &"v2".to_owned(), TTL).await.unwrap();
    assert_eq!(reads_typed(&a, "user:1").await.as_deref(), Some("v2"));
    a.delete("user:1").await.unwrap();
    assert_eq!(reads_typed(&a, "user:1").await, None);
}

#[tokio::test]
async fn writes_on_another_instance_drop_its_typed_copies_by_key_and_by_pattern() {
    use cache_core::TypedCacheExt;
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let a = near(&shared, "app:").await;
    let b = near(&shared, "app:").await;
    // Written behind the near caches' backs: nothing is published.
    for key in ["feed:1:a", "feed:1:b", "feed:2:a"] {
        shared.set_as(key, &"old".to_owned(), TTL).await.unwrap();
        assert_eq!(reads_typed(&b, key).await.as_deref(), Some("old"));
    }
    for key in ["feed:1:a", "feed:1:b", "feed:2:a"] {
        shared.set_as(key, &"new".to_owned(), TTL).await.unwrap();
    }
    assert_eq!(reads_typed(&b, "feed:2:a").await.as_deref(), Some("old"));
    a.set_as("feed:2:a", &"newer".to_owned(), TTL)
        .await
        .unwrap();
    eventually("the key invalidation reaches b's typed level", || async {
        reads_typed(&b, "feed:2:a").await.as_deref() == Some("newer")
    })
    .await;
    assert_eq!(reads_typed(&b, "feed:1:a").await.as_deref(), Some("old"));
    a.bus()
        .publish(&Invalidation::Pattern("feed:1:*".into()))
        .await
        .unwrap();
    eventually(
        "the pattern invalidation reaches b's typed level",
        || async {
            reads_typed(&b, "feed:1:a").await.as_deref() == Some("new")
                && reads_typed(&b, "feed:1:b").await.as_deref() == Some("new")
        },
    )
    .await;
}

#[tokio::test]
async fn typed_copies_end_with_the_local_ttl_when_no_invalidation_comes() {
    use cache_core::TypedCacheExt;
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let a = NearCache::start(
        Arc::new(MemoryCache::new()),
        shared.clone(),
        "app:",
        Duration::from_millis(100),
    )
    .await
    .unwrap();
    shared.set_as("k", &"old".to_owned(), TTL).await.unwrap();
    assert_eq!(reads_typed(&a, "k").await.as_deref(), Some("old"));
    // Behind the near cache's back: only the local TTL ends its copies.
    shared.set_as("k", &"new".to_owned(), TTL).await.unwrap();
    eventually("the typed copy expires", || async {
        reads_typed(&a, "k").await.as_deref() == Some("new")
    })
    .await;
}

#[tokio::test]
async fn a_value_that_is_not_a_valid_t_is_a_codec_error_and_is_not_kept() {
    use cache_core::{ErrorKind, TypedCacheExt};
    let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let a = near(&shared, "app:").await;
    a.set_as("n", &7u32, TTL).await.unwrap();
    let err = a.get_arc::<String>("n").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    assert_eq!(err.key(), Some("n"));
    // Kept as a u32 once read as one; a read as another type is a miss.
    assert_eq!(*a.get_arc::<u32>("n").await.unwrap().unwrap(), 7);
    assert_eq!(*a.get_arc::<u64>("n").await.unwrap().unwrap(), 7);
    assert_eq!(*a.get_arc::<u32>("n").await.unwrap().unwrap(), 7);
}
