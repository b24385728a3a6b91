//! The serde `Deserializer` behind [`from_slice`](super::from_slice): it reads
//! CBOR straight from a slice that [`validate`](super::validate) has already
//! accepted, so every length fits the input, every container is closed, the
//! nesting is within the depth limit and no count exceeds `max_elements`.
//!
//! It accepts what `ciborium` 0.2 (the previous decoder) accepts, with the
//! same meaning, so every stored value keeps decoding the same way (the corpus
//! in `tests/data/codec-corpus` pins it): half, single and double floats
//! for every float type, tags skipped before typed items, bignums (tags 2
//! and 3) for integers, byte strings for sequences of `u8`, enums as a text
//! (unit variant) or a one-pair map, and ciborium's `@@TAG@@` protocol for
//! types that capture tags. Where ciborium refused well-formed input for
//! reasons of its own (text or bytes over its 4 KiB scratch buffer into a
//! borrowing visitor), this reads it. Its checks never rely on the pre-scan
//! for memory safety: a broken invariant is an error, never a panic.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Unexpected, Visitor};

use super::major::{ARRAY, BYTES, MAP, NEGATIVE, SIMPLE_OR_FLOAT, TAG, TEXT, UNSIGNED};
use super::{malformed, truncated};
use crate::error::CodecError;

mod access;
use access::{Access, BytesAccess, EnumAccess, TagAccess};

/// Additional information of major type 7.
const FALSE: u8 = 20;
const TRUE: u8 = 21;
const NULL: u8 = 22;
const UNDEFINED: u8 = 23;
const HALF: u8 = 25;
const SINGLE: u8 = 26;
const DOUBLE: u8 = 27;
const INDEFINITE: u8 = 31;

/// The initial byte of a "break".
const BREAK: u8 = 0xFF;

/// Tag numbers of positive and negative bignums (RFC 8949 §3.4.3).
const BIGNUM_POSITIVE: u64 = 2;
const BIGNUM_NEGATIVE: u64 = 3;

/// The serde error of a decode: the codec's own error, typed, boxed so that
/// every `Result` on the hot path stays small.
#[derive(Debug)]
pub(super) struct Error(Box<CodecError>);

impl Error {
    #[cold]
    fn new(error: CodecError) -> Self {
        Error(Box::new(error))
    }

    pub(super) fn into_inner(self) -> CodecError {
        *self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(CodecError::Decode(msg.to_string()))
    }
}

type Result<T> = std::result::Result<T, Error>;

/// One item head: major type, additional information and argument (the
/// value, length or tag number; 0 for indefinite length).
#[derive(Debug, Clone, Copy)]
struct Head {
    major: u8,
    info: u8,
    argument: u64,
}

impl Head {
    fn is_indefinite(&self) -> bool {
        self.info == INDEFINITE
    }

    /// What serde error messages call this item.
    fn unexpected(&self) -> Unexpected<'static> {
        match (self.major, self.info) {
            (UNSIGNED, _) => Unexpected::Unsigned(self.argument),
            (NEGATIVE, _) => Unexpected::Signed(self.argument as i64 ^ !0),
            (BYTES, _) => Unexpected::Other("bytes"),
            (TEXT, _) => Unexpected::Other("string"),
            (ARRAY, _) => Unexpected::Seq,
            (MAP, _) => Unexpected::Map,
            (TAG, _) => Unexpected::Other("tag"),
            (_, FALSE) => Unexpected::Bool(false),
            (_, TRUE) => Unexpected::Bool(true),
            (_, NULL) => Unexpected::Other("null"),
            (_, UNDEFINED) => Unexpected::Other("undefined"),
            (_, HALF | SINGLE | DOUBLE) => Unexpected::Float(self.float()),
            (_, INDEFINITE) => Unexpected::Other("break"),
            _ => Unexpected::Other("simple"),
        }
    }

    fn expected(&self, kind: &'static str) -> Error {
        de::Error::invalid_type(self.unexpected(), &kind)
    }

    /// The value of a float head, widened to f64 as ciborium did (through
    /// `half` for half precision: the same NaN payloads).
    fn float(&self) -> f64 {
        match self.info {
            HALF => half::f16::from_bits(self.argument as u16).to_f64(),
            SINGLE => f64::from(f32::from_bits(self.argument as u32)),
            _ => f64::from_bits(self.argument),
        }
    }

    fn is_float(&self) -> bool {
        self.major == SIMPLE_OR_FLOAT && matches!(self.info, HALF | SINGLE | DOUBLE)
    }

    fn is_null_or_undefined(&self) -> bool {
        self.major == SIMPLE_OR_FLOAT && matches!(self.info, NULL | UNDEFINED)
    }
}

/// Reads one validated CBOR item from a slice.
pub(super) struct Deserializer<'de> {
    input: &'de [u8],
    pos: usize,
}

impl<'de> Deserializer<'de> {
    pub(super) fn new(input: &'de [u8]) -> Self {
        Deserializer { input, pos: 0 }
    }

    #[inline]
    fn peek_byte(&self) -> Result<u8> {
        match self.input.get(self.pos) {
            Some(&b) => Ok(b),
            None => Err(self.ends_early()),
        }
    }

    #[inline]
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.input.get(self.pos..self.pos + N) {
            Some(bytes) => {
                self.pos += N;
                // The slice is exactly N bytes long.
                Ok(bytes.try_into().unwrap_or([0; N]))
            }
            None => Err(Error::new(truncated(self.pos, "input ends inside a head"))),
        }
    }

    /// Reads the next head and moves past it.
    #[inline(always)]
    fn head(&mut self) -> Result<Head> {
        let Some(&initial) = self.input.get(self.pos) else {
            return Err(self.ends_early());
        };
        let (major, info) = (initial >> 5, initial & 0x1F);
        if info < 24 {
            self.pos += 1;
            return Ok(Head {
                major,
                info,
                argument: u64::from(info),
            });
        }
        self.long_head(major, info)
    }

    /// A head whose argument follows the initial byte (or is indefinite).
    #[inline]
    fn long_head(&mut self, major: u8, info: u8) -> Result<Head> {
        self.pos += 1;
        let argument = match info {
            24 => u64::from(self.take::<1>()?[0]),
            25 => u64::from(u16::from_be_bytes(self.take()?)),
            26 => u64::from(u32::from_be_bytes(self.take()?)),
            27 => u64::from_be_bytes(self.take()?),
            INDEFINITE => 0,
            _ => {
                return Err(Error::new(malformed(
                    self.pos - 1,
                    "reserved additional information",
                )));
            }
        };
        Ok(Head {
            major,
            info,
            argument,
        })
    }

    #[cold]
    fn ends_early(&self) -> Error {
        Error::new(truncated(self.pos, "input ends inside the value"))
    }

    /// Reads the next head, without moving past it.
    #[inline]
    fn peek_head(&mut self) -> Result<Head> {
        let at = self.pos;
        let head = self.head();
        self.pos = at;
        head
    }

    /// Reads the next head that is not a tag (tags before a typed item carry
    /// nothing serde can use, and ciborium skipped them too).
    #[inline]
    fn untagged_head(&mut self) -> Result<Head> {
        loop {
            let head = self.head()?;
            if head.major != TAG {
                return Ok(head);
            }
        }
    }

    /// The `len` bytes of a definite-length string body.
    #[inline]
    fn body(&mut self, len: u64) -> Result<&'de [u8]> {
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| Error::new(truncated(start, "a string runs past the input")))?;
        self.pos = end;
        Ok(&self.input[start..end])
    }

    /// The content of a byte or text string whose head was just read: a
    /// borrowed slice if definite, the joined chunks if indefinite.
    #[inline]
    fn string_content(&mut self, head: Head) -> Result<Cow<'de, [u8]>> {
        if !head.is_indefinite() {
            return self.body(head.argument).map(Cow::Borrowed);
        }
        let mut joined = Vec::new();
        loop {
            if self.peek_byte()? == BREAK {
                self.pos += 1;
                return Ok(Cow::Owned(joined));
            }
            let at = self.pos;
            let chunk = self.head()?;
            if chunk.major != head.major || chunk.is_indefinite() {
                return Err(Error::new(malformed(
                    at,
                    "bad chunk in an indefinite-length string",
                )));
            }
            joined.extend_from_slice(self.body(chunk.argument)?);
        }
    }

    /// The text of a text string whose head (at `at`) was just read. Each
    /// chunk of an indefinite-length string must be UTF-8 on its own (RFC
    /// 8949 §3.2.3); checking the joined text is weaker only for chunks
    /// that split a character, which nothing here writes.
    #[inline]
    fn text(&mut self, at: usize, head: Head) -> Result<Cow<'de, str>> {
        match self.string_content(head)? {
            Cow::Borrowed(bytes) => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| not_utf8(at)),
            Cow::Owned(bytes) => String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|_| not_utf8(at)),
        }
    }

    /// An integer item (after any tags): its sign and magnitude (for a
    /// negative integer, the CBOR argument `-1 - n`); bignums of up to 16
    /// significant bytes included.
    fn integer(&mut self) -> Result<(bool, u128)> {
        loop {
            let head = self.head()?;
            let negative = match (head.major, head.argument) {
                (UNSIGNED, n) => return Ok((false, n.into())),
                (NEGATIVE, n) => return Ok((true, n.into())),
                (TAG, BIGNUM_POSITIVE) => false,
                (TAG, BIGNUM_NEGATIVE) => true,
                (TAG, _) => continue,
                _ => return Err(head.expected("integer")),
            };
            let bytes_head = self.head()?;
            if bytes_head.major != BYTES {
                return Err(bytes_head.expected("bytes"));
            }
            let content = self.string_content(bytes_head)?;
            let first = content
                .iter()
                .position(|&b| b != 0)
                .unwrap_or(content.len());
            let significant = &content[first..];
            if significant.len() > 16 {
                return Err(de::Error::custom("bigint too large"));
            }
            let magnitude = significant
                .iter()
                .fold(0u128, |n, &b| n << 8 | u128::from(b));
            return Ok((negative, magnitude));
        }
    }

    fn signed(&mut self) -> Result<i128> {
        match self.integer()? {
            (false, raw) => i128::try_from(raw),
            (true, raw) => i128::try_from(raw).map(|x| x ^ !0),
        }
        .map_err(|_| de::Error::custom("integer too large"))
    }

    fn unsigned(&mut self) -> Result<u128> {
        match self.integer()? {
            (false, raw) => Ok(raw),
            (true, _) => Err(de::Error::custom("unexpected negative integer")),
        }
    }

    /// Moves past one whole item (the input is validated: its nesting, so
    /// this recursion, is within the depth limit).
    fn skip_item(&mut self) -> Result<()> {
        let head = self.head()?;
        match head.major {
            BYTES | TEXT => {
                self.string_content(head)?;
            }
            ARRAY | MAP => {
                let per_entry = if head.major == MAP { 2 } else { 1 };
                if head.is_indefinite() {
                    self.skip_until_break()?;
                } else {
                    for _ in 0..head.argument.saturating_mul(per_entry) {
                        self.skip_item()?;
                    }
                }
            }
            TAG => self.skip_item()?,
            _ => {}
        }
        Ok(())
    }

    fn skip_until_break(&mut self) -> Result<()> {
        while self.peek_byte()? != BREAK {
            self.skip_item()?;
        }
        self.pos += 1;
        Ok(())
    }

    /// Visits the array or map whose head was just read, then moves past
    /// whatever the visitor left unread (serde's tuple visitors stop at
    /// their own length), so that the next item is read where it starts.
    fn container<V: Visitor<'de>>(&mut self, head: Head, visitor: V) -> Result<V::Value> {
        let remaining = (!head.is_indefinite()).then_some(head.argument);
        let mut access = Access {
            de: self,
            remaining,
            is_map: head.major == MAP,
            value_pending: false,
        };
        let value = if head.major == MAP {
            visitor.visit_map(&mut access)?
        } else {
            visitor.visit_seq(&mut access)?
        };
        access.finish()?;
        Ok(value)
    }
}

#[cold]
fn not_utf8(at: usize) -> Error {
    Error::new(malformed(
        at,
        "text that is not UTF-8 or an invalid character",
    ))
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let head = self.peek_head()?;
        match head.major {
            UNSIGNED => self.deserialize_u64(visitor),
            NEGATIVE => match i64::try_from(head.argument) {
                Ok(_) => self.deserialize_i64(visitor),
                Err(_) => self.deserialize_i128(visitor),
            },
            BYTES => self.deserialize_byte_buf(visitor),
            TEXT => self.deserialize_string(visitor),
            ARRAY => self.deserialize_seq(visitor),
            MAP => self.deserialize_map(visitor),
            TAG => {
                let tag_at = self.pos;
                self.head()?;
                let next = self.peek_head()?;
                let bignum = matches!(head.argument, BIGNUM_POSITIVE | BIGNUM_NEGATIVE)
                    && next.major == BYTES
                    && !next.is_indefinite()
                    && next.argument <= 16;
                if bignum {
                    self.pos = tag_at;
                    return match self.integer()? {
                        (false, raw) => visitor.visit_u128(raw),
                        (true, raw) => match i128::try_from(raw) {
                            Ok(x) => visitor.visit_i128(x ^ !0),
                            Err(_) => Err(de::Error::custom("integer too large")),
                        },
                    };
                }
                visitor.visit_enum(TagAccess {
                    parent: Some(self),
                    state: 0,
                    tag: Some(head.argument),
                })
            }
            _ => match head.info {
                FALSE | TRUE => self.deserialize_bool(visitor),
                NULL | UNDEFINED => self.deserialize_option(visitor),
                HALF | SINGLE | DOUBLE => self.deserialize_f64(visitor),
                INDEFINITE => Err(head.expected("non-break")),
                _ => Err(head.expected("known simple value")),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let at = self.pos;
        let head = self.untagged_head()?;
        match (head.major, head.info) {
            (SIMPLE_OR_FLOAT, FALSE) => visitor.visit_bool(false),
            (SIMPLE_OR_FLOAT, TRUE) => visitor.visit_bool(true),
            _ => Err(Error::new(CodecError::Decode(format!(
                "expected bool (at byte {at})"
            )))),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    #[inline]
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let value =
            i64::try_from(self.signed()?).map_err(|_| de::Error::custom("integer too large"))?;
        visitor.visit_i64(value)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i128(self.signed()?)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    #[inline]
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        // The common case first: a plain unsigned integer.
        let head = self.peek_head()?;
        if head.major == UNSIGNED {
            self.head()?;
            return visitor.visit_u64(head.argument);
        }
        let value =
            u64::try_from(self.unsigned()?).map_err(|_| de::Error::custom("integer too large"))?;
        visitor.visit_u64(value)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u128(self.unsigned()?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_f64(visitor)
    }

    #[inline]
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let head = self.untagged_head()?;
        if head.is_float() {
            visitor.visit_f64(head.float())
        } else {
            Err(head.expected("float"))
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let at = self.pos;
        let head = self.untagged_head()?;
        if head.major != TEXT || head.is_indefinite() || head.argument > 4 {
            return Err(head.expected("char"));
        }
        let text = self.text(at, head)?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(head.expected("char")),
        }
    }

    #[inline]
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let at = self.pos;
        let head = self.untagged_head()?;
        if head.major != TEXT {
            return Err(head.expected("str"));
        }
        match self.text(at, head)? {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let head = self.untagged_head()?;
        match head.major {
            BYTES => match self.string_content(head)? {
                Cow::Borrowed(b) => visitor.visit_borrowed_bytes(b),
                Cow::Owned(b) => visitor.visit_byte_buf(b),
            },
            ARRAY => self.container(head, visitor),
            _ => Err(head.expected("bytes")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    #[inline]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let head = self.peek_head()?;
        if head.is_null_or_undefined() {
            self.head()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let head = self.untagged_head()?;
        if head.is_null_or_undefined() {
            visitor.visit_unit()
        } else {
            Err(head.expected("unit"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    #[inline]
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let head = self.untagged_head()?;
        match head.major {
            ARRAY => self.container(head, visitor),
            BYTES => {
                let bytes = self.string_content(head)?;
                visitor.visit_seq(BytesAccess(bytes.iter()))
            }
            _ => Err(head.expected("array")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    #[inline]
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let head = self.untagged_head()?;
        if head.major == MAP {
            self.container(head, visitor)
        } else {
            Err(head.expected("map"))
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if name == "@@TAG@@" {
            let head = self.peek_head()?;
            let tag = (head.major == TAG).then_some(head.argument);
            if tag.is_some() {
                self.head()?;
            }
            return visitor.visit_enum(TagAccess {
                parent: Some(self),
                state: 0,
                tag,
            });
        }
        loop {
            let at = self.pos;
            let head = self.head()?;
            let in_map = match (head.major, head.info, head.argument) {
                (TAG, ..) => continue,
                (MAP, info, 1) if info != INDEFINITE => true,
                (TEXT, ..) => {
                    self.pos = at;
                    false
                }
                _ => return Err(head.expected("enum")),
            };
            return visitor.visit_enum(EnumAccess { de: self, in_map });
        }
    }

    #[inline]
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let at = self.pos;
        let head = self.untagged_head()?;
        match head.major {
            TEXT => match self.text(at, head)? {
                Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
                Cow::Owned(s) => visitor.visit_string(s),
            },
            BYTES => match self.string_content(head)? {
                Cow::Borrowed(b) => visitor.visit_borrowed_bytes(b),
                Cow::Owned(b) => visitor.visit_byte_buf(b),
            },
            _ => Err(head.expected("str or bytes")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip_item()?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}
