//! Health checks over real HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_http::health::{self, Readiness};
use cache_redis::RedisCache;
use cache_testing::server::RedisServer;
use http::StatusCode;

use crate::support::{TestClient, TestServer, redis_config, serve};

async fn health_server(cache: Arc<dyn Cache>, name: &str) -> TestServer {
    serve(health::router(
        Readiness::new()
            .timeout(Duration::from_secs(1))
            .cache(name, cache),
    ))
    .await
}

/// Polls `/health/ready` until it answers `want` (bounded).
async fn ready_becomes(
    client: &TestClient,
    server: &TestServer,
    want: StatusCode,
) -> crate::support::Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = client.get(&server.url("/health/ready"), &[]).await;
        if answer.status == want || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_after_redis_is_killed_and_200_after_it_restarts() {
    let mut redis = RedisServer::start();
    let cache: Arc<dyn Cache> = Arc::new(
        RedisCache::connect(&redis_config(redis.addr()))
            .await
            .unwrap(),
    );
    let server = health_server(cache, "redis").await;
    let client = TestClient::new();

    let ok = client.get(&server.url("/health/ready"), &[]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let body = ok.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["redis"]["status"], "ok");
    assert!(body["checks"]["redis"]["latency_ms"].as_f64().is_some());

    tokio::task::block_in_place(|| redis.stop());
    let down = client.get(&server.url("/health/ready"), &[]).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text()
    );
    assert_eq!(down.json()["checks"]["redis"]["status"], "error");
    // Liveness checks nothing.
    assert_eq!(
        client.get(&server.url("/health/live"), &[]).await.status,
        StatusCode::OK
    );

    tokio::task::block_in_place(|| redis.restart());
    let back = ready_becomes(&client, &server, StatusCode::OK).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_on_memory_is_200_and_503_once_the_cache_is_closed() {
    let cache: Arc<dyn Cache> = Arc::new(cache_memory::MemoryCache::new());
    let server = health_server(cache.clone(), "memory").await;
    let client = TestClient::new();
    let ok = client.get(&server.url("/health/ready"), &[]).await;
    assert_eq!(
        (ok.status, ok.json()["checks"]["memory"]["status"].clone()),
        (StatusCode::OK, "ok".into())
    );
    cache.close().await.unwrap();
    let closed = client.get(&server.url("/health/ready"), &[]).await;
    assert_eq!(
        closed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        closed.text()
    );
    assert_eq!(closed.json()["status"], "error");
}
