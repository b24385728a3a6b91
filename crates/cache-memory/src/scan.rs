//! Key listing: glob matching and stable cursor pagination.
//!
//! Pages list matching keys in sorted order, and a cursor means "continue
//! after this key". That makes pagination stable whatever happens between
//! pages: a key present for the whole iteration sorts either before the
//! cursor (already returned) or after it (returned later), so it comes back
//! exactly once, and inserts or removals of other keys change nothing.
//!
//! The map has no ordered index, so finding the next page means a pass over all
//! entries. To keep an iteration from costing a pass per page, one pass keeps
//! the smallest [`PREFETCH_KEYS`] matching keys (a bounded heap) and parks
//! those beyond the page in a [`ScanSessions`] slot that the next call with
//! the same pattern and cursor picks up. A session is only a shortcut: a
//! missing or expired one means another pass, with the same result.

use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;

use cache_core::cache::ScanCursor;
use cache_core::error::{CacheError, Result};
use cache_core::pattern;

/// The page size used when a caller asks for `count = 0`.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;

/// The most keys one pass keeps for the pages that follow.
pub(crate) const PREFETCH_KEYS: usize = 16_384;

/// The most parked sessions per cache, and how long one stays usable.
const MAX_SESSIONS: usize = 8;
const SESSION_LIFETIME: Duration = Duration::from_secs(60);

/// What the printed form of a cursor starts with.
const CURSOR_TAG: &str = "after:";

/// The cursor that continues after `key`.
pub(crate) fn encode_cursor(key: &str) -> ScanCursor {
    tagged_cursor(CURSOR_TAG, key.as_bytes())
}

/// The key a cursor continues after, `None` at the start.
pub(crate) fn decode_cursor(cursor: &ScanCursor) -> Result<Option<String>> {
    untag_cursor(CURSOR_TAG, cursor)
        .and_then(|after| after.map(String::from_utf8).transpose().ok())
        .ok_or_else(|| {
            CacheError::invalid_key(
                cursor.as_str(),
                "not a scan cursor of the in-memory backend (pass back the `next` of a page)",
            )
        })
}

/// A cursor that continues after `bytes`, printed as `tag` and base64 (the
/// cursors of key scans and of set members).
pub(crate) fn tagged_cursor(tag: &str, bytes: &[u8]) -> ScanCursor {
    ScanCursor::from_string(format!("{tag}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The bytes a [`tagged_cursor`] of `tag` continues after: `Some(None)` at
/// the start, `None` for a cursor that is not one.
pub(crate) fn untag_cursor(tag: &str, cursor: &ScanCursor) -> Option<Option<Vec<u8>>> {
    if cursor.is_start() {
        return Some(None);
    }
    cursor
        .as_str()
        .strip_prefix(tag)
        .and_then(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok())
        .map(Some)
}

/// A glob pattern with shortcuts for the common shapes (`*`, `prefix*`, a
/// literal), which need no per-key allocation.
#[derive(Debug)]
pub(crate) struct Matcher {
    pattern: String,
    shape: Shape,
}

#[derive(Debug)]
enum Shape {
    /// Keys that start with the text (`prefix*`, `*`).
    Prefix(String),
    /// Exactly the text.
    Literal(String),
    /// Anything else: [`pattern::matches`].
    Glob,
}

impl Matcher {
    /// A matcher for `pattern`.
    pub(crate) fn new(pattern: &str) -> Self {
        let body = pattern.trim_end_matches('*');
        let plain = !body.contains(['*', '?', '[', '\\']);
        let shape = match (plain, body.len() < pattern.len()) {
            (true, true) => Shape::Prefix(body.to_owned()),
            (true, false) => Shape::Literal(body.to_owned()),
            (false, _) => Shape::Glob,
        };
        Matcher {
            pattern: pattern.to_owned(),
            shape,
        }
    }

    /// Whether `key` matches.
    pub(crate) fn matches(&self, key: &str) -> bool {
        match &self.shape {
            Shape::Prefix(prefix) => key.starts_with(prefix.as_str()),
            Shape::Literal(text) => key == text,
            Shape::Glob => pattern::matches(&self.pattern, key),
        }
    }
}

/// One pass over the entries: the smallest `limit` matching keys after the cursor.
#[derive(Debug)]
pub(crate) struct Pass<'a> {
    matcher: &'a Matcher,
    after: Option<&'a str>,
    limit: usize,
    /// A max-heap, so the largest kept key is the one to drop.
    smallest: BinaryHeap<Arc<str>>,
    /// Whether a matching key beyond the kept ones exists.
    more: bool,
}

impl<'a> Pass<'a> {
    /// A pass keeping up to `limit` (at least 1) keys after `after`.
    pub(crate) fn new(matcher: &'a Matcher, after: Option<&'a str>, limit: usize) -> Self {
        Pass {
            matcher,
            after,
            limit: limit.max(1),
            // Never preallocate from a caller's number.
            smallest: BinaryHeap::with_capacity(limit.clamp(1, 1024)),
            more: false,
        }
    }

    /// Considers one live key.
    pub(crate) fn offer(&mut self, key: Arc<str>) {
        if self.after.is_some_and(|after| &*key <= after) || !self.matcher.matches(&key) {
            return;
        }
        if self.smallest.len() < self.limit {
            self.smallest.push(key);
            return;
        }
        self.more = true;
        if self.smallest.peek().is_some_and(|largest| key < *largest) {
            self.smallest.pop();
            self.smallest.push(key);
        }
    }

    /// The kept keys in ascending order, and whether more exist beyond them.
    pub(crate) fn finish(self) -> (VecDeque<Arc<str>>, bool) {
        (self.smallest.into_sorted_vec().into(), self.more)
    }
}

/// Keys found by an earlier pass, waiting for the next page of an iteration.
#[derive(Debug)]
pub(crate) struct Session {
    pattern: String,
    /// The cursor that picks this session up.
    after: String,
    /// Sorted, all after `after`, not yet returned. Checked for liveness when
    /// returned, since they were found earlier.
    pub(crate) keys: VecDeque<Arc<str>>,
    /// Whether matching keys exist beyond `keys`.
    pub(crate) more: bool,
    parked_at: Instant,
}

/// A few parked sessions per cache, oldest dropped first.
#[derive(Debug, Default)]
pub(crate) struct ScanSessions {
    parked: Mutex<VecDeque<Session>>,
}

impl ScanSessions {
    /// The session that continues `pattern` after `after`, if one is parked
    /// and has not outlived [`SESSION_LIFETIME`] at `now` (the cache's clock).
    pub(crate) fn take(&self, pattern: &str, after: &str, now: Instant) -> Option<Session> {
        let mut parked = self.parked.lock();
        parked.retain(|s| now.saturating_duration_since(s.parked_at) < SESSION_LIFETIME);
        let at = parked
            .iter()
            .position(|s| s.pattern == pattern && s.after == after)?;
        parked.remove(at)
    }

    /// Parks the rest of an iteration, at `now` on the cache's clock.
    pub(crate) fn park(
        &self,
        pattern: &str,
        after: &str,
        keys: VecDeque<Arc<str>>,
        more: bool,
        now: Instant,
    ) {
        let mut parked = self.parked.lock();
        if parked.len() >= MAX_SESSIONS {
            parked.pop_front();
        }
        parked.push_back(Session {
            pattern: pattern.to_owned(),
            after: after.to_owned(),
            keys,
            more,
            parked_at: now,
        });
    }

    /// Drops every parked session (on close).
    pub(crate) fn clear(&self) {
        self.parked.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_any_key() {
        for key in ["a", "user:42", "\0\n*?[]", "ключ", "after:x"] {
            let cursor = encode_cursor(key);
            let reparsed = ScanCursor::from_string(cursor.to_string());
            assert_eq!(decode_cursor(&reparsed).unwrap().as_deref(), Some(key));
        }
    }

    #[test]
    fn the_start_cursor_continues_from_the_beginning() {
        assert_eq!(decode_cursor(&ScanCursor::start()).unwrap(), None);
        assert_eq!(decode_cursor(&ScanCursor::from_string("0")).unwrap(), None);
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for text in ["17", "after:!!", "after:_w"] {
            let err = decode_cursor(&ScanCursor::from_string(text)).unwrap_err();
            assert_eq!(err.kind(), cache_core::ErrorKind::InvalidKey, "{text}");
        }
    }

    #[test]
    fn matcher_shortcuts_agree_with_the_glob() {
        let keys = ["", "a", "ab", "abc", "b", "a*", "a?c", "a\\b"];
        for p in [
            "*", "a*", "a**", "ab", "a?c", "a[bc]*", "a\\*", "a\\\\b", "",
        ] {
            let m = Matcher::new(p);
            for k in keys {
                assert_eq!(m.matches(k), pattern::matches(p, k), "{p:?} on {k:?}");
            }
        }
    }

    #[test]
    fn a_pass_keeps_the_smallest_keys_after_the_cursor() {
        let matcher = Matcher::new("k*");
        let mut pass = Pass::new(&matcher, Some("k2"), 2);
        for k in ["k5", "k1", "x3", "k3", "k4", "k2"] {
            pass.offer(Arc::from(k));
        }
        let (keys, more) = pass.finish();
        let keys: Vec<&str> = keys.iter().map(|k| &**k).collect();
        assert_eq!(keys, ["k3", "k4"]);
        assert!(more);
    }

    fn park_one(sessions: &ScanSessions, at: Instant) {
        let keys = VecDeque::from([Arc::<str>::from("p2")]);
        sessions.park("p*", "p1", keys, false, at);
    }

    #[test]
    fn sessions_are_found_by_pattern_and_cursor_once() {
        let (sessions, now) = (ScanSessions::default(), Instant::now());
        park_one(&sessions, now);
        assert!(sessions.take("q*", "p1", now).is_none());
        assert!(sessions.take("p*", "p0", now).is_none());
        assert_eq!(sessions.take("p*", "p1", now).unwrap().keys.len(), 1);
        assert!(sessions.take("p*", "p1", now).is_none());
    }

    #[test]
    fn a_session_lasts_its_lifetime_on_the_given_clock() {
        let (sessions, parked_at) = (ScanSessions::default(), Instant::now());
        park_one(&sessions, parked_at);
        let almost = parked_at + SESSION_LIFETIME - Duration::from_millis(1);
        assert!(sessions.take("p*", "p1", almost).is_some());
        park_one(&sessions, parked_at);
        assert!(
            sessions
                .take("p*", "p1", parked_at + SESSION_LIFETIME)
                .is_none()
        );
    }
}
