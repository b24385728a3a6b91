//! Validated connection settings, built from [`RedisConfig`] before any I/O.
//!
//! Everything a connection needs is checked here, fail-fast, with errors that
//! name the config field and never echo a secret: addresses are parsed (a URL
//! is refused because it tends to carry a password), the CA bundle is decoded
//! and parsed, and the combinations redis-rs cannot honour are refused instead
//! of silently ignored.

use std::fmt;
use std::time::Duration;

use std::net::Ipv6Addr;
use std::path::Path;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cache_core::ConfigError;
use cache_core::config::{Secret, duration};
use cache_core::error::over_limit;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::config::{RedisConfig, RedisMode, TlsConfig};

use crate::retry::RetryPolicy;

/// The largest `max_value_bytes`: 512 MiB, Redis's own limit for one string
/// (`proto-max-bulk-len`).
pub const MAX_VALUE_BYTES_LIMIT: usize = 512 * 1024 * 1024;

/// The most connections per node. Redis serves a connection per client on one
/// thread; thousands per process exhaust the server's `maxclients`.
pub const MAX_POOL_SIZE: usize = 1024;

/// The most retries an operation may be given. Each retry waits up to
/// `max_retry_backoff`; more than this keeps a caller hanging for minutes.
pub const MAX_RETRIES_LIMIT: u32 = 20;

/// One `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Everything needed to open connections, validated.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) mode: RedisMode,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) sentinel_master: String,
    pub(crate) username: Option<String>,
    /// Kept out of `Debug` (this type has no `Debug`; [`Settings::describe`] is safe to print).
    pub(crate) password: Option<String>,
    pub(crate) database: i64,
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) pool_size: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_value_bytes: usize,
    pub(crate) coalesce_gets: bool,
    /// The most members or fields one call on a set or hash may name.
    pub(crate) max_per_call: usize,
}

/// TLS: system roots, or a CA bundle in PEM.
#[derive(Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct TlsSettings {
    pub(crate) root_cert_pem: Option<Vec<u8>>,
}

impl Settings {
    /// Validates `config`: the one implementation of the Redis config rules
    /// ([`RedisConfig::validate`] is this without the result). Fields are
    /// named relative to the section (`addrs[1]`).
    pub(crate) fn from_config(config: &RedisConfig) -> Result<Settings, ConfigError> {
        let endpoints = parse_addrs(&config.addrs)?;
        match config.mode {
            RedisMode::Standalone if endpoints.len() > 1 => {
                return Err(ConfigError::new(
                    "addrs",
                    format!(
                        "standalone mode takes one address, {} are given (cluster seed nodes need \
                         `mode: cluster`, sentinels `mode: sentinel`)",
                        endpoints.len()
                    ),
                ));
            }
            RedisMode::Cluster if config.database != 0 => {
                return Err(ConfigError::new(
                    "database",
                    "Redis Cluster has only database 0",
                ));
            }
            RedisMode::Sentinel if config.sentinel_master.trim().is_empty() => {
                return Err(ConfigError::new(
                    "sentinel_master",
                    "sentinel mode needs the monitored master's name",
                ));
            }
            _ => {}
        }
        #[cfg(not(feature = "cluster"))]
        if config.mode == RedisMode::Cluster {
            return Err(ConfigError::new(
                "mode",
                "is `cluster`, but this build of cache-redis has no cluster support (its feature `cluster` is off)",
            ));
        }
        #[cfg(not(feature = "sentinel"))]
        if config.mode == RedisMode::Sentinel {
            return Err(ConfigError::new(
                "mode",
                "is `sentinel`, but this build of cache-redis has no sentinel support (its feature `sentinel` is off)",
            ));
        }
        if config.database < 0 {
            return Err(ConfigError::new("database", "must not be negative"));
        }
        if config.username.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new(
                "username",
                "is empty: leave it out for password-only AUTH",
            ));
        }
        if config.password.as_ref().is_some_and(Secret::is_empty) {
            return Err(ConfigError::new(
                "password",
                "is empty: leave it out when the server needs no password",
            ));
        }
        let tls = tls_settings(&config.tls, &endpoints).map_err(|e| e.within("tls"))?;
        if config.pool_size == 0 {
            return Err(ConfigError::new("pool_size", "must be at least 1"));
        }
        if config.pool_size > MAX_POOL_SIZE {
            let what = format_args!("{} connections per node", config.pool_size);
            return Err(ConfigError::new(
                "pool_size",
                over_limit(what, MAX_POOL_SIZE),
            ));
        }
        for (name, value) in [
            ("connect_timeout", config.connect_timeout),
            ("command_timeout", config.command_timeout),
            ("retry_backoff", config.retry_backoff),
            ("max_retry_backoff", config.max_retry_backoff),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(
                    name,
                    "must be positive (write e.g. `500ms` or `5s`)",
                ));
            }
        }
        if config.max_retry_backoff < config.retry_backoff {
            return Err(ConfigError::new(
                "max_retry_backoff",
                format!(
                    "must be at least retry_backoff ({})",
                    duration::format(config.retry_backoff)
                ),
            ));
        }
        if config.max_retries > MAX_RETRIES_LIMIT {
            let what = format_args!("{} retries", config.max_retries);
            return Err(ConfigError::new(
                "max_retries",
                over_limit(what, MAX_RETRIES_LIMIT),
            ));
        }
        if config.max_value_bytes == 0 || config.max_value_bytes > MAX_VALUE_BYTES_LIMIT {
            return Err(ConfigError::new(
                "max_value_bytes",
                format!(
                    "must be between 1 and {MAX_VALUE_BYTES_LIMIT} bytes (512 MiB, Redis's own \
                     limit), not {}",
                    config.max_value_bytes
                ),
            ));
        }
        Ok(Settings {
            mode: config.mode,
            endpoints,
            sentinel_master: config.sentinel_master.trim().to_owned(),
            username: config.username.clone(),
            password: config.password.as_ref().map(|p| p.expose().to_owned()),
            database: config.database,
            tls,
            pool_size: config.pool_size,
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
            retry: RetryPolicy::new(
                config.max_retries,
                config.retry_backoff,
                config.max_retry_backoff,
            ),
            max_value_bytes: config.max_value_bytes,
            coalesce_gets: config.coalesce_gets,
            max_per_call: cache_core::collections::DEFAULT_MAX_PER_CALL,
        })
    }

    /// The endpoint set in words, for errors and logs (never a credential).
    pub(crate) fn describe(&self) -> String {
        let addrs = self
            .endpoints
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        match self.mode {
            RedisMode::Cluster => format!("cluster seeds {addrs}"),
            RedisMode::Sentinel => {
                format!("master {:?} via sentinels {addrs}", self.sentinel_master)
            }
            _ => addrs,
        }
    }

    /// The handshake settings: credentials and database.
    pub(crate) fn redis_info(&self) -> RedisConnectionInfo {
        let mut info = RedisConnectionInfo::default().set_db(self.database);
        if let Some(user) = &self.username {
            info = info.set_username(user);
        }
        if let Some(password) = &self.password {
            info = info.set_password(password);
        }
        info
    }

    /// The address of `endpoint`, plain or TLS.
    pub(crate) fn connection_addr(&self, endpoint: &Endpoint) -> ConnectionAddr {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return ConnectionAddr::TcpTls {
                host: endpoint.host.clone(),
                port: endpoint.port,
                insecure: false,
                tls_params: None,
            };
        }
        ConnectionAddr::Tcp(endpoint.host.clone(), endpoint.port)
    }

    /// Full connection info for `endpoint` (without the CA, see [`Settings::client`]).
    pub(crate) fn connection_info(
        &self,
        endpoint: &Endpoint,
    ) -> redis::RedisResult<ConnectionInfo> {
        Ok(self
            .connection_addr(endpoint)
            .into_connection_info()?
            .set_redis_settings(self.redis_info())
            .set_tcp_settings(tcp_settings()))
    }

    /// A client for `endpoint`, with the CA bundle when one is configured.
    pub(crate) fn client(&self, endpoint: &Endpoint) -> redis::RedisResult<redis::Client> {
        let info = self.connection_info(endpoint)?;
        #[cfg(feature = "tls")]
        if let Some(certs) = self.certificates() {
            return redis::Client::build_with_tls(info, certs);
        }
        redis::Client::open(info)
    }

    /// The CA bundle for redis-rs, when one is configured (`None` means system roots).
    #[cfg(feature = "tls")]
    pub(crate) fn certificates(&self) -> Option<redis::TlsCertificates> {
        let pem = self.tls.as_ref()?.root_cert_pem.clone()?;
        Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        })
    }
}

impl RedisConfig {
    /// Checks every rule (addresses, mode, credentials, TLS and the CA
    /// material, pool, timeouts, retries, value size) without any I/O but
    /// reading `tls.ca_cert_path`. Fields are named relative to this section
    /// (`addrs[1]`, `tls.ca_cert_base64`); the manager places them with
    /// [`ConfigError::within`](cache_core::ConfigError::within).
    ///
    /// ```
    /// use cache_redis::RedisConfig;
    /// let mut config = RedisConfig::default();
    /// assert_eq!(config.validate().unwrap_err().field, "addrs");
    /// config.addrs = vec!["cache.internal:6379".into()];
    /// assert!(config.validate().is_ok());
    /// config.pool_size = 5000;
    /// assert_eq!(config.validate().unwrap_err().field, "pool_size");
    /// ```
    pub fn validate(&self) -> Result<(), cache_core::ConfigError> {
        Settings::from_config(self).map(drop)
    }
}

/// TCP keep-alive finds a dead peer (a NAT that dropped the flow, a node that
/// vanished) on idle connections. `TCP_NODELAY` is on, as in go-redis, Lettuce
/// and Jedis: with Nagle, a command of one full segment plus a partial one
/// (a value just over the MSS: 1,448 bytes on most networks, 8,949 in an AWS
/// VPC) holds its tail until the server acknowledges the head, and the server
/// delays that ACK (up to 40 ms on Linux) while it waits for the rest of the
/// command. Loopback's 64 KiB MSS hides this, which is why the loopback
/// benchmark favoured Nagle at 64 tasks (docs/BENCHMARKS.md); get coalescing
/// (on by default) batches concurrent reads instead, without the stall.
pub(crate) fn tcp_settings() -> redis::io::tcp::TcpSettings {
    let keepalive = redis::io::tcp::socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    redis::io::tcp::TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive)
}

fn parse_addrs(addrs: &[String]) -> Result<Vec<Endpoint>, ConfigError> {
    if addrs.is_empty() {
        return Err(ConfigError::new(
            "addrs",
            "at least one `host:port` address is required when the backend is redis",
        ));
    }
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            parse_addr(addr).map_err(|reason| ConfigError::new(format!("addrs[{i}]"), reason))
        })
        .collect()
}

/// Parses `host:port` or `[ipv6]:port`, port 1-65535. The reason quotes the
/// address, except when it looks like a URL or carries userinfo: those may
/// hold a password.
pub(crate) fn parse_addr(addr: &str) -> std::result::Result<Endpoint, String> {
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
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(Endpoint {
            host: host.to_owned(),
            port,
        }),
        _ => Err(format!("`{port}` in `{addr}` is not a port (1-65535)")),
    }
}

/// Fields relative to the `tls` section.
fn tls_settings(
    tls: &TlsConfig,
    endpoints: &[Endpoint],
) -> Result<Option<TlsSettings>, ConfigError> {
    if !tls.enabled {
        // A CA given for a plaintext connection would be silently ignored.
        let stray = [
            ("ca_cert_base64", tls.ca_cert_base64.is_some()),
            ("ca_cert_path", tls.ca_cert_path.is_some()),
            ("server_name", tls.server_name.is_some()),
        ];
        if let Some((name, _)) = stray.iter().find(|(_, set)| *set) {
            return Err(ConfigError::new(
                "enabled",
                format!("`{name}` is set but TLS is off: set `enabled: true` or remove `{name}`"),
            ));
        }
        return Ok(None);
    }
    #[cfg(not(feature = "tls"))]
    if tls.enabled {
        return Err(ConfigError::new(
            "enabled",
            "is true, but this build of cache-redis has no TLS support (its feature `tls` is off)",
        ));
    }
    if let Some(name) = tls.server_name.as_deref() {
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new(
                "server_name",
                "must be a non-empty host name without spaces",
            ));
        }
        // redis-rs verifies the certificate against the host it connects to and
        // has no override for a connection manager: refuse rather than ignore.
        if endpoints.iter().any(|e| e.host != name) {
            return Err(ConfigError::new(
                "server_name",
                "redis-rs verifies the server certificate against the host in `addrs` and \
                 cannot override it; put the certificate's name in `addrs` (resolvable through \
                 DNS or /etc/hosts) and drop `server_name`",
            ));
        }
    }
    let pem = match (&tls.ca_cert_base64, &tls.ca_cert_path) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "",
                "set at most one of `ca_cert_base64` and `ca_cert_path`",
            ));
        }
        (Some(encoded), None) => Some(
            decode_ca_base64(encoded.expose())
                .map_err(|reason| ConfigError::new("ca_cert_base64", reason))?,
        ),
        (None, Some(file)) => {
            Some(read_ca_file(file).map_err(|reason| ConfigError::new("ca_cert_path", reason))?)
        }
        (None, None) => None,
    };
    #[cfg(feature = "tls")]
    install_crypto_provider();
    Ok(Some(TlsSettings { root_cert_pem: pem }))
}

/// Decodes base64 leniently: whitespace (line wrapping by `base64`) and padding are optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The PEM bundle inside `encoded`. Never quotes the value: the reasons
/// describe its shape only.
fn decode_ca_base64(encoded: &str) -> std::result::Result<Vec<u8>, String> {
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
    let text = String::from_utf8(decoded).map_err(|_| {
        "does not decode to a PEM certificate (the decoded bytes are not text; DER is not accepted)"
            .to_owned()
    })?;
    check_pem_certificate(&text).map_err(|reason| format!("decodes to {reason}"))?;
    Ok(text.into_bytes())
}

fn read_ca_file(file: &Path) -> std::result::Result<Vec<u8>, String> {
    let shown = file.display();
    let text = std::fs::read(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("`{shown}` does not exist"),
        std::io::ErrorKind::PermissionDenied => {
            format!("`{shown}` is not readable (permission denied)")
        }
        _ => format!("`{shown}` cannot be read: {e}"),
    })?;
    let text = String::from_utf8(text).map_err(|_| format!("`{shown}` is not a PEM file"))?;
    check_pem_certificate(&text).map_err(|reason| format!("`{shown}` holds {reason}"))?;
    Ok(text.into_bytes())
}

/// At least one `CERTIFICATE` block whose body is base64, and a bundle that
/// rustls takes (building a client with it; no I/O happens). The reason
/// completes "decodes to ..." / "holds ...".
fn check_pem_certificate(text: &str) -> std::result::Result<(), String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let Some(start) = text.find(BEGIN) else {
        return Err("no PEM certificate (no `-----BEGIN CERTIFICATE-----` line)".to_owned());
    };
    let body_and_rest = &text[start + BEGIN.len()..];
    let Some(end) = body_and_rest.find(END) else {
        return Err("a PEM certificate without its `-----END CERTIFICATE-----` line".to_owned());
    };
    let body: String = body_and_rest[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    match LENIENT_BASE64.decode(body.as_bytes()) {
        Ok(der) if !der.is_empty() => {}
        _ => return Err("a PEM certificate whose body is not base64".to_owned()),
    }
    rustls_accepts(text)
}

/// Whether rustls takes the bundle (building a client with it; no I/O happens).
#[cfg(feature = "tls")]
fn rustls_accepts(text: &str) -> std::result::Result<(), String> {
    install_crypto_provider();
    let addr = ConnectionAddr::TcpTls {
        host: "localhost".to_owned(),
        port: 6379,
        insecure: false,
        tls_params: None,
    };
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(text.as_bytes().to_vec()),
    };
    redis::Client::build_with_tls(addr, certs)
        .map(drop)
        .map_err(|e| format!("a CA bundle rustls cannot use ({e})"))
}

/// Without TLS support nothing reads the bundle; the shape checks above stand.
#[cfg(not(feature = "tls"))]
fn rustls_accepts(_text: &str) -> std::result::Result<(), String> {
    Ok(())
}

/// rustls needs a process-wide crypto provider and redis-rs enables none:
/// install ring's unless the application already installed one (then its
/// choice stands).
#[cfg(feature = "tls")]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_core::config::Secret;

    fn config(addrs: &[&str]) -> RedisConfig {
        RedisConfig {
            addrs: addrs.iter().map(|s| s.to_string()).collect(),
            ..RedisConfig::default()
        }
    }

    fn config_error_field(result: Result<Settings, ConfigError>) -> String {
        match result {
            Err(e) => e.field,
            Ok(_) => panic!("expected a config error, got settings"),
        }
    }

    #[test]
    fn parses_host_port_forms() {
        assert_eq!(
            parse_addr("cache.local:6380").unwrap(),
            Endpoint {
                host: "cache.local".into(),
                port: 6380
            }
        );
        // The port is required: an address without one is refused, not defaulted.
        assert!(parse_addr("cache.local").is_err());
        assert_eq!(parse_addr("[::1]:7000").unwrap().host, "::1");
        assert_eq!(parse_addr("[::1]:7000").unwrap().to_string(), "[::1]:7000");
        assert!(parse_addr("::1").is_err());
        assert!(parse_addr("::1:6379").is_err());
        assert!(parse_addr("host:0").is_err());
        assert!(parse_addr("host:http").is_err());
        assert!(parse_addr(":6379").is_err());
    }

    #[test]
    fn a_url_with_a_password_is_refused_without_echoing_it() {
        let err = parse_addr("redis://user:hunter2@host:6379").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_addr("user:hunter2@host:6379").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn empty_addrs_are_refused() {
        assert_eq!(
            config_error_field(Settings::from_config(&config(&[]))),
            "addrs"
        );
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn standalone_takes_one_address() {
        assert_eq!(
            config_error_field(Settings::from_config(&config(&["a:1", "b:2"]))),
            "addrs"
        );
        let mut c = config(&["a:1", "b:2"]);
        c.mode = RedisMode::Cluster;
        assert!(Settings::from_config(&c).is_ok());
    }

    #[test]
    fn cluster_refuses_a_database() {
        let mut c = config(&["a:1"]);
        c.mode = RedisMode::Cluster;
        c.database = 2;
        assert_eq!(config_error_field(Settings::from_config(&c)), "database");
    }

    #[test]
    fn zero_pool_and_zero_timeouts_are_refused() {
        let mut c = config(&["a:1"]);
        c.pool_size = 0;
        assert_eq!(config_error_field(Settings::from_config(&c)), "pool_size");
        let mut c = config(&["a:1"]);
        c.command_timeout = Duration::ZERO;
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "command_timeout"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn bad_base64_ca_is_a_config_error_that_hides_the_value() {
        let mut c = config(&["a:1"]);
        c.tls.enabled = true;
        c.tls.ca_cert_base64 = Some(Secret::new("not*base64*SECRETVALUE"));
        let err = Settings::from_config(&c).err().unwrap();
        assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
        assert_eq!(config_error_field(Err(err)), "tls.ca_cert_base64");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn base64_that_is_not_a_certificate_is_refused() {
        let mut c = config(&["a:1"]);
        c.tls.enabled = true;
        c.tls.ca_cert_base64 = Some(Secret::new(
            base64::engine::general_purpose::STANDARD.encode("hello"),
        ));
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "tls.ca_cert_base64"
        );
    }

    #[test]
    fn a_ca_without_tls_is_refused() {
        let mut c = config(&["a:1"]);
        c.tls.ca_cert_path = Some("/nonexistent/ca.pem".into());
        assert_eq!(config_error_field(Settings::from_config(&c)), "tls.enabled");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_server_name_other_than_the_host_is_refused() {
        let mut c = config(&["10.0.0.1:6379"]);
        c.tls.enabled = true;
        c.tls.server_name = Some("cache.example.com".into());
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "tls.server_name"
        );
        c.addrs = vec!["cache.example.com:6379".into()];
        assert!(Settings::from_config(&c).is_ok());
    }

    #[test]
    fn describe_names_addresses_and_never_the_password() {
        let mut c = config(&["a:1"]);
        c.password = Some(Secret::new("hunter2"));
        c.username = Some("app".into());
        let s = Settings::from_config(&c).unwrap();
        assert_eq!(s.describe(), "a:1");
        assert!(!format!("{:?}", s.redis_info()).contains("hunter2"));
    }

    #[cfg(not(all(feature = "cluster", feature = "sentinel", feature = "tls")))]
    #[test]
    fn a_mode_or_tls_this_build_lacks_is_refused_by_name() {
        #[cfg(not(feature = "cluster"))]
        {
            let mut c = config(&["a:1", "b:2"]);
            c.mode = RedisMode::Cluster;
            assert_eq!(config_error_field(Settings::from_config(&c)), "mode");
        }
        #[cfg(not(feature = "sentinel"))]
        {
            let mut c = config(&["a:1"]);
            c.mode = RedisMode::Sentinel;
            assert_eq!(config_error_field(Settings::from_config(&c)), "mode");
        }
        #[cfg(not(feature = "tls"))]
        {
            let mut c = config(&["a:1"]);
            c.tls.enabled = true;
            assert_eq!(config_error_field(Settings::from_config(&c)), "tls.enabled");
        }
    }
}
