//! The `cache.http.*` metrics, recorded by a local recorder around a
//! current-thread runtime (every task of the test runs on this thread).

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use cache_http::identity::RequestKey;
use cache_http::ratelimit::Rule;
use cache_http::{IdempotencyLayer, RateLimitLayer, ResponseCacheLayer};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::ServiceBuilder;

use crate::support::{Backend, TestClient, serve};

/// The counters recorded, as (name, outcome label, value), sorted.
fn counters(recorder: &DebuggingRecorder) -> Vec<(String, String, u64)> {
    let mut out: Vec<_> = recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        // The backend under the layers counts its own operations too.
        .filter(|(key, _, _, _)| key.key().name().starts_with("cache.http."))
        .filter_map(|(key, _, _, value)| {
            let DebugValue::Counter(n) = value else {
                return None;
            };
            let key = key.key();
            let labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            assert!(
                labels.iter().all(|(k, _)| k == "outcome"),
                "labels {labels:?}"
            );
            let outcome = labels.first().map(|(_, v)| v.clone()).unwrap_or_default();
            Some((key.name().to_owned(), outcome, n))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn layers_count_their_outcomes_under_the_agreed_names() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let cache = Backend::Memory.cache().await.cache;
            let app = Router::new()
                .route(
                    "/page",
                    get(|| async { "page" }).layer(ResponseCacheLayer::new(
                        cache.clone(),
                        Duration::from_secs(60),
                    )),
                )
                .route(
                    "/orders",
                    post(|| async { "created" }).layer(
                        ServiceBuilder::new()
                            .layer(RateLimitLayer::new(cache.clone()).rule(Rule::fixed(
                                "r",
                                2,
                                Duration::from_secs(60),
                                RequestKey::Route,
                            )))
                            .layer(IdempotencyLayer::new(cache.clone()).required(true)),
                    ),
                );
            let server = serve(app).await;
            let client = TestClient::new();
            client.get(&server.url("/page"), &[]).await;
            client.get(&server.url("/page"), &[]).await;
            let key = [("idempotency-key", "m-1")];
            client.post(&server.url("/orders"), &key, "").await;
            client.post(&server.url("/orders"), &key, "").await;
            client.post(&server.url("/orders"), &key, "").await;
        });
    });
    let expect = |name: &str, outcome: &str, n: u64| (name.to_owned(), outcome.to_owned(), n);
    assert_eq!(
        counters(&recorder),
        vec![
            expect("cache.http.idempotency", "first", 1),
            expect("cache.http.idempotency", "replay", 1),
            expect("cache.http.rate_limit", "allowed", 2),
            expect("cache.http.rate_limit", "denied", 1),
            expect("cache.http.response_cache", "hit", 1),
            expect("cache.http.response_cache", "miss", 1),
        ]
    );
}
