//! Idempotency keys over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use cache_http::IdempotencyLayer;

use crate::support::{
    Backend, TestCache, TestClient, TestServer, counted, counted_with_body, serve,
};

/// A service whose handler counts its runs (the side effect) and creates
/// order number `run`; `/flaky` fails its first run. With the backend
/// cache (keep it while the server runs), the run count and a client.
async fn orders(backend: Backend) -> (TestCache, Arc<AtomicU64>, TestServer, TestClient) {
    let backend = backend.cache().await;
    let runs = Arc::new(AtomicU64::new(0));
    let create = counted_with_body(&runs, |n, body| async move {
        (
            StatusCode::CREATED,
            [("location", format!("/orders/{n}"))],
            format!("order {n} for {body}"),
        )
    });
    let flaky = counted(&runs, |n| async move {
        if n == 1 {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "database down".to_owned(),
            )
        } else {
            (StatusCode::CREATED, format!("order {n}"))
        }
    });
    let layer = IdempotencyLayer::new(backend.cache.clone()).required(true);
    let app = Router::new()
        .route("/orders", post(create).layer(layer.clone()))
        .route("/flaky", post(flaky).layer(layer));
    let server = serve(app).await;
    (backend, runs, server, TestClient::new())
}

async fn concurrent_duplicates_run_the_handler_once(backend: Backend) {
    let (_cache, runs, server, client) = orders(backend).await;
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            let url = server.url("/orders");
            tokio::spawn(async move {
                client
                    .post(&url, &[("idempotency-key", "k-concurrent")], "book")
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
        .post(
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
    let (_cache, runs, server, client) = orders(backend).await;
    let key = [("idempotency-key", "k-mismatch")];
    assert_eq!(
        client
            .post(&server.url("/orders"), &key, "book")
            .await
            .status,
        StatusCode::CREATED
    );
    let other = client.post(&server.url("/orders"), &key, "lamp").await;
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
    let (_cache, runs, server, client) = orders(backend).await;
    let key = [("idempotency-key", "k-flaky")];
    let failed = client.post(&server.url("/flaky"), &key, "").await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let retried = client.post(&server.url("/flaky"), &key, "").await;
    assert_eq!(
        (retried.status, retried.text()),
        (StatusCode::CREATED, "order 2".to_owned())
    );
    assert_eq!(retried.header("idempotent-replayed"), None);
    let replayed = client.post(&server.url("/flaky"), &key, "").await;
    assert_eq!(
        (replayed.text(), replayed.header("idempotent-replayed")),
        ("order 2".to_owned(), Some("true"))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

async fn a_route_that_requires_a_key_answers_400_without_one(backend: Backend) {
    let (_cache, runs, server, client) = orders(backend).await;
    let missing = client.post(&server.url("/orders"), &[], "book").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["status"], 400);
    let too_long = "k".repeat(300);
    let bad = client
        .post(
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
    let handler = counted(&runs, |n| async move { format!("run {n}") });
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
    let mut texts = Vec::new();
    for user in ["ada", "bob"] {
        let headers = [("idempotency-key", "same"), ("x-user", user)];
        texts.push(client.post(&server.url("/pay"), &headers, "").await.text());
    }
    assert_eq!(texts, ["run 1", "run 2"]);
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
    let duplicate = client.post(&server.url("/slow"), &key, "").await;
    assert_eq!(
        duplicate.status,
        StatusCode::CONFLICT,
        "{}",
        duplicate.text()
    );
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().status, StatusCode::CREATED);
    let replay = client.post(&server.url("/slow"), &key, "").await;
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
