//! Idempotent requests: the first request with an id runs, duplicates get
//! "in progress" or the first response, replayed.
//!
//! [`Idempotency::claim`] stores an "in progress" marker with
//! [`Cache::get_or_set`] (SET NX on Redis) for the request id, 300 s by
//! default. Exactly one caller gets [`Claim::First`] with a [`ClaimTicket`];
//! everybody else gets [`Claim::InProgress`] or, once the first caller called
//! [`Idempotency::complete`], [`Claim::Completed`] with its response.
//!
//! The marker holds a random token, so completing or releasing is a
//! compare-and-swap on *this* claim: a claimant that took longer than the TTL
//! cannot overwrite the claim of the request that came after it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use std::sync::Arc;
//! use cache_memory::MemoryCache;
//! use cache_patterns::{idempotency::{Claim, Idempotency}};
//!
//! let requests = Idempotency::new(Arc::new(MemoryCache::new()));
//!
//! let Claim::First(ticket) = requests.claim::<String>("req-7f3a", None).await? else {
//!     unreachable!("the first request with this id")
//! };
//! // A retry while the first is still running:
//! assert!(matches!(requests.claim::<String>("req-7f3a", None).await?, Claim::InProgress));
//!
//! requests.complete(ticket, &"payment 981 accepted".to_owned()).await?;
//! // A retry afterwards replays the first response.
//! match requests.claim::<String>("req-7f3a", None).await? {
//!     Claim::Completed(response) => assert_eq!(response, "payment 981 accepted"),
//!     other => panic!("expected the stored response, got {other:?}"),
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use cache_core::cache::Cache;
use cache_core::codec;
use cache_core::error::{CacheError, CodecError, Result};
use cache_core::metrics::{self, labels, names};

const PENDING: u8 = 0;
const COMPLETED: u8 = 1;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Claim<R> {
    /// This is the first request with the id: handle it, then
    /// [`complete`](Idempotency::complete) (or [`release`](Idempotency::release)
    /// it if handling failed and a retry should run again).
    First(ClaimTicket),
    /// Another request with the id is being handled.
    InProgress,
    /// Another request with the id was handled; its response.
    Completed(R),
}

/// Proof of a first claim, needed to complete or release it.
#[derive(Clone, PartialEq, Eq)]
#[must_use = "complete or release the claim, or duplicates see `InProgress` until the TTL"]
pub struct ClaimTicket {
    key: String,
    marker: Vec<u8>,
    ttl: Duration,
}

/// The marker proves ownership of the claim: never printed.
impl std::fmt::Debug for ClaimTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimTicket")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ClaimTicket {
    /// The claim's key in the cache (prefix included).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Request de-duplication over one cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Idempotency {
    cache: Arc<dyn Cache>,
    prefix: String,
    ttl: Duration,
}

impl Idempotency {
    /// How long a claim and its response are kept by default: 300 s.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

    /// De-duplication with the key prefix `idempotency:` and the default TTL.
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        Idempotency {
            cache,
            prefix: "idempotency:".to_owned(),
            ttl: Self::DEFAULT_TTL,
        }
    }

    cache_core::setters! {
        /// The prefix put before every request id (default `idempotency:`).
        prefix: impl Into<String> => into;

        /// The TTL of claims that do not name one (default 300 s).
        ttl: Duration;
    }

    /// Claims `request_id` for `ttl` (`None`: the configured TTL). Exactly one
    /// concurrent caller gets [`Claim::First`].
    ///
    /// A stored response that does not decode as `R` is a
    /// [`ErrorKind::Codec`](cache_core::ErrorKind::Codec) error.
    pub async fn claim<R: DeserializeOwned>(
        &self,
        request_id: &str,
        ttl: impl Into<Option<Duration>>,
    ) -> Result<Claim<R>> {
        let ttl = ttl.into().unwrap_or(self.ttl);
        let key = format!("{}{request_id}", self.prefix);
        let marker = pending_marker();
        let (stored, first) = self.cache.get_or_set(&key, &marker, ttl).await?;
        if first {
            claimed("first");
            return Ok(Claim::First(ClaimTicket { key, marker, ttl }));
        }
        match stored.first() {
            Some(&PENDING) => {
                claimed("conflict");
                Ok(Claim::InProgress)
            }
            Some(&COMPLETED) => codec::from_slice(&stored[1..])
                .inspect(|_| claimed("replay"))
                .map(Claim::Completed)
                .map_err(|e| CacheError::from(e).with_key(&key)),
            _ => Err(CacheError::from(CodecError::Malformed(format!(
                "the idempotency record at {key:?} is neither a claim nor a response"
            )))),
        }
    }

    /// Stores `response` for the claim, replacing its "in progress" marker;
    /// duplicates get it for the claim's TTL from now. Returns `false` when
    /// the claim had expired (and possibly been taken by a later request):
    /// nothing was stored.
    pub async fn complete<R: Serialize + ?Sized>(
        &self,
        ticket: ClaimTicket,
        response: &R,
    ) -> Result<bool> {
        let encoded = codec::to_vec(response)?;
        let mut record = Vec::with_capacity(1 + encoded.len());
        record.push(COMPLETED);
        record.extend_from_slice(&encoded);
        self.cache
            .compare_and_set(&ticket.key, Some(&ticket.marker), &record, ticket.ttl)
            .await
    }

    /// Gives the claim up (handling failed and may be retried): the next
    /// claim with the id is first again. Returns `false` when the claim had
    /// already expired.
    pub async fn release(&self, ticket: ClaimTicket) -> Result<bool> {
        self.cache
            .compare_and_delete(&ticket.key, &ticket.marker)
            .await
    }
}

/// A claim's marker: [`PENDING`], then a random 128-bit token in 32
/// lower-case hex digits, built in one allocation.
fn pending_marker() -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let token = rand::random::<u128>();
    let mut marker = Vec::with_capacity(33);
    marker.push(PENDING);
    marker.extend(
        (0..32)
            .rev()
            .map(|i| HEX[((token >> (i * 4)) & 0xf) as usize]),
    );
    marker
}

/// Counts one claim in `cache.idempotency.requests`.
fn claimed(outcome: &'static str) {
    metrics::count(names::IDEMPOTENCY_REQUESTS, &[(labels::OUTCOME, outcome)]);
}
