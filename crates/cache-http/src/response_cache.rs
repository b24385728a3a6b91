//! Response caching for `GET` and `HEAD`, over [`cache_patterns::CacheAside`]
//! (so concurrent misses of one key run the handler once per process).
//!
//! - The key is made of the method, the path, the query, the configured
//!   `Vary` headers' values and the [`Tenant`](crate::identity::Tenant).
//! - Stored: responses with a status that is cacheable by default (200, 203,
//!   204, 300, 301, 308, 404, 410) whose `Cache-Control` has neither
//!   `no-store`, `private` nor `no-cache`, without `Set-Cookie` or `Vary: *`,
//!   with a body up to the size limit (64 KiB by default). Everything else is
//!   passed on as it is (`X-Cache: miss`, counted as `bypass`).
//! - TTL per layer (so per route); with a [`soft_ttl`](ResponseCacheLayer::soft_ttl),
//!   a response past it is refreshed by the next request, and served stale
//!   (`X-Cache: stale`) while the handler fails (5xx or an error) until the
//!   hard TTL.
//! - Responses are shared by every request with the same key: when they differ
//!   per user, put the header that tells users apart (e.g. `Authorization`)
//!   in [`vary`](ResponseCacheLayer::vary), or do not cache the route.
//! - Every response the layer answers with carries `X-Cache: hit|miss|stale`;
//!   stored ones also carry `Age`. `hit` means this request did not run the
//!   handler (it found the response stored, or shared another request's run).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cache_patterns::CacheAside;
use cache_patterns::aside::{AsideError, Clock};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tower_service::Service;
use tracing::Instrument;

use crate::body::{Buffered, CacheBody, buffer};
use crate::future::{count_outcome, passthrough};
use crate::identity::cache_key;
use crate::problem::Problem;
use crate::source::{CacheSource, PerCache};

pub use crate::future::ResponseFuture;

/// The response header saying where the response came from.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A stored response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    status: u16,
    headers: Vec<(String, ByteBuf)>,
    body: ByteBuf,
    stored_at_ms: u64,
}

#[derive(Debug, Clone)]
struct Config {
    source: CacheSource,
    ttl: Duration,
    soft_ttl: Option<Duration>,
    vary: Vec<HeaderName>,
    max_body: usize,
    prefix: String,
    clock: WallClock,
}

/// The wall clock a layer was given, if any (a closure: its `Debug` says
/// only whether there is one).
#[derive(Clone, Default)]
struct WallClock(Option<Clock>);

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "manual" } else { "system" })
    }
}

impl Config {
    fn now(&self) -> SystemTime {
        self.clock.0.as_ref().map_or_else(SystemTime::now, |c| c())
    }

    fn now_ms(&self) -> u64 {
        millis(self.now())
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Caches the `GET` and `HEAD` responses of the services it wraps.
#[derive(Debug, Clone)]
pub struct ResponseCacheLayer {
    config: Config,
}

impl ResponseCacheLayer {
    /// Responses kept for `ttl`, no soft TTL, no `Vary` headers, bodies up
    /// to 64 KiB, keys under `http:response:`.
    pub fn new(source: impl Into<CacheSource>, ttl: Duration) -> Self {
        ResponseCacheLayer {
            config: Config {
                source: source.into(),
                ttl,
                soft_ttl: None,
                vary: Vec::new(),
                max_body: 64 * 1024,
                prefix: "http:response:".to_owned(),
                clock: WallClock::default(),
            },
        }
    }

    crate::future::config_setters! {
        /// Past `soft_ttl`, a response is refreshed, and served stale while the
        /// handler fails, until the hard TTL.
        soft_ttl: Duration => Some;
        /// Request headers whose values are part of the key (e.g. `Accept-Language`).
        vary: impl IntoIterator<Item = HeaderName> => collect;
        /// The largest body stored (default 64 KiB); larger responses pass.
        max_body: usize;
        /// The key prefix (default `http:response:`).
        prefix: impl Into<String> => into;
    }

    /// The wall clock for `Age` and soft expiry (default: the system clock);
    /// tests pass a manual one.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config.clock = WallClock(Some(clock));
        self
    }
}

crate::future::layer_struct! {
    /// The service of [`ResponseCacheLayer`].
    ResponseCacheLayer => ResponseCache { asides: PerCache<CacheAside> }
}

const METRIC: &str = "cache.http.response_cache";

/// Why this request's own handler run did not produce a stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotStored {
    /// The response may not be stored (no-store, private, too large…).
    Uncacheable,
    /// The handler failed (5xx or an error): a stale response may serve.
    Failed,
}

impl std::fmt::Display for NotStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotStored::Uncacheable => "the response may not be stored",
            NotStored::Failed => "the handler failed",
        })
    }
}

impl std::error::Error for NotStored {}

/// What this request hands to (and gets back from) its loader.
struct Slot<S, ReqBody, ResBody, E> {
    service: Option<S>,
    request: Option<Request<ReqBody>>,
    response: Option<Result<Response<CacheBody<ResBody>>, E>>,
    not_stored: Option<NotStored>,
    ran: bool,
}

type SharedSlot<S, ReqBody, ResBody> =
    Arc<Mutex<Slot<S, ReqBody, ResBody, <S as Service<Request<ReqBody>>>::Error>>>;

/// Response headers never stored: hop-by-hop ones, and `Age` (computed).
const NOT_STORED: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "age",
];

fn cacheable(status: StatusCode, headers: &HeaderMap) -> bool {
    if !matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 410
    ) {
        return false;
    }
    if headers.contains_key(header::SET_COOKIE) {
        return false;
    }
    let directive = |name: &str| {
        headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',').any(|d| {
                    let d = d.trim();
                    let d = d.split('=').next().unwrap_or(d).trim();
                    d.eq_ignore_ascii_case(name)
                })
            })
        })
    };
    if directive("no-store") || directive("private") || directive("no-cache") {
        return false;
    }
    !headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|d| d.trim() == "*"))
    })
}

impl Cached {
    fn into_response<B>(self, outcome: &'static str, now_ms: u64) -> Response<CacheBody<B>> {
        let age = now_ms.saturating_sub(self.stored_at_ms) / 1000;
        let mut response = Response::new(CacheBody::full(self.body.into_vec()));
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::from_bytes(&value))
            {
                headers.append(name, value);
            }
        }
        headers.insert(header::AGE, HeaderValue::from(age));
        headers.insert(X_CACHE, HeaderValue::from_static(outcome));
        response
    }
}

fn mark<B>(mut response: Response<CacheBody<B>>, outcome: &'static str) -> Response<CacheBody<B>> {
    response
        .headers_mut()
        .insert(X_CACHE, HeaderValue::from_static(outcome));
    response
}

crate::future::layer_service! {
    ResponseCache,
    res_body = [Body<Data = Bytes> + Unpin +];
    fn call(&mut self, req) {
        let (mut service, config) = self.ready();
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let call = service.call(req);
            return ResponseFuture::new(async move { call.await.map(passthrough) });
        }
        let asides = Arc::clone(&self.asides);
        let span =
            tracing::debug_span!("cache.http.response_cache", outcome = tracing::field::Empty);
        ResponseFuture::new(
            async move {
                let tenant = tenant_of_request(&req);
                let key = request_key(&config, &req, tenant.as_deref());
                let aside = asides
                    .resolve(&config.source, tenant.as_deref(), |cache| {
                        let mut aside = CacheAside::new(cache).ttl(config.ttl);
                        if let Some(soft) = config.soft_ttl {
                            aside = aside.soft_ttl(soft);
                        }
                        if let Some(clock) = &config.clock.0 {
                            aside = aside.clock(Arc::clone(clock));
                        }
                        aside
                    })
                    .await;
                let aside = match aside {
                    Ok(aside) => aside,
                    Err(e) => {
                        tracing::warn!(error = %e, "response cache unavailable; calling the handler");
                        count_outcome(METRIC, "bypass");
                        return service.call(req).await.map(|r| mark(passthrough(r), "miss"));
                    }
                };
                let slot = Arc::new(Mutex::new(Slot {
                    service: Some(service),
                    request: Some(req),
                    response: None,
                    not_stored: None,
                    ran: false,
                }));
                let loader = {
                    let slot = Arc::clone(&slot);
                    let config = Arc::clone(&config);
                    move || load(slot, config)
                };
                let found = aside.get_or_load(&key, config.ttl, loader).await;
                let (ran, not_stored, live, service, req) = {
                    let mut slot = slot.lock();
                    (slot.ran, slot.not_stored, slot.response.take(), slot.service.take(), slot.request.take())
                };
                let now_ms = config.now_ms();
                match found {
                    Ok(cached) => {
                        let outcome = match (ran, not_stored) {
                            (true, Some(NotStored::Uncacheable)) => None,
                            (true, Some(NotStored::Failed)) => Some("stale"),
                            (true, None) => Some("miss"),
                            (false, _) => {
                                let age = Duration::from_millis(now_ms.saturating_sub(cached.stored_at_ms));
                                Some(if config.soft_ttl.is_some_and(|soft| age >= soft) {
                                    "stale"
                                } else {
                                    "hit"
                                })
                            }
                        };
                        if outcome.is_none()
                            && let Some(live) = live
                        {
                            count_outcome(METRIC, "bypass");
                            return live.map(|r| mark(r, "miss"));
                        }
                        let outcome = outcome.unwrap_or("miss");
                        count_outcome(METRIC, outcome);
                        Ok(cached.into_response(outcome, now_ms))
                    }
                    Err(e) => {
                        if let Some(live) = live {
                            count_outcome(METRIC, if not_stored == Some(NotStored::Uncacheable) { "bypass" } else { "miss" });
                            return live.map(|r| mark(r, "miss"));
                        }
                        if let AsideError::Cache(e) = &e {
                            tracing::warn!(error = %e, "response cache failed; calling the handler");
                        }
                        // Another request's run was not stored (it failed, or
                        // its response was private): run the handler for this one.
                        let (Some(mut service), Some(req)) = (service, req) else {
                            return Ok(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "response cache lost the request").into_cache_response());
                        };
                        count_outcome(METRIC, "bypass");
                        service.call(req).await.map(|r| mark(passthrough(r), "miss"))
                    }
                }
            }
            .instrument(span),
        )
    }
}

fn tenant_of_request<B>(req: &Request<B>) -> Option<String> {
    req.extensions()
        .get::<crate::identity::Tenant>()
        .map(|t| t.0.clone())
}

fn request_key<B>(config: &Config, req: &Request<B>, tenant: Option<&str>) -> String {
    let mut parts: Vec<String> = vec![
        req.method().as_str().to_owned(),
        req.uri().path().to_owned(),
        req.uri().query().unwrap_or("").to_owned(),
        tenant.unwrap_or("").to_owned(),
    ];
    for name in &config.vary {
        let values: Vec<&[u8]> = req
            .headers()
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        parts.push(String::from_utf8_lossy(&values.join(&b","[..])).into_owned());
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    cache_key(&config.prefix, &parts)
}

/// This request's loader: runs the handler, and returns what to store, or
/// leaves the live response in the slot.
async fn load<S, ReqBody, ResBody>(
    slot: SharedSlot<S, ReqBody, ResBody>,
    config: Arc<Config>,
) -> Result<Cached, NotStored>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes> + Unpin,
{
    let (service, request) = {
        let mut slot = slot.lock();
        slot.ran = true;
        (slot.service.take(), slot.request.take())
    };
    let (Some(mut service), Some(request)) = (service, request) else {
        return Err(NotStored::Failed);
    };
    let leave = |response, why| {
        let mut slot = slot.lock();
        slot.response = Some(response);
        slot.not_stored = Some(why);
        Err(why)
    };
    let response = match service.call(request).await {
        Ok(response) => response,
        Err(e) => return leave(Err(e), NotStored::Failed),
    };
    if response.status().is_server_error() {
        return leave(Ok(passthrough(response)), NotStored::Failed);
    }
    if !cacheable(response.status(), response.headers()) {
        return leave(Ok(passthrough(response)), NotStored::Uncacheable);
    }
    let (head, body) = response.into_parts();
    match buffer(body, config.max_body).await.map_err(drop) {
        Ok(Buffered::Complete(bytes)) => Ok(Cached {
            status: head.status.as_u16(),
            headers: head
                .headers
                .iter()
                .filter(|(name, _)| !NOT_STORED.contains(&name.as_str()) && *name != X_CACHE)
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        ByteBuf::from(value.as_bytes().to_vec()),
                    )
                })
                .collect(),
            body: ByteBuf::from(bytes.to_vec()),
            stored_at_ms: config.now_ms(),
        }),
        Ok(Buffered::TooLarge(prefix, rest)) => leave(
            Ok(Response::from_parts(head, CacheBody::chained(prefix, rest))),
            NotStored::Uncacheable,
        ),
        Err(_) => leave(
            Ok(Problem::new(
                StatusCode::BAD_GATEWAY,
                "the handler's response body failed",
            )
            .into_cache_response()),
            NotStored::Failed,
        ),
    }
}
