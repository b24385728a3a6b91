//! The pre-scan behind [`validate`](super::validate): one linear pass over the
//! CBOR item heads (RFC 8949 §3) with an explicit stack instead of recursion.
//!
//! It reads the heads itself rather than through `ciborium-ll`'s `Decoder`:
//! the scan only needs the major type and the argument of each head, and
//! going through the general decoder (a reader, floats converted) made the
//! scan cost more than half of a ciborium decode of a typical value, against
//! about 6% now (see `docs/adr/0002-cbor-codec-and-limits.md`).

use super::major::{ARRAY, BYTES, MAP, NEGATIVE, SIMPLE_OR_FLOAT, TAG, TEXT, UNSIGNED};
use super::{CodecLimits, malformed, truncated};
use crate::error::CodecError;

/// Additional information values with a meaning of their own.
const ONE_BYTE_ARGUMENT: u8 = 24;
const FIRST_RESERVED: u8 = 28;
const INDEFINITE: u8 = 31;

/// Simple values below 32 fit in the initial byte; their two-byte encoding is
/// not well-formed (RFC 8949 §3.3).
const FIRST_TWO_BYTE_SIMPLE: u64 = 32;

/// The head of one item.
#[derive(Debug, Clone, Copy)]
struct Head {
    major: u8,
    /// Additional information (the low five bits of the initial byte).
    info: u8,
    /// The argument: a value, a length, a tag number; `None` for indefinite
    /// length (or, with major type 7, a break).
    argument: Option<u64>,
}

/// One open container on the explicit stack.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// A definite-length array or map (or a tag, which holds exactly one
    /// item): the items still expected (a map's pairs count twice).
    Definite { remaining: u64 },
    /// An indefinite-length array or map: items seen so far, until a break.
    Indefinite { is_map: bool, items: u64 },
}

/// Nesting levels kept inline before the stack spills to the heap: typical
/// values never allocate during the scan.
const INLINE_FRAMES: usize = 16;

/// The explicit stack of open containers: the first [`INLINE_FRAMES`] inline,
/// deeper ones on the heap (so its size is bounded by `max_depth`, never by
/// the thread's stack).
struct FrameStack {
    inline: [Frame; INLINE_FRAMES],
    inline_len: usize,
    spilled: Vec<Frame>,
}

impl FrameStack {
    fn new() -> Self {
        FrameStack {
            inline: [Frame::Definite { remaining: 0 }; INLINE_FRAMES],
            inline_len: 0,
            spilled: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.inline_len + self.spilled.len()
    }

    fn push(&mut self, frame: Frame) {
        if self.inline_len < INLINE_FRAMES {
            self.inline[self.inline_len] = frame;
            self.inline_len += 1;
        } else {
            self.spilled.push(frame);
        }
    }

    fn pop(&mut self) -> Option<Frame> {
        if let Some(frame) = self.spilled.pop() {
            return Some(frame);
        }
        self.inline_len = self.inline_len.checked_sub(1)?;
        Some(self.inline[self.inline_len])
    }

    fn last_mut(&mut self) -> Option<&mut Frame> {
        match self.spilled.last_mut() {
            Some(frame) => Some(frame),
            None => self.inline[..self.inline_len].last_mut(),
        }
    }
}

/// The state of one [`validate`](super::validate) run.
pub(super) struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
    limits: &'a CodecLimits,
    stack: FrameStack,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(input: &'a [u8], limits: &'a CodecLimits) -> Self {
        Scanner {
            input,
            pos: 0,
            limits,
            stack: FrameStack::new(),
        }
    }

    /// Walks the whole input; see [`validate`](super::validate) for the errors.
    pub(super) fn run(mut self) -> Result<(), CodecError> {
        loop {
            let at = self.pos;
            let head = self.head()?;
            let item_complete = match (head.major, head.argument) {
                (UNSIGNED | NEGATIVE, _) => true,
                (BYTES | TEXT, Some(len)) => {
                    self.skip(len)?;
                    true
                }
                (BYTES | TEXT, None) => {
                    self.skip_chunks(at, head.major)?;
                    true
                }
                (ARRAY, len) => self.open(len, false)?,
                (MAP, len) => self.open(len, true)?,
                (TAG, _) => {
                    self.enter(Frame::Definite { remaining: 1 })?;
                    false
                }
                (_, None) => self.close_indefinite(at)?,
                (_, Some(value)) => {
                    if head.info == ONE_BYTE_ARGUMENT && value < FIRST_TWO_BYTE_SIMPLE {
                        return Err(malformed(at, "simple value in a two-byte encoding"));
                    }
                    true
                }
            };
            if item_complete && self.complete_item()? {
                return if self.pos == self.input.len() {
                    Ok(())
                } else {
                    Err(malformed(
                        self.pos,
                        format!("{} bytes after the value", self.input.len() - self.pos),
                    ))
                };
            }
        }
    }

    /// Reads the next head and moves past it.
    #[inline(always)]
    fn head(&mut self) -> Result<Head, CodecError> {
        let at = self.pos;
        let Some(&initial) = self.input.get(at) else {
            return Err(truncated(at, "input ends where an item should start"));
        };
        let (major, info) = (initial >> 5, initial & 0x1F);
        self.pos += 1;
        let argument = match info {
            0..ONE_BYTE_ARGUMENT => Some(u64::from(info)),
            ONE_BYTE_ARGUMENT..FIRST_RESERVED => {
                let width = 1usize << (info - ONE_BYTE_ARGUMENT);
                let Some(bytes) = self.input.get(self.pos..self.pos + width) else {
                    return Err(truncated(at, "input ends inside a head"));
                };
                self.pos += width;
                Some(bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b)))
            }
            INDEFINITE => match major {
                BYTES | TEXT | ARRAY | MAP | SIMPLE_OR_FLOAT => None,
                _ => return Err(malformed(at, "indefinite length on a type that has none")),
            },
            _ => return Err(malformed(at, "reserved additional information")),
        };
        Ok(Head {
            major,
            info,
            argument,
        })
    }

    fn remaining(&self) -> u64 {
        (self.input.len() - self.pos) as u64
    }

    /// Refuses a declared `needed` bytes that the input cannot hold;
    /// `message` words the refusal from the bytes that do remain.
    #[inline]
    fn fits(&self, needed: u64, message: impl FnOnce(u64) -> String) -> Result<(), CodecError> {
        let remaining = self.remaining();
        if needed > remaining {
            return Err(truncated(self.pos, message(remaining)));
        }
        Ok(())
    }

    /// Moves past a string body of `len` bytes, refusing a length the input
    /// cannot hold (so a declared 2^63 bytes costs nothing).
    #[inline]
    fn skip(&mut self, len: u64) -> Result<(), CodecError> {
        self.fits(len, |remaining| {
            format!("a string declares {len} bytes but only {remaining} remain")
        })?;
        // Fits: len ≤ remaining ≤ usize::MAX.
        self.pos += len as usize;
        Ok(())
    }

    /// Moves past the chunks of an indefinite-length byte or text string
    /// (started at `at`): definite-length strings of the same major type,
    /// then a break.
    fn skip_chunks(&mut self, at: usize, major: u8) -> Result<(), CodecError> {
        loop {
            let chunk_at = self.pos;
            let chunk = self.head()?;
            match (chunk.major, chunk.argument) {
                (SIMPLE_OR_FLOAT, None) => return Ok(()),
                (m, Some(len)) if m == major => self.skip(len)?,
                _ => {
                    return Err(malformed(
                        chunk_at,
                        format!("bad chunk in the indefinite-length string at byte {at}"),
                    ));
                }
            }
        }
    }

    /// Opens an array or map of `len` elements (pairs for a map; `None` for
    /// indefinite length). Returns whether it is already complete (empty).
    fn open(&mut self, len: Option<u64>, is_map: bool) -> Result<bool, CodecError> {
        let Some(len) = len else {
            self.enter(Frame::Indefinite { is_map, items: 0 })?;
            return Ok(false);
        };
        if len > self.limits.max_elements as u64 {
            return Err(CodecError::TooManyElements {
                count: len,
                max: self.limits.max_elements,
            });
        }
        let items = if is_map { len.saturating_mul(2) } else { len };
        // Every item takes at least one byte: refuse early what cannot fit.
        self.fits(items, |remaining| {
            format!("a container declares {items} items but only {remaining} bytes remain")
        })?;
        self.enter(Frame::Definite { remaining: items })?;
        if items == 0 {
            self.stack.pop();
            return Ok(true);
        }
        Ok(false)
    }

    /// Closes the indefinite-length array or map that a break at `at` ends.
    fn close_indefinite(&mut self, at: usize) -> Result<bool, CodecError> {
        match self.stack.pop() {
            Some(Frame::Indefinite { is_map, items }) => {
                if is_map && items % 2 != 0 {
                    return Err(malformed(at, "map ends between a key and its value"));
                }
                Ok(true)
            }
            _ => Err(malformed(at, "unexpected break")),
        }
    }

    /// Pushes a frame, refusing to go deeper than the depth limit.
    fn enter(&mut self, frame: Frame) -> Result<(), CodecError> {
        let max = self.limits.depth_limit();
        if self.stack.len() >= max {
            return Err(CodecError::TooDeep { max });
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Records that one item finished, closing every definite container it
    /// completes. Returns whether the top-level item is complete.
    #[inline]
    fn complete_item(&mut self) -> Result<bool, CodecError> {
        loop {
            match self.stack.last_mut() {
                None => return Ok(true),
                Some(Frame::Indefinite { is_map, items }) => {
                    *items += 1;
                    let count = if *is_map { items.div_ceil(2) } else { *items };
                    if count > self.limits.max_elements as u64 {
                        return Err(CodecError::TooManyElements {
                            count,
                            max: self.limits.max_elements,
                        });
                    }
                    return Ok(false);
                }
                Some(Frame::Definite { remaining }) => {
                    *remaining -= 1;
                    if *remaining > 0 {
                        return Ok(false);
                    }
                    self.stack.pop();
                }
            }
        }
    }
}
