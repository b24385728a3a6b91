//! The error type of the contract.
//!
//! One error type, [`CacheError`], for every layer that speaks the
//! [`Cache`](crate::Cache) contract: a struct holding one [`ErrorKind`] (the
//! `#[non_exhaustive]` list of what can go wrong) and the context that
//! explains it (operation, key, address, cause). Callers ask with methods
//! ([`CacheError::kind`], [`CacheError::is_transient`],
//! [`CacheError::is_refused`]) instead of matching strings. A miss is not an
//! error: [`Cache::get`](crate::Cache::get) returns `Ok(None)`.
//!
//! No error ever carries a secret: connection errors name the address, never
//! the password, and config errors name the field, never its value when the
//! field is secret. Keys are cut by [`cut_key`] before they are stored.

use std::borrow::Cow;
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
    /// [`Cache::exists`](crate::Cache::exists).
    Exists,
    /// [`Cache::expire`](crate::Cache::expire).
    Expire,
    /// [`Cache::persist`](crate::Cache::persist).
    Persist,
    /// [`Cache::ttl`](crate::Cache::ttl).
    Ttl,
    /// [`Cache::touch`](crate::Cache::touch).
    Touch,
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
    /// [`Collections::set_add`](crate::collections::Collections::set_add).
    SetAdd,
    /// [`Collections::set_remove`](crate::collections::Collections::set_remove).
    SetRemove,
    /// [`Collections::set_contains`](crate::collections::Collections::set_contains).
    SetContains,
    /// [`Collections::set_count`](crate::collections::Collections::set_count).
    SetCount,
    /// [`Collections::set_members`](crate::collections::Collections::set_members).
    SetMembers,
    /// [`Collections::hash_set`](crate::collections::Collections::hash_set).
    HashSet,
    /// [`Collections::hash_get`](crate::collections::Collections::hash_get).
    HashGet,
    /// [`Collections::hash_get_all`](crate::collections::Collections::hash_get_all).
    HashGetAll,
    /// [`Collections::hash_delete`](crate::collections::Collections::hash_delete).
    HashDelete,
    /// [`Collections::hash_incr_by`](crate::collections::Collections::hash_incr_by).
    HashIncrBy,
    /// [`Collections::hash_expire_fields`](crate::collections::Collections::hash_expire_fields).
    HashExpireFields,
    /// [`Collections::hash_field_ttl`](crate::collections::Collections::hash_field_ttl).
    HashFieldTtl,
    /// [`Collections::hash_persist_fields`](crate::collections::Collections::hash_persist_fields).
    HashPersistFields,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 36] = [
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
        Operation::Exists,
        Operation::Expire,
        Operation::Persist,
        Operation::Ttl,
        Operation::Touch,
        Operation::ScanKeys,
        Operation::DeletePattern,
        Operation::RateLimit,
        Operation::Publish,
        Operation::Subscribe,
        Operation::Health,
        Operation::Close,
        Operation::Connect,
        Operation::SetAdd,
        Operation::SetRemove,
        Operation::SetContains,
        Operation::SetCount,
        Operation::SetMembers,
        Operation::HashSet,
        Operation::HashGet,
        Operation::HashGetAll,
        Operation::HashDelete,
        Operation::HashIncrBy,
        Operation::HashExpireFields,
        Operation::HashFieldTtl,
        Operation::HashPersistFields,
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
            Operation::Exists => "exists",
            Operation::Expire => "expire",
            Operation::Persist => "persist",
            Operation::Ttl => "ttl",
            Operation::Touch => "touch",
            Operation::ScanKeys => "scan_keys",
            Operation::DeletePattern => "delete_pattern",
            Operation::RateLimit => "rate_limit",
            Operation::Publish => "publish",
            Operation::Subscribe => "subscribe",
            Operation::Health => "health",
            Operation::Close => "close",
            Operation::Connect => "connect",
            Operation::SetAdd => "set_add",
            Operation::SetRemove => "set_remove",
            Operation::SetContains => "set_contains",
            Operation::SetCount => "set_count",
            Operation::SetMembers => "set_members",
            Operation::HashSet => "hash_set",
            Operation::HashGet => "hash_get",
            Operation::HashGetAll => "hash_get_all",
            Operation::HashDelete => "hash_delete",
            Operation::HashIncrBy => "hash_incr_by",
            Operation::HashExpireFields => "hash_expire_fields",
            Operation::HashFieldTtl => "hash_field_ttl",
            Operation::HashPersistFields => "hash_persist_fields",
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

/// What went wrong, for callers that branch on it: the one list of kinds.
///
/// [`CacheError`] is a struct that carries its kind (see
/// [`CacheError::kind`]); nothing else restates this list. The kinds group
/// into:
///
/// - **answers and caller mistakes**: [`CasFailed`](Self::CasFailed),
///   [`Closed`](Self::Closed), [`InvalidTtl`](Self::InvalidTtl),
///   [`InvalidKey`](Self::InvalidKey),
///   [`InvalidTenantId`](Self::InvalidTenantId),
///   [`ValueTooLarge`](Self::ValueTooLarge), [`WrongType`](Self::WrongType),
///   [`Codec`](Self::Codec), [`Config`](Self::Config),
///   [`Disabled`](Self::Disabled), [`Unsupported`](Self::Unsupported);
/// - **the backend could not serve, for now** ([`is_transient`](Self::is_transient)):
///   [`Connection`](Self::Connection), [`ConnectionLost`](Self::ConnectionLost),
///   [`Timeout`](Self::Timeout), [`Unavailable`](Self::Unavailable). Of these,
///   [`ConnectionLost`](Self::ConnectionLost) and [`Timeout`](Self::Timeout)
///   leave it open whether the command ran
///   ([`may_have_run`](Self::may_have_run)); [`Connection`](Self::Connection)
///   and [`Unavailable`](Self::Unavailable) say it did not;
/// - **the backend refused** (never transient: no retry or fallback fixes
///   it): [`PermissionDenied`](Self::PermissionDenied) and
///   [`Unauthenticated`](Self::Unauthenticated)
///   ([`is_refusal`](Self::is_refusal)), [`Script`](Self::Script),
///   [`Overflow`](Self::Overflow);
/// - [`Operation`](Self::Operation): any other failure the backend reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A compare-and-set precondition did not hold (an answer, not a failure).
    CasFailed,
    /// The cache was closed; every call after [`Cache::close`](crate::Cache::close) fails this way.
    Closed,
    /// A TTL outside the documented range (see [`crate::ttl`]).
    InvalidTtl,
    /// A key outside the documented rules (see [`crate::key`]).
    InvalidKey,
    /// A tenant id outside the rules of the tenant manager (empty, too long, missing).
    InvalidTenantId,
    /// A value over the backend's size limit, or a call naming more members
    /// or fields of a set or hash than the backend takes per call
    /// ([`CacheError::too_many`]). Nothing was written.
    ValueTooLarge,
    /// The stored value has the wrong shape for the operation (e.g. `incr_by` on a non-integer).
    WrongType,
    /// A value could not be encoded or decoded ([`CacheError::codec_error`] says why).
    Codec,
    /// The configuration is invalid ([`CacheError::config_error`] names the field).
    Config,
    /// The backend could not be reached: no connection could be made (refused,
    /// no route, no node serves the slot, no master from the sentinels), so
    /// the command was never sent and did not run. Safe to retry. Transient.
    Connection,
    /// The connection broke while the command was in flight (reset, broken
    /// pipe, closed before the reply): the command may have run. Retrying
    /// an operation that is not idempotent (`incr_by`, a compare-and-set)
    /// may apply it twice. Transient.
    ConnectionLost,
    /// The operation did not finish in time. A command that was sent may
    /// have run (the reply did not come, not necessarily the effect).
    /// Transient.
    Timeout,
    /// The backend is reachable but cannot serve for now: it is loading its
    /// data, failing over or between roles (`LOADING`, `TRYAGAIN`,
    /// `READONLY`, `MASTERDOWN`, `CLUSTERDOWN`), or busy running a script
    /// (`BUSY`). The command was not run. Transient.
    Unavailable,
    /// The backend refused the command or key for this user (`NOPERM`: an
    /// ACL). A configuration problem: never transient, never to be bypassed.
    PermissionDenied,
    /// The backend does not accept this client's credentials: none were
    /// given (`NOAUTH`) or they are wrong or disabled (`WRONGPASS`). Never
    /// transient.
    Unauthenticated,
    /// A server-side script failed (a Lua runtime or compile error, a script
    /// killed). Not transient.
    Script,
    /// A counter would leave the `i64` range; nothing was changed. Not transient.
    Overflow,
    /// Any other failure the backend reported for the operation. Not transient.
    Operation,
    /// The configuration turned the cache off (`enabled: false`); asking for one is an error.
    Disabled,
    /// The backend cannot do this operation.
    Unsupported,
}

impl ErrorKind {
    /// The kind's name in snake case, as used in logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::CasFailed => "cas_failed",
            ErrorKind::Closed => "closed",
            ErrorKind::InvalidTtl => "invalid_ttl",
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::InvalidTenantId => "invalid_tenant_id",
            ErrorKind::ValueTooLarge => "value_too_large",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::Codec => "codec",
            ErrorKind::Config => "config",
            ErrorKind::Connection => "connection",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Script => "script",
            ErrorKind::Overflow => "overflow",
            ErrorKind::Operation => "operation",
            ErrorKind::Disabled => "disabled",
            ErrorKind::Unsupported => "unsupported",
        }
    }

    /// A failure that may pass by itself: the backend is unreachable or too
    /// slow ([`Connection`](Self::Connection),
    /// [`ConnectionLost`](Self::ConnectionLost), [`Timeout`](Self::Timeout))
    /// or between roles ([`Unavailable`](Self::Unavailable)). Fail-open
    /// callers degrade on these and only these; a refusal is never among them.
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Connection
                | ErrorKind::ConnectionLost
                | ErrorKind::Timeout
                | ErrorKind::Unavailable
        )
    }

    /// The command may have run although the call failed: the connection
    /// broke with it in flight ([`ConnectionLost`](Self::ConnectionLost)) or
    /// its reply did not come in time ([`Timeout`](Self::Timeout)). A caller
    /// of an operation that is not idempotent must check (read the counter,
    /// the lock) before trying again. Every other kind means the operation
    /// did not take effect, or is an answer.
    pub const fn may_have_run(self) -> bool {
        matches!(self, ErrorKind::ConnectionLost | ErrorKind::Timeout)
    }

    /// The backend refused this client: [`PermissionDenied`](Self::PermissionDenied)
    /// or [`Unauthenticated`](Self::Unauthenticated). A misconfiguration
    /// (ACL, credentials) that must reach the caller, not be absorbed.
    pub const fn is_refusal(self) -> bool {
        matches!(
            self,
            ErrorKind::PermissionDenied | ErrorKind::Unauthenticated
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure of the contract: an [`ErrorKind`] with the context that
/// explains it (the operation, the key, the address, a cause).
///
/// Ask with methods: [`kind`](Self::kind) (match on it),
/// [`is_transient`](Self::is_transient), [`is_refused`](Self::is_refused),
/// [`is_closed`](Self::is_closed), [`is_cas_failed`](Self::is_cas_failed),
/// and the accessors of the context. Build with the constructors
/// ([`CacheError::closed`], [`CacheError::invalid_key`],
/// [`CacheError::operation`]...) or, for any kind, [`CacheError::new`] and the
/// `with_*` methods. Every key an error stores goes through [`cut_key`].
///
/// `Display` describes this error only; the cause, where there is one, is
/// [`std::error::Error::source`] (print the chain with `{:#}` through
/// `anyhow`, or walk it). `Clone` is cheap enough to hand one failure to many
/// waiters (the cause is shared).
///
/// ```
/// use cache_core::{CacheError, ErrorKind, Operation};
///
/// let err = CacheError::operation(Operation::Get, Some("user:1"), std::io::Error::other("boom"));
/// assert_eq!(err.kind(), ErrorKind::Operation);
/// assert_eq!(err.key(), Some("user:1"));
/// assert_eq!(err.to_string(), "get of key \"user:1\" failed");
/// match err.kind() {
///     ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::Unavailable => unreachable!(),
///     _ => assert!(!err.is_transient()),
/// }
/// ```
#[derive(Clone)]
pub struct CacheError(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    kind: ErrorKind,
    op: Option<Operation>,
    /// Always cut by [`cut_key`].
    key: Option<String>,
    addr: Option<String>,
    detail: Detail,
    source: Option<BoxError>,
}

/// What some kinds say beyond operation, key and address.
#[derive(Debug, Clone)]
enum Detail {
    None,
    /// Why an input was refused.
    Reason(Cow<'static, str>),
    /// What the operation needed ([`ErrorKind::WrongType`]).
    Expected(&'static str),
    /// The refused TTL ([`ErrorKind::InvalidTtl`]).
    Ttl(Duration, &'static str),
    /// The value's size and the limit ([`ErrorKind::ValueTooLarge`]).
    Size {
        size: usize,
        max: usize,
    },
    /// The deadline that passed ([`ErrorKind::Timeout`]).
    After(Duration),
    /// The refused tenant id, cut, and why ([`ErrorKind::InvalidTenantId`]).
    Tenant(String, Cow<'static, str>),
    Codec(CodecError),
    Config(ConfigError),
}

impl CacheError {
    /// An error of `kind` in `op`, without further context; add it with the
    /// `with_*` methods. The constructors below are shorter for the kinds
    /// that carry details.
    ///
    /// ```
    /// use cache_core::{CacheError, ErrorKind, Operation};
    /// let err = CacheError::new(ErrorKind::PermissionDenied, Operation::Set)
    ///     .with_key("other:k")
    ///     .with_source(std::io::Error::other("NOPERM"));
    /// assert!(err.is_refused() && !err.is_transient());
    /// assert_eq!(err.to_string(), "set of key \"other:k\" was refused: permission denied");
    /// ```
    pub fn new(kind: ErrorKind, op: Operation) -> Self {
        CacheError::bare(kind, Some(op), Detail::None)
    }

    fn bare(kind: ErrorKind, op: Option<Operation>, detail: Detail) -> Self {
        CacheError(Box::new(Inner {
            kind,
            op,
            key: None,
            addr: None,
            detail,
            source: None,
        }))
    }

    /// This error about `key` (cut by [`cut_key`]), replacing any key it named.
    #[must_use]
    pub fn with_key(mut self, key: &str) -> Self {
        self.0.key = Some(cut_key(key));
        self
    }

    /// This error about the endpoint `addr` (host:port, or a description of
    /// the endpoint set). Never put credentials in it.
    #[must_use]
    pub fn with_addr(mut self, addr: impl Into<String>) -> Self {
        self.0.addr = Some(addr.into());
        self
    }

    /// This error with `source` as its cause.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// A failed compare-and-set precondition on `key`.
    pub fn cas_failed(key: &str) -> Self {
        CacheError::bare(ErrorKind::CasFailed, None, Detail::None).with_key(key)
    }

    /// `op` was refused because the cache is closed.
    pub fn closed(op: Operation) -> Self {
        CacheError::bare(ErrorKind::Closed, Some(op), Detail::None)
    }

    /// A TTL outside the documented range, and why.
    pub fn invalid_ttl(ttl: Duration, reason: &'static str) -> Self {
        CacheError::bare(ErrorKind::InvalidTtl, None, Detail::Ttl(ttl, reason))
    }

    /// A key outside the documented rules, and why.
    pub fn invalid_key(key: &str, reason: impl Into<Cow<'static, str>>) -> Self {
        CacheError::bare(ErrorKind::InvalidKey, None, Detail::Reason(reason.into())).with_key(key)
    }

    /// A tenant id outside the tenant manager's rules, and why. The id is cut
    /// like a key.
    pub fn invalid_tenant_id(id: &str, reason: impl Into<Cow<'static, str>>) -> Self {
        let detail = Detail::Tenant(cut_key(id), reason.into());
        CacheError::bare(ErrorKind::InvalidTenantId, None, detail)
    }

    /// A value of `size` bytes for `key` over the limit of `max` bytes.
    pub fn value_too_large(key: &str, size: usize, max: usize) -> Self {
        CacheError::bare(ErrorKind::ValueTooLarge, None, Detail::Size { size, max }).with_key(key)
    }

    /// `op` on `key` names `count` `what` (e.g. "members"), more than the
    /// `limit` the backend takes in one call: refused before anything was
    /// done, with a [`ErrorKind::ValueTooLarge`] in the one wording of
    /// limits ([`over_limit`]).
    ///
    /// ```
    /// use cache_core::{CacheError, ErrorKind, Operation};
    /// let err = CacheError::too_many(Operation::SetAdd, "s", "members", 1001, 1000);
    /// assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    /// assert_eq!(
    ///     err.to_string(),
    ///     "set_add of key \"s\" was refused: 1001 members is more than the limit of 1000"
    /// );
    /// ```
    pub fn too_many(op: Operation, key: &str, what: &str, count: usize, limit: usize) -> Self {
        let reason = over_limit(format_args!("{count} {what}"), limit);
        CacheError::bare(
            ErrorKind::ValueTooLarge,
            Some(op),
            Detail::Reason(reason.into()),
        )
        .with_key(key)
    }

    /// The value at `key` is not what the operation needed (`expected`, e.g.
    /// "a decimal i64 counter").
    pub fn wrong_type(key: &str, expected: &'static str) -> Self {
        CacheError::bare(ErrorKind::WrongType, None, Detail::Expected(expected)).with_key(key)
    }

    /// The connection to `addr` broke while `op` was in flight, because of
    /// `source`: it may have run ([`ErrorKind::ConnectionLost`]).
    pub fn connection_lost(
        op: Operation,
        addr: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        CacheError::new(ErrorKind::ConnectionLost, op)
            .with_addr(addr)
            .with_source(source)
    }

    /// The backend at `addr` could not be reached, because of `source`: the
    /// command was never sent ([`ErrorKind::Connection`]).
    pub fn connection(
        addr: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        CacheError::bare(ErrorKind::Connection, None, Detail::None)
            .with_addr(addr)
            .with_source(source)
    }

    /// `op` (on `key`, where it has one) did not finish within `after`.
    pub fn timeout(op: Operation, key: Option<&str>, after: Duration) -> Self {
        CacheError::bare(ErrorKind::Timeout, Some(op), Detail::After(after)).with_opt_key(key)
    }

    /// The backend failed `op` (on `key`) for another reason: `source`.
    pub fn operation(
        op: Operation,
        key: Option<&str>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        CacheError::new(ErrorKind::Operation, op)
            .with_opt_key(key)
            .with_source(source)
    }

    /// `op` on the counter `key` would leave the `i64` range (`source` says
    /// by how much); nothing was changed.
    pub fn overflow(
        op: Operation,
        key: Option<&str>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        CacheError::new(ErrorKind::Overflow, op)
            .with_opt_key(key)
            .with_source(source)
    }

    /// The configuration turned the cache off.
    pub fn disabled() -> Self {
        CacheError::bare(ErrorKind::Disabled, None, Detail::None)
    }

    /// The backend cannot do `op`, and why.
    pub fn unsupported(op: Operation, reason: &'static str) -> Self {
        CacheError::bare(
            ErrorKind::Unsupported,
            Some(op),
            Detail::Reason(reason.into()),
        )
    }

    fn with_opt_key(self, key: Option<&str>) -> Self {
        match key {
            Some(key) => self.with_key(key),
            None => self,
        }
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The operation that failed, where known.
    pub fn op(&self) -> Option<Operation> {
        self.0.op
    }

    /// The key the error is about, cut by [`cut_key`].
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// The endpoint the error is about (never with credentials).
    pub fn addr(&self) -> Option<&str> {
        self.0.addr.as_deref()
    }

    /// Why an input was refused ([`ErrorKind::InvalidKey`],
    /// [`ErrorKind::InvalidTenantId`], [`ErrorKind::InvalidTtl`],
    /// [`ErrorKind::Unsupported`], a [`ErrorKind::ValueTooLarge`] of
    /// [`CacheError::too_many`]), or what the operation needed
    /// ([`ErrorKind::WrongType`]).
    pub fn reason(&self) -> Option<&str> {
        match &self.0.detail {
            Detail::Reason(reason) | Detail::Tenant(_, reason) => Some(reason),
            Detail::Expected(reason) | Detail::Ttl(_, reason) => Some(reason),
            _ => None,
        }
    }

    /// The refused TTL of an [`ErrorKind::InvalidTtl`].
    pub fn ttl(&self) -> Option<Duration> {
        match self.0.detail {
            Detail::Ttl(ttl, _) => Some(ttl),
            _ => None,
        }
    }

    /// The refused tenant id of an [`ErrorKind::InvalidTenantId`], cut.
    pub fn tenant_id(&self) -> Option<&str> {
        match &self.0.detail {
            Detail::Tenant(id, _) => Some(id),
            _ => None,
        }
    }

    /// The size in bytes of the value of an [`ErrorKind::ValueTooLarge`].
    pub fn value_size(&self) -> Option<usize> {
        match self.0.detail {
            Detail::Size { size, .. } => Some(size),
            _ => None,
        }
    }

    /// The limit in bytes that an [`ErrorKind::ValueTooLarge`] exceeded.
    pub fn size_limit(&self) -> Option<usize> {
        match self.0.detail {
            Detail::Size { max, .. } => Some(max),
            _ => None,
        }
    }

    /// The deadline that passed, for an [`ErrorKind::Timeout`].
    pub fn timed_out_after(&self) -> Option<Duration> {
        match self.0.detail {
            Detail::After(after) => Some(after),
            _ => None,
        }
    }

    /// The codec's failure, for an [`ErrorKind::Codec`].
    pub fn codec_error(&self) -> Option<&CodecError> {
        match &self.0.detail {
            Detail::Codec(e) => Some(e),
            _ => None,
        }
    }

    /// The invalid field, for an [`ErrorKind::Config`].
    pub fn config_error(&self) -> Option<&ConfigError> {
        match &self.0.detail {
            Detail::Config(e) => Some(e),
            _ => None,
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

    /// The backend is unreachable, too slow or between roles: the failures
    /// that fail-open callers degrade on and that may pass by themselves
    /// (see [`ErrorKind::is_transient`]). A refusal is never transient.
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// The backend refused this client (ACL or credentials; see
    /// [`ErrorKind::is_refusal`]): never absorbed by a fail-open path.
    pub fn is_refused(&self) -> bool {
        self.kind().is_refusal()
    }

    /// No connection could be made: the command never ran
    /// ([`ErrorKind::Connection`]).
    pub fn is_connection(&self) -> bool {
        self.kind() == ErrorKind::Connection
    }

    /// The connection broke with the command in flight: it may have run
    /// ([`ErrorKind::ConnectionLost`]).
    pub fn is_connection_lost(&self) -> bool {
        self.kind() == ErrorKind::ConnectionLost
    }

    /// No answer in time ([`ErrorKind::Timeout`]): a command that was sent
    /// may have run.
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// The server could not serve for now (loading, failing over, busy) and
    /// did not run the command ([`ErrorKind::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }

    /// The command may have run although the call failed (see
    /// [`ErrorKind::may_have_run`]): check before retrying an operation that
    /// is not idempotent.
    pub fn may_have_run(&self) -> bool {
        self.kind().may_have_run()
    }

    /// What the error is about, for messages: `get of key "k"`, `connecting
    /// to host:1`, `get on host:1`.
    fn subject(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &*self.0;
        match (e.op, &e.addr) {
            (Some(Operation::Connect), Some(addr)) => return write!(f, "connecting to {addr}"),
            (Some(op), _) => write!(f, "{op}")?,
            (None, _) => f.write_str("a call")?,
        }
        if let Some(key) = &e.key {
            write!(f, " of key {key:?}")?;
        }
        if let Some(addr) = &e.addr {
            write!(f, " on {addr}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &*self.0;
        let key = e.key.as_deref().unwrap_or_default();
        let op = e.op.map_or("operation", Operation::as_str);
        match (&e.detail, e.kind) {
            (Detail::Codec(codec), _) => match &e.key {
                Some(key) => write!(f, "value at key {key:?}: {codec}"),
                None => write!(f, "{codec}"),
            },
            (Detail::Config(config), _) => write!(f, "{config}"),
            (_, ErrorKind::CasFailed) => write!(f, "compare-and-set failed for key {key:?}"),
            (_, ErrorKind::Closed) => write!(f, "cache is closed (operation {op})"),
            (Detail::Ttl(ttl, reason), _) => write!(f, "invalid TTL {ttl:?}: {reason}"),
            (Detail::Tenant(id, reason), _) => write!(f, "invalid tenant id {id:?}: {reason}"),
            (Detail::Reason(reason), ErrorKind::InvalidKey) => {
                write!(f, "invalid key {key:?}: {reason}")
            }
            (Detail::Reason(reason), ErrorKind::ValueTooLarge) => {
                self.subject(f)?;
                write!(f, " was refused: {reason}")
            }
            (Detail::Size { size, max }, _) => write!(
                f,
                "value of {size} bytes for key {key:?} exceeds the limit of {max} bytes"
            ),
            (Detail::Expected(expected), _) => write!(f, "value at key {key:?} is not {expected}"),
            (_, ErrorKind::Connection) => match &e.addr {
                Some(addr) => write!(f, "cannot connect to {addr}"),
                None => write!(f, "cannot connect to the backend"),
            },
            (_, ErrorKind::ConnectionLost) => {
                match &e.addr {
                    Some(addr) => write!(f, "the connection to {addr} was lost")?,
                    None => f.write_str("the connection to the backend was lost")?,
                }
                match e.op {
                    Some(op) => write!(f, " with {op} in flight: it may have run"),
                    None => f.write_str(" with the command in flight: it may have run"),
                }
            }
            (_, ErrorKind::Disabled) => {
                f.write_str("the cache is disabled by configuration (cache.enabled = false)")
            }
            (Detail::Reason(reason), ErrorKind::Unsupported) => {
                write!(f, "{op} is not supported by this backend: {reason}")
            }
            (detail, kind) => {
                self.subject(f)?;
                match (kind, detail) {
                    (ErrorKind::Timeout, Detail::After(after)) => {
                        write!(
                            f,
                            " timed out after {after:?}: if it was sent, it may have run"
                        )
                    }
                    (ErrorKind::Timeout, _) => {
                        f.write_str(" timed out: if it was sent, it may have run")
                    }
                    (ErrorKind::Unavailable, _) => {
                        f.write_str(" failed: the server cannot serve it for now")
                    }
                    (ErrorKind::PermissionDenied, _) => {
                        f.write_str(" was refused: permission denied")
                    }
                    (ErrorKind::Unauthenticated, _) => {
                        f.write_str(" was refused: not authenticated")
                    }
                    (ErrorKind::Script, _) => f.write_str(" failed: a server-side script failed"),
                    (ErrorKind::Overflow, _) => {
                        f.write_str(" failed: the counter would leave the i64 range")
                    }
                    (ErrorKind::Operation, _) => f.write_str(" failed"),
                    (kind, _) => write!(f, " failed ({kind})"),
                }
            }
        }
    }
}

impl fmt::Debug for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &*self.0;
        let mut s = f.debug_struct("CacheError");
        s.field("kind", &e.kind);
        if let Some(op) = e.op {
            s.field("op", &op);
        }
        if let Some(key) = &e.key {
            s.field("key", key);
        }
        if let Some(addr) = &e.addr {
            s.field("addr", addr);
        }
        if !matches!(e.detail, Detail::None) {
            s.field("detail", &e.detail);
        }
        if let Some(source) = &e.source {
            s.field("source", source);
        }
        s.finish()
    }
}

impl StdError for CacheError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

impl From<CodecError> for CacheError {
    fn from(error: CodecError) -> Self {
        CacheError::bare(ErrorKind::Codec, None, Detail::Codec(error))
    }
}

impl From<ConfigError> for CacheError {
    fn from(error: ConfigError) -> Self {
        CacheError::bare(ErrorKind::Config, None, Detail::Config(error))
    }
}

/// A key cut to [`MAX_KEY_IN_MESSAGE`] characters, for error messages: the one
/// helper every error that carries a key goes through (the constructors of
/// [`CacheError`] call it), so a 512 KiB key never lands whole in a log line.
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

/// The one wording of a broken size limit, for keys, tenant ids, prefixes
/// and config numbers alike: `what` names the thing with its size.
///
/// ```
/// let reason = cache_core::error::over_limit(format_args!("a key of {} bytes", 5000), 4096);
/// assert_eq!(reason, "a key of 5000 bytes is more than the limit of 4096");
/// ```
pub fn over_limit(what: impl fmt::Display, limit: impl fmt::Display) -> String {
    format!("{what} is more than the limit of {limit}")
}

/// `Err` with the reason when `what`, `len` bytes long, is longer than `limit` bytes.
///
/// ```
/// use cache_core::error::check_byte_limit;
/// assert!(check_byte_limit("a key", 4096, 4096).is_ok());
/// assert_eq!(
///     check_byte_limit("a key", 4097, 4096).unwrap_err(),
///     "a key of 4097 bytes is more than the limit of 4096"
/// );
/// ```
pub fn check_byte_limit(what: &str, len: usize, limit: usize) -> std::result::Result<(), String> {
    if len > limit {
        return Err(over_limit(format_args!("{what} of {len} bytes"), limit));
    }
    Ok(())
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

    fn io(text: &str) -> std::io::Error {
        std::io::Error::other(text.to_owned())
    }

    #[test]
    fn operation_all_matches_index() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(op.index(), i, "{op}");
        }
    }

    #[test]
    fn long_keys_are_cut_by_every_constructor_that_takes_one() {
        let key = "k".repeat(10_000);
        let after = Duration::from_secs(1);
        let errors = [
            CacheError::invalid_key(&key, "too long"),
            CacheError::invalid_tenant_id(&key, "too long"),
            CacheError::cas_failed(&key),
            CacheError::value_too_large(&key, 10, 1),
            CacheError::wrong_type(&key, "a counter"),
            CacheError::timeout(Operation::Get, Some(&key), after),
            CacheError::operation(Operation::Get, Some(&key), io("boom")),
            CacheError::overflow(Operation::IncrBy, Some(&key), io("boom")),
            CacheError::new(ErrorKind::PermissionDenied, Operation::Get).with_key(&key),
            CacheError::from(CodecError::Decode("x".into())).with_key(&key),
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(msg.len() < 300, "{:?}: {msg}", e.kind());
            assert!(msg.contains('…'), "{:?}: {msg}", e.kind());
            if let Some(stored) = e.key().or(e.tenant_id()) {
                assert_eq!(stored, cut_key(&key));
            }
        }
    }

    #[test]
    fn only_connection_timeout_and_unavailable_are_transient() {
        let transient = [
            ErrorKind::Connection,
            ErrorKind::ConnectionLost,
            ErrorKind::Timeout,
            ErrorKind::Unavailable,
        ];
        let others = [
            ErrorKind::CasFailed,
            ErrorKind::Closed,
            ErrorKind::InvalidTtl,
            ErrorKind::InvalidKey,
            ErrorKind::InvalidTenantId,
            ErrorKind::ValueTooLarge,
            ErrorKind::WrongType,
            ErrorKind::Codec,
            ErrorKind::Config,
            ErrorKind::PermissionDenied,
            ErrorKind::Unauthenticated,
            ErrorKind::Script,
            ErrorKind::Overflow,
            ErrorKind::Operation,
            ErrorKind::Disabled,
            ErrorKind::Unsupported,
        ];
        for kind in transient {
            assert!(kind.is_transient() && !kind.is_refusal(), "{kind}");
            assert!(
                CacheError::new(kind, Operation::Get).is_transient(),
                "{kind}"
            );
        }
        for kind in others {
            assert!(!kind.is_transient(), "{kind}");
            assert!(
                !CacheError::new(kind, Operation::Get).is_transient(),
                "{kind}"
            );
        }
        let refusals: Vec<_> = others.iter().filter(|k| k.is_refusal()).collect();
        assert_eq!(
            refusals,
            [&ErrorKind::PermissionDenied, &ErrorKind::Unauthenticated]
        );
        let names: std::collections::HashSet<_> = transient
            .iter()
            .chain(&others)
            .map(|k| k.as_str())
            .collect();
        assert_eq!(names.len(), transient.len() + others.len());
    }

    #[test]
    fn kinds_and_context_are_reported() {
        assert!(CacheError::closed(Operation::Get).is_closed());
        assert_eq!(
            CacheError::closed(Operation::Get).op(),
            Some(Operation::Get)
        );
        assert!(CacheError::cas_failed("k").is_cas_failed());
        let e = CacheError::operation(Operation::Get, Some("a"), io("boom"));
        assert_eq!(e.kind(), ErrorKind::Operation);
        assert!(
            !e.is_transient(),
            "an unclassified failure is not transient"
        );
        assert_eq!(e.to_string(), "get of key \"a\" failed");
        assert_eq!(e.source().unwrap().to_string(), "boom");
        let e = CacheError::value_too_large("k", 10, 8);
        assert_eq!((e.value_size(), e.size_limit()), (Some(10), Some(8)));
        let e = CacheError::invalid_ttl(Duration::ZERO, "must be positive");
        assert_eq!(
            (e.ttl(), e.reason()),
            (Some(Duration::ZERO), Some("must be positive"))
        );
        let e = CacheError::timeout(Operation::Set, Some("k"), Duration::from_millis(5));
        assert_eq!(e.timed_out_after(), Some(Duration::from_millis(5)));
        assert_eq!(
            e.to_string(),
            "set of key \"k\" timed out after 5ms: if it was sent, it may have run"
        );
        assert!(e.is_timeout() && e.may_have_run());
    }

    #[test]
    fn messages_say_what_happened() {
        let cases = [
            (
                CacheError::new(ErrorKind::PermissionDenied, Operation::Set).with_key("x"),
                "set of key \"x\" was refused: permission denied",
            ),
            (
                CacheError::new(ErrorKind::Unauthenticated, Operation::Connect)
                    .with_addr("10.0.0.1:6379"),
                "connecting to 10.0.0.1:6379 was refused: not authenticated",
            ),
            (
                CacheError::new(ErrorKind::Unavailable, Operation::Get).with_key("x"),
                "get of key \"x\" failed: the server cannot serve it for now",
            ),
            (
                CacheError::overflow(Operation::IncrBy, Some("n"), io("boom")),
                "incr_by of key \"n\" failed: the counter would leave the i64 range",
            ),
            (
                CacheError::new(ErrorKind::Script, Operation::CompareAndSet),
                "compare_and_set failed: a server-side script failed",
            ),
            (
                CacheError::connection("h:1", io("refused")),
                "cannot connect to h:1",
            ),
            (
                CacheError::connection_lost(Operation::IncrBy, "h:1", io("reset")),
                "the connection to h:1 was lost with incr_by in flight: it may have run",
            ),
            (
                CacheError::invalid_tenant_id("", "a tenant id must not be empty"),
                "invalid tenant id \"\": a tenant id must not be empty",
            ),
            (
                CacheError::wrong_type("n", "a decimal i64 counter"),
                "value at key \"n\" is not a decimal i64 counter",
            ),
            (
                CacheError::unsupported(Operation::Publish, "no pub/sub"),
                "publish is not supported by this backend: no pub/sub",
            ),
            (
                CacheError::from(CodecError::Decode("missing field".into())).with_key("u:1"),
                "value at key \"u:1\": cannot decode into the target type: missing field",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text, "{e:?}");
        }
    }

    #[test]
    fn only_a_lost_connection_and_a_timeout_leave_it_open_whether_the_command_ran() {
        let lost = CacheError::connection_lost(Operation::IncrBy, "h:1", io("reset"));
        assert!(lost.is_connection_lost() && lost.may_have_run() && lost.is_transient());
        assert_eq!(
            (lost.op(), lost.addr()),
            (Some(Operation::IncrBy), Some("h:1"))
        );
        let refused = CacheError::connection("h:1", io("refused"));
        assert!(refused.is_connection() && !refused.may_have_run() && refused.is_transient());
        let state = CacheError::new(ErrorKind::Unavailable, Operation::IncrBy);
        assert!(state.is_unavailable() && !state.may_have_run());
        let may: Vec<_> = [
            ErrorKind::Connection,
            ErrorKind::ConnectionLost,
            ErrorKind::Timeout,
            ErrorKind::Unavailable,
            ErrorKind::Operation,
            ErrorKind::Script,
        ]
        .into_iter()
        .filter(|k| k.may_have_run())
        .collect();
        assert_eq!(may, [ErrorKind::ConnectionLost, ErrorKind::Timeout]);
        assert_eq!(ErrorKind::ConnectionLost.as_str(), "connection_lost");
    }

    #[test]
    fn codec_and_config_errors_are_kept_whole() {
        let e: CacheError = CodecError::TooDeep { max: 3 }.into();
        assert_eq!(e.kind(), ErrorKind::Codec);
        assert_eq!(e.codec_error(), Some(&CodecError::TooDeep { max: 3 }));
        assert!(e.source().is_none());
    }

    #[test]
    fn config_error_names_field() {
        let e: CacheError = ConfigError::new("cache.redis.addrs", "must not be empty").into();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(e.config_error().unwrap().field, "cache.redis.addrs");
        assert_eq!(
            e.to_string(),
            "invalid configuration at `cache.redis.addrs`: must not be empty"
        );
    }

    #[test]
    fn errors_are_small_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<CacheError>();
        assert_eq!(
            std::mem::size_of::<CacheError>(),
            std::mem::size_of::<usize>()
        );
    }
}
