//! Idempotency keys over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use cache_http::IdempotencyLayer;
use http::Method;

use crate::support::{Backend, TestClient, TestServer, serve};

/// A service whose handler counts its runs (the side effect) and creates
/// order number `run`; `/flaky` fails its first run.
async fn orders(backend: &crate::support::TestCache, runs: Arc<AtomicU64>) -> TestServer {
    let create = {
        let runs = runs.clone();
        move |body: String| {
            let runs = runs.clone();
            async move {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                (
                    StatusCode::CREATED,
                    [("location", format!("/orders/{n}"))],
                    format!("order {n} for {body}"),
                )
            }
        }
    };
    let flaky = {
        let runs = runs.clone();
        move || {
            let runs = runs.clone();
            async move {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                if n == 1 {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "database down".to_owned(),
                    )
                } else {
                    (StatusCode::CREATED, format!("order {n}"))
                }
            }
        }
    };
    let layer = IdempotencyLayer::new(backend.cache.clone()).required(true);
    let app = Router::new()
        .route("/orders", post(create).layer(layer.clone()))
        .route("/flaky", post(flaky).layer(layer));
    serve(app).await
}

async fn concurrent_duplicates_run_the_handler_once(backend: Backend) {
    let cache = backend.cache().await;
    let runs = Arc::new(AtomicU64::new(0));
    let server = orders(&cache, runs.clone()).await;
    let client = TestClient::new();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            let url = server.url("/orders");
            tokio::spawn(async move {
                client
                    .send(
                        Method::POST,
                        &url,
                        &[("idempotency-key", "k-concurrent")],
                        "book",
                    )
                    .await
            })
        })
        .collect();
    let (mut originals, mut replays, mut conflicts) = (0, 0, 0);
    for call in calls {
        let answer = call.await.expect("client task");
        match answer.status {
            StatusCode::CREATED => {
                assert_eq!(answer.text(), "order 1 for book");
                assert_eq!(answer.header("location"), Some("/orders/1"));
                if answer.header("idempotent-replayed") == Some("true") {
                    replays += 1;
                } else {
                    originals += 1;
                }
            }
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected {other}: {}", answer.text()),
        }
    }
    assert_eq!(originals, 1, "{replays} replays, {conflicts} conflicts");
    assert_eq!(originals + replays + conflicts, 50);
    // No second side effect, also after the storm.
    let later = client
        .send(
            Method::POST,
            &server.url("/orders"),
            &[("idempotency-key", "k-concurrent")],
            "book",
        )
        .await;
    assert_eq!(
        (later.status, later.header("idempotent-replayed")),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn a_reused_key_with_another_body_is_422(backend: Backend) {
    let cache = backend.cache().await;
    let runs = Arc::new(AtomicU64::new(0));
    let server = orders(&cache, runs.clone()).await;
    let client = TestClient::new();
    let key = [("idempotency-key", "k-mismatch")];
    assert_eq!(
        client
            .send(Method::POST, &server.url("/orders"), &key, "book")
            .await
            .status,
        StatusCode::CREATED
    );
    let other = client
        .send(Method::POST, &server.url("/orders"), &key, "lamp")
        .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text()
    );
    assert_eq!(
        other.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

async fn a_failed_first_attempt_can_be_retried(backend: Backend) {
    let cache = backend.cache().await;
    let runs = Arc::new(AtomicU64::new(0));
    let server = orders(&cache, runs.clone()).await;
    let client = TestClient::new();
    let key = [("idempotency-key", "k-flaky")];
    let failed = client
        .send(Method::POST, &server.url("/flaky"), &key, "")
        .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let retried = client
        .send(Method::POST, &server.url("/flaky"), &key, "")
        .await;
    assert_eq!(
        (retried.status, retried.text()),
        (StatusCode::CREATED, "order 2".to_owned())
    );
    assert_eq!(retried.header("idempotent-replayed"), None);
    let replayed = client
        .send(Method::POST, &server.url("/flaky"), &key, "")
        .await;
    assert_eq!(
        (replayed.text(), replayed.header("idempotent-replayed")),
        ("order 2".to_owned(), Some("true"))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

async fn a_route_that_requires_a_key_answers_400_without_one(backend: Backend) {
    let cache = backend.cache().await;
    let runs = Arc::new(AtomicU64::new(0));
    let server = orders(&cache, runs.clone()).await;
    let client = TestClient::new();
    let missing = client
        .send(Method::POST, &server.url("/orders"), &[], "book")
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["status"], 400);
    let too_long = "k".repeat(300);
    let bad = client
        .send(
            Method::POST,
            &server.url("/orders"),
            &[("idempotency-key", &too_long)],
            "book",
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

async fn keys_are_scoped_per_principal(backend: Backend) {
    use cache_http::identity::Principal;
    let cache = backend.cache().await;
    let runs = Arc::new(AtomicU64::new(0));
    let handler = {
        let runs = runs.clone();
        move || {
            let runs = runs.clone();
            async move { format!("run {}", runs.fetch_add(1, Ordering::SeqCst) + 1) }
        }
    };
    let app = Router::new()
        .route(
            "/pay",
            post(handler).layer(IdempotencyLayer::new(cache.cache.clone())),
        )
        .layer(axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                let user = req
                    .headers()
                    .get("x-user")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                req.extensions_mut().insert(Principal(user));
                next.run(req).await
            },
        ));
    let server = serve(app).await;
    let client = TestClient::new();
    let ada = client
        .send(
            Method::POST,
            &server.url("/pay"),
            &[("idempotency-key", "same"), ("x-user", "ada")],
            "",
        )
        .await;
    let bob = client
        .send(
            Method::POST,
            &server.url("/pay"),
            &[("idempotency-key", "same"), ("x-user", "bob")],
            "",
        )
        .await;
    assert_eq!(
        (ada.text(), bob.text()),
        ("run 1".to_owned(), "run 2".to_owned())
    );
}

async fn a_duplicate_while_the_first_is_in_flight_gets_409(backend: Backend) {
    use tokio::sync::{Notify, Semaphore};
    let cache = backend.cache().await;
    let (entered, gate) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(0)));
    let handler = {
        let (entered, gate) = (entered.clone(), gate.clone());
        move || {
            let (entered, gate) = (entered.clone(), gate.clone());
            async move {
                entered.notify_one();
                let _permit = gate.acquire().await.expect("gate");
                (StatusCode::CREATED, "done")
            }
        }
    };
    let app = Router::new().route(
        "/slow",
        post(handler).layer(IdempotencyLayer::new(cache.cache.clone())),
    );
    let server = serve(app).await;
    let client = TestClient::new();
    let key = [("idempotency-key", "k-slow")];
    let first = client.spawn_post(server.url("/slow"), ("idempotency-key", "k-slow"));
    entered.notified().await;
    let duplicate = client
        .send(Method::POST, &server.url("/slow"), &key, "")
        .await;
    assert_eq!(
        duplicate.status,
        StatusCode::CONFLICT,
        "{}",
        duplicate.text()
    );
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().status, StatusCode::CREATED);
    let replay = client
        .send(Method::POST, &server.url("/slow"), &key, "")
        .await;
    assert_eq!(
        (replay.status, replay.header("idempotent-replayed")),
        (StatusCode::CREATED, Some("true"))
    );
}

crate::on_backends!(
    a_duplicate_while_the_first_is_in_flight_gets_409,
    concurrent_duplicates_run_the_handler_once,
    a_reused_key_with_another_body_is_422,
    a_failed_first_attempt_can_be_retried,
    a_route_that_requires_a_key_answers_400_without_one,
    keys_are_scoped_per_principal,
);
