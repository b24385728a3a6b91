//! What a [`RedisCache`](crate::RedisCache) emits, kept apart from the call
//! paths (which call it in one line each): the operation metrics of
//! `cache_core::metrics`, the per-node retries, connection errors and
//! reconnects, and one span per call with OpenTelemetry's database-client
//! attributes (`db.system.name`, `db.operation.name`, `server.address`,
//! `server.port`, `db.namespace`, and `error.type` on failure).
//!
//! No key, value or credential is ever a label or an attribute: labels are
//! the engine, the operation, the outcome and the node's address.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use cache_core::metrics::{self, Answer, OpMetrics, OpTimer, labels, names};
use cache_core::{ErrorKind, Operation, Result};
use parking_lot::Mutex;

use crate::server_info::ServerInfo;
use crate::settings::Settings;

/// The metrics and span attributes of one cache.
pub(crate) struct RedisMetrics {
    ops: OpMetrics,
    /// `redis` or `valkey` (`redis` when `INFO` was refused).
    system: &'static str,
    /// The node calls go to, as first connected: `host`, `port`.
    address: &'static str,
    port: &'static str,
    port_number: u16,
    database: i64,
    /// Set by a connection error, cleared (and counted as a reconnect) by
    /// the next call the server answers.
    broken: AtomicBool,
}

impl RedisMetrics {
    /// Metrics bound to the current recorder, for a cache whose calls go to
    /// `endpoint` (`host:port`; in a cluster, the first seed is named).
    pub(crate) fn new(settings: &Settings, server: Option<&ServerInfo>, endpoint: String) -> Self {
        let system = server.map_or("redis", |s| s.engine);
        let endpoint = match (settings.mode, settings.endpoints.first()) {
            (crate::RedisMode::Cluster, Some(seed)) => seed.to_string(),
            _ => endpoint,
        };
        let (address, port) = split(&endpoint);
        RedisMetrics {
            ops: OpMetrics::new(system),
            system,
            address,
            port,
            port_number: port.parse().unwrap_or(0),
            database: settings.database,
            broken: AtomicBool::new(false),
        }
    }

    /// Runs one call of `op` inside its span, timing and counting it.
    ///
    /// A future of its own rather than an `async fn`: an `async fn` that
    /// takes a future by value keeps it twice (the argument and the awaited
    /// copy), and every layer of a call doing so had doubled the size of
    /// the boxed `get` future to 2.7 KB, past the allocator's small-size
    /// cache (docs/BENCHMARKS.md, issue 12).
    pub(crate) fn observe<F, T>(&self, op: Operation, call: F) -> Observed<'_, F>
    where
        F: Future<Output = Result<T>>,
        T: Answer,
    {
        Observed {
            call,
            metrics: self,
            op,
            timer: self.ops.start(),
            span: self.span(op),
        }
    }

    /// The span of one call, at debug level (per-call spans at info would
    /// flood an application's logs and cost every call).
    fn span(&self, op: Operation) -> tracing::Span {
        tracing::debug_span!(
            "cache.redis",
            otel.name = op.as_str(),
            otel.kind = "client",
            db.system.name = self.system,
            db.operation.name = op.as_str(),
            server.address = self.address,
            server.port = self.port_number,
            db.namespace = self.database,
            error.type = tracing::field::Empty,
        )
    }

    /// Counts connection errors and the recovery after them.
    fn node_health<T>(&self, result: &Result<T>) {
        match result {
            Err(e) if matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout) => {
                self.broken.store(true, Ordering::Relaxed);
                metrics::count(names::REDIS_CONNECTION_ERRORS, &self.node());
            }
            // Any answer from the server (an error reply included) shows the
            // connection works again.
            Err(e) if e.is_closed() => {}
            _ => {
                if self.broken.load(Ordering::Relaxed) && self.broken.swap(false, Ordering::Relaxed)
                {
                    metrics::count(names::REDIS_RECONNECTS, &self.node());
                }
            }
        }
    }

    /// `db.system.name`: `redis` or `valkey`.
    pub(crate) fn system(&self) -> &'static str {
        self.system
    }

    /// Counts one retried attempt of `op`.
    pub(crate) fn retry(&self, op: Operation) {
        let [system, address, port] = self.node();
        metrics::count(
            names::REDIS_RETRIES,
            &[
                system,
                address,
                port,
                (labels::DB_OPERATION_NAME, op.as_str()),
            ],
        );
    }

    fn node(&self) -> [(&'static str, &'static str); 3] {
        [
            (labels::DB_SYSTEM_NAME, self.system),
            (labels::SERVER_ADDRESS, self.address),
            (labels::SERVER_PORT, self.port),
        ]
    }
}

/// Counts the pub/sub connection re-established on `endpoint` (`host:port`,
/// the node it reached) of a `system` (`redis` or `valkey`) deployment.
pub(crate) fn pubsub_reconnect(system: &'static str, endpoint: &str) {
    if !metrics::recording() {
        return;
    }
    let (address, port) = split(endpoint);
    metrics::count(
        names::REDIS_PUBSUB_RECONNECTS,
        &[
            (labels::DB_SYSTEM_NAME, system),
            (labels::SERVER_ADDRESS, address),
            (labels::SERVER_PORT, port),
        ],
    );
}

pin_project_lite::pin_project! {
    /// The future of [`RedisMetrics::observe`]: the call, entered in its
    /// span when anybody listens at debug level, then counted and timed.
    pub(crate) struct Observed<'a, F> {
        #[pin]
        call: F,
        metrics: &'a RedisMetrics,
        op: Operation,
        timer: OpTimer,
        span: tracing::Span,
    }
}

impl<F, T> Future for Observed<'_, F>
where
    F: Future<Output = Result<T>>,
    T: Answer,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.project();
        // A disabled span is not entered at all (the hot path).
        let entered = (!this.span.is_disabled()).then(|| this.span.enter());
        let result = std::task::ready!(this.call.poll(cx));
        drop(entered);
        if let Err(e) = &result {
            this.span.record("error.type", e.kind().as_str());
        }
        this.metrics.ops.finish(*this.op, *this.timer, &result);
        this.metrics.node_health(&result);
        Poll::Ready(result)
    }
}

/// `host:port` (or `[v6]:port`) as two interned strings; anything else is
/// all host, no port.
fn split(endpoint: &str) -> (&'static str, &'static str) {
    match endpoint.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => (
            intern(host.trim_start_matches('[').trim_end_matches(']')),
            intern(port),
        ),
        _ => (intern(endpoint), ""),
    }
}

/// A `'static` copy of a node's address for labels: each distinct address
/// is kept once for the life of the process (there are as many as nodes).
fn intern(text: &str) -> &'static str {
    static SEEN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut seen = SEEN.lock();
    let seen = seen.get_or_insert_with(HashSet::new);
    if let Some(known) = seen.get(text) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    seen.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn endpoints_split_into_address_and_port() {
        assert_eq!(split("127.0.0.1:6380"), ("127.0.0.1", "6380"));
        assert_eq!(split("[::1]:7000"), ("::1", "7000"));
        assert_eq!(split("cluster of 3 seeds"), ("cluster of 3 seeds", ""));
    }
}
