//! Waiters of one process: a FIFO queue per lock key whose head alone polls
//! the backend, and a wake-up for releases made in this process.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

/// Waiters of this process, per lock key: a FIFO queue whose head polls
/// the backend, and a signal for releases made here.
#[derive(Debug, Default)]
pub(super) struct LocalWaiters {
    pub(super) keys: parking_lot::Mutex<HashMap<String, Arc<LocalKey>>>,
}

#[derive(Debug, Default)]
pub(super) struct LocalKey {
    pub(super) queue: tokio::sync::Mutex<()>,
    pub(super) released: Notify,
}

impl LocalWaiters {
    pub(super) fn enter(this: &Arc<Self>, key: &str) -> LocalWait {
        let entry = Arc::clone(this.keys.lock().entry(key.to_owned()).or_default());
        LocalWait {
            waiters: Arc::clone(this),
            key: key.to_owned(),
            entry,
        }
    }

    pub(super) fn wake_poller(&self, key: &str) {
        if let Some(entry) = self.keys.lock().get(key) {
            entry.released.notify_one();
        }
    }
}

/// A waiter's registration; the key's entry goes with its last waiter.
pub(super) struct LocalWait {
    pub(super) waiters: Arc<LocalWaiters>,
    pub(super) key: String,
    pub(super) entry: Arc<LocalKey>,
}

impl std::ops::Deref for LocalWait {
    type Target = LocalKey;

    fn deref(&self) -> &LocalKey {
        &self.entry
    }
}

impl Drop for LocalWait {
    fn drop(&mut self) {
        let mut keys = self.waiters.keys.lock();
        // Two references left: the map's and this waiter's.
        if Arc::strong_count(&self.entry) <= 2 {
            keys.remove(&self.key);
        }
    }
}
