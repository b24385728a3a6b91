//! Opportunistic batching of `get` (`coalesce_gets`).
//!
//! Each lane (the server, or one hash slot of a cluster) carries at most one
//! coalesced command at a time. A `get` that finds its lane idle sends a
//! plain `GET` at once: when nothing is in flight nothing waits. A `get` that
//! finds a command in flight queues; when that command's reply arrives, the
//! queue goes out as one `MGET` (or one `GET` when it holds one key), and the
//! lane stays busy until no queue is left (looked at after the callers just
//! answered had a turn to queue again, see `drain`). Callers of the same key queued
//! together share one slot of the `MGET`; a queue is only ever sent after all
//! of its callers started, so every caller reads a value that was current
//! during its own call.
//!
//! Semantics stay those of `GET`:
//! - `MGET` answers nil for a key of another type where `GET` fails with
//!   `WRONGTYPE`, so every nil of a batch is asked again with its own `GET`
//!   (a miss costs a second round trip; a hit, the common case under load,
//!   costs none);
//! - a failure of the server or the connection reaches each caller of the
//!   batch, naming its key; a refusal of the whole batch (an ACL user
//!   confined to a key prefix, or refused `MGET`) is asked again key by key
//!   with `GET`, so each caller gets what its own `GET` would;
//! - each caller keeps its own deadline (`command_timeout` from its call).
//!
//! The batch runs in a task of its own, so a caller that gives up (its
//! future dropped, its deadline passed) never strands the others queued
//! behind it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::Bytes;
use cache_core::{CacheError, Operation, Result};
use parking_lot::Mutex;
#[cfg(feature = "cluster")]
use redis::cluster_routing::Slot;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cache::RedisCache;
use crate::retry::Idempotency::Idempotent;

/// Where a key's commands go: the one server, or (cluster) its hash slot,
/// since an `MGET` must stay within one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LaneId {
    /// Standalone or sentinel: one keyspace.
    Server,
    /// A cluster slot.
    #[cfg(feature = "cluster")]
    Slot(Slot),
}

/// The answer a queued caller waits for.
type Reply = oneshot::Sender<Result<Option<Bytes>>>;

/// Callers queued behind a command in flight, by key.
type Queue = HashMap<Box<str>, Vec<Reply>>;

/// One lane's state.
#[derive(Default)]
struct Lane {
    /// A command of this lane is in flight.
    busy: bool,
    /// Who waits for the next command.
    queue: Queue,
}

/// The lanes of one [`RedisCache`].
#[derive(Default)]
pub(crate) struct Coalescer {
    /// The server's lane (standalone, sentinel).
    server: Mutex<Lane>,
    /// Busy cluster slots (an idle slot has no entry).
    #[cfg(feature = "cluster")]
    slots: Mutex<HashMap<Slot, Lane>>,
}

impl Coalescer {
    /// Runs `f` on the lane `id` (created on demand in a cluster).
    fn with_lane<T>(&self, id: LaneId, f: impl FnOnce(&mut Lane) -> T) -> T {
        match id {
            LaneId::Server => f(&mut self.server.lock()),
            #[cfg(feature = "cluster")]
            LaneId::Slot(slot) => f(self.slots.lock().entry(slot).or_default()),
        }
    }

    /// The command in flight on `id` is done: the queue, if any, is the next
    /// batch (the lane stays busy); otherwise the lane goes idle.
    fn next_batch(&self, id: LaneId) -> Option<Queue> {
        let take = |lane: &mut Lane| {
            if lane.queue.is_empty() {
                lane.busy = false;
                None
            } else {
                Some(std::mem::take(&mut lane.queue))
            }
        };
        match id {
            LaneId::Server => take(&mut self.server.lock()),
            #[cfg(feature = "cluster")]
            LaneId::Slot(slot) => {
                let mut slots = self.slots.lock();
                let batch = slots.get_mut(&slot).and_then(take);
                if batch.is_none() {
                    slots.remove(&slot);
                }
                batch
            }
        }
    }
}

/// Held by the caller whose `GET` occupies a lane: when it is done (or
/// dropped half-way), the lane's queue goes out.
struct InFlight<'a> {
    cache: &'a RedisCache,
    lane: LaneId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Some(batch) = self.cache.coalescer().next_batch(self.lane) else {
            return;
        };
        let (cache, lane) = (self.cache.clone(), self.lane);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move { cache.drain(lane, batch).await })),
            // No runtime (it is shutting down): the dropped replies tell the
            // queued callers, who fail rather than wait.
            Err(_) => drop(batch),
        }
    }
}

impl RedisCache {
    fn coalescer(&self) -> &Coalescer {
        self.inner
            .coalescer
            .as_ref()
            .expect("coalesced calls only run with a coalescer")
    }

    /// The lane of `key`.
    fn lane_of(&self, key: &str) -> LaneId {
        #[cfg(feature = "cluster")]
        if self.mode() == crate::RedisMode::Cluster {
            return LaneId::Slot(Slot::for_key(key));
        }
        let _ = key;
        LaneId::Server
    }

    /// `get` through the coalescer (`key` is valid).
    pub(crate) async fn coalesced_get(&self, key: &str) -> Result<Option<Bytes>> {
        let started = Instant::now();
        let lane = self.lane_of(key);
        let queued = self.coalescer().with_lane(lane, |state| {
            if !state.busy {
                state.busy = true;
                return None;
            }
            let (reply, answer) = oneshot::channel();
            match state.queue.entry(key.into()) {
                Entry::Occupied(mut waiting) => waiting.get_mut().push(reply),
                Entry::Vacant(slot) => drop(slot.insert(vec![reply])),
            }
            Some(answer)
        });
        let Some(answer) = queued else {
            let _in_flight = InFlight { cache: self, lane };
            return self.get_one(key).await;
        };
        let timeout = self.command_timeout();
        match tokio::time::timeout_at(started + timeout, answer).await {
            Ok(Ok(result)) => result,
            // The batch was dropped unsent: the runtime is going away.
            Ok(Err(_)) => Err(CacheError::closed(Operation::Get).with_key(key)),
            Err(_) => Err(CacheError::timeout(Operation::Get, Some(key), timeout)),
        }
    }

    /// Sends batches on `lane` until no caller waits.
    ///
    /// After each batch it lets the callers it just answered run before it
    /// looks at the queue: most of them call `get` again at once, and with
    /// the lane still busy they queue for the next `MGET` instead of the
    /// first of them finding the lane idle and sending a `GET` of its own
    /// that the rest then queue behind (one round trip per batch instead of
    /// two). Nobody waits for it: the lane is idle only when the queue is
    /// empty after that yield.
    async fn drain(self, lane: LaneId, mut batch: Queue) {
        loop {
            self.send_batch(batch).await;
            tokio::task::yield_now().await;
            match self.coalescer().next_batch(lane) {
                Some(next) => batch = next,
                None => return,
            }
        }
    }

    /// One `MGET` for the keys of `batch` (a `GET` for one key), each answer
    /// to every caller of its key; nils are asked again with `GET` (see the
    /// module docs).
    async fn send_batch(&self, batch: Queue) {
        let op = Operation::Get;
        if batch.len() == 1 {
            for (key, replies) in batch {
                let result = self.get_one(&key).await;
                answer(replies, &result);
            }
            return;
        }
        let mut cmd = redis::cmd("MGET");
        for key in batch.keys() {
            cmd.arg(key.as_bytes());
        }
        let cmd = &cmd;
        let values = self
            .run(op, None, Idempotent, move |mut conn| async move {
                cmd.query_async::<Vec<Option<Bytes>>>(&mut conn).await
            })
            .await
            .and_then(|values| {
                if values.len() == batch.len() {
                    Ok(values)
                } else {
                    Err(CacheError::operation(
                        op,
                        None,
                        std::io::Error::other(format!(
                            "MGET of {} keys returned {} values",
                            batch.len(),
                            values.len()
                        )),
                    ))
                }
            });
        let again: Vec<(Box<str>, Vec<Reply>)> = match values {
            Ok(values) => {
                let mut nils = Vec::new();
                for ((key, replies), value) in batch.into_iter().zip(values) {
                    match value {
                        Some(value) => answer(replies, &Ok(Some(value))),
                        None => nils.push((key, replies)),
                    }
                }
                // A miss, or a key of another type: GET tells which.
                nils
            }
            // The server or the connection failed: each GET would have.
            Err(err) if err.is_transient() => {
                for (key, replies) in batch {
                    answer(replies, &Err(err.clone().with_key(&key)));
                }
                return;
            }
            // A refusal of the batch (an ACL user confined to a prefix, or
            // refused MGET) says nothing of each key: GET tells each.
            Err(_) => batch.into_iter().collect(),
        };
        let again = again.into_iter().map(|(key, replies)| async move {
            let result = self.get_one(&key).await;
            answer(replies, &result);
        });
        futures::future::join_all(again).await;
    }
}

/// Sends `result` to every caller in `replies` (one that gave up is skipped).
fn answer(replies: Vec<Reply>, result: &Result<Option<Bytes>>) {
    for reply in replies {
        let _ = reply.send(result.clone());
    }
}
