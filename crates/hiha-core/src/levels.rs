//! Per-level value ranges: what keeps every level of a reconstruction
//! inside that level's own [min, max] (so a non-negative level stays
//! non-negative), and the per-level normalisation behind the per-level
//! bounds (`nrmse:T:per-level`, `max-rel:R:per-level`).
//!
//! Stored in the archive header's `extra` bytes (owned by the pipeline), as
//! a list of fields `u8 tag, varint length, payload`:
//!
//! | tag | payload |
//! |---|---|
//! | 1 | per level, in level order: f32 lo, f32 hi (little-endian), the least and greatest valid value of that level |
//! | 2 | empty: the residual coder saw each valid value as `(x − lo) / (hi − lo)` of its level (`hi − lo` taken as 1 for a constant level) |
//! | 3 | empty: `keep-zeros` (format 2.1): every chunk has a signs section (kind 8); the residual skips the elements coded zero (and the flagged ones); the decoder sets each zero to exactly 0 and clamps the others to their coded sign (0 at worst) |
//! | 4 | empty (format 2.1): some chunks of the variable use codings new in 2.1: lattice indices (sections of kind lattice-residual, `lattice.rs`) or the wavelet coder's level profile |
//! | 5 | empty (format 2.2): some chunks use codings new in 2.2 (the wavelet coder's packet plan and quantised level profile) |
//! | 6 | empty (format 2.3): some chunks use codings new in 2.3 (the wavelet coder's primed models) |
//! | 7 | (format 2.4) coarse per-level ranges: per level, in level order, u16 `a`, u16 `b` (little-endian), the high halves of f32s (bfloat16): the level range is [`a`, `b`] as f32s, each clamped into the variable's [min, max]. The writer rounds each end outwards (by 2^-7 of its magnitude at most), so the range holds the level's values. Written instead of tag 1 when the residual is not normalised per level: 4 bytes a level instead of 8 |
//! | 8 | empty (format 2.5): some chunks use codings new in 2.5 (the wavelet coder's zero maps) |
//! | 9 | (format 2.6) the coarse per-level ranges of tag 7, delta coded: per level, in level order, LEB128 varints `zigzag(key(a_k) − key(a_{k−1}))` and `zigzag(key(b_k) − key(b_{k−1}))`, where `key(a_{−1})` is 0 and `key(b_{−1})` is `key(a_0)`, where `key(p)` orders the 16-bit floats as numbers: `p` for a positive one (sign bit clear), `−(p & 0x7FFF) − 1` for a negative one. Every byte is used; a key outside the 16-bit floats is corrupt. Written instead of tag 7 where it is shorter: neighbouring levels have close ranges, so 2 bytes a level instead of 4 |
//!
//! An unknown tag is [`Error::Unsupported`] (a newer hiha wrote it). No
//! tag 1 means no per-level ranges (archives before this module, and
//! one-level fields, which the variable's own [min, max] already covers).
//!
//! Clamping a reconstruction into [lo, hi] never increases an error: the
//! original lies in that interval, so moving towards it can only get closer.

use crate::error::{Error, Result};
use crate::field::Field;
use crate::format::{get_varint, put_varint, unzigzag, zigzag};

const TAG_LEVEL_RANGES: u8 = 1;
const TAG_NORMALIZED: u8 = 2;
const TAG_KEEP_ZEROS: u8 = 3;
const TAG_NEWER_CHUNKS: u8 = 4;
const TAG_NEWEST_CHUNKS: u8 = 5;
const TAG_CHUNKS_2_3: u8 = 6;
const TAG_COARSE_RANGES: u8 = 7;
const TAG_CHUNKS_2_5: u8 = 8;
const TAG_DELTA_RANGES: u8 = 9;
/// Format 2.7: some chunks code lattice indices losslessly (residual tag 4).
const TAG_CHUNKS_2_7: u8 = 10;

/// The order of 16-bit float patterns as numbers (see tag 9): one integer
/// per pattern, −0.0 just below +0.0.
fn bf16_key(p: u16) -> i32 {
    if p & 0x8000 == 0 {
        i32::from(p)
    } else {
        -i32::from(p & 0x7FFF) - 1
    }
}

/// The pattern of a [`bf16_key`], when there is one.
fn bf16_from_key(k: i64) -> Option<u16> {
    if (0..=0x7FFF).contains(&k) {
        Some(k as u16)
    } else if (-0x8000..=-1).contains(&k) {
        Some(((-k - 1) as u16) | 0x8000)
    } else {
        None
    }
}

/// Tag 9's payload for the coarse ranges `coarse`.
fn delta_ranges(coarse: &[(u16, u16)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(coarse.len() * 2);
    let (mut pa, mut pb) = (0i64, None);
    for &(a, b) in coarse {
        let (ka, kb) = (i64::from(bf16_key(a)), i64::from(bf16_key(b)));
        // The first level's upper end from its lower end.
        let pb = pb.get_or_insert(ka);
        put_varint(&mut out, zigzag(ka - pa));
        put_varint(&mut out, zigzag(kb - *pb));
        (pa, *pb) = (ka, kb);
    }
    out
}

/// The 16-bit float (the high half of an f32, as bfloat16) nearest to `x`
/// on the side away from the values it bounds: at or below `x` for a lower
/// end (`up` false), at or above it for an upper end.
fn bf16_outwards(x: f32, up: bool) -> u16 {
    let bits = x.to_bits();
    let high = (bits >> 16) as u16;
    if bits & 0xFFFF == 0 {
        return high;
    }
    // Dropping the low half moves towards zero; one more step moves away.
    let towards_zero_is_outwards = (x > 0.0) != up;
    if towards_zero_is_outwards {
        high
    } else {
        high + 1
    }
}

/// A coarse range end as stored (tag 7), kept within the variable's
/// `[vmin, vmax]`; `None` for a NaN (or an empty variable range).
fn bf16_value(b: u16, vmin: f64, vmax: f64) -> Option<f32> {
    let v = f32::from_bits(u32::from(b) << 16);
    let (lo, hi) = (vmin as f32, vmax as f32);
    (!v.is_nan() && lo <= hi).then(|| v.clamp(lo, hi))
}

/// The per-level ranges of a variable, and whether its residual is coded
/// normalised by them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LevelInfo {
    /// Per level: (lo, hi). Empty when the archive stores none.
    pub ranges: Vec<(f32, f32)>,
    pub normalized: bool,
    /// `keep-zeros`: each chunk's signs section says which elements are
    /// exactly zero and the sign of the others.
    pub keep_zeros: bool,
    /// Some chunks use codings new in format 2.1 (lattice indices, level
    /// profiles).
    pub newer_chunks: bool,
    /// Some chunks use codings new in format 2.2 (the wavelet coder's
    /// packet plan and quantised level profile).
    pub newest_chunks: bool,
    /// Some chunks use codings new in format 2.3 (the wavelet coder's
    /// primed models, segmented streams, significance maps).
    pub chunks_2_3: bool,
    /// Some chunks use codings new in format 2.5 (the wavelet coder's zero
    /// maps).
    pub chunks_2_5: bool,
    /// Some chunks use codings new in format 2.7 (the lossless integer
    /// coder of lattice indices).
    pub chunks_2_7: bool,
    /// The ranges are the coarse ones of tag 7 (format 2.4): per level, the
    /// 16-bit floats stored (lower, upper).
    pub coarse: Vec<(u16, u16)>,
    /// The coarse ranges are delta coded (tag 9, format 2.6): shorter.
    pub delta_ranges: bool,
}

impl LevelInfo {
    /// Measures the valid values of each level. With `normalize`, the
    /// residual is to be coded normalised per level. Fields of one level
    /// get no ranges unless normalised (the variable's range covers them).
    pub fn measure(field: &Field, normalize: bool) -> LevelInfo {
        let levels = field.shape.levels.max(1);
        if levels == 1 && !normalize {
            return LevelInfo::default();
        }
        let plane = (field.shape.lat * field.shape.lon).max(1);
        let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); levels];
        for (i, &v) in field.values.iter().enumerate() {
            if field.is_missing(i) {
                continue;
            }
            let r = &mut ranges[(i / plane) % levels];
            r.0 = r.0.min(v);
            r.1 = r.1.max(v);
        }
        let whole = field.value_range().unwrap_or((0.0, 0.0));
        for r in &mut ranges {
            if r.0 > r.1 {
                *r = whole; // a level without valid values
            }
        }
        LevelInfo {
            ranges,
            normalized: normalize,
            keep_zeros: false,
            newer_chunks: false,
            newest_chunks: false,
            chunks_2_3: false,
            chunks_2_5: false,
            chunks_2_7: false,
            coarse: Vec::new(),
            delta_ranges: false,
        }
    }

    /// Widens exact per-level ranges to the coarse ones of tag 7 (16-bit
    /// floats, rounded outwards; the variable's valid range is
    /// `[vmin, vmax]`): clamping into them still never increases an error,
    /// a level stays within 2^-7 of its own range's ends (a non-negative one
    /// non-negative), and they cost 4 bytes a level instead of 8.
    /// Normalised ranges (per-level bounds) stay exact: they define the
    /// bound.
    pub fn coarsen(&mut self, vmin: f64, vmax: f64) {
        if self.normalized || self.ranges.is_empty() {
            return;
        }
        self.coarse = self
            .ranges
            .iter()
            .map(|&(lo, hi)| (bf16_outwards(lo, false), bf16_outwards(hi, true)))
            .collect();
        // Delta coded (tag 9) where that is shorter than 4 bytes a level.
        self.delta_ranges = delta_ranges(&self.coarse).len() < self.coarse.len() * 4;
        self.ranges = self
            .coarse
            .iter()
            .map(|&(a, b)| {
                let at = |x| bf16_value(x, vmin, vmax).expect("rounded from a finite value");
                (at(a), at(b))
            })
            .collect();
    }

    /// The `extra` bytes that store this (empty when there is nothing).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.keep_zeros {
            out.push(TAG_KEEP_ZEROS);
            out.push(0);
        }
        if self.newer_chunks {
            out.push(TAG_NEWER_CHUNKS);
            out.push(0);
        }
        if self.newest_chunks {
            out.push(TAG_NEWEST_CHUNKS);
            out.push(0);
        }
        if self.chunks_2_3 {
            out.push(TAG_CHUNKS_2_3);
            out.push(0);
        }
        if self.chunks_2_5 {
            out.push(TAG_CHUNKS_2_5);
            out.push(0);
        }
        if self.chunks_2_7 {
            out.push(TAG_CHUNKS_2_7);
            out.push(0);
        }
        if self.ranges.is_empty() {
            return out;
        }
        if !self.coarse.is_empty() {
            if self.delta_ranges {
                let delta = delta_ranges(&self.coarse);
                out.push(TAG_DELTA_RANGES);
                put_varint(&mut out, delta.len() as u64);
                out.extend_from_slice(&delta);
                return out;
            }
            out.push(TAG_COARSE_RANGES);
            put_varint(&mut out, (self.coarse.len() * 4) as u64);
            for &(a, b) in &self.coarse {
                out.extend_from_slice(&a.to_le_bytes());
                out.extend_from_slice(&b.to_le_bytes());
            }
            return out;
        }
        out.push(TAG_LEVEL_RANGES);
        put_varint(&mut out, (self.ranges.len() * 8) as u64);
        for &(lo, hi) in &self.ranges {
            out.extend_from_slice(&lo.to_le_bytes());
            out.extend_from_slice(&hi.to_le_bytes());
        }
        if self.normalized {
            out.push(TAG_NORMALIZED);
            out.push(0);
        }
        out
    }

    /// Adds the coarse range [`a`, `b`] of the next level (tags 7 and 9).
    fn push_coarse(&mut self, a: u16, b: u16, value_min: f64, value_max: f64) -> Result<()> {
        match (
            bf16_value(a, value_min, value_max),
            bf16_value(b, value_min, value_max),
        ) {
            (Some(lo), Some(hi)) if lo <= hi => {
                self.coarse.push((a, b));
                self.ranges.push((lo, hi));
                Ok(())
            }
            _ => Err(Error::Corrupt(format!(
                "a coarse per-level range {a:#06x}..{b:#06x} that is empty or not a number"
            ))),
        }
    }

    /// Reads the `extra` bytes of a variable of `levels` levels, whose
    /// valid values lie in `[value_min, value_max]`.
    pub fn decode(extra: &[u8], levels: usize, value_min: f64, value_max: f64) -> Result<Self> {
        let mut info = LevelInfo::default();
        let mut rest = extra;
        while let Some((&tag, after)) = rest.split_first() {
            let (len, used) = get_varint(after)
                .ok_or_else(|| Error::Corrupt("codec extra field has a bad length".into()))?;
            let body = usize::try_from(len)
                .ok()
                .and_then(|l| after.get(used..used.checked_add(l)?))
                .ok_or_else(|| Error::Corrupt("codec extra field runs past its end".into()))?;
            rest = &after[used + body.len()..];
            match tag {
                TAG_LEVEL_RANGES if info.ranges.is_empty() => {
                    if body.len() != levels.saturating_mul(8) {
                        return Err(Error::Corrupt(format!(
                            "per-level ranges of {} bytes for {levels} levels",
                            body.len()
                        )));
                    }
                    for c in body.chunks_exact(8) {
                        let lo = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        let hi = f32::from_le_bytes([c[4], c[5], c[6], c[7]]);
                        let inside = lo.is_finite()
                            && hi.is_finite()
                            && lo <= hi
                            && lo as f64 >= value_min
                            && hi as f64 <= value_max;
                        if !inside {
                            return Err(Error::Corrupt(format!(
                                "a per-level range [{lo}, {hi}] outside the variable's \
                                 [{value_min}, {value_max}]"
                            )));
                        }
                        info.ranges.push((lo, hi));
                    }
                }
                TAG_COARSE_RANGES if info.ranges.is_empty() => {
                    if body.len() != levels.saturating_mul(4) {
                        return Err(Error::Corrupt(format!(
                            "coarse per-level ranges of {} bytes for {levels} levels",
                            body.len()
                        )));
                    }
                    for c in body.chunks_exact(4) {
                        let (a, b) = (
                            u16::from_le_bytes([c[0], c[1]]),
                            u16::from_le_bytes([c[2], c[3]]),
                        );
                        info.push_coarse(a, b, value_min, value_max)?;
                    }
                }
                TAG_DELTA_RANGES if info.ranges.is_empty() => {
                    // At most 2 × 3 bytes a level: a longer body is corrupt
                    // before anything is allocated for it.
                    if body.len() > levels.saturating_mul(6) {
                        return Err(Error::Corrupt(format!(
                            "delta-coded per-level ranges of {} bytes for {levels} levels",
                            body.len()
                        )));
                    }
                    let mut at = body;
                    let mut next = |prev: i64| -> Result<u16> {
                        let (z, used) = get_varint(at).ok_or_else(|| {
                            Error::Corrupt(
                                "delta-coded per-level ranges end early or hold a malformed varint"
                                    .into(),
                            )
                        })?;
                        at = &at[used..];
                        prev.checked_add(unzigzag(z))
                            .and_then(bf16_from_key)
                            .ok_or_else(|| {
                                Error::Corrupt(
                                    "a delta-coded per-level range end out of range".into(),
                                )
                            })
                    };
                    let (mut pa, mut pb) = (0i64, None);
                    for _ in 0..levels {
                        let a = next(pa)?;
                        let b = next(pb.unwrap_or(i64::from(bf16_key(a))))?;
                        (pa, pb) = (i64::from(bf16_key(a)), Some(i64::from(bf16_key(b))));
                        info.push_coarse(a, b, value_min, value_max)?;
                    }
                    if !at.is_empty() {
                        return Err(Error::Corrupt(format!(
                            "delta-coded per-level ranges: {} bytes past the last level",
                            at.len()
                        )));
                    }
                    info.delta_ranges = true;
                }
                TAG_NORMALIZED
                    if body.is_empty() && !info.ranges.is_empty() && info.coarse.is_empty() =>
                {
                    info.normalized = true;
                }
                TAG_KEEP_ZEROS if body.is_empty() && !info.keep_zeros => {
                    info.keep_zeros = true;
                }
                TAG_NEWER_CHUNKS if body.is_empty() && !info.newer_chunks => {
                    info.newer_chunks = true;
                }
                TAG_NEWEST_CHUNKS if body.is_empty() && !info.newest_chunks => {
                    info.newest_chunks = true;
                }
                TAG_CHUNKS_2_3 if body.is_empty() && !info.chunks_2_3 => {
                    info.chunks_2_3 = true;
                }
                TAG_CHUNKS_2_5 if body.is_empty() && !info.chunks_2_5 => {
                    info.chunks_2_5 = true;
                }
                TAG_CHUNKS_2_7 if body.is_empty() && !info.chunks_2_7 => {
                    info.chunks_2_7 = true;
                }
                TAG_LEVEL_RANGES | TAG_NORMALIZED | TAG_KEEP_ZEROS | TAG_NEWER_CHUNKS
                | TAG_NEWEST_CHUNKS | TAG_CHUNKS_2_3 | TAG_COARSE_RANGES | TAG_CHUNKS_2_5
                | TAG_DELTA_RANGES | TAG_CHUNKS_2_7 => {
                    return Err(Error::Corrupt("malformed per-level fields".into()));
                }
                t => {
                    return Err(Error::Unsupported(format!(
                        "the archive uses codec field {t}, from a newer hiha"
                    )))
                }
            }
        }
        Ok(info)
    }

    /// The newest format 2 minor whose residual codings the variable's
    /// chunks may use, as announced (tags 4, 5, 6, 8 and 10).
    pub fn residual_minor(&self) -> u16 {
        if self.chunks_2_7 {
            7
        } else if self.chunks_2_5 {
            5
        } else if self.chunks_2_3 {
            3
        } else if self.newest_chunks {
            2
        } else {
            1
        }
    }

    /// The smallest non-zero level span (hi − lo), for turning an absolute
    /// slack into normalised units; 0 when every level is constant.
    pub fn min_span(&self) -> f64 {
        let m = self
            .ranges
            .iter()
            .map(|&(lo, hi)| hi as f64 - lo as f64)
            .filter(|&s| s > 0.0)
            .fold(f64::INFINITY, f64::min);
        if m.is_finite() {
            m
        } else {
            0.0
        }
    }

    fn span(lo: f32, hi: f32) -> f64 {
        let s = hi as f64 - lo as f64;
        if s > 0.0 {
            s
        } else {
            1.0
        }
    }

    /// The field the residual coder sees: each valid value as
    /// `(x − lo) / (hi − lo)` of its level (computed in f64).
    pub fn normalize(&self, field: &Field) -> Field {
        let mut out = field.clone();
        out.packing = None;
        let levels = self.ranges.len().max(1);
        let plane = (field.shape.lat * field.shape.lon).max(1);
        for (i, v) in out.values.iter_mut().enumerate() {
            if field.is_missing(i) {
                continue;
            }
            let (lo, hi) = self.ranges[(i / plane) % levels];
            *v = ((*v as f64 - lo as f64) / Self::span(lo, hi)) as f32;
        }
        out
    }

    /// Turns decoded values of a chunk (which starts at a frame boundary)
    /// back into the variable's units when normalised, and clamps each
    /// valid value into its level's [lo, hi]. `flagged[i]` marks elements
    /// that are not coded values (missing, NaN, ±inf).
    pub fn restore(&self, vals: &mut [f32], flagged: Option<&[bool]>, plane: usize) {
        if self.ranges.is_empty() {
            return;
        }
        let levels = self.ranges.len();
        let plane = plane.max(1);
        // Plane by plane: one level's range for each (no division per
        // element, and a loop the compiler vectorises).
        for (p, chunk) in vals.chunks_mut(plane).enumerate() {
            let (lo, hi) = self.ranges[p % levels];
            let at = p * plane;
            let flags = flagged.map(|m| &m[at..at + chunk.len()]);
            match (self.normalized, flags) {
                (false, None) => {
                    for v in chunk.iter_mut() {
                        *v = v.clamp(lo, hi);
                    }
                }
                (false, Some(f)) => {
                    for (v, &skip) in chunk.iter_mut().zip(f) {
                        if !skip {
                            *v = v.clamp(lo, hi);
                        }
                    }
                }
                (true, f) => {
                    let span = Self::span(lo, hi);
                    for (j, v) in chunk.iter_mut().enumerate() {
                        if f.is_some_and(|f| f[j]) {
                            continue;
                        }
                        let x = (*v as f64).clamp(0.0, 1.0);
                        *v = ((lo as f64 + x * span) as f32).clamp(lo, hi);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Shape;

    fn field() -> Field {
        // 2 frames x 2 levels x 1 x 3: level 0 small and positive, level 1 large.
        let v = vec![
            1e-6, 2e-6, 3e-6, 100.0, 200.0, 300.0, 1.5e-6, 2.5e-6, 1e-6, 150.0, 250.0, 120.0,
        ];
        Field::new(Shape::new(2, 2, 1, 3), v, None).expect("field")
    }

    #[test]
    fn ranges_round_trip_and_clamp_per_level() {
        let f = field();
        let info = LevelInfo::measure(&f, false);
        assert_eq!(info.ranges, vec![(1e-6, 3e-6), (100.0, 300.0)]);
        let back = LevelInfo::decode(&info.encode(), 2, 1e-6f32 as f64, 300.0).expect("decode");
        assert_eq!(back, info);
        // A reconstruction that left level 0's range (even negative) comes
        // back inside it; level 1 too.
        let mut r = vec![-5e-6, 2e-6, 9.0, 90.0, 200.0, 301.0];
        info.restore(&mut r, None, 3);
        assert_eq!(r, vec![1e-6, 2e-6, 3e-6, 100.0, 200.0, 300.0]);
        // Flagged elements are left alone.
        let mut r = vec![f32::NAN, 2e-6, 9.0, 90.0, 200.0, 301.0];
        info.restore(&mut r, Some(&[true, false, false, false, false, false]), 3);
        assert!(r[0].is_nan());
    }

    #[test]
    fn coarse_ranges_hold_each_level_and_cost_half() {
        // Magnitudes from 1e-7 to 1e5, negative and positive, exact zeros.
        let v = vec![
            1.234_567e-7,
            3.3e-6,
            0.0,
            -1.0e5,
            -3.7,
            12_345.678,
            -0.1,
            -0.099_99,
            -0.05,
        ];
        let f = Field::new(Shape::new(1, 3, 1, 3), v.clone(), None).expect("field");
        let exact = LevelInfo::measure(&f, false);
        let mut info = exact.clone();
        let (vmin, vmax) = (-1.0e5f32 as f64, 12_345.678f32 as f64);
        info.coarsen(vmin, vmax);
        assert_eq!(info.coarse.len(), 3);
        for (l, (&(lo, hi), &(elo, ehi))) in info.ranges.iter().zip(&exact.ranges).enumerate() {
            assert!(
                lo <= elo && hi >= ehi,
                "level {l}: [{lo}, {hi}] vs [{elo}, {ehi}]"
            );
            assert!(elo - lo <= elo.abs() / 128.0 && hi - ehi <= ehi.abs() / 128.0);
            assert!(lo as f64 >= vmin && hi as f64 <= vmax);
        }
        // A level whose least value is 0 keeps 0 as its lower end.
        assert_eq!(info.ranges[0].0, 0.0);
        // These levels are far apart: 4 bytes a level (tag 7) is shorter.
        assert!(!info.delta_ranges);
        let bytes = info.encode();
        assert_eq!(bytes.len(), 2 + 3 * 4, "tag, length, 4 bytes a level");
        assert!(bytes.len() < exact.encode().len());
        let back = LevelInfo::decode(&bytes, 3, vmin, vmax).expect("decode");
        assert_eq!(back, info);
        // Normalised ranges stay exact.
        let mut n = LevelInfo::measure(&f, true);
        n.coarsen(vmin, vmax);
        assert!(n.coarse.is_empty());
        // Hostile: wrong length, NaN, an empty range.
        assert!(LevelInfo::decode(&bytes[..bytes.len() - 1], 3, vmin, vmax).is_err());
        assert!(LevelInfo::decode(&[7, 4, 0xC0, 0x7F, 0, 0], 1, vmin, vmax).is_err());
        assert!(LevelInfo::decode(&[7, 4, 0x80, 0x3F, 0, 0], 1, vmin, vmax).is_err());
        assert!(LevelInfo::decode(&[7, 4, 0, 0, 0x80, 0x3F], 1, vmin, vmax).is_ok());
    }

    /// Tag 9: neighbouring levels' close ranges cost about 2 bytes a level,
    /// decode to the same ranges as tag 7 would, and hostile bodies are
    /// errors.
    #[test]
    fn delta_coded_ranges_round_trip_at_half_the_bytes() {
        // 26 levels of a temperature-like profile, one crossing zero, one
        // at -0.0 .. 0.0, one negative throughout.
        let levels = 26;
        let mut v = Vec::new();
        for l in 0..levels {
            let (lo, hi) = match l {
                7 => (-3.5, 2.25),
                8 => (-0.0, 0.0),
                9 => (-40.0, -12.5),
                _ => (190.0 + 4.0 * l as f32, 240.0 + 3.0 * l as f32),
            };
            v.extend_from_slice(&[lo, (lo + hi) / 2.0, hi]);
        }
        let f = Field::new(Shape::new(1, levels, 1, 3), v, None).expect("field");
        let (vmin, vmax) = f.value_range().expect("values");
        let mut info = LevelInfo::measure(&f, false);
        info.coarsen(vmin as f64, vmax as f64);
        assert!(info.delta_ranges);
        let bytes = info.encode();
        assert_eq!(bytes[0], TAG_DELTA_RANGES);
        // 2 bytes a smooth level; the three odd levels' jumps cost more.
        assert!(bytes.len() <= 2 + 2 * levels + 20, "{} bytes", bytes.len());
        assert!(bytes.len() < 2 + 4 * levels);
        let back = LevelInfo::decode(&bytes, levels, vmin as f64, vmax as f64).expect("decode");
        assert_eq!(back, info);
        // The same ranges as tag 7 stores them.
        let mut raw = vec![TAG_COARSE_RANGES, (levels * 4) as u8];
        for &(a, b) in &info.coarse {
            raw.extend_from_slice(&a.to_le_bytes());
            raw.extend_from_slice(&b.to_le_bytes());
        }
        let seven = LevelInfo::decode(&raw, levels, vmin as f64, vmax as f64).expect("tag 7");
        assert_eq!((seven.ranges, seven.coarse), (back.ranges, back.coarse));
        // Every pattern's key maps back to it.
        for p in 0..=u16::MAX {
            assert_eq!(bf16_from_key(i64::from(bf16_key(p))), Some(p));
        }
        assert_eq!(bf16_from_key(0x8000), None);
        assert_eq!(bf16_from_key(-0x8001), None);
        // Hostile: truncated, a byte too many, too few levels, a key past
        // the 16-bit floats, a body longer than 6 bytes a level.
        let (lo, hi) = (vmin as f64, vmax as f64);
        assert!(LevelInfo::decode(&bytes, levels + 1, lo, hi).is_err());
        let mut short = bytes.clone();
        short.truncate(bytes.len() - 1);
        short[1] -= 1;
        assert!(LevelInfo::decode(&short, levels, lo, hi).is_err());
        let mut long = bytes.clone();
        long.push(0);
        long[1] += 1;
        assert!(LevelInfo::decode(&long, levels, lo, hi).is_err());
        assert!(LevelInfo::decode(&[9, 4, 0xFE, 0xFF, 0x03, 0], 1, lo, hi).is_err());
        assert!(LevelInfo::decode(&[9, 7, 0, 0, 0, 0, 0, 0, 0], 1, lo, hi).is_err());
        // An empty range (upper end below the lower).
        assert!(LevelInfo::decode(&[9, 2, 0x80, 0x3F], 1, -10.0, 10.0).is_err());
    }

    #[test]
    fn normalisation_maps_each_level_to_unit_range_and_back() {
        let f = field();
        let info = LevelInfo::measure(&f, true);
        let n = info.normalize(&f);
        assert!(n.values.iter().all(|&x| (0.0..=1.0).contains(&x)));
        assert_eq!(n.values[0], 0.0);
        assert_eq!(n.values[5], 1.0);
        let mut back = n.values.clone();
        info.restore(&mut back[..6], None, 3);
        info.restore(&mut back[6..], None, 3);
        for (a, b) in f.values.iter().zip(&back) {
            assert!(((a - b) / a).abs() < 1e-6, "{a} vs {b}");
        }
        let d = LevelInfo::decode(&info.encode(), 2, 1e-6f32 as f64, 300.0).expect("decode");
        assert!(d.normalized);
    }

    #[test]
    fn hostile_extra_bytes_are_errors() {
        let info = LevelInfo::measure(&field(), true);
        let good = info.encode();
        assert!(
            LevelInfo::decode(&good, 3, 1e-6f32 as f64, 300.0).is_err(),
            "wrong level count"
        );
        assert!(
            LevelInfo::decode(&good, 2, 0.0, 200.0).is_err(),
            "outside the range"
        );
        assert!(
            LevelInfo::decode(&good[..5], 2, 1e-6f32 as f64, 300.0).is_err(),
            "truncated"
        );
        assert!(matches!(
            LevelInfo::decode(&[11, 0], 2, 0.0, 1.0),
            Err(Error::Unsupported(_))
        ));
        // Field 10 (format 2.7) takes no body, and appears once.
        assert!(LevelInfo::decode(&[10, 0], 2, 0.0, 1.0).is_ok_and(|i| i.chunks_2_7));
        assert!(LevelInfo::decode(&[10, 1, 0], 2, 0.0, 1.0).is_err());
        assert!(LevelInfo::decode(&[10, 0, 10, 0], 2, 0.0, 1.0).is_err());
        assert!(
            LevelInfo::decode(&[2, 0], 2, 0.0, 1.0).is_err(),
            "normalised without ranges"
        );
        assert_eq!(
            LevelInfo::decode(&[], 2, 0.0, 1.0).expect("none"),
            LevelInfo::default()
        );
        // keep-zeros alone, and with ranges; twice is malformed.
        let kz = LevelInfo {
            keep_zeros: true,
            ..LevelInfo::default()
        };
        assert_eq!(kz.encode(), vec![3, 0]);
        assert_eq!(
            LevelInfo::decode(&kz.encode(), 2, 0.0, 1.0).expect("kz"),
            kz
        );
        let mut both = info.clone();
        both.keep_zeros = true;
        assert_eq!(
            LevelInfo::decode(&both.encode(), 2, 1e-6f32 as f64, 300.0).expect("both"),
            both
        );
        assert!(LevelInfo::decode(&[3, 0, 3, 0], 2, 0.0, 1.0).is_err());
        assert!(LevelInfo::decode(&[3, 1, 0], 2, 0.0, 1.0).is_err());
    }
}
