//! Unsigned integers of any size as minimal big-endian bytes: the content of
//! CBOR bignums (tags 2 and 3, RFC 8949 §3.4.3), converted from and to decimal.
//!
//! Schoolbook arithmetic on 32-bit limbs, quadratic in the number of digits:
//! plenty for numbers typed on a command line, and callers bound what they
//! convert from stored values (see [`crate::cbor::MAX_BIGNUM_DECIMAL_BYTES`]).

/// 10⁹, the largest power of ten below 2³².
const BILLION: u64 = 1_000_000_000;

/// The minimal big-endian bytes of the decimal number `digits` (ASCII digits
/// only, no sign); zero is the empty slice.
///
/// # Panics
/// Never: bytes other than ASCII digits are a caller bug, caught by a debug
/// assertion, and read as digits modulo their value otherwise.
pub(crate) fn from_decimal(digits: &str) -> Vec<u8> {
    debug_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{digits:?}");
    // Little-endian limbs.
    let mut limbs: Vec<u32> = Vec::with_capacity(digits.len() / 9 + 1);
    for chunk in digits.as_bytes().chunks(9) {
        let mut chunk_value = 0u64;
        let mut scale = 1u64;
        for &d in chunk {
            chunk_value = chunk_value * 10 + u64::from(d.wrapping_sub(b'0') % 10);
            scale *= 10;
        }
        let mut carry = chunk_value;
        for limb in &mut limbs {
            let v = u64::from(*limb) * scale + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut out: Vec<u8> = limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    let zeros = out.iter().take_while(|b| **b == 0).count();
    out.drain(..zeros);
    out
}

/// The decimal digits of the big-endian unsigned number `bytes` (leading zero
/// bytes allowed; the empty slice is zero).
pub(crate) fn to_decimal(bytes: &[u8]) -> String {
    // Big-endian limbs: pad the front to a multiple of four bytes.
    let pad = (4 - bytes.len() % 4) % 4;
    let padded: Vec<u8> = std::iter::repeat_n(0u8, pad)
        .chain(bytes.iter().copied())
        .collect();
    let mut limbs: Vec<u32> = padded
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .skip_while(|l| *l == 0)
        .collect();
    // Base-10⁹ digits, least significant first.
    let mut parts: Vec<u32> = Vec::new();
    while !limbs.is_empty() {
        let mut rem = 0u64;
        for limb in &mut limbs {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / BILLION) as u32;
            rem = cur % BILLION;
        }
        parts.push(rem as u32);
        let zeros = limbs.iter().take_while(|l| **l == 0).count();
        limbs.drain(..zeros);
    }
    let mut out = match parts.pop() {
        None => return "0".to_owned(),
        Some(top) => top.to_string(),
    };
    for part in parts.iter().rev() {
        out.push_str(&format!("{part:09}"));
    }
    out
}

/// `bytes + 1`, minimal.
pub(crate) fn increment(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for b in out.iter_mut().rev() {
        let (v, overflow) = b.overflowing_add(1);
        *b = v;
        if !overflow {
            return strip(out);
        }
    }
    out.insert(0, 1);
    strip(out)
}

/// `bytes - 1`, minimal; zero stays zero (callers never pass it).
pub(crate) fn decrement(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.iter().all(|b| *b == 0) {
        return Vec::new();
    }
    for b in out.iter_mut().rev() {
        let (v, underflow) = b.overflowing_sub(1);
        *b = v;
        if !underflow {
            break;
        }
    }
    strip(out)
}

fn strip(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trips() {
        for text in [
            "0",
            "1",
            "255",
            "256",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "340282366920938463463374607431768211456",
            "123456789012345678901234567890123456789012345678901234567890",
        ] {
            let bytes = from_decimal(text);
            assert_eq!(to_decimal(&bytes), text, "{bytes:02x?}");
        }
    }

    #[test]
    fn known_encodings() {
        assert_eq!(from_decimal("0"), Vec::<u8>::new());
        assert_eq!(from_decimal("256"), vec![1, 0]);
        // 2^64: the bignum of RFC 8949 §3.4.3's example.
        assert_eq!(
            from_decimal("18446744073709551616"),
            vec![1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(from_decimal("000123"), vec![123]);
        assert_eq!(to_decimal(&[0, 0, 1, 0]), "256");
        assert_eq!(to_decimal(&[]), "0");
    }

    #[test]
    fn increment_and_decrement_carry() {
        assert_eq!(increment(&[0xff, 0xff]), vec![1, 0, 0]);
        assert_eq!(increment(&[]), vec![1]);
        assert_eq!(decrement(&[1, 0, 0]), vec![0xff, 0xff]);
        assert_eq!(decrement(&[1]), Vec::<u8>::new());
        assert_eq!(decrement(&[]), Vec::<u8>::new());
    }
}
