//! The admin API over real HTTP, on per-tenant caches built by cache-manager.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use cache_core::{Cache, TypedCacheExt};
use cache_http::{BearerAuthLayer, admin};
use http::StatusCode;

use crate::support::{Backend, TestClient, TestServer, serve, tenant_cache, tenant_source};

const TOKEN: &str = "s3cret-admin-token";
const TTL: Duration = Duration::from_secs(300);

async fn admin_server(setup: &cache_manager::CacheSetup) -> TestServer {
    let app = Router::new().nest(
        "/admin",
        admin::router(tenant_source(setup)).layer(BearerAuthLayer::new(TOKEN)),
    );
    serve(app).await
}

fn auth() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

async fn paging_returns_every_key_exactly_once(backend: Backend) {
    let (setup, _server) = backend.setup().await;
    let acme = tenant_cache(&setup, "acme").await;
    let expected: BTreeSet<String> = (0..230).map(|i| format!("user:{i}")).collect();
    for key in &expected {
        acme.set(key, b"v", TTL).await.unwrap();
    }
    acme.set("other:1", b"v", TTL).await.unwrap();
    let server = admin_server(&setup).await;
    let client = TestClient::new();
    let (name, value) = auth();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..1000 {
        let url = server.url(&format!(
            "/admin/cache/keys?tenant=acme&pattern=user:*&count=17&cursor={cursor}"
        ));
        let page = client.get(&url, &[(name, &value)]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let body = page.json();
        seen.extend(
            body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a key was listed twice");
    assert_eq!(unique, expected);
    setup.close().await.unwrap();
}

async fn reads_deletes_and_pattern_deletes_stay_in_the_tenant(backend: Backend) {
    let (setup, _server) = backend.setup().await;
    let acme = tenant_cache(&setup, "acme").await;
    let globex = tenant_cache(&setup, "globex").await;
    acme.set_as("user:1", &serde_json::json!({"name": "Ada"}), TTL)
        .await
        .unwrap();
    acme.set("user:2", b"plain text", TTL).await.unwrap();
    globex.set("user:1", b"globex's", TTL).await.unwrap();
    let server = admin_server(&setup).await;
    let client = TestClient::new();
    let (name, value) = auth();
    let h = [(name, value.as_str())];

    let read = client
        .get(&server.url("/admin/cache/keys/user:1?tenant=acme"), &h)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.json()["value"], serde_json::json!({"name": "Ada"}));
    assert_eq!(read.json()["encoding"], "cbor");
    let ttl_ms = read.json()["ttl_ms"]
        .as_u64()
        .expect("a TTL in milliseconds");
    assert!(ttl_ms > 0 && ttl_ms <= TTL.as_millis() as u64, "{ttl_ms}");
    let text = client
        .get(&server.url("/admin/cache/keys/user:2?tenant=acme"), &h)
        .await;
    assert_eq!(
        (
            text.json()["encoding"].clone(),
            text.json()["value"].clone()
        ),
        ("text".into(), "plain text".into())
    );

    // Hostile tenant ids and patterns: nothing of acme or globex is listed,
    // read or deleted.
    let hostile_tenants = [
        "acme}:",
        "*",
        "acme:*",
        "tenant:{acme}:",
        "glo*",
        "%2A",
        "a%00b",
        "",
    ];
    let hostile_patterns = ["*", "*user*", "tenant:*", "\\*", "[a-z]*", "*{acme}*", "**"];
    for tenant in hostile_tenants {
        for pattern in hostile_patterns {
            let pattern_q = pattern
                .replace('\\', "%5C")
                .replace('[', "%5B")
                .replace(']', "%5D")
                .replace('{', "%7B")
                .replace('}', "%7D");
            let tenant_q = tenant.replace('{', "%7B").replace('}', "%7D");
            let listed = client
                .get(
                    &server.url(&format!(
                        "/admin/cache/keys?tenant={tenant_q}&pattern={pattern_q}&count=1000"
                    )),
                    &h,
                )
                .await;
            if listed.status == StatusCode::OK {
                assert_eq!(
                    listed.json()["keys"],
                    serde_json::json!([]),
                    "tenant {tenant:?} pattern {pattern:?}"
                );
            } else {
                assert!(
                    listed.status.is_client_error(),
                    "{}: {}",
                    listed.status,
                    listed.text()
                );
                assert_eq!(
                    listed.header("content-type"),
                    Some("application/problem+json")
                );
            }
            let deleted = client
                .delete(
                    &server.url(&format!(
                        "/admin/cache/pattern?tenant={tenant_q}&pattern={pattern_q}"
                    )),
                    &h,
                )
                .await;
            if deleted.status == StatusCode::OK {
                assert_eq!(
                    deleted.json()["deleted"],
                    0,
                    "tenant {tenant:?} pattern {pattern:?}"
                );
            }
        }
        let read = client
            .get(
                &server.url(&format!(
                    "/admin/cache/keys/user:1?tenant={}",
                    tenant.replace('{', "%7B").replace('}', "%7D")
                )),
                &h,
            )
            .await;
        assert_ne!(
            read.status,
            StatusCode::OK,
            "tenant {tenant:?} read {}",
            read.text()
        );
    }
    assert!(acme.get("user:1").await.unwrap().is_some());
    assert_eq!(
        globex.get("user:1").await.unwrap().as_deref(),
        Some(&b"globex's"[..])
    );

    // A dry run counts, the real run deletes, inside the tenant only.
    let dry = client
        .delete(
            &server.url("/admin/cache/pattern?tenant=acme&pattern=user:*&dry_run=true"),
            &h,
        )
        .await;
    assert_eq!(
        (dry.json()["matched"].clone(), dry.json()["deleted"].clone()),
        (2.into(), 0.into())
    );
    let real = client
        .delete(
            &server.url("/admin/cache/pattern?tenant=acme&pattern=user:*"),
            &h,
        )
        .await;
    assert_eq!(real.json()["deleted"], 2);
    assert!(acme.get("user:1").await.unwrap().is_none());
    assert_eq!(
        globex.get("user:1").await.unwrap().as_deref(),
        Some(&b"globex's"[..])
    );

    // Single deletes and the stats.
    let gone = client
        .delete(&server.url("/admin/cache/keys/user:1?tenant=globex"), &h)
        .await;
    assert_eq!(gone.json()["deleted"], true);
    let missing = client
        .get(&server.url("/admin/cache/keys/user:1?tenant=globex"), &h)
        .await;
    assert_eq!(
        (missing.status, missing.json()["status"].clone()),
        (StatusCode::NOT_FOUND, 404.into())
    );
    let stats = client
        .get(&server.url("/admin/cache/stats?tenant=globex"), &h)
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text());
    assert!(stats.json()["operations"].is_object());
    // Counts are clamped.
    let page = client
        .get(
            &server.url("/admin/cache/keys?tenant=acme&count=100000000"),
            &h,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let bad = client
        .get(&server.url("/admin/cache/keys?tenant=acme&count=-1"), &h)
        .await;
    assert_eq!(
        (bad.status, bad.header("content-type")),
        (StatusCode::BAD_REQUEST, Some("application/problem+json"))
    );
    setup.close().await.unwrap();
}

async fn a_missing_or_wrong_token_gets_401(backend: Backend) {
    let (setup, _server) = backend.setup().await;
    let server = admin_server(&setup).await;
    let client = TestClient::new();
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token")],
        vec![("authorization", "Basic czNjcmV0LWFkbWluLXRva2Vu")],
        vec![("authorization", "Bearer s3cret-admin-toke")],
    ] {
        let answer = client
            .get(&server.url("/admin/cache/keys?tenant=acme"), &headers)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        assert!(!answer.text().contains(TOKEN));
    }
    setup.close().await.unwrap();
}

crate::on_backends!(
    paging_returns_every_key_exactly_once,
    reads_deletes_and_pattern_deletes_stay_in_the_tenant,
    a_missing_or_wrong_token_gets_401,
);
