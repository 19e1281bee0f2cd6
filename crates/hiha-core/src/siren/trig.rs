//! The one sine/cosine implementation of the SIREN engine.
//!
//! Every path (training, the reproducible inference kernel, the scalar
//! reference) calls these functions, and they use only IEEE-754 `+ - *` on
//! `f32` plus integer bit operations, written as plain `a * b + c` (Rust never
//! contracts that into an FMA), so their result is the same bit pattern on
//! every CPU and at every SIMD width.
//!
//! Method: `k = round_nearest_even(x/π)` by the 1.5·2²³ trick, a three-part
//! Cody–Waite reduction `r = x − kπ ∈ [−π/2, π/2]`, Taylor polynomials of
//! degree 13 (sin) and 12 (cos) in `r` (truncation error < 7·10⁻¹⁰ there), and
//! the sign `(−1)^k` from the parity bit of the rounded value. Accurate to a
//! few ulp for |x| < 12 868 (where `k·PI_A` stays exact); beyond that it is
//! still deterministic, only less accurate, and for |x| ≥ 2²²·π it is garbage
//! (pre-activations of a working SIREN are far below both).

const INV_PI: f32 = 0.318_309_87;
const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
const PI_A: f32 = 3.140_625; // 12 significant bits: k * PI_A exact for |k| < 4096
const PI_B: f32 = 0.000_967_502_6; // next 12 bits
const PI_C: f32 = 1.509_958e-7;

const S3: f32 = -1.666_666_7e-1;
const S5: f32 = 8.333_333e-3;
const S7: f32 = -1.984_127e-4;
const S9: f32 = 2.755_732e-6;
const S11: f32 = -2.505_210_8e-8;
const S13: f32 = 1.605_904_4e-10;

const C2: f32 = -0.5;
const C4: f32 = 4.166_666_8e-2;
const C6: f32 = -1.388_888_9e-3;
const C8: f32 = 2.480_158_7e-5;
const C10: f32 = -2.755_732e-7;
const C12: f32 = 2.087_675_7e-9;

/// Range reduction: returns (r, sign bit to xor in).
#[inline(always)]
fn reduce(x: f32) -> (f32, u32) {
    let t = x * INV_PI + MAGIC;
    let k = t - MAGIC;
    let sign = t.to_bits() << 31;
    let r = ((x - k * PI_A) - k * PI_B) - k * PI_C;
    (r, sign)
}

#[inline(always)]
fn sin_poly(r: f32, r2: f32) -> f32 {
    let mut p = S13;
    p = p * r2 + S11;
    p = p * r2 + S9;
    p = p * r2 + S7;
    p = p * r2 + S5;
    p = p * r2 + S3;
    r + (r * r2) * p
}

#[inline(always)]
fn cos_poly(r2: f32) -> f32 {
    let mut p = C12;
    p = p * r2 + C10;
    p = p * r2 + C8;
    p = p * r2 + C6;
    p = p * r2 + C4;
    p = p * r2 + C2;
    1.0 + r2 * p
}

/// sin(x), bit-identical on every platform.
#[inline(always)]
pub fn sin(x: f32) -> f32 {
    let (r, sign) = reduce(x);
    let s = sin_poly(r, r * r);
    f32::from_bits(s.to_bits() ^ sign)
}

/// (sin(x), cos(x)) sharing one range reduction; `sin` equals [`sin`] bit for bit.
#[inline(always)]
pub fn sin_cos(x: f32) -> (f32, f32) {
    let (r, sign) = reduce(x);
    let r2 = r * r;
    let s = sin_poly(r, r2);
    let c = cos_poly(r2);
    (
        f32::from_bits(s.to_bits() ^ sign),
        f32::from_bits(c.to_bits() ^ sign),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siren_trig_accuracy() {
        let mut worst_s = 0.0f64;
        let mut worst_c = 0.0f64;
        let n = 200_000;
        for i in 0..=n {
            let x = -400.0 + 800.0 * i as f64 / n as f64;
            let xf = x as f32;
            let (s, c) = sin_cos(xf);
            assert_eq!(s.to_bits(), sin(xf).to_bits());
            worst_s = worst_s.max((s as f64 - (xf as f64).sin()).abs());
            worst_c = worst_c.max((c as f64 - (xf as f64).cos()).abs());
        }
        assert!(worst_s < 4e-7, "sin error {worst_s}");
        assert!(worst_c < 4e-7, "cos error {worst_c}");
        assert!(sin(f32::NAN).is_nan());
        assert_eq!(sin(0.0), 0.0);
    }
}
