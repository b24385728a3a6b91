//! The state of a [`FakeCache`](super::FakeCache): plain data behind one
//! mutex, every method a whole atomic step at a given time.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use cache_core::pattern;
use cache_core::{RateDecision, RateLimitAlgorithm, RateLimitRule, SubscriptionEvent};
use tokio::sync::mpsc;

/// One stored value.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) value: Bytes,
    /// Time (on the cache's clock) from which the entry is gone.
    pub(super) expires_at: Duration,
}

/// What a rate limit remembers about one key.
#[derive(Debug)]
enum Window {
    /// Times of the admitted requests still inside the window.
    Sliding(VecDeque<Duration>),
    /// Admitted requests in the window that ends at `ends_at`.
    Fixed { count: u64, ends_at: Duration },
}

/// One subscriber of a channel.
#[derive(Debug)]
struct Subscriber {
    tx: mpsc::Sender<SubscriptionEvent>,
    /// Messages dropped because the subscriber's queue was full, not yet reported.
    lagged: u64,
}

/// Everything a fake cache holds.
#[derive(Debug, Default)]
pub(super) struct Store {
    entries: BTreeMap<String, Entry>,
    windows: HashMap<(RateLimitAlgorithm, String), Window>,
    subscribers: HashMap<String, Vec<Subscriber>>,
    pub(super) closed: bool,
}

impl Store {
    /// The live entry at `key`; an expired one is removed.
    pub(super) fn live(&mut self, key: &str, now: Duration) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires_at <= now) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    pub(super) fn get(&mut self, key: &str, now: Duration) -> Option<Bytes> {
        self.live(key, now).map(|e| e.value.clone())
    }

    pub(super) fn insert(&mut self, key: &str, value: &[u8], expires_at: Duration) {
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: Bytes::copy_from_slice(value),
                expires_at,
            },
        );
    }

    /// Removes `key`; whether it held a live value.
    pub(super) fn remove(&mut self, key: &str, now: Duration) -> bool {
        self.entries.remove(key).is_some_and(|e| e.expires_at > now)
    }

    /// Up to `count` live keys matching `pattern` after `after` (exclusive),
    /// in key order, and whether more keys follow.
    pub(super) fn scan(
        &self,
        pattern: &str,
        after: Option<&str>,
        count: usize,
        now: Duration,
    ) -> (Vec<String>, bool) {
        use std::ops::Bound;
        let lower = match after {
            Some(k) => Bound::Excluded(k.to_owned()),
            None => Bound::Unbounded,
        };
        let mut keys = Vec::new();
        let mut rest = self
            .entries
            .range::<String, _>((lower, Bound::Unbounded))
            .filter(|(k, e)| e.expires_at > now && pattern::matches(pattern, k));
        for (k, _) in rest.by_ref().take(count) {
            keys.push(k.clone());
        }
        let more = rest.next().is_some();
        (keys, more)
    }

    /// Removes every live key matching `pattern`; how many.
    pub(super) fn remove_matching(&mut self, pattern: &str, now: Duration) -> u64 {
        let before = self.entries.len();
        let mut removed = 0;
        self.entries.retain(|k, e| {
            let expired = e.expires_at <= now;
            let doomed = !expired && pattern::matches(pattern, k);
            removed += u64::from(doomed);
            !(doomed || expired)
        });
        debug_assert!(before >= self.entries.len());
        removed
    }

    /// Live entries and their bytes (keys and values).
    pub(super) fn usage(&self, now: Duration) -> (u64, u64) {
        self.entries
            .iter()
            .filter(|(_, e)| e.expires_at > now)
            .fold((0, 0), |(n, b), (k, e)| {
                (n + 1, b + (k.len() + e.value.len()) as u64)
            })
    }

    /// Live keys, in order.
    pub(super) fn keys(&self, now: Duration) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.expires_at > now)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Counts one request against `rule` for `key` (the rule is valid).
    pub(super) fn rate_limit(
        &mut self,
        key: &str,
        rule: &RateLimitRule,
        now: Duration,
    ) -> RateDecision {
        let limit = rule.limit;
        let window = Duration::from_millis(
            cache_core::ttl::ttl_millis(rule.window).expect("the rule was validated"),
        );
        let slot = self
            .windows
            .entry((rule.algorithm, key.to_owned()))
            .or_insert_with(|| match rule.algorithm {
                RateLimitAlgorithm::FixedWindow => Window::Fixed {
                    count: 0,
                    ends_at: Duration::ZERO,
                },
                _ => Window::Sliding(VecDeque::new()),
            });
        match slot {
            Window::Sliding(admitted) => {
                while admitted
                    .front()
                    .is_some_and(|t| now.saturating_sub(*t) >= window)
                {
                    admitted.pop_front();
                }
                if (admitted.len() as u64) < limit {
                    admitted.push_back(now);
                    RateDecision::new(true, limit, limit - admitted.len() as u64, Duration::ZERO)
                } else {
                    // The oldest admitted request inside the window leaves it first.
                    let oldest = *admitted
                        .front()
                        .expect("limit >= 1 so the log is not empty");
                    RateDecision::new(false, limit, 0, oldest + window - now)
                }
            }
            Window::Fixed { count, ends_at } => {
                if now >= *ends_at {
                    *count = 0;
                    *ends_at = now + window;
                }
                if *count < limit {
                    *count += 1;
                    RateDecision::new(true, limit, limit - *count, Duration::ZERO)
                } else {
                    RateDecision::new(false, limit, 0, *ends_at - now)
                }
            }
        }
    }

    /// A new subscriber on `channel` with a queue of `capacity` events.
    pub(super) fn subscribe(
        &mut self,
        channel: &str,
        capacity: usize,
    ) -> mpsc::Receiver<SubscriptionEvent> {
        let (tx, rx) = mpsc::channel(capacity);
        self.subscribers
            .entry(channel.to_owned())
            .or_default()
            .push(Subscriber { tx, lagged: 0 });
        rx
    }

    /// Delivers `message` to every live subscriber of `channel`; how many.
    /// A subscriber whose queue is full loses the message and is told so
    /// with a `Lagged` event as soon as there is room.
    pub(super) fn publish(&mut self, channel: &str, message: &[u8]) -> u64 {
        let Some(subs) = self.subscribers.get_mut(channel) else {
            return 0;
        };
        subs.retain(|s| !s.tx.is_closed());
        let message = Bytes::copy_from_slice(message);
        for sub in subs.iter_mut() {
            if sub.lagged > 0
                && sub
                    .tx
                    .try_send(SubscriptionEvent::Lagged(sub.lagged))
                    .is_ok()
            {
                sub.lagged = 0;
            }
            if sub.lagged > 0
                || sub
                    .tx
                    .try_send(SubscriptionEvent::Message(message.clone()))
                    .is_err()
            {
                sub.lagged += 1;
            }
        }
        let n = subs.len() as u64;
        if subs.is_empty() {
            self.subscribers.remove(channel);
        }
        n
    }

    /// Marks the store closed and ends every subscription.
    pub(super) fn close(&mut self) {
        self.closed = true;
        self.subscribers.clear();
    }
}

/// Parses a counter the way Redis does: an optional `-`, then `0` or digits
/// without a leading zero, within `i64`. No `+`, no spaces, no `-0`.
pub(super) fn parse_counter(value: &[u8]) -> Option<i64> {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    let well_formed = match digits {
        [] => false,
        [b'0'] => digits.len() == value.len(),
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    if !well_formed {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn counters_parse_like_redis() {
        assert_eq!(parse_counter(b"0"), Some(0));
        assert_eq!(parse_counter(b"-17"), Some(-17));
        assert_eq!(parse_counter(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_counter(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.5",
            b"abc",
            b"9223372036854775808",
        ] {
            assert_eq!(
                parse_counter(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn entries_are_gone_from_their_expiry_time() {
        let mut store = Store::default();
        store.insert("k", b"v", 10 * MS);
        assert!(store.get("k", 9 * MS).is_some());
        assert!(store.get("k", 10 * MS).is_none());
        assert!(!store.remove("k", 10 * MS));
    }

    #[test]
    fn scan_pages_in_key_order() {
        let mut store = Store::default();
        for k in ["a1", "a2", "a3", "b1"] {
            store.insert(k, b"v", 10 * MS);
        }
        let (page, more) = store.scan("a*", None, 2, MS);
        assert_eq!(
            (page.as_slice(), more),
            (&["a1".to_owned(), "a2".to_owned()][..], true)
        );
        let (page, more) = store.scan("a*", Some("a2"), 2, MS);
        assert_eq!((page, more), (vec!["a3".to_owned()], false));
    }

    #[test]
    fn sliding_window_admits_again_when_the_oldest_request_leaves() {
        let mut store = Store::default();
        let rule = RateLimitRule::sliding(2, 100 * MS);
        assert!(store.rate_limit("k", &rule, Duration::ZERO).allowed);
        assert!(store.rate_limit("k", &rule, 50 * MS).allowed);
        let denied = store.rate_limit("k", &rule, 60 * MS);
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, 40 * MS);
        assert!(store.rate_limit("k", &rule, 100 * MS).allowed);
        assert!(!store.rate_limit("k", &rule, 149 * MS).allowed);
    }

    #[test]
    fn fixed_window_resets_at_its_end() {
        let mut store = Store::default();
        let rule = RateLimitRule::fixed(1, 100 * MS);
        assert!(store.rate_limit("k", &rule, 10 * MS).allowed);
        let denied = store.rate_limit("k", &rule, 60 * MS);
        assert_eq!(denied.retry_after, 50 * MS);
        assert!(store.rate_limit("k", &rule, 110 * MS).allowed);
    }

    #[test]
    fn a_full_subscriber_is_told_it_lagged() {
        let mut store = Store::default();
        let mut rx = store.subscribe("c", 1);
        assert_eq!(store.publish("c", b"1"), 1);
        assert_eq!(store.publish("c", b"2"), 1);
        assert_eq!(
            rx.try_recv().unwrap(),
            SubscriptionEvent::Message(Bytes::from_static(b"1"))
        );
        assert_eq!(store.publish("c", b"3"), 1);
        assert_eq!(rx.try_recv().unwrap(), SubscriptionEvent::Lagged(1));
    }
}
