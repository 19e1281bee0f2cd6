//! Sparse exact corrections: the last line of the guarantee.
//!
//! After a method has produced its final f32 reconstruction, any element that
//! misses the bound (an f32 rounding case, a wavelet coefficient too coarse
//! near a spike, ...) is listed here with the exact f32 bits of the original,
//! and the decoder overwrites it. The list is range coded: a count, then for
//! each element the gap since the previous index and the 32 raw bits. An empty
//! list is zero bytes.

use crate::entropy::{RangeDecoder, RangeEncoder, UintModel};
use crate::error::{Error, Result};

/// One correction: element index and the exact f32 bits to put there.
pub(crate) type Outlier = (usize, u32);

/// Codes a list sorted by strictly increasing index.
pub(crate) fn encode(list: &[Outlier]) -> Vec<u8> {
    if list.is_empty() {
        return Vec::new();
    }
    let mut enc = RangeEncoder::new();
    let mut hi = UintModel::new();
    let mut lo = UintModel::new();
    put_u64(&mut enc, &mut hi, &mut lo, list.len() as u64);
    let mut next = 0usize;
    for &(i, bits) in list {
        debug_assert!(i >= next);
        put_u64(&mut enc, &mut hi, &mut lo, (i - next) as u64);
        enc.encode_direct(bits, 32);
        next = i + 1;
    }
    enc.finish()
}

fn put_u64(enc: &mut RangeEncoder, hi: &mut UintModel, lo: &mut UintModel, v: u64) {
    hi.encode(enc, (v >> 32) as u32);
    lo.encode(enc, v as u32);
}

fn get_u64(dec: &mut RangeDecoder, hi: &mut UintModel, lo: &mut UintModel) -> u64 {
    let h = hi.decode(dec) as u64;
    let l = lo.decode(dec) as u64;
    (h << 32) | l
}

/// Decodes a list for a block of `n` elements; checks every index.
pub(crate) fn decode(bytes: &[u8], n: usize) -> Result<Vec<Outlier>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut dec = RangeDecoder::new(bytes);
    let mut hi = UintModel::new();
    let mut lo = UintModel::new();
    let count = get_u64(&mut dec, &mut hi, &mut lo);
    if count == 0 || count > n as u64 {
        return Err(Error::Corrupt(format!(
            "{count} outliers in a block of {n}"
        )));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut next = 0u64;
    for _ in 0..count {
        let gap = get_u64(&mut dec, &mut hi, &mut lo);
        let i = next
            .checked_add(gap)
            .filter(|&i| i < n as u64)
            .ok_or_else(|| Error::Corrupt("outlier index beyond the block".into()))?;
        let bits = dec.decode_direct(32);
        out.push((i as usize, bits));
        next = i + 1;
        if dec.overrun() {
            return Err(Error::Truncated("outlier list ends early".into()));
        }
    }
    if dec.overrun() {
        return Err(Error::Truncated("outlier list ends early".into()));
    }
    Ok(out)
}

/// Elements of `recon` farther than `e` from `x` (or not finite where `x` is
/// valid), corrected in place; returns the list.
pub(crate) fn fix_max_abs(
    x: &[f32],
    recon: &mut [f32],
    mask: Option<&[bool]>,
    e: f64,
) -> Vec<Outlier> {
    let mut list = Vec::new();
    for i in 0..x.len() {
        if mask.is_some_and(|m| m[i]) {
            continue;
        }
        let err = (x[i] as f64 - recon[i] as f64).abs();
        // A NaN error (non-finite reconstruction) is a miss too.
        if (err.is_nan() || err > e) && x[i].to_bits() != recon[i].to_bits() {
            recon[i] = x[i];
            list.push((i, x[i].to_bits()));
        }
    }
    list
}

/// Corrects the largest errors of `recon` in place until the RMSE over the
/// `nvalid` valid elements is at most `r`; returns the list (sorted).
pub(crate) fn fix_rmse(
    x: &[f32],
    recon: &mut [f32],
    mask: Option<&[bool]>,
    r: f64,
    nvalid: usize,
) -> Vec<Outlier> {
    let limit = r * r * nvalid as f64;
    let mut errs: Vec<(f64, usize)> = Vec::new();
    let mut sse = 0.0f64;
    for i in 0..x.len() {
        if mask.is_some_and(|m| m[i]) {
            continue;
        }
        let d = x[i] as f64 - recon[i] as f64;
        let e2 = if d.is_finite() {
            d * d
        } else if x[i].to_bits() == recon[i].to_bits() {
            0.0
        } else {
            f64::INFINITY
        };
        if e2 > 0.0 {
            errs.push((e2, i));
            if e2.is_finite() {
                sse += e2;
            }
        }
    }
    let must = errs.iter().any(|e| !e.0.is_finite());
    if sse <= limit && !must {
        return Vec::new();
    }
    errs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut list = Vec::new();
    for &(e2, i) in &errs {
        if e2.is_finite() && sse <= limit {
            break;
        }
        if e2.is_finite() {
            sse -= e2;
        }
        recon[i] = x[i];
        list.push((i, x[i].to_bits()));
    }
    list.sort_unstable();
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let list = vec![
            (0usize, 7u32),
            (5, u32::MAX),
            (6, 0),
            (1_000_000, 0x7fc0_0000),
        ];
        let b = encode(&list);
        assert_eq!(decode(&b, 1_000_001).expect("decode"), list);
        assert!(decode(&b, 1_000_000).is_err());
        assert!(decode(&b[..b.len() / 2], 1_000_001).is_err());
        assert!(decode(&[], 10).expect("empty").is_empty());
    }

    #[test]
    fn fixes_meet_the_bound() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut r = [1.0f32, 2.5, f32::NAN, 4.1];
        let l = fix_max_abs(&x, &mut r, None, 0.2);
        assert_eq!(l, vec![(1, 2.0f32.to_bits()), (2, 3.0f32.to_bits())]);
        let mut r = [1.5f32, 2.0, 3.0, 4.1];
        let l = fix_rmse(&x, &mut r, None, 0.1, 4);
        assert_eq!(l, vec![(0, 1.0f32.to_bits())]);
    }
}
