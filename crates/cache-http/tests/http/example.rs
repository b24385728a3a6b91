//! The example orders service, run as its documentation says (the same
//! arguments, `--config` with the services' YAML for Redis), on 127.0.0.1:0,
//! and driven over HTTP through every route it documents.

use std::sync::OnceLock;

use clap::Parser;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::oneshot;

use crate::service::{Args, serve};
use crate::support::{TestClient, shared_server};

const TOKEN: &str = "example-admin-token";

/// One Prometheus recorder for the process, as `main` installs it.
fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("recorder")
        })
        .clone()
}

/// The service started with `args` (after the program name); its base URL,
/// the backend it reports, and the sender that shuts it down, with the task
/// that ends when it has.
async fn start(
    args: &[&str],
) -> (
    String,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let args = Args::try_parse_from(std::iter::once("service").chain(args.iter().copied()))
        .expect("the documented arguments parse");
    let (stop, stopped) = oneshot::channel::<()>();
    let (tell, listening) = oneshot::channel();
    let task = tokio::spawn(async move {
        serve(
            args,
            metrics(),
            async move {
                let _ = stopped.await;
            },
            move |addr, backend| {
                let _ = tell.send((addr, backend.to_owned()));
            },
        )
        .await
        .expect("the service runs and shuts down cleanly");
    });
    let (addr, backend) = listening.await.expect("the service listens");
    (format!("http://{addr}"), backend, stop, task)
}

/// Every documented route, as a client of the service uses it.
async fn drive(base: &str, backend: &str) {
    let client = TestClient::new();
    let url = |path: &str| format!("{base}{path}");
    let acme = [("x-tenant-id", "acme"), ("x-user-id", "ana")];

    assert_eq!(client.get(&url("/health/live"), &[]).await.status, 200);
    let ready = client.get(&url("/health/ready"), &[]).await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(
        ready.json()["checks"][backend]["status"],
        "ok",
        "{}",
        ready.text()
    );

    // POST /orders requires an idempotency key, runs once per key.
    let body = r#"{"item":"book","quantity":2}"#;
    let without = client.post(&url("/orders"), &acme, body).await;
    assert_eq!(without.status, 400, "{}", without.text());
    let keyed = [acme[0], acme[1], ("idempotency-key", "order-1")];
    let created = client.post(&url("/orders"), &keyed, body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let location = created.header("location").expect("Location").to_owned();
    assert_eq!(created.json()["user"], "ana");
    let replay = client.post(&url("/orders"), &keyed, body).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, created.body);
    let mismatch = client
        .post(&url("/orders"), &keyed, r#"{"item":"pen","quantity":1}"#)
        .await;
    assert_eq!(mismatch.status, 422, "{}", mismatch.text());

    // GET /orders/{id}: response-cached, per tenant.
    let first = client.get(&url(&location), &acme).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-cache"), Some("miss"));
    assert_eq!(first.json()["item"], "book");
    let second = client.get(&url(&location), &acme).await;
    assert_eq!(second.header("x-cache"), Some("hit"));
    assert_eq!(second.body, first.body);
    let other = client
        .get(&url(&location), &[("x-tenant-id", "globex")])
        .await;
    assert_eq!(
        other.status,
        404,
        "another tenant's order: {}",
        other.text()
    );
    let anonymous = client.get(&url(&location), &[]).await;
    assert_eq!(anonymous.status, 400, "no tenant header");

    // The admin API behind its token, scoped by tenant.
    let keys = url("/admin/cache/keys?tenant=acme&pattern=order:*");
    assert_eq!(client.get(&keys, &[]).await.status, 401);
    let wrong = client.get(&keys, &[("authorization", "Bearer nope")]).await;
    assert_eq!(wrong.status, 401);
    let order_key = format!("order:{}", location.trim_start_matches("/orders/"));
    let acme_keys = all_keys(&client, base, "acme").await;
    assert!(acme_keys.contains(&order_key), "{acme_keys:?}");
    let globex_keys = all_keys(&client, base, "globex").await;
    assert!(globex_keys.is_empty(), "{globex_keys:?}");

    // /metrics in Prometheus text, with the layers' and the backend's metrics.
    let scraped = client.get(&url("/metrics"), &[]).await;
    assert_eq!(scraped.status, 200);
    let text = scraped.text();
    for name in [
        "cache_operations",
        "db_client_operation_duration",
        "cache_http_idempotency",
    ] {
        assert!(text.contains(name), "no {name} in /metrics:\n{text}");
    }
}

/// Every `order:*` key of `tenant`, paged through the admin API to the end
/// (a SCAN page may be short or empty before the last).
async fn all_keys(client: &TestClient, base: &str, tenant: &str) -> Vec<String> {
    let bearer = format!("Bearer {TOKEN}");
    let mut keys = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let page = client
            .get(
                &format!("{base}/admin/cache/keys?tenant={tenant}&pattern=order:*&cursor={cursor}"),
                &[("authorization", &bearer)],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        keys.extend(
            page["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k.as_str().expect("a key").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return keys,
        }
    }
}

async fn stop(stop: oneshot::Sender<()>, task: tokio::task::JoinHandle<()>) {
    stop.send(()).expect("the service is running");
    task.await.expect("the service task ends without a panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_on_memory() {
    let (base, backend, shutdown, task) =
        start(&["--listen", "127.0.0.1:0", "--admin-token", TOKEN]).await;
    assert_eq!(backend, "memory");
    drive(&base, &backend).await;
    stop(shutdown, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_on_redis_with_a_config_file() {
    let server = shared_server();
    let dir = std::env::temp_dir().join(format!("cache-http-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cache.yaml");
    std::fs::write(
        &file,
        format!(
            "cache:\n  type: redis\n  key_prefix: \"example{}:\"\n  redis:\n    addrs: [\"{}\"]\n",
            std::process::id(),
            server.addr()
        ),
    )
    .unwrap();
    let (base, backend, shutdown, task) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--config",
        file.to_str().unwrap(),
        "--admin-token",
        TOKEN,
    ])
    .await;
    assert_eq!(backend, "redis");
    drive(&base, &backend).await;
    stop(shutdown, task).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
