//! Rate limits per route: one or more rules, each counting requests by a
//! [`RequestKey`] on the backend's clock ([`cache_patterns::RateLimiter`]).
//!
//! - A denied request is answered `429 Too Many Requests` with
//!   `Retry-After` (whole seconds, rounded up) and the `RateLimit-Policy` /
//!   `RateLimit` headers of the IETF httpapi draft; the handler does not run.
//! - An admitted response carries `RateLimit-Policy` and `RateLimit` with the
//!   remaining count of each rule.
//! - When the backend fails transiently the layer fails open (admits) or
//!   closed (`503`), as configured (closed by default); any other cache error
//!   always fails closed. Both are counted in `cache.http.rate_limit`.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use cache_http::ratelimit::{RateLimitLayer, Rule};
//! use cache_http::identity::{ClientIp, RequestKey};
//!
//! let cache: Arc<dyn cache_core::Cache> = Arc::new(cache_memory::MemoryCache::new());
//! let layer = RateLimitLayer::new(cache)
//!     .rule(Rule::sliding("per-ip", 100, Duration::from_secs(60), RequestKey::ClientIp(ClientIp::peer())))
//!     .rule(Rule::fixed("per-user", 10, Duration::from_secs(1), RequestKey::Principal))
//!     .fail_open(true);
//! # let _ = layer;
//! ```

use std::sync::Arc;
use std::time::Duration;

use cache_core::{CacheError, RateDecision, RateLimitRule};
use cache_patterns::RateLimiter;
use http::{HeaderValue, Request, StatusCode, header};
use tracing::Instrument;

use crate::future::{count, count_outcome, passthrough};
use crate::identity::{RequestKey, cache_key, tenant_of};
use crate::problem::Problem;
use crate::source::{CacheSource, PerCache};

pub use crate::future::ResponseFuture;

/// The `RateLimit-Policy` header (IETF httpapi rate-limit headers draft).
pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// The `RateLimit` header (IETF httpapi rate-limit headers draft).
pub const RATELIMIT: &str = "ratelimit";

/// One rule: a name (in the headers and the keys), a limit per window, and
/// what requests are counted by.
#[derive(Debug, Clone)]
pub struct Rule {
    name: String,
    rule: RateLimitRule,
    key: RequestKey,
}

impl Rule {
    /// At most `limit` requests per key in any `window`-long interval.
    pub fn sliding(name: &str, limit: u64, window: Duration, key: RequestKey) -> Self {
        Self::new(name, RateLimitRule::sliding(limit, window), key)
    }

    /// At most `limit` requests per key per window from its first request.
    pub fn fixed(name: &str, limit: u64, window: Duration, key: RequestKey) -> Self {
        Self::new(name, RateLimitRule::fixed(limit, window), key)
    }

    /// A rule from a [`RateLimitRule`]. The name is kept to the characters a
    /// structured-field string allows (others become `_`).
    pub fn new(name: &str, rule: RateLimitRule, key: RequestKey) -> Self {
        let name = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Rule { name, rule, key }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug, Clone)]
struct Config {
    source: CacheSource,
    rules: Vec<Rule>,
    fail_open: bool,
    prefix: String,
}

/// Applies rate-limit [`Rule`]s to the requests of the services it wraps.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    config: Config,
}

impl RateLimitLayer {
    /// No rules yet, failing closed, keys under `ratelimit:http:`.
    pub fn new(source: impl Into<CacheSource>) -> Self {
        RateLimitLayer {
            config: Config {
                source: source.into(),
                rules: Vec::new(),
                fail_open: false,
                prefix: "ratelimit:http:".to_owned(),
            },
        }
    }

    /// Adds a rule; a request must pass every rule that keys it.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.config.rules.push(rule);
        self
    }

    crate::future::config_setters! {
        /// Admit requests while the backend fails transiently (`true`) or answer
        /// `503` (`false`, the default).
        fail_open: bool;
        /// The key prefix (default `ratelimit:http:`).
        prefix: impl Into<String> => into;
    }
}

crate::future::layer_struct! {
    /// The service of [`RateLimitLayer`].
    RateLimitLayer => RateLimit { limiters: PerCache<Limiters> }
}

/// One [`RateLimiter`] per rule, built once per cache (not per request).
type Limiters = Arc<[RateLimiter]>;

const METRIC: &str = "cache.http.rate_limit";

/// What the rules decided for one request.
enum Verdict {
    Admit(Vec<(usize, RateDecision)>),
    Deny(Vec<(usize, RateDecision)>),
    Failed(CacheError),
}

impl Config {
    async fn decide(&self, parts: &http::request::Parts, limiters: &PerCache<Limiters>) -> Verdict {
        let tenant = tenant_of(parts);
        let cache = match self.source.cache(tenant).await {
            Ok(cache) => cache,
            Err(e) => return self.on_error(e, Vec::new()),
        };
        let limiters = limiters.get(tenant, &cache, |cache| {
            self.rules
                .iter()
                .map(|rule| {
                    RateLimiter::new(Arc::clone(&cache), rule.rule).prefix(self.prefix.as_str())
                })
                .collect()
        });
        let mut decisions = Vec::with_capacity(self.rules.len());
        for (i, (rule, limiter)) in self.rules.iter().zip(limiters.iter()).enumerate() {
            let Some(key) = rule.key.of(parts) else {
                continue;
            };
            let key = cache_key("", &[&rule.name, tenant.unwrap_or(""), &key]);
            match limiter.check(&key).await {
                Ok(decision) => decisions.push((i, decision)),
                Err(e) => return self.on_error(e, decisions),
            }
        }
        if decisions.iter().any(|(_, d)| !d.allowed) {
            Verdict::Deny(decisions)
        } else {
            Verdict::Admit(decisions)
        }
    }

    fn on_error(&self, e: CacheError, decisions: Vec<(usize, RateDecision)>) -> Verdict {
        if self.fail_open && e.is_transient() {
            tracing::warn!(error = %e, "rate limit unavailable; admitting (fail-open)");
            count(METRIC, "fail_open");
            Verdict::Admit(decisions)
        } else {
            tracing::warn!(error = %e, "rate limit unavailable; refusing (fail-closed)");
            count(METRIC, "fail_closed");
            Verdict::Failed(e)
        }
    }

    /// `RateLimit-Policy` and `RateLimit` for these decisions.
    fn headers(&self, decisions: &[(usize, RateDecision)], headers: &mut http::HeaderMap) {
        if decisions.is_empty() {
            return;
        }
        use std::fmt::Write;
        // Written straight into each header's buffer, which the header
        // value then owns without a copy.
        let mut policy = String::with_capacity(32 * decisions.len());
        let mut state = String::with_capacity(32 * decisions.len());
        for (n, (i, d)) in decisions.iter().enumerate() {
            let rule = &self.rules[*i];
            let sep = if n == 0 { "" } else { ", " };
            let _ = write!(
                policy,
                "{sep}\"{}\";q={};w={}",
                rule.name,
                rule.rule.limit,
                whole_seconds(rule.rule.window)
            );
            let _ = write!(state, "{sep}\"{}\";r={}", rule.name, d.remaining);
            if !d.allowed {
                let _ = write!(state, ";t={}", whole_seconds(d.retry_after));
            }
        }
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(policy)) {
            headers.insert(RATELIMIT_POLICY, v);
        }
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(state)) {
            headers.insert(RATELIMIT, v);
        }
    }
}

/// Seconds, rounded up, at least 1.
fn whole_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

crate::future::layer_service! {
    RateLimit;
    fn call(&mut self, req) {
        let (mut inner, config) = self.ready();
        let limiters = Arc::clone(&self.limiters);
        let span = tracing::debug_span!("cache.http.rate_limit", outcome = tracing::field::Empty);
        ResponseFuture::new(
            async move {
                let (parts, body) = req.into_parts();
                match config.decide(&parts, &limiters).await {
                    Verdict::Admit(decisions) => {
                        count_outcome(METRIC, "allowed");
                        let mut response =
                            passthrough(inner.call(Request::from_parts(parts, body)).await?);
                        config.headers(&decisions, response.headers_mut());
                        Ok(response)
                    }
                    Verdict::Deny(decisions) => {
                        count_outcome(METRIC, "denied");
                        let retry = decisions
                            .iter()
                            .filter(|(_, d)| !d.allowed)
                            .map(|(_, d)| whole_seconds(d.retry_after))
                            .max()
                            .unwrap_or(1);
                        let mut response = Problem::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            format!("rate limit exceeded; retry in {retry} s"),
                        )
                        .into_cache_response();
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
                        config.headers(&decisions, response.headers_mut());
                        Ok(response)
                    }
                    Verdict::Failed(e) => {
                        tracing::Span::current().record("outcome", "fail_closed");
                        Ok(Problem::for_client(&e).into_cache_response())
                    }
                }
            }
            .instrument(span),
        )
    }
}
