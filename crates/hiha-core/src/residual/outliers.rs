//! Sparse exact corrections: the last line of the guarantee.
//!
//! After a method has produced its final f32 reconstruction, any element that
//! misses the bound (an f32 rounding case, a wavelet coefficient too coarse
//! near a spike, ...) is listed here with the exact f32 bits of the original,
//! and the decoder overwrites it. The list is range coded: a count, then for
//! each element the gap since the previous index and the 32 raw bits. An empty
//! list is zero bytes.

use crate::entropy::{BitModel, RangeDecoder, RangeEncoder, UintModel};
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

/// One correction of the wavelet path's max-abs stream: `x̂ += k·s`
/// (`k ≠ 0`), or the exact f64 bits where rounding would still miss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fix {
    Step(i64),
    Exact(u64),
}

/// Format 2.3: the wavelet path's corrections as a significance map (one
/// flag per element of the 4-D block `d`, raster order), instead of a list
/// of gaps. The flag's context comes from the already coded neighbours
/// (2·(left + above) + above-left + above-right + previous along each outer
/// axis, capped); the sign's from the signs of left and above; the
/// magnitude's from their magnitudes. See `docs/ALGORITHM.md`, "Max-abs: two
/// layers instead of an outlier list".
pub(crate) fn encode_map<'a>(
    fixes: impl IntoIterator<Item = &'a (usize, Fix)> + Clone,
    d: [usize; 4],
) -> Vec<u8> {
    let n: usize = d.iter().product();
    let mut state = vec![0i32; n];
    for &(i, f) in fixes.clone() {
        state[i] = match f {
            Fix::Step(k) => k.clamp(-(1 << 30), 1 << 30) as i32,
            Fix::Exact(_) => EXACT,
        };
    }
    let mut enc = RangeEncoder::new();
    let mut m = MapModels::new();
    let mut next = fixes.into_iter();
    for_each_element(d, |i, at| {
        let c = map_contexts(&state, i, at, d);
        let s = state[i];
        enc.encode_bit(&mut m.flag[c.flag], s != 0);
        if s == 0 {
            return;
        }
        let Some(&(_, fix)) = next.next() else {
            unreachable!("a set flag has its fix")
        };
        match fix {
            Fix::Exact(bits) => {
                enc.encode_bit(&mut m.exact, true);
                enc.encode_direct((bits >> 32) as u32, 32);
                enc.encode_direct(bits as u32, 32);
            }
            Fix::Step(k) => {
                enc.encode_bit(&mut m.exact, false);
                enc.encode_bit(&mut m.sign[c.sign], k < 0);
                let mag = k.unsigned_abs().saturating_sub(1).min(u32::MAX as u64) as u32;
                m.mag[c.mag].encode(&mut enc, mag);
            }
        }
    });
    enc.finish()
}

/// Decodes [`encode_map`] for the block `d`; sorted by index.
pub(crate) fn decode_map(bytes: &[u8], d: [usize; 4]) -> Result<Vec<(usize, Fix)>> {
    let n: usize = d.iter().product();
    let mut state = vec![0i32; n];
    let mut dec = RangeDecoder::new(bytes);
    let mut m = MapModels::new();
    let mut out = Vec::new();
    for_each_element(d, |i, at| {
        let c = map_contexts(&state, i, at, d);
        if !dec.decode_bit(&mut m.flag[c.flag]) || dec.overrun() {
            return;
        }
        if dec.decode_bit(&mut m.exact) {
            let hi = dec.decode_direct(32) as u64;
            let lo = dec.decode_direct(32) as u64;
            state[i] = EXACT;
            out.push((i, Fix::Exact(hi << 32 | lo)));
        } else {
            let neg = dec.decode_bit(&mut m.sign[c.sign]);
            let mag = m.mag[c.mag].decode(&mut dec) as i64 + 1;
            let k = if neg { -mag } else { mag };
            state[i] = k.clamp(-(1 << 30), 1 << 30) as i32;
            out.push((i, Fix::Step(k)));
        }
    });
    if dec.overrun() {
        return Err(Error::Truncated("correction map ends early".into()));
    }
    Ok(out)
}

/// State of an element with an exact correction (for the contexts).
const EXACT: i32 = i32::MIN;
const FLAG_CONTEXTS: usize = 6;

struct MapModels {
    flag: [BitModel; FLAG_CONTEXTS],
    exact: BitModel,
    sign: [BitModel; 9],
    mag: [UintModel; 3],
}

impl MapModels {
    fn new() -> Self {
        Self {
            flag: [BitModel::new(); FLAG_CONTEXTS],
            exact: BitModel::new(),
            sign: [BitModel::new(); 9],
            mag: [UintModel::new(), UintModel::new(), UintModel::new()],
        }
    }
}

struct MapContexts {
    flag: usize,
    sign: usize,
    mag: usize,
}

/// Calls `f(i, [i0, i1, i2, i3])` for every element of the block `d`, in
/// raster order.
#[inline]
fn for_each_element(d: [usize; 4], mut f: impl FnMut(usize, [usize; 4])) {
    let mut i = 0;
    for i0 in 0..d[0] {
        for i1 in 0..d[1] {
            for i2 in 0..d[2] {
                for i3 in 0..d[3] {
                    f(i, [i0, i1, i2, i3]);
                    i += 1;
                }
            }
        }
    }
}

/// Contexts of element `i` (at `c`) from the states of its already coded
/// neighbours.
#[inline]
fn map_contexts(state: &[i32], i: usize, c: [usize; 4], d: [usize; 4]) -> MapContexts {
    let (s3, s2, s1) = (d[3], d[2] * d[3], d[1] * d[2] * d[3]);
    let at = |ok: bool, j: usize| if ok { state[j] } else { 0 };
    let left = at(c[3] > 0, i.wrapping_sub(1));
    let up = at(c[2] > 0, i.wrapping_sub(s3));
    let ul = at(c[2] > 0 && c[3] > 0, i.wrapping_sub(s3 + 1));
    let ur = at(
        c[2] > 0 && c[3] + 1 < d[3],
        i.wrapping_sub(s3).wrapping_add(1),
    );
    let p1 = at(c[1] > 0, i.wrapping_sub(s2));
    let p0 = at(c[0] > 0, i.wrapping_sub(s1));
    let nz = |v: i32| (v != 0) as usize;
    let w = 2 * (nz(left) + nz(up)) + nz(ul) + nz(ur) + nz(p1) + nz(p0);
    // Exact corrections count as magnitude 2 with no sign.
    let sg = |v: i32| {
        if v == EXACT {
            1
        } else {
            (v.signum() + 1) as usize
        }
    };
    let mg = |v: i32| {
        if v == EXACT {
            2
        } else {
            v.unsigned_abs() as usize
        }
    };
    MapContexts {
        flag: w.min(FLAG_CONTEXTS - 1),
        sign: sg(left) * 3 + sg(up),
        mag: mg(left).max(mg(up)).min(2),
    }
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
    fn map_round_trip_and_damage() {
        for d in [[1, 1, 1, 1], [1, 1, 3, 5], [2, 3, 7, 11], [1, 1, 1, 40]] {
            let n: usize = d.iter().product();
            let fixes: Vec<(usize, Fix)> = (0..n)
                .filter(|i| i % 3 != 1)
                .map(|i| match i % 7 {
                    0 => (i, Fix::Exact(0x7ff0_0000_dead_beef ^ i as u64)),
                    1 | 4 => (i, Fix::Step(-(i as i64 % 5) - 1)),
                    _ => (i, Fix::Step(i as i64 % 3 + 1)),
                })
                .collect();
            let b = encode_map(&fixes, d);
            assert_eq!(decode_map(&b, d).expect("decode"), fixes);
            let none = encode_map(&[], d);
            assert!(decode_map(&none, d).expect("empty map").is_empty());
            // Damage: errors or other fixes, never a panic.
            for cut in [0, b.len() / 2] {
                let _ = decode_map(&b[..cut], d);
            }
            let mut bad = b.clone();
            for j in 0..bad.len() {
                bad[j] ^= 0x5a;
                let _ = decode_map(&bad, d);
            }
        }
        // A large k and a long block.
        let d = [1, 1, 100, 1000];
        let fixes = vec![(5, Fix::Step((1 << 30) - 1)), (99_999, Fix::Step(-3))];
        let b = encode_map(&fixes, d);
        assert_eq!(decode_map(&b, d).expect("decode"), fixes);
        assert!(decode_map(&b[..1], d).is_err());
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
