//! Response caching over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use cache_http::ResponseCacheLayer;
use cache_patterns::aside::Clock;

use crate::support::{Backend, TestClient, serve};

/// A wall clock the test moves.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let offset = Arc::new(AtomicU64::new(0));
    let start = SystemTime::now();
    let clock: Clock = {
        let offset = offset.clone();
        Arc::new(move || start + Duration::from_millis(offset.load(Ordering::SeqCst)))
    };
    (clock, offset)
}

struct Handlers {
    runs: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
}

fn app(cache: Arc<dyn cache_core::Cache>, clock: Clock) -> (Router, Handlers) {
    let runs = Arc::new(AtomicU64::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let order = {
        let (runs, failing) = (runs.clone(), failing.clone());
        move || {
            let (runs, failing) = (runs.clone(), failing.clone());
            async move {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                if failing.load(Ordering::SeqCst) {
                    return (StatusCode::SERVICE_UNAVAILABLE, "down".to_owned()).into_response();
                }
                // Slow enough that concurrent misses overlap.
                tokio::time::sleep(Duration::from_millis(50)).await;
                ([("content-type", "text/plain")], format!("order v{n}")).into_response()
            }
        }
    };
    let private = {
        let runs = runs.clone();
        move || {
            let runs = runs.clone();
            async move {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                (
                    [("cache-control", "private, max-age=60")],
                    format!("private v{n}"),
                )
            }
        }
    };
    let no_store = {
        let runs = runs.clone();
        move || {
            let runs = runs.clone();
            async move {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                ([("cache-control", "no-store")], format!("volatile v{n}"))
            }
        }
    };
    let layer = ResponseCacheLayer::new(cache, Duration::from_secs(60))
        .soft_ttl(Duration::from_secs(10))
        .clock(clock);
    let router = Router::new()
        .route("/orders/{id}", get(order).layer(layer.clone()))
        .route("/private", get(private).layer(layer.clone()))
        .route("/no-store", get(no_store).layer(layer));
    (router, Handlers { runs, failing })
}

async fn miss_then_hit_then_stale_while_the_handler_fails(backend: Backend) {
    let cache = backend.cache().await;
    let (clock, offset) = manual_clock();
    let (router, handlers) = app(cache.cache.clone(), clock);
    let server = serve(router).await;
    let client = TestClient::new();
    let url = server.url("/orders/7?view=full");

    let miss = client.get(&url, &[]).await;
    assert_eq!(
        (miss.status, miss.header("x-cache")),
        (StatusCode::OK, Some("miss"))
    );
    assert_eq!(miss.text(), "order v1");
    offset.store(3_000, Ordering::SeqCst);
    let hit = client.get(&url, &[]).await;
    assert_eq!(
        (hit.header("x-cache"), hit.header("age")),
        (Some("hit"), Some("3"))
    );
    assert_eq!(
        (hit.text(), hit.header("content-type")),
        ("order v1".to_owned(), Some("text/plain"))
    );
    // Another query is another key.
    assert_eq!(
        client
            .get(&server.url("/orders/7?view=short"), &[])
            .await
            .header("x-cache"),
        Some("miss")
    );

    // Past the soft TTL the handler runs again; while it fails, stale serves.
    offset.store(15_000, Ordering::SeqCst);
    handlers.failing.store(true, Ordering::SeqCst);
    let stale = client.get(&url, &[]).await;
    assert_eq!(
        (stale.status, stale.header("x-cache")),
        (StatusCode::OK, Some("stale"))
    );
    assert_eq!(
        (stale.text(), stale.header("age")),
        ("order v1".to_owned(), Some("15"))
    );
    // Once it recovers, the next request refreshes.
    handlers.failing.store(false, Ordering::SeqCst);
    let fresh = client.get(&url, &[]).await;
    assert_eq!(fresh.header("x-cache"), Some("miss"));
    assert_ne!(fresh.text(), "order v1");
}

async fn no_store_and_private_responses_are_not_stored(backend: Backend) {
    let cache = backend.cache().await;
    let (router, handlers) = app(cache.cache.clone(), manual_clock().0);
    let server = serve(router).await;
    let client = TestClient::new();
    for path in ["/no-store", "/private"] {
        let first = client.get(&server.url(path), &[]).await;
        let second = client.get(&server.url(path), &[]).await;
        assert_eq!(
            (first.header("x-cache"), second.header("x-cache")),
            (Some("miss"), Some("miss"))
        );
        assert_ne!(
            first.text(),
            second.text(),
            "{path} was served from the cache"
        );
    }
    assert_eq!(handlers.runs.load(Ordering::SeqCst), 4);
}

async fn concurrent_misses_run_the_handler_once(backend: Backend) {
    let cache = backend.cache().await;
    let (router, handlers) = app(cache.cache.clone(), manual_clock().0);
    let server = serve(router).await;
    let client = TestClient::new();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (client, url) = (client.clone(), server.url("/orders/42"));
            tokio::spawn(async move { client.get(&url, &[]).await })
        })
        .collect();
    let mut misses = 0;
    for call in calls {
        let answer = call.await.expect("client task");
        assert_eq!(
            (answer.status, answer.text()),
            (StatusCode::OK, "order v1".to_owned())
        );
        match answer.header("x-cache") {
            Some("miss") => misses += 1,
            Some("hit") => {}
            other => panic!("X-Cache {other:?}"),
        }
    }
    assert_eq!((handlers.runs.load(Ordering::SeqCst), misses), (1, 1));
}

async fn bodies_over_the_limit_are_sent_whole_and_not_stored(backend: Backend) {
    let cache = backend.cache().await;
    let runs = Arc::new(AtomicU64::new(0));
    let big = {
        let runs = runs.clone();
        move || {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                "x".repeat(10_000)
            }
        }
    };
    let app = Router::new().route(
        "/big",
        get(big).layer(
            ResponseCacheLayer::new(cache.cache.clone(), Duration::from_secs(60)).max_body(4096),
        ),
    );
    let server = serve(app).await;
    let client = TestClient::new();
    for _ in 0..2 {
        let answer = client.get(&server.url("/big"), &[]).await;
        assert_eq!(
            (answer.body.len(), answer.header("x-cache")),
            (10_000, Some("miss"))
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

crate::on_backends!(
    bodies_over_the_limit_are_sent_whole_and_not_stored,
    miss_then_hit_then_stale_while_the_handler_fails,
    no_store_and_private_responses_are_not_stored,
    concurrent_misses_run_the_handler_once,
);
