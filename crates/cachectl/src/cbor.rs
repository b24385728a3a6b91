//! Stored CBOR, decoded item by item and shown as it is stored.
//!
//! The value is first checked by [`codec::validate`] (the limits services
//! read with: size, elements, depth), then decoded here into an [`Item`] tree
//! that keeps what a generic serde decoder loses or bends: byte strings stay
//! byte strings, tags stay tags, map entries stay in order with duplicates
//! detected, floats keep their value exactly. The recursion below is bounded
//! by the validated depth.
//!
//! Rendering is CBOR diagnostic notation (RFC 8949 §8), which is JSON for the
//! JSON subset: a value made only of maps with text keys, arrays, text,
//! numbers, booleans and null renders as plain JSON, and only the rest
//! (`h'…'`, `1(…)`, `undefined`, `simple(n)`, `NaN`, `Infinity`, non-text
//! keys) uses the notation's extensions.

use std::collections::HashSet;
use std::fmt::{self, Write as _};

use cache_core::CodecError;
use cache_core::codec::{self, CodecLimits};

use crate::bignum;

/// Bignums (tags 2 and 3) whose content is longer than this are shown in
/// tag form, `2(h'…')`, instead of decimal: converting to decimal is
/// quadratic, and a stored value is untrusted input. 1 KiB is ~2,466 digits.
pub(crate) const MAX_BIGNUM_DECIMAL_BYTES: usize = 1024;

/// CBOR tag of an unsigned bignum.
const TAG_BIGNUM: u64 = 2;
/// CBOR tag of a negative bignum.
const TAG_NEGATIVE_BIGNUM: u64 = 3;

/// One decoded CBOR data item (RFC 8949 §2), encoding details aside
/// (argument widths, indefinite lengths and chunking are not kept).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// Major type 0.
    Unsigned(u64),
    /// Major type 1: the value `-1 - n`.
    Negative(u64),
    /// Major type 2.
    Bytes(Vec<u8>),
    /// Major type 3.
    Text(String),
    /// Major type 4.
    Array(Vec<Item>),
    /// Major type 5, entries in stored order (keys are unique: see [`decode`]).
    Map(Vec<(Item, Item)>),
    /// Major type 6: a tag number and the tagged item.
    Tag(u64, Box<Item>),
    /// `false` / `true`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
    /// Any other simple value.
    Simple(u8),
    /// A half, single or double float, as the (exact) double it denotes.
    Float(f64),
}

/// Why stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DecodeError {
    /// The bytes are not one well-formed CBOR item within the codec's limits,
    /// or hold text that is not UTF-8.
    NotCbor(CodecError),
    /// A map holds the same key twice, which CBOR does not allow (RFC 8949
    /// §5.6); showing one entry would hide the other.
    DuplicateKey {
        /// Where the map is, e.g. `$["users"][3]`.
        path: String,
        /// The repeated key in diagnostic notation.
        key: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotCbor(e) => e.fmt(f),
            DecodeError::DuplicateKey { path, key } => write!(
                f,
                "the map at {path} has the key {key} more than once (CBOR map keys must be unique)"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<CodecError> for DecodeError {
    fn from(e: CodecError) -> Self {
        DecodeError::NotCbor(e)
    }
}

/// Decodes `input`: validated against the default [`CodecLimits`] first, so
/// that what shows here is what services can read.
pub(crate) fn decode(input: &[u8]) -> Result<Item, DecodeError> {
    codec::validate(input, &CodecLimits::default())?;
    let mut d = Decoder { input, pos: 0 };
    let item = d.item().map_err(|e| e.into_error())?;
    if d.pos != input.len() {
        return Err(malformed(d.pos, "bytes after the value").into());
    }
    Ok(item)
}

/// A decoding failure on its way up, collecting the path in reverse.
struct Failure {
    kind: FailureKind,
    /// Path segments from the failing map outwards.
    path: Vec<String>,
}

enum FailureKind {
    Codec(CodecError),
    DuplicateKey(String),
}

impl Failure {
    fn within(mut self, segment: impl FnOnce() -> String) -> Self {
        if matches!(self.kind, FailureKind::DuplicateKey(_)) {
            self.path.push(segment());
        }
        self
    }

    fn into_error(self) -> DecodeError {
        match self.kind {
            FailureKind::Codec(e) => DecodeError::NotCbor(e),
            FailureKind::DuplicateKey(key) => {
                let mut path = String::from("$");
                for segment in self.path.iter().rev() {
                    path.push_str(segment);
                }
                DecodeError::DuplicateKey { path, key }
            }
        }
    }
}

impl From<CodecError> for Failure {
    fn from(e: CodecError) -> Self {
        Failure {
            kind: FailureKind::Codec(e),
            path: Vec::new(),
        }
    }
}

fn malformed(at: usize, what: &str) -> CodecError {
    CodecError::Malformed(format!("{what} (at byte {at})"))
}

/// An item head (RFC 8949 §3): major type, additional information, argument.
struct Head {
    major: u8,
    info: u8,
    /// `None` for indefinite length, or a break with major type 7.
    argument: Option<u64>,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.input.len())
            .ok_or_else(|| CodecError::Truncated(format!("input ends (at byte {})", self.pos)))?;
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn head(&mut self) -> Result<Head, CodecError> {
        let at = self.pos;
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let argument = match info {
            0..=23 => Some(u64::from(info)),
            24..=27 => {
                let n = 1usize << (info - 24);
                let mut value = 0u64;
                for &b in self.take(n)? {
                    value = (value << 8) | u64::from(b);
                }
                Some(value)
            }
            31 => None,
            _ => return Err(malformed(at, "reserved additional information")),
        };
        Ok(Head {
            major,
            info,
            argument,
        })
    }

    fn peek_break(&self) -> bool {
        self.input.get(self.pos) == Some(&0xff)
    }

    fn len(&self, n: u64) -> Result<usize, CodecError> {
        usize::try_from(n)
            .map_err(|_| malformed(self.pos, "a length beyond this machine's address space"))
    }

    /// The content of a byte or text string, chunks joined.
    fn string(&mut self, major: u8, argument: Option<u64>) -> Result<Vec<u8>, CodecError> {
        match argument {
            Some(n) => {
                let n = self.len(n)?;
                Ok(self.take(n)?.to_vec())
            }
            None => {
                let mut out = Vec::new();
                while !self.peek_break() {
                    let at = self.pos;
                    let chunk = self.head()?;
                    let n = match (chunk.major == major, chunk.argument) {
                        (true, Some(n)) => self.len(n)?,
                        _ => {
                            return Err(malformed(
                                at,
                                "a bad chunk in an indefinite-length string",
                            ));
                        }
                    };
                    let bytes = self.take(n)?;
                    if major == 3 && std::str::from_utf8(bytes).is_err() {
                        return Err(malformed(at, "a text chunk that is not UTF-8"));
                    }
                    out.extend_from_slice(bytes);
                }
                self.pos += 1;
                Ok(out)
            }
        }
    }

    fn item(&mut self) -> Result<Item, Failure> {
        let at = self.pos;
        let head = self.head()?;
        Ok(match (head.major, head.argument) {
            (0, Some(n)) => Item::Unsigned(n),
            (1, Some(n)) => Item::Negative(n),
            (2, arg) => Item::Bytes(self.string(2, arg)?),
            (3, arg) => {
                let bytes = self.string(3, arg)?;
                Item::Text(
                    String::from_utf8(bytes)
                        .map_err(|_| malformed(at, "a text string that is not UTF-8"))?,
                )
            }
            (4, arg) => {
                let mut items = Vec::new();
                let mut index = 0usize;
                while self.more(arg, index)? {
                    items.push(self.item().map_err(|e| e.within(|| format!("[{index}]")))?);
                    index += 1;
                }
                Item::Array(items)
            }
            (5, arg) => {
                let mut entries = Vec::new();
                let mut seen = HashSet::new();
                let mut index = 0usize;
                while self.more(arg, index)? {
                    let key = self
                        .item()
                        .map_err(|e| e.within(|| format!("<key {index}>")))?;
                    if !seen.insert(canonical(&key)) {
                        return Err(Failure {
                            kind: FailureKind::DuplicateKey(compact(&key)),
                            path: Vec::new(),
                        });
                    }
                    let value = self
                        .item()
                        .map_err(|e| e.within(|| format!("[{}]", compact(&key))))?;
                    entries.push((key, value));
                    index += 1;
                }
                Item::Map(entries)
            }
            (6, Some(tag)) => {
                let inner = self
                    .item()
                    .map_err(|e| e.within(|| format!("<tag {tag}>")))?;
                Item::Tag(tag, Box::new(inner))
            }
            (7, _) => match head.info {
                20 => Item::Bool(false),
                21 => Item::Bool(true),
                22 => Item::Null,
                23 => Item::Undefined,
                0..=19 => Item::Simple(head.info),
                24 => Item::Simple(head.argument.unwrap_or_default() as u8),
                25 => Item::Float(f16_to_f64(head.argument.unwrap_or_default() as u16)),
                26 => Item::Float(f64::from(f32::from_bits(
                    head.argument.unwrap_or_default() as u32
                ))),
                27 => Item::Float(f64::from_bits(head.argument.unwrap_or_default())),
                _ => return Err(malformed(at, "an unexpected break").into()),
            },
            _ => return Err(malformed(at, "an indefinite length on an integer or tag").into()),
        })
    }

    /// Whether a container with `length` (`None`: indefinite) has another
    /// element after `index` of them; consumes the closing break.
    fn more(&mut self, length: Option<u64>, index: usize) -> Result<bool, CodecError> {
        match length {
            Some(n) => Ok((index as u64) < n),
            None if self.peek_break() => {
                self.pos += 1;
                Ok(false)
            }
            None => Ok(true),
        }
    }
}

/// An IEEE 754 half-precision float, widened exactly.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x03ff);
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// A canonical encoding of `item`, for comparing map keys: two keys are the
/// same when they are the same data item, however each was encoded.
fn canonical(item: &Item) -> Vec<u8> {
    fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        out.push(major << 5 | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
    fn walk(item: &Item, out: &mut Vec<u8>) {
        match item {
            Item::Unsigned(n) => head(out, 0, *n),
            Item::Negative(n) => head(out, 1, *n),
            Item::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Item::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            Item::Array(items) => {
                head(out, 4, items.len() as u64);
                items.iter().for_each(|i| walk(i, out));
            }
            Item::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    walk(k, out);
                    walk(v, out);
                }
            }
            Item::Tag(tag, inner) => {
                head(out, 6, *tag);
                walk(inner, out);
            }
            Item::Bool(false) => out.push(0xf4),
            Item::Bool(true) => out.push(0xf5),
            Item::Null => out.push(0xf6),
            Item::Undefined => out.push(0xf7),
            Item::Simple(n) => out.extend_from_slice(&[0xf8, *n]),
            Item::Float(x) => {
                out.push(0xfb);
                out.extend_from_slice(&x.to_bits().to_be_bytes());
            }
        }
    }
    let mut out = Vec::new();
    walk(item, &mut out);
    out
}

/// The first part of `item` that JSON cannot show exactly, as a path and a
/// description; `None` when the whole value is plain JSON.
pub(crate) fn json_obstacle(item: &Item) -> Option<(String, String)> {
    fn walk(item: &Item, path: &mut String) -> Option<String> {
        match item {
            Item::Unsigned(_) | Item::Negative(_) | Item::Text(_) | Item::Bool(_) | Item::Null => {
                None
            }
            Item::Float(x) if x.is_finite() => None,
            Item::Float(_) => Some(format!("the float {}", compact(item))),
            Item::Bytes(_) => Some("a byte string".to_owned()),
            Item::Undefined => Some("undefined".to_owned()),
            Item::Simple(n) => Some(format!("simple({n})")),
            Item::Tag(_, _) if bignum_digits(item).is_some() => None,
            Item::Tag(tag, _) => Some(format!("tag {tag}")),
            Item::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                let found = walk(v, path);
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
            Item::Map(entries) => entries.iter().find_map(|(k, v)| {
                if !matches!(k, Item::Text(_)) {
                    return Some(format!("the map key {} (JSON keys are text)", compact(k)));
                }
                let len = path.len();
                let _ = write!(path, "[{}]", compact(k));
                let found = walk(v, path);
                if found.is_none() {
                    path.truncate(len);
                }
                found
            }),
        }
    }
    let mut path = String::from("$");
    walk(item, &mut path).map(|what| (path, what))
}

/// The decimal value of a bignum (tag 2 or 3 around a byte string of at most
/// [`MAX_BIGNUM_DECIMAL_BYTES`]), or `None` for any other item.
fn bignum_digits(item: &Item) -> Option<String> {
    match item {
        Item::Tag(TAG_BIGNUM, inner) => match inner.as_ref() {
            Item::Bytes(b) if b.len() <= MAX_BIGNUM_DECIMAL_BYTES => Some(bignum::to_decimal(b)),
            _ => None,
        },
        Item::Tag(TAG_NEGATIVE_BIGNUM, inner) => match inner.as_ref() {
            Item::Bytes(b) if b.len() <= MAX_BIGNUM_DECIMAL_BYTES => {
                Some(format!("-{}", bignum::to_decimal(&bignum::increment(b))))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `item` in diagnostic notation on one line: `{"a": [1, h'00'], "b": 1(0)}`.
pub(crate) fn compact(item: &Item) -> String {
    let mut out = String::new();
    write_item(item, None, &mut out);
    out
}

/// `item` in diagnostic notation laid out like pretty JSON (two-space
/// indent, one element per line), which is exactly pretty JSON when the value
/// is plain JSON.
pub(crate) fn pretty(item: &Item) -> String {
    let mut out = String::new();
    write_item(item, Some(0), &mut out);
    out
}

/// Writes `item`; `indent` is `Some(level)` for the pretty layout.
fn write_item(item: &Item, indent: Option<usize>, out: &mut String) {
    match item {
        Item::Unsigned(n) => {
            let _ = write!(out, "{n}");
        }
        Item::Negative(n) => {
            let _ = write!(out, "{}", -1 - i128::from(*n));
        }
        Item::Bytes(b) => {
            out.push_str("h'");
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('\'');
        }
        Item::Text(t) => out.push_str(&quote(t)),
        Item::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Item::Null => out.push_str("null"),
        Item::Undefined => out.push_str("undefined"),
        Item::Simple(n) => {
            let _ = write!(out, "simple({n})");
        }
        Item::Float(x) => out.push_str(&format_float(*x)),
        Item::Tag(tag, inner) => match bignum_digits(item) {
            Some(digits) => out.push_str(&digits),
            None => {
                let _ = write!(out, "{tag}(");
                write_item(inner, indent, out);
                out.push(')');
            }
        },
        Item::Array(items) => {
            write_seq(out, indent, '[', ']', items, |item, indent, out| {
                write_item(item, indent, out);
            });
        }
        Item::Map(entries) => {
            write_seq(out, indent, '{', '}', entries, |(k, v), indent, out| {
                write_item(k, indent, out);
                out.push_str(": ");
                write_item(v, indent, out);
            });
        }
    }
}

fn write_seq<T>(
    out: &mut String,
    indent: Option<usize>,
    open: char,
    close: char,
    elements: &[T],
    mut each: impl FnMut(&T, Option<usize>, &mut String),
) {
    out.push(open);
    if elements.is_empty() {
        out.push(close);
        return;
    }
    match indent {
        None => {
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                each(e, None, out);
            }
        }
        Some(level) => {
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                push_indent(out, level + 1);
                each(e, Some(level + 1), out);
            }
            out.push('\n');
            push_indent(out, level);
        }
    }
    out.push(close);
}

fn push_indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// A JSON string literal, escaped as `serde_json` escapes it (so the output
/// of plain JSON values is unchanged).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

/// A float at full precision: the shortest decimal that reads back as the
/// same double, in positional notation for magnitudes in `[1e-4, 1e16)` and
/// with an exponent (at least two digits) otherwise; integral values keep a
/// `.0` so that they read back as floats. `NaN`, `Infinity` and `-Infinity`
/// are diagnostic notation, not JSON.
///
/// `6.103515625e-05`, `0.1`, `100.0`, `1e+16`, `-0.0`.
pub(crate) fn format_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits: `-6.103515625e-5`, `1e16`.
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(bytes: &[u8]) -> Item {
        decode(bytes).unwrap()
    }

    #[test]
    fn floats_show_at_full_precision() {
        assert_eq!(format_float(6.103515625e-05), "6.103515625e-05");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(100.0), "100.0");
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(-0.0), "-0.0");
        assert_eq!(format_float(0.0), "0.0");
        assert_eq!(format_float(1e16), "1e+16");
        assert_eq!(format_float(1.2345e300), "1.2345e+300");
        assert_eq!(format_float(5e-324), "5e-324");
        assert_eq!(format_float(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_float(123456789.125), "123456789.125");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Infinity");
        // Every output reads back as the same double.
        for x in [
            0.1,
            1.0 / 3.0,
            6.103515625e-05,
            1e16,
            9007199254740993.0,
            2.5e-8,
        ] {
            assert_eq!(
                format_float(x).parse::<f64>().unwrap().to_bits(),
                x.to_bits()
            );
        }
    }

    #[test]
    fn half_and_single_floats_widen_exactly() {
        // f16 0x0400 is 2^-14; f16 0x3c00 is 1.0; f16 0x0001 is 2^-24.
        assert_eq!(item(&[0xf9, 0x04, 0x00]), Item::Float(6.103515625e-05));
        assert_eq!(item(&[0xf9, 0x3c, 0x00]), Item::Float(1.0));
        assert_eq!(item(&[0xf9, 0x00, 0x01]), Item::Float(2f64.powi(-24)));
        assert_eq!(item(&[0xf9, 0xfc, 0x00]), Item::Float(f64::NEG_INFINITY));
        // f32 0.1 is not f64 0.1: shown as the number it is.
        let bytes = [0xfa, 0x3d, 0xcc, 0xcc, 0xcd];
        assert_eq!(compact(&item(&bytes)), "0.10000000149011612");
    }

    #[test]
    fn byte_strings_are_not_arrays() {
        assert_eq!(compact(&item(&[0x43, 0x0a, 0x0b, 0x0c])), "h'0a0b0c'");
        assert_eq!(compact(&item(&[0x83, 0x0a, 0x0b, 0x0c])), "[10, 11, 12]");
        assert_eq!(compact(&item(&[0x40])), "h''");
        // Indefinite-length, chunked: joined.
        assert_eq!(
            compact(&item(&[0x5f, 0x41, 0x01, 0x42, 0x02, 0x03, 0xff])),
            "h'010203'"
        );
    }

    #[test]
    fn tags_and_bignums_are_readable() {
        // 2(h'010000000000000000') = 2^64; 3(h'010000000000000000') = -2^64 - 1.
        let two_64 = [0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(compact(&item(&two_64)), "18446744073709551616");
        let minus = [0xc3, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(compact(&item(&minus)), "-18446744073709551617");
        // The native extremes.
        let max = [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(compact(&item(&max)), "18446744073709551615");
        let min = [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(compact(&item(&min)), "-18446744073709551616");
        // Epoch time, a tag around text, a self-described CBOR map.
        assert_eq!(compact(&item(&[0xc1, 0x1a, 0, 0, 0, 1])), "1(1)");
        assert_eq!(compact(&item(&[0xc0, 0x61, b'x'])), "0(\"x\")");
        let described = [0xd9, 0xd9, 0xf7, 0xa1, 0x61, b'a', 0x01];
        assert_eq!(compact(&item(&described)), "55799({\"a\": 1})");
        assert_eq!(pretty(&item(&described)), "55799({\n  \"a\": 1\n})");
        // A tag 2 around something that is not bytes is just a tag.
        assert_eq!(compact(&item(&[0xc2, 0x01])), "2(1)");
        // A huge bignum stays in tag form.
        let mut huge = vec![0xc2, 0x59, 0x04, 0x01];
        huge.extend(std::iter::repeat_n(0xffu8, 1025));
        let shown = compact(&item(&huge));
        assert!(shown.starts_with("2(h'ffff"), "{}", &shown[..20]);
    }

    #[test]
    fn simple_values_and_non_text_keys() {
        assert_eq!(compact(&item(&[0xf7])), "undefined");
        assert_eq!(compact(&item(&[0xf0])), "simple(16)");
        assert_eq!(compact(&item(&[0xf8, 0xff])), "simple(255)");
        let map = [0xa2, 0x01, 0x61, b'x', 0xf5, 0xf6];
        assert_eq!(compact(&item(&map)), "{1: \"x\", true: null}");
    }

    #[test]
    fn plain_json_renders_as_serde_json_does() {
        let doc =
            serde_json::json!({"name": "Ada \"A\" \u{1}é", "tags": ["a", []], "n": -3, "m": {}});
        let bytes = codec::to_vec(&doc).unwrap();
        let shown = item(&bytes);
        assert_eq!(json_obstacle(&shown), None);
        assert_eq!(pretty(&shown), serde_json::to_string_pretty(&doc).unwrap());
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        // {"a": 1, "a": 2}
        let flat = [0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02];
        let err = decode(&flat).unwrap_err();
        assert_eq!(
            err,
            DecodeError::DuplicateKey {
                path: "$".into(),
                key: "\"a\"".into()
            }
        );
        // {"x": [0, {1: 0, 1: 0}]}: the same key encoded in two widths.
        let nested = [
            0xa1, 0x61, b'x', 0x82, 0x00, 0xa2, 0x01, 0x00, 0x18, 0x01, 0x00,
        ];
        let err = decode(&nested).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the map at $[\"x\"][1] has the key 1 more than once (CBOR map keys must be unique)"
        );
        // Equal values of different types are different keys.
        let distinct = [0xa2, 0x01, 0x00, 0xf9, 0x3c, 0x00, 0x00];
        assert_eq!(compact(&item(&distinct)), "{1: 0, 1.0: 0}");
    }

    #[test]
    fn not_cbor_says_why() {
        for bad in [
            &[0xff][..],
            &[0x61],
            &[0x01, 0x02],
            &[0x62, 0xff, 0xfe],
            &[],
        ] {
            assert!(
                matches!(decode(bad), Err(DecodeError::NotCbor(_))),
                "{bad:02x?}"
            );
        }
    }

    #[test]
    fn json_obstacles_are_located() {
        let bytes = [0xa1, 0x61, b'k', 0x82, 0x01, 0x41, 0x00];
        assert_eq!(
            json_obstacle(&item(&bytes)),
            Some(("$[\"k\"][1]".into(), "a byte string".into()))
        );
        let two_64 = [0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(json_obstacle(&item(&two_64)), None);
        assert!(json_obstacle(&item(&[0xf9, 0x7e, 0x00])).is_some()); // NaN
    }
}
