//! Health checks: `/health/live` answers `200` while the process serves and
//! checks nothing; `/health/ready` runs each dependency's check with a
//! timeout and answers
//! `{"status":"ok","checks":{"redis":{"status":"ok","latency_ms":…}}}`, or
//! `503` with `"status":"error"` and the failing check's error. Both come as
//! a [`router`] and as functions ([`live`], [`Readiness::respond`]) for services
//! that already have health routes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cache_core::Cache;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

type Check = Arc<dyn Fn() -> BoxFuture<'static, cache_core::Result<()>> + Send + Sync>;

/// The readiness checks of a service: named dependencies, each with a
/// check, run concurrently under one timeout.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<(String, Check)>,
    timeout: Duration,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// No checks yet, a 2 s timeout.
    pub fn new() -> Self {
        Readiness {
            checks: Vec::new(),
            timeout: Duration::from_secs(2),
        }
    }

    /// How long each check may take (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks `cache` ([`Cache::health`]) under `name` (e.g. `redis`).
    pub fn cache(self, name: impl Into<String>, cache: Arc<dyn Cache>) -> Self {
        self.check(name, move || {
            let cache = Arc::clone(&cache);
            async move { cache.health().await }.boxed()
        })
    }

    /// Any check under `name`.
    pub fn check<F>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, cache_core::Result<()>> + Send + Sync + 'static,
    {
        self.checks.push((name.into(), Arc::new(check)));
        self
    }

    /// Runs every check: `200` and `"status":"ok"` when all pass, else `503`.
    pub async fn check_all(&self) -> (StatusCode, Value) {
        let runs = self.checks.iter().map(|(name, check)| async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(self.timeout, check()).await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let result = match outcome {
                Ok(Ok(())) => json!({ "status": "ok", "latency_ms": latency_ms }),
                Ok(Err(e)) => {
                    json!({ "status": "error", "latency_ms": latency_ms, "error": e.to_string() })
                }
                Err(_) => json!({
                    "status": "error",
                    "latency_ms": latency_ms,
                    "error": format!("no answer within {} ms", self.timeout.as_millis()),
                }),
            };
            (name.clone(), result)
        });
        let results = futures::future::join_all(runs).await;
        let ok = results.iter().all(|(_, r)| r["status"] == "ok");
        let checks: serde_json::Map<String, Value> = results.into_iter().collect();
        let status = if ok { "ok" } else { "error" };
        let code = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, json!({ "status": status, "checks": checks }))
    }

    /// [`check_all`](Self::check_all) as an axum response.
    pub async fn respond(&self) -> Response {
        let (code, body) = self.check_all().await;
        (code, Json(body)).into_response()
    }
}

/// The liveness answer: `200 {"status":"ok"}`.
pub async fn live() -> Response {
    (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response()
}

/// `/health/live` and `/health/ready`.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route(
            "/health/ready",
            get(|State(readiness): State<Arc<Readiness>>| async move { readiness.respond().await }),
        )
        .with_state(Arc::new(readiness))
}
