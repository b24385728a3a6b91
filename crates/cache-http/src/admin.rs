//! The admin API a backoffice console calls: an axum [`Router`] that a
//! service nests under any path, behind an auth layer it supplies
//! ([`BearerAuthLayer`](crate::BearerAuthLayer) is provided).
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /cache/keys?pattern=&cursor=&count=` | `{"keys": [...], "next_cursor": "…" or null}` |
//! | `GET /cache/keys/{key}` | `{"key", "encoding": "cbor"/"text"/"base64", "value", "ttl_ms"}` |
//! | `DELETE /cache/keys/{key}` | `{"deleted": true}`, or `404` |
//! | `DELETE /cache/pattern?pattern=&dry_run=` | `{"deleted": n}`; a dry run `{"deleted": 0, "matched": n, "dry_run": true}` |
//! | `GET /cache/stats` | the cache's counters |
//!
//! `?tenant=` scopes any route to that tenant's cache (from the
//! [`CacheSource`]); a per-tenant source resolves ids the way cachectl's
//! `--tenant` does (escaped into the tenant's own namespace), so no pattern
//! or tenant id reaches outside it. A [`CacheSource::fixed`] source has no
//! tenants and refuses `?tenant=`. `count` is clamped to 1..=1000 (default
//! 100). Values are shown as JSON when they decode as CBOR within the codec's
//! limits, else as text or base64. `ttl_ms` is the time the key has left
//! ([`Cache::ttl`]), `null` for a key that never
//! expires. Errors are RFC 9457 problem details.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use cache_core::{Cache, CacheError, ScanCursor, codec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::problem::{PROBLEM_JSON, Problem};
use crate::source::CacheSource;

/// The largest `count` a page may ask for.
pub const MAX_COUNT: usize = 1000;
/// The `count` of a page that names none.
pub const DEFAULT_COUNT: usize = 100;
/// The most keys a dry run counts before it stops (and says so).
pub const MAX_DRY_RUN: u64 = 1_000_000;

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        (
            status,
            [(axum::http::header::CONTENT_TYPE, PROBLEM_JSON)],
            self.to_bytes(),
        )
            .into_response()
    }
}

impl From<CacheError> for Problem {
    fn from(e: CacheError) -> Self {
        Problem::from_cache_error(&e)
    }
}

/// The admin routes over `source`.
pub fn router(source: CacheSource) -> Router {
    Router::new()
        .route("/cache/keys", get(list_keys))
        .route("/cache/keys/{key}", get(read_key).delete(delete_key))
        .route("/cache/pattern", axum::routing::delete(delete_pattern))
        .route("/cache/stats", get(stats))
        .with_state(Arc::new(source))
}

type AdminState = State<Arc<CacheSource>>;

#[derive(Debug, Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct KeysQuery {
    tenant: Option<String>,
    pattern: Option<String>,
    cursor: Option<String>,
    count: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct PatternQuery {
    tenant: Option<String>,
    pattern: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

fn bad_query(e: QueryRejection) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, e.body_text())
}

async fn scoped(source: &CacheSource, tenant: Option<&str>) -> Result<Arc<dyn Cache>, Problem> {
    if tenant.is_some() && !source.is_per_tenant() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "this service has no tenants: drop the tenant parameter",
        ));
    }
    Ok(source.cache(tenant).await?)
}

/// The cache that a request's `?tenant=` names (the service's own without
/// it): what the routes that take only a tenant work on.
struct TenantCache(Arc<dyn Cache>);

impl FromRequestParts<Arc<CacheSource>> for TenantCache {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        source: &Arc<CacheSource>,
    ) -> Result<Self, Problem> {
        let Query(q) = Query::<TenantQuery>::from_request_parts(parts, source)
            .await
            .map_err(bad_query)?;
        Ok(TenantCache(scoped(source, q.tenant.as_deref()).await?))
    }
}

async fn list_keys(
    State(source): AdminState,
    query: Result<Query<KeysQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(bad_query)?;
    let cache = scoped(&source, q.tenant.as_deref()).await?;
    let count = q.count.unwrap_or(DEFAULT_COUNT).clamp(1, MAX_COUNT);
    let cursor = ScanCursor::from_string(q.cursor.unwrap_or_default());
    let page = cache
        .scan_keys(q.pattern.as_deref().unwrap_or("*"), &cursor, count)
        .await?;
    Ok(Json(json!({
        "keys": page.keys,
        "next_cursor": page.next.map(|c| c.as_str().to_owned()),
    })))
}

/// A stored value as JSON: decoded CBOR, else text, else base64.
fn show(value: &[u8]) -> (&'static str, Value) {
    if let Ok(decoded) = codec::from_slice::<Value>(value) {
        return ("cbor", decoded);
    }
    match std::str::from_utf8(value) {
        Ok(text) => ("text", Value::String(text.to_owned())),
        Err(_) => (
            "base64",
            Value::String(base64::engine::general_purpose::STANDARD.encode(value)),
        ),
    }
}

async fn read_key(
    Path(key): Path<String>,
    TenantCache(cache): TenantCache,
) -> Result<Json<Value>, Problem> {
    let Some(value) = cache.get(&key).await? else {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such key"));
    };
    let ttl_ms = match cache.ttl(&key).await? {
        cache_core::KeyTtl::Remaining(left) => {
            Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
        }
        // Gone between the two reads, or kept without expiry.
        _ => None,
    };
    let (encoding, value) = show(&value);
    Ok(Json(json!({
        "key": key,
        "encoding": encoding,
        "value": value,
        "ttl_ms": ttl_ms,
    })))
}

async fn delete_key(
    Path(key): Path<String>,
    TenantCache(cache): TenantCache,
) -> Result<Json<Value>, Problem> {
    if !cache.delete(&key).await? {
        return Err(Problem::new(StatusCode::NOT_FOUND, "no such key"));
    }
    Ok(Json(json!({ "deleted": true })))
}

async fn delete_pattern(
    State(source): AdminState,
    query: Result<Query<PatternQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(bad_query)?;
    let Some(pattern) = q.pattern.filter(|p| !p.is_empty()) else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "the pattern parameter is required",
        ));
    };
    let cache = scoped(&source, q.tenant.as_deref()).await?;
    if !q.dry_run {
        let deleted = cache.delete_pattern(&pattern).await?;
        return Ok(Json(json!({ "deleted": deleted })));
    }
    let mut matched = 0u64;
    let mut cursor = ScanCursor::start();
    let truncated = loop {
        let page = cache.scan_keys(&pattern, &cursor, MAX_COUNT).await?;
        matched += page.keys.len() as u64;
        match page.next {
            Some(next) if matched < MAX_DRY_RUN => cursor = next,
            Some(_) => break true,
            None => break false,
        }
    };
    Ok(Json(json!({
        "deleted": 0,
        "matched": matched,
        "dry_run": true,
        "truncated": truncated,
    })))
}

async fn stats(TenantCache(cache): TenantCache) -> Result<Json<Value>, Problem> {
    let stats = cache.stats();
    let operations: serde_json::Map<String, Value> = stats
        .operations
        .iter()
        .map(|(op, n)| (op.as_str().to_owned(), json!(n)))
        .collect();
    Ok(Json(json!({
        "hits": stats.hits,
        "misses": stats.misses,
        "errors": stats.errors,
        "hit_ratio": stats.hit_ratio(),
        "entries": stats.entries,
        "bytes": stats.bytes,
        "operations": operations,
    })))
}
