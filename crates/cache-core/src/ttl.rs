//! TTL semantics, identical in every backend.
//!
//! - Every entry expires: no write keeps a value forever (keys without a
//!   TTL are the classic memory leak of a shared cache). The longest TTL is
//!   [`MAX_TTL`], ten years. The one exception is asked for by name:
//!   [`Cache::persist`](crate::Cache::persist) removes a key's TTL, and
//!   [`Cache::ttl`](crate::Cache::ttl) shows such keys as
//!   [`KeyTtl::NoExpiry`](crate::KeyTtl::NoExpiry).
//! - Precision is the millisecond. A TTL that is not a whole number of
//!   milliseconds is rounded **up**, so a non-zero TTL never becomes zero.
//! - [`Duration::ZERO`] is refused with [`ErrorKind::InvalidTtl`](crate::ErrorKind::InvalidTtl): a zero TTL
//!   is nearly always an unset configuration field, and silently storing
//!   nothing (or storing forever) would hide that bug.
//! - A TTL over [`MAX_TTL`] is refused the same way.
//! - An entry is visible while less than its TTL has passed since it was
//!   written, and gone from the first millisecond its TTL has passed.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{ttl::{ttl_millis, MAX_TTL}};
//! assert_eq!(ttl_millis(Duration::from_micros(1500)).unwrap(), 2);
//! assert!(ttl_millis(Duration::ZERO).unwrap_err().kind() == cache_core::ErrorKind::InvalidTtl);
//! assert!(ttl_millis(MAX_TTL + Duration::from_millis(1)).is_err());
//! ```

use std::time::Duration;

use crate::error::{CacheError, Result};

/// The longest TTL the contract accepts: ten years (3,650 days).
pub const MAX_TTL: Duration = Duration::from_secs(3650 * 24 * 60 * 60);

/// Validates `ttl` and returns it in whole milliseconds, rounded up.
pub fn ttl_millis(ttl: Duration) -> Result<u64> {
    if ttl.is_zero() {
        return Err(CacheError::invalid_ttl(
            ttl,
            "a TTL must be positive (every entry expires)",
        ));
    }
    if ttl > MAX_TTL {
        return Err(CacheError::invalid_ttl(
            ttl,
            "a TTL must not exceed cache_core::ttl::MAX_TTL (3650 days)",
        ));
    }
    let nanos = ttl.as_nanos();
    // Cannot overflow: MAX_TTL in ms fits comfortably in u64.
    Ok(nanos.div_ceil(1_000_000) as u64)
}

/// Validates `ttl` and returns it rounded up to whole milliseconds.
pub fn normalize_ttl(ttl: Duration) -> Result<Duration> {
    ttl_millis(ttl).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_to_the_millisecond() {
        assert_eq!(ttl_millis(Duration::from_nanos(1)).unwrap(), 1);
        assert_eq!(ttl_millis(Duration::from_millis(5)).unwrap(), 5);
        assert_eq!(ttl_millis(Duration::from_nanos(5_000_001)).unwrap(), 6);
    }

    #[test]
    fn zero_and_too_long_are_invalid() {
        let kind = |ttl| ttl_millis(ttl).unwrap_err().kind();
        assert_eq!(kind(Duration::ZERO), crate::ErrorKind::InvalidTtl);
        assert!(ttl_millis(MAX_TTL).is_ok());
        assert_eq!(kind(Duration::MAX), crate::ErrorKind::InvalidTtl);
    }
}
