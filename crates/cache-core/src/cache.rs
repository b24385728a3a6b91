//! The [`Cache`] trait and the small types its methods exchange.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::stats::CacheStats;

/// The byte-level cache contract. Every backend (in-memory, Redis standalone,
/// sentinel, cluster) implements it with the same semantics, checked by the
/// conformance suite in `cache-testing`.
///
/// Object-safe: services hold an `Arc<dyn Cache>`; `Arc<C>` and `Box<C>` are
/// caches themselves, and a wrapper implements [`CacheLayer`](crate::CacheLayer)
/// instead of restating this trait. Keys follow [`crate::key`],
/// TTLs follow [`crate::ttl`]. Values are bytes; [`crate::TypedCacheExt`] adds
/// typed (CBOR) access on top.
///
/// # Atomicity
/// Each call is atomic on its own: `get_or_set`, `compare_and_set`,
/// `compare_and_delete`, `incr_by` and `rate_limit` are single indivisible
/// steps even with many writers (a Lua script or a single command on Redis, a
/// per-key critical section in memory). Batch calls are *not* transactions:
/// each key is handled atomically, but other writers may interleave between keys.
///
/// # Errors
/// A miss is not an error: `get` returns `Ok(None)` and `get_many` a `None`
/// per missing key, as in redis-rs and moka (ADR 0008). After [`Cache::close`] every call fails with
/// [`ErrorKind::Closed`](crate::ErrorKind::Closed).
#[async_trait]
pub trait Cache: Send + Sync + fmt::Debug {
    /// The value at `key`, `None` on a miss (never set, deleted or expired).
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Stores `value` at `key` for `ttl`, replacing any value and TTL.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;

    /// Removes `key`. Returns whether it held a value; an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Stores `value` only if `key` holds nothing, atomically.
    ///
    /// Returns the value now stored and whether this call stored it:
    /// `(value, true)` when it was absent and `value` was written, or
    /// `(existing, false)` when another value was already there (the TTL of
    /// the existing value is left alone). The primitive of request
    /// de-duplication and idempotency.
    async fn get_or_set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(Bytes, bool)>;

    /// Replaces the value at `key` with `new` (and its TTL with `ttl`) only if
    /// the current value is `expected`, atomically. Returns whether it did.
    ///
    /// `expected = None` means "only if absent" (lock acquisition).
    /// `expected = Some(b"")` means "only if the current value is the empty
    /// byte string", which is *not* the same as absent.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool>;

    /// Deletes `key` only if its value equals `expected`, atomically. Returns
    /// whether it did. Releasing a lock this way never removes a lock that a
    /// later holder took after the first holder's TTL ran out.
    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool>;

    /// The values of `keys`, in order, `None` for each miss. One round trip
    /// where the backend can (pipelined, per node in a cluster).
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>>;

    /// Stores every `(key, value)` with the same `ttl`. Validates every key,
    /// value and the TTL before writing anything.
    async fn set_many(&self, entries: &[(&str, &[u8])], ttl: Duration) -> Result<()>;

    /// Removes every key; returns how many held a value.
    async fn delete_many(&self, keys: &[&str]) -> Result<u64>;

    /// Adds `delta` to the integer at `key` and returns the result, atomically.
    ///
    /// An absent key starts at 0 and gets `ttl`; an existing counter keeps its
    /// TTL (so a counter is a fixed window that starts at its first
    /// increment). Counters are stored as decimal ASCII (`get` returns e.g.
    /// `b"42"`), the Redis convention. A value that is not a decimal `i64`
    /// gives [`ErrorKind::WrongType`](crate::ErrorKind::WrongType); overflow
    /// is an error too, never a wrap.
    async fn incr_by(&self, key: &str, delta: i64, ttl: Duration) -> Result<i64>;

    /// How many of `keys` hold a value (of any kind: a rate-limit window
    /// counts too). A key named twice counts twice, as Redis's `EXISTS` does.
    /// Not a use of the keys: eviction order and TTLs stay as they were. In a
    /// cluster the keys may be in different slots.
    async fn exists(&self, keys: &[&str]) -> Result<u64>;

    /// Gives `key` a new TTL counted from now, keeping its value. Returns
    /// whether the key held a value; an absent key is left absent (`false`).
    ///
    /// `ttl` follows the rules of [`crate::ttl`]: zero is refused with
    /// [`ErrorKind::InvalidTtl`](crate::ErrorKind::InvalidTtl) (delete the key to end it now).
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool>;

    /// Removes the TTL of `key`: it then lives until it is deleted,
    /// overwritten or evicted. Returns whether a TTL was removed, `false` for
    /// an absent key and for one that already had none (as Redis's `PERSIST`).
    ///
    /// The one deliberate exception to "every entry expires" ([`crate::ttl`]):
    /// it is asked for by name, and [`Cache::ttl`] reports such keys as
    /// [`KeyTtl::NoExpiry`]. The next `set` gives the key a TTL again.
    async fn persist(&self, key: &str) -> Result<bool>;

    /// How long `key` still lives: [`KeyTtl::Absent`] when it holds nothing,
    /// [`KeyTtl::NoExpiry`] when it has no TTL (after [`Cache::persist`], or
    /// written by another client without one), otherwise the time left,
    /// never more than the TTL last given.
    async fn ttl(&self, key: &str) -> Result<KeyTtl>;

    /// Marks each of `keys` as just used, for the backend's eviction (LRU),
    /// leaving values and TTLs alone. Returns how many hold a value, a key
    /// named twice counting twice (Redis's `TOUCH`). In a cluster the keys
    /// may be in different slots.
    async fn touch(&self, keys: &[&str]) -> Result<u64>;

    /// One page of the keys that match the glob `pattern` (see
    /// [`crate::pattern`]), starting at `cursor`, about `count` keys long.
    ///
    /// Start with [`ScanCursor::start`] and pass each page's `next` until it
    /// is `None`. A key present for the whole iteration is returned at least
    /// once; with no concurrent writes each key is returned exactly once.
    /// Never blocks the server (SCAN, not KEYS; every primary of a cluster).
    async fn scan_keys(&self, pattern: &str, cursor: &ScanCursor, count: usize) -> Result<KeyPage>;

    /// Deletes every key that matches the glob `pattern` and returns how many
    /// it deleted. Incremental (SCAN + batched UNLINK on Redis), so not a
    /// snapshot: keys written meanwhile may or may not be removed.
    async fn delete_pattern(&self, pattern: &str) -> Result<u64>;

    /// Counts one request against the rate limit `rule` for `key`, atomically,
    /// on the backend's clock (the server's on Redis, so client clock skew
    /// does not matter). A denied request does not count against the window.
    async fn rate_limit(&self, key: &str, rule: &RateLimitRule) -> Result<RateDecision>;

    /// Publishes `message` on `channel` to every subscriber of this backend
    /// (every process connected to the same Redis). Returns how many
    /// subscribers the backend reports receiving it, where it knows.
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<u64>;

    /// Subscribes to `channel`. See [`Subscription`] for what it delivers.
    async fn subscribe(&self, channel: &str) -> Result<Subscription>;

    /// Checks that the backend answers (a PING with a timeout on Redis).
    async fn health(&self) -> Result<()>;

    /// A snapshot of the counters.
    fn stats(&self) -> CacheStats;

    /// Sets and hashes on this cache, `None` (the default) when it has none.
    /// The backends answer with themselves; a [`CacheLayer`](crate::CacheLayer)
    /// answers with itself when the cache under it has them, so calls go
    /// through its key mapping and hooks. See [`crate::collections`].
    fn collections(&self) -> Option<&dyn crate::collections::Collections> {
        None
    }

    /// Closes the cache: connections are released and every later call fails
    /// with a closed error. Closing twice is fine.
    async fn close(&self) -> Result<()>;
}

/// Where a [`Cache::scan_keys`] iteration stands. Opaque: it can be printed and
/// parsed back (an operator's command line passes it between runs), but its
/// content belongs to the backend that made it.
///
/// `"0"` and `""` are both the start: they parse to, and compare and hash
/// equal to, [`ScanCursor::start`], which prints as `"0"`.
///
/// ```
/// use cache_core::ScanCursor;
///
/// assert_eq!("0".parse::<ScanCursor>().unwrap(), ScanCursor::start());
/// let c: ScanCursor = "2:1234".parse().unwrap();
/// assert_eq!(c.to_string().parse::<ScanCursor>().unwrap(), c);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ScanCursor(
    /// Empty at the start (never `"0"`, so that the derived comparisons
    /// agree with [`ScanCursor::is_start`]).
    String,
);

impl ScanCursor {
    /// The beginning of an iteration.
    pub fn start() -> Self {
        ScanCursor(String::new())
    }

    /// Whether this cursor is the beginning.
    pub fn is_start(&self) -> bool {
        self.0.is_empty()
    }

    /// A cursor from its printed form (for backends, and for callers that
    /// passed a cursor through text); `"0"` is the start.
    pub fn from_string(s: impl Into<String>) -> Self {
        let s = s.into();
        if s == "0" {
            ScanCursor::start()
        } else {
            ScanCursor(s)
        }
    }

    /// The backend's text of the cursor, empty at the start (print it with
    /// `Display` to pass it on: the start prints as `"0"`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScanCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Any text is a cursor (whether its backend accepts it is for
/// [`Cache::scan_keys`] to say); the printed form parses back to the same cursor.
impl FromStr for ScanCursor {
    type Err = Infallible;

    fn from_str(s: &str) -> std::result::Result<Self, Infallible> {
        Ok(ScanCursor::from_string(s))
    }
}

/// One page of a key listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct KeyPage {
    /// Keys on this page (may be fewer than asked, even none, before the end).
    pub keys: Vec<String>,
    /// Where to continue, `None` when the iteration is complete.
    pub next: Option<ScanCursor>,
}

impl KeyPage {
    /// A page of `keys` continuing at `next`.
    pub fn new(keys: Vec<String>, next: Option<ScanCursor>) -> Self {
        KeyPage { keys, next }
    }
}

/// The answer of [`Cache::ttl`]: the three states Redis's `PTTL` encodes as
/// `-2`, `-1` and a number of milliseconds.
///
/// ```
/// use std::time::Duration;
/// use cache_core::KeyTtl;
///
/// assert_eq!(KeyTtl::Remaining(Duration::from_secs(5)).remaining(), Some(Duration::from_secs(5)));
/// assert_eq!(KeyTtl::NoExpiry.remaining(), None);
/// assert!(!KeyTtl::Absent.exists());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyTtl {
    /// The key holds nothing (never set, deleted or expired).
    Absent,
    /// The key holds a value that never expires.
    NoExpiry,
    /// The key holds a value for this much longer.
    Remaining(Duration),
}

impl KeyTtl {
    /// Whether the key holds a value.
    pub fn exists(&self) -> bool {
        !matches!(self, KeyTtl::Absent)
    }

    /// The time left, `None` when absent or without expiry.
    pub fn remaining(&self) -> Option<Duration> {
        match self {
            KeyTtl::Remaining(left) => Some(*left),
            _ => None,
        }
    }
}

/// How a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RateLimitAlgorithm {
    /// At most `limit` requests in any `window`-long interval (a log of
    /// request times; exact, more memory).
    #[default]
    SlidingWindow,
    /// At most `limit` requests per window, windows starting at the first
    /// request (one counter; cheap, allows up to 2× at window edges).
    FixedWindow,
}

/// A rate limit: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RateLimitRule {
    /// Requests admitted per window (≥ 1).
    pub limit: u64,
    /// The window (≥ 1 ms, ≤ [`crate::ttl::MAX_TTL`]).
    pub window: Duration,
    /// How requests are counted.
    pub algorithm: RateLimitAlgorithm,
}

impl RateLimitRule {
    /// A sliding-window rule.
    pub fn sliding(limit: u64, window: Duration) -> Self {
        RateLimitRule {
            limit,
            window,
            algorithm: RateLimitAlgorithm::SlidingWindow,
        }
    }

    /// A fixed-window rule.
    pub fn fixed(limit: u64, window: Duration) -> Self {
        RateLimitRule {
            limit,
            window,
            algorithm: RateLimitAlgorithm::FixedWindow,
        }
    }

    /// Checks the rule: a zero limit or an invalid window is an error.
    pub fn validate(&self) -> Result<()> {
        crate::ttl::ttl_millis(self.window)?;
        if self.limit == 0 {
            return Err(crate::ConfigError::new("rate_limit.limit", "must be at least 1").into());
        }
        Ok(())
    }
}

/// The answer of [`Cache::rate_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateDecision {
    /// Whether this request is admitted.
    pub allowed: bool,
    /// The rule's limit.
    pub limit: u64,
    /// Requests still admitted in the current window after this one.
    pub remaining: u64,
    /// When denied, how long until a request would be admitted; zero when allowed.
    pub retry_after: Duration,
}

impl RateDecision {
    /// A decision (for backend implementers).
    pub fn new(allowed: bool, limit: u64, remaining: u64, retry_after: Duration) -> Self {
        RateDecision {
            allowed,
            limit,
            remaining,
            retry_after,
        }
    }
}

/// What a [`Subscription`] delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionEvent {
    /// A message published on the channel (possibly by this process).
    Message(Bytes),
    /// The subscriber fell behind and `n` messages were dropped: anything
    /// derived from the messages must be treated as stale.
    Lagged(u64),
    /// The connection was lost and re-established: messages published
    /// meanwhile were lost, so anything derived from them is stale.
    Reconnected,
}

/// A live subscription to a channel. Dropping it unsubscribes. `recv` returns
/// `None` once the cache is closed.
///
/// Also a [`Stream`] of the same events, ending where `recv` returns `None`:
/// ```
/// use futures::StreamExt;
/// use cache_core::{Bytes, Subscription, SubscriptionEvent};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = tokio::sync::mpsc::channel(4);
/// let subscription = Subscription::new("news", rx);
/// tx.send(SubscriptionEvent::Message(Bytes::from_static(b"hi"))).await.unwrap();
/// drop(tx);
/// let events: Vec<_> = subscription.collect().await;
/// assert_eq!(events, [SubscriptionEvent::Message(Bytes::from_static(b"hi"))]);
/// # }
/// ```
#[derive(Debug)]
pub struct Subscription {
    channel: String,
    rx: mpsc::Receiver<SubscriptionEvent>,
}

impl Subscription {
    /// A subscription fed by `rx` (for backend implementers: the backend keeps
    /// the sender and stops feeding when it is dropped).
    pub fn new(channel: impl Into<String>, rx: mpsc::Receiver<SubscriptionEvent>) -> Self {
        Subscription {
            channel: channel.into(),
            rx,
        }
    }

    /// The channel subscribed to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The next event, or `None` when the subscription ended.
    pub async fn recv(&mut self) -> Option<SubscriptionEvent> {
        self.rx.recv().await
    }

    /// The same subscription under the caller's name for its channel (a layer
    /// that renames channels hands back what its inner cache made).
    pub(crate) fn named(mut self, channel: &str) -> Self {
        if self.channel != channel {
            self.channel = channel.to_owned();
        }
        self
    }
}

impl Stream for Subscription {
    type Item = SubscriptionEvent;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<SubscriptionEvent>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_through_text() {
        let c = ScanCursor::start();
        assert!(c.is_start());
        assert_eq!(c.to_string(), "0");
        assert!(ScanCursor::from_string("0").is_start());
        let c = ScanCursor::from_string("2:1234");
        assert_eq!(ScanCursor::from_string(c.to_string()), c);
        for text in ["0", "", "2:1234", "m:YWJj", " 0", "00"] {
            let c: ScanCursor = text.parse().unwrap();
            assert_eq!(c.to_string().parse::<ScanCursor>().unwrap(), c, "{text:?}");
        }
    }

    #[test]
    fn zero_and_empty_are_the_same_start_cursor() {
        let zero: ScanCursor = "0".parse().unwrap();
        let empty: ScanCursor = "".parse().unwrap();
        for c in [
            &zero,
            &empty,
            &ScanCursor::from_string("0"),
            &ScanCursor::default(),
        ] {
            assert_eq!(*c, ScanCursor::start());
            assert!(c.is_start());
            assert_eq!(c.to_string(), "0");
        }
        let state = std::hash::RandomState::new();
        assert_eq!(
            std::hash::BuildHasher::hash_one(&state, &zero),
            std::hash::BuildHasher::hash_one(&state, ScanCursor::start())
        );
        let set: std::collections::HashSet<ScanCursor> =
            [zero, empty, ScanCursor::start()].into_iter().collect();
        assert_eq!(set.len(), 1);
        // Anything else is not the start, not even a lookalike.
        for other in ["00", " 0", "0 ", "1"] {
            let c: ScanCursor = other.parse().unwrap();
            assert!(!c.is_start(), "{other:?}");
            assert_ne!(c, ScanCursor::start(), "{other:?}");
        }
    }

    #[tokio::test]
    async fn subscription_is_a_stream_of_its_events() {
        use futures::StreamExt;

        let (tx, rx) = mpsc::channel(4);
        let mut subscription = Subscription::new("news", rx);
        tx.send(SubscriptionEvent::Message(Bytes::from_static(b"a")))
            .await
            .unwrap();
        tx.send(SubscriptionEvent::Lagged(3)).await.unwrap();
        assert_eq!(
            subscription.next().await,
            Some(SubscriptionEvent::Message(Bytes::from_static(b"a")))
        );
        // `recv` and the stream read the same queue.
        assert_eq!(
            subscription.recv().await,
            Some(SubscriptionEvent::Lagged(3))
        );
        tx.send(SubscriptionEvent::Reconnected).await.unwrap();
        drop(tx);
        let rest: Vec<_> = subscription.collect().await;
        assert_eq!(rest, [SubscriptionEvent::Reconnected]);
    }

    #[tokio::test]
    async fn a_renamed_subscription_keeps_its_events() {
        let (tx, rx) = mpsc::channel(1);
        let mut subscription = Subscription::new("p:news", rx).named("news");
        assert_eq!(subscription.channel(), "news");
        tx.send(SubscriptionEvent::Reconnected).await.unwrap();
        assert_eq!(
            subscription.recv().await,
            Some(SubscriptionEvent::Reconnected)
        );
    }

    #[test]
    fn rule_validation() {
        assert!(
            RateLimitRule::sliding(1, Duration::from_secs(1))
                .validate()
                .is_ok()
        );
        assert!(
            RateLimitRule::sliding(0, Duration::from_secs(1))
                .validate()
                .is_err()
        );
        assert!(RateLimitRule::fixed(1, Duration::ZERO).validate().is_err());
    }

    #[test]
    fn trait_is_object_safe() {
        fn takes(_: Option<std::sync::Arc<dyn Cache>>) {}
        takes(None);
    }
}
