//! Validated connection settings, built from [`RedisConfig`] before any I/O.
//!
//! Everything a connection needs is checked here, fail-fast, with errors that
//! name the config field and never echo a secret: addresses are parsed (a URL
//! is refused because it tends to carry a password), the CA bundle is decoded
//! and parsed, and the combinations redis-rs cannot honour are refused instead
//! of silently ignored.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use cache_core::config::{RedisConfig, RedisMode};
use cache_core::{ConfigError, Result};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::retry::RetryPolicy;

/// The largest value Redis accepts in one string (`proto-max-bulk-len` default).
const REDIS_MAX_VALUE_BYTES: usize = 512 * 1024 * 1024;

/// The most connections per node a config may ask for.
const MAX_POOL_SIZE: usize = 256;

/// The port used when an address has none.
const DEFAULT_PORT: u16 = 6379;

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
}

/// TLS: system roots, or a CA bundle in PEM.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    pub(crate) root_cert_pem: Option<Vec<u8>>,
}

impl Settings {
    /// Validates `config`.
    pub(crate) fn from_config(config: &RedisConfig) -> Result<Settings> {
        let endpoints = parse_addrs(&config.addrs)?;
        match config.mode {
            RedisMode::Standalone if endpoints.len() > 1 => {
                return Err(field(
                    "cache.redis.addrs",
                    "standalone mode takes exactly one address; list a cluster's seed nodes with \
                     `mode: cluster`, or sentinels with `mode: sentinel`",
                ));
            }
            RedisMode::Sentinel if config.sentinel_master.trim().is_empty() => {
                return Err(field(
                    "cache.redis.sentinel_master",
                    "sentinel mode needs the monitored master's name",
                ));
            }
            _ => {}
        }
        if config.database < 0 {
            return Err(field("cache.redis.database", "must not be negative"));
        }
        if config.mode == RedisMode::Cluster && config.database != 0 {
            return Err(field(
                "cache.redis.database",
                "a Redis Cluster has only database 0",
            ));
        }
        if config.pool_size == 0 || config.pool_size > MAX_POOL_SIZE {
            return Err(field(
                "cache.redis.pool_size",
                format!("must be between 1 and {MAX_POOL_SIZE}"),
            ));
        }
        for (name, value) in [
            ("cache.redis.connect_timeout", config.connect_timeout),
            ("cache.redis.command_timeout", config.command_timeout),
        ] {
            if value.is_zero() {
                return Err(field(name, "must be positive"));
            }
        }
        if config.retry_backoff > config.max_retry_backoff {
            return Err(field(
                "cache.redis.retry_backoff",
                "must not exceed cache.redis.max_retry_backoff",
            ));
        }
        if config.max_value_bytes == 0 || config.max_value_bytes > REDIS_MAX_VALUE_BYTES {
            return Err(field(
                "cache.redis.max_value_bytes",
                format!("must be between 1 and {REDIS_MAX_VALUE_BYTES} (Redis's own limit)"),
            ));
        }
        let tls = tls_settings(config, &endpoints)?;
        Ok(Settings {
            mode: config.mode,
            endpoints,
            sentinel_master: config.sentinel_master.trim().to_owned(),
            username: config.username.clone().filter(|u| !u.is_empty()),
            password: config
                .password
                .as_ref()
                .filter(|p| !p.is_empty())
                .map(|p| p.expose().to_owned()),
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
        if self.tls.is_some() {
            ConnectionAddr::TcpTls {
                host: endpoint.host.clone(),
                port: endpoint.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(endpoint.host.clone(), endpoint.port)
        }
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
        match self.certificates() {
            Some(certs) => redis::Client::build_with_tls(info, certs),
            None => redis::Client::open(info),
        }
    }

    /// The CA bundle for redis-rs, when one is configured (`None` means system roots).
    pub(crate) fn certificates(&self) -> Option<redis::TlsCertificates> {
        let pem = self.tls.as_ref()?.root_cert_pem.clone()?;
        Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        })
    }
}

/// TCP keep-alive finds a dead peer (a NAT that dropped the flow, a node that
/// vanished) on idle connections; Nagle only adds latency to small commands.
pub(crate) fn tcp_settings() -> redis::io::tcp::TcpSettings {
    let keepalive = redis::io::tcp::socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    redis::io::tcp::TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive)
}

fn field(name: &str, reason: impl Into<String>) -> cache_core::CacheError {
    ConfigError::new(name, reason).into()
}

fn parse_addrs(addrs: &[String]) -> Result<Vec<Endpoint>> {
    if addrs.is_empty() {
        return Err(field(
            "cache.redis.addrs",
            "must name at least one host:port",
        ));
    }
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            parse_addr(addr).map_err(|reason| field(&format!("cache.redis.addrs[{i}]"), reason))
        })
        .collect()
}

/// Parses `host:port`, `host` (port 6379) or `[v6]:port`.
pub(crate) fn parse_addr(addr: &str) -> std::result::Result<Endpoint, String> {
    let addr = addr.trim();
    // A URL or userinfo may carry a password: refuse without echoing it.
    if addr.contains("://") || addr.contains('@') {
        return Err(
            "must be host:port, not a URL; put credentials in cache.redis.username and \
             cache.redis.password, and TLS in cache.redis.tls"
                .to_owned(),
        );
    }
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{addr}` has an unclosed `[`"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("`{addr}` is not [host]:port")),
            },
        }
    } else {
        match addr.matches(':').count() {
            0 => (addr, None),
            1 => {
                let (host, port) = addr.split_once(':').unwrap_or((addr, ""));
                (host, Some(port))
            }
            _ => {
                return Err(format!(
                    "`{addr}` is ambiguous; write an IPv6 address as [addr]:port"
                ));
            }
        }
    };
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(format!("`{addr}` has no valid host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(format!("`{addr}` has no valid port (1-65535)")),
        },
    };
    Ok(Endpoint {
        host: host.to_owned(),
        port,
    })
}

fn tls_settings(config: &RedisConfig, endpoints: &[Endpoint]) -> Result<Option<TlsSettings>> {
    let tls = &config.tls;
    let has_ca =
        tls.ca_cert_base64.as_ref().is_some_and(|s| !s.is_empty()) || tls.ca_cert_path.is_some();
    if !tls.enabled {
        if has_ca || tls.server_name.is_some() {
            return Err(field(
                "cache.redis.tls.enabled",
                "a CA or server name is configured but TLS is off; set tls.enabled: true",
            ));
        }
        return Ok(None);
    }
    if let Some(name) = tls.server_name.as_deref() {
        // redis-rs verifies the certificate against the host it connects to and
        // has no override for a connection manager: refuse rather than ignore.
        if endpoints.iter().any(|e| e.host != name) {
            return Err(field(
                "cache.redis.tls.server_name",
                "redis-rs verifies the server certificate against the host in cache.redis.addrs \
                 and cannot override it; put the certificate's name in addrs (resolvable through \
                 DNS or /etc/hosts) and drop server_name",
            ));
        }
    }
    let pem = match (&tls.ca_cert_base64, &tls.ca_cert_path) {
        (Some(b64), Some(_)) if !b64.is_empty() => {
            return Err(field(
                "cache.redis.tls",
                "give either ca_cert_base64 or ca_cert_path, not both",
            ));
        }
        (Some(b64), _) if !b64.is_empty() => {
            let compact: String = b64.expose().split_whitespace().collect();
            let pem = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|_| {
                    field(
                        "cache.redis.tls.ca_cert_base64",
                        "is not valid base64 (expected a base64-encoded PEM CA bundle)",
                    )
                })?;
            check_pem(&pem, "cache.redis.tls.ca_cert_base64")?;
            Some(pem)
        }
        (_, Some(path)) => {
            let pem = std::fs::read(path).map_err(|e| {
                field(
                    "cache.redis.tls.ca_cert_path",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            check_pem(&pem, "cache.redis.tls.ca_cert_path")?;
            Some(pem)
        }
        _ => None,
    };
    install_crypto_provider();
    Ok(Some(TlsSettings { root_cert_pem: pem }))
}

/// rustls needs a process-wide crypto provider and redis-rs enables none:
/// install ring's unless the application already installed one (then its
/// choice stands).
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Checks that `pem` holds at least one certificate that rustls can parse, by
/// building a client with it (no I/O happens).
fn check_pem(pem: &[u8], name: &str) -> Result<()> {
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(field(
            name,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    let addr = ConnectionAddr::TcpTls {
        host: "localhost".to_owned(),
        port: DEFAULT_PORT,
        insecure: false,
        tls_params: None,
    };
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    };
    redis::Client::build_with_tls(addr, certs)
        .map(drop)
        .map_err(|e| field(name, format!("is not a usable CA bundle: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_core::config::Secret;

    fn config(addrs: &[&str]) -> RedisConfig {
        let mut c = RedisConfig::default();
        c.addrs = addrs.iter().map(|s| s.to_string()).collect();
        c
    }

    fn config_error_field(result: Result<Settings>) -> String {
        match result {
            Err(cache_core::CacheError::Config(e)) => e.field,
            Err(other) => panic!("expected a config error, got {other}"),
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
        assert_eq!(parse_addr("cache.local").unwrap().port, 6379);
        assert_eq!(parse_addr("[::1]:7000").unwrap().host, "::1");
        assert_eq!(parse_addr("[::1]:7000").unwrap().to_string(), "[::1]:7000");
        assert!(parse_addr("::1").is_err());
        assert!(parse_addr("host:0").is_err());
        assert!(parse_addr("host:http").is_err());
        assert!(parse_addr(":6379").is_err());
    }

    #[test]
    fn a_url_with_a_password_is_refused_without_echoing_it() {
        let err = parse_addr("redis://user:hunter2@host:6379").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_addr("user:hunter2@host").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn empty_addrs_are_refused() {
        assert_eq!(
            config_error_field(Settings::from_config(&config(&[]))),
            "cache.redis.addrs"
        );
    }

    #[test]
    fn standalone_takes_one_address() {
        assert_eq!(
            config_error_field(Settings::from_config(&config(&["a:1", "b:2"]))),
            "cache.redis.addrs"
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
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "cache.redis.database"
        );
    }

    #[test]
    fn zero_pool_and_zero_timeouts_are_refused() {
        let mut c = config(&["a:1"]);
        c.pool_size = 0;
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "cache.redis.pool_size"
        );
        let mut c = config(&["a:1"]);
        c.command_timeout = Duration::ZERO;
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "cache.redis.command_timeout"
        );
    }

    #[test]
    fn bad_base64_ca_is_a_config_error_that_hides_the_value() {
        let mut c = config(&["a:1"]);
        c.tls.enabled = true;
        c.tls.ca_cert_base64 = Some(Secret::new("not*base64*SECRETVALUE"));
        let err = Settings::from_config(&c).err().unwrap();
        assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
        assert_eq!(
            config_error_field(Err(err)),
            "cache.redis.tls.ca_cert_base64"
        );
    }

    #[test]
    fn base64_that_is_not_a_certificate_is_refused() {
        let mut c = config(&["a:1"]);
        c.tls.enabled = true;
        c.tls.ca_cert_base64 = Some(Secret::new(
            base64::engine::general_purpose::STANDARD.encode("hello"),
        ));
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "cache.redis.tls.ca_cert_base64"
        );
    }

    #[test]
    fn a_ca_without_tls_is_refused() {
        let mut c = config(&["a:1"]);
        c.tls.ca_cert_path = Some("/nonexistent/ca.pem".into());
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "cache.redis.tls.enabled"
        );
    }

    #[test]
    fn a_server_name_other_than_the_host_is_refused() {
        let mut c = config(&["10.0.0.1:6379"]);
        c.tls.enabled = true;
        c.tls.server_name = Some("cache.example.com".into());
        assert_eq!(
            config_error_field(Settings::from_config(&c)),
            "cache.redis.tls.server_name"
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
}
