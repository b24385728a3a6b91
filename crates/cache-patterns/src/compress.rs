//! [`Compressed`]: values above a threshold stored compressed (zstd), on any
//! [`Cache`] (feature `compression`, on by default).
//!
//! zstd level 1 was chosen over lz4 by `benches/compression.rs` (figures in
//! docs/BENCHMARKS.md): on JSON and HTML of 8–17 KiB it stores about 0.21 of
//! the bytes against lz4's 0.35, for 3–4× lz4's CPU (tens of µs, small next
//! to a network round trip); level 3 saves ~5% more for ~1.3× the time.
//!
//! # Format
//! A compressed value is [`MARKER`] followed by one zstd frame. Anything else
//! is read as it is, so values written before compression was turned on (or
//! below the threshold) still read. A value that would be stored plain but
//! starts with the marker is compressed whatever its size, so every value
//! written through the layer reads back exactly.
//!
//! # Limits
//! The uncompressed size is checked against the limit before compressing
//! ([`ErrorKind::ValueTooLarge`](cache_core::ErrorKind::ValueTooLarge)), and
//! decompression never produces more than the limit: a frame that declares
//! more is refused from its header, one that does not is cut off at the
//! limit, both with `ValueTooLarge` (a decompression bomb costs at most one
//! buffer of the limit's size).
//!
//! # Conditional calls
//! `compare_and_set` and `compare_and_delete` compare stored bytes: the
//! expected value is encoded the way this layer writes it (zstd output is
//! deterministic for one level and library version), so a value written by a
//! layer with another threshold or level does not match. Counters and rate
//! limits are never compressed (the layer passes them through).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::Cache;
//! use cache_memory::MemoryCache;
//! use cache_patterns::compress::{Compressed, Compression};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cache_core::Result<()> {
//! let shared = Arc::new(MemoryCache::new());
//! let cache = Compressed::new(shared.clone(), Compression::new(4 << 20));
//! let page = "<li>an item</li>".repeat(500);
//! cache.set("page", page.as_bytes(), Duration::from_secs(60)).await?;
//! assert!(shared.get("page").await?.unwrap().len() < page.len() / 10);
//! assert_eq!(cache.get("page").await?.unwrap(), page.as_bytes());
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::key::validate_value_size;
use cache_core::{Cache, CacheError, CacheLayer, CodecError, Result};

/// The bytes that open a compressed value: `0xFF` (never the first byte of
/// UTF-8 text, JSON or a CBOR item), `cz`, and the format version.
pub const MARKER: &[u8; 4] = b"\xFFcz\x01";

/// The default threshold: values of this many bytes or more are compressed.
pub const DEFAULT_THRESHOLD: usize = 1024;

/// The smallest threshold: shorter values are never compressed. Nothing that
/// short gets smaller (a frame and the marker take ~17 bytes), and a counter
/// (at most 20 bytes of decimal text) must stay text for `incr_by`.
pub const MIN_THRESHOLD: usize = 32;

/// The default zstd level.
pub const DEFAULT_LEVEL: i32 = 1;

/// When and how [`Compressed`] compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    threshold: usize,
    level: i32,
    max_value_bytes: usize,
}

impl Compression {
    /// Compression of values of [`DEFAULT_THRESHOLD`] bytes or more at
    /// [`DEFAULT_LEVEL`], for a backend that takes values up to
    /// `max_value_bytes` (its own limit: the same limit caps decompression).
    pub fn new(max_value_bytes: usize) -> Self {
        Compression {
            threshold: DEFAULT_THRESHOLD,
            level: DEFAULT_LEVEL,
            max_value_bytes,
        }
    }

    /// Values of `bytes` bytes or more are compressed (at least
    /// [`MIN_THRESHOLD`]: a smaller threshold is raised to it).
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes.max(MIN_THRESHOLD);
        self
    }

    /// The zstd level, clamped to 1..=19 (higher is smaller and slower).
    pub fn level(mut self, level: i32) -> Self {
        self.level = level.clamp(1, 19);
        self
    }

    /// `value` as it is stored: compressed when at or above the threshold
    /// (or when it starts with the marker), plain otherwise.
    fn encode<'v>(&self, key: &str, value: &'v [u8]) -> Result<Cow<'v, [u8]>> {
        validate_value_size(key, value, self.max_value_bytes)?;
        if value.len() < self.threshold && !value.starts_with(MARKER) {
            return Ok(Cow::Borrowed(value));
        }
        let frame = with_compressor(self.level, |c| c.compress(value))
            .map_err(|e| codec(key, format!("zstd compression failed: {e}")))?;
        let mut out = Vec::with_capacity(MARKER.len() + frame.len());
        out.extend_from_slice(MARKER);
        out.extend_from_slice(&frame);
        Ok(Cow::Owned(out))
    }

    /// A stored value as the caller wrote it.
    fn decode(&self, key: &str, stored: Bytes) -> Result<Bytes> {
        let Some(frame) = stored.strip_prefix(MARKER.as_slice()) else {
            return Ok(stored);
        };
        let max = self.max_value_bytes;
        match zstd::zstd_safe::get_frame_content_size(frame) {
            Ok(Some(size)) if size > max as u64 => {
                return Err(CacheError::value_too_large(
                    key,
                    usize::try_from(size).unwrap_or(usize::MAX),
                    max,
                ));
            }
            Ok(_) => {}
            Err(_) => return Err(codec(key, "a compressed value without a zstd frame")),
        }
        DECOMPRESSOR
            .with_borrow_mut(|d| d.decompress(frame, max))
            .map(Bytes::from)
            .map_err(|e| {
                if e.to_string().contains("too small") {
                    // A frame that did not declare its size, cut off at the limit.
                    CacheError::value_too_large(key, max.saturating_add(1), max)
                } else {
                    codec(key, format!("a corrupt compressed value: {e}"))
                }
            })
    }
}

thread_local! {
    /// zstd contexts, kept per thread: making one costs more than
    /// compressing a few KiB with it.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<zstd::bulk::Decompressor<'static>> = RefCell::new(
        zstd::bulk::Decompressor::new().expect("a zstd decompression context"),
    );
}

fn with_compressor<T>(
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    COMPRESSOR.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let (_, compressor) = slot.as_mut().expect("just set");
        f(compressor)
    })
}

fn codec(key: &str, reason: impl Into<String>) -> CacheError {
    CacheError::from(CodecError::Decode(reason.into())).with_key(key)
}

/// A [`Cache`] whose values at or above a threshold are stored compressed.
/// See the [module docs](self).
#[derive(Debug)]
pub struct Compressed<C: ?Sized> {
    inner: Arc<C>,
    compression: Compression,
}

impl<C: Cache + ?Sized> Compressed<C> {
    /// `inner`, compressing as `compression` says.
    pub fn new(inner: Arc<C>, compression: Compression) -> Self {
        Compressed { inner, compression }
    }
}

impl<C: Cache + ?Sized> CacheLayer for Compressed<C> {
    type Inner = C;

    fn inner(&self) -> &C {
        &self.inner
    }

    async fn get(this: &Self, key: &str) -> Result<Option<Bytes>> {
        match this.inner.get(key).await? {
            Some(stored) => this.compression.decode(key, stored).map(Some),
            None => Ok(None),
        }
    }

    async fn set(this: &Self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let stored = this.compression.encode(key, value)?;
        this.inner.set(key, &stored, ttl).await
    }

    async fn get_or_set(
        this: &Self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(Bytes, bool)> {
        let stored = this.compression.encode(key, value)?;
        let (now, fresh) = this.inner.get_or_set(key, &stored, ttl).await?;
        if fresh {
            return Ok((Bytes::copy_from_slice(value), true));
        }
        Ok((this.compression.decode(key, now)?, false))
    }

    async fn compare_and_set(
        this: &Self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let new = this.compression.encode(key, new)?;
        let expected = expected
            .map(|e| this.compression.encode(key, e))
            .transpose()?;
        this.inner
            .compare_and_set(key, expected.as_deref(), &new, ttl)
            .await
    }

    async fn compare_and_delete(this: &Self, key: &str, expected: &[u8]) -> Result<bool> {
        let expected = this.compression.encode(key, expected)?;
        this.inner.compare_and_delete(key, &expected).await
    }

    async fn get_many(this: &Self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let values = this.inner.get_many(keys).await?;
        keys.iter()
            .zip(values)
            .map(|(key, value)| value.map(|v| this.compression.decode(key, v)).transpose())
            .collect()
    }

    async fn set_many(this: &Self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        let stored: Vec<Cow<'_, [u8]>> = entries
            .iter()
            .map(|(key, value)| this.compression.encode(key, value))
            .collect::<Result<_>>()?;
        let entries: Vec<(&str, &[u8])> = entries
            .iter()
            .zip(&stored)
            .map(|((key, _), value)| (*key, &**value))
            .collect();
        this.inner.set_many(&entries, ttl).await
    }
}
