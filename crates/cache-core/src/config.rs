//! Building blocks that every backend's and the manager's configuration share
//! (feature `config`): [`Secret`] for passwords and CA material, [`duration`]
//! for durations as humans write them, and [`null_as_default`] for YAML
//! sections written with nothing under them.
//!
//! The configuration *models* live with the code that enforces them:
//! `cache_memory::MemoryConfig`, `cache_redis::RedisConfig`, and the root
//! `cache_manager::config::Config` that composes them and loads YAML and the
//! environment. Every config error is a [`ConfigError`](crate::ConfigError)
//! naming the field.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A section written with nothing under it (`redis:` with every line
/// commented out) is YAML null: read it as the section's defaults.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A secret string (password, token, CA material): `Debug` and `Display` print
/// `"***"`, serialization writes `"***"`, so logging a config never leaks it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Durations as humans write them: `300ms`, `5s`, `24h`, `1h 30m`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Parses `300ms`, `5s`, `24h`, `1h 30m`. A bare number is refused: the unit must be explicit.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
            return Err(format!(
                "`{text}` has no unit; write e.g. `{text}ms` or `{text}s`"
            ));
        }
        humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration ({e})"))
    }

    /// Formats like `5s` or `1h 30m`.
    pub fn format(d: Duration) -> String {
        humantime::format_duration(d).to_string()
    }

    /// serde `serialize_with`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    /// serde `deserialize_with`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }
}
