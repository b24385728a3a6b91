//! scan_keys pagination and delete_pattern.

use std::collections::{BTreeSet, HashMap};

use super::{SHORT_TTL, TTL, cache, manual, one_expired};
use crate::MemoryCache;
use cache_core::pattern::escape;
use cache_core::{Cache, ErrorKind, ScanCursor};

/// Every key of a full iteration, in the order returned.
async fn scan_all(c: &MemoryCache, pattern: &str, count: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = ScanCursor::start();
    for _ in 0..100_000 {
        let page = c.scan_keys(pattern, &cursor, count).await.unwrap();
        keys.extend(page.keys);
        match page.next {
            Some(next) => cursor = next,
            None => return keys,
        }
    }
    panic!("the iteration never ended");
}

async fn fill(c: &MemoryCache, prefix: &str, n: usize) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for i in 0..n {
        let key = format!("{prefix}{i:05}");
        c.set(&key, b"v", TTL).await.unwrap();
        keys.insert(key);
    }
    keys
}

#[tokio::test]
async fn scan_returns_every_matching_key_once_in_sorted_pages() {
    let c = cache();
    let users = fill(&c, "user:", 95).await;
    fill(&c, "order:", 20).await;
    let listed = scan_all(&c, "user:*", 10).await;
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), users);
    assert_eq!(listed.len(), users.len(), "no duplicates");
    assert!(listed.is_sorted());
}

#[tokio::test]
async fn scan_pages_are_at_most_count_long() {
    let c = cache();
    fill(&c, "k", 25).await;
    let mut cursor = ScanCursor::start();
    let mut sizes = Vec::new();
    loop {
        let page = c.scan_keys("*", &cursor, 10).await.unwrap();
        sizes.push(page.keys.len());
        let Some(next) = page.next else { break };
        cursor = next;
    }
    assert_eq!(sizes, [10, 10, 5]);
}

#[tokio::test]
async fn scan_with_count_zero_uses_a_default_page() {
    let c = cache();
    fill(&c, "k", 5).await;
    let page = c.scan_keys("*", &ScanCursor::start(), 0).await.unwrap();
    assert_eq!(page.keys.len(), 5);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn scan_of_an_empty_cache_is_one_empty_page() {
    let page = cache()
        .scan_keys("*", &ScanCursor::start(), 10)
        .await
        .unwrap();
    assert!(page.keys.is_empty());
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn scan_skips_expired_keys() {
    let c = one_expired("gone", "kept").await;
    assert_eq!(scan_all(&c, "*", 10).await, ["kept"]);
}

#[tokio::test]
async fn a_key_that_expires_between_pages_is_not_listed() {
    let (c, clock) = manual();
    for (key, ttl) in [("a", TTL), ("b", SHORT_TTL), ("c", TTL)] {
        c.set(key, b"v", ttl).await.unwrap();
    }
    // One pass finds all three and parks "b" and "c" for the next pages.
    let first = c.scan_keys("*", &ScanCursor::start(), 1).await.unwrap();
    assert_eq!(first.keys, ["a"]);
    clock.advance(SHORT_TTL);
    let rest = c.scan_keys("*", &first.next.unwrap(), 10).await.unwrap();
    assert_eq!((rest.keys, rest.next), (vec!["c".to_owned()], None));
}

#[tokio::test]
async fn a_key_named_zero_does_not_restart_the_scan() {
    let c = cache();
    for key in ["0", "1", "2"] {
        c.set(key, b"v", TTL).await.unwrap();
    }
    let first = c.scan_keys("*", &ScanCursor::start(), 1).await.unwrap();
    assert_eq!(first.keys, ["0"]);
    let next = first.next.expect("more keys follow");
    assert!(!next.is_start(), "the cursor after \"0\" is not the start");
    let rest = c.scan_keys("*", &next, 5).await.unwrap();
    assert_eq!(
        (rest.keys, rest.next),
        (vec!["1".to_owned(), "2".to_owned()], None)
    );
}

#[tokio::test]
async fn scan_matches_keys_with_glob_metacharacters_through_escape() {
    let c = cache();
    c.set("a*b:1", b"v", TTL).await.unwrap();
    c.set("aXb:1", b"v", TTL).await.unwrap();
    let pattern = format!("{}*", escape("a*b:"));
    assert_eq!(scan_all(&c, &pattern, 10).await, ["a*b:1"]);
}

#[tokio::test]
async fn scan_cursors_survive_a_round_trip_through_text() {
    let c = cache();
    fill(&c, "k", 3).await;
    let first = c.scan_keys("*", &ScanCursor::start(), 1).await.unwrap();
    let printed = first.next.unwrap().to_string();
    let second = c
        .scan_keys("*", &ScanCursor::from_string(printed), 1)
        .await
        .unwrap();
    assert_eq!(second.keys, ["k00001"]);
}

#[tokio::test]
async fn scan_refuses_a_cursor_it_did_not_make() {
    let err = cache()
        .scan_keys("*", &ScanCursor::from_string("12345"), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
}

#[tokio::test]
async fn scan_returns_keys_present_throughout_exactly_once_despite_writes_between_pages() {
    let c = cache();
    let stable = fill(&c, "s:", 300).await;
    let transient = fill(&c, "s:t", 100).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor = ScanCursor::start();
    let mut page_no = 0;
    loop {
        let page = c.scan_keys("s:*", &cursor, 7).await.unwrap();
        for key in page.keys {
            *seen.entry(key).or_default() += 1;
        }
        // Between pages: insert keys before and after the cursor, delete others.
        page_no += 1;
        c.set(&format!("s:{page_no:05}x"), b"v", TTL).await.unwrap();
        c.set(&format!("s:!{page_no}"), b"v", TTL).await.unwrap();
        c.delete(&format!("s:t{:05}", page_no % 100)).await.unwrap();
        let Some(next) = page.next else { break };
        cursor = next;
    }
    for key in &stable {
        assert_eq!(seen.get(key), Some(&1), "{key}");
    }
    assert!(seen.values().all(|&n| n == 1), "no key twice");
    assert!(seen.keys().all(|k| k.starts_with("s:")));
    drop(transient);
}

#[tokio::test]
async fn scan_iterates_past_one_prefetch_exactly_once() {
    let c = cache();
    let n = super::super::scan::PREFETCH_KEYS + 1500;
    let all = fill(&c, "p", n).await;
    let listed = scan_all(&c, "p*", 1000).await;
    assert_eq!(listed.len(), n);
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), all);
}

#[tokio::test]
async fn scan_continues_from_a_cursor_after_a_key_was_deleted() {
    let c = cache();
    fill(&c, "k", 4).await;
    let page = c.scan_keys("*", &ScanCursor::start(), 2).await.unwrap();
    assert_eq!(page.keys, ["k00000", "k00001"]);
    c.delete("k00001").await.unwrap();
    c.delete("k00002").await.unwrap();
    let rest = c.scan_keys("*", &page.next.unwrap(), 2).await.unwrap();
    assert_eq!(rest.keys, ["k00003"]);
    assert_eq!(rest.next, None);
}

#[tokio::test]
async fn delete_pattern_deletes_only_matching_keys_and_counts_them() {
    let c = cache();
    fill(&c, "tenant:a:", 12).await;
    fill(&c, "tenant:b:", 5).await;
    assert_eq!(c.delete_pattern("tenant:a:*").await.unwrap(), 12);
    assert!(scan_all(&c, "tenant:a:*", 100).await.is_empty());
    assert_eq!(scan_all(&c, "*", 100).await.len(), 5);
}

#[tokio::test]
async fn delete_pattern_with_no_match_deletes_nothing() {
    let c = cache();
    fill(&c, "k", 3).await;
    assert_eq!(c.delete_pattern("other*").await.unwrap(), 0);
    assert_eq!(scan_all(&c, "*", 100).await.len(), 3);
}

#[tokio::test]
async fn delete_pattern_does_not_count_expired_keys() {
    let c = one_expired("k:gone", "k:kept").await;
    assert_eq!(c.delete_pattern("k:*").await.unwrap(), 1);
}
