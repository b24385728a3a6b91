//! Invalidation across instances: when one instance drops a key or a
//! pattern, every instance drops it from its process-local state.
//!
//! An [`InvalidationBus`] publishes [`Invalidation`] messages with
//! [`Cache::publish`] (Redis pub/sub; in-process for the in-memory backend)
//! and hands the messages of *other* instances to its registered
//! [`InvalidationListener`]s. [`NearCache`] puts it to work: a small local
//! cache (L1) in front of a shared one (L2), kept coherent by the bus.
//!
//! # Protocol
//! - Channel: `{prefix}cache-invalidation`, so several applications can share
//!   one server without hearing each other (give each its key prefix).
//! - Message: `[version = 1][kind][16-byte instance id][UTF-8 target]`, kind
//!   0 = a key, 1 = a glob pattern, 2 = everything. Binary and tiny: one
//!   PUBLISH per invalidation.
//! - Each bus has a random instance id and ignores its own messages (it
//!   already dropped its state before publishing).
//! - Pub/sub is at-most-once: on [`SubscriptionEvent::Lagged`] or
//!   [`SubscriptionEvent::Reconnected`], messages were lost, so listeners get
//!   [`Invalidation::All`] and drop *all* their local state. When the
//!   subscription ends (the cache was closed), listeners get `All` as well
//!   and [`InvalidationBus::is_listening`] turns `false`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use std::sync::{Arc, Mutex};
//! use cache_patterns::{invalidation::{Invalidation, InvalidationBus, InvalidationListener}};
//! use cache_core::Cache;
//! use cache_memory::MemoryCache;
//!
//! /// Process-local state: e.g. compiled templates by name.
//! #[derive(Default)]
//! struct Templates(Mutex<Vec<Invalidation>>);
//!
//! #[async_trait::async_trait]
//! impl InvalidationListener for Templates {
//!     async fn invalidate(&self, what: &Invalidation) {
//!         self.0.lock().unwrap().push(what.clone()); // drop the entries here
//!     }
//! }
//!
//! let shared: Arc<dyn Cache> = Arc::new(MemoryCache::new()); // Redis in production
//! let a = InvalidationBus::start(shared.clone(), "billing:").await?;
//! let b = InvalidationBus::start(shared.clone(), "billing:").await?;
//! let templates = Arc::new(Templates::default());
//! b.register(templates.clone());
//!
//! a.publish(&Invalidation::Key("template:invoice".into())).await?;
//! while templates.0.lock().unwrap().is_empty() {
//!     tokio::task::yield_now().await;
//! }
//! assert_eq!(templates.0.lock().unwrap()[0], Invalidation::Key("template:invoice".into()));
//! # Ok(()) }
//! ```

mod near;
mod typed;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use parking_lot::RwLock;
use tokio::task::JoinHandle;

pub use near::NearCache;
pub use typed::DEFAULT_TYPED_CAPACITY;

use cache_core::cache::{Cache, Subscription, SubscriptionEvent};
use cache_core::error::Result;
use cache_core::metrics::{self, labels, names};

const VERSION: u8 = 1;
const KIND_KEY: u8 = 0;
const KIND_PATTERN: u8 = 1;
const KIND_ALL: u8 = 2;
const HEADER_LEN: usize = 2 + 16;

/// What to drop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Invalidation {
    /// One key.
    Key(String),
    /// Every key matching a glob pattern (see [`cache_core::pattern`]).
    Pattern(String),
    /// Everything (also sent to listeners when messages may have been lost).
    All,
}

impl Invalidation {
    fn encode(&self, origin: u128) -> Vec<u8> {
        let (kind, target) = match self {
            Invalidation::Key(key) => (KIND_KEY, key.as_str()),
            Invalidation::Pattern(pattern) => (KIND_PATTERN, pattern.as_str()),
            Invalidation::All => (KIND_ALL, ""),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + target.len());
        out.push(VERSION);
        out.push(kind);
        out.extend_from_slice(&origin.to_be_bytes());
        out.extend_from_slice(target.as_bytes());
        out
    }

    /// The message's origin and content; `None` for a message this version
    /// cannot read.
    fn decode(message: &[u8]) -> Option<(u128, Invalidation)> {
        if message.len() < HEADER_LEN || message[0] != VERSION {
            return None;
        }
        let mut origin = [0u8; 16];
        origin.copy_from_slice(&message[2..HEADER_LEN]);
        let target = std::str::from_utf8(&message[HEADER_LEN..]).ok()?.to_owned();
        let what = match message[1] {
            KIND_KEY => Invalidation::Key(target),
            KIND_PATTERN => Invalidation::Pattern(target),
            KIND_ALL => Invalidation::All,
            _ => return None,
        };
        Some((u128::from_be_bytes(origin), what))
    }
}

/// Process-local state that other instances' invalidations must reach.
#[async_trait]
pub trait InvalidationListener: Send + Sync + 'static {
    /// Drops what `what` names. Called on the bus's task, one message at a
    /// time, in order.
    async fn invalidate(&self, what: &Invalidation);
}

/// Bus counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidationStats {
    /// Messages this instance published.
    pub published: u64,
    /// Messages from other instances handed to the listeners.
    pub received: u64,
    /// This instance's own messages, ignored.
    pub own_ignored: u64,
    /// Times every listener dropped everything because messages were lost
    /// (lag, reconnection, end of the subscription).
    pub resets: u64,
    /// Messages that could not be read (another version, garbage), ignored.
    pub unreadable: u64,
}

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    own_ignored: AtomicU64,
    resets: AtomicU64,
    unreadable: AtomicU64,
}

type Listeners = Arc<RwLock<Vec<Arc<dyn InvalidationListener>>>>;

struct Shared {
    listeners: Listeners,
    counters: Counters,
    listening: AtomicBool,
    /// Grows with every invalidation received (readers of shared state use it
    /// to notice that one arrived while they were reading).
    generation: AtomicU64,
}

/// Publishes and receives invalidations on one cache's pub/sub. Dropping the
/// bus stops listening.
pub struct InvalidationBus {
    cache: Arc<dyn Cache>,
    channel: String,
    instance_id: u128,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for InvalidationBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationBus")
            .field("channel", &self.channel)
            .field("instance_id", &format_args!("{:032x}", self.instance_id))
            .field("listeners", &self.shared.listeners.read().len())
            .field("listening", &self.is_listening())
            .finish_non_exhaustive()
    }
}

impl InvalidationBus {
    /// Subscribes to `{prefix}cache-invalidation` on `cache` and starts
    /// listening (on a tokio task). Returns once subscribed, so nothing
    /// published after it returns is missed.
    pub async fn start(cache: Arc<dyn Cache>, prefix: &str) -> Result<Self> {
        let channel = format!("{prefix}cache-invalidation");
        let subscription = cache.subscribe(&channel).await?;
        let shared = Arc::new(Shared {
            listeners: Arc::default(),
            counters: Counters::default(),
            listening: AtomicBool::new(true),
            generation: AtomicU64::new(0),
        });
        let instance_id = rand::random::<u128>();
        let task = tokio::spawn(listen(subscription, instance_id, Arc::clone(&shared)));
        Ok(InvalidationBus {
            cache,
            channel,
            instance_id,
            shared,
            task,
        })
    }

    /// Adds a listener for other instances' invalidations.
    pub fn register(&self, listener: Arc<dyn InvalidationListener>) {
        self.shared.listeners.write().push(listener);
    }

    /// Tells every other instance to drop `what`. Returns how many
    /// subscribers the backend reports (this instance included).
    pub async fn publish(&self, what: &Invalidation) -> Result<u64> {
        let receivers = self
            .cache
            .publish(&self.channel, &what.encode(self.instance_id))
            .await?;
        self.shared
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        metrics::count(names::INVALIDATION_MESSAGES, &[(labels::DIRECTION, "sent")]);
        Ok(receivers)
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// This instance's random id, as 32 hex characters.
    pub fn instance_id(&self) -> String {
        format!("{:032x}", self.instance_id)
    }

    /// Whether the subscription is alive. `false` once the cache was closed:
    /// process-local state can no longer be kept coherent.
    pub fn is_listening(&self) -> bool {
        self.shared.listening.load(Ordering::Acquire)
    }

    /// Grows with every invalidation this instance received or reset.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Counters since the bus started.
    pub fn stats(&self) -> InvalidationStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        InvalidationStats {
            published: load(&c.published),
            received: load(&c.received),
            own_ignored: load(&c.own_ignored),
            resets: load(&c.resets),
            unreadable: load(&c.unreadable),
        }
    }
}

impl Drop for InvalidationBus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(mut subscription: Subscription, me: u128, shared: Arc<Shared>) {
    while let Some(event) = subscription.recv().await {
        match event {
            SubscriptionEvent::Message(message) => match Invalidation::decode(&message) {
                Some((origin, _)) if origin == me => {
                    shared.counters.own_ignored.fetch_add(1, Ordering::Relaxed);
                }
                Some((_, what)) => {
                    shared.counters.received.fetch_add(1, Ordering::Relaxed);
                    metrics::count(
                        names::INVALIDATION_MESSAGES,
                        &[(labels::DIRECTION, "received")],
                    );
                    dispatch(&shared, &what).await;
                }
                None => {
                    shared.counters.unreadable.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        channel = subscription.channel(),
                        "unreadable invalidation message ignored"
                    );
                }
            },
            SubscriptionEvent::Lagged(missed) => {
                tracing::warn!(
                    channel = subscription.channel(),
                    missed,
                    "invalidations lost to lag; dropping all local state"
                );
                metrics::count(names::NEAR_DROPS, &[(labels::CAUSE, "lag")]);
                reset(&shared).await;
            }
            // Reconnected, and any event the contract adds later: messages
            // may have been missed, so local state is not trusted.
            _ => {
                tracing::warn!(
                    channel = subscription.channel(),
                    "reconnected; invalidations may be lost; dropping all local state"
                );
                metrics::count(names::NEAR_DROPS, &[(labels::CAUSE, "reconnect")]);
                reset(&shared).await;
            }
        }
    }
    shared.listening.store(false, Ordering::Release);
    tracing::info!(
        channel = subscription.channel(),
        "invalidation subscription ended; dropping all local state"
    );
    reset(&shared).await;
}

/// Counts one near-cache lookup in `cache.near.requests` and passes `value` on.
fn near_lookup<T>(value: T, outcome: &'static str) -> T {
    metrics::count(names::NEAR_REQUESTS, &[(labels::OUTCOME, outcome)]);
    value
}

async fn reset(shared: &Shared) {
    shared.counters.resets.fetch_add(1, Ordering::Relaxed);
    dispatch(shared, &Invalidation::All).await;
}

async fn dispatch(shared: &Shared, what: &Invalidation) {
    // Bumped before the listeners run: a reader that saw the old generation
    // before filling local state notices, and drops what it filled.
    shared.generation.fetch_add(1, Ordering::AcqRel);
    let listeners: Vec<_> = shared.listeners.read().clone();
    for listener in listeners {
        listener.invalidate(what).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for what in [
            Invalidation::Key("user:1".into()),
            Invalidation::Pattern("user:*".into()),
            Invalidation::All,
        ] {
            let bytes = what.encode(42);
            assert_eq!(Invalidation::decode(&bytes), Some((42, what)));
        }
    }

    #[test]
    fn unreadable_messages_are_refused() {
        assert_eq!(Invalidation::decode(b""), None);
        let mut other_version = Invalidation::All.encode(1);
        other_version[0] = 9;
        assert_eq!(Invalidation::decode(&other_version), None);
        let mut bad_kind = Invalidation::All.encode(1);
        bad_kind[1] = 7;
        assert_eq!(Invalidation::decode(&bad_kind), None);
    }
}
