//! Idempotency keys (the IETF httpapi `Idempotency-Key` draft) on unsafe
//! methods, over [`cache_patterns::Idempotency`].
//!
//! - The first request with a key runs. Its response (status, the configured
//!   headers, the body up to a size limit) is stored for a TTL (300 s by
//!   default) with a fingerprint of the request (method, path and query,
//!   SHA-256 of the body).
//! - A duplicate after completion gets the stored response replayed, marked
//!   with `Idempotent-Replayed: true`; a duplicate while the first is in flight
//!   gets `409 Conflict`; the same key with a different request gets
//!   `422 Unprocessable Content`.
//! - Keys are scoped by the [`Tenant`](crate::identity::Tenant) and
//!   [`Principal`](crate::identity::Principal) extensions: two users never
//!   share a key.
//! - A first request that fails (a 5xx, an error or a panic of the handler)
//!   releases its claim, so a retry runs; so does a `409` or `429` from the
//!   layers inside (a lock held, a rate limit): the request was not processed. A first request whose client went
//!   away keeps its claim until the TTL: whether its side effect happened is
//!   unknown, and running it twice is what the key exists to prevent.
//! - A route built with [`required(true)`](IdempotencyLayer::required) answers
//!   `400` to a request without a key.
//! - A cache that cannot answer fails the request (`503`): running it without
//!   the guarantee could apply it twice.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_patterns::Idempotency;
use cache_patterns::idempotency::Claim;
use futures::FutureExt;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tracing::Instrument;

use crate::body::{Buffered, CacheBody, buffer};
use crate::future::{count_outcome, passthrough};
use crate::identity::{cache_key, principal_of, sha256, tenant_of};
use crate::problem::Problem;
use crate::source::{CacheSource, PerCache};

pub use crate::future::ResponseFuture;

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header that marks a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// What is stored for a completed request.
#[derive(Debug, Deserialize)]
struct Stored {
    fingerprint: ByteBuf,
    status: u16,
    headers: Vec<(String, ByteBuf)>,
    body: ByteBuf,
}

/// [`Stored`] as written: the same fields and encoding, borrowed from the
/// response instead of copied.
#[derive(Serialize)]
struct StoredRef<'a> {
    fingerprint: &'a serde_bytes::Bytes,
    status: u16,
    headers: Vec<(&'a str, &'a serde_bytes::Bytes)>,
    body: &'a serde_bytes::Bytes,
}

#[derive(Debug, Clone)]
struct Config {
    source: CacheSource,
    ttl: Duration,
    required: bool,
    max_body: usize,
    max_request_body: usize,
    replay_headers: Vec<HeaderName>,
    prefix: String,
}

/// De-duplicates unsafe requests that carry an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotencyLayer {
    config: Config,
}

impl IdempotencyLayer {
    /// Keys optional, TTL 300 s, responses stored up to 64 KiB of body,
    /// request bodies read up to 1 MiB, `Content-Type` and `Location`
    /// replayed, records under `idempotency:http:`.
    pub fn new(source: impl Into<CacheSource>) -> Self {
        IdempotencyLayer {
            config: Config {
                source: source.into(),
                ttl: Idempotency::DEFAULT_TTL,
                required: false,
                max_body: 64 * 1024,
                max_request_body: 1024 * 1024,
                replay_headers: vec![header::CONTENT_TYPE, header::LOCATION],
                prefix: "idempotency:http:".to_owned(),
            },
        }
    }

    crate::future::config_setters! {
        /// How long a claim and its stored response live (default 300 s).
        ttl: Duration;
        /// Whether a request without a key is refused with `400` (default: it
        /// runs without de-duplication).
        required: bool;
        /// The largest response body stored for replay (default 64 KiB). A
        /// larger body is sent but not stored: replays carry the status and
        /// headers with an empty body.
        max_body: usize;
        /// The largest request body read to fingerprint the request (default
        /// 1 MiB); larger requests get `413`.
        max_request_body: usize;
        /// The response headers stored and replayed (default `Content-Type`,
        /// `Location`).
        replay_headers: impl IntoIterator<Item = HeaderName> => collect;
        /// The key prefix of the records (default `idempotency:http:`).
        prefix: impl Into<String> => into;
    }
}

crate::future::layer_struct! {
    /// The service of [`IdempotencyLayer`]. The inner service gets the request
    /// with its body already read ([`CacheBody`]).
    IdempotencyLayer => IdempotencyService { patterns: PerCache<Idempotency> }
}

const METRIC: &str = "cache.http.idempotency";

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The key of a request: `Ok(None)` without the header, `Err` when it is
/// not a visible ASCII string of 1 to [`MAX_KEY_LEN`] bytes.
fn key_of(headers: &http::HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bad = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    // The draft's value is a structured-field string ("…"); bare tokens are
    // accepted too, as most clients send them.
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() || text.len() > MAX_KEY_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

/// Whether a first response is stored for replay. A 5xx, and the answers
/// that say the request was not processed for now (`409`: a lock held, `429`:
/// a rate limit), release the claim instead, so a retry runs.
fn replayable(status: StatusCode) -> bool {
    !(status.is_server_error()
        || status == StatusCode::CONFLICT
        || status == StatusCode::TOO_MANY_REQUESTS)
}

/// SHA-256 of `method NUL target NUL SHA-256(body)`, fed to the hasher
/// piece by piece.
fn fingerprint(parts: &http::request::Parts, body: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut hasher = sha2::Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(target.as_bytes());
    hasher.update([0]);
    hasher.update(sha256(body));
    hasher.finalize().into()
}

fn replay<B>(stored: Stored) -> Response<CacheBody<B>> {
    let mut response = Response::new(CacheBody::full(stored.body.into_vec()));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_bytes(&value))
        {
            response.headers_mut().append(name, value);
        }
    }
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

crate::future::layer_service! {
    IdempotencyService,
    request = Request<CacheBody<ReqBody>>,
    req_body = [Body<Data = Bytes> + Unpin +],
    res_body = [Body<Data = Bytes> + Unpin +];
    fn call(&mut self, req) {
        let (mut inner, config) = self.ready();
        let patterns = Arc::clone(&self.patterns);
        let span = tracing::debug_span!("cache.http.idempotency", outcome = tracing::field::Empty);
        ResponseFuture::new(
            async move {
                let (parts, body) = req.into_parts();
                if is_safe(&parts.method) {
                    return inner
                        .call(Request::from_parts(parts, CacheBody::inner(body)))
                        .await
                        .map(passthrough);
                }
                let key = match key_of(&parts.headers) {
                    Ok(Some(key)) => key,
                    Ok(None) if !config.required => {
                        return inner
                            .call(Request::from_parts(parts, CacheBody::inner(body)))
                            .await
                            .map(passthrough);
                    }
                    Ok(None) => {
                        count_outcome(METRIC, "missing_key");
                        return Ok(Problem::new(
                            StatusCode::BAD_REQUEST,
                            "this route requires an Idempotency-Key header",
                        )
                        .into_cache_response());
                    }
                    Err(problem) => return Ok(problem.into_cache_response()),
                };
                let body = match buffer(body, config.max_request_body).await.map_err(drop) {
                    Ok(Buffered::Complete(bytes)) => bytes,
                    Ok(Buffered::TooLarge(..)) => {
                        return Ok(Problem::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "request bodies of idempotent requests are limited to {} bytes",
                                config.max_request_body
                            ),
                        )
                        .into_cache_response());
                    }
                    Err(_) => {
                        return Ok(Problem::new(
                            StatusCode::BAD_REQUEST,
                            "the request body could not be read",
                        )
                        .into_cache_response());
                    }
                };
                let fingerprint = fingerprint(&parts, &body);
                let tenant = tenant_of(&parts);
                let scoped = cache_key(
                    "",
                    &[tenant.unwrap_or(""), principal_of(&parts).unwrap_or(""), &key],
                );
                let cache = match config.source.cache(tenant).await {
                    Ok(cache) => cache,
                    Err(e) => return Ok(unavailable(&e)),
                };
                let requests = patterns.get(tenant, &cache, |cache| {
                    Idempotency::new(cache)
                        .prefix(config.prefix.as_str())
                        .ttl(config.ttl)
                });
                let ticket = match requests.claim::<Stored>(&scoped, None).await {
                    Ok(Claim::First(ticket)) => ticket,
                    Ok(Claim::InProgress) => {
                        count_outcome(METRIC, "in_flight");
                        return Ok(Problem::new(
                            StatusCode::CONFLICT,
                            "a request with this Idempotency-Key is being processed",
                        )
                        .into_cache_response());
                    }
                    Ok(Claim::Completed(stored)) => {
                        if stored.fingerprint.as_slice() != fingerprint {
                            count_outcome(METRIC, "mismatch");
                            return Ok(Problem::new(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "this Idempotency-Key was used for a different request",
                            )
                            .into_cache_response());
                        }
                        count_outcome(METRIC, "replay");
                        return Ok(replay(stored));
                    }
                    Ok(_) => {
                        return Ok(Problem::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "unknown idempotency claim state",
                        )
                        .into_cache_response());
                    }
                    Err(e) => return Ok(unavailable(&e)),
                };
                count_outcome(METRIC, "first");
                let request = Request::from_parts(parts, CacheBody::full(body));
                let outcome = AssertUnwindSafe(inner.call(request)).catch_unwind().await;
                let release = |ticket| async {
                    if let Err(e) = requests.release(ticket).await {
                        tracing::warn!(error = %e, "releasing an idempotency claim failed; it expires by its TTL");
                    }
                };
                let response = match outcome {
                    Err(panic) => {
                        release(ticket).await;
                        std::panic::resume_unwind(panic);
                    }
                    Ok(Err(e)) => {
                        release(ticket).await;
                        return Err(e);
                    }
                    Ok(Ok(response)) => response,
                };
                if !replayable(response.status()) {
                    release(ticket).await;
                    return Ok(passthrough(response));
                }
                let (mut head, body) = response.into_parts();
                let (stored_body, body) = match buffer(body, config.max_body).await.map_err(drop) {
                    Ok(Buffered::Complete(bytes)) => (bytes.clone(), CacheBody::full(bytes)),
                    Ok(Buffered::TooLarge(prefix, rest)) => {
                        (Bytes::new(), CacheBody::chained(prefix, rest))
                    }
                    Err(_) => {
                        release(ticket).await;
                        return Ok(Problem::new(
                            StatusCode::BAD_GATEWAY,
                            "the handler's response body failed",
                        )
                        .into_cache_response());
                    }
                };
                let stored = StoredRef {
                    fingerprint: serde_bytes::Bytes::new(&fingerprint),
                    status: head.status.as_u16(),
                    headers: config
                        .replay_headers
                        .iter()
                        .flat_map(|name| {
                            head.headers.get_all(name).iter().map(move |v| {
                                (name.as_str(), serde_bytes::Bytes::new(v.as_bytes()))
                            })
                        })
                        .collect(),
                    body: serde_bytes::Bytes::new(&stored_body),
                };
                match requests.complete(ticket, &stored).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("an idempotency claim expired before its request completed"),
                    Err(e) => tracing::warn!(error = %e, "storing an idempotent response failed"),
                }
                head.headers.remove(&IDEMPOTENT_REPLAYED);
                Ok(Response::from_parts(head, body))
            }
            .instrument(span),
        )
    }
}

fn unavailable<B>(e: &cache_core::CacheError) -> Response<CacheBody<B>> {
    tracing::warn!(error = %e, "idempotency store unavailable; refusing the request");
    Problem::for_client(e).into_cache_response()
}
