//! Bounds-checked reading of big-endian numbers and bit fields: every
//! access to a message goes through these, so a truncated or garbled
//! message gives an error, never a panic.

use super::error::{corrupt, GribResult};

/// A section (or any byte range) of a message, read with checked offsets.
/// Offsets are 1-based octet numbers, as in the WMO tables, so the code
/// reads like the specification.
#[derive(Clone, Copy)]
pub(crate) struct Octets<'a> {
    pub bytes: &'a [u8],
    /// What the bytes are, for messages ("GRIB2 section 5").
    pub what: &'static str,
}

impl<'a> Octets<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Octets `first..=last` (1-based, inclusive).
    pub fn range(&self, first: usize, last: usize) -> GribResult<&'a [u8]> {
        if first == 0 || last < first || last > self.bytes.len() {
            return Err(corrupt(format!(
                "{} is {} octets long, octets {first}-{last} are needed (truncated or garbled)",
                self.what,
                self.bytes.len()
            )));
        }
        Ok(&self.bytes[first - 1..last])
    }

    /// An unsigned big-endian integer of `n` ≤ 8 octets starting at `at`.
    pub fn uint(&self, at: usize, n: usize) -> GribResult<u64> {
        let last = at
            .checked_add(n.saturating_sub(1))
            .ok_or_else(|| corrupt("offset overflow"))?;
        let b = self.range(at, last)?;
        Ok(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }

    pub fn u8(&self, at: usize) -> GribResult<u8> {
        Ok(self.range(at, at)?[0])
    }

    pub fn u16(&self, at: usize) -> GribResult<u16> {
        // Two octets always fit.
        Ok(self.uint(at, 2)? as u16)
    }

    pub fn u32(&self, at: usize) -> GribResult<u32> {
        Ok(self.uint(at, 4)? as u32)
    }

    /// A GRIB signed integer of `n` octets: sign bit, then magnitude (GRIB
    /// does not use two's complement).
    pub fn signed(&self, at: usize, n: usize) -> GribResult<i64> {
        let v = self.uint(at, n)?;
        Ok(sign_magnitude(v, n * 8))
    }
}

/// Decodes a sign-and-magnitude integer of `bits` bits (1..=64).
pub(crate) fn sign_magnitude(v: u64, bits: usize) -> i64 {
    if bits == 0 || bits > 64 {
        return 0;
    }
    let sign = 1u64 << (bits - 1);
    let mag = (v & (sign - 1)) as i64;
    if v & sign != 0 {
        -mag
    } else {
        mag
    }
}

/// Reads consecutive unsigned integers of a given width from a bit stream
/// (most significant bit first), as GRIB packs them.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits from the start of `bytes`.
    pos: u64,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self {
            bytes,
            pos: 0,
            what,
        }
    }

    /// Bits left to read.
    pub fn remaining(&self) -> u64 {
        (self.bytes.len() as u64)
            .saturating_mul(8)
            .saturating_sub(self.pos)
    }

    /// Moves to bit `pos`, which must lie within the data.
    pub fn seek(&mut self, pos: u64) -> GribResult<()> {
        if pos > (self.bytes.len() as u64).saturating_mul(8) {
            return Err(corrupt(format!("{} ends before bit {pos}", self.what)));
        }
        self.pos = pos;
        Ok(())
    }

    /// The next `n` ≤ 64 bits as an unsigned integer (0 for `n == 0`).
    pub fn read(&mut self, n: u32) -> GribResult<u64> {
        if n == 0 {
            return Ok(0);
        }
        if n > 64 {
            return Err(corrupt(format!(
                "{}: a field of {n} bits is wider than 64 bits",
                self.what
            )));
        }
        if u64::from(n) > self.remaining() {
            return Err(corrupt(format!(
                "{} ends after {} bits, {n} more are needed (truncated)",
                self.what, self.pos
            )));
        }
        let mut left = n;
        let mut out: u64 = 0;
        while left > 0 {
            // In range: remaining() >= left was checked above.
            let byte = self.bytes[(self.pos / 8) as usize];
            let used = (self.pos % 8) as u32;
            let avail = 8 - used;
            let take = avail.min(left);
            let bits = (u32::from(byte) >> (avail - take)) & ((1u32 << take) - 1);
            out = (out << take) | u64::from(bits);
            left -= take;
            self.pos += u64::from(take);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_msb_first() {
        let data = [0b1011_0011, 0b0101_1111];
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.read(3).ok(), Some(0b101));
        assert_eq!(r.read(7).ok(), Some(0b100_1101));
        assert_eq!(r.read(6).ok(), Some(0b01_1111));
        assert!(r.read(1).is_err());
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.read(16).ok(), Some(0b1011_0011_0101_1111));
    }

    #[test]
    fn sign_magnitude_is_not_twos_complement() {
        assert_eq!(sign_magnitude(0x8003, 16), -3);
        assert_eq!(sign_magnitude(0x0003, 16), 3);
        assert_eq!(sign_magnitude(0x80, 8), 0);
    }

    #[test]
    fn octets_are_checked() {
        let o = Octets::new(&[1, 2, 3], "test");
        assert_eq!(o.u16(2).ok(), Some(0x0203));
        assert!(o.u16(3).is_err());
        assert!(o.u8(0).is_err());
        assert!(o.range(2, 4).is_err());
    }
}
