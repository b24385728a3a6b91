//! Key rules, identical in every backend.
//!
//! A key is a Rust `&str` (valid UTF-8) of 1 to [`MAX_KEY_BYTES`] bytes. Every
//! character is allowed, control characters and NUL included: keys are
//! binary-safe within UTF-8. Glob metacharacters (`*`, `?`, `[`, `]`, `\`) are
//! plain characters in keys; they only mean something in the `pattern`
//! arguments of [`Cache::scan_keys`](crate::Cache::scan_keys) and
//! [`Cache::delete_pattern`](crate::Cache::delete_pattern), where
//! [`crate::pattern::escape`] quotes them.
//!
//! ```
//! use cache_core::key::validate_key;
//! assert!(validate_key("user:42").is_ok());
//! assert!(validate_key("").is_err());
//! ```

use crate::error::{CacheError, Result, check_byte_limit};

/// The longest key in bytes (UTF-8), prefixes included.
pub const MAX_KEY_BYTES: usize = 4096;

/// Checks `key` against the rules above.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(CacheError::invalid_key(key, "a key must not be empty"));
    }
    check_byte_limit("a key", key.len(), MAX_KEY_BYTES)
        .map_err(|reason| CacheError::invalid_key(key, reason))?;
    Ok(())
}

/// Checks a value's size against `max` bytes.
pub fn validate_value_size(key: &str, value: &[u8], max: usize) -> Result<()> {
    if value.len() > max {
        return Err(CacheError::value_too_large(key, value.len(), max));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_binary_safe_keys() {
        validate_key("\0\u{ff}\n*?[]").unwrap();
        validate_key(&"x".repeat(MAX_KEY_BYTES)).unwrap();
    }

    #[test]
    fn refuses_empty_and_oversized_keys() {
        assert!(validate_key("").unwrap_err().kind() == crate::ErrorKind::InvalidKey);
        let e = validate_key(&"x".repeat(MAX_KEY_BYTES + 1)).unwrap_err();
        assert!(
            e.to_string()
                .contains("4097 bytes is more than the limit of 4096"),
            "{e}"
        );
    }

    #[test]
    fn refuses_oversized_values() {
        assert!(validate_value_size("k", &[0; 10], 10).is_ok());
        let e = validate_value_size("k", &[0; 11], 10).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::ValueTooLarge);
        assert_eq!((e.value_size(), e.size_limit()), (Some(11), Some(10)));
    }
}
