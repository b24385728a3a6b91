//! The error type of the contract.
//!
//! One `#[non_exhaustive]` enum, [`CacheError`], for every layer that speaks the
//! [`Cache`](crate::Cache) contract. Callers ask for the kind with methods
//! ([`CacheError::is_transient`], [`CacheError::kind`]) instead of matching
//! strings. A miss is not an error: [`Cache::get`](crate::Cache::get) returns
//! `Ok(None)`.
//!
//! No variant ever carries a secret: connection errors name the address, never
//! the password, and config errors name the field, never its value when the
//! field is secret.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A shareable, thread-safe cause. `Arc` (not `Box`) so that [`CacheError`] is
/// `Clone`: a singleflight leader hands the same failure to every waiter.
pub type BoxError = Arc<dyn StdError + Send + Sync + 'static>;

/// The result type of the contract.
pub type Result<T, E = CacheError> = std::result::Result<T, E>;

/// The longest part of a key quoted in an error message, in characters.
pub const MAX_KEY_IN_MESSAGE: usize = 128;

/// The operations of the contract, used in errors, stats and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// [`Cache::get`](crate::Cache::get).
    Get,
    /// [`Cache::set`](crate::Cache::set).
    Set,
    /// [`Cache::delete`](crate::Cache::delete).
    Delete,
    /// [`Cache::get_or_set`](crate::Cache::get_or_set).
    GetOrSet,
    /// [`Cache::compare_and_set`](crate::Cache::compare_and_set).
    CompareAndSet,
    /// [`Cache::compare_and_delete`](crate::Cache::compare_and_delete).
    CompareAndDelete,
    /// [`Cache::get_many`](crate::Cache::get_many).
    GetMany,
    /// [`Cache::set_many`](crate::Cache::set_many).
    SetMany,
    /// [`Cache::delete_many`](crate::Cache::delete_many).
    DeleteMany,
    /// [`Cache::incr_by`](crate::Cache::incr_by).
    IncrBy,
    /// [`Cache::scan_keys`](crate::Cache::scan_keys).
    ScanKeys,
    /// [`Cache::delete_pattern`](crate::Cache::delete_pattern).
    DeletePattern,
    /// [`Cache::rate_limit`](crate::Cache::rate_limit).
    RateLimit,
    /// [`Cache::publish`](crate::Cache::publish).
    Publish,
    /// [`Cache::subscribe`](crate::Cache::subscribe).
    Subscribe,
    /// [`Cache::health`](crate::Cache::health).
    Health,
    /// [`Cache::close`](crate::Cache::close).
    Close,
    /// Building a cache or opening its connections.
    Connect,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 18] = [
        Operation::Get,
        Operation::Set,
        Operation::Delete,
        Operation::GetOrSet,
        Operation::CompareAndSet,
        Operation::CompareAndDelete,
        Operation::GetMany,
        Operation::SetMany,
        Operation::DeleteMany,
        Operation::IncrBy,
        Operation::ScanKeys,
        Operation::DeletePattern,
        Operation::RateLimit,
        Operation::Publish,
        Operation::Subscribe,
        Operation::Health,
        Operation::Close,
        Operation::Connect,
    ];

    /// The operation's name in snake case, as used in logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Set => "set",
            Operation::Delete => "delete",
            Operation::GetOrSet => "get_or_set",
            Operation::CompareAndSet => "compare_and_set",
            Operation::CompareAndDelete => "compare_and_delete",
            Operation::GetMany => "get_many",
            Operation::SetMany => "set_many",
            Operation::DeleteMany => "delete_many",
            Operation::IncrBy => "incr_by",
            Operation::ScanKeys => "scan_keys",
            Operation::DeletePattern => "delete_pattern",
            Operation::RateLimit => "rate_limit",
            Operation::Publish => "publish",
            Operation::Subscribe => "subscribe",
            Operation::Health => "health",
            Operation::Close => "close",
            Operation::Connect => "connect",
        }
    }

    /// Position in [`Operation::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a [`CacheError`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`CacheError::CasFailed`].
    CasFailed,
    /// See [`CacheError::Closed`].
    Closed,
    /// See [`CacheError::InvalidTtl`].
    InvalidTtl,
    /// See [`CacheError::InvalidKey`].
    InvalidKey,
    /// See [`CacheError::ValueTooLarge`].
    ValueTooLarge,
    /// See [`CacheError::WrongType`].
    WrongType,
    /// See [`CacheError::Codec`].
    Codec,
    /// See [`CacheError::Config`].
    Config,
    /// See [`CacheError::Connection`].
    Connection,
    /// See [`CacheError::Timeout`].
    Timeout,
    /// See [`CacheError::Operation`].
    Operation,
    /// See [`CacheError::Disabled`].
    Disabled,
    /// See [`CacheError::Unsupported`].
    Unsupported,
}

/// Every failure of the contract.
///
/// `Display` describes this error only; the cause, where there is one, is
/// [`std::error::Error::source`] (print the chain with `{:#}` through `anyhow`, or walk it).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A compare-and-set precondition did not hold.
    #[error("compare-and-set failed for key {}", quote_key(key))]
    CasFailed {
        /// The key that was compared.
        key: String,
    },
    /// The cache was closed; every call after [`Cache::close`](crate::Cache::close) fails this way.
    #[error("cache is closed (operation {op})")]
    Closed {
        /// The operation that was refused.
        op: Operation,
    },
    /// A TTL outside the documented range (see [`crate::ttl`]).
    #[error("invalid TTL {ttl:?}: {reason}")]
    InvalidTtl {
        /// The TTL that was given.
        ttl: Duration,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A key outside the documented rules (see [`crate::key`]).
    #[error("invalid key {}: {reason}", quote_key(key))]
    InvalidKey {
        /// The key, cut to a readable length.
        key: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value over the backend's size limit. Nothing was written.
    #[error(
        "value of {size} bytes for key {} exceeds the limit of {max} bytes",
        quote_key(key)
    )]
    ValueTooLarge {
        /// The key the value was meant for.
        key: String,
        /// The value's size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The stored value has the wrong shape for the operation (e.g. `incr_by` on a non-integer).
    #[error("value at key {} is not {expected}", quote_key(key))]
    WrongType {
        /// The key.
        key: String,
        /// What the operation needed.
        expected: &'static str,
    },
    /// A value could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The configuration is invalid; the error names the field.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The backend could not be reached. Names the address, never credentials.
    #[error("cannot connect to {addr}")]
    Connection {
        /// The address (host:port or a description of the endpoint set).
        addr: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The operation did not finish in time.
    #[error("{op}{} timed out after {after:?}", key_suffix(key))]
    Timeout {
        /// The operation.
        op: Operation,
        /// The key, where the operation has one.
        key: Option<String>,
        /// The deadline that passed.
        after: Duration,
    },
    /// The backend failed the operation.
    #[error("{op}{} failed", key_suffix(key))]
    Operation {
        /// The operation.
        op: Operation,
        /// The key, where the operation has one.
        key: Option<String>,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The configuration turned the cache off (`enabled: false`); asking for one is an error.
    #[error("the cache is disabled by configuration (cache.enabled = false)")]
    Disabled,
    /// The backend cannot do this operation.
    #[error("{op} is not supported by this backend: {reason}")]
    Unsupported {
        /// The operation.
        op: Operation,
        /// Why.
        reason: &'static str,
    },
}

impl CacheError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CacheError::CasFailed { .. } => ErrorKind::CasFailed,
            CacheError::Closed { .. } => ErrorKind::Closed,
            CacheError::InvalidTtl { .. } => ErrorKind::InvalidTtl,
            CacheError::InvalidKey { .. } => ErrorKind::InvalidKey,
            CacheError::ValueTooLarge { .. } => ErrorKind::ValueTooLarge,
            CacheError::WrongType { .. } => ErrorKind::WrongType,
            CacheError::Codec(_) => ErrorKind::Codec,
            CacheError::Config(_) => ErrorKind::Config,
            CacheError::Connection { .. } => ErrorKind::Connection,
            CacheError::Timeout { .. } => ErrorKind::Timeout,
            CacheError::Operation { .. } => ErrorKind::Operation,
            CacheError::Disabled => ErrorKind::Disabled,
            CacheError::Unsupported { .. } => ErrorKind::Unsupported,
        }
    }

    /// A failed compare-and-set precondition.
    pub fn is_cas_failed(&self) -> bool {
        self.kind() == ErrorKind::CasFailed
    }

    /// The cache was closed.
    pub fn is_closed(&self) -> bool {
        self.kind() == ErrorKind::Closed
    }

    /// The backend is unreachable or too slow: the failures that fail-open
    /// callers degrade on and that may pass by themselves.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::Operation
        )
    }

    /// Shorthand for a [`CacheError::InvalidKey`].
    pub fn invalid_key(key: &str, reason: impl Into<String>) -> Self {
        CacheError::InvalidKey {
            key: cut_key(key),
            reason: reason.into(),
        }
    }

    /// Shorthand for a [`CacheError::Operation`] with a cause.
    pub fn operation(
        op: Operation,
        key: Option<&str>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        CacheError::Operation {
            op,
            key: key.map(cut_key),
            source: Arc::new(source),
        }
    }

    /// Shorthand for a [`CacheError::Connection`] with a cause.
    pub fn connection(
        addr: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        CacheError::Connection {
            addr: addr.into(),
            source: Arc::new(source),
        }
    }
}

/// A key cut to [`MAX_KEY_IN_MESSAGE`] characters, for error messages: the one
/// helper every error that carries a key goes through, so a 512 KiB key never
/// lands whole in a log line.
///
/// ```
/// let cut = cache_core::error::cut_key(&"k".repeat(10_000));
/// assert!(cut.chars().count() <= cache_core::error::MAX_KEY_IN_MESSAGE + 1);
/// ```
pub fn cut_key(key: &str) -> String {
    match key.char_indices().nth(MAX_KEY_IN_MESSAGE) {
        None => key.to_owned(),
        Some((at, _)) => format!("{}…", &key[..at]),
    }
}

fn quote_key(key: &str) -> String {
    format!("{key:?}")
}

fn key_suffix(key: &Option<String>) -> String {
    match key {
        Some(k) => format!(" of key {k:?}"),
        None => String::new(),
    }
}

/// A failure of the CBOR codec (see [`crate::codec`]). Nothing is allocated past the limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The payload is longer than the configured maximum.
    #[error("payload of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the payload.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// An array or map declares more elements than allowed.
    #[error("an array or map of {count} elements exceeds the limit of {max}")]
    TooManyElements {
        /// The declared element count (for maps, key-value pairs).
        count: u64,
        /// The limit.
        max: usize,
    },
    /// Arrays, maps or tags nest deeper than allowed.
    #[error("nesting deeper than the limit of {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The input ends before the value does.
    #[error("truncated input: {0}")]
    Truncated(String),
    /// The input is not well-formed CBOR, or has bytes after the value.
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// The CBOR is well-formed but does not fit the target type.
    #[error("cannot decode into the target type: {0}")]
    Decode(String),
    /// The value could not be encoded.
    #[error("cannot encode the value: {0}")]
    Encode(String),
}

/// A configuration field that failed validation. Names the field (as a dotted
/// path such as `cache.redis.addrs`, or an environment variable) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration at `{field}`: {reason}")]
pub struct ConfigError {
    /// The dotted path of the field, or the environment variable, that is wrong.
    pub field: String,
    /// Why it is wrong. Never contains a secret value.
    pub reason: String,
}

impl ConfigError {
    /// A config error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error seen from the enclosing section: `field` gets `section`
    /// in front. Each config struct validates with fields relative to itself
    /// (`addrs[1]`); whoever places it in a file says where (`cache.redis`).
    ///
    /// ```
    /// use cache_core::ConfigError;
    /// let e = ConfigError::new("addrs[1]", "no port").within("cache.redis");
    /// assert_eq!(e.field, "cache.redis.addrs[1]");
    /// assert_eq!(ConfigError::new("", "both set").within("cache.redis.tls").field, "cache.redis.tls");
    /// ```
    pub fn within(mut self, section: &str) -> Self {
        self.field = match self.field.as_str() {
            "" => section.to_owned(),
            f if f.starts_with('[') => format!("{section}{f}"),
            f => format!("{section}.{f}"),
        };
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_all_matches_index() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{op}");
        }
    }

    #[test]
    fn long_keys_are_cut_in_messages() {
        let key = "k".repeat(10_000);
        let msg = CacheError::invalid_key(&key, "too long").to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains('…'));
    }

    #[test]
    fn kinds_are_reported() {
        assert!(CacheError::Closed { op: Operation::Get }.is_closed());
        let e = CacheError::operation(Operation::Get, Some("a"), std::io::Error::other("boom"));
        assert!(e.is_transient());
        assert_eq!(e.to_string(), "get of key \"a\" failed");
        assert_eq!(e.source().unwrap().to_string(), "boom");
    }

    #[test]
    fn config_error_names_field() {
        let e: CacheError = ConfigError::new("cache.redis.addrs", "must not be empty").into();
        assert_eq!(
            e.to_string(),
            "invalid configuration at `cache.redis.addrs`: must not be empty"
        );
    }
}
