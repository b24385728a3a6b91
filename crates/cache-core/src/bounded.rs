//! [`BoundedMap`]: a concurrent map bounded by weight, with an exact
//! least-recently-used order per shard and expiry read from the values
//! themselves. It is the data structure under `cache_memory::MemoryCache`
//! and under the near cache's typed L1 (`cache_patterns::invalidation`);
//! ADR 0011 says why neither uses moka.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use cache_core::bounded::{BoundedMap, ByCount, Expiring};
//!
//! #[derive(Clone)]
//! struct Copy { text: &'static str, until: Instant }
//!
//! impl Expiring for Copy {
//!     fn is_live(&self, now: Instant) -> bool { now < self.until }
//! }
//!
//! let map = BoundedMap::new(2, 1, ByCount);
//! let until = Instant::now() + Duration::from_secs(60);
//! map.insert("a", Copy { text: "1", until });
//! map.insert("b", Copy { text: "2", until });
//! assert!(map.get_live("a", Instant::now()).is_some()); // "a" is now the most recent
//! map.insert("c", Copy { text: "3", until }); // evicts "b", the least recently used
//! assert!(map.get_live("b", Instant::now()).is_none());
//! assert_eq!(map.get_live("a", Instant::now()).map(|c| c.text), Some("1"));
//! assert!(map.get_live("a", until).is_none(), "expired at `until`, and dropped");
//! ```
//!
//! # Why not moka
//! moka costs ~1 µs a get and ~1.8 µs an insert in `MemoryCache`, and ~220
//! ns a get of an `Arc` in the near cache's bench: it keeps its LRU order
//! and expiry timers in housekeeping fed by channels, and its per-entry
//! expiry needs a timer wheel. Our callers need less: expiry is decided from
//! the instant in the value on every read. So each shard is a `hashbrown`
//! table of slab indices under a short mutex, the LRU list is threaded
//! through the slab, and a get or an insert costs one hash, one uncontended
//! lock and a few pointer moves.
//!
//! # Bounds
//! Each of the `n` shards has `capacity / n` of the weight capacity, and
//! evicts its own least recently used entries past it, at once, inside the
//! insert. Keys are spread over shards by a randomly seeded hash, so with
//! many entries per shard that is LRU in all but the order of near-ties.
//! Small maps (fewer than `2 × 4096` entries by the entry bound) have one
//! shard, so their eviction order is exactly LRU; shards are never made so
//! small that the largest entry the caller allows would not fit in one.
//!
//! # Expiry
//! The map does not decide the time: [`BoundedMap::get_live`] and the other
//! `*_live` reads take `now` and drop an expired value they find. Values
//! nobody reads again leave by eviction, by the sweep that every 16th insert
//! into a shard runs over the next 32 slots of its slab (a bounded amount of
//! work, at the time of the map's clock, [`BoundedMap::with_clock`]), and by
//! [`BoundedMap::purge_expired`].

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::Mutex;

/// A shard holds at least this many entries (by the entry bound) when a
/// map has more than one.
const MIN_ENTRIES_PER_SHARD: u64 = 4096;

/// The most shards a map has.
const MAX_SHARDS: usize = 64;

/// Every this many inserts into a shard, it sweeps expired entries.
const SWEEP_EVERY: u32 = 16;

/// How many slab slots one sweep examines.
const SWEEP_SLOTS: usize = 32;

/// No slot (the end of the LRU list).
const NIL: u32 = u32::MAX;

/// A value that knows until when it is visible.
pub trait Expiring {
    /// Whether the value is still visible at `now`.
    fn is_live(&self, now: Instant) -> bool;
}

/// How much a value under a key is charged against the map's capacity.
///
/// Called by [`BoundedMap::insert`] before it takes the shard's lock, so a
/// weigher may take locks of its own.
pub trait Weigher<V>: Send + Sync {
    /// The weight of `value` stored at `key`, in the capacity's units.
    fn weigh(&self, key: &str, value: &V) -> u64;
}

/// One unit per entry: the capacity is a number of entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByCount;

impl<V> Weigher<V> for ByCount {
    #[inline]
    fn weigh(&self, _key: &str, _value: &V) -> u64 {
        1
    }
}

/// The time the sweeps judge expiry by.
type SweepClock = Box<dyn Fn() -> Instant + Send + Sync>;

/// One slot of a shard's slab: an entry and its place in the LRU list.
struct Node<V> {
    key: Arc<str>,
    /// `None` while the slot is free (then `next` links the free list).
    value: Option<V>,
    hash: u64,
    weight: u64,
    /// Towards the most recently used end.
    prev: u32,
    /// Towards the least recently used end.
    next: u32,
}

struct Inner<V> {
    /// Slab indices, hashed by their node's key.
    table: HashTable<u32>,
    nodes: Vec<Node<V>>,
    /// The first free slot, `NIL` when none.
    free: u32,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
    weight: u64,
    len: u64,
    inserts: u32,
    sweep_at: usize,
}

/// One shard, alone on its cache line.
#[repr(align(64))]
struct Shard<V>(Mutex<Inner<V>>);

/// A concurrent map from string keys to `V`, bounded by weight, with an
/// exact LRU order per shard and expiry read from the values: see the
/// [module docs](self).
///
/// Values are cloned out on reads, so `V` is meant to be cheap to clone (an
/// `Arc`, `Bytes`, a small struct of them).
pub struct BoundedMap<V, W = ByCount> {
    shards: Box<[Shard<V>]>,
    /// `log2(shards)`: the top bits of a key's hash pick its shard.
    shard_bits: u32,
    hasher: DefaultHashBuilder,
    weigher: W,
    shard_capacity: u64,
    /// Read only by the sweeps.
    clock: SweepClock,
}

/// Only the counters are shown: the values may be anything.
impl<V, W> fmt::Debug for BoundedMap<V, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedMap")
            .field("shards", &self.shards.len())
            .field("entries", &self.entry_count())
            .field("weight", &self.weighted_size())
            .finish()
    }
}

impl<V: Clone + Expiring, W: Weigher<V>> BoundedMap<V, W> {
    /// A map of at most `max_entries` entries and at most `capacity` units of
    /// weight by `weigher` (with [`ByCount`], the same number), where no
    /// entry weighs more than `largest` units. Its sweeps read
    /// [`Instant::now`] unless [`with_clock`](Self::with_clock) says otherwise.
    pub fn new(max_entries: u64, largest: u64, weigher: W) -> Self {
        Self::with_capacity(max_entries, max_entries, largest, weigher)
    }

    /// [`new`](Self::new) with a weight capacity apart from the entry bound
    /// (which then only decides how many shards there are: the weigher
    /// enforces it, by charging every entry at least `capacity / max_entries`).
    pub fn with_capacity(max_entries: u64, capacity: u64, largest: u64, weigher: W) -> Self {
        let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut shards = (parallelism * 4).next_power_of_two().min(MAX_SHARDS);
        while shards > 1
            && (max_entries / (shards as u64) < MIN_ENTRIES_PER_SHARD
                || capacity / (shards as u64) < largest)
        {
            shards /= 2;
        }
        BoundedMap {
            shards: (0..shards)
                .map(|_| Shard(Mutex::new(Inner::new())))
                .collect(),
            shard_bits: shards.trailing_zeros(),
            hasher: DefaultHashBuilder::default(),
            weigher,
            shard_capacity: capacity / shards as u64,
            clock: Box::new(Instant::now),
        }
    }

    /// The same map whose sweeps judge expiry at `clock()`: the clock its
    /// callers pass to the `*_live` reads.
    pub fn with_clock(self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        BoundedMap {
            clock: Box::new(clock),
            ..self
        }
    }

    /// The value at `key` if it is live at `now`, as a use (it becomes the
    /// shard's most recently used). An expired value found is dropped.
    #[inline]
    pub fn get_live(&self, key: &str, now: Instant) -> Option<V> {
        let (hash, shard) = self.locate(key);
        let mut inner = shard.lock();
        let i = inner.find(hash, key)?;
        let live = inner.nodes[i as usize]
            .value
            .as_ref()
            .is_some_and(|v| v.is_live(now));
        if !live {
            let expired = inner.unlink_and_free(i);
            drop(inner);
            drop(expired);
            return None;
        }
        inner.touch(i);
        inner.nodes[i as usize].value.clone()
    }

    /// Whether `key` holds a value live at `now`, without counting as a use.
    pub fn contains_live(&self, key: &str, now: Instant) -> bool {
        let (hash, shard) = self.locate(key);
        let inner = shard.lock();
        inner.find(hash, key).is_some_and(|i| {
            inner.nodes[i as usize]
                .value
                .as_ref()
                .is_some_and(|v| v.is_live(now))
        })
    }

    /// Stores `value` at `key` as its most recently used entry, then evicts
    /// least recently used entries of the shard while it is over capacity.
    pub fn insert(&self, key: impl AsRef<str>, value: V) {
        let key = key.as_ref();
        // The weigher may take locks: never under the shard lock.
        let weight = self.weigher.weigh(key, &value);
        let (hash, shard) = self.locate(key);
        let mut guard = shard.lock();
        let inner = &mut *guard;
        let replaced = match inner.find(hash, key) {
            Some(i) => {
                let node = &mut inner.nodes[i as usize];
                let old = node.value.replace(value);
                let old_weight = std::mem::replace(&mut node.weight, weight);
                inner.weight = inner.weight - old_weight + weight;
                inner.touch(i);
                old
            }
            None => {
                let i = inner.alloc(Node {
                    key: Arc::from(key),
                    value: Some(value),
                    hash,
                    weight,
                    prev: NIL,
                    next: NIL,
                });
                let Inner { table, nodes, .. } = &mut *inner;
                table.insert_unique(hash, i, |&j| nodes[j as usize].hash);
                inner.link_front(i);
                inner.weight += weight;
                inner.len += 1;
                None
            }
        };
        while inner.weight > self.shard_capacity && inner.tail != NIL {
            let tail = inner.tail;
            inner.unlink_and_free(tail);
        }
        inner.inserts = inner.inserts.wrapping_add(1);
        if inner.inserts.is_multiple_of(SWEEP_EVERY) {
            inner.sweep((self.clock)());
        }
        drop(guard);
        drop(replaced);
    }

    /// Drops every entry not live at `now`.
    pub fn purge_expired(&self, now: Instant) {
        self.retain(|_, v| v.is_live(now));
    }
}

impl<V, W> BoundedMap<V, W> {
    /// The capacity of one shard, in weight units: no entry may weigh more
    /// (it would be evicted as soon as it is stored).
    pub fn shard_capacity(&self) -> u64 {
        self.shard_capacity
    }

    #[inline]
    fn locate(&self, key: &str) -> (u64, &Mutex<Inner<V>>) {
        let hash = self.hasher.hash_one(key);
        let shard = if self.shard_bits == 0 {
            0
        } else {
            (hash >> (u64::BITS - self.shard_bits)) as usize
        };
        (hash, &self.shards[shard].0)
    }

    /// Whether `key` holds a value, live or not, without counting as a use.
    pub fn contains_key(&self, key: &str) -> bool {
        let (hash, shard) = self.locate(key);
        shard.lock().find(hash, key).is_some()
    }

    /// Removes `key`; the value it held, live or not.
    pub fn remove(&self, key: &str) -> Option<V> {
        let (hash, shard) = self.locate(key);
        let mut inner = shard.lock();
        let i = inner.find(hash, key)?;
        inner.unlink_and_free(i)
    }

    /// Removes `key`.
    pub fn invalidate(&self, key: &str) {
        drop(self.remove(key));
    }

    /// Removes every entry.
    pub fn invalidate_all(&self) {
        for shard in self.shards.iter() {
            let emptied = std::mem::replace(&mut *shard.0.lock(), Inner::new());
            drop(emptied);
        }
    }

    /// Calls `visit` with every key and value, live or not, one shard at a
    /// time under its lock: `visit` must not call the map.
    pub fn for_each(&self, mut visit: impl FnMut(&Arc<str>, &V)) {
        for shard in self.shards.iter() {
            let inner = shard.0.lock();
            for node in &inner.nodes {
                if let Some(value) = &node.value {
                    visit(&node.key, value);
                }
            }
        }
    }

    /// Keeps only the entries for which `keep` holds, one shard at a time
    /// under its lock (`keep` must not call the map); the others are
    /// dropped after the lock is released.
    pub fn retain(&self, mut keep: impl FnMut(&str, &V) -> bool) {
        let mut dropped = Vec::new();
        for shard in self.shards.iter() {
            let mut inner = shard.0.lock();
            for i in 0..inner.nodes.len() {
                let node = &inner.nodes[i];
                if node.value.as_ref().is_some_and(|v| !keep(&node.key, v)) {
                    dropped.extend(inner.unlink_and_free(i as u32));
                }
            }
            drop(inner);
            dropped.clear();
        }
    }

    /// Entries held, live or not.
    pub fn entry_count(&self) -> u64 {
        self.shards.iter().map(|s| s.0.lock().len).sum()
    }

    /// The weight held, in the weigher's units.
    pub fn weighted_size(&self) -> u64 {
        self.shards.iter().map(|s| s.0.lock().weight).sum()
    }
    #[cfg(test)]
    fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

impl<V> Inner<V> {
    fn new() -> Self {
        Inner {
            table: HashTable::new(),
            nodes: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            weight: 0,
            len: 0,
            inserts: 0,
            sweep_at: 0,
        }
    }

    #[inline]
    fn find(&self, hash: u64, key: &str) -> Option<u32> {
        self.table
            .find(hash, |&i| &*self.nodes[i as usize].key == key)
            .copied()
    }

    /// Makes `i` the most recently used.
    #[inline]
    fn touch(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.link_front(i);
        }
    }

    #[inline]
    fn link_front(&mut self, i: u32) {
        let old_head = self.head;
        {
            let node = &mut self.nodes[i as usize];
            node.prev = NIL;
            node.next = old_head;
        }
        if old_head == NIL {
            self.tail = i;
        } else {
            self.nodes[old_head as usize].prev = i;
        }
        self.head = i;
    }

    #[inline]
    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let node = &self.nodes[i as usize];
            (node.prev, node.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn alloc(&mut self, node: Node<V>) -> u32 {
        if self.free == NIL {
            let i = u32::try_from(self.nodes.len()).expect("fewer than 2^32 entries per shard");
            self.nodes.push(node);
            i
        } else {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        }
    }

    /// Takes slot `i` out of the table and the LRU list and frees it; its value.
    fn unlink_and_free(&mut self, i: u32) -> Option<V> {
        let hash = self.nodes[i as usize].hash;
        if let Ok(found) = self.table.find_entry(hash, |&j| j == i) {
            found.remove();
        }
        self.unlink(i);
        let free = self.free;
        let node = &mut self.nodes[i as usize];
        let value = node.value.take();
        node.key = Arc::from("");
        node.next = free;
        node.prev = NIL;
        self.free = i;
        self.weight -= node.weight;
        self.len -= 1;
        value
    }
}

impl<V: Expiring> Inner<V> {
    /// Drops the expired entries among the next [`SWEEP_SLOTS`] slots.
    fn sweep(&mut self, now: Instant) {
        let slots = self.nodes.len();
        if slots == 0 {
            return;
        }
        for _ in 0..SWEEP_SLOTS.min(slots) {
            self.sweep_at = (self.sweep_at + 1) % slots;
            let i = self.sweep_at;
            if self.nodes[i]
                .value
                .as_ref()
                .is_some_and(|v| !v.is_live(now))
            {
                self.unlink_and_free(i as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A value visible until an instant.
    #[derive(Debug, Clone, PartialEq)]
    struct Until(Instant);

    impl Expiring for Until {
        fn is_live(&self, now: Instant) -> bool {
            now < self.0
        }
    }

    fn map(max_entries: u64) -> BoundedMap<Until> {
        BoundedMap::new(max_entries, 1, ByCount)
    }

    fn later() -> Until {
        Until(Instant::now() + Duration::from_secs(60))
    }

    #[test]
    fn small_maps_have_one_shard_and_evict_in_lru_order() {
        let m = map(3);
        assert_eq!(m.shard_count(), 1);
        for k in ["a", "b", "c"] {
            m.insert(k, later());
        }
        assert!(
            m.get_live("a", Instant::now()).is_some(),
            "a is now the most recent"
        );
        m.insert("d", later());
        assert!(!m.contains_key("b"), "b was least recently used");
        assert!(m.contains_key("a") && m.contains_key("c") && m.contains_key("d"));
        assert_eq!(m.entry_count(), 3);
    }

    #[test]
    fn replacing_keeps_one_entry_and_reuses_freed_slots() {
        let m = map(2);
        for _ in 0..10 {
            m.insert("k", later());
        }
        assert_eq!(m.entry_count(), 1);
        for i in 0..100 {
            m.insert(format!("k{i}"), later());
        }
        assert_eq!(m.entry_count(), 2);
        assert!(m.shards[0].0.lock().nodes.len() <= 3, "slots are reused");
    }

    #[test]
    fn expired_entries_read_as_absent_and_are_dropped() {
        let m = map(10);
        let now = Instant::now();
        m.insert("gone", Until(now));
        m.insert("kept", Until(now + Duration::from_secs(60)));
        assert!(m.get_live("gone", now).is_none());
        assert!(!m.contains_key("gone"), "dropped by the read");
        assert!(m.contains_live("kept", now));
        m.insert("gone2", Until(now));
        m.purge_expired(now);
        assert_eq!(m.entry_count(), 1);
    }

    #[test]
    fn sweeps_drop_expired_entries_nobody_reads_at_the_maps_clock() {
        let now = Instant::now();
        let m = map(100).with_clock(move || now);
        for i in 0..8 {
            m.insert(format!("gone{i}"), Until(now));
        }
        for i in 0..8 {
            m.insert(format!("kept{i}"), Until(now + Duration::from_secs(60)));
        }
        // The 16th insert swept every slot (fewer than 32).
        assert_eq!(m.entry_count(), 8);
        assert!((0..8).all(|i| m.contains_key(&format!("kept{i}"))));
    }

    #[test]
    fn retain_keeps_only_what_the_predicate_keeps() {
        let m = map(10);
        for k in ["user:1", "user:2", "order:1"] {
            m.insert(k, later());
        }
        m.retain(|key, _| !key.starts_with("user:"));
        assert_eq!(m.entry_count(), 1);
        assert!(m.contains_key("order:1"));
        m.insert("user:3", later());
        assert!(m.contains_key("user:3"), "freed slots are reused");
        m.invalidate_all();
        assert_eq!((m.entry_count(), m.weighted_size()), (0, 0));
    }

    #[test]
    fn weights_are_charged_against_the_capacity() {
        struct ByLen;
        impl Weigher<Until> for ByLen {
            fn weigh(&self, key: &str, _: &Until) -> u64 {
                key.len() as u64
            }
        }
        let m = BoundedMap::with_capacity(10, 10, 10, ByLen);
        m.insert("aaaa", later());
        m.insert("bbbb", later());
        assert_eq!(m.weighted_size(), 8);
        m.insert("cccc", later());
        assert!(!m.contains_key("aaaa"), "over capacity: the oldest goes");
        assert_eq!(m.weighted_size(), 8);
    }

    #[test]
    fn large_maps_are_sharded_within_the_largest_entry() {
        let m = map(1_000_000);
        assert!(m.shard_count() > 1 && m.shard_count() <= MAX_SHARDS);
        let few: BoundedMap<Until> = BoundedMap::new(1_000_000, 1_000_000, ByCount);
        assert_eq!(few.shard_count(), 1, "one entry as heavy as the capacity");
    }
}
