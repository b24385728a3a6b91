//! Capturing what the framework emits, for tests: [`MetricsCapture`] (a
//! `metrics-util` debugging recorder, local to the test's thread) and
//! [`SpanCapture`] (a `tracing` subscriber that keeps every span's
//! attributes).
//!
//! `metrics::with_local_recorder` covers the current thread only: run async
//! code through [`MetricsCapture::block_on`], a current-thread runtime inside
//! the recorder, so spawned tasks record too. Backends bind their operation
//! metrics when they are built, so build them inside it as well.
//!
//! ```
//! use cache_core::Cache;
//! use cache_testing::metrics::MetricsCapture;
//!
//! let capture = MetricsCapture::new();
//! capture.block_on(async {
//!     let cache = cache_memory::MemoryCache::new();
//!     cache.get("absent").await.unwrap();
//! });
//! let snapshot = capture.snapshot();
//! assert_eq!(snapshot.counter("cache.operations", &[("outcome", "miss")]), 1);
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use parking_lot::Mutex;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A debugging recorder for one test.
pub struct MetricsCapture {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
    /// What earlier snapshots took (the recorder's snapshots reset every
    /// value to zero; this keeps the totals).
    seen: Mutex<Vec<Metric>>,
}

impl Default for MetricsCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MetricsCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsCapture").finish_non_exhaustive()
    }
}

impl MetricsCapture {
    /// An empty recorder.
    pub fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        MetricsCapture {
            recorder,
            snapshotter,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with this recorder as the thread's recorder.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Runs `future` to completion on a current-thread runtime (time and I/O
    /// enabled) with this recorder as the thread's recorder.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        self.run(|| runtime.block_on(future))
    }

    /// Everything recorded so far: counters and gauges are totals since the
    /// capture began (gauges as the sum of their increments, which is their
    /// value for gauges that are only incremented and decremented), histograms
    /// every sample.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut seen = self.seen.lock();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let labels: BTreeMap<String, String> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            let value = match value {
                DebugValue::Counter(n) => Value::Counter(n),
                DebugValue::Gauge(v) => Value::Gauge(v.0),
                DebugValue::Histogram(samples) => {
                    Value::Histogram(samples.into_iter().map(|s| s.0).collect())
                }
            };
            match seen
                .iter_mut()
                .find(|m| m.kind == kind && m.name == key.name() && m.labels == labels)
            {
                Some(known) => known.value.add(value),
                None => seen.push(Metric {
                    kind,
                    name: key.name().to_owned(),
                    labels,
                    value,
                }),
            }
        }
        MetricsSnapshot {
            entries: seen.clone(),
        }
    }
}

/// A recorded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter's total.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's samples.
    Histogram(Vec<f64>),
}

impl Value {
    fn add(&mut self, more: Value) {
        match (self, more) {
            (Value::Counter(n), Value::Counter(m)) => *n += m,
            (Value::Gauge(v), Value::Gauge(w)) => *v += w,
            (Value::Histogram(xs), Value::Histogram(ys)) => xs.extend(ys),
            (slot, other) => *slot = other,
        }
    }
}

/// One series of a [`MetricsSnapshot`].
#[derive(Debug, Clone)]
pub struct Metric {
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The metric's name.
    pub name: String,
    /// Its labels, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: Value,
}

impl Metric {
    fn matches(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.name == name
            && labels
                .iter()
                .all(|(k, v)| self.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

/// What a [`MetricsCapture`] held at one moment.
#[derive(Debug)]
pub struct MetricsSnapshot {
    /// Every series.
    pub entries: Vec<Metric>,
}

impl MetricsSnapshot {
    /// The sum of the counters `name` whose labels include `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.entries
            .iter()
            .filter(|m| m.matches(name, labels))
            .map(|m| match m.value {
                Value::Counter(n) => n,
                _ => 0,
            })
            .sum()
    }

    /// The samples of the histograms `name` whose labels include `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.entries
            .iter()
            .filter(|m| m.matches(name, labels))
            .flat_map(|m| match &m.value {
                Value::Histogram(samples) => samples.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The value of the gauge `name` with `labels`, if it was ever set.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.entries
            .iter()
            .filter(|m| m.matches(name, labels))
            .find_map(|m| match m.value {
                Value::Gauge(v) => Some(v),
                _ => None,
            })
    }

    /// The series with a non-zero value, as `name{k=v,...} value` lines
    /// (for failure messages).
    pub fn describe(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .filter(|m| !matches!(m.value, Value::Counter(0)))
            .map(|m| format!("{} {:?} {:?}", m.name, m.labels, m.value))
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// Every label value of every series (to check that no key or secret leaked).
    pub fn label_values(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|m| m.labels.values().cloned())
            .collect()
    }
}

/// One span as a [`SpanCapture`] saw it: its name and every attribute
/// recorded on it, values rendered with `Debug`/`Display` as tracing gives them.
#[derive(Debug, Clone, Default)]
pub struct CapturedSpan {
    /// The span's name.
    pub name: String,
    /// Its attributes.
    pub fields: BTreeMap<String, String>,
}

/// A `tracing` subscriber that keeps every span (at every level), for tests.
#[derive(Debug, Clone, Default)]
pub struct SpanCapture {
    spans: Arc<Mutex<Vec<CapturedSpan>>>,
}

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct Index(usize);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanCapture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut span = CapturedSpan {
            name: attrs.metadata().name().to_owned(),
            fields: BTreeMap::new(),
        };
        attrs.record(&mut FieldVisitor(&mut span.fields));
        let mut spans = self.spans.lock();
        spans.push(span);
        if let Some(s) = ctx.span(id) {
            s.extensions_mut().insert(Index(spans.len() - 1));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(s) = ctx.span(id)
            && let Some(Index(i)) = s.extensions().get::<Index>()
        {
            values.record(&mut FieldVisitor(&mut self.spans.lock()[*i].fields));
        }
    }
}

impl SpanCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with a subscriber that captures into this (this thread only).
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }

    /// Every span so far, in creation order.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        self.spans.lock().clone()
    }

    /// The spans named `name`.
    pub fn named(&self, name: &str) -> Vec<CapturedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }
}
