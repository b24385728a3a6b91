//! What the store holds for a key, and how much it is charged against the
//! byte bound.

use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

/// One stored value and the instant it stops being visible.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The payload.
    pub(crate) value: Stored,
    /// The first instant, on the cache's clock, at which the entry is gone;
    /// `None` after `persist` (no expiry). Checked on every read, which is
    /// what makes an entry "gone from the first millisecond its TTL has
    /// passed"; the map frees expired entries lazily.
    pub(crate) expires_at: Option<Instant>,
}

/// The payload of an [`Entry`].
#[derive(Debug, Clone)]
pub(crate) enum Stored {
    /// A plain value (also counters, stored as decimal ASCII like Redis does).
    Bytes(Bytes),
    /// The admitted request times of a sliding-window rate limit. Not a byte
    /// string: reading it with `get` is a wrong-type error, as a sorted set is
    /// on Redis. Mutated in place, only ever under the key's stripe lock.
    RequestLog(Arc<RequestLog>),
    /// A set ([`Collections`](cache_core::Collections)), mutated in place
    /// under the key's stripe lock like a request log.
    Set(Arc<crate::collections::SetData>),
    /// A hash, mutated in place under the key's stripe lock.
    Hash(Arc<crate::collections::HashData>),
}

/// The admission times of a sliding-window rate limit, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    /// Non-decreasing: every writer holds the key's stripe lock and reads a
    /// monotonic clock inside it.
    pub(crate) times: Mutex<VecDeque<Instant>>,
}

impl Entry {
    /// A plain value visible until `expires_at`.
    pub(crate) fn bytes(value: Bytes, expires_at: Instant) -> Self {
        Entry {
            value: Stored::Bytes(value),
            expires_at: Some(expires_at),
        }
    }

    /// Whether the entry is still visible at `now`.
    #[inline]
    pub(crate) fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// The payload size charged against the byte bound.
    pub(crate) fn payload_bytes(&self) -> u64 {
        match &self.value {
            Stored::Bytes(b) => b.len() as u64,
            // Never called while the log's lock is held: the weigher runs
            // inside `insert`, and rate limiting drops the guard before it.
            Stored::RequestLog(log) => (log.times.lock().len() * size_of::<Instant>()) as u64,
            Stored::Set(set) => set.payload_bytes(),
            Stored::Hash(hash) => hash.payload_bytes(),
        }
    }
}

/// How entries are charged against the map's single capacity, so that one
/// capacity enforces both `max_entries` and `max_bytes`.
///
/// With a byte bound `M` and an entry bound `N`, every entry is charged its
/// key and payload bytes plus a fixed share `q = ceil(M / N)`, against a
/// capacity of `M`. A full cache then holds at most `M` bytes (the shares
/// only add) and at most `M / q <= N` entries (every entry costs at least
/// `q`). Held bytes are recoverable exactly: `charged - entries * q`.
///
/// Weights are `u32`; when the largest possible entry would not fit,
/// weights are counted in units of `2^unit_shift` bytes (rounded up, so the
/// bounds still hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Weighing {
    /// The byte bound `M`.
    pub(crate) max_bytes: u64,
    /// The fixed share `q` charged per entry.
    pub(crate) per_entry: u64,
    /// Weights are in units of `2^unit_shift` bytes.
    pub(crate) unit_shift: u32,
    /// The most weight units one entry may have: the capacity of one shard
    /// of the map ([`Weighing::with_room`]), the whole capacity until then.
    pub(crate) room: u64,
}

impl Weighing {
    /// The weighing for `max_bytes` and `max_entries` (both at least 1), where
    /// no entry charges more than `largest_entry` bytes.
    pub(crate) fn new(max_bytes: u64, max_entries: u64, largest_entry: u64) -> Self {
        let per_entry = max_bytes.div_ceil(max_entries);
        let largest = largest_entry.saturating_add(per_entry);
        let mut unit_shift = 0;
        while (largest >> unit_shift) > u64::from(u32::MAX) {
            unit_shift += 1;
        }
        Weighing {
            max_bytes,
            per_entry,
            unit_shift,
            room: max_bytes >> unit_shift,
        }
    }

    /// The same weighing where no entry may weigh more than `room` units
    /// (the capacity of one shard of the map).
    pub(crate) fn with_room(self, room: u64) -> Self {
        Weighing {
            room: room.min(self.capacity()),
            ..self
        }
    }

    /// The map's capacity, in weight units.
    pub(crate) fn capacity(&self) -> u64 {
        self.max_bytes >> self.unit_shift
    }

    /// The weight of an entry whose key and payload take `bytes` bytes.
    #[inline]
    pub(crate) fn weight_of(&self, bytes: u64) -> u64 {
        bytes
            .saturating_add(self.per_entry)
            .div_ceil(1 << self.unit_shift)
    }

    /// The map's weigher.
    pub(crate) fn weigh(&self, key: &str, entry: &Entry) -> u32 {
        let units = self.weight_of(key.len() as u64 + entry.payload_bytes());
        u32::try_from(units).unwrap_or(u32::MAX)
    }

    /// Whether an entry of `bytes` key and payload bytes fits in the cache at all
    /// (the map would evict an entry heavier than its shard's capacity right
    /// after storing it).
    #[inline]
    pub(crate) fn fits(&self, bytes: u64) -> bool {
        self.weight_of(bytes) <= self.room
    }

    /// The largest payload that fits under a key of `key_len` bytes.
    pub(crate) fn largest_payload(&self, key_len: usize) -> u64 {
        (self.room << self.unit_shift)
            .saturating_sub(self.per_entry)
            .saturating_sub(key_len as u64)
    }

    /// The key and payload bytes held, from the map's two counters.
    pub(crate) fn held_bytes(&self, weighted_size: u64, entries: u64) -> u64 {
        (weighted_size << self.unit_shift).saturating_sub(entries.saturating_mul(self.per_entry))
    }

    /// Whether `entry` under `key` fits in the cache at all.
    pub(crate) fn entry_fits(&self, key: &str, entry: &Entry) -> bool {
        self.fits(key.len() as u64 + entry.payload_bytes())
    }
}

/// Parses a counter the way Redis does: an optional `-`, then decimal digits
/// without leading zeros (`0` itself is fine, `-0` is not), within `i64`.
/// Anything else (`+1`, ` 1`, `01`, `1.0`, overflow) is not a counter.
pub(crate) fn parse_counter(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let well_formed = match digits {
        [] => false,
        [b'0'] => digits.len() == bytes.len(),
        [b'0', ..] => false,
        _ => digits.iter().all(u8::is_ascii_digit),
    };
    if !well_formed {
        return None;
    }
    // Only ASCII digits and `-` by now, so the text is valid UTF-8; `parse`
    // catches overflow.
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_like_redis() {
        assert_eq!(parse_counter(b"0"), Some(0));
        assert_eq!(parse_counter(b"42"), Some(42));
        assert_eq!(parse_counter(b"-7"), Some(-7));
        assert_eq!(parse_counter(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_counter(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn malformed_counters_are_refused() {
        for text in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"abc",
            b"9223372036854775808",
            b"\xff",
        ] {
            assert_eq!(
                parse_counter(text),
                None,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn weighing_bounds_bytes_and_entries() {
        let w = Weighing::new(1000, 10, 500);
        assert_eq!(w.per_entry, 100);
        assert_eq!(w.capacity(), 1000);
        // Ten empty entries fill the cache: the entry bound holds.
        assert_eq!(w.weight_of(0) * 10, w.capacity());
        assert_eq!(w.held_bytes(10 * w.weight_of(5), 10), 50);
        assert!(w.fits(900));
        assert!(!w.fits(901));
        assert_eq!(w.largest_payload(4), 896);
    }

    #[test]
    fn weighing_scales_units_past_u32() {
        let w = Weighing::new(1 << 40, 4, 0);
        assert!(w.unit_shift > 0);
        let entry = Entry::bytes(Bytes::new(), Instant::now());
        let weight = u64::from(w.weigh("k", &entry));
        assert!(weight < u64::from(u32::MAX), "no saturation");
        // Rounding up keeps the entry bound: a fifth entry never fits.
        assert!(5 * weight > w.capacity());
    }
}
