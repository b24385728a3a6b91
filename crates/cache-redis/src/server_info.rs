//! What the server is, as far as the cache cares: whether it accepts
//! `SET key value NX GET` (Redis 7.0+, and every Valkey, which forked from
//! Redis 7.2 and reports its own version as `valkey_version`), and which
//! native conditional commands replace the Lua scripts: `SET … IFEQ`
//! (Valkey 8.1+), `DELIFEQ` (Valkey 9.0+), `DELEX … IFEQ` (Redis 8.4+).

/// A server version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(pub(crate) u32, pub(crate) u32, pub(crate) u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// What `INFO server` says about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerInfo {
    /// `redis` or `valkey`.
    pub(crate) engine: &'static str,
    pub(crate) version: Version,
}

impl ServerInfo {
    /// Parses the text of `INFO server`. Valkey also reports a
    /// `redis_version` (7.2.4, for compatibility); its own version wins.
    pub(crate) fn parse(info: &str) -> Option<ServerInfo> {
        let field = |name: &str| {
            info.lines().find_map(|line| {
                line.trim()
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .and_then(parse_version)
            })
        };
        if let Some(version) = field("valkey_version") {
            return Some(ServerInfo {
                engine: "valkey",
                version,
            });
        }
        let is_valkey = info
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("server_name:valkey"));
        field("redis_version").map(|version| ServerInfo {
            engine: if is_valkey { "valkey" } else { "redis" },
            version,
        })
    }

    /// Whether `SET key value NX GET` works: Redis 7.0+, any Valkey.
    pub(crate) fn supports_set_nx_get(&self) -> bool {
        self.engine == "valkey" || self.version >= Version(7, 0, 0)
    }
}

/// The native command that deletes a key only if it holds a given value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteIfEqual {
    /// `DELIFEQ key value` (Valkey 9.0+).
    Delifeq,
    /// `DELEX key IFEQ value` (Redis 8.4+).
    Delex,
}

impl ServerInfo {
    /// Whether `SET key value IFEQ expected` works: Valkey 8.1+. (Redis 8.4
    /// has an `IFEQ` of its own; it is not used before it has been tested here.)
    pub(crate) fn supports_set_ifeq(&self) -> bool {
        self.engine == "valkey" && self.version >= Version(8, 1, 0)
    }

    /// Whether hash fields can expire on their own (`HPEXPIRE`, `HPTTL`,
    /// `HPERSIST`): Redis 7.4+, Valkey 9.0+.
    pub(crate) fn supports_field_ttl(&self) -> bool {
        match self.engine {
            "valkey" => self.version >= Version(9, 0, 0),
            _ => self.version >= Version(7, 4, 0),
        }
    }

    /// The native compare-and-delete, if the server has one.
    pub(crate) fn delete_if_equal(&self) -> Option<DeleteIfEqual> {
        match self.engine {
            "valkey" if self.version >= Version(9, 0, 0) => Some(DeleteIfEqual::Delifeq),
            "redis" if self.version >= Version(8, 4, 0) => Some(DeleteIfEqual::Delex),
            _ => None,
        }
    }
}

fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some(Version(major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_7_supports_set_nx_get() {
        let info =
            ServerInfo::parse("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n")
                .unwrap();
        assert_eq!(info.engine, "redis");
        assert_eq!(info.version, Version(7, 0, 15));
        assert!(info.supports_set_nx_get());
    }

    #[test]
    fn redis_6_does_not() {
        let info = ServerInfo::parse("redis_version:6.2.14\r\n").unwrap();
        assert!(!info.supports_set_nx_get());
    }

    #[test]
    fn valkey_reports_its_own_version() {
        let info = ServerInfo::parse(
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n",
        )
        .unwrap();
        assert_eq!(info.engine, "valkey");
        assert_eq!(info.version, Version(8, 0, 1));
        assert!(info.supports_set_nx_get());
    }

    fn info(engine: &str, version: &str) -> ServerInfo {
        let text = match engine {
            "valkey" => format!("redis_version:7.2.4\r\nvalkey_version:{version}\r\n"),
            _ => format!("redis_version:{version}\r\n"),
        };
        ServerInfo::parse(&text).unwrap()
    }

    #[test]
    fn set_ifeq_is_valkey_8_1_and_later() {
        assert!(!info("valkey", "8.0.2").supports_set_ifeq());
        assert!(info("valkey", "8.1.0").supports_set_ifeq());
        assert!(info("valkey", "9.1.2").supports_set_ifeq());
        assert!(!info("redis", "8.4.0").supports_set_ifeq());
        assert!(!info("redis", "7.0.15").supports_set_ifeq());
    }

    #[test]
    fn delete_if_equal_is_delifeq_on_valkey_9_and_delex_on_redis_8_4() {
        assert_eq!(info("valkey", "8.1.4").delete_if_equal(), None);
        assert_eq!(
            info("valkey", "9.0.0").delete_if_equal(),
            Some(DeleteIfEqual::Delifeq)
        );
        assert_eq!(info("redis", "8.2.1").delete_if_equal(), None);
        assert_eq!(
            info("redis", "8.4.0").delete_if_equal(),
            Some(DeleteIfEqual::Delex)
        );
        assert_eq!(info("redis", "7.0.15").delete_if_equal(), None);
    }

    #[test]
    fn field_ttl_is_redis_7_4_and_valkey_9() {
        assert!(!info("redis", "7.2.5").supports_field_ttl());
        assert!(info("redis", "7.4.0").supports_field_ttl());
        assert!(info("redis", "8.0.2").supports_field_ttl());
        assert!(!info("valkey", "8.1.4").supports_field_ttl());
        assert!(info("valkey", "9.0.0").supports_field_ttl());
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(ServerInfo::parse("hello"), None);
        assert_eq!(ServerInfo::parse("redis_version:abc"), None);
    }
}
