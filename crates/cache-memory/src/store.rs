//! The shared state of a [`MemoryCache`](super::MemoryCache) and its
//! synchronous operations: the trait methods in `mod.rs` only count them.
//!
//! # Why every operation is atomic
//! Every *write* of a key (plain or conditional, by any method) happens while
//! holding that key's stripe lock, one of [`STRIPES`] mutexes chosen by a hash
//! of the key. A conditional operation reads the current entry, decides, and
//! writes, all inside the lock, so no other write of the same key can come in
//! between: it is one indivisible step. Reads take no stripe lock: the map
//! swaps whole entries under its own shard lock, so a reader sees the entry
//! before or after a write, never a mix. The map's own removals (eviction,
//! dropping an expired entry) need no stripe lock: an eviction is allowed at
//! any moment, and expiry is decided from the instant stored in the entry,
//! which every reader and writer checks itself against the cache's [`Clock`].
//!
//! # Whose time
//! Only the cache's [`Clock`] decides expiry: the map is handed `now` by its
//! callers (and reads the same clock for its sweeps), so a test's manual
//! clock governs everything. Entries past their deadline read as absent, and
//! are dropped when read, swept, counted by [`Store::size`] or evicted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};

use cache_core::cache::{KeyPage, KeyTtl, RateDecision, RateLimitRule, ScanCursor, Subscription};
use cache_core::error::{CacheError, Operation, Result};
use cache_core::key::{MAX_KEY_BYTES, validate_key, validate_value_size};
use cache_core::metrics::{Answer, OpMetrics};
use cache_core::ttl::normalize_ttl;

use super::builder::Settings;
use super::clock::Clock;
use super::entry::{Entry, Stored, parse_counter};
use super::map::{Map, new_map};
use super::pubsub::PubSub;
use super::{rate, scan};
use cache_core::stats::StatsShards;

/// How many stripe locks a cache has (a power of two). 64 keeps contention
/// between unrelated keys rare at any realistic core count, for 4 KiB.
pub(crate) const STRIPES: usize = 64;

/// One stripe lock, alone on its cache line so that threads writing
/// different stripes do not slow each other down.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Stripe(Mutex<()>);

/// What a wrong-type error says a byte-string operation needed.
const BYTES_EXPECTED: &str = "a byte string (it holds a rate limit, a set or a hash)";

/// The state every clone of a `MemoryCache` shares.
pub(crate) struct Store {
    /// The entries.
    pub(crate) map: Map,
    stripes: Box<[Stripe]>,
    pub(crate) settings: Settings,
    /// The only time that decides expiry and rate-limit windows.
    pub(crate) clock: Clock,
    closed: AtomicBool,
    pub(crate) stats: StatsShards,
    /// Operation metrics, bound to the recorder current when the cache was built.
    pub(crate) metrics: OpMetrics,
    pub(crate) pubsub: Arc<PubSub>,
    scans: scan::ScanSessions,
}

impl Store {
    /// A store with `settings` (already validated) on `clock`.
    pub(crate) fn new(mut settings: Settings, clock: Clock) -> Self {
        // The heaviest entry the settings let through (a key and a value at
        // their limits) must fit in one shard of the map.
        let largest = match settings.weighing {
            Some(w) => w.weight_of((MAX_KEY_BYTES + settings.max_value_bytes) as u64),
            None => 1,
        };
        let map = new_map(
            settings.max_entries,
            settings.weighing,
            largest,
            clock.clone(),
        );
        settings.weighing = settings.weighing.map(|w| w.with_room(map.shard_capacity()));
        let pubsub = Arc::new(PubSub::new(settings.channel_capacity));
        let metrics = OpMetrics::new("memory").sampled(settings.duration_sampling);
        Store {
            map,
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            settings,
            clock,
            closed: AtomicBool::new(false),
            stats: StatsShards::new(),
            metrics,
            pubsub,
            scans: scan::ScanSessions::default(),
        }
    }

    /// Counts a call of `op` and its outcome, and passes the result on.
    #[inline]
    pub(crate) fn record<T>(&self, op: Operation, result: Result<T>) -> Result<T> {
        let stats = self.stats.local();
        stats.op(op);
        stats.outcome(&result);
        result
    }

    /// Runs `call` as the call of `op`: counted in the stats, and timed and
    /// counted in the metrics.
    #[inline]
    pub(crate) fn timed<T: Answer>(
        &self,
        op: Operation,
        call: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let timer = self.metrics.start();
        let result = call();
        self.metrics.finish(op, timer, &result);
        self.record(op, result)
    }

    /// Whether [`Store::close`] ran.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A closed error for `op` once the cache is closed.
    #[inline]
    pub(crate) fn ensure_open(&self, op: Operation) -> Result<()> {
        if self.is_closed() {
            return Err(CacheError::closed(op));
        }
        Ok(())
    }

    /// Takes the stripe lock of `key`, then checks that the cache is still
    /// open: checking under the lock is what lets `close` wait out writers.
    #[inline]
    pub(crate) fn lock(&self, key: &str, op: Operation) -> Result<MutexGuard<'_, ()>> {
        let guard = self.stripes[stripe_of(key)].0.lock();
        self.ensure_open(op)?;
        Ok(guard)
    }

    /// The checks of a conditional write of `value` at `key` (open, key, TTL,
    /// size), then the key's lock; the TTL comes back normalized.
    fn begin_write(
        &self,
        op: Operation,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(Duration, MutexGuard<'_, ()>)> {
        self.ensure_open(op)?;
        validate_key(key)?;
        let ttl = normalize_ttl(ttl)?;
        self.check_value(key, value)?;
        Ok((ttl, self.lock(key, op)?))
    }

    /// The live entry at `key`, if any.
    #[inline]
    pub(crate) fn live(&self, key: &str, now: Instant) -> Option<Entry> {
        self.map.get_live(key, now)
    }

    /// Checks a value against `max_value_bytes`, and against the byte bound:
    /// an entry heavier than a shard of the map would be evicted right after
    /// being stored, so it is refused up front instead.
    #[inline]
    fn check_value(&self, key: &str, value: &[u8]) -> Result<()> {
        validate_value_size(key, value, self.settings.max_value_bytes)?;
        if let Some(weighing) = self.settings.weighing
            && !weighing.fits((key.len() + value.len()) as u64)
        {
            let max = weighing.largest_payload(key.len());
            validate_value_size(key, value, usize::try_from(max).unwrap_or(usize::MAX))?;
        }
        Ok(())
    }

    /// Stores an entry built here (a counter, a request log), refusing it if
    /// it cannot fit. Call with the stripe lock held.
    fn put(&self, key: &str, entry: Entry) -> Result<()> {
        if let Some(weighing) = self.settings.weighing
            && !weighing.entry_fits(key, &entry)
        {
            let max = weighing.largest_payload(key.len());
            return Err(CacheError::value_too_large(
                key,
                usize::try_from(entry.payload_bytes()).unwrap_or(usize::MAX),
                usize::try_from(max).unwrap_or(usize::MAX),
            ));
        }
        self.map.insert(key, entry);
        Ok(())
    }

    pub(crate) fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.ensure_open(Operation::Get)?;
        validate_key(key)?;
        match self.live(key, self.clock.now()) {
            Some(Entry {
                value: Stored::Bytes(value),
                ..
            }) => Ok(Some(value)),
            Some(_) => Err(wrong_type(key, BYTES_EXPECTED)),
            None => Ok(None),
        }
    }

    pub(crate) fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.ensure_open(Operation::Set)?;
        validate_key(key)?;
        let ttl = normalize_ttl(ttl)?;
        self.check_value(key, value)?;
        // Allocate outside the lock to keep the critical section short.
        let entry = Entry::bytes(Bytes::copy_from_slice(value), self.clock.now() + ttl);
        let _guard = self.lock(key, Operation::Set)?;
        self.map.insert(key, entry);
        Ok(())
    }

    pub(crate) fn delete(&self, key: &str) -> Result<bool> {
        self.ensure_open(Operation::Delete)?;
        validate_key(key)?;
        self.remove(key, Operation::Delete)
    }

    /// Removes `key`; whether it held a live value.
    fn remove(&self, key: &str, op: Operation) -> Result<bool> {
        let _guard = self.lock(key, op)?;
        let removed = self.map.remove(key);
        Ok(removed.is_some_and(|entry| entry.is_live(self.clock.now())))
    }

    pub(crate) fn get_or_set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(Bytes, bool)> {
        let (ttl, _guard) = self.begin_write(Operation::GetOrSet, key, value, ttl)?;
        let now = self.clock.now();
        match self.live(key, now) {
            Some(Entry {
                value: Stored::Bytes(existing),
                ..
            }) => Ok((existing, false)),
            Some(_) => Err(wrong_type(key, BYTES_EXPECTED)),
            None => {
                let value = Bytes::copy_from_slice(value);
                self.map.insert(key, Entry::bytes(value.clone(), now + ttl));
                Ok((value, true))
            }
        }
    }

    pub(crate) fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let (ttl, _guard) = self.begin_write(Operation::CompareAndSet, key, new, ttl)?;
        let now = self.clock.now();
        let current = self.live(key, now);
        let holds = match (expected, &current) {
            (None, None) => true,
            (
                Some(expected),
                Some(Entry {
                    value: Stored::Bytes(value),
                    ..
                }),
            ) => value.as_ref() == expected,
            _ => false,
        };
        if holds {
            let entry = Entry::bytes(Bytes::copy_from_slice(new), now + ttl);
            self.map.insert(key, entry);
        }
        Ok(holds)
    }

    pub(crate) fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        self.ensure_open(Operation::CompareAndDelete)?;
        validate_key(key)?;
        let _guard = self.lock(key, Operation::CompareAndDelete)?;
        let holds = matches!(
            self.live(key, self.clock.now()),
            Some(Entry { value: Stored::Bytes(value), .. }) if value.as_ref() == expected
        );
        if holds {
            self.map.invalidate(key);
        }
        Ok(holds)
    }

    pub(crate) fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.ensure_open(Operation::GetMany)?;
        for key in keys {
            validate_key(key)?;
        }
        let now = self.clock.now();
        // Like Redis MGET: a key that holds something other than bytes is a miss.
        Ok(keys
            .iter()
            .map(|key| match self.live(key, now) {
                Some(Entry {
                    value: Stored::Bytes(value),
                    ..
                }) => Some(value),
                _ => None,
            })
            .collect())
    }

    pub(crate) fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        self.ensure_open(Operation::SetMany)?;
        let ttl = normalize_ttl(ttl)?;
        for (key, value) in entries {
            validate_key(key)?;
            self.check_value(key, value)?;
        }
        let expires_at = self.clock.now() + ttl;
        for (key, value) in entries {
            let entry = Entry::bytes(Bytes::copy_from_slice(value), expires_at);
            let _guard = self.lock(key, Operation::SetMany)?;
            self.map.insert(key, entry);
        }
        Ok(())
    }

    pub(crate) fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.ensure_open(Operation::DeleteMany)?;
        for key in keys {
            validate_key(key)?;
        }
        let mut deleted = 0;
        for key in keys {
            deleted += u64::from(self.remove(key, Operation::DeleteMany)?);
        }
        Ok(deleted)
    }

    pub(crate) fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        self.ensure_open(Operation::IncrBy)?;
        validate_key(key)?;
        let ttl = normalize_ttl(ttl)?;
        let _guard = self.lock(key, Operation::IncrBy)?;
        let now = self.clock.now();
        let (current, expires_at) = match self.live(key, now) {
            None => (0, now + ttl),
            // A counter without expiry (after `persist`) gets `ttl`, as the
            // Redis script gives it.
            Some(Entry {
                value: Stored::Bytes(value),
                expires_at,
            }) => match parse_counter(&value) {
                Some(current) => (current, expires_at.unwrap_or(now + ttl)),
                None => return Err(wrong_type(key, "a decimal i64 counter")),
            },
            Some(_) => return Err(wrong_type(key, "a decimal i64 counter")),
        };
        let Some(next) = current.checked_add(delta) else {
            return Err(CacheError::overflow(
                Operation::IncrBy,
                Some(key),
                CounterOverflow { current, delta },
            ));
        };
        let text = Bytes::from(next.to_string());
        self.put(key, Entry::bytes(text, expires_at))?;
        Ok(next)
    }

    pub(crate) fn exists(&self, keys: &[&str]) -> Result<u64> {
        self.ensure_open(Operation::Exists)?;
        for key in keys {
            validate_key(key)?;
        }
        Ok(keys.iter().filter(|key| self.still_there(key)).count() as u64)
    }

    pub(crate) fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        self.ensure_open(Operation::Expire)?;
        validate_key(key)?;
        let ttl = normalize_ttl(ttl)?;
        self.retime(key, Operation::Expire, |_| true, |now| Some(now + ttl))
    }

    pub(crate) fn persist(&self, key: &str) -> Result<bool> {
        self.ensure_open(Operation::Persist)?;
        validate_key(key)?;
        self.retime(
            key,
            Operation::Persist,
            |entry| entry.expires_at.is_some(),
            |_| None,
        )
    }

    /// Gives the live entry at `key` the deadline `deadline(now)` when
    /// `applies` to it, under the key's lock; whether it did.
    fn retime(
        &self,
        key: &str,
        op: Operation,
        applies: impl FnOnce(&Entry) -> bool,
        deadline: impl FnOnce(Instant) -> Option<Instant>,
    ) -> Result<bool> {
        let _guard = self.lock(key, op)?;
        let now = self.clock.now();
        match self.live(key, now) {
            Some(mut entry) if applies(&entry) => {
                entry.expires_at = deadline(now);
                // The same payload: it fitted before, it fits now.
                self.map.insert(key, entry);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub(crate) fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.ensure_open(Operation::Ttl)?;
        validate_key(key)?;
        Ok(self.key_ttl(key))
    }

    pub(crate) fn touch(&self, keys: &[&str]) -> Result<u64> {
        self.ensure_open(Operation::Touch)?;
        for key in keys {
            validate_key(key)?;
        }
        // A read is a use for the LRU order: that is all touching means here.
        let now = self.clock.now();
        Ok(keys
            .iter()
            .filter(|key| self.live(key, now).is_some())
            .count() as u64)
    }

    pub(crate) fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        self.ensure_open(Operation::RateLimit)?;
        validate_key(key)?;
        rule.validate()?;
        let _guard = self.lock(key, Operation::RateLimit)?;
        let now = self.clock.now();
        let current = self.live(key, now);
        let room = self
            .settings
            .weighing
            .map_or(u64::MAX, |w| w.largest_payload(key.len()));
        let outcome = rate::decide(key, current.as_ref(), rule, now, room)?;
        if let Some(entry) = outcome.write {
            self.put(key, entry)?;
        }
        Ok(outcome.decision)
    }

    pub(crate) fn scan_keys(
        &self,
        pattern: &str,
        cursor: &ScanCursor,
        count: usize,
    ) -> Result<KeyPage> {
        self.ensure_open(Operation::ScanKeys)?;
        let after = scan::decode_cursor(cursor)?;
        let count = if count == 0 {
            scan::DEFAULT_PAGE_SIZE
        } else {
            count
        };
        let parked = after
            .as_deref()
            .and_then(|after| self.scans.take(pattern, after, self.clock.now()));
        let (mut found, more, found_earlier) = match parked {
            Some(session) => (session.keys, session.more, true),
            None => {
                let matcher = scan::Matcher::new(pattern);
                let limit = count.max(scan::PREFETCH_KEYS);
                let mut pass = scan::Pass::new(&matcher, after.as_deref(), limit);
                let now = self.clock.now();
                self.map.for_each(|key, entry| {
                    if entry.is_live(now) {
                        pass.offer(Arc::clone(key));
                    }
                });
                let (keys, more) = pass.finish();
                (keys, more, false)
            }
        };
        let mut keys = Vec::with_capacity(count.min(found.len()));
        let mut last = None;
        while keys.len() < count
            && let Some(key) = found.pop_front()
        {
            if !found_earlier || self.still_there(&key) {
                keys.push(key.to_string());
            }
            last = Some(key);
        }
        let next = match last {
            Some(last) if more || !found.is_empty() => {
                if !found.is_empty() {
                    self.scans
                        .park(pattern, &last, found, more, self.clock.now());
                }
                Some(scan::encode_cursor(&last))
            }
            _ => None,
        };
        Ok(KeyPage::new(keys, next))
    }

    /// Whether a key (one found by an earlier scan pass, one asked about by
    /// `exists`) holds a live entry, without counting as a use for the LRU
    /// order, so listing does not keep keys alive.
    fn still_there(&self, key: &str) -> bool {
        self.map.contains_live(key, self.clock.now())
    }

    pub(crate) fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        self.ensure_open(Operation::DeletePattern)?;
        let matcher = scan::Matcher::new(pattern);
        let now = self.clock.now();
        let mut matching: Vec<Arc<str>> = Vec::new();
        self.map.for_each(|key, entry| {
            if entry.is_live(now) && matcher.matches(key) {
                matching.push(Arc::clone(key));
            }
        });
        let mut deleted = 0;
        for key in matching {
            deleted += u64::from(self.remove(&key, Operation::DeletePattern)?);
        }
        Ok(deleted)
    }

    pub(crate) fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        self.ensure_open(Operation::Publish)?;
        validate_key(channel)?;
        validate_value_size(channel, message, self.settings.max_value_bytes)?;
        Ok(self
            .pubsub
            .publish(channel, Bytes::copy_from_slice(message)))
    }

    pub(crate) fn subscribe(&self, channel: &str) -> Result<Subscription> {
        self.ensure_open(Operation::Subscribe)?;
        validate_key(channel)?;
        PubSub::subscribe(&self.pubsub, channel)
    }

    /// Refuses every later call, ends subscriptions and releases the entries.
    /// Closing twice is fine.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // A writer checks `closed` under its stripe lock: once every stripe has
        // been taken after the flag was set, no write can land after the
        // clearing below.
        for stripe in self.stripes.iter() {
            drop(stripe.0.lock());
        }
        self.pubsub.close();
        self.scans.clear();
        self.map.invalidate_all();
    }

    /// How long `key` still lives, `None` when it holds nothing live or
    /// never expires.
    pub(crate) fn remaining_ttl(&self, key: &str) -> Option<Duration> {
        self.key_ttl(key).remaining()
    }

    /// What [`Cache::ttl`](cache_core::Cache::ttl) answers for a valid key.
    fn key_ttl(&self, key: &str) -> KeyTtl {
        let now = self.clock.now();
        match self.live(key, now) {
            None => KeyTtl::Absent,
            Some(Entry {
                expires_at: None, ..
            }) => KeyTtl::NoExpiry,
            Some(Entry {
                expires_at: Some(at),
                ..
            }) => KeyTtl::Remaining(at - now),
        }
    }

    /// Every live key, sorted.
    pub(crate) fn keys(&self) -> Vec<String> {
        let now = self.clock.now();
        let mut keys: Vec<String> = Vec::new();
        self.map.for_each(|key, entry| {
            if entry.is_live(now) {
                keys.push(key.to_string());
            }
        });
        keys.sort_unstable();
        keys
    }

    /// Entries held and their key and value bytes (`None` without a byte
    /// bound), after dropping expired entries, so that both count live
    /// entries only.
    pub(crate) fn size(&self) -> (u64, Option<u64>) {
        self.map.purge_expired(self.clock.now());
        let entries = self.map.entry_count();
        let bytes = self
            .settings
            .weighing
            .map(|w| w.held_bytes(self.map.weighted_size(), entries));
        (entries, bytes)
    }
}

/// The stripe of `key`: a multiply-rotate hash over 8-byte words (cheap on
/// the hot path; stripes only need spread, not DoS resistance, since a bad
/// spread costs contention, never correctness), top bits taken.
#[inline]
fn stripe_of(key: &str) -> usize {
    const SEED: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash = key.len() as u64;
    let mut words = key.as_bytes().chunks_exact(8);
    for word in &mut words {
        let word: [u8; 8] = word.try_into().unwrap_or_default();
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
    }
    (hash >> (u64::BITS - STRIPES.trailing_zeros())) as usize
}

fn wrong_type(key: &str, expected: &'static str) -> CacheError {
    CacheError::wrong_type(key, expected)
}

/// `incr_by` would leave the range of `i64`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("incrementing {current} by {delta} overflows a 64-bit signed integer")]
pub(crate) struct CounterOverflow {
    pub(crate) current: i64,
    pub(crate) delta: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_spread_keys() {
        let mut used = [0usize; STRIPES];
        for i in 0..(STRIPES * 64) {
            used[stripe_of(&format!("user:{i}"))] += 1;
        }
        // Every stripe gets some keys, none gets a large share.
        assert!(used.iter().all(|&n| n > 0), "{used:?}");
        assert!(used.iter().all(|&n| n < 64 * 3), "{used:?}");
    }
}
