//! How cache-aside stores a value: plain codec bytes, or an envelope that
//! carries the soft-expiry time (and marks remembered loader failures).
//!
//! ```text
//! plain:    <CBOR of T>                       fresh until the backend TTL
//! envelope: 0xFE kind soft_expiry_ms_be64 payload
//!           kind 1: payload = CBOR of T        fresh until soft_expiry, stale until the backend TTL
//!           kind 2: payload = UTF-8 message    a remembered loader failure
//!           kind 3: payload = refresh_at_ms_be64 CBOR of T
//!                   as kind 1, and refreshed eagerly after refresh_at (eager refresh)
//! ```
//!
//! 0xFE can never start well-formed CBOR (major type 7, additional
//! information 30 is reserved), so the two forms cannot be confused and a
//! value written by `TypedCacheExt::set_as` or write-through is read as a
//! fresh plain value.

use bytes::Bytes;

const MAGIC: u8 = 0xFE;
const KIND_VALUE: u8 = 1;
const KIND_FAILURE: u8 = 2;
const KIND_EAGER: u8 = 3;
const HEADER_LEN: usize = 10;

/// A stored entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A value: its codec payload and, for an envelope, its soft expiry
    /// (milliseconds since the UNIX epoch), and when eager refresh is due.
    Value {
        payload: Bytes,
        soft_expiry_ms: Option<u64>,
        refresh_at_ms: Option<u64>,
    },
    /// A remembered loader failure and its message.
    Failure { message: String },
    /// An envelope this version does not understand.
    Unknown,
}

impl Entry {
    pub(crate) fn parse(stored: Bytes) -> Entry {
        if stored.first() != Some(&MAGIC) {
            return Entry::Value {
                payload: stored,
                soft_expiry_ms: None,
                refresh_at_ms: None,
            };
        }
        if stored.len() < HEADER_LEN {
            return Entry::Unknown;
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&stored[2..HEADER_LEN]);
        let soft_expiry_ms = u64::from_be_bytes(expiry);
        match stored[1] {
            KIND_VALUE => Entry::Value {
                payload: stored.slice(HEADER_LEN..),
                soft_expiry_ms: Some(soft_expiry_ms),
                refresh_at_ms: None,
            },
            KIND_EAGER if stored.len() >= HEADER_LEN + 8 => {
                let mut at = [0u8; 8];
                at.copy_from_slice(&stored[HEADER_LEN..HEADER_LEN + 8]);
                Entry::Value {
                    payload: stored.slice(HEADER_LEN + 8..),
                    soft_expiry_ms: Some(soft_expiry_ms),
                    refresh_at_ms: Some(u64::from_be_bytes(at)),
                }
            }
            KIND_FAILURE => Entry::Failure {
                message: String::from_utf8_lossy(&stored[HEADER_LEN..]).into_owned(),
            },
            _ => Entry::Unknown,
        }
    }
}

/// An envelope holding `payload`, fresh until `soft_expiry_ms`.
pub(crate) fn value_envelope(payload: &[u8], soft_expiry_ms: u64) -> Vec<u8> {
    envelope(KIND_VALUE, soft_expiry_ms, payload)
}

/// An envelope holding `payload`, fresh until `soft_expiry_ms` and due for
/// an eager refresh from `refresh_at_ms`.
pub(crate) fn eager_envelope(payload: &[u8], soft_expiry_ms: u64, refresh_at_ms: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + payload.len());
    body.extend_from_slice(&refresh_at_ms.to_be_bytes());
    body.extend_from_slice(payload);
    envelope(KIND_EAGER, soft_expiry_ms, &body)
}

/// An envelope remembering a loader failure.
pub(crate) fn failure_envelope(message: &str) -> Vec<u8> {
    envelope(KIND_FAILURE, 0, message.as_bytes())
}

fn envelope(kind: u8, soft_expiry_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(MAGIC);
    out.push(kind);
    out.extend_from_slice(&soft_expiry_ms.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_codec_bytes_are_a_fresh_value() {
        let plain = Bytes::from(cache_core::codec::to_vec(&"hello").unwrap());
        assert_eq!(
            Entry::parse(plain.clone()),
            Entry::Value {
                payload: plain,
                soft_expiry_ms: None,
                refresh_at_ms: None,
            }
        );
    }

    #[test]
    fn a_value_envelope_round_trips() {
        let stored = Bytes::from(value_envelope(b"\x01\x02", 1_700_000_000_123));
        assert_eq!(
            Entry::parse(stored),
            Entry::Value {
                payload: Bytes::from_static(b"\x01\x02"),
                soft_expiry_ms: Some(1_700_000_000_123),
                refresh_at_ms: None,
            }
        );
    }

    #[test]
    fn an_eager_envelope_round_trips() {
        let stored = Bytes::from(eager_envelope(b"\x01", 2_000, 1_500));
        assert_eq!(
            Entry::parse(stored),
            Entry::Value {
                payload: Bytes::from_static(b"\x01"),
                soft_expiry_ms: Some(2_000),
                refresh_at_ms: Some(1_500),
            }
        );
        assert_eq!(
            Entry::parse(Bytes::from_static(b"\xFE\x03\0\0\0\0\0\0\0\x01\0")),
            Entry::Unknown,
            "truncated"
        );
    }

    #[test]
    fn a_failure_envelope_round_trips() {
        let stored = Bytes::from(failure_envelope("db down"));
        assert_eq!(
            Entry::parse(stored),
            Entry::Failure {
                message: "db down".into()
            }
        );
    }

    #[test]
    fn truncated_or_unknown_envelopes_are_unknown() {
        assert_eq!(
            Entry::parse(Bytes::from_static(b"\xFE\x01\x00")),
            Entry::Unknown
        );
        let mut other = value_envelope(b"x", 1);
        other[1] = 9;
        assert_eq!(Entry::parse(Bytes::from(other)), Entry::Unknown);
    }

    #[test]
    fn the_magic_byte_is_never_valid_cbor() {
        let limits = cache_core::codec::CodecLimits::default();
        assert!(cache_core::codec::validate(&value_envelope(b"\x01", 5), &limits).is_err());
    }
}
