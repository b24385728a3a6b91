//! `cachectl stats --prometheus` and `cachectl stats --watch`: the metrics
//! the framework emits, seen from this process.
//!
//! `cachectl` is an application, so it may install a recorder: a Prometheus
//! one (`metrics-exporter-prometheus`, no listener), before connecting so
//! that the cache reports to it. Both modes then read the cache through
//! bounded, read-only probes (a `health` and `--probes` GETs of keys from one
//! SCAN page, or of an absent probe key when there are none) and show what
//! the metrics recorded: `--prometheus` prints the exposition text once,
//! `--watch` refreshes a terminal view every `--interval` with ops/s, hit
//! ratio, p99 and errors by kind, and a chart of p99 over the last minute.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{Cache, CacheError, ScanCursor};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the Prometheus recorder (once per process).
pub(crate) fn install() -> Result<PrometheusHandle, CacheError> {
    let handle = PrometheusBuilder::new().install_recorder().map_err(|e| {
        report_install_error(&e);
        CacheError::unsupported(cache_core::Operation::Connect, "a metrics recorder")
    })?;
    cache_core::metrics::describe();
    Ok(handle)
}

/// Says why the recorder could not be installed (the error type is the exporter's).
fn report_install_error(e: &dyn std::fmt::Display) {
    eprintln!("warning: installing the Prometheus recorder: {e}");
}

/// Options of the watch view.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchOptions {
    /// Time between refreshes.
    pub(crate) interval: Duration,
    /// GETs per refresh.
    pub(crate) probes: usize,
    /// Stop after this many refreshes (`None`: until interrupted).
    pub(crate) count: Option<u64>,
}

/// Keys the probes read: one SCAN page of what the cache holds.
async fn sample_keys(cache: &dyn Cache) -> Vec<String> {
    match cache.scan_keys("*", &ScanCursor::start(), 100).await {
        Ok(page) if !page.keys.is_empty() => page.keys,
        _ => vec!["cachectl:probe".to_owned()],
    }
}

/// One round of probes; failures are what the metrics are for, not errors.
async fn probe(cache: &dyn Cache, keys: &[String], n: usize, round: usize) {
    let _ = cache.health().await;
    for i in 0..n {
        let _ = cache.get(&keys[(round * n + i) % keys.len()]).await;
    }
}

/// `stats --prometheus`: one probe round, then the exposition text.
pub(crate) async fn prometheus(handle: &PrometheusHandle, cache: Arc<dyn Cache>, probes: usize) {
    let keys = sample_keys(cache.as_ref()).await;
    probe(cache.as_ref(), &keys, probes, 0).await;
    print!("{}", handle.render());
}

/// `stats --watch`.
pub(crate) async fn watch(
    handle: &PrometheusHandle,
    cache: Arc<dyn Cache>,
    description: &str,
    options: WatchOptions,
) {
    let keys = sample_keys(cache.as_ref()).await;
    let mut before = Samples::parse(&handle.render());
    let mut last = Instant::now();
    let mut p99s: Vec<f64> = Vec::new();
    let terminal = std::io::stdout().is_terminal();
    let mut round = 0usize;
    loop {
        tokio::time::sleep(options.interval).await;
        probe(cache.as_ref(), &keys, options.probes, round).await;
        handle.run_upkeep();
        let now = Samples::parse(&handle.render());
        let elapsed = last.elapsed();
        last = Instant::now();
        let view = View::between(&before, &now, elapsed);
        p99s.push(view.p99.unwrap_or(0.0));
        if p99s.len() > 60 {
            p99s.remove(0);
        }
        let mut out = std::io::stdout().lock();
        if terminal {
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        let _ = writeln!(out, "{}", view.render(description, &p99s));
        let _ = out.flush();
        before = now;
        round += 1;
        if options.count.is_some_and(|c| round as u64 >= c) {
            return;
        }
    }
}

/// The series of an exposition text, by name and labels.
#[derive(Debug, Default)]
pub(crate) struct Samples(BTreeMap<(String, BTreeMap<String, String>), f64>);

impl Samples {
    /// Parses `name{k="v",...} value` lines (comments skipped).
    pub(crate) fn parse(text: &str) -> Samples {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            samples.insert((name.to_owned(), labels), value);
        }
        Samples(samples)
    }

    /// The sum of the series `name` whose labels include `want`.
    fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.matching(name, want).map(|(_, v)| v).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        want: &'a [(&str, &str)],
    ) -> impl Iterator<Item = (&'a BTreeMap<String, String>, f64)> + 'a {
        self.0.iter().filter_map(move |((n, labels), v)| {
            let wanted = n == name
                && want
                    .iter()
                    .all(|(k, x)| labels.get(*k).map(String::as_str) == Some(*x));
            wanted.then_some((labels, *v))
        })
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split("\",")
        .filter_map(|pair| {
            let (k, v) = pair.split_once("=\"")?;
            Some((k.trim().to_owned(), v.trim_end_matches('"').to_owned()))
        })
        .collect()
}

/// What changed between two samples.
#[derive(Debug, PartialEq)]
pub(crate) struct View {
    pub(crate) ops_per_sec: f64,
    pub(crate) hit_ratio: Option<f64>,
    /// Seconds: the largest p99 of any operation (the exporter's summary).
    pub(crate) p99: Option<f64>,
    pub(crate) errors: BTreeMap<String, f64>,
}

const OPS: &str = "cache_operations";
const DURATION: &str = "db_client_operation_duration";

impl View {
    pub(crate) fn between(before: &Samples, now: &Samples, elapsed: Duration) -> View {
        let delta = |want: &[(&str, &str)]| now.sum(OPS, want) - before.sum(OPS, want);
        let get = ("db_operation_name", "get");
        let hits = delta(&[get, ("outcome", "hit")]);
        let misses = delta(&[get, ("outcome", "miss")]);
        let mut errors = BTreeMap::new();
        for (labels, value) in now.matching(OPS, &[]) {
            if let Some(kind) = labels.get("error_type") {
                let earlier = before
                    .0
                    .get(&(OPS.to_owned(), labels.clone()))
                    .copied()
                    .unwrap_or(0.0);
                if value > earlier {
                    *errors.entry(kind.clone()).or_insert(0.0) += value - earlier;
                }
            }
        }
        let p99 = now
            .matching(DURATION, &[("quantile", "0.99")])
            .map(|(_, v)| v)
            .filter(|v| v.is_finite())
            .reduce(f64::max);
        View {
            ops_per_sec: delta(&[]) / elapsed.as_secs_f64().max(1e-9),
            hit_ratio: (hits + misses > 0.0).then(|| hits / (hits + misses)),
            p99,
            errors,
        }
    }

    fn render(&self, description: &str, p99s: &[f64]) -> String {
        let ratio = self
            .hit_ratio
            .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        let p99 = self
            .p99
            .map_or("-".to_owned(), |s| format!("{:.3} ms", s * 1e3));
        let errors = if self.errors.is_empty() {
            "none".to_owned()
        } else {
            self.errors
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "cachectl stats --watch: {description}\n\
             ops/s      {:.1}\n\
             hit ratio  {ratio}\n\
             p99        {p99}\n\
             errors     {errors}\n\
             p99 chart  {}",
            self.ops_per_sec,
            sparkline(p99s)
        )
    }
}

/// A one-line chart, one bar per value, scaled to the largest.
pub(crate) fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0, f64::max);
    values
        .iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# TYPE cache_operations counter\n\
        cache_operations{db_system_name=\"redis\",db_operation_name=\"get\",outcome=\"hit\"} 10\n\
        cache_operations{db_system_name=\"redis\",db_operation_name=\"get\",outcome=\"miss\"} 10\n";
    const NOW: &str = "cache_operations{db_system_name=\"redis\",db_operation_name=\"get\",outcome=\"hit\"} 40\n\
        cache_operations{db_system_name=\"redis\",db_operation_name=\"get\",outcome=\"miss\"} 20\n\
        cache_operations{db_system_name=\"redis\",db_operation_name=\"get\",outcome=\"timeout\",error_type=\"timeout\"} 2\n\
        db_client_operation_duration{db_system_name=\"redis\",db_operation_name=\"get\",outcome=\"hit\",quantile=\"0.99\"} 0.002\n\
        db_client_operation_duration{db_system_name=\"redis\",db_operation_name=\"set\",outcome=\"ok\",quantile=\"0.99\"} 0.004\n";

    #[test]
    fn the_view_is_the_change_between_two_scrapes() {
        let view = View::between(
            &Samples::parse(BEFORE),
            &Samples::parse(NOW),
            Duration::from_secs(2),
        );
        assert_eq!(view.ops_per_sec, 21.0);
        assert_eq!(view.hit_ratio, Some(0.75));
        assert_eq!(view.p99, Some(0.004));
        assert_eq!(view.errors, BTreeMap::from([("timeout".to_owned(), 2.0)]));
    }

    #[test]
    fn the_chart_scales_to_the_largest_value() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0]), "▁▅█");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
    }
}
