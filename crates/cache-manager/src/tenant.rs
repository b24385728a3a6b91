//! Tenant ids and the key namespace each tenant gets on a shared backend.
//!
//! Tenant isolation is a security boundary, so a tenant id never reaches a key
//! unescaped: [`escape_tenant_id`] percent-encodes every byte outside
//! `[A-Za-z0-9._-]` (`%` included). The encoding is injective (two ids never
//! share an encoding) and its output holds no glob metacharacter, no Redis
//! Cluster hash-tag brace, no `:` separator and no control character.
//!
//! A [`NamespaceTemplate`] such as the default `tenant:{<tenant>}:` puts the
//! escaped id between a fixed head and tail. Because the tail starts with a
//! character the encoding never produces, no tenant's namespace is a prefix of
//! another's: tenant `a` (`tenant:{a}:`) cannot see tenant `a:b`
//! (`tenant:{a%3Ab}:`) or `a*` (`tenant:{a%2A}:`), whatever key or pattern it
//! uses.

use std::fmt;
use std::sync::Arc;

use cache_core::error::check_byte_limit;
use cache_core::{CacheError, ConfigError, Result};

/// The longest tenant id, in bytes (UTF-8). Escaped, it takes at most three
/// times that, leaving most of a key's 4,096 bytes to the caller.
pub const MAX_TENANT_ID_BYTES: usize = 256;

/// The placeholder of a [`NamespaceTemplate`] replaced by the escaped tenant id.
pub const TENANT_PLACEHOLDER: &str = "<tenant>";

/// The default namespace template: `tenant:{<tenant>}:`. The braces are a Redis
/// Cluster hash tag, so all of one tenant's keys live in one slot (multi-key
/// calls work in cluster mode).
pub const DEFAULT_NAMESPACE: &str = "tenant:{<tenant>}:";

/// Checks a tenant id: 1 to [`MAX_TENANT_ID_BYTES`] bytes, any characters.
///
/// The error is an [`ErrorKind::InvalidTenantId`](cache_core::ErrorKind::InvalidTenantId)
/// that names the (cut) id as a tenant id.
pub fn validate_tenant_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(CacheError::invalid_tenant_id(
            id,
            "a tenant id must not be empty",
        ));
    }
    check_byte_limit("a tenant id", id.len(), MAX_TENANT_ID_BYTES)
        .map_err(|reason| CacheError::invalid_tenant_id(id, reason))?;
    Ok(())
}

/// Whether `b` passes [`escape_tenant_id`] unchanged.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// Percent-encodes every byte of `id` outside `[A-Za-z0-9._-]` as `%XX`
/// (upper-case hex), `%` itself included, so the result is injective and safe
/// inside keys, hash tags and glob patterns.
///
/// ```
/// use cache_manager::tenant::escape_tenant_id;
/// assert_eq!(escape_tenant_id("acme-eu.1"), "acme-eu.1");
/// assert_eq!(escape_tenant_id("a:{b}*"), "a%3A%7Bb%7D%2A");
/// assert_eq!(escape_tenant_id("50%"), "50%25");
/// ```
pub fn escape_tenant_id(id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(id.len());
    for &b in id.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
    out
}

/// A validated tenant id (see [`validate_tenant_id`]). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates `id`.
    pub fn new(id: &str) -> Result<Self> {
        validate_tenant_id(id)?;
        Ok(TenantId(Arc::from(id)))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id escaped for keys (see [`escape_tenant_id`]).
    pub fn escaped(&self) -> String {
        escape_tenant_id(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", &*self.0)
    }
}

impl fmt::Display for TenantId {
    /// The id quoted and escaped like a Rust string, so control characters in
    /// an id cannot forge log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Where a tenant's keys live on a shared backend: a template such as
/// `tenant:{<tenant>}:` whose [`TENANT_PLACEHOLDER`] is replaced by the
/// escaped tenant id.
///
/// ```
/// use cache_manager::tenant::{NamespaceTemplate, TenantId};
/// let template = NamespaceTemplate::default();
/// let tenant = TenantId::new("acme:eu").unwrap();
/// assert_eq!(template.render(&tenant), "tenant:{acme%3Aeu}:");
/// assert!(NamespaceTemplate::parse("tenant:<tenant>").is_err()); // nothing after the id
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceTemplate {
    head: String,
    tail: String,
}

impl NamespaceTemplate {
    /// The config field a template comes from, named in its errors.
    pub const FIELD: &'static str = "cache.tenants.namespace";

    /// Parses a template. It must contain [`TENANT_PLACEHOLDER`] exactly once,
    /// followed by at least one character that escaped ids never contain
    /// (anything but `[A-Za-z0-9._-%]`, e.g. `:` or `}`): that character is
    /// what keeps one tenant's namespace from being a prefix of another's.
    pub fn parse(template: &str) -> Result<Self, ConfigError> {
        let mut parts = template.split(TENANT_PLACEHOLDER);
        let head = parts.next().unwrap_or_default();
        let Some(tail) = parts.next() else {
            return Err(ConfigError::new(
                Self::FIELD,
                format!("must contain the placeholder `{TENANT_PLACEHOLDER}`"),
            ));
        };
        if parts.next().is_some() {
            return Err(ConfigError::new(
                Self::FIELD,
                format!("must contain the placeholder `{TENANT_PLACEHOLDER}` only once"),
            ));
        }
        match tail.bytes().next() {
            Some(b) if !is_unreserved(b) && b != b'%' => {}
            _ => {
                return Err(ConfigError::new(
                    Self::FIELD,
                    format!(
                        "`{TENANT_PLACEHOLDER}` must be followed by a separator outside \
                         [A-Za-z0-9._%-] (e.g. `:` or `}}:`), or one tenant's keys could \
                         fall inside another tenant's namespace"
                    ),
                ));
            }
        }
        Ok(NamespaceTemplate {
            head: head.to_owned(),
            tail: tail.to_owned(),
        })
    }

    /// The namespace of `tenant`.
    pub fn render(&self, tenant: &TenantId) -> String {
        let escaped = tenant.escaped();
        let mut out = String::with_capacity(self.head.len() + escaped.len() + self.tail.len());
        out.push_str(&self.head);
        out.push_str(&escaped);
        out.push_str(&self.tail);
        out
    }
}

impl Default for NamespaceTemplate {
    fn default() -> Self {
        NamespaceTemplate::parse(DEFAULT_NAMESPACE).expect("the default template is valid")
    }
}

impl fmt::Display for NamespaceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{TENANT_PLACEHOLDER}{}", self.head, self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    #[test]
    fn empty_tenant_id_is_an_invalid_tenant_id() {
        let err = TenantId::new("").unwrap_err();
        assert_eq!(err.kind(), cache_core::ErrorKind::InvalidTenantId);
        assert_eq!(
            err.to_string(),
            "invalid tenant id \"\": a tenant id must not be empty"
        );
        assert_eq!(err.key(), None, "a tenant id is not a key");
    }

    #[test]
    fn tenant_id_at_the_length_limit_is_accepted() {
        assert!(TenantId::new(&"t".repeat(MAX_TENANT_ID_BYTES)).is_ok());
    }

    #[test]
    fn tenant_id_over_the_length_limit_is_an_invalid_tenant_id() {
        let err = TenantId::new(&"t".repeat(MAX_TENANT_ID_BYTES + 1)).unwrap_err();
        assert_eq!(err.kind(), cache_core::ErrorKind::InvalidTenantId);
        assert!(
            err.to_string()
                .contains("257 bytes is more than the limit of 256"),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("invalid tenant id \"ttt"),
            "{err}"
        );
        assert!(!err.to_string().contains("key"), "{err}");
        assert_eq!(
            err.tenant_id(),
            Some(&*cache_core::error::cut_key(&"t".repeat(257)))
        );
    }

    #[test]
    fn escaping_keeps_only_unreserved_bytes() {
        let nasty = "*?[]\\{}:%^- \n\t\0é/";
        let escaped = escape_tenant_id(nasty);
        assert!(
            escaped
                .bytes()
                .all(|b| is_unreserved(b) || b == b'%' || b.is_ascii_hexdigit()),
            "{escaped}"
        );
        for meta in ['*', '?', '[', ']', '\\', '{', '}', ':', '\n', '\0'] {
            assert!(!escaped.contains(meta), "{meta:?} in {escaped}");
        }
    }

    #[test]
    fn escaping_is_injective_on_lookalikes() {
        let ids = [
            "a", "a*", "a%2A", "a%252A", "a:b", "a%3Ab", "{x}", "%7Bx%7D", "A", "é",
        ];
        let mut seen = std::collections::HashSet::new();
        for i in ids {
            assert!(seen.insert(escape_tenant_id(i)), "collision for {i:?}");
        }
    }

    #[test]
    fn escaping_multibyte_utf8_encodes_each_byte() {
        assert_eq!(escape_tenant_id("é"), "%C3%A9");
    }

    #[test]
    fn default_template_puts_the_escaped_id_in_a_hash_tag() {
        let t = NamespaceTemplate::default();
        assert_eq!(t.render(&id("{x}")), "tenant:{%7Bx%7D}:");
        assert_eq!(t.to_string(), DEFAULT_NAMESPACE);
    }

    #[test]
    fn no_namespace_is_a_prefix_of_another() {
        let t = NamespaceTemplate::default();
        let ids = ["a", "a*", "a:b", "ab", "a}", "a%", "{x}", "x", "a\\", "a?"];
        for x in ids {
            for y in ids {
                if x != y {
                    let (nx, ny) = (t.render(&id(x)), t.render(&id(y)));
                    assert!(!ny.starts_with(&nx), "{nx} is a prefix of {ny}");
                }
            }
        }
    }

    #[test]
    fn template_without_placeholder_is_refused_naming_the_field() {
        let err = NamespaceTemplate::parse("tenant:").unwrap_err();
        assert_eq!(err.field, "cache.tenants.namespace");
    }

    #[test]
    fn template_with_two_placeholders_is_refused() {
        assert!(NamespaceTemplate::parse("<tenant>:<tenant>:").is_err());
    }

    #[test]
    fn template_whose_id_is_followed_by_an_id_character_is_refused() {
        for bad in ["t:<tenant>", "t:<tenant>x:", "t:<tenant>%:", "t:<tenant>-:"] {
            assert!(NamespaceTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn template_with_a_plain_separator_is_accepted() {
        let t = NamespaceTemplate::parse("<tenant>/").unwrap();
        assert_eq!(t.render(&id("a/b")), "a%2Fb/");
    }
}
