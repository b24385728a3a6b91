//! Rate limits over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use cache_core::{Cache, Operation};
use cache_http::RateLimitLayer;
use cache_http::identity::{ClientIp, RequestKey};
use cache_http::ratelimit::Rule;
use cache_testing::FaultyCache;
use http::StatusCode;

use crate::support::{Backend, TestClient, TestServer, serve};

const LIMIT: u64 = 40;

async fn instance(cache: Arc<dyn Cache>) -> TestServer {
    let app = Router::new().route(
        "/orders",
        get(|| async { "ok" }).layer(RateLimitLayer::new(cache).rule(Rule::sliding(
            "orders",
            LIMIT,
            Duration::from_secs(60),
            RequestKey::Route,
        ))),
    );
    serve(app).await
}

async fn concurrent_requests_over_two_instances_never_exceed_the_limit(backend: Backend) {
    let shared = backend.cache().await;
    let (a, b) = (
        instance(shared.cache.clone()).await,
        instance(shared.cache.clone()).await,
    );
    let client = TestClient::new();
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            let url = if i % 2 == 0 {
                a.url("/orders")
            } else {
                b.url("/orders")
            };
            tokio::spawn(async move { client.get(&url, &[]).await })
        })
        .collect();
    let mut admitted = 0;
    for call in calls {
        let answer = call.await.expect("client task");
        match answer.status {
            StatusCode::OK => {
                admitted += 1;
                assert!(
                    answer
                        .header("ratelimit")
                        .is_some_and(|v| v.starts_with("\"orders\";r="))
                );
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry: u64 = answer
                    .header("retry-after")
                    .expect("Retry-After")
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
                assert_eq!(
                    answer.header("ratelimit-policy"),
                    Some("\"orders\";q=40;w=60")
                );
                assert_eq!(
                    answer.header("content-type"),
                    Some("application/problem+json")
                );
                assert_eq!(answer.json()["status"], 429);
            }
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    // Every request of the window counted on the one shared backend.
    assert_eq!(admitted, LIMIT);
}

async fn allowed_responses_carry_the_remaining_count(backend: Backend) {
    let shared = backend.cache().await;
    let server = instance(shared.cache.clone()).await;
    let client = TestClient::new();
    let first = client.get(&server.url("/orders"), &[]).await;
    assert_eq!(first.header("ratelimit"), Some("\"orders\";r=39"));
    let second = client.get(&server.url("/orders"), &[]).await;
    assert_eq!(second.header("ratelimit"), Some("\"orders\";r=38"));
    assert_eq!(
        second.header("ratelimit-policy"),
        Some("\"orders\";q=40;w=60")
    );
}

async fn clients_are_counted_apart_by_ip_and_proxy_headers_are_ignored_by_default(
    backend: Backend,
) {
    let shared = backend.cache().await;
    let app = Router::new().route(
        "/",
        get(|| async { "ok" }).layer(RateLimitLayer::new(shared.cache.clone()).rule(Rule::fixed(
            "ip",
            1,
            Duration::from_secs(60),
            RequestKey::ClientIp(ClientIp::peer()),
        ))),
    );
    let server = serve(app).await;
    let client = TestClient::new();
    assert_eq!(
        client
            .get(&server.url("/"), &[("x-forwarded-for", "10.0.0.1")])
            .await
            .status,
        StatusCode::OK
    );
    // Another claimed origin is the same peer: denied.
    let spoofed = client
        .get(&server.url("/"), &[("x-forwarded-for", "10.0.0.2")])
        .await;
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn a_trusted_proxy_s_forwarded_for_header_names_the_client(backend: Backend) {
    let shared = backend.cache().await;
    let trusted = ClientIp::trusting(
        http::HeaderName::from_static("x-forwarded-for"),
        ["127.0.0.1".parse().unwrap()],
    );
    let app = Router::new().route(
        "/",
        get(|| async { "ok" }).layer(RateLimitLayer::new(shared.cache.clone()).rule(Rule::fixed(
            "ip",
            1,
            Duration::from_secs(60),
            RequestKey::ClientIp(trusted),
        ))),
    );
    let server = serve(app).await;
    let client = TestClient::new();
    let via = |ip: &'static str| [("x-forwarded-for", ip)];
    assert_eq!(
        client.get(&server.url("/"), &via("10.0.0.1")).await.status,
        StatusCode::OK
    );
    // The peer (127.0.0.1) is a trusted proxy: the header names the client.
    assert_eq!(
        client.get(&server.url("/"), &via("10.0.0.2")).await.status,
        StatusCode::OK
    );
    // The right-most untrusted hop counts, not what the client prepended.
    let prepended = client
        .get(&server.url("/"), &via("10.9.9.9, 10.0.0.1"))
        .await;
    assert_eq!(prepended.status, StatusCode::TOO_MANY_REQUESTS);
}

/// A backend that fails every call as unreachable.
fn unreachable(backend: Arc<dyn Cache>) -> Arc<dyn Cache> {
    let faulty = FaultyCache::new(backend);
    faulty.fail_operation(Operation::RateLimit);
    Arc::new(faulty)
}

async fn a_failing_backend_fails_open_or_closed_as_configured(backend: Backend) {
    let shared = backend.cache().await;
    let broken = unreachable(shared.cache.clone());
    let rule = || Rule::sliding("r", 5, Duration::from_secs(60), RequestKey::Route);
    let app = Router::new()
        .route(
            "/open",
            get(|| async { "ok" }).layer(
                RateLimitLayer::new(broken.clone())
                    .rule(rule())
                    .fail_open(true),
            ),
        )
        .route(
            "/closed",
            get(|| async { "ok" }).layer(RateLimitLayer::new(broken.clone()).rule(rule())),
        );
    let server = serve(app).await;
    let client = TestClient::new();
    assert_eq!(
        client.get(&server.url("/open"), &[]).await.status,
        StatusCode::OK
    );
    let closed = client.get(&server.url("/closed"), &[]).await;
    assert_eq!(
        closed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        closed.text()
    );
    // The client learns nothing about the backend (address, error).
    assert!(
        !closed.text().contains(cache_testing::faulty::FAULT_ADDR),
        "{}",
        closed.text()
    );
}

crate::on_backends!(
    concurrent_requests_over_two_instances_never_exceed_the_limit,
    allowed_responses_carry_the_remaining_count,
    clients_are_counted_apart_by_ip_and_proxy_headers_are_ignored_by_default,
    a_trusted_proxy_s_forwarded_for_header_names_the_client,
    a_failing_backend_fails_open_or_closed_as_configured,
);
