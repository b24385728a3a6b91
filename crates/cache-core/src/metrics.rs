//! Metrics through the [`metrics`](https://docs.rs/metrics) facade, with
//! OpenTelemetry's database-client names: every metric name and label of the
//! framework ([`names`], [`labels`], the catalogue [`METRICS`]), the per-call
//! recorder the backends use ([`OpMetrics`]) and cheap helpers for the
//! patterns ([`count`], [`count_n`], [`gauge_set`], [`gauge_add`], [`observe_seconds`]).
//!
//! Libraries emit, applications record: nothing here installs a recorder or
//! an exporter. Without the `metrics` feature every function is an empty
//! inline body, so call sites need no `cfg`. With it and no recorder
//! installed, a call costs a thread-local read and a branch: whether a
//! recorder is present is asked before anything else (the no-op recorder is
//! the only zero-sized one), and the clock is read only when one is. The
//! measured costs and the choice of default are in ADR 0010.
//!
//! Labels are `&'static str` by construction, so no key, value or secret can
//! become one; tenant ids, the one dynamic label, go through the opt-in,
//! capped [`TenantLabels`].
//!
//! ```
//! use cache_core::metrics::{self, names};
//!
//! // What an application does once at start-up, after installing its recorder:
//! metrics::describe();
//! // What a pattern does: a bounded set of static labels, never a key.
//! metrics::count(names::RATE_LIMIT_DECISIONS, &[("outcome", "denied")]);
//! assert!(metrics::METRICS.iter().any(|m| m.name == names::OPERATIONS));
//! ```

use std::sync::Arc;

use crate::error::{ErrorKind, Operation, Result};

/// Every metric name the framework emits (the HTTP layer's included).
pub mod names {
    /// Histogram, seconds: one sample per backend call.
    pub const OPERATION_DURATION: &str = "db.client.operation.duration";
    /// Counter: backend calls by system, operation and outcome.
    pub const OPERATIONS: &str = "cache.operations";
    /// Counter: Redis attempts retried, per node.
    pub const REDIS_RETRIES: &str = "cache.redis.retries";
    /// Counter: Redis calls that failed on the connection (refused, broken, timed out), per node.
    pub const REDIS_CONNECTION_ERRORS: &str = "cache.redis.connection_errors";
    /// Counter: recoveries, the first success on a node after connection errors.
    pub const REDIS_RECONNECTS: &str = "cache.redis.reconnects";
    /// Counter: the dedicated pub/sub connection re-established after it was lost, per node.
    pub const REDIS_PUBSUB_RECONNECTS: &str = "cache.redis.pubsub.reconnects";
    /// Counter: cache-aside and read-through calls by strategy and outcome.
    pub const ASIDE_REQUESTS: &str = "cache.aside.requests";
    /// Counter: write-through, write-around and write-behind writes by outcome.
    pub const WRITE_REQUESTS: &str = "cache.write.requests";
    /// Counter: lock acquisitions by outcome.
    pub const LOCK_ACQUISITIONS: &str = "cache.lock.acquisitions";
    /// Counter: tries to take a lock that another holder had.
    pub const LOCK_CONTENTION: &str = "cache.lock.contention";
    /// Histogram, seconds: time from the first try to the outcome of an acquisition.
    pub const LOCK_WAIT_DURATION: &str = "cache.lock.wait.duration";
    /// Counter: locks found lost (expired or taken) on extend or release.
    pub const LOCK_LOST: &str = "cache.lock.lost";
    /// Counter: lock TTL extensions (the watchdog's and explicit ones) by outcome.
    pub const LOCK_EXTENSIONS: &str = "cache.lock.extensions";
    /// Counter: rate-limit decisions by outcome.
    pub const RATE_LIMIT_DECISIONS: &str = "cache.rate_limit.decisions";
    /// Counter: idempotent executions by outcome.
    pub const IDEMPOTENCY_REQUESTS: &str = "cache.idempotency.requests";
    /// Gauge: writes queued in write-behind buffers.
    pub const WRITE_BEHIND_QUEUE_DEPTH: &str = "cache.write_behind.queue_depth";
    /// Counter: writes the write-behind flusher stored.
    pub const WRITE_BEHIND_FLUSHED: &str = "cache.write_behind.flushed";
    /// Counter: write-behind batches retried.
    pub const WRITE_BEHIND_RETRIES: &str = "cache.write_behind.retries";
    /// Counter: write-behind writes given up or refused; must stay zero.
    pub const WRITE_BEHIND_DROPPED: &str = "cache.write_behind.dropped";
    /// Counter: invalidation messages by direction.
    pub const INVALIDATION_MESSAGES: &str = "cache.invalidation.messages";
    /// Counter: near-cache (L1) lookups by outcome.
    pub const NEAR_REQUESTS: &str = "cache.near.requests";
    /// Counter: whole-L1 drops by cause.
    pub const NEAR_DROPS: &str = "cache.near.drops";
    /// Gauge: tenants with a live cache in the tenant manager.
    pub const TENANTS_LIVE: &str = "cache.tenants.live";
    /// Counter: tenant caches created.
    pub const TENANTS_CREATED: &str = "cache.tenants.created";
    /// Counter: tenant caches evicted, by cause.
    pub const TENANTS_EVICTED: &str = "cache.tenants.evicted";
    /// Counter (crate cache-http): rate-limit layer decisions.
    pub const HTTP_RATE_LIMIT: &str = "cache.http.rate_limit";
    /// Counter (crate cache-http): idempotency layer outcomes.
    pub const HTTP_IDEMPOTENCY: &str = "cache.http.idempotency";
    /// Counter (crate cache-http): lock layer outcomes.
    pub const HTTP_LOCK: &str = "cache.http.lock";
    /// Counter (crate cache-http): response-cache outcomes.
    pub const HTTP_RESPONSE_CACHE: &str = "cache.http.response_cache";
}

/// Label (attribute) names, OpenTelemetry's where one exists.
pub mod labels {
    /// `memory`, `redis` or `valkey`.
    pub const DB_SYSTEM_NAME: &str = "db.system.name";
    /// The operation, [`Operation::as_str`](crate::Operation::as_str).
    pub const DB_OPERATION_NAME: &str = "db.operation.name";
    /// `hit`, `miss`, `ok`, an error kind, or the pattern's own outcomes.
    pub const OUTCOME: &str = "outcome";
    /// The error kind in snake case, on failures only.
    pub const ERROR_TYPE: &str = "error.type";
    /// The node's host (Redis).
    pub const SERVER_ADDRESS: &str = "server.address";
    /// The node's port (Redis).
    pub const SERVER_PORT: &str = "server.port";
    /// The Redis database index (span attribute only).
    pub const DB_NAMESPACE: &str = "db.namespace";
    /// `cache_aside`, `read_through`, `write_through`, `write_behind`, `write_around`.
    pub const STRATEGY: &str = "strategy";
    /// `sent` or `received` (invalidation messages).
    pub const DIRECTION: &str = "direction";
    /// Why something was dropped or evicted (`lru`, `idle`, `reconnect`, `lag`).
    pub const CAUSE: &str = "cause";
    /// A tenant id, only when opted in through [`TenantLabels`](super::TenantLabels).
    pub const TENANT: &str = "tenant";
}

/// What kind of instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution of samples.
    Histogram,
}

/// One entry of the catalogue: what docs/metrics.md and the dashboard test check against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The metric's name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The UCUM unit: `s`, or `{call}`-style annotations for counts.
    pub unit: &'static str,
    /// The label names it may carry.
    pub labels: &'static [&'static str],
    /// What it means.
    pub help: &'static str,
    /// The crate that emits it.
    pub emitted_by: &'static str,
}

const OP_LABELS: &[&str] = &[
    labels::DB_SYSTEM_NAME,
    labels::DB_OPERATION_NAME,
    labels::OUTCOME,
    labels::ERROR_TYPE,
];
const NODE_LABELS: &[&str] = &[
    labels::DB_SYSTEM_NAME,
    labels::SERVER_ADDRESS,
    labels::SERVER_PORT,
];
const OUTCOME_ONLY: &[&str] = &[labels::OUTCOME];

const fn def(
    name: &'static str,
    kind: MetricKind,
    unit: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    emitted_by: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind,
        unit,
        labels,
        help,
        emitted_by,
    }
}

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric the framework emits, with its unit, labels and meaning.
pub const METRICS: &[MetricDef] = &[
    def(
        names::OPERATION_DURATION,
        Histogram,
        "s",
        OP_LABELS,
        "Duration of one backend call, validation and retries included (in-memory: one call in 16 per thread is timed).",
        "cache-memory, cache-redis",
    ),
    def(
        names::OPERATIONS,
        Counter,
        "{call}",
        OP_LABELS,
        "Backend calls; outcome hit/miss for get, ok otherwise, or the error kind.",
        "cache-memory, cache-redis",
    ),
    def(
        names::REDIS_RETRIES,
        Counter,
        "{attempt}",
        &[
            labels::DB_SYSTEM_NAME,
            labels::SERVER_ADDRESS,
            labels::SERVER_PORT,
            labels::DB_OPERATION_NAME,
        ],
        "Attempts retried after a transient failure.",
        "cache-redis",
    ),
    def(
        names::REDIS_CONNECTION_ERRORS,
        Counter,
        "{call}",
        NODE_LABELS,
        "Calls that failed with a connection or timeout error.",
        "cache-redis",
    ),
    def(
        names::REDIS_RECONNECTS,
        Counter,
        "{reconnect}",
        NODE_LABELS,
        "First successful call on a node after connection errors.",
        "cache-redis",
    ),
    def(
        names::REDIS_PUBSUB_RECONNECTS,
        Counter,
        "{reconnect}",
        NODE_LABELS,
        "The pub/sub connection re-established (every channel subscribed again) after it was lost; the node is the one it reached.",
        "cache-redis",
    ),
    def(
        names::ASIDE_REQUESTS,
        Counter,
        "{call}",
        &[labels::STRATEGY, labels::OUTCOME],
        "Cache-aside/read-through outcomes: hit, miss, stale, loaded, load_error, coalesced, negative, fail_open, cache_error, tag_invalidated.",
        "cache-patterns",
    ),
    def(
        names::WRITE_REQUESTS,
        Counter,
        "{write}",
        &[labels::STRATEGY, labels::OUTCOME],
        "Writes of write_through, write_around and write_behind: ok (for write-behind: queued) or error.",
        "cache-patterns",
    ),
    def(
        names::LOCK_ACQUISITIONS,
        Counter,
        "{acquisition}",
        OUTCOME_ONLY,
        "Lock acquisitions: acquired (try_acquire or acquire), timeout (acquire's wait ran out).",
        "cache-patterns",
    ),
    def(
        names::LOCK_CONTENTION,
        Counter,
        "{try}",
        &[],
        "Tries to take a lock that was held by another owner.",
        "cache-patterns",
    ),
    def(
        names::LOCK_WAIT_DURATION,
        Histogram,
        "s",
        OUTCOME_ONLY,
        "Time from the first try to the outcome of an acquisition.",
        "cache-patterns",
    ),
    def(
        names::LOCK_LOST,
        Counter,
        "{lock}",
        &[],
        "Locks found no longer held on extend or release.",
        "cache-patterns",
    ),
    def(
        names::LOCK_EXTENSIONS,
        Counter,
        "{extension}",
        OUTCOME_ONLY,
        "Lock TTL extensions: ok or lost.",
        "cache-patterns",
    ),
    def(
        names::RATE_LIMIT_DECISIONS,
        Counter,
        "{decision}",
        OUTCOME_ONLY,
        "Rate-limit decisions: allowed, denied, fail_open.",
        "cache-patterns",
    ),
    def(
        names::IDEMPOTENCY_REQUESTS,
        Counter,
        "{call}",
        OUTCOME_ONLY,
        "Idempotent executions: first, replay, conflict.",
        "cache-patterns",
    ),
    def(
        names::WRITE_BEHIND_QUEUE_DEPTH,
        Gauge,
        "{write}",
        &[],
        "Writes waiting in write-behind queues.",
        "cache-patterns",
    ),
    def(
        names::WRITE_BEHIND_FLUSHED,
        Counter,
        "{write}",
        &[],
        "Writes the write-behind flusher stored.",
        "cache-patterns",
    ),
    def(
        names::WRITE_BEHIND_RETRIES,
        Counter,
        "{batch}",
        &[],
        "Write-behind batches retried after a store failure.",
        "cache-patterns",
    ),
    def(
        names::WRITE_BEHIND_DROPPED,
        Counter,
        "{write}",
        &[labels::CAUSE],
        "Write-behind writes refused because the queue was full (cause full, with WhenFull::Reject). Must stay zero.",
        "cache-patterns",
    ),
    def(
        names::INVALIDATION_MESSAGES,
        Counter,
        "{message}",
        &[labels::DIRECTION],
        "Invalidation messages sent and received.",
        "cache-patterns",
    ),
    def(
        names::NEAR_REQUESTS,
        Counter,
        "{call}",
        OUTCOME_ONLY,
        "Near-cache lookups: hit (answered by L1) or miss.",
        "cache-patterns",
    ),
    def(
        names::NEAR_DROPS,
        Counter,
        "{drop}",
        &[labels::CAUSE],
        "Whole-L1 drops: reconnect or lag.",
        "cache-patterns",
    ),
    def(
        names::TENANTS_LIVE,
        Gauge,
        "{tenant}",
        &[],
        "Tenants with a live cache.",
        "cache-manager",
    ),
    def(
        names::TENANTS_CREATED,
        Counter,
        "{tenant}",
        &[labels::TENANT],
        "Tenant caches created.",
        "cache-manager",
    ),
    def(
        names::TENANTS_EVICTED,
        Counter,
        "{tenant}",
        &[labels::CAUSE, labels::TENANT],
        "Tenant caches evicted: lru or idle.",
        "cache-manager",
    ),
    def(
        names::HTTP_RATE_LIMIT,
        Counter,
        "{request}",
        OUTCOME_ONLY,
        "HTTP rate-limit layer: allowed, denied (429), fail_open, fail_closed.",
        "cache-http",
    ),
    def(
        names::HTTP_IDEMPOTENCY,
        Counter,
        "{request}",
        OUTCOME_ONLY,
        "HTTP idempotency layer: first, replay, in_flight (409), mismatch (422), missing_key.",
        "cache-http",
    ),
    def(
        names::HTTP_LOCK,
        Counter,
        "{request}",
        OUTCOME_ONLY,
        "HTTP lock layer: acquired, conflict, timeout.",
        "cache-http",
    ),
    def(
        names::HTTP_RESPONSE_CACHE,
        Counter,
        "{request}",
        OUTCOME_ONLY,
        "HTTP response cache: hit, miss, stale, bypass.",
        "cache-http",
    ),
];

/// The outcome of one backend call, the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A lookup found a value.
    Hit,
    /// A lookup found nothing.
    Miss,
    /// Any other success.
    Ok,
    /// A failure of this kind.
    Error(ErrorKind),
}

impl Outcome {
    /// The label value: `hit`, `miss`, `ok` or the error kind in snake case.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Ok => "ok",
            Outcome::Error(kind) => kind.as_str(),
        }
    }

    /// The outcome of a call's result.
    pub fn of<T: Answer>(result: &Result<T>) -> Outcome {
        match result {
            Ok(value) => value.outcome(),
            Err(e) => Outcome::Error(e.kind()),
        }
    }
}

/// What a successful answer counts as: a lookup's `Option` is a hit or a
/// miss, everything else `ok`.
pub trait Answer {
    /// The outcome of this answer.
    fn outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

impl<T> Answer for Option<T> {
    fn outcome(&self) -> Outcome {
        if self.is_some() {
            Outcome::Hit
        } else {
            Outcome::Miss
        }
    }
}

macro_rules! ok_answers {
    ($($t:ty),* $(,)?) => { $(impl Answer for $t {})* };
}
ok_answers!(
    (),
    bool,
    u64,
    i64,
    (bytes::Bytes, bool),
    Vec<Option<bytes::Bytes>>,
    crate::KeyPage,
    crate::KeyTtl,
    crate::RateDecision,
    crate::Subscription,
    crate::MemberPage,
    Vec<(String, bytes::Bytes)>,
    Vec<bool>,
    Vec<crate::KeyTtl>,
);

/// The start of a call: the instant when it is timed, and whether it is
/// counted at all (not when nothing records).
#[derive(Debug, Clone, Copy)]
#[must_use = "pass the timer to OpMetrics::finish"]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub struct OpTimer(Option<std::time::Instant>, bool);

/// Whether this thread's next call is one to time, one in `every`.
#[inline]
fn sample_tick(every: u32) -> bool {
    thread_local! {
        static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    CALLS.with(|calls| {
        let n = calls.get();
        calls.set(n.wrapping_add(1));
        n % every == 0
    })
}

/// The operation metrics of one backend ([`names::OPERATIONS`] and
/// [`names::OPERATION_DURATION`]), bound to the recorder current when it
/// was built, like any `metrics` handle: install the recorder before building
/// caches (tests: build the cache inside `metrics::with_local_recorder`).
///
/// Built with no recorder (or without the feature), it is empty and its
/// calls cost a branch. Otherwise it holds the handles of the successful
/// outcomes (`get` hit and miss, `ok` for the others), registered once, so a
/// call costs two clock reads and two handle updates; errors register their
/// series when they happen.
#[derive(Clone, Default)]
pub struct OpMetrics {
    #[cfg(feature = "metrics")]
    inner: Option<Arc<imp::OpHandles>>,
    #[cfg(not(feature = "metrics"))]
    inner: Option<Arc<()>>,
    /// Time one call in this many (per thread); 0 and 1 time every call.
    sample_every: u32,
}

impl std::fmt::Debug for OpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpMetrics")
            .field("recording", &self.inner.is_some())
            .finish()
    }
}

impl OpMetrics {
    /// Metrics for a backend whose `db.system.name` is `system` (`memory`,
    /// `redis`, `valkey`), bound to the current recorder.
    pub fn new(system: &'static str) -> OpMetrics {
        #[cfg(feature = "metrics")]
        {
            OpMetrics {
                inner: recording().then(|| Arc::new(imp::OpHandles::register(system))),
                sample_every: 1,
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = system;
            OpMetrics {
                inner: None,
                sample_every: 1,
            }
        }
    }

    /// Times one call in `every` per thread for the duration histogram (the
    /// first of each thread included); every call is still counted. For
    /// backends whose calls are so short that a histogram sample is a visible
    /// share of them (the in-memory one: ADR 0010).
    pub fn sampled(mut self, every: u32) -> OpMetrics {
        self.sample_every = every.max(1);
        self
    }

    /// Whether anything is recorded.
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts timing a call (reads the clock only when recording).
    #[inline]
    pub fn start(&self) -> OpTimer {
        if self.inner.is_none() {
            return OpTimer(None, false);
        }
        let timed = self.sample_every <= 1 || sample_tick(self.sample_every);
        OpTimer(timed.then(std::time::Instant::now), true)
    }

    /// Counts the call of `op` begun at `timer` and records its duration.
    #[inline]
    pub fn finish<T: Answer>(&self, op: Operation, timer: OpTimer, result: &Result<T>) {
        #[cfg(feature = "metrics")]
        if let (Some(handles), true) = (&self.inner, timer.1) {
            let seconds = timer.0.map(|start| start.elapsed().as_secs_f64());
            handles.record(op, Outcome::of(result), seconds);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (op, timer, result);
    }
}

/// Whether a recorder (local to this thread, or global) is installed.
#[inline]
pub fn recording() -> bool {
    #[cfg(feature = "metrics")]
    {
        // The no-op recorder the facade falls back on is the only zero-sized
        // one: every real recorder holds its storage.
        ::metrics::with_recorder(|r| std::mem::size_of_val(r) != 0)
    }
    #[cfg(not(feature = "metrics"))]
    false
}

/// Adds one to the counter `name` with static `labels`.
#[inline]
pub fn count(name: &'static str, labels: &[(&'static str, &'static str)]) {
    emit(name, labels, Sample::Count(1));
}

/// Adds `n` to the counter `name` with static `labels`.
#[inline]
pub fn count_n(name: &'static str, labels: &[(&'static str, &'static str)], n: u64) {
    emit(name, labels, Sample::Count(n));
}

/// Sets the gauge `name`.
#[inline]
pub fn gauge_set(name: &'static str, labels: &[(&'static str, &'static str)], value: f64) {
    emit(name, labels, Sample::Gauge(value));
}

/// Adds `delta` (negative to subtract) to the gauge `name`: for a gauge that
/// several instances feed (each adds its own changes).
#[inline]
pub fn gauge_add(name: &'static str, labels: &[(&'static str, &'static str)], delta: f64) {
    emit(name, labels, Sample::GaugeAdd(delta));
}

/// Records `seconds` in the histogram `name`.
#[inline]
pub fn observe_seconds(name: &'static str, labels: &[(&'static str, &'static str)], seconds: f64) {
    emit(name, labels, Sample::Seconds(seconds));
}

/// One update of one instrument.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
enum Sample {
    Count(u64),
    Gauge(f64),
    GaugeAdd(f64),
    Seconds(f64),
}

#[inline]
fn emit(name: &'static str, labels: &[(&'static str, &'static str)], sample: Sample) {
    #[cfg(feature = "metrics")]
    if recording() {
        let key = imp::key(name, labels);
        let meta = &imp::METADATA;
        ::metrics::with_recorder(|r| match sample {
            Sample::Count(n) => r.register_counter(&key, meta).increment(n),
            Sample::Gauge(v) => r.register_gauge(&key, meta).set(v),
            Sample::GaugeAdd(v) => r.register_gauge(&key, meta).increment(v),
            Sample::Seconds(v) => r.register_histogram(&key, meta).record(v),
        });
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, labels, sample);
}

/// Registers the unit and description of every metric in [`METRICS`] with the
/// current recorder. Applications call it once after installing theirs
/// (exporters show the descriptions as `# HELP`).
pub fn describe() {
    #[cfg(feature = "metrics")]
    imp::describe();
}

/// Opt-in tenant labels with a cap: the first `cap` distinct tenant ids seen
/// become label values, every later one is `other`, so a million tenants
/// cannot make a million series. Off (`cap` 0) gives no tenant label at all.
#[derive(Debug, Default)]
pub struct TenantLabels {
    cap: usize,
    seen: parking_lot::Mutex<std::collections::HashMap<String, &'static str>>,
}

impl TenantLabels {
    /// The label value for tenants past the cap.
    pub const OTHER: &'static str = "other";

    /// Tenant labels for at most `cap` tenants (0: none).
    pub fn new(cap: usize) -> TenantLabels {
        TenantLabels {
            cap,
            seen: Default::default(),
        }
    }

    /// The label value for `tenant`: itself while under the cap, then
    /// [`TenantLabels::OTHER`]; `None` when tenant labels are off.
    ///
    /// Each admitted id is kept for the life of the process (a label value
    /// must be `'static`); the cap bounds that memory.
    pub fn label(&self, tenant: &str) -> Option<&'static str> {
        if self.cap == 0 {
            return None;
        }
        let mut seen = self.seen.lock();
        if let Some(label) = seen.get(tenant) {
            return Some(label);
        }
        if seen.len() >= self.cap {
            return Some(Self::OTHER);
        }
        let label: &'static str = Box::leak(tenant.to_owned().into_boxed_str());
        seen.insert(tenant.to_owned(), label);
        Some(label)
    }
}

#[cfg(feature = "metrics")]
mod imp {
    use ::metrics::{Counter, Histogram, Key, Label, Level, Metadata, Unit};

    use super::{METRICS, MetricKind, Outcome, labels};
    use crate::error::Operation;

    pub(super) static METADATA: Metadata<'static> =
        Metadata::new("cache", Level::INFO, Some(module_path!()));

    pub(super) fn key(name: &'static str, pairs: &[(&'static str, &'static str)]) -> Key {
        let labels: Vec<Label> = pairs
            .iter()
            .map(|&(k, v)| Label::from_static_parts(k, v))
            .collect();
        Key::from_parts(name, labels)
    }

    /// The successful outcomes' handles of one operation.
    struct Slot {
        counters: [Counter; 2],
        durations: [Histogram; 2],
    }

    pub(super) struct OpHandles {
        system: &'static str,
        slots: Box<[Slot]>,
    }

    fn lookup(op: Operation) -> bool {
        matches!(op, Operation::Get)
    }

    fn handles(system: &'static str, op: Operation, outcome: Outcome) -> (Counter, Histogram) {
        let mut pairs = vec![
            (labels::DB_SYSTEM_NAME, system),
            (labels::DB_OPERATION_NAME, op.as_str()),
            (labels::OUTCOME, outcome.as_str()),
        ];
        if let Outcome::Error(kind) = outcome
            && kind != crate::ErrorKind::CasFailed
        {
            pairs.push((labels::ERROR_TYPE, kind.as_str()));
        }
        let counter_key = key(super::names::OPERATIONS, &pairs);
        let duration_key = key(super::names::OPERATION_DURATION, &pairs);
        ::metrics::with_recorder(|r| {
            (
                r.register_counter(&counter_key, &METADATA),
                r.register_histogram(&duration_key, &METADATA),
            )
        })
    }

    impl OpHandles {
        pub(super) fn register(system: &'static str) -> OpHandles {
            let slots = Operation::ALL
                .iter()
                .map(|&op| {
                    let outcomes = if lookup(op) {
                        [Outcome::Hit, Outcome::Miss]
                    } else {
                        [Outcome::Ok, Outcome::Ok]
                    };
                    let (c0, h0) = handles(system, op, outcomes[0]);
                    let (c1, h1) = if lookup(op) {
                        handles(system, op, outcomes[1])
                    } else {
                        (c0.clone(), h0.clone())
                    };
                    Slot {
                        counters: [c0, c1],
                        durations: [h0, h1],
                    }
                })
                .collect();
            OpHandles { system, slots }
        }

        #[inline]
        pub(super) fn record(&self, op: Operation, outcome: Outcome, seconds: Option<f64>) {
            let index = match outcome {
                Outcome::Hit | Outcome::Ok => 0,
                Outcome::Miss => 1,
                Outcome::Error(_) => {
                    let (counter, histogram) = handles(self.system, op, outcome);
                    counter.increment(1);
                    if let Some(seconds) = seconds {
                        histogram.record(seconds);
                    }
                    return;
                }
            };
            let slot = &self.slots[op.index()];
            slot.counters[index].increment(1);
            if let Some(seconds) = seconds {
                slot.durations[index].record(seconds);
            }
        }
    }

    pub(super) fn describe() {
        for m in METRICS {
            let unit = match m.unit {
                "s" => Some(Unit::Seconds),
                _ => Some(Unit::Count),
            };
            ::metrics::with_recorder(|r| {
                let name = ::metrics::KeyName::from_const_str(m.name);
                match m.kind {
                    MetricKind::Counter => r.describe_counter(name, unit, m.help.into()),
                    MetricKind::Gauge => r.describe_gauge(name, unit, m.help.into()),
                    MetricKind::Histogram => r.describe_histogram(name, unit, m.help.into()),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_unique_dotted_and_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for m in METRICS {
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn tenant_labels_are_capped_and_off_by_default() {
        assert_eq!(TenantLabels::default().label("acme"), None);
        let labels = TenantLabels::new(2);
        assert_eq!(labels.label("acme"), Some("acme"));
        assert_eq!(labels.label("globex"), Some("globex"));
        assert_eq!(labels.label("initech"), Some(TenantLabels::OTHER));
        assert_eq!(labels.label("acme"), Some("acme"));
    }

    #[test]
    fn outcomes_name_hits_misses_and_error_kinds() {
        assert_eq!(Outcome::of(&Ok(Some(1))).as_str(), "hit");
        assert_eq!(Outcome::of::<Option<u8>>(&Ok(None)).as_str(), "miss");
        assert_eq!(Outcome::of(&Ok(true)).as_str(), "ok");
        let err: Result<()> = Err(crate::CacheError::closed(Operation::Get));
        assert_eq!(Outcome::of(&err).as_str(), "closed");
    }
}
