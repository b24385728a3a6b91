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
use std::sync::atomic::{AtomicBool, Ordering};

use cache_core::metrics::{self, Answer, OpMetrics, labels, names};
use cache_core::{ErrorKind, Operation, Result};
use parking_lot::Mutex;
use tracing::Instrument as _;

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
    pub(crate) async fn observe<T: Answer>(
        &self,
        op: Operation,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let timer = self.ops.start();
        let span = self.span(op);
        let result = if span.is_disabled() {
            call.await
        } else {
            let result = call.instrument(span.clone()).await;
            if let Err(e) = &result {
                span.record("error.type", e.kind().as_str());
            }
            result
        };
        self.ops.finish(op, timer, &result);
        self.node_health(&result);
        result
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
