//! [`FakeCache`]: a small, correct, in-memory implementation of the whole
//! [`Cache`] contract whose clock tests control.
//!
//! Written independently of the production in-memory backend (one mutex
//! over a `BTreeMap`), so that callers' tests can expire entries, rate-limit
//! windows and locks deterministically by advancing a [`ManualClock`],
//! without sleeping. It passes the conformance suite.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::Cache;
//! use cache_testing::fakes::{FakeCache, ManualClock};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cache_core::Result<()> {
//! let clock = ManualClock::new();
//! let cache = FakeCache::with_clock(clock.clone());
//! cache.set("session:1", b"alice", Duration::from_secs(30)).await?;
//! clock.advance(Duration::from_secs(29));
//! assert_eq!(cache.get("session:1").await?.as_deref(), Some(&b"alice"[..]));
//! clock.advance(Duration::from_secs(1));
//! assert!(cache.get("session:1").await.unwrap().is_none());
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::key::{validate_key, validate_value_size};
use cache_core::ttl::ttl_millis;
use cache_core::{
    Cache, CacheError, CacheStats, KeyPage, Operation, RateDecision, RateLimitRule, Result,
    ScanCursor, StatsRecorder, Subscription,
};
use parking_lot::Mutex;

mod clock;
mod store;

pub use clock::ManualClock;

use clock::Clock;
use store::{Store, parse_counter};

/// Events a subscriber may have queued before it counts as lagging.
const SUBSCRIBER_QUEUE: usize = 1024;

/// An in-memory [`Cache`] on a controllable clock. See the [module docs](self).
pub struct FakeCache {
    store: Mutex<Store>,
    clock: Clock,
    max_value_bytes: usize,
    stats: StatsRecorder,
}

impl fmt::Debug for FakeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCache")
            .field("clock", &self.clock)
            .field("entries", &self.len())
            .field("max_value_bytes", &self.max_value_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for FakeCache {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCache {
    /// A fake on tokio's clock: real time, or paused test time in
    /// `#[tokio::test(start_paused = true)]` tests (then `tokio::time::advance`
    /// moves it).
    pub fn new() -> Self {
        Self::on(Clock::tokio())
    }

    /// A fake on `clock`, which moves only when advanced.
    pub fn with_clock(clock: ManualClock) -> Self {
        Self::on(Clock::Manual(clock))
    }

    fn on(clock: Clock) -> Self {
        FakeCache {
            store: Mutex::new(Store::default()),
            clock,
            max_value_bytes: usize::MAX,
            stats: StatsRecorder::new(),
        }
    }

    /// Refuses values over `max` bytes with `ValueTooLarge` (no limit by default).
    pub fn with_max_value_bytes(mut self, max: usize) -> Self {
        self.max_value_bytes = max;
        self
    }

    /// How many live entries it holds.
    pub fn len(&self) -> usize {
        self.store.lock().usage(self.clock.now()).0 as usize
    }

    /// Whether it holds no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live key, in order (for assertions).
    pub fn keys(&self) -> Vec<String> {
        self.store.lock().keys(self.clock.now())
    }

    /// How long `key` still lives, `None` when it holds nothing (for
    /// asserting the TTL a caller chose).
    pub fn remaining_ttl(&self, key: &str) -> Option<Duration> {
        let now = self.clock.now();
        self.store.lock().live(key, now).map(|e| e.expires_at - now)
    }

    /// The time at which an entry written now with `ttl` is gone; refuses bad TTLs.
    fn expiry(&self, ttl: Duration) -> Result<Duration> {
        Ok(self.clock.now() + Duration::from_millis(ttl_millis(ttl)?))
    }

    /// Locks the store, refusing with `Closed` once closed.
    fn open(&self, op: Operation) -> Result<parking_lot::MutexGuard<'_, Store>> {
        let store = self.store.lock();
        if store.closed {
            return Err(CacheError::closed(op));
        }
        Ok(store)
    }

    /// Counts the call and its outcome.
    fn record<T>(&self, op: Operation, result: Result<T>) -> Result<T> {
        self.stats.op(op);
        self.stats.outcome(&result);
        result
    }

    fn get_inner(&self, key: &str) -> Result<Option<Bytes>> {
        let mut store = self.open(Operation::Get)?;
        validate_key(key)?;
        let value = store.get(key, self.clock.now());
        if value.is_some() {
            self.stats.hits(1);
        } else {
            self.stats.misses(1);
        }
        Ok(value)
    }

    fn set_inner(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let mut store = self.open(Operation::Set)?;
        validate_key(key)?;
        validate_value_size(key, value, self.max_value_bytes)?;
        let expires_at = self.expiry(ttl)?;
        store.insert(key, value, expires_at);
        Ok(())
    }

    fn get_or_set_inner(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        let mut store = self.open(Operation::GetOrSet)?;
        validate_key(key)?;
        validate_value_size(key, value, self.max_value_bytes)?;
        let expires_at = self.expiry(ttl)?;
        if let Some(existing) = store.get(key, self.clock.now()) {
            return Ok((existing, false));
        }
        store.insert(key, value, expires_at);
        Ok((Bytes::copy_from_slice(value), true))
    }

    fn compare_and_set_inner(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let mut store = self.open(Operation::CompareAndSet)?;
        validate_key(key)?;
        validate_value_size(key, new, self.max_value_bytes)?;
        let expires_at = self.expiry(ttl)?;
        let current = store.get(key, self.clock.now());
        if current.as_deref() != expected {
            return Ok(false);
        }
        store.insert(key, new, expires_at);
        Ok(true)
    }

    fn compare_and_delete_inner(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let mut store = self.open(Operation::CompareAndDelete)?;
        validate_key(key)?;
        let now = self.clock.now();
        if store.get(key, now).as_deref() != Some(expected) {
            return Ok(false);
        }
        Ok(store.remove(key, now))
    }

    fn get_many_inner(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let mut store = self.open(Operation::GetMany)?;
        keys.iter().try_for_each(|k| validate_key(k))?;
        let now = self.clock.now();
        let values: Vec<Option<Bytes>> = keys.iter().map(|k| store.get(k, now)).collect();
        let hits = values.iter().filter(|v| v.is_some()).count() as u64;
        self.stats.hits(hits);
        self.stats.misses(values.len() as u64 - hits);
        Ok(values)
    }

    fn set_many_inner(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        let mut store = self.open(Operation::SetMany)?;
        for (key, value) in entries {
            validate_key(key)?;
            validate_value_size(key, value, self.max_value_bytes)?;
        }
        let expires_at = self.expiry(ttl)?;
        for (key, value) in entries {
            store.insert(key, value, expires_at);
        }
        Ok(())
    }

    fn delete_many_inner(&self, keys: &[&str]) -> Result<u64> {
        let mut store = self.open(Operation::DeleteMany)?;
        keys.iter().try_for_each(|k| validate_key(k))?;
        let now = self.clock.now();
        Ok(keys.iter().filter(|k| store.remove(k, now)).count() as u64)
    }

    fn incr_by_inner(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        let mut store = self.open(Operation::IncrBy)?;
        validate_key(key)?;
        let expires_at = self.expiry(ttl)?;
        let now = self.clock.now();
        let (current, expires_at) = match store.live(key, now) {
            Some(entry) => match parse_counter(&entry.value) {
                Some(n) => (n, entry.expires_at),
                None => {
                    return Err(CacheError::wrong_type(key, "a decimal i64 counter"));
                }
            },
            None => (0, expires_at),
        };
        let next = current.checked_add(delta).ok_or_else(|| {
            CacheError::overflow(
                Operation::IncrBy,
                Some(key),
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("adding {delta} to {current} overflows i64"),
                ),
            )
        })?;
        store.insert(key, next.to_string().as_bytes(), expires_at);
        Ok(next)
    }

    fn scan_keys_inner(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        let store = self.open(Operation::ScanKeys)?;
        let after = decode_cursor(cursor)?;
        let (keys, more) = store.scan(pattern, after.as_deref(), count.max(1), self.clock.now());
        let next = match (more, keys.last()) {
            (true, Some(last)) => Some(encode_cursor(last)),
            _ => None,
        };
        Ok(KeyPage::new(keys, next))
    }

    fn rate_limit_inner(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        let mut store = self.open(Operation::RateLimit)?;
        validate_key(key)?;
        rule.validate()?;
        Ok(store.rate_limit(key, rule, self.clock.now()))
    }
}

/// A cursor is the last key returned, hex-encoded so that no key can look
/// like the start cursor (`"0"`) or be mangled by a terminal.
fn encode_cursor(last_key: &str) -> ScanCursor {
    let hex: String = last_key.bytes().map(|b| format!("{b:02x}")).collect();
    ScanCursor::from_string(format!("k{hex}"))
}

fn decode_cursor(cursor: &ScanCursor) -> Result<Option<String>> {
    if cursor.is_start() {
        return Ok(None);
    }
    let malformed = || {
        CacheError::operation(
            Operation::ScanKeys,
            None,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{:?} is not a scan cursor of this cache", cursor.as_str()),
            ),
        )
    };
    let hex = cursor.as_str().strip_prefix('k').ok_or_else(malformed)?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(malformed());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<std::result::Result<Vec<u8>, _>>()
        .map_err(|_| malformed())?;
    String::from_utf8(bytes).map(Some).map_err(|_| malformed())
}

#[async_trait]
impl Cache for FakeCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.record(Operation::Get, self.get_inner(key))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.record(Operation::Set, self.set_inner(key, value, ttl))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let result = self.open(Operation::Delete).and_then(|mut store| {
            validate_key(key)?;
            Ok(store.remove(key, self.clock.now()))
        });
        self.record(Operation::Delete, result)
    }

    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)> {
        self.record(Operation::GetOrSet, self.get_or_set_inner(key, value, ttl))
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool> {
        let result = self.compare_and_set_inner(key, expected, new, ttl);
        self.record(Operation::CompareAndSet, result)
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool> {
        let result = self.compare_and_delete_inner(key, expected);
        self.record(Operation::CompareAndDelete, result)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.record(Operation::GetMany, self.get_many_inner(keys))
    }

    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()> {
        self.record(Operation::SetMany, self.set_many_inner(entries, ttl))
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.record(Operation::DeleteMany, self.delete_many_inner(keys))
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64> {
        self.record(Operation::IncrBy, self.incr_by_inner(key, delta, ttl))
    }

    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage> {
        let result = self.scan_keys_inner(pattern, cursor, count);
        self.record(Operation::ScanKeys, result)
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let result = self
            .open(Operation::DeletePattern)
            .map(|mut store| store.remove_matching(pattern, self.clock.now()));
        self.record(Operation::DeletePattern, result)
    }

    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision> {
        self.record(Operation::RateLimit, self.rate_limit_inner(key, rule))
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        let result = self
            .open(Operation::Publish)
            .map(|mut store| store.publish(channel, message));
        self.record(Operation::Publish, result)
    }

    async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        let result = self.open(Operation::Subscribe).map(|mut store| {
            Subscription::new(channel, store.subscribe(channel, SUBSCRIBER_QUEUE))
        });
        self.record(Operation::Subscribe, result)
    }

    async fn health(&self) -> Result<()> {
        let result = self.open(Operation::Health).map(drop);
        self.record(Operation::Health, result)
    }

    fn stats(&self) -> CacheStats {
        let (entries, bytes) = self.store.lock().usage(self.clock.now());
        let mut stats = self.stats.snapshot();
        stats.entries = Some(entries);
        stats.bytes = Some(bytes);
        stats
    }

    async fn close(&self) -> Result<()> {
        self.store.lock().close();
        self.record(Operation::Close, Ok(()))
    }
}

#[cfg(test)]
mod tests;
