//! [`RecordingCache`]: wraps a cache and records every call, for asserting
//! what a caller did (which keys, which TTL, in what order).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::{Cache, ErrorKind, Operation};
//! use cache_testing::{fakes::MemoryCache, recording::RecordingCache};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = RecordingCache::new(Arc::new(MemoryCache::new()));
//! let _ = cache.get("user:1").await;
//! cache.set("user:1", b"alice", Duration::from_secs(60)).await.unwrap();
//!
//! let calls = cache.calls();
//! assert_eq!(calls[0].op, Operation::Get);
//! assert_eq!(calls[0].outcome, Ok(())); // a miss is not an error
//! assert_eq!(calls[1].keys, ["user:1"]);
//! assert_eq!(calls[1].ttl, Some(Duration::from_secs(60)));
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, CacheLayer, CallInfo, ErrorKind, Next, Operation, Result};
use parking_lot::Mutex;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Call {
    /// The operation.
    pub op: Operation,
    /// The keys it named, in order: the key, the batch's keys, the pattern
    /// of `scan_keys` / `delete_pattern`, or the channel of `publish` /
    /// `subscribe`. Empty for `health` and `close`.
    pub keys: Vec<String>,
    /// The TTL passed, for calls that take one (a rate limit's window).
    pub ttl: Option<Duration>,
    /// `Ok(())`, or the kind of the error it returned.
    pub outcome: std::result::Result<(), ErrorKind>,
}

/// A cache that records every call and passes it to the cache it wraps.
/// See the [module docs](self).
pub struct RecordingCache<C: ?Sized = dyn Cache> {
    inner: Arc<C>,
    calls: Mutex<Vec<Call>>,
}

impl<C: ?Sized + fmt::Debug> fmt::Debug for RecordingCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingCache")
            .field("inner", &self.inner)
            .field("calls", &self.calls.lock().len())
            .finish()
    }
}

impl<C: Cache + ?Sized> RecordingCache<C> {
    /// Wraps `inner` with an empty record.
    pub fn new(inner: Arc<C>) -> Self {
        RecordingCache {
            inner,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped cache (calls on it are not recorded).
    pub fn inner(&self) -> &Arc<C> {
        &self.inner
    }

    /// Every call so far, in the order they finished.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    /// The calls of `op`, in order.
    pub fn calls_of(&self, op: Operation) -> Vec<Call> {
        self.calls
            .lock()
            .iter()
            .filter(|c| c.op == op)
            .cloned()
            .collect()
    }

    /// How many calls of `op` were made.
    pub fn count(&self, op: Operation) -> usize {
        self.calls.lock().iter().filter(|c| c.op == op).count()
    }

    /// Forgets every recorded call.
    pub fn clear(&self) {
        self.calls.lock().clear();
    }
}

/// Every call but `stats` is recorded once it has finished.
impl<C: Cache + ?Sized> CacheLayer for RecordingCache<C> {
    type Inner = C;

    fn inner(&self) -> &C {
        &self.inner
    }

    async fn around<T: Send>(&self, call: CallInfo<'_>, next: impl Next<T>) -> Result<T> {
        let result = next.await;
        self.calls.lock().push(Call {
            op: call.op,
            keys: call.keys.iter().map(str::to_owned).collect(),
            ttl: call.ttl,
            outcome: result.as_ref().map(drop).map_err(|e| e.kind()),
        });
        result
    }
}
