//! Who a request comes from: its tenant, its authenticated principal, its
//! client address. The service's own middleware (authentication, tenant
//! resolution) puts [`Tenant`] and [`Principal`] in the request extensions;
//! the layers read them from there.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::HeaderName;
use http::request::Parts;

/// The tenant a request belongs to, as a request extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(pub String);

/// The authenticated principal (user, API key id) of a request, as a request
/// extension. Never a secret: it goes into cache keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(pub String);

/// The peer address of the connection, as a request extension, for servers
/// other than axum (axum's `ConnectInfo<SocketAddr>` is read as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The tenant of a request: the [`Tenant`] extension.
pub fn tenant_of(parts: &Parts) -> Option<&str> {
    parts.extensions.get::<Tenant>().map(|t| t.0.as_str())
}

/// The principal of a request: the [`Principal`] extension.
pub fn principal_of(parts: &Parts) -> Option<&str> {
    parts.extensions.get::<Principal>().map(|p| p.0.as_str())
}

/// The connection's peer address: [`PeerAddr`], else axum's `ConnectInfo`.
pub fn peer_of(parts: &Parts) -> Option<SocketAddr> {
    parts.extensions.get::<PeerAddr>().map(|p| p.0).or_else(|| {
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
    })
}

/// How the client's IP address is found. By default the connection's peer
/// address only: forwarding headers are spoofable and are read only when the
/// peer is one of the configured trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct ClientIp {
    trusted_proxies: Arc<[IpAddr]>,
    header: Option<HeaderName>,
}

impl ClientIp {
    /// The peer address, no forwarding header.
    pub fn peer() -> Self {
        Self::default()
    }

    /// Reads `header` (e.g. `x-forwarded-for`, a comma-separated list) when
    /// the peer is one of `proxies`: the client is the right-most address in
    /// it that is not a trusted proxy.
    pub fn trusting(header: HeaderName, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        ClientIp {
            trusted_proxies: proxies.into_iter().collect(),
            header: Some(header),
        }
    }

    /// The client IP of a request, `None` when the server records no peer.
    pub fn of(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = peer_of(parts)?.ip();
        let Some(header) = &self.header else {
            return Some(peer);
        };
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let mut client = peer;
        for value in parts.headers.get_all(header) {
            let Ok(text) = value.to_str() else {
                return Some(client);
            };
            for hop in text.rsplit(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) if self.trusted_proxies.contains(&ip) => client = ip,
                    Ok(ip) => return Some(ip),
                    Err(_) => return Some(client),
                }
            }
        }
        Some(client)
    }
}

/// A key computed from a request's head; `None` when the request has none.
pub type KeyFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// What a rule keys requests by.
#[derive(Clone)]
pub enum RequestKey {
    /// The client IP address (see [`ClientIp`]).
    ClientIp(ClientIp),
    /// The tenant ([`Tenant`] extension).
    Tenant,
    /// The authenticated principal ([`Principal`] extension).
    Principal,
    /// The route: all requests together (the rule's name tells routes apart).
    Route,
    /// A key computed from the request; `None` exempts the request.
    Custom(KeyFn),
}

impl std::fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestKey::ClientIp(c) => f.debug_tuple("ClientIp").field(c).finish(),
            RequestKey::Tenant => f.write_str("Tenant"),
            RequestKey::Principal => f.write_str("Principal"),
            RequestKey::Route => f.write_str("Route"),
            RequestKey::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl RequestKey {
    /// A key computed by `f`.
    pub fn custom(f: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static) -> Self {
        RequestKey::Custom(Arc::new(f))
    }

    /// The key of a request, `None` when the request has no such identity.
    pub fn of(&self, parts: &Parts) -> Option<String> {
        match self {
            RequestKey::ClientIp(ip) => ip.of(parts).map(|ip| format!("ip:{ip}")),
            RequestKey::Tenant => tenant_of(parts).map(|t| format!("tenant:{t}")),
            RequestKey::Principal => principal_of(parts).map(|p| format!("principal:{p}")),
            RequestKey::Route => Some("route".to_owned()),
            RequestKey::Custom(f) => f(parts).map(|k| format!("custom:{k}")),
        }
    }
}

/// `parts` of a component, length-prefixed so that no choice of tenant or
/// key can make two different tuples produce the same string.
pub(crate) fn scoped(parts: &[&str]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 6).sum());
    for p in parts {
        let _ = write!(out, "{}:{p}|", p.len());
    }
    out
}

/// A cache key under `prefix` for a tuple of components: length-prefixed
/// (see [`scoped`]), and hashed when long, so any tenant, principal or
/// client-chosen key stays within the key limit.
pub(crate) fn cache_key(prefix: &str, parts: &[&str]) -> String {
    const MAX_PLAIN: usize = 256;
    let plain = scoped(parts);
    if plain.len() <= MAX_PLAIN {
        return if prefix.is_empty() {
            plain
        } else {
            format!("{prefix}{plain}")
        };
    }
    format!("{prefix}sha256:{}", hex(&sha256(plain.as_bytes())))
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
