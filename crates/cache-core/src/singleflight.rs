//! Request coalescing: concurrent calls for one key share one execution.
//!
//! The first caller for a key (the *leader*) runs its work; callers that
//! arrive while it runs (*followers*) wait and receive a clone of its result,
//! success or error. Nothing is cached afterwards: the next call after the
//! leader finished runs again, so a failure is never remembered.
//!
//! Cancellation is safe both ways: a follower that gives up (dropped, timed
//! out) affects nobody, and if the leader is dropped before it finishes, one
//! of the waiting followers becomes the leader and runs *its own* work.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use cache_core::singleflight::Singleflight;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let group = Arc::new(Singleflight::<String, u64>::new());
//! let runs = Arc::new(AtomicUsize::new(0));
//! let mut tasks = Vec::new();
//! for _ in 0..10 {
//!     let (group, runs) = (group.clone(), runs.clone());
//!     tasks.push(tokio::spawn(async move {
//!         group
//!             .run("user:42".to_owned(), || async move {
//!                 runs.fetch_add(1, Ordering::SeqCst);
//!                 tokio::task::yield_now().await;
//!                 Ok(42)
//!             })
//!             .await
//!     }));
//! }
//! for t in tasks {
//!     assert_eq!(t.await.unwrap().unwrap(), 42);
//! }
//! assert_eq!(runs.load(Ordering::SeqCst), 1);
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::Result;

type Slot<V> = Option<Result<V>>;

struct InFlight<V> {
    id: u64,
    rx: watch::Receiver<Slot<V>>,
    followers: usize,
}

/// A group of in-flight calls, keyed by `K`, producing `V`.
pub struct Singleflight<K, V> {
    calls: Mutex<HashMap<K, InFlight<V>>>,
    next_id: AtomicU64,
}

impl<K, V> Default for Singleflight<K, V> {
    fn default() -> Self {
        Singleflight {
            calls: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<K, V> fmt::Debug for Singleflight<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Singleflight")
            .field("in_flight", &self.calls.lock().len())
            .finish()
    }
}

enum Role<V> {
    Leader(watch::Sender<Slot<V>>, u64),
    Follower(watch::Receiver<Slot<V>>),
}

impl<K, V> Singleflight<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    /// An empty group.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys have a call in flight.
    pub fn in_flight(&self) -> usize {
        self.calls.lock().len()
    }

    /// How many callers joined the call in flight for `key` (leader not
    /// counted), `None` when there is none. For metrics and tests.
    pub fn followers(&self, key: &K) -> Option<usize> {
        self.calls.lock().get(key).map(|c| c.followers)
    }

    /// Runs `work` for `key`, or joins the call already running for it.
    ///
    /// Every caller joined to one execution gets a clone of its result. If the
    /// leader is cancelled, a waiting follower runs its own `work` instead.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let mut work = Some(work);
        loop {
            match self.join(&key) {
                Role::Leader(tx, id) => {
                    let guard = LeaderGuard {
                        group: self,
                        key: &key,
                        id,
                        tx: Some(tx),
                    };
                    let work = work
                        .take()
                        .expect("a caller becomes leader at most once: it returns after leading");
                    let result = work().await;
                    guard.finish(result.clone());
                    return result;
                }
                Role::Follower(mut rx) => loop {
                    if let Some(result) = rx.borrow_and_update().clone() {
                        return result;
                    }
                    if rx.changed().await.is_err() {
                        // The leader went away. It may have published just before.
                        if let Some(result) = rx.borrow().clone() {
                            return result;
                        }
                        // Cancelled without a result: try to lead.
                        break;
                    }
                },
            }
        }
    }

    fn join(&self, key: &K) -> Role<V> {
        let mut calls = self.calls.lock();
        if let Some(call) = calls.get_mut(key) {
            call.followers += 1;
            return Role::Follower(call.rx.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        calls.insert(
            key.clone(),
            InFlight {
                id,
                rx,
                followers: 0,
            },
        );
        Role::Leader(tx, id)
    }

    fn remove_if_current(&self, key: &K, id: u64) {
        let mut calls = self.calls.lock();
        if calls.get(key).is_some_and(|c| c.id == id) {
            calls.remove(key);
        }
    }
}

/// Removes the leader's entry however the leader ends, so a cancelled leader
/// never leaves followers waiting forever: dropping the sender wakes them.
struct LeaderGuard<'a, K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    group: &'a Singleflight<K, V>,
    key: &'a K,
    id: u64,
    tx: Option<watch::Sender<Slot<V>>>,
}

impl<K, V> LeaderGuard<'_, K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    fn finish(mut self, result: Result<V>) {
        // Unregister first: a caller arriving after this point starts a fresh
        // call instead of reading a finished one (nothing is cached).
        self.group.remove_if_current(self.key, self.id);
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Some(result));
        }
    }
}

impl<K, V> Drop for LeaderGuard<'_, K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.group.remove_if_current(self.key, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_execution() {
        let group = Arc::new(Singleflight::<&'static str, usize>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let (group, runs, mut release) = (group.clone(), runs.clone(), release_rx.clone());
            tasks.push(tokio::spawn(async move {
                group
                    .run("k", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        let _ = release.wait_for(|go| *go).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        // Hold the leader until the 999 others have joined it.
        while group.followers(&"k") != Some(999) {
            tokio::task::yield_now().await;
        }
        release_tx.send_replace(true);
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(group.in_flight(), 0);
    }

    #[tokio::test]
    async fn followers_get_the_leaders_error_and_it_is_not_cached() {
        let group = Arc::new(Singleflight::<u8, u8>::new());
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let (leader, follower) = leader_and_follower(&group, 99, async move {
            let _ = go_rx.await;
            Err(crate::CacheError::closed(crate::Operation::Get))
        })
        .await;
        go_tx.send(()).unwrap();
        assert!(leader.await.unwrap().unwrap_err().is_closed());
        assert!(follower.await.unwrap().unwrap_err().is_closed());
        // Not cached: the next call runs its own work.
        assert_eq!(group.run(1, || async { Ok(5) }).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_over_to_a_follower() {
        let group = Arc::new(Singleflight::<u8, u8>::new());
        // The follower waits on the leader, which never finishes.
        let (leader, follower) = leader_and_follower(&group, 2, async {
            std::future::pending::<()>().await;
            Ok(1)
        })
        .await;
        leader.abort();
        let taken_over = tokio::time::timeout(Duration::from_secs(10), follower)
            .await
            .expect("the follower must not wait forever on a cancelled leader")
            .unwrap();
        assert_eq!(taken_over.unwrap(), 2);
        assert_eq!(group.in_flight(), 0);
    }

    /// Spawns a leader for key 1 that runs `work`, then a follower whose own
    /// work would give `follower_value`; returns both once the follower is
    /// waiting on the leader.
    async fn leader_and_follower(
        group: &Arc<Singleflight<u8, u8>>,
        follower_value: u8,
        work: impl Future<Output = Result<u8>> + Send + 'static,
    ) -> (
        tokio::task::JoinHandle<Result<u8>>,
        tokio::task::JoinHandle<Result<u8>>,
    ) {
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let leader = {
            let group = group.clone();
            tokio::spawn(async move {
                group
                    .run(1, || async move {
                        let _ = started_tx.send(());
                        work.await
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        let follower = {
            let group = group.clone();
            tokio::spawn(async move { group.run(1, || async move { Ok(follower_value) }).await })
        };
        while group.followers(&1) != Some(1) {
            tokio::task::yield_now().await;
        }
        (leader, follower)
    }

    #[tokio::test]
    async fn different_keys_do_not_share() {
        let group = Singleflight::<u8, u8>::new();
        let (a, b) = tokio::join!(
            group.run(1, || async { Ok(1) }),
            group.run(2, || async { Ok(2) })
        );
        assert_eq!((a.unwrap(), b.unwrap()), (1, 2));
    }
}
