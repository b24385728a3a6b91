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
//!           kind 4: payload = refresh_at_ms_be64 n_u8 (len_u8 tag len_u8 stamp)×n CBOR of T
//!                   a tagged value: as kind 3 (soft_expiry u64::MAX = none,
//!                   refresh_at 0 = none), valid while each tag's stamp is unchanged
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
const KIND_TAGGED: u8 = 4;
const HEADER_LEN: usize = 10;

/// One tag of a tagged entry and the tag's stamp when the entry was loaded
/// (see `tags.rs`): the entry is valid while the tag key still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) tag: String,
    pub(crate) stamp: Bytes,
}

/// A stored entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A value: its codec payload and, for an envelope, its soft expiry
    /// (milliseconds since the UNIX epoch), when eager refresh is due, and
    /// the stamps of its tags (none for an untagged value).
    Value {
        payload: Bytes,
        soft_expiry_ms: Option<u64>,
        refresh_at_ms: Option<u64>,
        stamps: Vec<Stamp>,
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
                stamps: Vec::new(),
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
                stamps: Vec::new(),
            },
            KIND_EAGER if stored.len() >= HEADER_LEN + 8 => {
                let mut at = [0u8; 8];
                at.copy_from_slice(&stored[HEADER_LEN..HEADER_LEN + 8]);
                Entry::Value {
                    payload: stored.slice(HEADER_LEN + 8..),
                    soft_expiry_ms: Some(soft_expiry_ms),
                    refresh_at_ms: Some(u64::from_be_bytes(at)),
                    stamps: Vec::new(),
                }
            }
            KIND_TAGGED => parse_tagged(&stored, soft_expiry_ms).unwrap_or(Entry::Unknown),
            KIND_FAILURE => Entry::Failure {
                message: String::from_utf8_lossy(&stored[HEADER_LEN..]).into_owned(),
            },
            _ => Entry::Unknown,
        }
    }
}

/// The body of a tagged envelope (after the common header); `None` when
/// truncated or not UTF-8.
fn parse_tagged(stored: &Bytes, soft_expiry_ms: u64) -> Option<Entry> {
    let mut at = HEADER_LEN;
    let mut take = |n: usize| {
        let range = at..at.checked_add(n).filter(|end| *end <= stored.len())?;
        at = range.end;
        Some(stored.slice(range))
    };
    let refresh_at_ms = u64::from_be_bytes(take(8)?[..].try_into().ok()?);
    let count = take(1)?[0];
    let mut stamps = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let len = take(1)?[0];
        let tag = String::from_utf8(take(usize::from(len))?.to_vec()).ok()?;
        let len = take(1)?[0];
        stamps.push(Stamp {
            tag,
            stamp: take(usize::from(len))?,
        });
    }
    Some(Entry::Value {
        payload: stored.slice(at..),
        soft_expiry_ms: (soft_expiry_ms != u64::MAX).then_some(soft_expiry_ms),
        refresh_at_ms: (refresh_at_ms != 0).then_some(refresh_at_ms),
        stamps,
    })
}

/// A tagged envelope: `payload` valid while every tag keeps its stamp, fresh
/// until `soft_expiry_ms` (if any), due for an eager refresh from
/// `refresh_at_ms` (if any). Tags and stamps are at most 255 bytes each and
/// at most 255 of them (checked where tags are accepted).
pub(crate) fn tagged_envelope(
    payload: &[u8],
    soft_expiry_ms: Option<u64>,
    refresh_at_ms: Option<u64>,
    stamps: &[Stamp],
) -> Vec<u8> {
    let tags_len: usize = stamps.iter().map(|s| 2 + s.tag.len() + s.stamp.len()).sum();
    let mut body = Vec::with_capacity(9 + tags_len + payload.len());
    body.extend_from_slice(&refresh_at_ms.unwrap_or(0).to_be_bytes());
    body.push(u8::try_from(stamps.len()).unwrap_or(u8::MAX));
    for s in stamps.iter().take(usize::from(u8::MAX)) {
        for part in [s.tag.as_bytes(), &s.stamp[..]] {
            let len = part.len().min(usize::from(u8::MAX));
            body.push(u8::try_from(len).unwrap_or(u8::MAX));
            body.extend_from_slice(&part[..len]);
        }
    }
    body.extend_from_slice(payload);
    envelope(KIND_TAGGED, soft_expiry_ms.unwrap_or(u64::MAX), &body)
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
                stamps: Vec::new(),
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
                stamps: Vec::new(),
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
                stamps: Vec::new(),
            }
        );
        assert_eq!(
            Entry::parse(Bytes::from_static(b"\xFE\x03\0\0\0\0\0\0\0\x01\0")),
            Entry::Unknown,
            "truncated"
        );
    }

    #[test]
    fn a_tagged_envelope_round_trips_with_and_without_expiries() {
        let stamps = vec![
            Stamp {
                tag: "user:1".into(),
                stamp: Bytes::from_static(b"\x01\x02\x03\x04\x05\x06\x07\x08"),
            },
            Stamp {
                tag: "org:é".into(),
                stamp: Bytes::from_static(b"z"),
            },
        ];
        for (soft, refresh) in [(None, None), (Some(2_000), Some(1_500))] {
            let stored = Bytes::from(tagged_envelope(b"\x01\x02", soft, refresh, &stamps));
            assert_eq!(
                Entry::parse(stored),
                Entry::Value {
                    payload: Bytes::from_static(b"\x01\x02"),
                    soft_expiry_ms: soft,
                    refresh_at_ms: refresh,
                    stamps: stamps.clone(),
                }
            );
        }
    }

    #[test]
    fn a_truncated_tagged_envelope_is_unknown() {
        let stamps = [Stamp {
            tag: "t".into(),
            stamp: Bytes::from_static(b"12345678"),
        }];
        let whole = tagged_envelope(b"", None, None, &stamps);
        for cut in HEADER_LEN..whole.len() {
            assert_eq!(
                Entry::parse(Bytes::copy_from_slice(&whole[..cut])),
                Entry::Unknown,
                "cut at {cut}"
            );
        }
        assert!(matches!(
            Entry::parse(Bytes::from(whole)),
            Entry::Value { .. }
        ));
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
