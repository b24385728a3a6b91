//! `Compressed`: the contract holds through it (the conformance suite with
//! every value compressed), old plain values still read, and decompression
//! never produces more than the value-size limit.
#![cfg(feature = "compression")]

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, ErrorKind};
use cache_memory::MemoryCache;
use cache_patterns::compress::{Compressed, Compression, MARKER};
use cache_testing::conformance::OnManualClock;

const TTL: Duration = Duration::from_secs(60);
const LIMIT: usize = 1 << 20;

/// The whole suite, every value of `MIN_THRESHOLD` bytes or more compressed.
mod conformance {
    use super::*;
    cache_testing::conformance_tests!(OnManualClock::new(|clock| async move {
        let inner = Arc::new(MemoryCache::builder().clock(clock).build().unwrap());
        let limit = cache_memory::MemoryConfig::default().max_value_bytes;
        Arc::new(Compressed::new(inner, Compression::new(limit).threshold(0))) as Arc<dyn Cache>
    }));
}

fn layer() -> (Arc<MemoryCache>, Compressed<MemoryCache>) {
    let inner = Arc::new(MemoryCache::new());
    (
        inner.clone(),
        Compressed::new(inner, Compression::new(LIMIT)),
    )
}

fn page() -> Vec<u8> {
    (0..400)
        .map(|i| format!("<li data-id=\"{i}\">item number {i}</li>"))
        .collect::<String>()
        .into_bytes()
}

#[tokio::test]
async fn values_over_the_threshold_are_stored_compressed_with_the_marker() {
    let (inner, cache) = layer();
    let page = page();
    cache.set("big", &page, TTL).await.unwrap();
    cache.set("small", b"short", TTL).await.unwrap();
    let stored = inner.get("big").await.unwrap().unwrap();
    assert!(stored.starts_with(MARKER));
    assert!(
        stored.len() * 4 < page.len(),
        "{} of {}",
        stored.len(),
        page.len()
    );
    assert_eq!(inner.get("small").await.unwrap().unwrap(), &b"short"[..]);
    assert_eq!(cache.get("big").await.unwrap().unwrap(), page);
    let many = cache.get_many(&["small", "big", "none"]).await.unwrap();
    assert_eq!(many[1].as_deref(), Some(&page[..]));
}

#[tokio::test]
async fn plain_values_written_before_compression_still_read() {
    let (inner, cache) = layer();
    let page = page();
    inner.set("legacy", &page, TTL).await.unwrap();
    assert_eq!(cache.get("legacy").await.unwrap().unwrap(), page);
}

#[tokio::test]
async fn a_small_value_that_starts_with_the_marker_round_trips() {
    let (inner, cache) = layer();
    let mut odd = MARKER.to_vec();
    odd.extend_from_slice(b"not a frame");
    cache.set("odd", &odd, TTL).await.unwrap();
    assert_ne!(inner.get("odd").await.unwrap().unwrap(), odd);
    assert_eq!(cache.get("odd").await.unwrap().unwrap(), odd);
}

#[tokio::test]
async fn a_value_over_the_limit_is_refused_before_compression() {
    let (inner, cache) = layer();
    let zeros = vec![0u8; LIMIT + 1];
    let err = cache.set("k", &zeros, TTL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(inner.get("k").await.unwrap(), None);
}

/// `MARKER` and a zstd frame of `size` zeros written as a stream: the frame
/// does not declare its size, so only the decompressor's cap stops it.
fn bomb_without_declared_size(size: usize) -> Vec<u8> {
    let mut encoder = zstd::stream::Encoder::new(MARKER.to_vec(), 3).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..size / chunk.len() {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap()
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_at_the_value_size_limit() {
    let (inner, cache) = layer();
    // 16 MiB of zeros in a few KiB, without a declared size.
    let bomb = bomb_without_declared_size(16 << 20);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    inner.set("bomb", &bomb, TTL).await.unwrap();
    let err = cache.get("bomb").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge, "{err}");
    assert_eq!(err.key(), Some("bomb"));
    // A frame that declares its size is refused from its header.
    let mut declared = MARKER.to_vec();
    declared.extend(zstd::bulk::compress(&vec![0u8; 8 << 20], 1).unwrap());
    inner.set("declared", &declared, TTL).await.unwrap();
    let err = cache.get("declared").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge, "{err}");
    // Right at the limit is fine.
    let mut at_limit = MARKER.to_vec();
    at_limit.extend(zstd::bulk::compress(&vec![7u8; LIMIT], 1).unwrap());
    inner.set("at-limit", &at_limit, TTL).await.unwrap();
    assert_eq!(cache.get("at-limit").await.unwrap().unwrap().len(), LIMIT);
}

#[tokio::test]
async fn a_corrupt_frame_is_a_codec_error() {
    let (inner, cache) = layer();
    let mut corrupt = MARKER.to_vec();
    corrupt.extend_from_slice(b"garbage, not zstd");
    inner.set("bad", &corrupt, TTL).await.unwrap();
    let err = cache.get("bad").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
}

#[tokio::test]
async fn conditional_calls_compare_what_the_layer_wrote() {
    let (_, cache) = layer();
    let page = page();
    let mut next = page.clone();
    next.extend_from_slice(b"<li>one more</li>");
    cache.set("p", &page, TTL).await.unwrap();
    assert!(
        cache
            .compare_and_set("p", Some(&page), &next, TTL)
            .await
            .unwrap()
    );
    assert!(!cache.compare_and_delete("p", &page).await.unwrap());
    assert!(cache.compare_and_delete("p", &next).await.unwrap());
    let (stored, fresh) = cache.get_or_set("q", &page, TTL).await.unwrap();
    assert!(fresh && stored == page);
    let (stored, fresh) = cache.get_or_set("q", b"other", TTL).await.unwrap();
    assert!(!fresh && stored == page);
}
