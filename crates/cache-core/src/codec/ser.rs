//! The serde `Serializer` behind [`to_vec`](super::to_vec). It writes the
//! bytes `ciborium` 0.2 wrote, so values keep the same encoding (the corpus
//! in `tests/data/codec-corpus` pins it, and `compare_and_set_as` compares
//! encodings):
//!
//! - integers and lengths in the shortest head; `i128`/`u128` beyond 64 bits
//!   as bignums (tags 2 and 3, leading zero bytes dropped);
//! - floats in the shortest of half, single and double precision that gives
//!   back the same bits (`f32` widened to `f64` first);
//! - `None`, `()` and unit structs as null; a unit variant as its name; other
//!   variants as a one-pair map from the name to the content;
//! - structs as maps keyed by field name; sequences and maps of unknown length
//!   as indefinite-length items;
//! - ciborium's `@@TAG@@` protocol for types that carry a tag.
//!
//! While writing it tracks the nesting and the element counts, so that the
//! output is scanned again only when it may break a limit (or when a
//! `Serialize` implementation declared a length it did not keep): the
//! pre-scan then reports exactly what [`from_slice`](super::from_slice)
//! would refuse.

use std::fmt;

use serde::ser::{self, Serialize};

use super::major::{ARRAY, BYTES, MAP, NEGATIVE, TAG, TEXT, UNSIGNED};
use crate::error::CodecError;

/// The serde error of an encode.
#[derive(Debug)]
pub(super) struct Error(pub(super) CodecError);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(CodecError::Encode(msg.to_string()))
    }
}

type Result<T> = std::result::Result<T, Error>;

const FALSE: u8 = 0xF4;
const TRUE: u8 = 0xF5;
const NULL: u8 = 0xF6;
const BREAK: u8 = 0xFF;
const INDEFINITE: u8 = 31;

const BIGNUM_POSITIVE: u64 = 2;
const BIGNUM_NEGATIVE: u64 = 3;

/// Writes CBOR into a `Vec`, noting what the limits check needs.
pub(super) struct Serializer {
    pub(super) out: Vec<u8>,
    depth: usize,
    /// The deepest nesting written.
    pub(super) max_depth: usize,
    /// The most elements (a map's pairs) written in one container.
    pub(super) max_elements: u64,
    /// A container held a different number of entries than it declared.
    pub(super) miscounted: bool,
}

impl Serializer {
    pub(super) fn new() -> Self {
        Serializer {
            // serde_json starts at the same size: most cached values fit.
            out: Vec::with_capacity(128),
            depth: 0,
            max_depth: 0,
            max_elements: 0,
            miscounted: false,
        }
    }

    /// Writes a head in its shortest form.
    #[inline]
    fn head(&mut self, major: u8, argument: u64) {
        let major = major << 5;
        if argument < 24 {
            self.out.push(major | argument as u8);
        } else if argument <= u64::from(u8::MAX) {
            self.out.extend_from_slice(&[major | 24, argument as u8]);
        } else if argument <= u64::from(u16::MAX) {
            self.out.push(major | 25);
            self.out.extend_from_slice(&(argument as u16).to_be_bytes());
        } else if argument <= u64::from(u32::MAX) {
            self.out.push(major | 26);
            self.out.extend_from_slice(&(argument as u32).to_be_bytes());
        } else {
            self.out.push(major | 27);
            self.out.extend_from_slice(&argument.to_be_bytes());
        }
    }

    /// Writes a text string.
    #[inline]
    fn text(&mut self, text: &str) {
        self.head(TEXT, text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Opens an array or map of `len` entries (`None`: indefinite length).
    #[inline]
    fn open(&mut self, major: u8, len: Option<usize>) -> Collection<'_> {
        match len {
            Some(len) => {
                let len = len as u64;
                self.head(major, len);
                self.max_elements = self.max_elements.max(len);
            }
            None => self.out.push(major << 5 | INDEFINITE),
        }
        self.enter();
        Collection {
            ser: self,
            declared: len.map(|n| n as u64),
            written: 0,
            kind: Kind::Plain,
        }
    }

    /// Opens the content of a tuple or struct variant: a one-pair map from
    /// the variant's name to an array or map of `len` entries.
    fn open_variant(&mut self, variant: &str, major: u8, len: usize) -> Collection<'_> {
        self.head(MAP, 1);
        self.max_elements = self.max_elements.max(1);
        self.enter();
        self.text(variant);
        let mut inner = self.open(major, Some(len));
        inner.kind = Kind::Variant;
        inner
    }

    #[inline]
    fn enter(&mut self) {
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
    }

    fn bignum(&mut self, tag: u64, magnitude: u128) {
        let bytes = magnitude.to_be_bytes();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        self.head(TAG, tag);
        self.head(BYTES, (bytes.len() - first) as u64);
        self.out.extend_from_slice(&bytes[first..]);
        // A tag is a level of nesting for the limits.
        self.enter();
        self.depth -= 1;
    }
}

/// What closing a [`Collection`] closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An array or map.
    Plain,
    /// The array or map of a tuple or struct variant, and the one-pair map
    /// around it.
    Variant,
    /// A tag in ciborium's `@@TAGGED@@` protocol; `true` until its number
    /// (the first field) is written.
    Tag { number_pending: bool },
}

/// An open array or map (or tag).
pub(super) struct Collection<'a> {
    ser: &'a mut Serializer,
    declared: Option<u64>,
    /// Elements, or a map's keys and values (each counts one).
    written: u64,
    kind: Kind,
}

impl Collection<'_> {
    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.written += 1;
        value.serialize(&mut *self.ser)
    }

    /// Closes the container; `per_entry` is 2 for a map (key and value).
    fn close(self, per_entry: u64) -> Result<()> {
        match (self.kind, self.declared) {
            (Kind::Tag { number_pending }, _) => {
                if number_pending {
                    return Err(Error(CodecError::Encode("expected tag".into())));
                }
                if self.written != 1 {
                    self.ser.miscounted = true;
                }
            }
            (_, Some(declared)) => {
                if declared.saturating_mul(per_entry) != self.written {
                    self.ser.miscounted = true;
                }
            }
            (_, None) => {
                self.ser.out.push(BREAK);
                let entries = self.written.div_ceil(per_entry);
                self.ser.max_elements = self.ser.max_elements.max(entries);
                if !self.written.is_multiple_of(per_entry) {
                    self.ser.miscounted = true;
                }
            }
        }
        self.ser.depth -= if self.kind == Kind::Variant { 2 } else { 1 };
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Serializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Collection<'a>;
    type SerializeTuple = Collection<'a>;
    type SerializeTupleStruct = Collection<'a>;
    type SerializeTupleVariant = Collection<'a>;
    type SerializeMap = Collection<'a>;
    type SerializeStruct = Collection<'a>;
    type SerializeStructVariant = Collection<'a>;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(v.into())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<()> {
        if v < 0 {
            self.head(NEGATIVE, v as u64 ^ !0);
        } else {
            self.head(UNSIGNED, v as u64);
        }
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<()> {
        let (negative, raw) = if v < 0 {
            (true, v as u128 ^ !0)
        } else {
            (false, v as u128)
        };
        match (negative, u64::try_from(raw)) {
            (false, Ok(n)) => self.head(UNSIGNED, n),
            (true, Ok(n)) => self.head(NEGATIVE, n),
            (false, Err(_)) => self.bignum(BIGNUM_POSITIVE, raw),
            (true, Err(_)) => self.bignum(BIGNUM_NEGATIVE, raw),
        }
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_u64(v.into())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<()> {
        self.head(UNSIGNED, v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<()> {
        match u64::try_from(v) {
            Ok(n) => self.head(UNSIGNED, n),
            Err(_) => self.bignum(BIGNUM_POSITIVE, v),
        }
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<()> {
        self.serialize_f64(v.into())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<()> {
        let half = half::f16::from_f64(v);
        let single = v as f32;
        if half.to_f64().to_bits() == v.to_bits() {
            self.out.push(0xF9);
            self.out.extend_from_slice(&half.to_be_bytes());
        } else if f64::from(single).to_bits() == v.to_bits() {
            self.out.push(0xFA);
            self.out.extend_from_slice(&single.to_be_bytes());
        } else {
            self.out.push(0xFB);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<()> {
        self.text(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.head(BYTES, v.len() as u64);
        self.out.extend_from_slice(v);
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result<()> {
        self.out.push(NULL);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        if name == "@@TAG@@" && variant == "@@UNTAGGED@@" {
            return value.serialize(self);
        }
        let mut map = self.open(MAP, Some(1));
        map.ser.text(variant);
        map.written += 1;
        map.element(value)?;
        map.close(2)
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Collection<'a>> {
        Ok(self.open(ARRAY, len))
    }

    fn serialize_tuple(self, len: usize) -> Result<Collection<'a>> {
        Ok(self.open(ARRAY, Some(len)))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Collection<'a>> {
        Ok(self.open(ARRAY, Some(len)))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Collection<'a>> {
        if name == "@@TAG@@" && variant == "@@TAGGED@@" {
            // Two fields: the tag number, then the value it wraps.
            self.enter();
            return Ok(Collection {
                ser: self,
                declared: None,
                written: 0,
                kind: Kind::Tag {
                    number_pending: true,
                },
            });
        }
        Ok(self.open_variant(variant, ARRAY, len))
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Collection<'a>> {
        Ok(self.open(MAP, len))
    }

    #[inline]
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Collection<'a>> {
        Ok(self.open(MAP, Some(len)))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Collection<'a>> {
        Ok(self.open_variant(variant, MAP, len))
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

impl ser::SerializeSeq for Collection<'_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.close(1)
    }
}

impl ser::SerializeTuple for Collection<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.close(1)
    }
}

impl ser::SerializeTupleStruct for Collection<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.close(1)
    }
}

impl ser::SerializeTupleVariant for Collection<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if self.kind
            != (Kind::Tag {
                number_pending: true,
            })
        {
            return self.element(value);
        }
        // The tag number: written as an unsigned integer, then turned into
        // a tag head with the same argument.
        self.kind = Kind::Tag {
            number_pending: false,
        };
        let at = self.ser.out.len();
        value.serialize(&mut *self.ser)?;
        match self.ser.out.get_mut(at) {
            Some(initial) if *initial >> 5 == UNSIGNED => {
                *initial |= TAG << 5;
                Ok(())
            }
            _ => Err(Error(CodecError::Encode("expected tag".into()))),
        }
    }

    fn end(self) -> Result<()> {
        self.close(1)
    }
}

impl ser::SerializeMap for Collection<'_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.element(key)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.close(2)
    }
}

impl ser::SerializeStruct for Collection<'_> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.ser.text(key);
        self.written += 1;
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.close(2)
    }
}

impl ser::SerializeStructVariant for Collection<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.ser.text(key);
        self.written += 1;
        self.element(value)
    }

    fn end(self) -> Result<()> {
        self.close(2)
    }
}
