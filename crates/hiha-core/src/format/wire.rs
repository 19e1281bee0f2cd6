//! Byte-level primitives of the `.hiha` format: little-endian fixed-width
//! numbers, LEB128 varints, zigzag, length-prefixed strings, and a bounds-
//! checked cursor that never panics and never allocates more than the bytes
//! it has left.

use crate::error::{Error, Result};

/// Appends `v` as an unsigned LEB128 varint (7 bits a byte, low group first,
/// high bit set on every byte but the last).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Number of bytes [`put_varint`] writes for `v`.
pub(crate) fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Zigzag map of a signed integer onto an unsigned one (0, −1, 1, −2, ... →
/// 0, 1, 2, 3, ...).
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// Appends a varint length then the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// A read position in a byte slice. Every read checks the bytes left first;
/// errors are [`Error::Corrupt`] and name the structure being read (`what`).
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    pub(crate) fn corrupt(&self, msg: impl std::fmt::Display) -> Error {
        Error::Corrupt(format!("{} at byte {}: {msg}", self.what, self.pos))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes, or an error when fewer are left.
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let left = self.remaining();
        if n > left as u64 {
            return Err(self.corrupt(format!("needs {n} bytes, only {left} left")));
        }
        let n = n as usize;
        let s = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or_else(|| self.corrupt("out of bounds"))?;
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint in its shortest form; longer forms, and
    /// values above `u64::MAX`, are corrupt.
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut v = 0u64;
        for i in 0..10u32 {
            let b = self.u8()?;
            let group = (b & 0x7F) as u64;
            if i == 9 && b > 0x01 {
                return Err(self.corrupt("varint exceeds 64 bits"));
            }
            v |= group << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    self.pos = start;
                    return Err(self.corrupt("varint is not in its shortest form"));
                }
                return Ok(v);
            }
        }
        Err(self.corrupt("varint longer than 10 bytes"))
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64> {
        Ok(unzigzag(self.varint()?))
    }

    /// A varint that must fit `usize`.
    pub(crate) fn usize(&mut self) -> Result<usize> {
        let v = self.varint()?;
        usize::try_from(v).map_err(|_| self.corrupt(format!("{v} does not fit this machine")))
    }

    /// A varint that must fit `u32`.
    pub(crate) fn u32_varint(&mut self) -> Result<u32> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.corrupt(format!("{v} exceeds 32 bits")))
    }

    /// A varint count of items that each take at least `min_item_bytes`
    /// bytes: refused when the bytes left cannot hold that many.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.varint()?;
        let cap = (self.remaining() / min_item_bytes.max(1)) as u64;
        if n > cap {
            return Err(self.corrupt(format!(
                "count {n} cannot fit in the {} bytes left",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    /// Varint length then that many bytes.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        self.take(n)
    }

    /// Varint length then that many bytes of UTF-8.
    pub(crate) fn string(&mut self) -> Result<String> {
        let b = self.bytes()?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self.corrupt("string is not valid UTF-8")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_refuse_bad_forms() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            let mut c = Cursor::new(&b, "t");
            assert_eq!(c.varint().ok(), Some(v));
            assert_eq!(c.remaining(), 0);
        }
        for bad in [&[0x80u8, 0x00][..], &[0xFF; 10], &[0xFF; 11], &[0x80], &[]] {
            assert!(Cursor::new(bad, "t").varint().is_err(), "{bad:?}");
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -12345] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn counts_and_lengths_are_capped_by_bytes_left() {
        let mut b = Vec::new();
        put_varint(&mut b, 1 << 40);
        b.extend_from_slice(&[0; 16]);
        assert!(Cursor::new(&b, "t").count(1).is_err());
        assert!(Cursor::new(&b, "t").bytes().is_err());
        assert!(Cursor::new(&b, "t").string().is_err());
    }
}
