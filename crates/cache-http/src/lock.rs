//! A distributed lock per route ([`cache_patterns::DistributedLock`]), keyed
//! from the request, e.g. `order:create:{principal}`.
//!
//! - While another request holds the lock, a request gets `409 Conflict` at
//!   once, or after waiting up to [`wait`](LockLayer::wait).
//! - The lock is released as soon as the handler has produced its response;
//!   when the handler panics, before the panic goes on; when the request is
//!   cancelled, by the lock guard's drop (on a detached task).
//! - With [`fencing`](LockLayer::fencing), the handler finds the
//!   acquisition's [`FencingToken`] in the request extensions.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cache_patterns::DistributedLock;
use futures::FutureExt;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::body::CacheBody;
use crate::future::{passthrough, take_ready};
use crate::identity::{KeyFn, cache_key, principal_of, tenant_of};
use crate::problem::Problem;
use crate::source::{CacheSource, PerCache};

pub use crate::future::ResponseFuture;

/// The fencing token of the lock a request holds: larger than the token of
/// every earlier holder of the same lock. A request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FencingToken(pub u64);

/// How a request's lock key is made.
#[derive(Clone)]
pub struct LockKey(KeyFn);

impl std::fmt::Debug for LockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockKey")
    }
}

impl LockKey {
    /// A key computed by `f`; `None` refuses the request (`400`).
    pub fn from_fn(f: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        LockKey(Arc::new(f))
    }

    /// A template: `{principal}`, `{tenant}`, `{method}` and `{path}` are
    /// replaced by the request's; a request without a principal (tenant)
    /// that the template names gets no key.
    pub fn template(template: &str) -> Self {
        let template = template.to_owned();
        Self::from_fn(move |parts| {
            let mut key = template.replace("{method}", parts.method.as_str());
            key = key.replace("{path}", parts.uri.path());
            if key.contains("{principal}") {
                key = key.replace("{principal}", principal_of(parts)?);
            }
            if key.contains("{tenant}") {
                key = key.replace("{tenant}", tenant_of(parts)?);
            }
            Some(key)
        })
    }

    fn of(&self, parts: &Parts) -> Option<String> {
        (self.0)(parts)
    }
}

#[derive(Debug, Clone)]
struct Config {
    source: CacheSource,
    key: LockKey,
    ttl: Duration,
    wait: Duration,
    fencing: bool,
    watchdog: Option<Duration>,
    prefix: String,
}

/// Holds a distributed lock around each request of the services it wraps.
#[derive(Debug, Clone)]
pub struct LockLayer {
    config: Config,
}

impl LockLayer {
    /// Locks keyed by `key`: TTL 30 s, no waiting, no fencing, no watchdog,
    /// keys under `lock:http:`.
    pub fn new(source: impl Into<CacheSource>, key: LockKey) -> Self {
        LockLayer {
            config: Config {
                source: source.into(),
                key,
                ttl: Duration::from_secs(30),
                wait: Duration::ZERO,
                fencing: false,
                watchdog: None,
                prefix: "lock:http:".to_owned(),
            },
        }
    }

    /// How long a lock lives if its holder never releases it (default 30 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    /// How long a request waits for a held lock before `409` (default zero).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.config.wait = wait;
        self
    }

    /// Hands the handler a [`FencingToken`] (one more round trip per request).
    pub fn fencing(mut self, on: bool) -> Self {
        self.config.fencing = on;
        self
    }

    /// Extends the lock while the handler runs, up to `cap` in total.
    pub fn watchdog(mut self, cap: Duration) -> Self {
        self.config.watchdog = Some(cap);
        self
    }

    /// The key prefix (default `lock:http:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.prefix = prefix.into();
        self
    }
}

impl<S> Layer<S> for LockLayer {
    type Service = Lock<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Lock {
            inner,
            config: Arc::new(self.config.clone()),
            locks: Arc::new(PerCache::new()),
        }
    }
}

/// The service of [`LockLayer`].
#[derive(Clone)]
pub struct Lock<S> {
    inner: S,
    config: Arc<Config>,
    locks: Arc<PerCache<DistributedLock>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Lock<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("cache.http.lock", "outcome" => outcome).increment(1);
    tracing::Span::current().record("outcome", outcome);
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Lock<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<CacheBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let mut inner = take_ready(&mut self.inner);
        let config = Arc::clone(&self.config);
        let locks = Arc::clone(&self.locks);
        let span = tracing::debug_span!("cache.http.lock", outcome = tracing::field::Empty);
        ResponseFuture::new(
            async move {
                let (mut parts, body) = req.into_parts();
                let Some(key) = config.key.of(&parts) else {
                    return Ok(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "the request lacks what this route's lock key is made of",
                    )
                    .into_cache_response());
                };
                let tenant = tenant_of(&parts).map(str::to_owned);
                let cache = match config.source.cache(tenant.as_deref()).await {
                    Ok(cache) => cache,
                    Err(e) => {
                        tracing::warn!(error = %e, "no cache for a request lock");
                        return Ok(Problem::for_client(&e).into_cache_response());
                    }
                };
                let locks = locks.get(tenant.as_deref(), &cache, |cache| {
                    let mut locks = DistributedLock::new(cache)
                        .prefix(config.prefix.as_str())
                        .fencing(config.fencing);
                    if let Some(cap) = config.watchdog {
                        locks = locks.watchdog(cap);
                    }
                    locks
                });
                let key = cache_key("", &[tenant.as_deref().unwrap_or(""), &key]);
                let acquired = if config.wait.is_zero() {
                    locks.try_acquire(&key, config.ttl).await
                } else {
                    locks.acquire(&key, config.ttl, config.wait).await
                };
                let guard = match acquired {
                    Ok(Some(guard)) => guard,
                    Ok(None) => {
                        count(if config.wait.is_zero() { "conflict" } else { "timeout" });
                        return Ok(Problem::new(
                            StatusCode::CONFLICT,
                            "another request holds this resource's lock; retry later",
                        )
                        .into_cache_response());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "acquiring a request lock failed");
                        return Ok(Problem::for_client(&e).into_cache_response());
                    }
                };
                count("acquired");
                if let Some(token) = guard.fencing_token() {
                    parts.extensions.insert(FencingToken(token));
                }
                let outcome = AssertUnwindSafe(inner.call(Request::from_parts(parts, body)))
                    .catch_unwind()
                    .await;
                if let Err(e) = guard.release().await {
                    tracing::warn!(error = %e, "releasing a request lock failed; it expires by its TTL");
                }
                match outcome {
                    Ok(result) => result.map(passthrough),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            .instrument(span),
        )
    }
}
