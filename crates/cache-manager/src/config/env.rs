//! Environment overrides: every field has a canonical `CACHE_*` variable, and
//! the names used by existing deployments (`CACHE_ADDRS`, `VALKEY_HOST`,
//! `REDIS_HOST`, ...) are read as aliases.
//!
//! Precedence, lowest first (a later step overwrites an earlier one):
//!
//! 1. the defaults,
//! 2. the YAML file,
//! 3. `VALKEY_*` aliases,
//! 4. seed-style `CACHE_*` aliases (`CACHE_ADDRS`, `CACHE_DIAL_TIMEOUT`, ...),
//! 5. canonical `CACHE_*` variables (`CACHE_REDIS_ADDRS`, ...),
//! 6. `REDIS_HOST`/`REDIS_PORT`, only when the backend is Redis and no address
//!    was given by any of the above.
//!
//! An empty variable counts as unset (Helm charts and `.env` files often carry
//! `CACHE_PASSWORD: ""` placeholders). Non-secret values are trimmed; secrets
//! are used verbatim.

use std::time::Duration;

use super::duration;
use super::load::parse_yaml;
use super::model::{BackendKind, CacheConfig, Config};
#[cfg(feature = "redis")]
use super::{RedisMode, Secret};
use cache_core::error::ConfigError;

/// How the loader treats a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvVarKind {
    /// `CACHE_` + the upper-snake path below `cache`: sets exactly that field.
    Canonical,
    /// A name from the seed documents' `CACHE_*` layout (`CACHE_ADDRS`, `CACHE_DIAL_TIMEOUT`, ...).
    CacheAlias,
    /// A `VALKEY_*` name from the seed documents.
    ValkeyAlias,
    /// `REDIS_HOST`/`REDIS_PORT`: read only when no address is configured otherwise.
    RedisFallback,
}

/// One environment variable the loader reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvVar {
    /// The variable's name, e.g. `CACHE_REDIS_ADDRS`.
    pub name: &'static str,
    /// The dotted path of the field it sets, e.g. `cache.redis.addrs`.
    pub field: &'static str,
    /// Canonical name or alias.
    pub kind: EnvVarKind,
    /// Whether the value is a secret (never logged, never in an error).
    pub secret: bool,
    /// A valid example value.
    pub example: &'static str,
    /// What else it does, beyond setting `field`, in one sentence; empty when nothing.
    pub note: &'static str,
}

/// Sets one field from a (non-empty) value, or says why the value is wrong.
type Setter = fn(&mut CacheConfig, &str) -> Result<(), String>;

/// What a Redis variable does in a build without the Redis backend: it is
/// refused by name at start-up rather than silently ignored.
#[cfg(not(feature = "redis"))]
pub(super) const NO_REDIS: &str = "configures the Redis backend, which this build leaves out (cache-manager's `redis` feature is off)";

/// The setter of a variable that configures the Redis backend. Without the
/// `redis` feature the variable stays listed (the documentation is the same
/// for every build) and setting it is an error that names it.
macro_rules! redis {
    (|$c:ident, $v:ident| $body:expr) => {{
        #[cfg(feature = "redis")]
        let set: Setter = |$c, $v| $body;
        #[cfg(not(feature = "redis"))]
        let set: Setter = |_, _| Err(NO_REDIS.to_owned());
        Some(set)
    }};
}

/// A variable and how it applies. `set: None` marks the variables that combine
/// with another one and are applied by hand below.
struct Binding {
    var: EnvVar,
    set: Option<Setter>,
}

const fn var(
    name: &'static str,
    field: &'static str,
    kind: EnvVarKind,
    example: &'static str,
) -> EnvVar {
    EnvVar {
        name,
        field,
        kind,
        secret: false,
        example,
        note: "",
    }
}

const fn secret(mut v: EnvVar) -> EnvVar {
    v.secret = true;
    v
}

const fn note(mut v: EnvVar, note: &'static str) -> EnvVar {
    v.note = note;
    v
}

use EnvVarKind::{CacheAlias, Canonical, RedisFallback, ValkeyAlias};

/// Canonical names: one per field.
#[rustfmt::skip]
const CANONICAL: &[Binding] = &[
    Binding { var: var("CACHE_ENABLED", "cache.enabled", Canonical, "false"), set: Some(|c, v| set_bool(&mut c.enabled, v)) },
    Binding { var: var("CACHE_TYPE", "cache.type", Canonical, "redis"), set: Some(|c, v| { c.backend = backend(v)?; Ok(()) }) },
    Binding { var: var("CACHE_KEY_PREFIX", "cache.key_prefix", Canonical, "orders:"), set: Some(|c, v| { c.key_prefix = v.to_owned(); Ok(()) }) },
    Binding { var: var("CACHE_FALLBACK_TO_MEMORY", "cache.fallback_to_memory", Canonical, "true"), set: Some(|c, v| set_bool(&mut c.fallback_to_memory, v)) },
    Binding { var: var("CACHE_MEMORY_MAX_ENTRIES", "cache.memory.max_entries", Canonical, "50000"), set: Some(|c, v| set_number(&mut c.memory.max_entries, v)) },
    Binding { var: note(var("CACHE_MEMORY_MAX_BYTES", "cache.memory.max_bytes", Canonical, "134217728"), "`none` removes the byte bound"), set: Some(|c, v| {
        c.memory.max_bytes = if v.eq_ignore_ascii_case("none") { None } else { Some(number(v)?) };
        Ok(())
    }) },
    Binding { var: var("CACHE_MEMORY_DEFAULT_TTL", "cache.memory.default_ttl", Canonical, "10m"), set: Some(|c, v| set_duration(&mut c.memory.default_ttl, v)) },
    Binding { var: var("CACHE_MEMORY_MAX_VALUE_BYTES", "cache.memory.max_value_bytes", Canonical, "1048576"), set: Some(|c, v| set_number(&mut c.memory.max_value_bytes, v)) },
    Binding { var: var("CACHE_REDIS_MODE", "cache.redis.mode", Canonical, "cluster"), set: redis!(|c, v| { c.redis.mode = mode(v)?; Ok(()) }) },
    Binding { var: note(var("CACHE_REDIS_ADDRS", "cache.redis.addrs", Canonical, "10.0.0.1:6379,10.0.0.2:6379"), "comma-separated"), set: redis!(|c, v| { c.redis.addrs = addrs(v); Ok(()) }) },
    Binding { var: var("CACHE_REDIS_SENTINEL_MASTER", "cache.redis.sentinel_master", Canonical, "primary"), set: redis!(|c, v| { c.redis.sentinel_master = v.to_owned(); Ok(()) }) },
    Binding { var: var("CACHE_REDIS_USERNAME", "cache.redis.username", Canonical, "app"), set: redis!(|c, v| { c.redis.username = Some(v.to_owned()); Ok(()) }) },
    Binding { var: secret(var("CACHE_REDIS_PASSWORD", "cache.redis.password", Canonical, "s3cret")), set: redis!(|c, v| { c.redis.password = Some(Secret::new(v)); Ok(()) }) },
    Binding { var: var("CACHE_REDIS_DATABASE", "cache.redis.database", Canonical, "2"), set: redis!(|c, v| set_number(&mut c.redis.database, v)) },
    Binding { var: var("CACHE_REDIS_TLS_ENABLED", "cache.redis.tls.enabled", Canonical, "true"), set: redis!(|c, v| set_bool(&mut c.redis.tls.enabled, v)) },
    Binding { var: secret(var("CACHE_REDIS_TLS_CA_CERT_BASE64", "cache.redis.tls.ca_cert_base64", Canonical, "LS0tLS1CRUdJTi...")), set: redis!(|c, v| { c.redis.tls.ca_cert_base64 = Some(Secret::new(v)); Ok(()) }) },
    Binding { var: var("CACHE_REDIS_TLS_CA_CERT_PATH", "cache.redis.tls.ca_cert_path", Canonical, "/etc/ssl/redis-ca.pem"), set: redis!(|c, v| { c.redis.tls.ca_cert_path = Some(v.into()); Ok(()) }) },
    Binding { var: var("CACHE_REDIS_TLS_SERVER_NAME", "cache.redis.tls.server_name", Canonical, "redis.internal"), set: redis!(|c, v| { c.redis.tls.server_name = Some(v.to_owned()); Ok(()) }) },
    Binding { var: var("CACHE_REDIS_POOL_SIZE", "cache.redis.pool_size", Canonical, "8"), set: redis!(|c, v| set_number(&mut c.redis.pool_size, v)) },
    Binding { var: var("CACHE_REDIS_CONNECT_TIMEOUT", "cache.redis.connect_timeout", Canonical, "3s"), set: redis!(|c, v| set_duration(&mut c.redis.connect_timeout, v)) },
    Binding { var: var("CACHE_REDIS_COMMAND_TIMEOUT", "cache.redis.command_timeout", Canonical, "500ms"), set: redis!(|c, v| set_duration(&mut c.redis.command_timeout, v)) },
    Binding { var: var("CACHE_REDIS_MAX_RETRIES", "cache.redis.max_retries", Canonical, "5"), set: redis!(|c, v| set_number(&mut c.redis.max_retries, v)) },
    Binding { var: var("CACHE_REDIS_RETRY_BACKOFF", "cache.redis.retry_backoff", Canonical, "100ms"), set: redis!(|c, v| set_duration(&mut c.redis.retry_backoff, v)) },
    Binding { var: var("CACHE_REDIS_MAX_RETRY_BACKOFF", "cache.redis.max_retry_backoff", Canonical, "5s"), set: redis!(|c, v| set_duration(&mut c.redis.max_retry_backoff, v)) },
    Binding { var: var("CACHE_REDIS_MAX_VALUE_BYTES", "cache.redis.max_value_bytes", Canonical, "1048576"), set: redis!(|c, v| set_number(&mut c.redis.max_value_bytes, v)) },
    Binding { var: var("CACHE_REDIS_COALESCE_GETS", "cache.redis.coalesce_gets", Canonical, "false"), set: redis!(|c, v| set_bool(&mut c.redis.coalesce_gets, v)) },
    Binding { var: var("CACHE_COMPRESSION_ENABLED", "cache.compression.enabled", Canonical, "true"), set: Some(|c, v| set_bool(&mut c.compression.enabled, v)) },
    Binding { var: var("CACHE_COMPRESSION_THRESHOLD", "cache.compression.threshold", Canonical, "4096"), set: Some(|c, v| set_number(&mut c.compression.threshold, v)) },
    Binding { var: var("CACHE_COMPRESSION_LEVEL", "cache.compression.level", Canonical, "3"), set: Some(|c, v| set_number(&mut c.compression.level, v)) },
    Binding { var: var("CACHE_TENANTS_MAX_TENANTS", "cache.tenants.max_tenants", Canonical, "500"), set: Some(|c, v| set_number(&mut c.tenants.max_tenants, v)) },
    Binding { var: var("CACHE_TENANTS_IDLE_TTL", "cache.tenants.idle_ttl", Canonical, "10m"), set: Some(|c, v| set_duration(&mut c.tenants.idle_ttl, v)) },
    Binding { var: var("CACHE_TENANTS_NAMESPACE", "cache.tenants.namespace", Canonical, "t:{<tenant>}:"), set: Some(|c, v| { c.tenants.namespace = v.to_owned(); Ok(()) }) },
    Binding { var: secret(note(var("CACHE_TENANTS_OVERRIDES", "cache.tenants.overrides", Canonical, "{acme: {type: redis, redis: {addrs: [\"acme-redis:6379\"]}}}"), "YAML or JSON map by tenant id; replaces the whole map; `${VAR}` is expanded inside")), set: None },
];

/// The seed documents' `CACHE_*` layout (go-redis style names).
#[rustfmt::skip]
const CACHE_ALIASES: &[Binding] = &[
    Binding { var: note(var("CACHE_MODE", "cache.redis.mode", CacheAlias, "cluster"), "`single` or `standalone`, `cluster`, `sentinel`"), set: redis!(|c, v| { c.redis.mode = mode(v)?; Ok(()) }) },
    Binding { var: note(var("CACHE_ADDRS", "cache.redis.addrs", CacheAlias, "my-valkey.xxxxx.cache.amazonaws.com:6379"), "comma-separated; also sets `cache.type` to `redis`"), set: redis!(|c, v| { c.redis.addrs = addrs(v); c.backend = BackendKind::Redis; Ok(()) }) },
    Binding { var: var("CACHE_USERNAME", "cache.redis.username", CacheAlias, "app"), set: redis!(|c, v| { c.redis.username = Some(v.to_owned()); Ok(()) }) },
    Binding { var: secret(var("CACHE_PASSWORD", "cache.redis.password", CacheAlias, "s3cret")), set: redis!(|c, v| { c.redis.password = Some(Secret::new(v)); Ok(()) }) },
    Binding { var: var("CACHE_TLS_ENABLED", "cache.redis.tls.enabled", CacheAlias, "true"), set: redis!(|c, v| set_bool(&mut c.redis.tls.enabled, v)) },
    Binding { var: secret(var("CACHE_CA_CERT_BASE64", "cache.redis.tls.ca_cert_base64", CacheAlias, "LS0tLS1CRUdJTi...")), set: redis!(|c, v| { c.redis.tls.ca_cert_base64 = Some(Secret::new(v)); Ok(()) }) },
    Binding { var: var("CACHE_POOL_SIZE", "cache.redis.pool_size", CacheAlias, "10"), set: redis!(|c, v| set_number(&mut c.redis.pool_size, v)) },
    Binding { var: var("CACHE_MAX_RETRIES", "cache.redis.max_retries", CacheAlias, "5"), set: redis!(|c, v| set_number(&mut c.redis.max_retries, v)) },
    Binding { var: var("CACHE_DIAL_TIMEOUT", "cache.redis.connect_timeout", CacheAlias, "10s"), set: redis!(|c, v| set_duration(&mut c.redis.connect_timeout, v)) },
    Binding { var: note(var("CACHE_READ_TIMEOUT", "cache.redis.command_timeout", CacheAlias, "3s"), "with `CACHE_WRITE_TIMEOUT`, the larger of the two"), set: None },
    Binding { var: note(var("CACHE_WRITE_TIMEOUT", "cache.redis.command_timeout", CacheAlias, "3s"), "with `CACHE_READ_TIMEOUT`, the larger of the two"), set: None },
];

/// The `VALKEY_*` names of the seed documents.
#[rustfmt::skip]
const VALKEY_ALIASES: &[Binding] = &[
    Binding { var: note(var("VALKEY_ENABLED", "cache.type", ValkeyAlias, "true"), "`true` sets `redis`, `false` sets `memory` (it selects the backend; it does not disable the cache)"), set: redis!(|c, v| {
        c.backend = if boolean(v)? { BackendKind::Redis } else { BackendKind::Memory };
        Ok(())
    }) },
    Binding { var: note(var("VALKEY_HOST", "cache.redis.addrs", ValkeyAlias, "my-valkey.serverless.aps1.cache.amazonaws.com"), "one address `VALKEY_HOST:VALKEY_PORT`; also sets `cache.type` to `redis`"), set: None },
    Binding { var: note(var("VALKEY_PORT", "cache.redis.addrs", ValkeyAlias, "6380"), "the port for `VALKEY_HOST` (default 6379); ignored without it"), set: None },
    Binding { var: var("VALKEY_USERNAME", "cache.redis.username", ValkeyAlias, "default"), set: redis!(|c, v| { c.redis.username = Some(v.to_owned()); Ok(()) }) },
    Binding { var: secret(var("VALKEY_PASSWORD", "cache.redis.password", ValkeyAlias, "s3cret")), set: redis!(|c, v| { c.redis.password = Some(Secret::new(v)); Ok(()) }) },
    Binding { var: var("VALKEY_TLS", "cache.redis.tls.enabled", ValkeyAlias, "true"), set: redis!(|c, v| set_bool(&mut c.redis.tls.enabled, v)) },
    Binding { var: note(var("VALKEY_CLUSTER", "cache.redis.mode", ValkeyAlias, "true"), "`true` sets `cluster`, `false` sets `standalone`"), set: redis!(|c, v| {
        c.redis.mode = if boolean(v)? { RedisMode::Cluster } else { RedisMode::Standalone };
        Ok(())
    }) },
];

/// The legacy names, read last and only to fill an empty address list.
#[rustfmt::skip]
const REDIS_FALLBACK: &[Binding] = &[
    Binding { var: note(var("REDIS_HOST", "cache.redis.addrs", RedisFallback, "localhost"), "only when `cache.type` is `redis` and no address is set otherwise"), set: None },
    Binding { var: note(var("REDIS_PORT", "cache.redis.addrs", RedisFallback, "6380"), "the port for `REDIS_HOST` (default 6379); ignored without it"), set: None },
];

/// Every variable the loader reads, canonical names first, then the aliases
/// in rising precedence, then the `REDIS_*` fallback.
pub fn env_vars() -> impl Iterator<Item = &'static EnvVar> {
    [CANONICAL, CACHE_ALIASES, VALKEY_ALIASES, REDIS_FALLBACK]
        .into_iter()
        .flatten()
        .map(|binding| &binding.var)
}

impl Config {
    /// Applies the environment read through `env` (see the module docs and
    /// `docs/config-reference.md` for every name and the precedence).
    /// A malformed value is a [`ConfigError`] whose `field` is the variable.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::time::Duration;
    /// use cache_manager::config::Config;
    /// let env = HashMap::from([("CACHE_REDIS_COMMAND_TIMEOUT", "250ms")]);
    /// let mut config = Config::default();
    /// config.apply_env(&|name| env.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.cache.redis.command_timeout, Duration::from_millis(250));
    /// # Ok::<(), cache_core::ConfigError>(())
    /// ```
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let cache = &mut self.cache;

        apply_bindings(cache, VALKEY_ALIASES, env)?;
        valkey_host(cache, env)?;
        apply_bindings(cache, CACHE_ALIASES, env)?;
        read_write_timeouts(cache, env)?;
        apply_bindings(cache, CANONICAL, env)?;
        if let Some(text) = value(env, "CACHE_TENANTS_OVERRIDES", true) {
            cache.tenants.overrides = parse_yaml(&text, env).map_err(|e| {
                let at = if e.path.is_empty() {
                    String::new()
                } else {
                    format!("at `{}`: ", e.path)
                };
                ConfigError::new(
                    "CACHE_TENANTS_OVERRIDES",
                    format!("{at}{}", e.describe(None)),
                )
            })?;
            applied("CACHE_TENANTS_OVERRIDES", "cache.tenants.overrides");
        }

        redis_host_fallback(cache, env)
    }
}

/// `VALKEY_HOST` (with `VALKEY_PORT`): one address, and the Redis backend.
fn valkey_host(
    cache: &mut CacheConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let Some(host) = value(env, "VALKEY_HOST", false) else {
        return Ok(());
    };
    #[cfg(not(feature = "redis"))]
    {
        let _ = (cache, host);
        Err(ConfigError::new("VALKEY_HOST", NO_REDIS))
    }
    #[cfg(feature = "redis")]
    {
        let port = port(env, "VALKEY_PORT")?;
        cache.redis.addrs = vec![join_host_port(&host, port)];
        cache.backend = BackendKind::Redis;
        applied("VALKEY_HOST", "cache.redis.addrs");
        Ok(())
    }
}

/// `CACHE_READ_TIMEOUT` and `CACHE_WRITE_TIMEOUT`: redis-rs has one response
/// timeout for a whole command, so the larger one serves both.
fn read_write_timeouts(
    cache: &mut CacheConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let read = read_duration(env, "CACHE_READ_TIMEOUT")?;
    let write = read_duration(env, "CACHE_WRITE_TIMEOUT")?;
    let Some(timeout) = read.into_iter().chain(write).max() else {
        return Ok(());
    };
    #[cfg(not(feature = "redis"))]
    {
        let _ = (cache, timeout);
        Err(ConfigError::new(
            "CACHE_READ_TIMEOUT/CACHE_WRITE_TIMEOUT",
            NO_REDIS,
        ))
    }
    #[cfg(feature = "redis")]
    {
        cache.redis.command_timeout = timeout;
        applied(
            "CACHE_READ_TIMEOUT/CACHE_WRITE_TIMEOUT",
            "cache.redis.command_timeout",
        );
        Ok(())
    }
}

/// `REDIS_HOST` (with `REDIS_PORT`), read last and only to fill an empty
/// address list of the Redis backend. Without the backend there is nothing to
/// fill: Kubernetes defines `REDIS_PORT` in every pod of a namespace with a
/// Service named `redis`, so the variable alone must not fail a memory-only build.
fn redis_host_fallback(
    cache: &mut CacheConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    #[cfg(feature = "redis")]
    if cache.backend == BackendKind::Redis
        && cache.redis.addrs.is_empty()
        && let Some(host) = value(env, "REDIS_HOST", false)
    {
        let port = port(env, "REDIS_PORT")?;
        cache.redis.addrs = vec![join_host_port(&host, port)];
        applied("REDIS_HOST", "cache.redis.addrs");
    }
    #[cfg(not(feature = "redis"))]
    let _ = (cache, env);
    Ok(())
}

fn apply_bindings(
    cache: &mut CacheConfig,
    bindings: &[Binding],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for binding in bindings {
        let (
            Some(set),
            EnvVar {
                name,
                field,
                secret,
                ..
            },
        ) = (binding.set, binding.var)
        else {
            continue;
        };
        if let Some(text) = value(env, name, secret) {
            set(cache, &text).map_err(|reason| {
                ConfigError::new(name, format!("{reason} (it sets `{field}`)"))
            })?;
            applied(name, field);
        }
    }
    Ok(())
}

fn applied(variable: &str, field: &str) {
    tracing::debug!(
        variable,
        field,
        "configuration field set from the environment"
    );
}

/// The variable's value; `None` when unset or empty. Non-secret values are trimmed.
fn value(env: &dyn Fn(&str) -> Option<String>, name: &str, secret: bool) -> Option<String> {
    let raw = env(name)?;
    let text = if secret { raw } else { raw.trim().to_owned() };
    (!text.is_empty()).then_some(text)
}

fn read_duration(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Duration>, ConfigError> {
    value(env, name, false)
        .map(|text| {
            duration::parse(&text).map_err(|reason| {
                ConfigError::new(
                    name,
                    format!("{reason} (it sets `cache.redis.command_timeout`)"),
                )
            })
        })
        .transpose()
}

#[cfg(feature = "redis")]
/// The port variable that goes with a host variable: a number, or the
/// `tcp://10.0.0.7:6379` form that Kubernetes service links put in
/// `<SERVICE>_PORT` (a Service named `redis` or `valkey` defines `REDIS_PORT`
/// or `VALKEY_PORT` in every pod of its namespace). Default 6379.
fn port(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<u16, ConfigError> {
    let Some(text) = value(env, name, false) else {
        return Ok(6379);
    };
    let digits = match text.strip_prefix("tcp://") {
        Some(rest) => rest.rsplit_once(':').map_or("", |(_, port)| port),
        None => text.as_str(),
    };
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ConfigError::new(
            name,
            format!("`{text}` is not a port (1-65535, or `tcp://host:port`)"),
        )),
    }
}

#[cfg(feature = "redis")]
/// `host:port`, with an IPv6 host in brackets.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(feature = "redis")]
fn addrs(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

fn boolean(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "`{text}` is not a boolean (true/false, 1/0, yes/no, on/off)"
        )),
    }
}

fn set_bool(field: &mut bool, text: &str) -> Result<(), String> {
    *field = boolean(text)?;
    Ok(())
}

fn number<T: std::str::FromStr<Err = std::num::ParseIntError>>(text: &str) -> Result<T, String> {
    text.parse::<T>()
        .map_err(|e| format!("`{text}` is not a valid whole number here ({e})"))
}

fn set_number<T: std::str::FromStr<Err = std::num::ParseIntError>>(
    field: &mut T,
    text: &str,
) -> Result<(), String> {
    *field = number(text)?;
    Ok(())
}

fn set_duration(field: &mut Duration, text: &str) -> Result<(), String> {
    *field = duration::parse(text)?;
    Ok(())
}

fn backend(text: &str) -> Result<BackendKind, String> {
    match text.to_ascii_lowercase().as_str() {
        "memory" => Ok(BackendKind::Memory),
        "redis" | "valkey" => Ok(BackendKind::Redis),
        _ => Err(format!("`{text}` is not a backend (memory, redis)")),
    }
}

#[cfg(feature = "redis")]
fn mode(text: &str) -> Result<RedisMode, String> {
    match text.to_ascii_lowercase().as_str() {
        "standalone" | "single" => Ok(RedisMode::Standalone),
        "cluster" => Ok(RedisMode::Cluster),
        "sentinel" => Ok(RedisMode::Sentinel),
        _ => Err(format!(
            "`{text}` is not a Redis mode (standalone or single, cluster, sentinel)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_unique() {
        let mut names: Vec<_> = env_vars().map(|v| v.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn canonical_names_follow_the_field_path() {
        for v in env_vars().filter(|v| v.kind == EnvVarKind::Canonical) {
            let expected = v
                .field
                .replacen("cache.", "CACHE_", 1)
                .replace('.', "_")
                .to_ascii_uppercase();
            assert_eq!(v.name, expected);
        }
    }

    #[test]
    #[cfg(feature = "redis")]
    fn ipv6_hosts_get_brackets() {
        assert_eq!(join_host_port("::1", 6379), "[::1]:6379");
        assert_eq!(join_host_port("[::1]", 6379), "[::1]:6379");
        assert_eq!(join_host_port("redis", 7000), "redis:7000");
    }
}
