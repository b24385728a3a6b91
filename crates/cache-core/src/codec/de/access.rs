//! The serde access types of the [`Deserializer`]: sequences and maps,
//! byte strings read as sequences, enums, and ciborium's tag protocol.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::{BREAK, Deserializer, Error, Result};

/// Sequence and map access over one array or map.
pub(super) struct Access<'a, 'de> {
    pub(super) de: &'a mut Deserializer<'de>,
    /// Entries still to read (a map's pairs); `None`: until a break.
    pub(super) remaining: Option<u64>,
    pub(super) is_map: bool,
    /// A map key was read and its value not yet.
    pub(super) value_pending: bool,
}

impl Access<'_, '_> {
    /// Whether another entry follows (consuming the break that ends an
    /// indefinite-length container).
    #[inline]
    fn next(&mut self) -> Result<bool> {
        match &mut self.remaining {
            Some(0) => Ok(false),
            Some(n) => {
                *n -= 1;
                Ok(true)
            }
            None => {
                if self.de.peek_byte()? == BREAK {
                    self.de.pos += 1;
                    self.remaining = Some(0);
                    Ok(false)
                } else {
                    Ok(true)
                }
            }
        }
    }

    /// Moves past the entries the visitor did not read.
    pub(super) fn finish(&mut self) -> Result<()> {
        if self.value_pending {
            self.de.skip_item()?;
            self.value_pending = false;
        }
        match self.remaining {
            None => self.de.skip_until_break(),
            Some(entries) => {
                let items = if self.is_map {
                    entries.saturating_mul(2)
                } else {
                    entries
                };
                for _ in 0..items {
                    self.de.skip_item()?;
                }
                Ok(())
            }
        }
    }
}

impl<'de> de::SeqAccess<'de> for &mut Access<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.next()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.remaining.and_then(|n| usize::try_from(n).ok())
    }
}

impl<'de> de::MapAccess<'de> for &mut Access<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.value_pending {
            // The visitor skipped a value: move past it (serde never does
            // this, but a hand-written visitor may).
            self.de.skip_item()?;
            self.value_pending = false;
        }
        if !self.next()? {
            return Ok(None);
        }
        self.value_pending = true;
        seed.deserialize(&mut *self.de).map(Some)
    }

    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.value_pending = false;
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        self.remaining.and_then(|n| usize::try_from(n).ok())
    }
}

/// A byte string read as a sequence of `u8` (a `Vec<u8>` without
/// `serde_bytes` reads one, as with ciborium).
pub(super) struct BytesAccess<'a>(pub(super) std::slice::Iter<'a, u8>);

impl<'de> de::SeqAccess<'de> for BytesAccess<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.0.next() {
            Some(&byte) => seed.deserialize(byte.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// An enum: a text (unit variant) or a one-pair map (variant name, value).
pub(super) struct EnumAccess<'a, 'de> {
    pub(super) de: &'a mut Deserializer<'de>,
    pub(super) in_map: bool,
}

impl<'a, 'de> de::EnumAccess<'de> for EnumAccess<'a, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let variant = seed.deserialize(&mut *self.de)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for EnumAccess<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        if self.in_map {
            // `{"Unit": anything}`: the value carries nothing.
            self.de.skip_item()?;
        }
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }
}

/// ciborium's protocol for types that capture tags (`ciborium::tag::*`,
/// `ciborium::Value::Tag`): an enum named `@@TAG@@` whose variant is
/// `@@TAGGED@@` (a tuple of the tag number and the value) or
/// `@@UNTAGGED@@` (the value alone).
pub(super) struct TagAccess<'a, 'de> {
    pub(super) parent: Option<&'a mut Deserializer<'de>>,
    pub(super) state: usize,
    pub(super) tag: Option<u64>,
}

impl<'de> de::Deserializer<'de> for &mut TagAccess<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.state += 1;
        match (self.state, self.tag) {
            (1, Some(_)) => visitor.visit_str("@@TAGGED@@"),
            (1, None) => visitor.visit_str("@@UNTAGGED@@"),
            (_, Some(tag)) => visitor.visit_u64(tag),
            (_, None) => Err(de::Error::custom("expected tag")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'a, 'de> de::EnumAccess<'de> for TagAccess<'a, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(mut self, seed: V) -> Result<(V::Value, Self)> {
        let variant = seed.deserialize(&mut self)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for TagAccess<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        Err(de::Error::custom("expected tag"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(mut self, seed: T) -> Result<T::Value> {
        match self.parent.take() {
            Some(parent) => seed.deserialize(parent),
            None => Err(de::Error::custom("expected tag")),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(self)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(de::Error::custom("expected tag"))
    }
}

impl<'de> de::SeqAccess<'de> for TagAccess<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.state < 2 {
            return seed.deserialize(&mut *self).map(Some);
        }
        match self.parent.take() {
            Some(parent) => seed.deserialize(parent).map(Some),
            None => Ok(None),
        }
    }
}
