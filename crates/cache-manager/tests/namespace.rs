//! `cache_patterns::Namespaced` on the in-memory backend: what a view may see and
//! touch, what it shares with the backend, and what its close does.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cache_core::key::MAX_KEY_BYTES;
use cache_core::{Cache, ErrorKind, ScanCursor, SubscriptionEvent};
use cache_memory::MemoryCache;
use cache_patterns::Namespaced;
use support::eventually;

const TTL: Duration = Duration::from_secs(60);

/// Prefixes that would widen a pattern if they were not escaped.
const GLOB_PREFIXES: [&str; 6] = ["a*:", "?:", "[ab]:", "x\\:", "[^z]-:", "*"];

fn shared() -> Arc<dyn Cache> {
    Arc::new(MemoryCache::new())
}

async fn all_keys(cache: &dyn Cache) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = ScanCursor::start();
    loop {
        let page = cache.scan_keys("*", &cursor, 100).await.unwrap();
        keys.extend(page.keys);
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    keys.sort();
    keys
}

#[tokio::test]
async fn keys_are_stored_under_the_prefix() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    view.set("k", b"v", TTL).await.unwrap();
    assert_eq!(&backend.get("app:k").await.unwrap().unwrap()[..], b"v");
    assert!(backend.get("k").await.unwrap().is_none());
}

#[tokio::test]
async fn batch_calls_prefix_every_key() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    view.set_many(&[("a", b"1"), ("b", b"2")], TTL)
        .await
        .unwrap();
    let got = backend.get_many(&["app:a", "app:b"]).await.unwrap();
    assert!(got.iter().all(Option::is_some));
    assert_eq!(
        view.get_many(&["a", "b", "c"])
            .await
            .unwrap()
            .iter()
            .flatten()
            .count(),
        2
    );
    assert_eq!(view.delete_many(&["a", "b"]).await.unwrap(), 2);
    assert!(backend.get("app:a").await.unwrap().is_none());
}

#[tokio::test]
async fn atomic_calls_work_on_the_prefixed_key() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    assert_eq!(view.incr_by("n", 2, TTL).await.unwrap(), 2);
    assert!(
        view.compare_and_set("lock", None, b"me", TTL)
            .await
            .unwrap()
    );
    assert!(view.compare_and_delete("lock", b"me").await.unwrap());
    assert!(view.get_or_set("once", b"x", TTL).await.unwrap().1);
    assert_eq!(&backend.get("app:n").await.unwrap().unwrap()[..], b"2");
    assert_eq!(&backend.get("app:once").await.unwrap().unwrap()[..], b"x");
}

#[tokio::test]
async fn scan_returns_only_the_views_keys_without_the_prefix() {
    let backend = shared();
    backend.set("other:k", b"x", TTL).await.unwrap();
    backend.set("appk", b"x", TTL).await.unwrap();
    let view = Namespaced::new(backend.clone(), "app:");
    view.set("k1", b"v", TTL).await.unwrap();
    view.set("k2", b"v", TTL).await.unwrap();
    assert_eq!(all_keys(&view).await, ["k1", "k2"]);
}

#[tokio::test]
async fn delete_pattern_deletes_only_the_views_keys() {
    let backend = shared();
    backend.set("other:k", b"x", TTL).await.unwrap();
    let view = Namespaced::new(backend.clone(), "app:");
    view.set("k", b"v", TTL).await.unwrap();
    assert_eq!(view.delete_pattern("*").await.unwrap(), 1);
    assert!(backend.get("other:k").await.is_ok_and(|v| v.is_some()));
}

#[tokio::test]
async fn glob_metacharacters_in_the_prefix_match_only_themselves_in_scan() {
    for prefix in GLOB_PREFIXES {
        let backend = shared();
        // Keys a glob reading of the prefix would match.
        for bystander in ["ab:k", "a:k", "b:k", "ax:k", "x:k", "-:k", "q:k", "zz"] {
            backend.set(bystander, b"x", TTL).await.unwrap();
        }
        let view = Namespaced::new(backend.clone(), prefix);
        view.set("mine", b"v", TTL).await.unwrap();
        assert_eq!(all_keys(&view).await, ["mine"], "prefix {prefix:?}");
    }
}

#[tokio::test]
async fn glob_metacharacters_in_the_prefix_match_only_themselves_in_delete_pattern() {
    for prefix in GLOB_PREFIXES {
        let backend = shared();
        let bystanders = ["ab:k", "a:k", "b:k", "ax:k", "x:k", "-:k", "q:k", "zz"];
        for bystander in bystanders {
            backend.set(bystander, b"x", TTL).await.unwrap();
        }
        let view = Namespaced::new(backend.clone(), prefix);
        view.set("mine", b"v", TTL).await.unwrap();
        assert_eq!(
            view.delete_pattern("*").await.unwrap(),
            1,
            "prefix {prefix:?}"
        );
        for bystander in bystanders {
            assert!(
                backend.get(bystander).await.is_ok_and(|v| v.is_some()),
                "{bystander} under {prefix:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_pattern_cannot_escape_the_prefix() {
    let backend = shared();
    backend.set("b:secret", b"x", TTL).await.unwrap();
    let view = Namespaced::new(backend.clone(), "a:");
    for pattern in ["*", "\\", "[", "*b:*", "?*", "[^a]*", "\\*"] {
        assert!(
            all_keys_matching(&view, pattern).await.is_empty(),
            "{pattern:?}"
        );
        assert_eq!(
            view.delete_pattern(pattern).await.unwrap(),
            0,
            "{pattern:?}"
        );
    }
    assert!(backend.get("b:secret").await.is_ok_and(|v| v.is_some()));
}

async fn all_keys_matching(cache: &dyn Cache, pattern: &str) -> Vec<String> {
    cache
        .scan_keys(pattern, &ScanCursor::start(), 1000)
        .await
        .unwrap()
        .keys
}

#[tokio::test]
async fn errors_name_the_views_key_not_the_prefixed_one() {
    let view = Namespaced::new(shared(), "app:");
    let long = "x".repeat(cache_core::key::MAX_KEY_BYTES);
    let error = view.get(&long).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidKey, "{error:?}");
    assert_eq!(error.key(), Some(&*cache_core::error::cut_key(&long)));
}

#[tokio::test]
async fn the_prefix_counts_against_the_key_length_limit() {
    let view = Namespaced::new(shared(), "app:");
    let longest = "k".repeat(MAX_KEY_BYTES - "app:".len());
    view.set(&longest, b"v", TTL).await.unwrap();
    let error = view
        .set(&format!("{longest}k"), b"v", TTL)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidKey);
}

#[tokio::test]
async fn an_empty_key_is_invalid_although_the_prefix_is_not_empty() {
    let view = Namespaced::new(shared(), "app:");
    assert_eq!(
        view.get("").await.unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
}

#[tokio::test]
async fn channels_are_prefixed() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    let mut raw = backend.subscribe("app:events").await.unwrap();
    view.publish("events", b"hello").await.unwrap();
    assert_eq!(
        raw.recv().await,
        Some(SubscriptionEvent::Message(bytes::Bytes::from_static(
            b"hello"
        )))
    );
}

#[tokio::test]
async fn a_views_subscription_names_the_views_channel_and_receives() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    let mut sub = view.subscribe("events").await.unwrap();
    assert_eq!(sub.channel(), "events");
    backend.publish("app:events", b"hi").await.unwrap();
    assert_eq!(
        sub.recv().await,
        Some(SubscriptionEvent::Message(bytes::Bytes::from_static(b"hi")))
    );
}

#[tokio::test]
async fn stats_are_the_shared_backends() {
    let backend = shared();
    let a = Namespaced::new(backend.clone(), "a:");
    let b = Namespaced::new(backend.clone(), "b:");
    let _ = a.get("k").await;
    let _ = b.get("k").await;
    assert_eq!(a.stats().misses, 2);
    assert_eq!(a.stats(), backend.stats());
}

#[tokio::test]
async fn closing_a_view_refuses_its_calls() {
    let view = Namespaced::new(shared(), "app:");
    view.close().await.unwrap();
    assert!(view.get("k").await.unwrap_err().is_closed());
    assert!(view.health().await.unwrap_err().is_closed());
}

#[tokio::test]
async fn closing_a_view_leaves_the_shared_backend_open() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    let sibling = Namespaced::new(backend.clone(), "other:");
    view.close().await.unwrap();
    backend.health().await.unwrap();
    sibling.set("k", b"v", TTL).await.unwrap();
}

#[tokio::test]
async fn closing_an_owning_view_closes_the_backend() {
    let backend = shared();
    let view = Namespaced::owning(backend.clone(), "app:");
    view.close().await.unwrap();
    assert!(backend.health().await.unwrap_err().is_closed());
}

#[tokio::test]
async fn closing_a_view_ends_its_subscriptions() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    let mut sub = view.subscribe("events").await.unwrap();
    view.close().await.unwrap();
    let ended = tokio::time::timeout(support::DEADLINE, sub.recv()).await;
    assert_eq!(ended.expect("recv must return"), None);
}

#[tokio::test]
async fn dropping_a_views_subscription_unsubscribes_from_the_backend() {
    let backend = shared();
    let view = Namespaced::new(backend.clone(), "app:");
    drop(view.subscribe("events").await.unwrap());
    eventually("the backend has no subscriber left", || {
        let backend = backend.clone();
        async move { backend.publish("app:events", b"x").await.unwrap() == 0 }
    })
    .await;
}

#[tokio::test]
async fn a_view_can_wrap_a_concrete_backend() {
    let backend = Arc::new(MemoryCache::new());
    let view: Namespaced<MemoryCache> = Namespaced::new(backend.clone(), "app:");
    view.set("k", b"v", TTL).await.unwrap();
    assert_eq!(&backend.get("app:k").await.unwrap().unwrap()[..], b"v");
}
