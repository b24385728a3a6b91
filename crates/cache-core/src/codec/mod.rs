//! The CBOR codec, with limits for untrusted input.
//!
//! Values in a shared cache are untrusted input: another service, an older
//! version of this one, or an attacker with write access to Redis may have put
//! them there. Decoding therefore runs in two steps:
//!
//! 1. [`validate`] walks the input once, linearly and without recursion, looking
//!    only at CBOR headers. It refuses oversized payloads, arrays and maps with
//!    too many elements, nesting that is too deep, strings that declare more
//!    bytes than the input holds, truncated and malformed input, and bytes after
//!    the value, *before anything is allocated* for the value itself.
//! 2. Only then is the value deserialized, by the codec's own serde
//!    `Deserializer`, straight from the validated slice (text and byte
//!    strings are borrowed from it, not copied through a buffer). Its
//!    recursion follows the nesting, which the scan has bounded.
//!
//! Encoding checks its output against the same limits, so [`to_vec`] never
//! produces bytes that [`from_slice`] would refuse: a value that cannot be read
//! back is refused when it is written, not when someone reads it. The encoder
//! counts nesting and elements as it writes and runs the scan again only when
//! the output may break a limit.
//!
//! The wire format is the one `ciborium` 0.2 wrote, byte for byte (shortest
//! integers and lengths, floats in the shortest width that keeps their bits,
//! `None` and `()` as null, enums as a name or a one-pair map), and everything
//! it read still reads the same; `tests/data/codec-corpus` pins both. See
//! `docs/adr/0002-cbor-codec-and-limits.md`; callers never see the codec's
//! internals.
//!
//! # Byte strings: use `serde_bytes`
//! Serde serializes a `Vec<u8>` as an *array of integers* (one CBOR item per
//! byte: bigger, slower, and a 10,000-byte vector hits
//! [`CodecLimits::max_elements`]). Mark byte fields with
//! `#[serde(with = "serde_bytes")]` or use [`serde_bytes::ByteBuf`] to get a
//! CBOR byte string. A plain `Vec<u8>` still reads a byte string (and an
//! array of integers), so the change of type is compatible both ways.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Thumbnail {
//!     name: String,
//!     #[serde(with = "serde_bytes")]
//!     png: Vec<u8>,
//! }
//!
//! let thumb = Thumbnail { name: "cat".into(), png: vec![0x89; 100_000] };
//! let bytes = cache_core::codec::to_vec(&thumb)?;
//! assert!(bytes.len() < 100_020); // a byte string, not 100,000 integers
//! let back: Thumbnail = cache_core::codec::from_slice(&bytes)?;
//! assert_eq!(back, thumb);
//! # Ok::<(), cache_core::CodecError>(())
//! ```
//!
//! # Limits
//! ```
//! use cache_core::{codec::{self, CodecLimits}};
//! use cache_core::CodecError;
//!
//! let limits = CodecLimits::default().with_max_elements(3);
//! let bytes = codec::to_vec(&[1, 2, 3, 4])?;
//! let err = codec::from_slice_with_limits::<Vec<u8>>(&bytes, &limits).unwrap_err();
//! assert_eq!(err, CodecError::TooManyElements { count: 4, max: 3 });
//! # Ok::<(), CodecError>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CodecError;

mod de;
mod scan;
mod ser;

/// Major types (RFC 8949 §3.1), for the scan, the serializer and the
/// deserializer.
mod major {
    pub(super) const UNSIGNED: u8 = 0;
    pub(super) const NEGATIVE: u8 = 1;
    pub(super) const BYTES: u8 = 2;
    pub(super) const TEXT: u8 = 3;
    pub(super) const ARRAY: u8 = 4;
    pub(super) const MAP: u8 = 5;
    pub(super) const TAG: u8 = 6;
    pub(super) const SIMPLE_OR_FLOAT: u8 = 7;
}
#[cfg(test)]
mod tests;

/// Default [`CodecLimits::max_bytes`]: 4 MiB.
pub const DEFAULT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Default [`CodecLimits::max_elements`]: 10,000 per array or map.
pub const DEFAULT_MAX_ELEMENTS: usize = 10_000;
/// Default [`CodecLimits::max_depth`]: 64.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The deepest nesting any [`CodecLimits`] allows: 256. A larger
/// `max_depth` is clamped to it, by [`CodecLimits::with_max_depth`] and, for a
/// field set by hand, wherever the limits are applied; input nested deeper is
/// [`CodecError::TooDeep`] naming this maximum.
///
/// Decoding recurses once per level (in the decoder and in the target type's
/// `Deserialize`), so the depth bounds stack use, and past a point a deep
/// value overflows the stack and aborts the process. Measured on a Tokio
/// worker thread (2 MiB stack, nothing else on it), decoding nested arrays
/// into `serde_json::Value` or an untagged enum (the greediest targets
/// tried) overflowed beyond about 740 levels in a debug build and about
/// 4,000 in a release build (`IgnoredAny`: 800 and 5,400); roughly 2.7 KiB
/// per level in debug, 0.5 KiB in release. 256 keeps a debug build within a
/// third of such a stack, leaving the rest to the caller's own frames. On
/// smaller stacks, lower `max_depth` to match.
pub const MAX_DEPTH: usize = 256;

/// Limits applied to CBOR input before it is deserialized.
///
/// What counts:
/// - `max_bytes`: the length of the whole payload.
/// - `max_elements`: items in one array, key-value pairs in one map. For
///   indefinite-length containers, the elements seen so far.
/// - `max_depth`: arrays, maps and tags nested in each other. A top-level
///   scalar has depth 0, `[1]` depth 1, `[[1]]` and `{"a": [1]}` depth 2. A tag
///   counts as one level because it wraps an item and the decoder recurses
///   into it; so a chain of 10,000 tags is refused like 10,000 arrays.
///
/// `max_depth` also bounds the decoder's recursion, so it bounds stack use:
/// the default 64 is far from any stack limit, and no limits go beyond
/// [`MAX_DEPTH`] (see there for the measurements), which is safe on a Tokio
/// worker thread.
///
/// ```
/// use cache_core::codec::CodecLimits;
/// let limits = CodecLimits::default().with_max_bytes(1 << 20).with_max_depth(16);
/// assert_eq!(limits.max_bytes, 1 << 20);
/// assert_eq!(limits.max_elements, 10_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct CodecLimits {
    /// Longest accepted payload, in bytes.
    pub max_bytes: usize,
    /// Most elements in one array, or key-value pairs in one map.
    pub max_elements: usize,
    /// Deepest accepted nesting of arrays, maps and tags; at most
    /// [`MAX_DEPTH`] takes effect.
    pub max_depth: usize,
}

impl Default for CodecLimits {
    fn default() -> Self {
        CodecLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_elements: DEFAULT_MAX_ELEMENTS,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl CodecLimits {
    /// These limits with `max_bytes` replaced.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// These limits with `max_elements` replaced.
    #[must_use]
    pub fn with_max_elements(mut self, max_elements: usize) -> Self {
        self.max_elements = max_elements;
        self
    }

    /// These limits with `max_depth` replaced, clamped to [`MAX_DEPTH`].
    ///
    /// ```
    /// use cache_core::codec::{CodecLimits, MAX_DEPTH};
    /// assert_eq!(CodecLimits::default().with_max_depth(16).max_depth, 16);
    /// assert_eq!(CodecLimits::default().with_max_depth(10_000).max_depth, MAX_DEPTH);
    /// ```
    #[must_use]
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth.min(MAX_DEPTH);
        self
    }

    /// The depth limit in effect: `max_depth`, at most [`MAX_DEPTH`] (the
    /// field is public, so it may have been set past the maximum by hand).
    fn depth_limit(&self) -> usize {
        self.max_depth.min(MAX_DEPTH)
    }
}

/// Encodes `value` as CBOR, refusing output that [`from_slice`] (default
/// limits) would refuse.
///
/// Encoding is deterministic: the same value of the same type gives the same
/// bytes, as long as the type's `Serialize` is deterministic (structs, `Vec`,
/// `BTreeMap` are; a `HashMap` iterates in a per-instance random order).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    to_vec_with_limits(value, &CodecLimits::default())
}

/// Encodes `value` as CBOR, refusing output that [`from_slice_with_limits`]
/// with the same `limits` would refuse.
pub fn to_vec_with_limits<T: Serialize + ?Sized>(
    value: &T,
    limits: &CodecLimits,
) -> Result<Vec<u8>, CodecError> {
    let mut serializer = ser::Serializer::new();
    value.serialize(&mut serializer).map_err(|e| e.0)?;
    let within_limits = serializer.out.len() <= limits.max_bytes
        && serializer.max_depth <= limits.depth_limit()
        && serializer.max_elements <= limits.max_elements as u64
        && !serializer.miscounted;
    if !within_limits {
        // The pre-scan is the authority on what decoding refuses, and names
        // the first offence in the bytes exactly as decoding would.
        validate(&serializer.out, limits)?;
    }
    Ok(serializer.out)
}

/// Decodes a `T` from CBOR with the default [`CodecLimits`].
pub fn from_slice<T: DeserializeOwned>(input: &[u8]) -> Result<T, CodecError> {
    from_slice_with_limits(input, &CodecLimits::default())
}

/// Decodes a `T` from CBOR after checking `input` against `limits` (see
/// [`validate`]).
///
/// # Errors
/// The limit and well-formedness errors of [`validate`]; well-formed CBOR that
/// does not fit `T` (wrong type, missing field, invalid UTF-8 in a text
/// string) is [`CodecError::Decode`] or [`CodecError::Malformed`].
pub fn from_slice_with_limits<T: DeserializeOwned>(
    input: &[u8],
    limits: &CodecLimits,
) -> Result<T, CodecError> {
    validate(input, limits)?;
    T::deserialize(&mut de::Deserializer::new(input)).map_err(de::Error::into_inner)
}

/// Checks that `input` is exactly one well-formed CBOR item within `limits`,
/// without allocating for its content and without recursion (the work and
/// the memory are linear in the input and in `max_depth`).
///
/// # Errors
/// - [`CodecError::TooLarge`]: `input` is longer than `max_bytes`.
/// - [`CodecError::TooManyElements`]: an array or map declares (or, if of
///   indefinite length, holds) more than `max_elements` elements.
/// - [`CodecError::TooDeep`]: nesting deeper than `max_depth` (at most
///   [`MAX_DEPTH`]).
/// - [`CodecError::Truncated`]: the input ends inside the item, or a string,
///   array or map declares more than the remaining input can hold.
/// - [`CodecError::Malformed`]: a header that is not CBOR, a misplaced
///   "break", a bad chunk in an indefinite-length string, a simple value
///   below 32 in a two-byte encoding, or bytes after the item.
pub fn validate(input: &[u8], limits: &CodecLimits) -> Result<(), CodecError> {
    if input.len() > limits.max_bytes {
        return Err(CodecError::TooLarge {
            size: input.len(),
            max: limits.max_bytes,
        });
    }
    scan::Scanner::new(input, limits).run()
}

fn truncated(at: usize, what: impl std::fmt::Display) -> CodecError {
    CodecError::Truncated(format!("{what} (at byte {at})"))
}

fn malformed(at: usize, what: impl std::fmt::Display) -> CodecError {
    CodecError::Malformed(format!("{what} (at byte {at})"))
}
