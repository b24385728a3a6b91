//! Per-request locks over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::post;
use cache_http::LockLayer;
use cache_http::lock::{FencingToken, LockKey};
use http::{Method, StatusCode};
use tokio::sync::{Notify, Semaphore};

use crate::support::{Backend, TestClient, serve};

/// `POST /orders/{user}` holds the lock `order:create:{user}`; the handler
/// waits for `gate` when asked to, and panics when asked to.
fn app(cache: Arc<dyn cache_core::Cache>, entered: Arc<Notify>, gate: Arc<Semaphore>) -> Router {
    app_waiting(cache, entered, gate, Duration::ZERO)
}

fn app_waiting(
    cache: Arc<dyn cache_core::Cache>,
    entered: Arc<Notify>,
    gate: Arc<Semaphore>,
    wait: Duration,
) -> Router {
    let handler = move |req: Request| {
        let (entered, gate) = (entered.clone(), gate.clone());
        async move {
            if req.headers().contains_key("x-panic") {
                panic!("the handler panics (on purpose)");
            }
            if req.headers().contains_key("x-hold") {
                entered.notify_one();
                let _permit = gate.acquire().await.expect("gate");
            }
            let fence = req.extensions().get::<FencingToken>().map_or(0, |f| f.0);
            format!("fence {fence}")
        }
    };
    let key = LockKey::from_fn(|parts| {
        parts
            .uri
            .path()
            .strip_prefix("/orders/")
            .map(|user| format!("order:create:{user}"))
    });
    Router::new().route(
        "/orders/{user}",
        post(handler).layer(
            LockLayer::new(cache, key)
                .fencing(true)
                .ttl(Duration::from_secs(30))
                .wait(wait),
        ),
    )
}

async fn a_second_request_gets_409_while_the_first_holds_the_lock(backend: Backend) {
    let cache = backend.cache().await;
    let (entered, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(0)));
    let server = serve(app(cache.cache.clone(), entered.clone(), gate.clone())).await;
    let client = TestClient::new();
    let first = client.spawn_post(server.url("/orders/ada"), ("x-hold", "1"));
    entered.notified().await; // the first request holds the lock now
    let second = client
        .send(Method::POST, &server.url("/orders/ada"), &[], "")
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text());
    assert_eq!(
        second.header("content-type"),
        Some("application/problem+json")
    );
    // Another user's lock is another lock.
    let other = client
        .send(Method::POST, &server.url("/orders/bob"), &[], "")
        .await;
    assert_eq!(other.status, StatusCode::OK);

    gate.add_permits(1);
    let first = first.await.expect("first request");
    assert_eq!(first.status, StatusCode::OK);
    // Released with the response: the next one gets it, with a larger fence.
    let third = client
        .send(Method::POST, &server.url("/orders/ada"), &[], "")
        .await;
    assert_eq!(third.status, StatusCode::OK);
    let fence = |s: String| s.trim_start_matches("fence ").parse::<u64>().unwrap();
    assert!(
        fence(third.text()) > fence(first.text()),
        "{} then {}",
        first.text(),
        third.text()
    );
}

async fn the_lock_is_released_after_a_handler_panic(backend: Backend) {
    let cache = backend.cache().await;
    let server = serve(app(
        cache.cache.clone(),
        Arc::new(Notify::new()),
        Arc::new(Semaphore::new(0)),
    ))
    .await;
    let client = TestClient::new();
    let panicked = client
        .try_send(
            Method::POST,
            &server.url("/orders/ada"),
            &[("x-panic", "1")],
            "",
        )
        .await;
    assert!(
        panicked.is_err(),
        "a panicking handler produced {panicked:?}"
    );
    // The layer released the lock before the panic went on.
    let next = client
        .send(Method::POST, &server.url("/orders/ada"), &[], "")
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text());
}

async fn a_waiting_route_gets_the_lock_once_the_holder_releases_it(backend: Backend) {
    let cache = backend.cache().await;
    let (entered, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(0)));
    let server = serve(app_waiting(
        cache.cache.clone(),
        entered.clone(),
        gate.clone(),
        Duration::from_secs(15),
    ))
    .await;
    let client = TestClient::new();
    let first = client.spawn_post(server.url("/orders/ada"), ("x-hold", "1"));
    entered.notified().await;
    let second = client.spawn_post(server.url("/orders/ada"), ("x-second", "1"));
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().status, StatusCode::OK);
    let second = second.await.unwrap();
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
}

crate::on_backends!(
    a_waiting_route_gets_the_lock_once_the_holder_releases_it,
    a_second_request_gets_409_while_the_first_holds_the_lock,
    the_lock_is_released_after_a_handler_panic,
);
