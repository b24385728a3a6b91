//! Subscriptions over one dedicated pub/sub connection that survives outages.
//!
//! A subscribed Redis connection can do nothing else, so subscriptions get
//! their own connection, owned by one background task (the *driver*) that is
//! started on the first `subscribe`. The driver:
//!
//! - subscribes each channel once, however many [`Subscription`]s share it,
//!   and confirms a `subscribe` call only after the server did;
//! - notices a lost connection (the stream ends, or a periodic `PING` gets no
//!   answer), reconnects with backoff, subscribes every channel again, and
//!   then delivers [`SubscriptionEvent::Reconnected`] to every subscription:
//!   messages published meanwhile are lost, so derived state is stale;
//! - never blocks on a slow subscriber: each has a bounded queue, and what
//!   does not fit is counted and reported as [`SubscriptionEvent::Lagged`];
//! - unsubscribes a channel when its last [`Subscription`] is dropped.
//!
//! [`PubSubHub::close`] stops the driver; every [`Subscription::recv`] then
//! returns `None`. In a cluster, classic `PUBLISH` reaches every node, so one
//! connection to any node hears every channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{CacheError, Result, Subscription, SubscriptionEvent};
use futures::StreamExt as _;
use parking_lot::Mutex;
use redis::aio::{PubSubSink, PubSubStream};
use redis::{RedisError, RedisResult};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::errors::map_error;
use crate::retry::RetryPolicy;
use crate::topology::Topology;

/// Events a subscription can hold before the next one is counted as lagged.
const SUBSCRIBER_QUEUE: usize = 1024;

/// How often an idle pub/sub connection is checked with `PING`.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Timeouts and backoff for the dedicated connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubSubTimings {
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    /// `db.system.name` of the reconnect metric.
    pub(crate) system: &'static str,
}

/// The handle the cache keeps: starts the driver lazily, stops it on close.
pub(crate) struct PubSubHub {
    timings: PubSubTimings,
    driver: Mutex<Option<(mpsc::UnboundedSender<Subscribe>, JoinHandle<()>)>>,
}

/// A request to add one subscriber to `channel`.
struct Subscribe {
    channel: String,
    events: mpsc::Sender<SubscriptionEvent>,
    done: oneshot::Sender<RedisResult<()>>,
}

impl PubSubHub {
    pub(crate) fn new(timings: PubSubTimings) -> Self {
        PubSubHub {
            timings,
            driver: Mutex::new(None),
        }
    }

    /// Subscribes to `channel`; returns once the server confirmed.
    pub(crate) async fn subscribe(
        &self,
        topology: &Arc<Topology>,
        channel: &str,
    ) -> Result<Subscription> {
        let requests = {
            let mut driver = self.driver.lock();
            match driver.as_ref() {
                Some((tx, handle)) if !handle.is_finished() => tx.clone(),
                _ => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let task = Driver {
                        topology: topology.clone(),
                        timings: self.timings,
                        requests: rx,
                        channels: HashMap::new(),
                    };
                    let handle = tokio::spawn(task.run());
                    *driver = Some((tx.clone(), handle));
                    tx
                }
            }
        };
        let (events, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let (done, confirmed) = oneshot::channel();
        let request = Subscribe {
            channel: channel.to_owned(),
            events,
            done,
        };
        let stopped = || CacheError::closed(cache_core::Operation::Subscribe);
        requests.send(request).map_err(|_| stopped())?;
        match confirmed.await {
            Ok(Ok(())) => Ok(Subscription::new(channel, rx)),
            Ok(Err(e)) => Err(map_error(
                cache_core::Operation::Subscribe,
                Some(channel),
                &topology.endpoint(),
                self.timings.command_timeout,
                e,
            )),
            Err(_) => Err(stopped()),
        }
    }

    /// Stops the driver: the connection closes and every subscription ends.
    pub(crate) fn close(&self) {
        if let Some((_, handle)) = self.driver.lock().take() {
            handle.abort();
        }
    }
}

impl Drop for PubSubHub {
    fn drop(&mut self) {
        self.close();
    }
}

/// One subscription's queue and what it still has to be told.
struct Subscriber {
    events: mpsc::Sender<SubscriptionEvent>,
    lagged: u64,
    reconnected: bool,
}

impl Subscriber {
    /// Delivers pending notices, then `event`. Returns `false` once the
    /// subscription is gone.
    fn offer(&mut self, event: Option<SubscriptionEvent>) -> bool {
        if self.reconnected {
            match self.events.try_send(SubscriptionEvent::Reconnected) {
                Ok(()) => self.reconnected = false,
                Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        if self.lagged > 0 && !self.reconnected {
            match self.events.try_send(SubscriptionEvent::Lagged(self.lagged)) {
                Ok(()) => self.lagged = 0,
                Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        let Some(event) = event else {
            return !self.events.is_closed();
        };
        if self.reconnected || self.lagged > 0 {
            // Keep the order: the notices must come before later messages.
            self.lagged += 1;
            return true;
        }
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagged += 1;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// The background task that owns the connection.
struct Driver {
    topology: Arc<Topology>,
    timings: PubSubTimings,
    requests: mpsc::UnboundedReceiver<Subscribe>,
    channels: HashMap<String, Vec<Subscriber>>,
}

/// A live pub/sub connection.
struct Connection {
    sink: PubSubSink,
    stream: PubSubStream,
    /// `host:port` of the node it reached.
    endpoint: String,
}

impl Driver {
    async fn run(mut self) {
        let mut conn: Option<Connection> = None;
        let mut failures: u32 = 0;
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match conn.as_mut() {
                Some(live) => {
                    let lost = tokio::select! {
                        request = self.requests.recv() => match request {
                            None => return,
                            Some(request) => self.add(live, request).await.is_err(),
                        },
                        message = live.stream.next() => match message {
                            Some(message) => {
                                self.deliver(&message);
                                false
                            }
                            None => true,
                        },
                        _ = ping.tick() => self.check(live).await.is_err(),
                    };
                    if lost {
                        tracing::warn!("pub/sub connection lost; reconnecting");
                        conn = None;
                        for subscriber in self.channels.values_mut().flatten() {
                            subscriber.reconnected = true;
                        }
                    }
                }
                None if self.channels.is_empty() => {
                    // Nothing to keep alive: connect when someone subscribes.
                    let Some(request) = self.requests.recv().await else {
                        return;
                    };
                    match self.connect().await {
                        Ok(mut live) => {
                            failures = 0;
                            if self.add(&mut live, request).await.is_ok() {
                                conn = Some(live);
                            }
                        }
                        Err(e) => {
                            let _ = request.done.send(Err(e));
                        }
                    }
                }
                None => match self.connect().await {
                    Ok(live) => {
                        failures = 0;
                        tracing::info!(endpoint = %live.endpoint, "pub/sub connection re-established");
                        // Counted before the subscribers hear of it: whoever
                        // sees `Reconnected` sees the count.
                        crate::metrics::pubsub_reconnect(self.timings.system, &live.endpoint);
                        for subscriber in self.channels.values_mut().flatten() {
                            subscriber.offer(None);
                        }
                        conn = Some(live);
                    }
                    Err(e) => {
                        let wait = self
                            .timings
                            .retry
                            .backoff(failures)
                            .max(Duration::from_millis(10));
                        failures = failures.saturating_add(1);
                        tracing::debug!(error = %e, ?wait, "pub/sub reconnect failed");
                        self.topology.after_error(&e, false).await;
                        tokio::select! {
                            request = self.requests.recv() => match request {
                                None => return,
                                Some(request) => {
                                    let _ = request.done.send(Err(e));
                                }
                            },
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                },
            }
        }
    }

    /// Opens a connection (trying each candidate node in turn) and subscribes
    /// every channel that has subscribers.
    async fn connect(&mut self) -> RedisResult<Connection> {
        let mut last_error = None;
        for (endpoint, client) in self.topology.pubsub_clients().await {
            match self.open(&client, &endpoint).await {
                Ok(conn) => return Ok(conn),
                Err(e) => {
                    tracing::debug!(endpoint, error = %e, "pub/sub connection failed");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            RedisError::from((redis::ErrorKind::Client, "no node to connect to"))
        }))
    }

    async fn open(&mut self, client: &redis::Client, endpoint: &str) -> RedisResult<Connection> {
        let pubsub =
            crate::topology::within(self.timings.connect_timeout, client.get_async_pubsub())
                .await?;
        let (mut sink, stream) = pubsub.split();
        self.channels.retain(|_, subscribers| {
            subscribers.retain(|s| !s.events.is_closed());
            !subscribers.is_empty()
        });
        let channels: Vec<&String> = self.channels.keys().collect();
        if !channels.is_empty() {
            crate::topology::within(self.timings.command_timeout, sink.subscribe(channels)).await?;
        }
        Ok(Connection {
            sink,
            stream,
            endpoint: endpoint.to_owned(),
        })
    }

    /// Adds a subscriber; `Err` means the connection failed (the request has
    /// been answered either way).
    async fn add(&mut self, live: &mut Connection, request: Subscribe) -> RedisResult<()> {
        let subscriber = Subscriber {
            events: request.events,
            lagged: 0,
            reconnected: false,
        };
        if let Some(subscribers) = self.channels.get_mut(&request.channel) {
            subscribers.push(subscriber);
            let _ = request.done.send(Ok(()));
            return Ok(());
        }
        let result = crate::topology::within(
            self.timings.command_timeout,
            live.sink.subscribe(&request.channel),
        )
        .await;
        match result {
            Ok(()) => {
                self.channels.insert(request.channel, vec![subscriber]);
                let _ = request.done.send(Ok(()));
                Ok(())
            }
            Err(e) => {
                let broken = crate::errors::is_connection_error(&e) || e.is_timeout();
                let _ = request.done.send(Err(e.clone()));
                if broken { Err(e) } else { Ok(()) }
            }
        }
    }

    fn deliver(&mut self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let Some(subscribers) = self.channels.get_mut(channel) else {
            return;
        };
        let payload = Bytes::copy_from_slice(message.get_payload_bytes());
        subscribers.retain_mut(|s| s.offer(Some(SubscriptionEvent::Message(payload.clone()))));
    }

    /// The periodic check: flushes pending notices, drops ended subscriptions
    /// (unsubscribing channels nobody listens to any more) and pings.
    async fn check(&mut self, live: &mut Connection) -> RedisResult<()> {
        let mut idle = Vec::new();
        for (channel, subscribers) in &mut self.channels {
            subscribers.retain_mut(|s| s.offer(None));
            if subscribers.is_empty() {
                idle.push(channel.clone());
            }
        }
        for channel in &idle {
            self.channels.remove(channel);
        }
        if !idle.is_empty() {
            crate::topology::within(self.timings.command_timeout, live.sink.unsubscribe(&idle))
                .await?;
        }
        crate::topology::within(
            self.timings.command_timeout,
            live.sink.ping::<redis::Value>(),
        )
        .await
        .map(drop)
    }
}
