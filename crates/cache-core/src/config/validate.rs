//! Fail-fast validation: the first wrong field stops start-up, named by its
//! dotted path (`cache.redis.addrs[1]`), with a reason that never quotes a secret.
//!
//! An explicitly disabled cache (`enabled: false`) validates nothing else: its
//! sections may be incomplete. The Redis section is checked when the backend is
//! Redis (at the top level, or in a tenant override); the memory and tenants
//! sections are always checked (the in-memory fallback and the manager use them).

use std::net::Ipv6Addr;
use std::path::Path;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::load::is_plain_key;
use super::model::{
    BackendKind, CacheConfig, Config, MemoryConfig, RedisConfig, RedisMode, TenantOverride,
    TenantsConfig, TlsConfig,
};
use crate::error::{CacheError, ConfigError};

/// The longest `key_prefix` (and tenant `namespace`), in bytes. A prefix is an
/// application name such as `orders:`; keys themselves are capped at
/// [`crate::key::MAX_KEY_BYTES`].
pub const MAX_KEY_PREFIX_BYTES: usize = 256;

/// The largest `max_value_bytes`: 512 MiB, Redis's own limit for one string
/// (`proto-max-bulk-len`).
pub const MAX_VALUE_BYTES_LIMIT: usize = 512 * 1024 * 1024;

/// The most retries an operation may be given. Each retry waits up to
/// `max_retry_backoff`; more than this keeps a caller hanging for minutes.
pub const MAX_RETRIES_LIMIT: u32 = 20;

/// The most connections per node. Redis serves a connection per client on one
/// thread; thousands per process exhaust the server's `maxclients`.
pub const MAX_POOL_SIZE: usize = 1024;

impl Config {
    /// Checks every rule of `docs/config-reference.md` and returns the first
    /// broken one, naming its field. Reads `tls.ca_cert_path` from disk.
    ///
    /// ```
    /// use cache_core::config::{BackendKind, Config};
    /// let mut config = Config::default();
    /// config.cache.backend = BackendKind::Redis;
    /// let err = config.validate().unwrap_err();
    /// assert_eq!(err.field, "cache.redis.addrs");
    /// config.cache.enabled = false; // explicitly disabled: nothing else is checked
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.cache.validate_at("cache")
    }
}

impl CacheConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        check_prefix(&format!("{path}.key_prefix"), &self.key_prefix)?;
        self.memory.validate_at(&format!("{path}.memory"))?;
        if self.backend == BackendKind::Redis {
            self.redis.validate_at(&format!("{path}.redis"))?;
        }
        self.tenants.validate_at(&format!("{path}.tenants"))
    }
}

impl MemoryConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        if self.max_entries == 0 {
            return Err(ConfigError::new(
                format!("{path}.max_entries"),
                "must be at least 1",
            ));
        }
        if self.max_bytes == Some(0) {
            return Err(ConfigError::new(
                format!("{path}.max_bytes"),
                "must be at least 1 (leave it out for no byte bound)",
            ));
        }
        if let Err(e) = crate::ttl::ttl_millis(self.default_ttl) {
            let reason = match e {
                CacheError::InvalidTtl { reason, .. } => reason.to_owned(),
                other => other.to_string(),
            };
            return Err(ConfigError::new(format!("{path}.default_ttl"), reason));
        }
        check_value_bytes(&format!("{path}.max_value_bytes"), self.max_value_bytes)
    }
}

impl RedisConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        let field = |name: &str| format!("{path}.{name}");
        if self.addrs.is_empty() {
            return Err(ConfigError::new(
                field("addrs"),
                "at least one `host:port` address is required when the backend is redis",
            ));
        }
        for (i, addr) in self.addrs.iter().enumerate() {
            check_addr(addr)
                .map_err(|reason| ConfigError::new(format!("{path}.addrs[{i}]"), reason))?;
        }
        match self.mode {
            RedisMode::Standalone if self.addrs.len() > 1 => {
                return Err(ConfigError::new(
                    field("addrs"),
                    format!(
                        "standalone mode takes one address, {} are given (cluster seed nodes need `mode: cluster`, sentinels `mode: sentinel`)",
                        self.addrs.len()
                    ),
                ));
            }
            RedisMode::Cluster if self.database != 0 => {
                return Err(ConfigError::new(
                    field("database"),
                    "Redis Cluster has only database 0",
                ));
            }
            RedisMode::Sentinel if self.sentinel_master.trim().is_empty() => {
                return Err(ConfigError::new(
                    field("sentinel_master"),
                    "sentinel mode needs the monitored master's name",
                ));
            }
            _ => {}
        }
        if self.database < 0 {
            return Err(ConfigError::new(field("database"), "must not be negative"));
        }
        if self.username.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new(
                field("username"),
                "is empty: leave it out for password-only AUTH",
            ));
        }
        if self.password.as_ref().is_some_and(|p| p.is_empty()) {
            return Err(ConfigError::new(
                field("password"),
                "is empty: leave it out when the server needs no password",
            ));
        }
        self.tls.validate_at(&field("tls"))?;
        if self.pool_size == 0 {
            return Err(ConfigError::new(field("pool_size"), "must be at least 1"));
        }
        if self.pool_size > MAX_POOL_SIZE {
            return Err(ConfigError::new(
                field("pool_size"),
                format!(
                    "{} connections per node is more than the limit of {MAX_POOL_SIZE}",
                    self.pool_size
                ),
            ));
        }
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("command_timeout", self.command_timeout),
            ("retry_backoff", self.retry_backoff),
            ("max_retry_backoff", self.max_retry_backoff),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(
                    field(name),
                    "must be positive (write e.g. `500ms` or `5s`)",
                ));
            }
        }
        if self.max_retry_backoff < self.retry_backoff {
            return Err(ConfigError::new(
                field("max_retry_backoff"),
                format!(
                    "must be at least retry_backoff ({})",
                    super::model::duration::format(self.retry_backoff)
                ),
            ));
        }
        if self.max_retries > MAX_RETRIES_LIMIT {
            return Err(ConfigError::new(
                field("max_retries"),
                format!(
                    "{} retries is more than the limit of {MAX_RETRIES_LIMIT}",
                    self.max_retries
                ),
            ));
        }
        check_value_bytes(&field("max_value_bytes"), self.max_value_bytes)
    }
}

impl TlsConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        let field = |name: &str| format!("{path}.{name}");
        if !self.enabled {
            // A CA given for a plaintext connection would be silently ignored.
            let stray = [
                ("ca_cert_base64", self.ca_cert_base64.is_some()),
                ("ca_cert_path", self.ca_cert_path.is_some()),
                ("server_name", self.server_name.is_some()),
            ];
            if let Some((name, _)) = stray.iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(
                    field("enabled"),
                    format!(
                        "`{name}` is set but TLS is off: set `enabled: true` or remove `{name}`"
                    ),
                ));
            }
            return Ok(());
        }
        match (&self.ca_cert_base64, &self.ca_cert_path) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                path,
                "set at most one of `ca_cert_base64` and `ca_cert_path`",
            )),
            (Some(encoded), None) => check_ca_base64(encoded.expose())
                .map_err(|reason| ConfigError::new(field("ca_cert_base64"), reason)),
            (None, Some(file)) => check_ca_file(file)
                .map_err(|reason| ConfigError::new(field("ca_cert_path"), reason)),
            (None, None) => Ok(()),
        }?;
        if let Some(name) = &self.server_name
            && (name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(ConfigError::new(
                field("server_name"),
                "must be a non-empty host name without spaces",
            ));
        }
        Ok(())
    }
}

impl TenantsConfig {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        let field = |name: &str| format!("{path}.{name}");
        if self.max_tenants == 0 {
            return Err(ConfigError::new(field("max_tenants"), "must be at least 1"));
        }
        if self.idle_ttl.is_zero() {
            return Err(ConfigError::new(
                field("idle_ttl"),
                "must be positive (write e.g. `30m`)",
            ));
        }
        check_namespace_template(&field("namespace"), &self.namespace)?;
        check_prefix(&field("namespace"), &self.namespace)?;
        for (tenant, tenant_override) in &self.overrides {
            let at = if is_plain_key(tenant) {
                format!("{path}.overrides.{tenant}")
            } else {
                format!("{path}.overrides[{tenant:?}]")
            };
            if tenant.is_empty() {
                return Err(ConfigError::new(at, "a tenant id must not be empty"));
            }
            tenant_override.validate_at(&at)?;
        }
        Ok(())
    }
}

impl TenantOverride {
    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        self.memory.validate_at(&format!("{path}.memory"))?;
        if self.backend == BackendKind::Redis {
            self.redis.validate_at(&format!("{path}.redis"))?;
        }
        Ok(())
    }
}

fn check_prefix(field: &str, prefix: &str) -> Result<(), ConfigError> {
    if prefix.len() > MAX_KEY_PREFIX_BYTES {
        return Err(ConfigError::new(
            field,
            format!(
                "is {} bytes, more than the limit of {MAX_KEY_PREFIX_BYTES}",
                prefix.len()
            ),
        ));
    }
    Ok(())
}

fn check_value_bytes(field: &str, max: usize) -> Result<(), ConfigError> {
    if max == 0 || max > MAX_VALUE_BYTES_LIMIT {
        return Err(ConfigError::new(
            field,
            format!("must be between 1 and {MAX_VALUE_BYTES_LIMIT} bytes (512 MiB), not {max}"),
        ));
    }
    Ok(())
}

/// `host:port` or `[ipv6]:port`, port 1-65535. The reason quotes the address,
/// except when it looks like a URL or carries userinfo: those may hold a password.
fn check_addr(addr: &str) -> Result<(), String> {
    if addr.contains("://") || addr.contains('@') {
        return Err(
            "is a URL or carries credentials (not quoted here): write `host:port`; TLS is \
             `tls.enabled`, credentials are `username` and `password`"
                .to_owned(),
        );
    }
    if addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{addr:?} contains whitespace"));
    }
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("`{addr}` is not `[ipv6]:port`"))?;
        host.parse::<Ipv6Addr>()
            .map_err(|_| format!("`{host}` in `{addr}` is not an IPv6 address"))?;
        (host, port)
    } else {
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
            format!("`{addr}` has no port: write `host:port`, e.g. `{addr}:6379`")
        })?;
        if host.contains(':') {
            return Err(format!(
                "`{addr}` looks like a bare IPv6 address: write it in brackets, e.g. `[::1]:6379`"
            ));
        }
        if host.is_empty() {
            return Err(format!("`{addr}` has no host"));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(format!(
                "`{host}` in `{addr}` is not a host name or IPv4 address"
            ));
        }
        (host, port)
    };
    debug_assert!(!host.is_empty());
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("`{port}` in `{addr}` is not a port (1-65535)")),
    }
}

/// Decodes base64 leniently: whitespace (line wrapping by `base64`) and padding are optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Never quotes the value: the reasons describe its shape only.
fn check_ca_base64(encoded: &str) -> Result<(), String> {
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if compact.starts_with("-----BEGIN") {
        return Err(
            "holds PEM text, not its base64 encoding: encode it (`base64 -w0 ca.pem`) or use `ca_cert_path`"
                .to_owned(),
        );
    }
    let decoded = LENIENT_BASE64
        .decode(compact.as_bytes())
        .map_err(|_| "is not valid base64".to_owned())?;
    let text = String::from_utf8(decoded)
        .map_err(|_| "does not decode to a PEM certificate (the decoded bytes are not text; DER is not accepted)".to_owned())?;
    check_pem_certificate(&text).map_err(|reason| format!("decodes to {reason}"))
}

fn check_ca_file(file: &Path) -> Result<(), String> {
    let shown = file.display();
    let text = std::fs::read(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("`{shown}` does not exist"),
        std::io::ErrorKind::PermissionDenied => {
            format!("`{shown}` is not readable (permission denied)")
        }
        _ => format!("`{shown}` cannot be read: {e}"),
    })?;
    let text = String::from_utf8(text).map_err(|_| format!("`{shown}` is not a PEM file"))?;
    check_pem_certificate(&text).map_err(|reason| format!("`{shown}` holds {reason}"))
}

/// At least one `CERTIFICATE` block whose body is base64. The reason
/// completes "decodes to ..." / "holds ...".
fn check_pem_certificate(text: &str) -> Result<(), &'static str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Some(start) = text.find(BEGIN) else {
        return Err("no PEM certificate (no `-----BEGIN CERTIFICATE-----` line)");
    };
    let body_and_rest = &text[start + BEGIN.len()..];
    let Some(end) = body_and_rest.find(END) else {
        return Err("a PEM certificate without its `-----END CERTIFICATE-----` line");
    };
    let body: String = body_and_rest[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    match LENIENT_BASE64.decode(body.as_bytes()) {
        Ok(der) if !der.is_empty() => Ok(()),
        _ => Err("a PEM certificate whose body is not base64"),
    }
}

/// The tenant namespace template: `<tenant>` exactly once, followed by a
/// separator that escaped tenant ids never contain (anything outside
/// `[A-Za-z0-9._%-]`), or one tenant's keys could fall inside another
/// tenant's namespace (`t:<tenant>` would make tenant `a` a prefix of `ab`).
fn check_namespace_template(field: &str, template: &str) -> Result<(), ConfigError> {
    let mut parts = template.split("<tenant>");
    let _head = parts.next();
    let Some(tail) = parts.next() else {
        return Err(ConfigError::new(
            field,
            "must contain the `<tenant>` placeholder, e.g. `tenant:{<tenant>}:`",
        ));
    };
    if parts.next().is_some() {
        return Err(ConfigError::new(
            field,
            "must contain the `<tenant>` placeholder only once",
        ));
    }
    match tail.bytes().next() {
        Some(b) if !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'%')) => Ok(()),
        _ => Err(ConfigError::new(
            field,
            "`<tenant>` must be followed by a separator outside [A-Za-z0-9._%-] \
             (e.g. `:` or `}:`), or one tenant's keys could fall inside another tenant's namespace",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_host_and_port() {
        for good in [
            "localhost:6379",
            "10.0.0.1:7000",
            "[::1]:6379",
            "my-valkey.cache.amazonaws.com:6379",
        ] {
            assert!(check_addr(good).is_ok(), "{good}");
        }
        for bad in [
            "localhost",
            ":6379",
            "host:0",
            "host:65536",
            "host:port",
            "::1:6379",
            "redis://h:1",
            "[::1]6379",
            "[zz]:1",
            "a b:1",
        ] {
            assert!(check_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pem_check_wants_a_certificate_block() {
        assert!(
            check_pem_certificate("-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n")
                .is_ok()
        );
        assert!(
            check_pem_certificate("-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(check_pem_certificate("-----BEGIN CERTIFICATE-----\nAAEC\n").is_err());
        assert!(
            check_pem_certificate("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----")
                .is_err()
        );
    }
}
