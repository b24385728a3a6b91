//! What every check uses: the failure type, a key namespace per check, and
//! polling with a deadline.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::pattern::escape;
use cache_core::{Cache, CacheError, ErrorKind, Result as CacheResult};
use cache_memory::ManualClock;

use super::CacheFactory;

/// The outcome of one check.
pub type CheckResult = Result<(), CheckError>;

/// Why a check failed: what was expected and what came instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    message: String,
}

impl CheckError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CheckError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckError {}

/// Returns a [`CheckError`] from the enclosing check unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::conformance::CheckError::new(format!($($fmt)+)));
        }
    };
}

/// Returns a [`CheckError`] from the enclosing check.
macro_rules! fail {
    ($($fmt:tt)+) => {
        return Err($crate::conformance::CheckError::new(format!($($fmt)+)))
    };
}

pub(crate) use {ensure, fail};

/// Turns the answers of a cache into check failures with readable messages.
pub(crate) trait Outcome<T> {
    /// The value, or a failure saying that `what` was expected to succeed.
    fn must(self, what: &str) -> Result<T, CheckError>;
    /// The error, or a failure unless `what` failed with `kind`.
    fn must_fail(self, kind: ErrorKind, what: &str) -> Result<CacheError, CheckError>;
}

impl<T: fmt::Debug> Outcome<T> for CacheResult<T> {
    fn must(self, what: &str) -> Result<T, CheckError> {
        self.map_err(|e| {
            CheckError::new(format!(
                "{what}: expected success, got {:?} error: {e}",
                e.kind()
            ))
        })
    }

    fn must_fail(self, kind: ErrorKind, what: &str) -> Result<CacheError, CheckError> {
        match self {
            Err(e) if e.kind() == kind => Ok(e),
            Err(e) => Err(CheckError::new(format!(
                "{what}: expected {} {kind:?} error, got {:?} error: {e}",
                article(kind),
                e.kind()
            ))),
            Ok(v) => Err(CheckError::new(format!(
                "{what}: expected {} {kind:?} error, got Ok({})",
                article(kind),
                short_debug(&v)
            ))),
        }
    }
}

/// "a" or "an" before the kind's name.
fn article(kind: ErrorKind) -> &'static str {
    match format!("{kind:?}").chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

/// `Debug` of `v`, cut to a readable length (values can be a MiB long).
pub(crate) fn short_debug(v: &impl fmt::Debug) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(200) {
        Some((at, _)) => format!("{}… ({} chars)", &s[..at], s.chars().count()),
        None => s,
    }
}

/// Bytes shown as an escaped string, cut to a readable length.
pub(crate) fn show(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(64)
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect();
    if bytes.len() > 64 {
        format!("b\"{shown}…\" ({} bytes)", bytes.len())
    } else {
        format!("b\"{shown}\"")
    }
}

/// A random key prefix owned by one check (`ct:<16 hex digits>:`), so that
/// checks can share a server with each other and with anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Namespace {
    /// A fresh namespace.
    pub fn new() -> Self {
        Namespace {
            prefix: format!("ct:{:016x}:", rand::random::<u64>()),
        }
    }

    /// The prefix, e.g. `ct:1a2b3c4d5e6f7a8b:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `suffix` inside the namespace.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// A glob pattern inside the namespace: the escaped prefix followed by
    /// `glob` (which is used as a glob, unescaped).
    pub fn pattern(&self, glob: &str) -> String {
        format!("{}{glob}", escape(&self.prefix))
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new()
    }
}

/// A TTL that outlives any check (so that keys of a failed check still go away).
pub(crate) const LONG_TTL: Duration = Duration::from_secs(120);

/// A TTL short enough to wait for.
pub(crate) const SHORT_TTL: Duration = Duration::from_millis(150);

/// How long an expiry may take to show. Generous: a loaded 2-core machine
/// running several servers can stall a process for seconds.
pub(crate) const EXPIRY_DEADLINE: Duration = Duration::from_secs(10);

/// Concurrent tasks in the atomicity checks.
pub(crate) const RACERS: usize = 128;

/// How often polling probes, on real time or on a manual clock.
const POLL: Duration = Duration::from_millis(10);

/// One check's cache instance, key namespace, and the instance's clock when
/// the check may advance it instead of waiting.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub(crate) cache: Arc<dyn Cache>,
    pub(crate) ns: Namespace,
    pub(crate) clock: Option<ManualClock>,
}

/// Runs `body` with a fresh cache and namespace, then removes the
/// namespace's keys and closes the cache (best effort: the keys carry TTLs).
pub(crate) async fn with_fixture<F, Fut>(factory: &dyn CacheFactory, body: F) -> CheckResult
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = CheckResult>,
{
    let instance = factory.instance().await;
    let fixture = Fixture {
        cache: instance.cache,
        ns: Namespace::new(),
        clock: instance.clock,
    };
    let result = body(fixture.clone()).await;
    let _ = fixture.cache.delete_pattern(&fixture.ns.pattern("*")).await;
    let _ = fixture.cache.close().await;
    result
}

/// Polls `probe` every 10 ms of the fixture's time until it returns `true`;
/// fails with `what` when `deadline` passes first. On a manual clock each
/// step advances the clock by 10 ms instead of sleeping, and the deadline is
/// in that time. A probe error ends the wait at once.
pub(crate) async fn eventually<F, Fut>(
    fx: &Fixture,
    what: &str,
    deadline: Duration,
    mut probe: F,
) -> CheckResult
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, CheckError>>,
{
    let until = Instant::now() + deadline;
    let mut advanced = Duration::ZERO;
    loop {
        if probe().await? {
            return Ok(());
        }
        match &fx.clock {
            Some(clock) if advanced < deadline => {
                clock.advance(POLL);
                advanced += POLL;
            }
            Some(_) => fail!("{what} (advanced the manual clock by {deadline:?})"),
            None if Instant::now() >= until => fail!("{what} (waited {deadline:?})"),
            None => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits until `key`, written with `ttl` (whole milliseconds) and not
/// touched since, reads as not found; `why` says which TTL should have ended
/// it. On a manual clock this is exact: the key must still be there one
/// millisecond before `ttl` has passed, and gone once it has.
pub(crate) async fn wait_until_gone(
    fx: &Fixture,
    key: &str,
    ttl: Duration,
    why: &str,
) -> CheckResult {
    let cache = &*fx.cache;
    if let Some(clock) = &fx.clock {
        let almost = ttl.saturating_sub(Duration::from_millis(1));
        clock.advance(almost);
        match cache.get(key).await {
            Ok(Some(_)) => {}
            Ok(None) => fail!(
                "expected {key:?} to live until its TTL ({why}) had passed; it was gone once the \
                 manual clock advanced by {almost:?}"
            ),
            Err(e) => fail!(
                "get({key:?}) before its TTL: expected a value, got {:?} error: {e}",
                e.kind()
            ),
        }
        clock.advance(ttl - almost);
        return match cache.get(key).await {
            Ok(None) => Ok(()),
            Ok(Some(v)) => fail!(
                "expected {key:?} to expire ({why}) once the manual clock advanced by {ttl:?}; \
                 it still holds {}",
                show(&v)
            ),
            Err(e) => fail!(
                "get({key:?}) after its TTL: expected a miss, got {:?} error: {e}",
                e.kind()
            ),
        };
    }
    let until = Instant::now() + EXPIRY_DEADLINE;
    loop {
        match cache.get(key).await {
            Ok(None) => return Ok(()),
            Err(e) => fail!(
                "get({key:?}) while waiting for expiry: expected a value or a miss, got {:?} \
                 error: {e}",
                e.kind()
            ),
            Ok(Some(v)) if Instant::now() >= until => fail!(
                "expected {key:?} to expire ({why}) within {EXPIRY_DEADLINE:?}; it still holds {}",
                show(&v)
            ),
            Ok(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Fails unless `key` holds exactly `expected`.
pub(crate) async fn expect_value(
    cache: &dyn Cache,
    key: &str,
    expected: &[u8],
    when: &str,
) -> CheckResult {
    match cache.get(key).await {
        Ok(Some(v)) if v.as_ref() == expected => Ok(()),
        Ok(Some(v)) => fail!(
            "{when}: expected {key:?} to hold {}, got {}",
            show(expected),
            show(&v)
        ),
        Ok(None) => fail!(
            "{when}: expected {key:?} to hold {}, got a miss",
            show(expected)
        ),
        Err(e) => fail!(
            "{when}: expected {key:?} to hold {}, got {:?} error: {e}",
            show(expected),
            e.kind()
        ),
    }
}

/// Fails unless `key` reads as not found.
pub(crate) async fn expect_absent(cache: &dyn Cache, key: &str, when: &str) -> CheckResult {
    match cache.get(key).await {
        Ok(None) => Ok(()),
        Ok(Some(v)) => fail!(
            "{when}: expected {key:?} to be absent, it holds {}",
            show(&v)
        ),
        Err(e) => fail!(
            "{when}: expected a miss for {key:?}, got {:?} error: {e}",
            e.kind()
        ),
    }
}

/// Joins spawned tasks; a panicked task becomes a check failure.
pub(crate) async fn join_all<T: Send + 'static>(
    handles: Vec<tokio::task::JoinHandle<T>>,
    what: &str,
) -> Result<Vec<T>, CheckError> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => fail!("{what}: a task failed: {e}"),
        }
    }
    Ok(out)
}

/// Every key `scan_keys` lists for `pattern`, page by page with `count`,
/// in the order listed (duplicates kept). Passes every other cursor through
/// its printed form, as an operator's command line would.
pub(crate) async fn scan_all(
    cache: &dyn Cache,
    pattern: &str,
    count: usize,
) -> Result<Vec<String>, CheckError> {
    const MAX_PAGES: usize = 1_000_000;
    let until = Instant::now() + Duration::from_secs(60);
    let mut listed = Vec::new();
    let mut cursor = cache_core::ScanCursor::start();
    for page_no in 0..MAX_PAGES {
        let page = cache
            .scan_keys(pattern, &cursor, count)
            .await
            .must(&format!("scan_keys({pattern:?}) page {page_no}"))?;
        listed.extend(page.keys);
        match page.next {
            None => return Ok(listed),
            Some(next) if page_no % 2 == 0 => {
                cursor = cache_core::ScanCursor::from_string(next.to_string());
            }
            Some(next) => cursor = next,
        }
        ensure!(
            Instant::now() < until,
            "scan_keys({pattern:?}) did not finish within 60 s ({} pages, {} keys so far)",
            page_no + 1,
            listed.len()
        );
    }
    fail!("scan_keys({pattern:?}) did not end after {MAX_PAGES} pages")
}
