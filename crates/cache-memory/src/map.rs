//! The bounded map under a [`Store`](super::store::Store): shards of a hash
//! table, each with an exact least-recently-used list, charged by weight
//! against a capacity, with expiry read from the entries themselves.
//!
//! # Why not moka
//! moka (the store until ADR 0011) costs ~1 µs a get and ~1.8 µs an insert
//! here: it keeps its LRU order and expiry timers in housekeeping fed by
//! channels, and its per-entry expiry needs a timer wheel. The cache needs
//! less: every write already holds the key's stripe lock, and expiry is
//! decided from the instant in the entry on every read. So each shard is a
//! `hashbrown` table of slab indices under a short mutex, the LRU list is
//! threaded through the slab, and a get or an insert costs one hash, one
//! uncontended lock and a few pointer moves.
//!
//! # Bounds
//! Each of the `n` shards has `capacity / n` of the weight capacity, and
//! evicts its own least recently used entries past it, at once, inside the
//! insert. Keys are spread over shards by a randomly seeded hash, so with
//! many entries per shard that is LRU in all but the order of near-ties.
//! Small caches (fewer than `2 × MIN_ENTRIES_PER_SHARD` entries) have one
//! shard, so their eviction order is exactly LRU; shards are never made so
//! small that the largest entry the settings allow would not fit in one.
//!
//! # Expiry
//! The map does not know the time: [`Map::get_live`] and the other
//! `*_live` reads take `now` and drop an expired entry they find. Entries
//! nobody reads again leave by eviction, by the sweep that every
//! [`SWEEP_EVERY`]-th insert into a shard runs over the next
//! [`SWEEP_SLOTS`] slots of its slab (a bounded amount of work, so the
//! whole slab is visited about once every `SWEEP_EVERY / SWEEP_SLOTS`
//! inserts per slot), and by [`Map::purge_expired`].

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::Mutex;

use super::clock::Clock;
use super::entry::{Entry, Weighing};

/// A shard holds at least this many entries (by the entry bound) when a
/// cache has more than one.
const MIN_ENTRIES_PER_SHARD: u64 = 4096;

/// The most shards a map has.
const MAX_SHARDS: usize = 64;

/// Every this many inserts into a shard, it sweeps expired entries.
const SWEEP_EVERY: u32 = 16;

/// How many slab slots one sweep examines.
const SWEEP_SLOTS: usize = 32;

/// No slot (the end of the LRU list).
const NIL: u32 = u32::MAX;

/// How entries are weighed against the capacity.
#[derive(Debug, Clone, Copy)]
enum Weigher {
    /// One unit per entry.
    Count,
    /// Key and payload bytes plus a share (see [`Weighing`]).
    Bytes(Weighing),
}

impl Weigher {
    #[inline]
    fn weigh(&self, key: &str, entry: &Entry) -> u64 {
        match self {
            Weigher::Count => 1,
            Weigher::Bytes(weighing) => u64::from(weighing.weigh(key, entry)),
        }
    }
}

/// One slot of a shard's slab: an entry and its place in the LRU list.
struct Node {
    key: Arc<str>,
    /// `None` while the slot is free (then `next` links the free list).
    entry: Option<Entry>,
    hash: u64,
    weight: u64,
    /// Towards the most recently used end.
    prev: u32,
    /// Towards the least recently used end.
    next: u32,
}

#[derive(Default)]
struct Inner {
    /// Slab indices, hashed by their node's key.
    table: HashTable<u32>,
    nodes: Vec<Node>,
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
struct Shard(Mutex<Inner>);

/// The map: see the module docs.
pub(crate) struct Map {
    shards: Box<[Shard]>,
    /// `log2(shards)`: the top bits of a key's hash pick its shard.
    shard_bits: u32,
    hasher: DefaultHashBuilder,
    weigher: Weigher,
    shard_capacity: u64,
    /// Read only by the sweeps.
    clock: Clock,
}

impl Map {
    /// A map of at most `max_entries` entries, or by `weighing` when the
    /// byte bound is set, where no entry weighs more than `largest` units.
    pub(crate) fn new(
        max_entries: u64,
        weighing: Option<Weighing>,
        largest: u64,
        clock: Clock,
    ) -> Map {
        let (weigher, capacity) = match weighing {
            Some(w) => (Weigher::Bytes(w), w.capacity()),
            None => (Weigher::Count, max_entries),
        };
        let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut shards = (parallelism * 4).next_power_of_two().min(MAX_SHARDS);
        while shards > 1
            && (max_entries / (shards as u64) < MIN_ENTRIES_PER_SHARD
                || capacity / (shards as u64) < largest)
        {
            shards /= 2;
        }
        Map {
            shards: (0..shards)
                .map(|_| {
                    Shard(Mutex::new(Inner {
                        free: NIL,
                        head: NIL,
                        tail: NIL,
                        ..Inner::default()
                    }))
                })
                .collect(),
            shard_bits: shards.trailing_zeros(),
            hasher: DefaultHashBuilder::default(),
            weigher,
            shard_capacity: capacity / shards as u64,
            clock,
        }
    }

    /// The capacity of one shard, in weight units: no entry may weigh more.
    pub(crate) fn shard_capacity(&self) -> u64 {
        self.shard_capacity
    }

    #[inline]
    fn locate(&self, key: &str) -> (u64, &Mutex<Inner>) {
        let hash = self.hasher.hash_one(key);
        let shard = if self.shard_bits == 0 {
            0
        } else {
            (hash >> (u64::BITS - self.shard_bits)) as usize
        };
        (hash, &self.shards[shard].0)
    }

    /// The entry at `key` if it is live at `now`, as a use. An expired
    /// entry found is dropped.
    #[inline]
    pub(crate) fn get_live(&self, key: &str, now: Instant) -> Option<Entry> {
        let (hash, shard) = self.locate(key);
        let mut inner = shard.lock();
        let i = inner.find(hash, key)?;
        let live = inner.nodes[i as usize]
            .entry
            .as_ref()
            .is_some_and(|e| e.is_live(now));
        if !live {
            inner.unlink_and_free(i);
            return None;
        }
        inner.touch(i);
        inner.nodes[i as usize].entry.clone()
    }

    /// Whether `key` holds an entry live at `now`, without counting as a use.
    pub(crate) fn contains_live(&self, key: &str, now: Instant) -> bool {
        let (hash, shard) = self.locate(key);
        let inner = shard.lock();
        inner.find(hash, key).is_some_and(|i| {
            inner.nodes[i as usize]
                .entry
                .as_ref()
                .is_some_and(|e| e.is_live(now))
        })
    }

    /// Whether `key` holds an entry, live or not, without counting as a use.
    #[cfg(test)]
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        let (hash, shard) = self.locate(key);
        shard.lock().find(hash, key).is_some()
    }

    /// Stores `entry` at `key` as its most recently used entry, then evicts
    /// least recently used entries of the shard while it is over capacity.
    pub(crate) fn insert(&self, key: impl AsRef<str>, entry: Entry) {
        let key = key.as_ref();
        // The weigher may lock a request log: never under the shard lock.
        let weight = self.weigher.weigh(key, &entry);
        let (hash, shard) = self.locate(key);
        let mut guard = shard.lock();
        let inner = &mut *guard;
        let replaced = match inner.find(hash, key) {
            Some(i) => {
                let node = &mut inner.nodes[i as usize];
                let old = node.entry.replace(entry);
                let old_weight = std::mem::replace(&mut node.weight, weight);
                inner.weight = inner.weight - old_weight + weight;
                inner.touch(i);
                old
            }
            None => {
                let i = inner.alloc(Node {
                    key: Arc::from(key),
                    entry: Some(entry),
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
        if inner.inserts % SWEEP_EVERY == 0 {
            inner.sweep(self.clock.now());
        }
        drop(guard);
        drop(replaced);
    }

    /// Removes `key`; the entry it held, live or not.
    pub(crate) fn remove(&self, key: &str) -> Option<Entry> {
        let (hash, shard) = self.locate(key);
        let mut inner = shard.lock();
        let i = inner.find(hash, key)?;
        inner.unlink_and_free(i)
    }

    /// Removes `key`.
    pub(crate) fn invalidate(&self, key: &str) {
        drop(self.remove(key));
    }

    /// Removes every entry.
    pub(crate) fn invalidate_all(&self) {
        for shard in self.shards.iter() {
            let mut inner = shard.0.lock();
            let emptied = std::mem::take(&mut *inner);
            *inner = Inner {
                free: NIL,
                head: NIL,
                tail: NIL,
                ..Inner::default()
            };
            drop(inner);
            drop(emptied);
        }
    }

    /// Calls `visit` with every key and entry, live or not, one shard at a
    /// time under its lock: `visit` must not call the map.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&Arc<str>, &Entry)) {
        for shard in self.shards.iter() {
            let inner = shard.0.lock();
            for node in &inner.nodes {
                if let Some(entry) = &node.entry {
                    visit(&node.key, entry);
                }
            }
        }
    }

    /// Drops every entry not live at `now`.
    pub(crate) fn purge_expired(&self, now: Instant) {
        for shard in self.shards.iter() {
            let mut inner = shard.0.lock();
            for i in 0..inner.nodes.len() {
                if inner.nodes[i]
                    .entry
                    .as_ref()
                    .is_some_and(|e| !e.is_live(now))
                {
                    inner.unlink_and_free(i as u32);
                }
            }
        }
    }

    /// Entries held, live or not.
    pub(crate) fn entry_count(&self) -> u64 {
        self.shards.iter().map(|s| s.0.lock().len).sum()
    }

    /// The weight held, in the weigher's units.
    pub(crate) fn weighted_size(&self) -> u64 {
        self.shards.iter().map(|s| s.0.lock().weight).sum()
    }
}

impl Inner {
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

    fn alloc(&mut self, node: Node) -> u32 {
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

    /// Takes slot `i` out of the table and the LRU list and frees it; its entry.
    fn unlink_and_free(&mut self, i: u32) -> Option<Entry> {
        let hash = self.nodes[i as usize].hash;
        if let Ok(found) = self.table.find_entry(hash, |&j| j == i) {
            found.remove();
        }
        self.unlink(i);
        let free = self.free;
        let node = &mut self.nodes[i as usize];
        let entry = node.entry.take();
        node.key = Arc::from("");
        node.next = free;
        node.prev = NIL;
        self.free = i;
        self.weight -= node.weight;
        self.len -= 1;
        entry
    }

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
                .entry
                .as_ref()
                .is_some_and(|e| !e.is_live(now))
            {
                self.unlink_and_free(i as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn entry(at: Instant) -> Entry {
        Entry::bytes(Bytes::from_static(b"v"), at)
    }

    fn map(max_entries: u64) -> Map {
        Map::new(max_entries, None, 1, Clock::system())
    }

    #[test]
    fn small_maps_have_one_shard_and_evict_in_lru_order() {
        let m = map(3);
        assert_eq!(m.shards.len(), 1);
        let later = Instant::now() + Duration::from_secs(60);
        for k in ["a", "b", "c"] {
            m.insert(k, entry(later));
        }
        assert!(
            m.get_live("a", Instant::now()).is_some(),
            "a is now the most recent"
        );
        m.insert("d", entry(later));
        assert!(!m.contains_key("b"), "b was least recently used");
        assert!(m.contains_key("a") && m.contains_key("c") && m.contains_key("d"));
        assert_eq!(m.entry_count(), 3);
    }

    #[test]
    fn replacing_keeps_one_entry_and_reuses_freed_slots() {
        let m = map(2);
        let later = Instant::now() + Duration::from_secs(60);
        for _ in 0..10 {
            m.insert("k", entry(later));
        }
        assert_eq!(m.entry_count(), 1);
        for i in 0..100 {
            m.insert(format!("k{i}"), entry(later));
        }
        assert_eq!(m.entry_count(), 2);
        assert!(m.shards[0].0.lock().nodes.len() <= 3, "slots are reused");
    }

    #[test]
    fn expired_entries_read_as_absent_and_are_dropped() {
        let m = map(10);
        let now = Instant::now();
        m.insert("gone", entry(now));
        m.insert("kept", entry(now + Duration::from_secs(60)));
        assert!(m.get_live("gone", now).is_none());
        assert!(!m.contains_key("gone"), "dropped by the read");
        assert!(m.contains_live("kept", now));
        m.insert("gone2", entry(now));
        m.purge_expired(now);
        assert_eq!(m.entry_count(), 1);
    }

    #[test]
    fn large_maps_are_sharded_within_the_largest_entry() {
        let m = Map::new(1_000_000, None, 1, Clock::system());
        assert!(m.shards.len() > 1 && m.shards.len() <= MAX_SHARDS);
        let few = Map::new(1_000_000, None, 1_000_000, Clock::system());
        assert_eq!(few.shards.len(), 1, "one entry as heavy as the capacity");
    }
}
