//! The floating-point numbers of GRIB, decoded exactly as ecCodes decodes
//! them, so that hiha's values are ecCodes' values bit for bit:
//!
//! - GRIB1 reference values are IBM System/360 single-precision floats;
//! - GRIB2 reference values are IEEE 754 single-precision floats (read by
//!   ecCodes' own routine, which differs from a plain `f32` cast for
//!   subnormal numbers);
//! - binary and decimal scale factors are powers computed by repeated
//!   multiplication or division in `f64` (ecCodes' `codes_power`).

use super::error::{corrupt, GribResult};

/// `n` to the power `s`, as ecCodes' `codes_power<double>(s, n)`: repeated
/// division (negative `s`) or multiplication (positive `s`) in `f64`. For
/// `n = 10` and `s < -1` this is not always the correctly rounded power of
/// ten, and it must not be: decoded values depend on it.
pub(crate) fn codes_power(s: i64, n: i64) -> f64 {
    if s == 0 {
        return 1.0;
    }
    if s == 1 {
        return n as f64;
    }
    let nf = n as f64;
    let mut d = 1.0f64;
    // |s| is at most 32767 (a 2-octet signed factor): the loops are short.
    let mut k = s;
    while k < 0 {
        d /= nf;
        k += 1;
    }
    while k > 0 {
        d *= nf;
        k -= 1;
    }
    d
}

/// An IBM single-precision float (sign, 7-bit base-16 exponent biased by
/// 64, 24-bit fraction), as ecCodes' `grib_long_to_ibm`: the value is
/// `m · 16^(c − 70)`, exact in `f64`; `c == 0` with `m ≤ 1` is zero.
pub(crate) fn ibm_to_f64(x: u32) -> f64 {
    let negative = x & 0x8000_0000 != 0;
    let c = ((x >> 24) & 0x7f) as i32;
    let m = x & 0x00ff_ffff;
    if c == 0 && m <= 1 {
        return 0.0;
    }
    // 16^(c-70) = 2^(4c-280): exact, from 2^-280 to 2^228.
    let v = f64::from(m) * pow2(4 * c - 280);
    if negative {
        -v
    } else {
        v
    }
}

/// An IEEE single-precision float as ecCodes' `grib_long_to_ieee` reads it:
/// normal numbers exactly; a subnormal number as if it had the implicit
/// leading bit (ecCodes' reading, kept for identical values); infinities
/// and NaN are refused (ecCodes reads past the end of its table there).
pub(crate) fn ieee_to_f64(x: u32) -> GribResult<f64> {
    let negative = x & 0x8000_0000 != 0;
    let c = ((x >> 23) & 0xff) as i32;
    let m = x & 0x007f_ffff;
    if c == 0 && m == 0 {
        return Ok(0.0);
    }
    if c == 255 {
        return Err(corrupt(format!(
            "reference value 0x{x:08x} is an IEEE infinity or NaN"
        )));
    }
    let c = c.max(1);
    let v = f64::from(m | 0x0080_0000) * pow2(c - 150);
    Ok(if negative { -v } else { v })
}

/// 2^e for -1022 ≤ e ≤ 1023 (exact).
fn pow2(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibm_examples() {
        // 0x42640000 = 100.0 in IBM (0.390625 · 16^2).
        assert_eq!(ibm_to_f64(0x4264_0000), 100.0);
        assert_eq!(ibm_to_f64(0xC264_0000), -100.0);
        assert_eq!(ibm_to_f64(0x4110_0000), 1.0);
        assert_eq!(ibm_to_f64(0), 0.0);
        assert_eq!(ibm_to_f64(1), 0.0);
    }

    #[test]
    fn ieee_examples() {
        for v in [1.0f32, -2.5, 46727.953, 1e-30, 3.4e38] {
            assert_eq!(ieee_to_f64(v.to_bits()).ok(), Some(v as f64));
        }
        assert_eq!(ieee_to_f64(0).ok(), Some(0.0));
        assert!(ieee_to_f64(f32::INFINITY.to_bits()).is_err());
        assert!(ieee_to_f64(f32::NAN.to_bits()).is_err());
    }

    #[test]
    fn powers_follow_eccodes() {
        assert_eq!(codes_power(-2, 2), 0.25);
        assert_eq!(codes_power(3, 10), 1000.0);
        assert_eq!(codes_power(-1, 10), 0.1);
        // Repeated division: 1/10/10 is 0.01 rounded twice.
        assert_eq!(codes_power(-2, 10), 1.0 / 10.0 / 10.0);
    }
}
