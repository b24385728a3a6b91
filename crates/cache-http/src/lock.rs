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
use std::time::Duration;

use cache_patterns::DistributedLock;
use futures::FutureExt;
use http::request::Parts;
use http::{Request, StatusCode};
use tracing::Instrument;

use crate::future::{count_outcome, passthrough};
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

    crate::future::config_setters! {
        /// How long a lock lives if its holder never releases it (default 30 s).
        ttl: Duration;
        /// How long a request waits for a held lock before `409` (default zero).
        wait: Duration;
        /// Hands the handler a [`FencingToken`] (one more round trip per request).
        fencing: bool;
        /// Extends the lock while the handler runs, up to `cap` in total.
        watchdog: Duration => Some;
        /// The key prefix (default `lock:http:`).
        prefix: impl Into<String> => into;
    }
}

crate::future::layer_struct! {
    /// The service of [`LockLayer`].
    LockLayer => Lock { locks: PerCache<DistributedLock> }
}

const METRIC: &str = "cache.http.lock";

crate::future::layer_service! {
    Lock;
    fn call(&mut self, req) {
        let (mut inner, config) = self.ready();
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
                let locks = locks
                    .resolve(&config.source, tenant.as_deref(), |cache| {
                        let mut locks = DistributedLock::new(cache)
                            .prefix(config.prefix.as_str())
                            .fencing(config.fencing);
                        if let Some(cap) = config.watchdog {
                            locks = locks.watchdog(cap);
                        }
                        locks
                    })
                    .await;
                let locks = match locks {
                    Ok(locks) => locks,
                    Err(e) => {
                        tracing::warn!(error = %e, "no cache for a request lock");
                        return Ok(Problem::for_client(&e).into_cache_response());
                    }
                };
                let key = cache_key("", &[tenant.as_deref().unwrap_or(""), &key]);
                let acquired = if config.wait.is_zero() {
                    locks.try_acquire(&key, config.ttl).await
                } else {
                    locks.acquire(&key, config.ttl, config.wait).await
                };
                let guard = match acquired {
                    Ok(Some(guard)) => guard,
                    Ok(None) => {
                        count_outcome(METRIC, if config.wait.is_zero() { "conflict" } else { "timeout" });
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
                count_outcome(METRIC, "acquired");
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
