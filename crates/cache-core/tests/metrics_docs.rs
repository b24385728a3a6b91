//! docs/metrics.md and the Grafana dashboard name exactly the metrics that
//! `cache_core::metrics::METRICS` lists, with the labels it declares.

use std::collections::BTreeSet;
use std::path::PathBuf;

use cache_core::metrics::METRICS;

fn docs(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A name as the Prometheus exporter writes it.
fn prometheus(name: &str) -> String {
    name.replace('.', "_")
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

fn dashboard_exprs() -> Vec<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&docs("grafana/cache-rs.json")).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").iter())
        .map(|t| t["expr"].as_str().expect("a PromQL expr").to_owned())
        .collect()
}

#[test]
fn the_dashboard_names_only_metrics_that_exist() {
    let known: BTreeSet<String> = METRICS.iter().map(|m| prometheus(m.name)).collect();
    let mut used = BTreeSet::new();
    for expr in dashboard_exprs() {
        for word in words(&expr).filter(|w| w.starts_with("cache_") || w.starts_with("db_client_"))
        {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| word.strip_suffix(s).filter(|b| known.contains(*b)))
                .unwrap_or(word);
            assert!(
                known.contains(base),
                "the dashboard names {word}, which is not emitted: {expr}"
            );
            used.insert(base.to_owned());
        }
    }
    for needed in [
        "cache_operations",
        "db_client_operation_duration",
        "cache_lock_contention",
        "cache_rate_limit_decisions",
        "cache_write_behind_queue_depth",
        "cache_aside_requests",
    ] {
        assert!(used.contains(needed), "the dashboard shows no {needed}");
    }
}

#[test]
fn the_dashboard_groups_and_filters_only_by_declared_labels() {
    let labels: BTreeSet<String> = METRICS
        .iter()
        .flat_map(|m| m.labels.iter().map(|l| prometheus(l)))
        .chain(["le".to_owned()])
        .collect();
    for expr in dashboard_exprs() {
        // `by (a, b)` groupings.
        for part in expr.split("by (").skip(1) {
            let inside = part.split(')').next().unwrap_or_default();
            for label in inside.split(',').map(str::trim) {
                assert!(labels.contains(label), "unknown label {label} in {expr}");
            }
        }
        // `{a="x", b=~"y"}` selectors.
        for part in expr.split('{').skip(1) {
            let inside = part.split('}').next().unwrap_or_default();
            for matcher in inside.split(',') {
                let label = matcher.split(['=', '!']).next().unwrap_or_default().trim();
                assert!(labels.contains(label), "unknown label {label} in {expr}");
            }
        }
    }
}

#[test]
fn the_reference_documents_every_metric_and_no_other() {
    let text = docs("metrics.md");
    for m in METRICS {
        assert!(
            text.contains(&format!("| `{}` |", m.name)),
            "docs/metrics.md lacks {}",
            m.name
        );
    }
    let known: BTreeSet<&str> = METRICS.iter().map(|m| m.name).collect();
    for quoted in text.split('`').skip(1).step_by(2) {
        let looks_like_metric = (quoted.starts_with("cache.") || quoted.starts_with("db.client."))
            && quoted
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
        if looks_like_metric && quoted != "cache.redis" {
            assert!(
                known.contains(quoted),
                "docs/metrics.md names {quoted}, which is not emitted"
            );
        }
    }
}
