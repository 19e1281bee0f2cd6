//! Simple packing and the scaling every packing shares: `Y = (R + X ·
//! 2^E) · 10^-D`, evaluated as ecCodes evaluates it (`grib_decode_array`,
//! `DataSimplePacking`): `((X · s) + R) · d` in `f64`, with
//! `s = codes_power(E, 2)` and `d = codes_power(-D, 10)`, so that every
//! value is ecCodes' value bit for bit.

use super::bytes::BitReader;
use super::error::{corrupt, GribResult};
use super::numbers::codes_power;

/// The parameters shared by every packing: `Y = (R + X · 2^E) · 10^-D`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// Reference value R (decoded from IBM or IEEE).
    pub reference: f64,
    /// Binary scale factor E.
    pub binary_scale: i64,
    /// Decimal scale factor D.
    pub decimal_scale: i64,
    /// Bits per packed value.
    pub bits: u32,
}

impl Scaling {
    /// The value of packed integer `x`, as ecCodes computes it:
    /// `((x · s) + R) · d` with `s = codes_power(E, 2)`, `d = codes_power(-D, 10)`.
    #[inline]
    pub(crate) fn apply(&self, x: f64, s: f64, d: f64) -> f64 {
        ((x * s) + self.reference) * d
    }

    pub(crate) fn factors(&self) -> (f64, f64) {
        (
            codes_power(self.binary_scale, 2),
            codes_power(-self.decimal_scale, 10),
        )
    }
}

/// Simple packing: `n` unsigned integers of `bits` bits, most significant
/// bit first. With `bits == 0` every value is the reference value (not
/// decimally scaled: ecCodes' special case).
pub(crate) fn unpack(scaling: &Scaling, n: usize, data: &[u8]) -> GribResult<Vec<f64>> {
    if scaling.bits == 0 {
        return Ok(vec![scaling.reference; n]);
    }
    if scaling.bits > 64 {
        return Err(corrupt(format!(
            "{} bits per value is more than 64",
            scaling.bits
        )));
    }
    let need = (n as u128) * u128::from(scaling.bits);
    let have = (data.len() as u128) * 8;
    if need > have {
        return Err(corrupt(format!(
            "the data section holds {} bytes, {n} values of {} bits need {} (truncated)",
            data.len(),
            scaling.bits,
            need.div_ceil(8)
        )));
    }
    let (s, d) = scaling.factors();
    let mut r = BitReader::new(data, "the data section");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let x = r.read(scaling.bits)?;
        out.push(scaling.apply(x as f64, s, d));
    }
    Ok(out)
}

/// Scales unpacked integers (complex and CCSDS packing), as ecCodes does.
pub(crate) fn scale_all(scaling: &Scaling, ints: impl Iterator<Item = i64>) -> Vec<f64> {
    let (s, d) = scaling.factors();
    ints.map(|x| scaling.apply(x as f64, s, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_packing_formula() {
        let sc = Scaling {
            reference: 100.0,
            binary_scale: -2,
            decimal_scale: 1,
            bits: 4,
        };
        let v = unpack(&sc, 3, &[0x12, 0x30]).expect("decodes");
        let d = 1.0 / 10.0;
        assert_eq!(
            v,
            vec![
                ((1.0 * 0.25) + 100.0) * d,
                ((2.0 * 0.25) + 100.0) * d,
                ((3.0 * 0.25) + 100.0) * d
            ]
        );
        assert!(unpack(&sc, 5, &[0x12, 0x30]).is_err());
        let c = Scaling { bits: 0, ..sc };
        assert_eq!(unpack(&c, 2, &[]).expect("constant"), vec![100.0, 100.0]);
    }
}
