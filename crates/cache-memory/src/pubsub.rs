//! In-process publish/subscribe, per cache (clones share it).
//!
//! Each channel is a `tokio::sync::broadcast` channel: a publish stores the
//! message once, every subscriber reads it at its own pace, and a subscriber
//! that falls more than the channel capacity behind is told how many messages
//! it missed. A small task per subscription forwards broadcast messages into
//! the `mpsc` queue that [`Subscription`] wraps, translating a lag into
//! [`SubscriptionEvent::Lagged`] at the point in the stream where the messages
//! were lost. The task ends when the subscription is dropped, when the cache
//! is closed, or when the cache is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::runtime::Handle;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

use cache_core::cache::{Subscription, SubscriptionEvent};
use cache_core::error::{CacheError, Operation, Result};

/// Events a subscription buffers on its own side of the forwarding task; the
/// broadcast channel holds the real backlog.
const SUBSCRIBER_QUEUE: usize = 32;

/// The channels of one cache.
#[derive(Debug)]
pub(crate) struct PubSub {
    channels: RwLock<HashMap<String, broadcast::Sender<Bytes>>>,
    /// Flips to `true` on close; forwarding tasks watch it.
    closed: watch::Sender<bool>,
    capacity: usize,
}

impl PubSub {
    /// Channels that each hold up to `capacity` unread messages.
    pub(crate) fn new(capacity: usize) -> Self {
        PubSub {
            channels: RwLock::new(HashMap::new()),
            closed: watch::Sender::new(false),
            capacity,
        }
    }

    /// Sends `message` to every subscriber of `channel`; how many there are.
    pub(crate) fn publish(&self, channel: &str, message: Bytes) -> u64 {
        let channels = self.channels.read();
        match channels.get(channel) {
            // An error means no receivers: nobody heard it.
            Some(sender) => sender.send(message).map_or(0, |n| n as u64),
            None => 0,
        }
    }

    /// A subscription to `channel`, fed by a task on the current tokio runtime.
    pub(crate) fn subscribe(self: &Arc<Self>, channel: &str) -> Result<Subscription> {
        let runtime = Handle::try_current().map_err(|_| {
            CacheError::unsupported(
                Operation::Subscribe,
                "subscribing needs a running tokio runtime",
            )
        })?;
        let messages = {
            let mut channels = self.channels.write();
            // Checked under the lock that `close` takes, so a subscription is
            // either refused or ended by the close.
            if *self.closed.borrow() {
                return Err(CacheError::closed(Operation::Subscribe));
            }
            channels
                .entry(channel.to_owned())
                .or_insert_with(|| broadcast::Sender::new(self.capacity))
                .subscribe()
        };
        let (events, receiver) = mpsc::channel(SUBSCRIBER_QUEUE);
        runtime.spawn(forward(
            messages,
            events,
            self.closed.subscribe(),
            Arc::downgrade(self),
            channel.to_owned(),
        ));
        Ok(Subscription::new(channel, receiver))
    }

    /// Ends every subscription and forgets every channel.
    pub(crate) fn close(&self) {
        let mut channels = self.channels.write();
        self.closed.send_replace(true);
        channels.clear();
    }

    /// Drops `channel` if nobody listens any more, so that channels do not
    /// pile up.
    fn forget_if_unused(&self, channel: &str) {
        let mut channels = self.channels.write();
        if channels
            .get(channel)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(channel);
        }
    }
}

/// Moves one subscriber's messages from the broadcast channel to its queue.
async fn forward(
    mut messages: broadcast::Receiver<Bytes>,
    events: mpsc::Sender<SubscriptionEvent>,
    mut closed: watch::Receiver<bool>,
    pubsub: Weak<PubSub>,
    channel: String,
) {
    let pump = async {
        loop {
            let event = match messages.recv().await {
                Ok(message) => SubscriptionEvent::Message(message),
                Err(RecvError::Lagged(missed)) => SubscriptionEvent::Lagged(missed),
                Err(RecvError::Closed) => return,
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        biased;
        // Closed, or the cache was dropped (the sender is gone): either way, stop.
        _ = closed.wait_for(|closed| *closed) => {}
        () = events.closed() => {}
        () = pump => {}
    }
    drop(messages);
    if let Some(pubsub) = pubsub.upgrade() {
        pubsub.forget_if_unused(&channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn channels_without_subscribers_are_forgotten() {
        let pubsub = Arc::new(PubSub::new(4));
        let subscription = pubsub.subscribe("c").unwrap();
        assert_eq!(pubsub.channels.read().len(), 1);
        drop(subscription);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !pubsub.channels.read().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "channel never forgotten"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn subscribing_outside_a_runtime_is_an_error_not_a_panic() {
        let pubsub = Arc::new(PubSub::new(4));
        let err = pubsub.subscribe("c").unwrap_err();
        assert_eq!(err.kind(), cache_core::ErrorKind::Unsupported);
    }
}
