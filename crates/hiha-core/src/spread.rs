//! The ensemble-spread bound (`spread:F`, `--bound spread:F`):
//! |x − x̂| ≤ F·s on every element, where `s` is the standard deviation
//! over the ensemble members (n − 1) of the input at the element's point
//! (its time, level, lat, lon), or a spread the caller gives. This is how
//! ClimateBenchPress sets its bounds. Where the spread is 0 the element
//! comes back exact.
//!
//! How (the decoder never needs the spread):
//!
//! 1. The residual coder codes the whole variable with one max-abs target
//!    `e0`, a quantile of `F·s` over the variable (the encoder tries the
//!    minimum and the 10th, 30th and 50th percentiles and keeps the
//!    smallest archive).
//! 2. The encoder decodes what it wrote; every element whose error exceeds
//!    its own `F·s` gets a **fix**: in the chunk's *fixes* section (format
//!    2.1, kind 9) its index and either a quantised correction `q` (the
//!    decoder adds `q · step`, `step` ≤ 2 × 0.9 × the smallest `F·s` among the
//!    chunk's fixed elements) or, where that would not do (spread 0, f32
//!    rounding), its exact f32 bits.
//! 3. The archive is decoded again and the bound verified on every element.
//!
//! Fixes payload: `f64 step` (little-endian), then range coded: the fix
//! count (two adaptive [`UintModel`]s for the high and low 32 bits), and
//! per fix the gap to the previous fixed index (same two models), one
//! adaptive bit (1 = exact), then the signed `q` ([`IntModel`]) or the
//! 32 bits of the value. A fixed element is clamped again into its level's
//! range and (with `keep-zeros`) its sign, which only moves it towards the
//! original.

use crate::entropy::{BitModel, IntModel, RangeDecoder, RangeEncoder, UintModel};
use crate::error::{Error, Result};
use crate::fidelity::Ensemble;
use crate::field::Field;
use crate::meta::DatasetMeta;

/// The pointwise bound `F·s` of every element, stored once per point of the
/// spread (shared by the members).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpreadMap {
    /// `F·s` per spread point: `(outer · stride + inner) · flen + p`.
    bound: Vec<f64>,
    members: usize,
    stride: usize,
    flen: usize,
}

impl SpreadMap {
    /// The bound map of `field` for `spread:f`: from `given` (one spread
    /// value per element of the field, or per element without the member
    /// dim when the field has one), else the standard deviation over the
    /// members of the field's ensemble dim.
    pub fn build(
        field: &Field,
        meta: &DatasetMeta,
        given: Option<&[f32]>,
        f: f64,
    ) -> Result<SpreadMap> {
        let n = field.values.len();
        let flen = field.shape.frame_len().max(1);
        let frames = field.shape.frames;
        let ens = Ensemble::from_meta(meta, frames);
        let mut map = match given {
            Some(s) if s.len() == n => SpreadMap {
                bound: s.iter().map(|&v| v as f64).collect(),
                members: 1,
                stride: frames.max(1),
                flen,
            },
            Some(s) => {
                let e = ens
                    .filter(|e| Some(s.len()) == n.checked_div(e.members))
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "the spread has {} values; the variable has {n} ({}), so it needs \
                             {n} or one value per point without the member dim",
                            s.len(),
                            ens.map_or("no ensemble dim".to_string(), |e| format!(
                                "{} members",
                                e.members
                            ))
                        ))
                    })?;
                SpreadMap {
                    bound: s.iter().map(|&v| v as f64).collect(),
                    members: e.members,
                    stride: e.stride,
                    flen,
                }
            }
            None => {
                let e = ens.ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "spread:{f} needs an ensemble dim ({}) with at least 2 members, or a \
                         spread given with --spread-file",
                        crate::fidelity::MEMBER_DIMS.join(", ")
                    ))
                })?;
                SpreadMap {
                    bound: std_over_members(field, e)?,
                    members: e.members,
                    stride: e.stride,
                    flen,
                }
            }
        };
        if let Some(bad) = map.bound.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(Error::InvalidInput(format!(
                "the spread must be finite and at least 0 everywhere, found {bad}"
            )));
        }
        let group = map
            .members
            .checked_mul(map.stride)
            .filter(|&g| g > 0 && frames.is_multiple_of(g))
            .ok_or_else(|| Error::InvalidInput("the ensemble does not divide the frames".into()))?;
        let points = (frames / group)
            .checked_mul(map.stride)
            .and_then(|p| p.checked_mul(flen));
        if points != Some(map.bound.len()) {
            return Err(Error::InvalidInput(
                "the spread does not match the variable's points".into(),
            ));
        }
        for b in &mut map.bound {
            *b *= f;
        }
        Ok(map)
    }

    /// `F·s` at element `i` of the field.
    pub fn at(&self, i: usize) -> f64 {
        let fr = i / self.flen;
        let p = i % self.flen;
        let outer = fr / (self.members * self.stride);
        let inner = fr % self.stride;
        self.bound[(outer * self.stride + inner) * self.flen + p]
    }

    /// The coder targets to try: the smallest positive `F·s` (no fixes
    /// but where the spread is 0), and its 10th, 30th and 50th percentiles
    /// (distinct, ascending; on the ERA5 ensemble the best lies between
    /// the 30th and the 50th: docs/fidelity.md). Empty when the spread is
    /// 0 everywhere.
    pub fn candidates(&self) -> Vec<f64> {
        let mut pos: Vec<f64> = self.bound.iter().copied().filter(|&b| b > 0.0).collect();
        if pos.is_empty() {
            return Vec::new();
        }
        pos.sort_by(f64::total_cmp);
        let mut out: Vec<f64> = [0.0, 0.1, 0.3, 0.5]
            .iter()
            .map(|q| pos[((pos.len() - 1) as f64 * q) as usize])
            .collect();
        out.dedup();
        out
    }
}

/// Sample standard deviation (n − 1) over the valid members at each point,
/// from the source's own values; 0 where fewer than 2 members are valid.
fn std_over_members(field: &Field, e: Ensemble) -> Result<Vec<f64>> {
    let flen = field.shape.frame_len().max(1);
    let group = e
        .members
        .checked_mul(e.stride)
        .filter(|&g| g > 0 && field.shape.frames.is_multiple_of(g))
        .ok_or_else(|| Error::InvalidInput("the ensemble does not divide the frames".into()))?;
    let outers = field.shape.frames / group;
    let mut out = Vec::with_capacity(outers * e.stride * flen);
    let mut vals = Vec::with_capacity(e.members);
    for outer in 0..outers {
        for inner in 0..e.stride {
            for p in 0..flen {
                vals.clear();
                for m in 0..e.members {
                    let i = ((outer * e.members + m) * e.stride + inner) * flen + p;
                    if !field.is_missing(i) {
                        vals.push(field.source_value(i).0);
                    }
                }
                let k = vals.len();
                out.push(if k >= 2 {
                    let mean = vals.iter().sum::<f64>() / k as f64;
                    let ss: f64 = vals.iter().map(|v| (v - mean).powi(2)).sum();
                    (ss / (k - 1) as f64).sqrt()
                } else {
                    0.0
                });
            }
        }
    }
    Ok(out)
}

/// The error of element `i` against the source (plus the source's own
/// uncertainty in f32), over its bound; 0 for an exact element, infinite
/// where the bound is 0 and the element is not exact.
fn ratio(field: &Field, i: usize, y: f32, b: f64) -> f64 {
    let (x, slack) = field.source_value(i);
    let err = (x - y as f64).abs() + slack;
    if err == 0.0 || (y.to_bits() == field.values[i].to_bits() && slack == 0.0) {
        0.0
    } else if b > 0.0 {
        err / b
    } else {
        f64::INFINITY
    }
}

/// The largest `|x − x̂| / (F·s)` over the valid elements.
pub(crate) fn worst(field: &Field, recon: &[f32], map: &SpreadMap) -> f64 {
    recon
        .iter()
        .enumerate()
        .filter(|(i, _)| !field.is_missing(*i))
        .map(|(i, &y)| ratio(field, i, y, map.at(i)))
        .fold(0.0, f64::max)
}

/// The residual coder's target for a first pass at `e0`, less how far the
/// f32 values lie from the source's own (`dev`).
pub(crate) fn coder_target(e0: f64, dev: f64) -> Result<crate::residual::Target> {
    let t = e0 - dev;
    if t > 0.0 && t.is_finite() {
        Ok(crate::residual::Target::MaxAbs(t))
    } else {
        Err(Error::BoundViolated(format!(
            "a spread bound of {e0:.3e} is finer than the source's own precision ({dev:.3e})"
        )))
    }
}

/// Runs `encode` for each candidate first-pass target of `map`
/// ([`SpreadMap::candidates`]) and keeps the smallest archive; the first
/// error when every candidate fails. A spread of 0 everywhere is refused.
pub(crate) fn best_of<M>(
    map: &SpreadMap,
    mut encode: impl FnMut(f64) -> Result<(Vec<u8>, M)>,
) -> Result<(Vec<u8>, M)> {
    let candidates = map.candidates();
    if candidates.is_empty() {
        return Err(Error::InvalidInput(
            "the ensemble spread is 0 at every point: nothing may change (compress losslessly)"
                .into(),
        ));
    }
    let mut best: Option<(Vec<u8>, M)> = None;
    let mut first_err = None;
    for e0 in candidates {
        match encode(e0) {
            Ok(r) if best.as_ref().is_none_or(|b| r.0.len() < b.0.len()) => best = Some(r),
            Ok(_) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match (best, first_err) {
        (Some(b), _) => Ok(b),
        (None, Some(e)) => Err(e),
        (None, None) => Err(Error::InvalidInput("no spread candidate".into())),
    }
}

/// One fix: the element's index in its chunk and what to do there.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fix {
    /// Add `q · step`.
    Step(i32),
    /// Put these f32 bits.
    Exact(u32),
}

/// The fixes section of a chunk whose elements start at `offset` in the
/// field: `back` is the chunk as decoded without fixes; `clamp(i, v)` is
/// what the decoder does to a fixed value at chunk index `i`. `None` when
/// no element needs a fix.
pub(crate) fn encode_fixes(
    field: &Field,
    offset: usize,
    back: &[f32],
    map: &SpreadMap,
    clamp: &dyn Fn(usize, f32) -> f32,
) -> Option<Vec<u8>> {
    let needs: Vec<usize> = (0..back.len())
        .filter(|&j| {
            let i = offset + j;
            !field.is_missing(i) && ratio(field, i, back[j], map.at(i)) > 1.0
        })
        .collect();
    if needs.is_empty() {
        return None;
    }
    let smallest = needs
        .iter()
        .map(|&j| map.at(offset + j))
        .filter(|&b| b > 0.0)
        .fold(f64::INFINITY, f64::min);
    let step = if smallest.is_finite() {
        2.0 * 0.9 * smallest
    } else {
        0.0
    };
    let fixes: Vec<(usize, Fix)> = needs
        .iter()
        .map(|&j| {
            let i = offset + j;
            let exact = (j, Fix::Exact(field.values[i].to_bits()));
            if step <= 0.0 {
                return exact;
            }
            let (x, _) = field.source_value(i);
            let q = ((x - back[j] as f64) / step).round();
            if !(q.is_finite() && q.abs() < f64::from(1u32 << 30)) {
                return exact;
            }
            let q = q as i32;
            let y = clamp(j, apply_step(back[j], q, step));
            if ratio(field, i, y, map.at(i)) <= 1.0 {
                (j, Fix::Step(q))
            } else {
                exact
            }
        })
        .collect();
    Some(encode_list(step, &fixes))
}

fn apply_step(v: f32, q: i32, step: f64) -> f32 {
    (v as f64 + f64::from(q) * step) as f32
}

fn put_u64(enc: &mut RangeEncoder, m: &mut [UintModel; 2], v: u64) {
    m[0].encode(enc, (v >> 32) as u32);
    m[1].encode(enc, v as u32);
}

fn get_u64(dec: &mut RangeDecoder, m: &mut [UintModel; 2]) -> u64 {
    let h = m[0].decode(dec) as u64;
    (h << 32) | m[1].decode(dec) as u64
}

fn encode_list(step: f64, fixes: &[(usize, Fix)]) -> Vec<u8> {
    let mut out = step.to_le_bytes().to_vec();
    let mut enc = RangeEncoder::new();
    let mut counts = [UintModel::new(), UintModel::new()];
    let mut gaps = [UintModel::new(), UintModel::new()];
    let mut kind = BitModel::new();
    let mut qs = IntModel::new();
    put_u64(&mut enc, &mut counts, fixes.len() as u64);
    let mut next = 0usize;
    for &(j, fix) in fixes {
        put_u64(&mut enc, &mut gaps, (j - next) as u64);
        next = j + 1;
        match fix {
            Fix::Step(q) => {
                enc.encode_bit(&mut kind, false);
                qs.encode(&mut enc, q);
            }
            Fix::Exact(bits) => {
                enc.encode_bit(&mut kind, true);
                enc.encode_direct(bits, 32);
            }
        }
    }
    out.extend_from_slice(&enc.finish());
    out
}

/// Applies a chunk's fixes section to its `len` decoded values; flagged
/// elements (`flagged[i]`) may not be fixed. `clamp(i, v)` as in
/// [`encode_fixes`].
pub(crate) fn apply_fixes(
    payload: &[u8],
    vals: &mut [f32],
    flagged: Option<&[bool]>,
    clamp: &dyn Fn(usize, f32) -> f32,
) -> Result<()> {
    let bad = |what: &str| Error::Corrupt(format!("fixes section: {what}"));
    let (head, rest) = payload
        .split_first_chunk::<8>()
        .ok_or_else(|| Error::Truncated("fixes section".into()))?;
    let step = f64::from_le_bytes(*head);
    if !(step.is_finite() && step >= 0.0) {
        return Err(bad("the step is not a finite number at or above 0"));
    }
    let len = vals.len();
    let mut dec = RangeDecoder::new(rest);
    let mut counts = [UintModel::new(), UintModel::new()];
    let mut gaps = [UintModel::new(), UintModel::new()];
    let mut kind = BitModel::new();
    let mut qs = IntModel::new();
    let count = get_u64(&mut dec, &mut counts);
    if count == 0 || count > len as u64 || dec.overrun() {
        return Err(bad(&format!("{count} fixes in a chunk of {len}")));
    }
    let mut next = 0u64;
    for _ in 0..count {
        let j = next.saturating_add(get_u64(&mut dec, &mut gaps));
        if j >= len as u64 || dec.overrun() {
            return Err(bad("a fix beyond the chunk"));
        }
        let j = j as usize;
        if flagged.is_some_and(|m| m[j]) {
            return Err(bad("a fix on a flagged element"));
        }
        let v = if dec.decode_bit(&mut kind) {
            f32::from_bits(dec.decode_direct(32))
        } else {
            if step == 0.0 {
                return Err(bad("a stepped fix with step 0"));
            }
            clamp(j, apply_step(vals[j], qs.decode(&mut dec), step))
        };
        if !v.is_finite() {
            return Err(bad("a fix to a non-finite value"));
        }
        vals[j] = v;
        next = j as u64 + 1;
    }
    if dec.overrun() {
        return Err(Error::Truncated("fixes section".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Shape;

    #[test]
    fn fixes_round_trip_and_hostile_bytes_fail() {
        let shape = Shape::new(1, 1, 2, 4);
        let x = vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let field = Field::new(shape, x.clone(), None).expect("field");
        let map = SpreadMap {
            bound: vec![0.1, 0.1, 0.0, 0.1, 0.5, 0.1, 0.1, 0.01],
            members: 1,
            stride: 1,
            flen: 8,
        };
        let back = vec![1.05f32, 2.5, 3.01, 4.0, 4.0, 6.0, 7.09, 8.5];
        let id = |_: usize, v: f32| v;
        let bytes = encode_fixes(&field, 0, &back, &map, &id).expect("fixes");
        let mut v = back.clone();
        apply_fixes(&bytes, &mut v, None, &id).expect("apply");
        assert!(worst(&field, &v, &map) <= 1.0, "{v:?}");
        assert_eq!(v[2], 3.0, "zero spread comes back exact");
        assert_eq!(v[0], 1.05, "within its bound: untouched");
        // Nothing to fix: no section.
        assert!(encode_fixes(&field, 0, &x, &map, &id).is_none());
        // A fix on a flagged element, truncation and junk are errors.
        let flagged = [false, true, false, false, false, false, false, false];
        assert!(apply_fixes(&bytes, &mut back.clone(), Some(&flagged), &id).is_err());
        assert!(apply_fixes(&bytes[..5], &mut back.clone(), None, &id).is_err());
        assert!(apply_fixes(&bytes, &mut back[..2].to_vec(), None, &id).is_err());
        for junk in [&[0xFFu8; 12][..], &[0u8; 9], &[]] {
            let _ = apply_fixes(junk, &mut back.clone(), None, &id);
        }
    }

    #[test]
    fn map_indexes_members_and_candidates_ascend() {
        // 2 members x 3 times (member-major) of 1 x 1 x 2 points.
        let map = SpreadMap {
            bound: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            members: 2,
            stride: 3,
            flen: 2,
        };
        // Frame 4 = member 1, time 1: point (1, p).
        assert_eq!(map.at(4 * 2), 3.0);
        assert_eq!(map.at(4 * 2 + 1), 4.0);
        assert_eq!(map.at(3), 4.0, "member 0, time 1, point 1");
        let c = map.candidates();
        assert!(c.windows(2).all(|w| w[0] < w[1]) && c[0] == 1.0, "{c:?}");
    }
}
