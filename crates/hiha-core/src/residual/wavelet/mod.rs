//! SPERR-style wavelet residual coder.
//!
//! A block (1 to 4 axes, row-major) is mean-removed, its missing elements
//! filled smoothly, transformed with a multi-level separable CDF 9/7 wavelet
//! ([`transform`]), and the coefficients are quantised with a uniform
//! dead-zone quantiser of step Δ and coded with context-modelled adaptive
//! binary range coding ([`coding`]).
//!
//! - [`Target::Rmse`]: Δ is searched with the actual reconstruction so that the
//!   RMSE over valid elements is at most the target, as close as possible.
//! - [`Target::MaxAbs`]: a few Δ (multiples of the bound) are tried; each is
//!   followed by a sparse list of outlier corrections (quantised to multiples
//!   of about 2e, or exact) so every valid element meets the bound; the
//!   smallest output wins.
//!
//! The reconstruction that [`encode`] returns is computed by the same code
//! path as [`decode`] (no FMA, fixed order, independent of the thread count),
//! so the two agree bit for bit.
//!
//! Stream layout: a mode byte, then for the wavelet mode the mean (f64), Δ
//! (f64), the reconstruction-offset code (i8), the byte lengths of the
//! streams (LEB128), the shared stream, one stream per big subband, and the
//! outlier stream. See `docs/ALGORITHM.md`, "Wavelet residual coder".

mod coding;
mod priors;
mod transform;

use super::outliers::{self, Fix};
use super::search::Search;
use super::Target;
use crate::entropy::{BitModel, RangeDecoder, RangeEncoder, UintModel};
use crate::error::{Error, Result};
use coding::{Band, Coder, Layout, MAX_INDEX};
use rayon::prelude::*;
use std::ops::Range;
use transform::Plan;

const MODE_RAW: u8 = 0;
const MODE_CONST: u8 = 1;
const MODE_WAVELET: u8 = 2;
/// A profile along the second of the four axes (the levels of a
/// frames × levels × lat × lon block) removed first: `d[1]` f32 means,
/// then a wavelet stream of the rest.
pub(crate) const MODE_PROFILE: u8 = 3;
/// Format 2.2: the wavelet stream of [`MODE_WAVELET`] over the packet plan
/// (the outer axes and the inner axes each get their own dyadic
/// decomposition, see [`Plan::packet`]).
pub(crate) const MODE_PACKET: u8 = 4;
/// Format 2.2: [`MODE_PROFILE`] with the means quantised (step `qs` f32,
/// then the `d[1]` indices as zigzag LEB128 differences) and a
/// [`MODE_WAVELET`] or [`MODE_PACKET`] stream of the rest.
pub(crate) const MODE_PROFILE_Q: u8 = 5;
/// Format 2.3: [`MODE_WAVELET`]'s layout with the coefficient models
/// started at the probabilities of [`priors`] (modes 6 and 7 are the
/// segmented streams below; 8 and 9 are left free).
pub(crate) const MODE_WAVELET_P: u8 = 10;
/// Format 2.3: [`MODE_PACKET`] with primed models.
pub(crate) const MODE_PACKET_P: u8 = 11;
/// Format 2.3: [`MODE_PROFILE_Q`] whose inner stream is a
/// [`MODE_WAVELET_P`] or [`MODE_PACKET_P`] stream.
pub(crate) const MODE_PROFILE_QP: u8 = 12;
/// Format 2.3: the dyadic or packet plan (a byte, 0 or 1) with segmented
/// streams: subbands of at least [`coding::SEG_OWN`] coefficients have
/// streams of their own, cut into segments of rows that the decoder runs in
/// parallel, the low bits of magnitudes lie outside the range coder (see
/// [`coding::encode_segmented`]), and the models are primed.
pub(crate) const MODE_SEG: u8 = 6;
/// Format 2.3: [`MODE_PROFILE_Q`] around a [`MODE_SEG`] stream.
pub(crate) const MODE_PROFILE_Q_SEG: u8 = 7;
/// Format 2.5: a flag on the mode byte of the primed modes
/// ([`MODE_WAVELET_P`], [`MODE_PACKET_P`], [`MODE_PROFILE_QP`]) and the
/// segmented ones ([`MODE_SEG`], [`MODE_PROFILE_Q_SEG`]): the coefficient
/// stream starts with a zero map, a flag per detail band saying it is all
/// zero, and such a band codes nothing else (see [`coding::code_zero_map`]).
/// In a profile mode the inner stream's mode byte carries it too.
pub(crate) const ZERO_MAP: u8 = 0x20;

/// A mode byte's mode and its [`ZERO_MAP`] flag; the flag on a mode that
/// cannot carry it is an unknown mode.
pub(crate) fn split_mode(byte: u8) -> Result<(u8, bool)> {
    if byte & ZERO_MAP == 0 {
        return Ok((byte, false));
    }
    let mode = byte & !ZERO_MAP;
    match mode {
        MODE_WAVELET_P | MODE_PACKET_P | MODE_PROFILE_QP | MODE_SEG | MODE_PROFILE_Q_SEG => {
            Ok((mode, true))
        }
        _ => Err(Error::Corrupt(format!("unknown wavelet mode {byte}"))),
    }
}

/// Which codings a block may use.
#[derive(Debug, Clone, Copy)]
struct Codings {
    /// The packet plan (format 2.2), where it differs from the dyadic one.
    packet: bool,
    /// Primed models (format 2.3).
    primed: bool,
    /// Max-abs corrections as a significance map where smaller (format 2.3).
    maps: bool,
    /// Segmented streams where they cut a band (format 2.3).
    seg: bool,
    /// A zero map of the detail bands in primed and segmented streams
    /// (format 2.5).
    zmap: bool,
}

/// What [`encode`] writes: every coding of format 2.5.
const NEWEST: Codings = Codings {
    packet: true,
    primed: true,
    maps: MAPS,
    seg: true,
    zmap: ZMAP,
};

/// Whether [`encode`] writes zero maps ([`ZERO_MAP`], new in format 2.5).
pub(crate) const ZMAP: bool = crate::format::FORMAT_VERSION.1 >= 5;

/// A profile is tried when its means carry at least this share of the
/// block's variance (geopotential height over 26 levels: 99 %)...
const PROFILE_MIN_SHARE: f64 = 0.5;
/// ...and cost at most one f32 per this many values.
const PROFILE_VALUES_PER_MEAN: usize = 64;

/// Quantisation steps tried for a pointwise bound, as multiples of it, in
/// order; the search stops when the output grows.
const STEP_MULTIPLES: [f64; 12] = [
    1.2, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.4, 8.0, 10.0, 12.8, 16.0,
];

/// Whether [`encode`] may code max-abs corrections as a significance map
/// ([`outliers::encode_map`], new in format 2.3; the outlier step is then
/// stored negated).
pub(crate) const MAPS: bool = crate::format::FORMAT_VERSION.1 >= 3;

/// Lone ±1 detail indices whose coefficient is below this many Δ are set
/// to zero (a rate-distortion trim: +2–4% ratio at NRMSE 1e-2, neutral at
/// high rates).
const ISOLATED_TRIM: f64 = 0.85;

/// Dead-zone half width, in units of Δ, for detail coefficients.
const DEAD_ZONE: f64 = 0.6;
/// Reconstruction point inside a nonzero bin, in units of Δ from its lower edge.
const RECON_POINT: f64 = 0.42;

/// Encodes `values` (row-major, dims `dims`) to meet `target` on the valid
/// elements. Returns the bytes and the exact reconstruction [`decode`] gives.
pub fn encode(
    values: &[f64],
    valid: Option<&[bool]>,
    dims: &[usize],
    target: Target,
) -> Result<(Vec<u8>, Vec<f64>)> {
    encode_codings(values, valid, dims, target, NEWEST)
}

/// [`encode`], with `maps`: whether corrections may be a significance map.
#[cfg(test)]
pub(crate) fn encode_opts(
    values: &[f64],
    valid: Option<&[bool]>,
    dims: &[usize],
    target: Target,
    maps: bool,
) -> Result<(Vec<u8>, Vec<f64>)> {
    encode_codings(values, valid, dims, target, Codings { maps, ..NEWEST })
}

/// [`encode`], with `segmented` false writing unsegmented streams (modes
/// 10, 11, 12) instead of the segmented ones (modes 6, 7).
#[cfg(test)]
pub(crate) fn encode_with(
    values: &[f64],
    valid: Option<&[bool]>,
    dims: &[usize],
    target: Target,
    segmented: bool,
) -> Result<(Vec<u8>, Vec<f64>)> {
    encode_codings(
        values,
        valid,
        dims,
        target,
        Codings {
            seg: segmented,
            ..NEWEST
        },
    )
}

/// [`encode`] with the codings `newest` allowed.
fn encode_codings(
    values: &[f64],
    valid: Option<&[bool]>,
    dims: &[usize],
    target: Target,
    newest: Codings,
) -> Result<(Vec<u8>, Vec<f64>)> {
    let d4 = squeeze(dims)?;
    let n: usize = d4.iter().product();
    if values.len() != n {
        return Err(Error::InvalidInput(format!(
            "{} values for dims {dims:?}",
            values.len()
        )));
    }
    if let Some(v) = valid {
        if v.len() != n {
            return Err(Error::InvalidInput(format!(
                "mask of {} for dims {dims:?}",
                v.len()
            )));
        }
    }
    let bound = match target {
        Target::MaxAbs(e) | Target::Rmse(e) => e,
    };
    if !bound.is_finite() || bound < 0.0 {
        return Err(Error::InvalidInput(format!(
            "error target {bound} must be finite and ≥ 0"
        )));
    }
    let is_valid = |i: usize| is_valid_at(valid, i);
    let mut nvalid = 0usize;
    let mut first: Option<f64> = None;
    let mut constant = true;
    for (i, &x) in values.iter().enumerate() {
        if !is_valid(i) {
            continue;
        }
        if !x.is_finite() {
            return Err(Error::InvalidInput(format!("non-finite value {x} at {i}")));
        }
        nvalid += 1;
        match first {
            None => first = Some(x),
            Some(f) => constant &= f.to_bits() == x.to_bits(),
        }
    }
    if n == 0 {
        return Ok((vec![MODE_CONST, 0, 0, 0, 0, 0, 0, 0, 0], Vec::new()));
    }
    if constant {
        let c = first.unwrap_or(0.0);
        let mut out = vec![MODE_CONST];
        out.extend_from_slice(&c.to_le_bytes());
        return Ok((out, vec![c; n]));
    }
    let filled = fill(values, valid, d4);
    if bound == 0.0 {
        return Ok(raw(&filled));
    }
    let mut best = None;
    let mut found = None;
    if let Some(c) = code_block(&filled, values, valid, nvalid, d4, target, newest, None) {
        found = Some(c.2);
        best = Some((c.0, c.1));
    }
    if let Some(means) = profile(&filled, d4) {
        let (qs, ks) = quantise_means(&means, bound);
        let means = dequantise_means(qs, &ks);
        // The same block less its level profile: kept when smaller, means
        // included.
        let plane = d4[2] * d4[3];
        let at = |i: usize| means[(i / plane) % d4[1]];
        let f: Vec<f64> = filled.iter().enumerate().map(|(i, &x)| x - at(i)).collect();
        let v: Vec<f64> = values.iter().enumerate().map(|(i, &x)| x - at(i)).collect();
        // Warm-started from the plain block's answer: the same field less
        // its level means needs about the same step (RMSE), and its stream
        // size has its minimum near the same multiple (max-abs).
        let warm = found.zip(best.as_ref().map(|b| b.0.len()));
        if let Some((inner, rec, _)) = code_block(&f, &v, valid, nvalid, d4, target, newest, warm) {
            let inner_mode = inner.first().copied().unwrap_or(MODE_RAW);
            let flag = inner_mode & ZERO_MAP;
            let mut out = vec![if inner_mode & !ZERO_MAP == MODE_SEG {
                MODE_PROFILE_Q_SEG | flag
            } else if newest.primed {
                MODE_PROFILE_QP | flag
            } else {
                MODE_PROFILE_Q
            }];
            out.extend_from_slice(&qs.to_le_bytes());
            let mut prev = 0i64;
            for &k in &ks {
                put_varint(&mut out, zigzag(k - prev));
                prev = k;
            }
            out.extend_from_slice(&inner);
            if best.as_ref().is_none_or(|(b, _)| out.len() < b.len()) {
                let rec = rec.iter().enumerate().map(|(i, &r)| r + at(i)).collect();
                best = Some((out, rec));
            }
        }
    }
    match best {
        Some((bytes, recon)) if bytes.len() < 8 * n + 1 => Ok((bytes, recon)),
        _ => Ok(raw(&filled)),
    }
}

/// Largest profile index magnitude (means beyond are not worth a profile).
const MAX_MEAN_INDEX: i64 = 1 << 52;

/// Quantises profile means to the step `qs`, the block's bound as f32 (the
/// wavelet stream codes what the coarse means leave, so they need no more
/// precision). Returns the step and the indices.
fn quantise_means(means: &[f64], bound: f64) -> (f32, Vec<i64>) {
    let qs = (bound as f32).max(f32::MIN_POSITIVE);
    let ks = means
        .iter()
        .map(|&m| ((m / qs as f64).round() as i64).clamp(-MAX_MEAN_INDEX, MAX_MEAN_INDEX))
        .collect();
    (qs, ks)
}

fn dequantise_means(qs: f32, ks: &[i64]) -> Vec<f64> {
    ks.iter().map(|&k| k as f64 * qs as f64).collect()
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

/// Most folds tried along the first axis.
const MAX_FOLD: usize = 16;

/// The first axis often merges two (ensemble member × time): samples `p`
/// apart are then more alike than neighbours. Returns the period `p` whose
/// mean absolute difference is clearly the smallest (1: keep the order).
/// Codes a filled, non-constant block with the wavelet coder (folding the
/// first axis when that pays).
///
/// `warm`: the answer of a similar block (see [`Found`]) and the size of its
/// stream, to start the rate search from. Returns the stream, the
/// reconstruction and this block's answer.
#[allow(clippy::too_many_arguments)] // each is one independent choice of the caller
fn code_block(
    filled: &[f64],
    values: &[f64],
    valid: Option<&[bool]>,
    nvalid: usize,
    d4: [usize; 4],
    target: Target,
    allowed: Codings,
    warm: Option<(Found, usize)>,
) -> Option<(Vec<u8>, Vec<f64>, Found)> {
    let fold = choose_fold(filled, d4);
    // The packet plan differs from the dyadic one only when the outer axes
    // have levels; otherwise keep the older mode.
    let codings = Codings {
        packet: allowed.packet && transform::outer_levels(d4),
        ..allowed
    };
    if fold > 1 {
        let f = permute(filled, d4, fold, false);
        let v = permute(values, d4, fold, false);
        let m = valid.map(|m| permute(m, d4, fold, false));
        let mut enc = Encoder::new(&f, &v, m.as_deref(), nvalid, d4, fold, codings);
        enc.maps = codings.maps.then_some(d4);
        enc.run(target, warm)
            .map(|(b, r, w)| (b, permute(&r, d4, fold, true), w))
    } else {
        let mut enc = Encoder::new(filled, values, valid, nvalid, d4, 1, codings);
        enc.maps = codings.maps.then_some(d4);
        enc.run(target, warm)
    }
}

/// The means of the block's planes along its second axis (rounded to f32,
/// as stored), when they are worth trying as a profile: at least two, few
/// beside the values, and carrying [`PROFILE_MIN_SHARE`] of the variance.
fn profile(filled: &[f64], d: [usize; 4]) -> Option<Vec<f64>> {
    let (l, plane) = (d[1], d[2] * d[3]);
    let n = filled.len();
    if l < 2 || l.checked_mul(PROFILE_VALUES_PER_MEAN)? > n || plane == 0 {
        return None;
    }
    let mut sums = vec![0.0f64; l];
    for (i, &x) in filled.iter().enumerate() {
        sums[(i / plane) % l] += x;
    }
    let per = (n / l) as f64;
    let means: Vec<f64> = sums.iter().map(|s| (s / per) as f32 as f64).collect();
    let all = sums.iter().sum::<f64>() / n as f64;
    let total: f64 = filled.iter().map(|x| (x - all) * (x - all)).sum();
    let between: f64 = means.iter().map(|m| (m - all) * (m - all) * per).sum();
    (total > 0.0 && between >= PROFILE_MIN_SHARE * total && means.iter().all(|m| m.is_finite()))
        .then_some(means)
}

fn choose_fold(x: &[f64], d: [usize; 4]) -> usize {
    let Some(a) = d.iter().position(|&v| v > 1) else {
        return 1;
    };
    let len = d[a];
    let inner: usize = d[a + 1..].iter().product();
    if a == 3 || len < 4 {
        return 1;
    }
    let diff = |p: usize| -> f64 {
        let mut s = 0.0;
        for j in 0..len - p {
            let (u, v) = (
                &x[j * inner..(j + 1) * inner],
                &x[(j + p) * inner..(j + p + 1) * inner],
            );
            s += u.iter().zip(v).map(|(a, b)| (a - b).abs()).sum::<f64>();
        }
        s / ((len - p) * inner) as f64
    };
    let base = diff(1);
    let mut best = (1usize, base * 0.7);
    for p in 2..=MAX_FOLD.min(len / 2) {
        if len / p * p == len {
            // A multiple of the true period scores about the same: only
            // take a longer period when it is clearly better.
            let c = diff(p);
            if c < best.1 * if best.0 > 1 { 0.8 } else { 1.0 } {
                best = (p, c);
            }
        }
    }
    best.0
}

/// Reorders the first non-trivial axis so that samples `p` apart become
/// neighbours (`inverse` undoes it).
fn permute<T: Copy>(x: &[T], d: [usize; 4], p: usize, inverse: bool) -> Vec<T> {
    let a = d.iter().position(|&v| v > 1).unwrap_or(0);
    let len = d[a];
    let inner: usize = d[a + 1..].iter().product();
    let rows = len / p;
    let mut out = x.to_vec();
    for j in 0..rows {
        for r in 0..p {
            let (old, new) = (j * p + r, r * rows + j);
            let (src, dst) = if inverse { (new, old) } else { (old, new) };
            out[dst * inner..(dst + 1) * inner].copy_from_slice(&x[src * inner..(src + 1) * inner]);
        }
    }
    out
}

/// Decodes what [`encode`] produced for the same dims.
pub fn decode(bytes: &[u8], dims: &[usize]) -> Result<Vec<f64>> {
    let d4 = squeeze(dims)?;
    if d4.contains(&0) {
        // The band loops run over the other axes: with an empty one they
        // would not be bounded by the (zero) element count.
        return Err(Error::InvalidInput(format!(
            "wavelet block dims {dims:?} hold no elements"
        )));
    }
    let n: usize = d4.iter().product();
    let (&byte, body) = bytes
        .split_first()
        .ok_or_else(|| Error::Truncated("empty wavelet stream".into()))?;
    let (mode, zmap) = split_mode(byte)?;
    match mode {
        MODE_RAW => {
            if body.len() != 8 * n {
                return Err(short_or_corrupt(body.len(), 8 * n, "raw wavelet block"));
            }
            Ok(body.chunks_exact(8).map(read_f64).collect())
        }
        MODE_CONST => {
            if body.len() != 8 {
                return Err(short_or_corrupt(body.len(), 8, "constant wavelet block"));
            }
            Ok(vec![read_f64(body); n])
        }
        MODE_WAVELET => decode_wavelet(body, d4, false, false, false),
        MODE_PACKET => decode_wavelet(body, d4, true, false, false),
        MODE_WAVELET_P => decode_wavelet(body, d4, false, true, zmap),
        MODE_PACKET_P => decode_wavelet(body, d4, true, true, zmap),
        MODE_SEG => decode_segmented(body, d4, zmap),
        MODE_PROFILE_Q | MODE_PROFILE_QP | MODE_PROFILE_Q_SEG => {
            let l = d4[1];
            let qs = body
                .get(..4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .ok_or_else(|| Error::Truncated("wavelet profile".into()))?;
            if !qs.is_finite() || qs <= 0.0 {
                return Err(Error::Corrupt(format!("wavelet profile step {qs}")));
            }
            let mut pos = 4;
            let mut ks = Vec::with_capacity(l);
            let mut prev = 0i64;
            for _ in 0..l {
                let k = prev.wrapping_add(unzigzag(get_varint(body, &mut pos)?));
                if !(-MAX_MEAN_INDEX..=MAX_MEAN_INDEX).contains(&k) {
                    return Err(Error::Corrupt("wavelet profile index".into()));
                }
                ks.push(k);
                prev = k;
            }
            let means = dequantise_means(qs, &ks);
            let primed = mode == MODE_PROFILE_QP;
            let inner_ok = |m: u8| match mode {
                MODE_PROFILE_Q => m == MODE_WAVELET || m == MODE_PACKET,
                MODE_PROFILE_QP => m == MODE_WAVELET_P || m == MODE_PACKET_P,
                _ => m == MODE_SEG,
            };
            // The inner mode carries the outer one's zero-map flag.
            let inner = body[pos..]
                .split_first()
                .and_then(|(&b, rest)| split_mode(b).ok().map(|m| (m, rest)));
            match inner {
                Some(((m, z), rest)) if inner_ok(m) && z == zmap => {
                    let mut rec = if m == MODE_SEG {
                        decode_segmented(rest, d4, zmap)?
                    } else {
                        let packet = m == MODE_PACKET || m == MODE_PACKET_P;
                        decode_wavelet(rest, d4, packet, primed, zmap)?
                    };
                    add_level_means(&mut rec, &means, d4[2] * d4[3]);
                    Ok(rec)
                }
                _ => Err(Error::Corrupt(
                    "a quantised wavelet profile holds no wavelet stream".into(),
                )),
            }
        }
        MODE_PROFILE => {
            let l = d4[1];
            let (head, inner) = (body.get(..4 * l), body.get(4 * l..));
            let (Some(head), Some(inner)) = (head, inner) else {
                return Err(Error::Truncated("wavelet profile".into()));
            };
            let means: Vec<f64> = head
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect();
            if means.iter().any(|m| !m.is_finite()) {
                return Err(Error::Corrupt(
                    "a wavelet profile mean is not finite".into(),
                ));
            }
            match inner.split_first() {
                Some((&MODE_WAVELET, rest)) => {
                    let mut rec = decode_wavelet(rest, d4, false, false, false)?;
                    add_level_means(&mut rec, &means, d4[2] * d4[3]);
                    Ok(rec)
                }
                _ => Err(Error::Corrupt(
                    "a wavelet profile holds no wavelet stream".into(),
                )),
            }
        }
        m => Err(Error::Corrupt(format!("unknown wavelet mode {m}"))),
    }
}

/// The fixed part of a wavelet header (17 bytes): mean, step and
/// reconstruction-offset code, checked.
fn read_fixed(fixed: &[u8]) -> Result<(f64, f64, i8)> {
    let mean = read_f64(&fixed[0..8]);
    let step = read_f64(&fixed[8..16]);
    if !mean.is_finite() || !step.is_finite() || step <= 0.0 {
        return Err(Error::Corrupt(format!(
            "wavelet header: mean {mean}, step {step}"
        )));
    }
    Ok((mean, step, fixed[16] as i8))
}

/// Checks a stored fold of the first axis longer than 1 of `d4`.
fn check_fold(fold: usize, d4: [usize; 4]) -> Result<()> {
    let first = d4.iter().copied().find(|&v| v > 1).unwrap_or(1);
    if fold == 0 || fold > MAX_FOLD || first % fold != 0 {
        return Err(Error::Corrupt(format!("wavelet fold {fold}")));
    }
    Ok(())
}

fn short_or_corrupt(have: usize, want: usize, what: &str) -> Error {
    if have < want {
        Error::Truncated(format!("{what}: {have} of {want} bytes"))
    } else {
        Error::Corrupt(format!("{what}: {have} bytes, expected {want}"))
    }
}

fn read_f64(b: &[u8]) -> f64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    f64::from_le_bytes(a)
}

/// Element `i` is valid (no mask: all are).
#[inline]
fn is_valid_at(valid: Option<&[bool]>, i: usize) -> bool {
    match valid {
        Some(v) => v[i],
        None => true,
    }
}

/// Adds to each plane (`plane` values) of `rec` the mean of its level:
/// planes cycle through `means` (levels), plane by plane.
fn add_level_means(rec: &mut [f64], means: &[f64], plane: usize) {
    if means.is_empty() {
        return;
    }
    for (p, chunk) in rec.chunks_mut(plane.max(1)).enumerate() {
        let m = means[p % means.len()];
        for r in chunk {
            *r += m;
        }
    }
}

/// Drops axes of length 1 and pads to four axes with leading 1s.
fn squeeze(dims: &[usize]) -> Result<[usize; 4]> {
    if dims.is_empty() || dims.len() > 4 {
        return Err(Error::InvalidInput(format!(
            "wavelet coder takes 1 to 4 axes, got {dims:?}"
        )));
    }
    let kept: Vec<usize> = dims.iter().copied().filter(|&d| d != 1).collect();
    let mut d4 = [1usize; 4];
    d4[4 - kept.len()..].copy_from_slice(&kept);
    d4.iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| Error::InvalidInput("block too large".into()))?;
    Ok(d4)
}

fn raw(filled: &[f64]) -> (Vec<u8>, Vec<f64>) {
    let mut out = Vec::with_capacity(1 + 8 * filled.len());
    out.push(MODE_RAW);
    for v in filled {
        out.extend_from_slice(&v.to_le_bytes());
    }
    (out, filled.to_vec())
}

/// Fills missing elements: linear interpolation between the nearest valid
/// neighbours along the last axis, then along the other axes for lines that
/// had none, then the mean.
fn fill(values: &[f64], valid: Option<&[bool]>, d: [usize; 4]) -> Vec<f64> {
    let Some(valid) = valid else {
        return values.to_vec();
    };
    let mut x: Vec<f64> = values
        .iter()
        .zip(valid)
        .map(|(&v, &ok)| if ok { v } else { 0.0 })
        .collect();
    let mut known: Vec<bool> = valid.to_vec();
    if known.iter().all(|&k| k) {
        return x;
    }
    let (mut sum, mut cnt) = (0.0, 0usize);
    for (v, &k) in x.iter().zip(&known) {
        if k {
            sum += v;
            cnt += 1;
        }
    }
    let mean = if cnt > 0 { sum / cnt as f64 } else { 0.0 };
    let mut idx = Vec::new();
    for axis in (0..4).rev() {
        let len = d[axis];
        if len < 2 {
            continue;
        }
        let inner: usize = d[axis + 1..].iter().product();
        let outer: usize = d[..axis].iter().product();
        for o in 0..outer {
            for c in 0..inner {
                let base = o * len * inner + c;
                idx.clear();
                idx.extend((0..len).filter(|&i| known[base + i * inner]));
                if idx.is_empty() || idx.len() == len {
                    continue;
                }
                let mut prev: Option<usize> = None;
                let mut next_k = 0;
                for i in 0..len {
                    let p = base + i * inner;
                    if known[p] {
                        prev = Some(i);
                        next_k += 1;
                        continue;
                    }
                    let next = idx.get(next_k).copied();
                    x[p] = match (prev, next) {
                        (Some(a), Some(b)) => {
                            let (va, vb) = (x[base + a * inner], x[base + b * inner]);
                            va + (vb - va) * ((i - a) as f64 / (b - a) as f64)
                        }
                        (Some(a), None) => x[base + a * inner],
                        (None, Some(b)) => x[base + b * inner],
                        (None, None) => mean,
                    };
                }
                for i in 0..len {
                    known[base + i * inner] = true;
                }
            }
        }
    }
    for (v, k) in x.iter_mut().zip(&known) {
        if !k {
            *v = mean;
        }
    }
    x
}

/// What a block's rate search settled on: the step (RMSE) or the index
/// into [`STEP_MULTIPLES`] (max-abs); a warm start for a similar block.
#[derive(Debug, Clone, Copy)]
enum Found {
    Step(f64),
    Multiple(usize),
}

/// A warm-started max-abs search whose first stream is this much larger
/// than the other block's stops there: its walk to the neighbours gains
/// a few per cent at most.
const WARM_GIVE_UP: f64 = 1.05;

/// Everything the rate search needs, computed once.
struct Encoder<'a> {
    values: &'a [f64],
    valid: Option<&'a [bool]>,
    nvalid: usize,
    plan: Plan,
    layout: Layout,
    mean: f64,
    /// Coefficients in band order.
    coef: Vec<f64>,
    max_coef: f64,
    /// Fold of the first axis (1: none), see [`choose_fold`].
    fold: usize,
    /// Packet plan (format 2.2) rather than dyadic.
    packet: bool,
    /// The block's dims when corrections may be a significance map (2.3).
    maps: Option<[usize; 4]>,
    /// Segmented streams (format 2.3, [`MODE_SEG`]) allowed: written when
    /// they cut some band into segments (see [`Encoder::pack`]).
    seg: bool,
}

/// One quantisation: step, offset code, indices.
struct Quant {
    step: f64,
    offset_code: i8,
    q: Vec<i32>,
}

impl<'a> Encoder<'a> {
    fn run(
        &self,
        target: Target,
        warm: Option<(Found, usize)>,
    ) -> Option<(Vec<u8>, Vec<f64>, Found)> {
        match target {
            Target::Rmse(r) => self.rmse(r, warm.map(|w| w.0)),
            Target::MaxAbs(e) => self.max_abs(e, warm),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        filled: &[f64],
        values: &'a [f64],
        valid: Option<&'a [bool]>,
        nvalid: usize,
        d4: [usize; 4],
        fold: usize,
        codings: Codings,
    ) -> Self {
        let Codings {
            packet,
            primed,
            zmap,
            ..
        } = codings;
        let plan = Plan::of(d4, packet);
        let layout = Layout::with_models(&plan, primed).with_zero_map(zmap && primed);
        let mean = filled.iter().sum::<f64>() / filled.len() as f64;
        let mut data: Vec<f64> = filled.iter().map(|v| v - mean).collect();
        transform::forward(&mut data, &plan);
        let coef = layout.gather(&data);
        let max_coef = coef.iter().fold(0.0f64, |m, c| m.max(c.abs()));
        Self {
            values,
            valid,
            nvalid,
            plan,
            layout,
            mean,
            coef,
            max_coef,
            fold,
            packet,
            maps: None,
            seg: codings.seg,
        }
    }

    fn min_step(&self) -> f64 {
        (self.max_coef / (MAX_INDEX / 2) as f64).max(f64::MIN_POSITIVE)
    }

    fn quantise(&self, step: f64) -> Quant {
        let ll = self.layout.bands[0].len;
        let inv = 1.0 / step;
        let offset_code = ((RECON_POINT - (1.0 - DEAD_ZONE)) * 128.0).round() as i8;
        let mut q: Vec<i32> = self
            .coef
            .par_iter()
            .enumerate()
            .map(|(i, &c)| {
                let a = c.abs() * inv;
                let m = if i < ll {
                    (a + 0.5).floor()
                } else {
                    (a + (1.0 - DEAD_ZONE)).floor()
                };
                let m = m.min(MAX_INDEX as f64) as i32;
                if c < 0.0 {
                    -m
                } else {
                    m
                }
            })
            .collect();
        self.drop_isolated(&mut q, inv, ISOLATED_TRIM);
        Quant {
            step,
            offset_code,
            q,
        }
    }

    /// Rate-distortion trim: a ±1 index whose coefficient is below `tau`·Δ
    /// and whose neighbours in its subband (both directions along the two
    /// inner axes) and parent are all zero costs more bits than the error it
    /// saves; set it to zero.
    fn drop_isolated(&self, q: &mut [i32], inv: f64, tau: f64) {
        // Each band on its own (they are disjoint), side by side.
        let mut bands: Vec<(&Band, &mut [i32])> = Vec::new();
        let mut rest = q;
        let mut at = 0;
        for b in self.layout.bands.iter().skip(1) {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(b.offset - at);
            let (band, tail) = tail.split_at_mut(b.len);
            bands.push((b, band));
            rest = tail;
            at = b.offset + b.len;
        }
        bands.into_par_iter().for_each(|(b, band)| {
            let (s3, s2) = (b.dims[3], b.dims[2]);
            let coef = &self.coef[b.offset..b.offset + b.len];
            for i in 0..b.len {
                if band[i].unsigned_abs() != 1 || coef[i].abs() * inv >= tau {
                    continue;
                }
                let i3 = i % s3;
                let i2 = (i / s3) % s2;
                let lone = (i3 == 0 || band[i - 1] == 0)
                    && (i3 + 1 == s3 || band[i + 1] == 0)
                    && (i2 == 0 || band[i - s3] == 0)
                    && (i2 + 1 == s2 || band[i + s3] == 0);
                if lone {
                    band[i] = 0;
                }
            }
            // Then a ±1 index below PAIRED_TRIM·Δ with at most one nonzero
            // neighbour (RD-optimised quantisation one step further;
            // docs/ALGORITHM.md "Initial probabilities of the wavelet
            // models", rejected and kept variants).
            for i in 0..b.len {
                if band[i].unsigned_abs() != 1 || coef[i].abs() * inv >= PAIRED_TRIM {
                    continue;
                }
                let i3 = i % s3;
                let i2 = (i / s3) % s2;
                let nonzero = usize::from(i3 > 0 && band[i - 1] != 0)
                    + usize::from(i3 + 1 < s3 && band[i + 1] != 0)
                    + usize::from(i2 > 0 && band[i - s3] != 0)
                    + usize::from(i2 + 1 < s2 && band[i + s3] != 0);
                if nonzero <= 1 {
                    band[i] = 0;
                }
            }
        });
    }

    fn reconstruct(&self, qz: &Quant) -> Vec<f64> {
        reconstruct(
            &self.layout,
            &self.plan,
            self.mean,
            qz.step,
            qz.offset_code,
            &qz.q,
        )
    }

    fn rmse_of(&self, recon: &[f64]) -> f64 {
        let mut s = 0.0;
        for (i, (&x, &r)) in self.values.iter().zip(recon).enumerate() {
            if is_valid_at(self.valid, i) {
                s += (x - r) * (x - r);
            }
        }
        (s / self.nvalid.max(1) as f64).sqrt()
    }

    /// Largest Δ whose reconstruction meets the RMSE target.
    fn rmse(&self, r: f64, warm: Option<Found>) -> Option<(Vec<u8>, Vec<f64>, Found)> {
        let min = self.min_step();
        // Near-orthonormal transform: RMSE ≈ Δ / sqrt(12) at fine steps;
        // above 4× the largest coefficient every index is zero.
        let search = Search {
            target: r,
            start: match warm {
                Some(Found::Step(s)) if s > 0.0 => s,
                _ => r * 3.0,
            }
            .max(min),
            min,
            max: (4.0 * self.max_coef).max(min),
            gamma: 1.0,
        };
        let (step, (qz, rec)) = search.run(|step| {
            let qz = self.quantise(step);
            let rec = self.reconstruct(&qz);
            (self.rmse_of(&rec), (qz, rec))
        })?;
        Some((self.pack(&qz, &[]), rec, Found::Step(step)))
    }

    /// Smallest output over a few Δ, each with outlier corrections.
    ///
    /// `warm`: a similar block's best multiple and stream size. The search
    /// then starts at that multiple and walks to its neighbours; a stream
    /// there more than [`WARM_GIVE_UP`] times the other block's is given up
    /// (`None`: that block is kept).
    fn max_abs(&self, e: f64, warm: Option<(Found, usize)>) -> Option<(Vec<u8>, Vec<f64>, Found)> {
        // The output size against the step is about unimodal: fewer bits for
        // the coefficients, more corrections. Probe 2 and 2.5 × e, double
        // upwards while it shrinks, then walk to the neighbours of the best
        // until none is smaller: 3–6 trials where a walk from the finest
        // step took up to 9.
        let mut search = MultipleSearch {
            coder: self,
            e,
            sizes: [None; STEP_MULTIPLES.len()],
            best: None,
        };
        if let Some((Found::Multiple(m), other)) = warm {
            if search.size(m)? as f64 > other as f64 * WARM_GIVE_UP {
                return None;
            }
        } else if search.pair(3, Some(2))?.0 < search.size(2)? {
            let mut cur = 3;
            for next in [5, 8, 11] {
                if search.size(next)? < search.size(cur)? {
                    cur = next;
                } else {
                    break;
                }
            }
        }
        loop {
            let b = search.best.as_ref().map(|b| b.0)?;
            let untried = |i: usize| i < STEP_MULTIPLES.len() && search.sizes[i].is_none();
            let nbs: Vec<usize> = [b.checked_sub(1), Some(b + 1)]
                .into_iter()
                .flatten()
                .filter(|&i| untried(i))
                .collect();
            match nbs[..] {
                [] => break,
                [a] => search.size(a)?,
                [a, c] => search.pair(a, Some(c))?.0,
                _ => unreachable!("two neighbours at most"),
            };
            if search.best.as_ref().map(|x| x.0) == Some(b) {
                break;
            }
        }
        search
            .best
            .map(|(i, bytes, rec)| (bytes, rec, Found::Multiple(i)))
    }

    /// The stream of `qz`: segmented (format 2.3) where that cuts a band
    /// into segments (high rates, where decoding takes longest), else the
    /// format 2.2 modes, which a preview reads in part.
    fn pack(&self, qz: &Quant, outliers: &[u8]) -> Vec<u8> {
        self.assemble(qz, self.code_indices(qz), outliers)
    }

    /// The range-coded streams of `qz`'s indices (the part of [`Encoder::pack`]
    /// that does not depend on the corrections, so that it can run beside
    /// them).
    fn code_indices(&self, qz: &Quant) -> Coded {
        // A zero map only where some band is all zero: otherwise it would
        // cost a flag per band and make the archive 2.5 for nothing.
        let zmap = self.layout.zmap && coding::any_zero_band(&self.layout, &qz.q);
        let layout = self.layout.clone().with_zero_map(zmap);
        if self.seg {
            let layout = coding::segmented(layout.clone());
            if coding::cuts_segments(&layout, &qz.q) {
                return Coded::Segmented(coding::encode_segmented(&layout, &qz.q), zmap);
            }
        }
        let (shared, own) = coding::encode_all(&layout, &qz.q);
        Coded::Plain(shared, own, zmap)
    }

    /// The stream of [`Encoder::pack`] from the coded indices.
    fn assemble(&self, qz: &Quant, coded: Coded, outliers: &[u8]) -> Vec<u8> {
        let (shared, own, zmap) = match coded {
            Coded::Segmented(s, zmap) => return self.pack_segmented(s, zmap, qz, outliers),
            Coded::Plain(shared, own, zmap) => (shared, own, zmap),
        };
        let mode = match (self.packet, self.layout.primed) {
            (false, false) => MODE_WAVELET,
            (true, false) => MODE_PACKET,
            (false, true) => MODE_WAVELET_P,
            (true, true) => MODE_PACKET_P,
        };
        let flag = if zmap { ZERO_MAP } else { 0 };
        let mut out = vec![mode | flag, self.fold as u8];
        out.extend_from_slice(&self.mean.to_le_bytes());
        out.extend_from_slice(&qz.step.to_le_bytes());
        out.push(qz.offset_code as u8);
        put_varint(&mut out, shared.len() as u64);
        for s in &own {
            put_varint(&mut out, s.len() as u64);
        }
        put_varint(&mut out, outliers.len() as u64);
        out.extend_from_slice(&shared);
        for s in &own {
            out.extend_from_slice(s);
        }
        out.extend_from_slice(outliers);
        out
    }
}

/// The coded indices of one quantisation (see [`Encoder::code_indices`]).
/// The flag: whether the streams have a zero map.
enum Coded {
    Segmented(coding::Segmented, bool),
    Plain(Vec<u8>, Vec<Vec<u8>>, bool),
}

impl Encoder<'_> {
    /// A [`MODE_SEG`] stream: mode, plan, fold, mean, step, offset, the
    /// segment count − 1 of every own band, the lengths of the shared
    /// stream's range-coded and plain parts, of every segment's two parts
    /// and of the outlier stream, then those bytes in the same order.
    fn pack_segmented(
        &self,
        s: coding::Segmented,
        zmap: bool,
        qz: &Quant,
        outliers: &[u8],
    ) -> Vec<u8> {
        let flag = if zmap { ZERO_MAP } else { 0 };
        let mut out = vec![MODE_SEG | flag, self.packet as u8, self.fold as u8];
        out.extend_from_slice(&self.mean.to_le_bytes());
        out.extend_from_slice(&qz.step.to_le_bytes());
        out.push(qz.offset_code as u8);
        for &k in &s.counts {
            put_varint(&mut out, k as u64 - 1);
        }
        let parts = std::iter::once(&s.shared).chain(&s.segments);
        for (rc, raw) in parts.clone() {
            put_varint(&mut out, rc.len() as u64);
            put_varint(&mut out, raw.len() as u64);
        }
        put_varint(&mut out, outliers.len() as u64);
        for (rc, raw) in parts {
            out.extend_from_slice(rc);
            out.extend_from_slice(raw);
        }
        out.extend_from_slice(outliers);
        out
    }
}

/// A [`MODE_SEG`] stream's header, checked, and its parts: the shared
/// stream's two parts, each segment's two, then the outlier stream.
struct SegStream<'a> {
    fold: usize,
    mean: f64,
    step: f64,
    offset_code: i8,
    plan: Plan,
    layout: Layout,
    counts: Vec<usize>,
    parts: Vec<&'a [u8]>,
}

/// Decodes a [`MODE_SEG`] stream (after its mode byte; `zmap`: the mode
/// byte's [`ZERO_MAP`] flag).
fn decode_segmented(body: &[u8], d4: [usize; 4], zmap: bool) -> Result<Vec<f64>> {
    let SegStream {
        fold,
        mean,
        step,
        offset_code,
        plan,
        layout,
        counts,
        parts,
    } = split_segmented(body, d4, zmap)?;
    let nlen = parts.len();
    let pairs: Vec<(&[u8], &[u8])> = parts[..nlen - 1]
        .chunks_exact(2)
        .map(|c| (c[0], c[1]))
        .collect();
    let coefs = || {
        coding::decode_segmented(&layout, pairs[0], &counts, &pairs[1..])
            .map(|q| reconstruct(&layout, &plan, mean, step, offset_code, &q))
    };
    finish_block(coefs, parts[nlen - 1], d4, fold)
}

/// The block from `coefs` (the decoded coefficients, reconstructed; `None`
/// when a stream ends early) and the outlier stream `out`, whose
/// corrections decode beside them; unfolded when `fold` > 1.
fn finish_block(
    coefs: impl FnOnce() -> Option<Vec<f64>> + Send,
    out: &[u8],
    d4: [usize; 4],
    fold: usize,
) -> Result<Vec<f64>> {
    let (rec, fixes) = rayon::join(coefs, || decode_fixes(out, d4));
    let mut rec =
        rec.ok_or_else(|| Error::Truncated("wavelet coefficient stream ends early".into()))?;
    apply_fixes(&mut rec, &fixes?);
    Ok(if fold > 1 {
        permute(&rec, d4, fold, true)
    } else {
        rec
    })
}

/// Splits a [`MODE_SEG`] stream (after its mode byte), checking every
/// length.
fn split_segmented(body: &[u8], d4: [usize; 4], zmap: bool) -> Result<SegStream<'_>> {
    let trunc = || Error::Truncated("wavelet header".into());
    let packet = match body.first() {
        Some(0) => false,
        Some(1) => true,
        Some(p) => return Err(Error::Corrupt(format!("wavelet plan {p}"))),
        None => return Err(trunc()),
    };
    let fold = *body.get(1).ok_or_else(trunc)? as usize;
    check_fold(fold, d4)?;
    let body = &body[2..];
    if body.len() < 17 {
        return Err(trunc());
    }
    let (mean, step, offset_code) = read_fixed(&body[..17])?;
    let plan = Plan::of(d4, packet);
    let layout = coding::segmented(Layout::new(&plan).with_zero_map(zmap));
    let mut pos = 17;
    let mut counts = Vec::new();
    let mut nseg = 0usize;
    for max in coding::max_segments(&layout) {
        let k = get_varint(body, &mut pos)?;
        if k >= max as u64 {
            return Err(Error::Corrupt(format!(
                "{} segments for a band of {max} rows",
                k.saturating_add(1)
            )));
        }
        counts.push(k as usize + 1);
        nseg = nseg
            .checked_add(k as usize + 1)
            .ok_or_else(|| Error::Corrupt("segment count".into()))?;
    }
    // Two lengths a stream (shared, segments), then the outliers'; each
    // takes at least a byte, so a count beyond the bytes is truncation.
    let nlen = nseg
        .checked_add(1)
        .and_then(|n| n.checked_mul(2))
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| Error::Corrupt("segment count".into()))?;
    if nlen > body.len() - pos {
        return Err(Error::Truncated("wavelet stream lengths".into()));
    }
    let mut lens = Vec::with_capacity(nlen);
    for _ in 0..nlen {
        lens.push(get_varint(body, &mut pos)?);
    }
    let total = lens
        .iter()
        .try_fold(0u64, |a, &l| a.checked_add(l))
        .ok_or_else(|| Error::Corrupt("stream lengths".into()))?;
    let have = (body.len() - pos) as u64;
    if have != total {
        return Err(short_or_corrupt(
            have as usize,
            total as usize,
            "wavelet streams",
        ));
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(nlen);
    for &l in &lens {
        // Every length is at most `total`, which fits the body.
        parts.push(&body[pos..pos + l as usize]);
        pos += l as usize;
    }
    Ok(SegStream {
        fold,
        mean,
        step,
        offset_code,
        plan,
        layout,
        counts,
        parts,
    })
}

/// Where the inner stream of a quantised-profile stream (modes 5, 7, 12)
/// starts: after the mode byte, `f32 qs` and the `levels` index deltas.
fn profile_q_end(bytes: &[u8], levels: usize) -> Result<usize> {
    let mut pos = 5;
    if bytes.len() < pos {
        return Err(Error::Truncated("wavelet profile".into()));
    }
    for _ in 0..levels {
        get_varint(bytes, &mut pos)?;
    }
    Ok(pos)
}

/// Dequantises, scatters and inverse-transforms: the one reconstruction path.
fn reconstruct(
    layout: &Layout,
    plan: &Plan,
    mean: f64,
    step: f64,
    offset_code: i8,
    q: &[i32],
) -> Vec<f64> {
    let mut data = dequantise(layout, step, offset_code, q);
    transform::inverse(&mut data, plan);
    data.par_iter_mut()
        .with_min_len(1 << 14)
        .for_each(|v| *v += mean);
    data
}

/// The coefficients, in Mallat layout, that the indices `q` stand for.
fn dequantise(layout: &Layout, step: f64, offset_code: i8, q: &[i32]) -> Vec<f64> {
    let off = offset_code as f64 / 128.0;
    let mut data = vec![0.0; layout.total];
    layout.scatter(q, &mut data, |band, v| {
        if v == 0 {
            0.0
        } else {
            let m = v.unsigned_abs() as f64 + if band == 0 { 0.0 } else { off };
            let r = m * step;
            if v < 0 {
                -r
            } else {
                r
            }
        }
    });
    data
}

/// Corrects every valid element off by more than `e`, in place, and returns
/// the outlier stream. Corrections are `k · s` with `s` just under `2e`;
/// where rounding would still miss, the exact value is stored.
/// The trials of [`Encoder::max_abs`]: the stream size at each of
/// [`STEP_MULTIPLES`], each computed once, and the smallest stream so far.
struct MultipleSearch<'c, 'a> {
    coder: &'c Encoder<'a>,
    e: f64,
    sizes: [Option<usize>; STEP_MULTIPLES.len()],
    best: Option<(usize, Vec<u8>, Vec<f64>)>,
}

impl MultipleSearch<'_, '_> {
    /// The stream size with step `STEP_MULTIPLES[i] × e` (`None` when the
    /// corrections cannot be coded).
    fn size(&mut self, i: usize) -> Option<usize> {
        self.pair(i, None).map(|p| p.0)
    }

    /// [`MultipleSearch::size`] of `i` and of `j` (when given), the trials
    /// run side by side and recorded in that order: the same answer as two
    /// calls, sooner on two cores.
    fn pair(&mut self, i: usize, j: Option<usize>) -> Option<(usize, Option<usize>)> {
        let todo = |k: usize| self.sizes[k].is_none().then_some(k);
        let (ti, tj) = match (todo(i), j.and_then(todo)) {
            (Some(a), Some(b)) => {
                let (x, y) = rayon::join(|| self.trial(a), || self.trial(b));
                (Some(x), Some(y))
            }
            (a, b) => (a.map(|a| self.trial(a)), b.map(|b| self.trial(b))),
        };
        for (k, t) in [(Some(i), ti), (j, tj)] {
            if let (Some(k), Some(t)) = (k, t) {
                let (bytes, rec) = t?;
                let len = bytes.len();
                self.sizes[k] = Some(len);
                if self.best.as_ref().is_none_or(|b| len < b.1.len()) {
                    self.best = Some((k, bytes, rec));
                }
            }
        }
        Some((self.sizes[i]?, j.and_then(|j| self.sizes[j])))
    }

    /// One trial: the stream and reconstruction with step
    /// `STEP_MULTIPLES[i] × e`.
    fn trial(&self, i: usize) -> Option<(Vec<u8>, Vec<f64>)> {
        let c = self.coder;
        let step = (STEP_MULTIPLES[i] * self.e).max(c.min_step());
        let qz = c.quantise(step);
        // The indices' streams do not depend on the corrections: code them
        // beside the reconstruction and the corrections (the same bytes,
        // sooner on two cores).
        let (coded, fixed) = rayon::join(
            || c.code_indices(&qz),
            || {
                let mut rec = c.reconstruct(&qz);
                find_outliers(c.values, c.valid, &mut rec, self.e, c.maps).map(|o| (o, rec))
            },
        );
        let (outliers, rec) = fixed?;
        Some((c.assemble(&qz, coded, &outliers), rec))
    }
}

fn find_outliers(
    values: &[f64],
    valid: Option<&[bool]>,
    rec: &mut [f64],
    e: f64,
    maps: Option<[usize; 4]>,
) -> Option<Vec<u8>> {
    let s = outlier_step(e);
    // The corrections, found in pieces side by side (in index order).
    const PIECE: usize = 1 << 16;
    let pieces: Vec<Vec<(usize, Fix)>> = rec
        .par_chunks_mut(PIECE)
        .enumerate()
        .map(|(p, rec)| {
            let mut fixes = Vec::new();
            let first = p * PIECE;
            for (j, r) in rec.iter_mut().enumerate() {
                let (i, x) = (first + j, values[first + j]);
                if !is_valid_at(valid, i) || (x - *r).abs() <= e {
                    continue;
                }
                let k = ((x - *r) / s).round();
                let mut kk = if k.abs() < (1u64 << 30) as f64 {
                    k as i64
                } else {
                    0
                };
                if kk != 0 && (x - apply(*r, kk, s)).abs() > e {
                    kk = 0;
                }
                fixes.push((
                    i,
                    if kk == 0 {
                        Fix::Exact(x.to_bits())
                    } else {
                        Fix::Step(kk)
                    },
                ));
                *r = if kk == 0 { x } else { apply(*r, kk, s) };
            }
            fixes
        })
        .collect();
    // Read in place, piece after piece (in index order): at fine bounds
    // most elements have a correction, and one list of them all would
    // copy 24 bytes per element.
    let fixes = || pieces.iter().flatten();
    if fixes().next().is_none() {
        return Some(Vec::new());
    }
    // The gap list and (format 2.3) the significance map of the same
    // corrections, coded side by side.
    let (list, map) = rayon::join(
        || {
            let mut enc = RangeEncoder::new();
            let mut m = OutlierModels::new();
            let mut last = 0usize;
            for &(i, fix) in fixes() {
                let (kk, bits) = match fix {
                    Fix::Step(k) => (k, 0),
                    Fix::Exact(bits) => (0, bits),
                };
                m.code(&mut enc, i - last, kk, bits);
                last = i + 1;
            }
            // End marker: a gap to one past the end.
            m.code(&mut enc, values.len() + 1 - last, 1, 0);
            let mut out = s.to_le_bytes().to_vec();
            out.extend_from_slice(&enc.finish());
            out
        },
        || maps.map(|d| outliers::encode_map(fixes(), d)),
    );
    // Format 2.3: the map, when smaller by at least a byte per
    // MAP_ELEMENTS_PER_BYTE elements (a map costs decode time on every
    // element); the step negated says so.
    if let Some(map) = map {
        if 8 + map.len() + values.len() / MAP_ELEMENTS_PER_BYTE < list.len() {
            let mut out = (-s).to_le_bytes().to_vec();
            out.extend_from_slice(&map);
            return Some(out);
        }
    }
    Some(list)
}

/// A ±1 detail index below this many steps whose subband neighbours hold at
/// most one nonzero index is set to zero (after the [`ISOLATED_TRIM`] of
/// lone ones): −0.57 / −0.15 / −0.17 % at NRMSE 1e-2 / 1e-3 / 1e-4 (geomean,
/// 15 fields; 0.75 and 0.8 gain less).
const PAIRED_TRIM: f64 = 0.7;

/// A correction map is kept only when it saves at least one byte per this
/// many elements over the gap list: decoding a map reads a flag per element,
/// +10–25 % decode CPU at max-abs 1e-2 (ERA5 u 0.46 → 0.58 s for 20 decodes,
/// 2.2 % smaller; GFS t at 1e-3 0.18 → 0.38 s for 33 bytes of 114 kB).
const MAP_ELEMENTS_PER_BYTE: usize = 4096;

fn outlier_step(e: f64) -> f64 {
    2.0 * e * (1.0 - 1.0 / (1u64 << 24) as f64)
}

#[inline]
fn apply(r: f64, k: i64, s: f64) -> f64 {
    r + k as f64 * s
}

struct OutlierModels {
    gap: UintModel,
    zero: BitModel,
    sign: BitModel,
    mag: UintModel,
}

impl OutlierModels {
    fn new() -> Self {
        Self {
            gap: UintModel::new(),
            zero: BitModel::new(),
            sign: BitModel::new(),
            mag: UintModel::new(),
        }
    }

    /// Codes (gap, k, exact bits); decoding returns them.
    fn code<C: Coder + Direct>(
        &mut self,
        c: &mut C,
        gap: usize,
        k: i64,
        bits: u64,
    ) -> (usize, i64, u64) {
        let gap = gap.min(u32::MAX as usize) as u32;
        let g = c.uint(&mut self.gap, gap) as usize;
        let exact = c.bit(&mut self.zero, k == 0);
        if exact {
            let hi = c.direct((bits >> 32) as u32);
            let lo = c.direct(bits as u32);
            return (g, 0, (hi as u64) << 32 | lo as u64);
        }
        let neg = c.bit(&mut self.sign, k < 0);
        let mag = c.uint(
            &mut self.mag,
            (k.unsigned_abs().saturating_sub(1)).min(u32::MAX as u64) as u32,
        ) as i64
            + 1;
        (g, if neg { -mag } else { mag }, 0)
    }
}

/// 32 raw bits, for exact values.
trait Direct {
    fn direct(&mut self, v: u32) -> u32;
}

impl Direct for RangeEncoder {
    fn direct(&mut self, v: u32) -> u32 {
        self.encode_direct(v, 32);
        v
    }
}

impl Direct for RangeDecoder<'_> {
    fn direct(&mut self, _: u32) -> u32 {
        self.decode_direct(32)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b
            .get(*pos)
            .ok_or_else(|| Error::Truncated("wavelet stream header".into()))?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Error::Corrupt("wavelet stream length overflows".into()))
}

fn decode_wavelet(
    body: &[u8],
    d4: [usize; 4],
    packet: bool,
    primed: bool,
    zmap: bool,
) -> Result<Vec<f64>> {
    let (&fold, body) = body
        .split_first()
        .ok_or_else(|| Error::Truncated("wavelet header".into()))?;
    let fold = fold as usize;
    check_fold(fold, d4)?;
    if body.len() < 17 {
        return Err(Error::Truncated("wavelet header".into()));
    }
    let (mean, step, offset_code) = read_fixed(&body[..17])?;
    let plan = Plan::of(d4, packet);
    let layout = Layout::with_models(&plan, primed).with_zero_map(zmap);
    let nown = coding::own_count(&layout);
    let mut pos = 17;
    let mut lens = Vec::with_capacity(nown + 2);
    for _ in 0..nown + 2 {
        lens.push(get_varint(body, &mut pos)?);
    }
    let total = lens
        .iter()
        .try_fold(0u64, |a, &l| a.checked_add(l))
        .ok_or_else(|| Error::Corrupt("stream lengths".into()))?;
    let have = (body.len() - pos) as u64;
    if have < total {
        return Err(Error::Truncated(format!(
            "wavelet streams: {have} of {total} bytes"
        )));
    }
    if have > total {
        return Err(Error::Corrupt(format!(
            "wavelet streams: {have} bytes, expected {total}"
        )));
    }
    let mut streams = Vec::with_capacity(lens.len());
    for &l in &lens {
        streams.push(&body[pos..pos + l as usize]);
        pos += l as usize;
    }
    let coefs = || {
        coding::decode_all(&layout, streams[0], &streams[1..=nown])
            .map(|q| reconstruct(&layout, &plan, mean, step, offset_code, &q))
    };
    finish_block(coefs, streams[nown + 1], d4, fold)
}

/// Whether a wavelet stream for `dims` codes its max-abs corrections as a
/// significance map (format 2.3).
pub(crate) fn uses_map(bytes: &[u8], dims: &[usize]) -> Result<bool> {
    let d4 = squeeze(dims)?;
    let is_map = |o: &[u8]| o.len() >= 8 && read_f64(&o[..8]) < 0.0;
    let (mode, zmap) = match bytes.first() {
        Some(&b) => split_mode(b)?,
        None => return Err(Error::Truncated("wavelet stream".into())),
    };
    let seg = match mode {
        MODE_SEG => Some(1),
        MODE_PROFILE_Q_SEG => Some(profile_q_end(bytes, d4[1])? + 1),
        _ => None,
    };
    if let Some(at) = seg {
        let body = bytes
            .get(at..)
            .ok_or_else(|| Error::Truncated("wavelet stream".into()))?;
        let s = split_segmented(body, d4, zmap)?;
        return Ok(s.parts.last().is_some_and(|o| is_map(o)));
    }
    let Some((parts, _, _)) = parse_parts(bytes, d4, bytes.len())? else {
        return Ok(false);
    };
    let out = parts.streams.last().and_then(|r| bytes.get(r.clone()));
    Ok(out.is_some_and(is_map))
}

/// Where the parts of a wavelet-mode stream lie, from its first byte.
struct Parts {
    /// The level profile's means (mode 3).
    means: Option<Vec<f64>>,
    fold: usize,
    mean: f64,
    step: f64,
    offset_code: i8,
    /// Shared stream, own-band streams, outlier stream.
    streams: Vec<Range<usize>>,
}

/// Parses the headers of a stream of `total` bytes whose first bytes are
/// `head` (all of them, or at least [`preview_header_len`]). `None`: the
/// stream is raw or constant, not progressive.
fn parse_parts(head: &[u8], d4: [usize; 4], total: usize) -> Result<Option<(Parts, Layout, Plan)>> {
    let trunc = || Error::Truncated("wavelet header".into());
    let (mode, zmap) = split_mode(*head.first().ok_or_else(trunc)?)?;
    let primed = matches!(mode, MODE_WAVELET_P | MODE_PACKET_P | MODE_PROFILE_QP);
    let (means, mut pos, packet) = match mode {
        // Segmented streams (format 2.3) are read whole for a preview.
        MODE_RAW | MODE_CONST | MODE_SEG | MODE_PROFILE_Q_SEG => return Ok(None),
        MODE_WAVELET | MODE_WAVELET_P => (None, 1usize, false),
        MODE_PACKET | MODE_PACKET_P => (None, 1usize, true),
        MODE_PROFILE_Q | MODE_PROFILE_QP => {
            let l = d4[1];
            let qs = head
                .get(1..5)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .ok_or_else(trunc)?;
            if !qs.is_finite() || qs <= 0.0 {
                return Err(Error::Corrupt(format!("wavelet profile step {qs}")));
            }
            let mut pos = 5;
            let mut ks = Vec::with_capacity(l.min(head.len()));
            let mut prev = 0i64;
            for _ in 0..l {
                let k = prev.wrapping_add(unzigzag(get_varint(head, &mut pos)?));
                if !(-MAX_MEAN_INDEX..=MAX_MEAN_INDEX).contains(&k) {
                    return Err(Error::Corrupt("wavelet profile index".into()));
                }
                ks.push(k);
                prev = k;
            }
            let inner = head.get(pos).map(|&b| split_mode(b));
            let packet = match inner {
                Some(Ok((MODE_WAVELET, false))) if !primed => false,
                Some(Ok((MODE_PACKET, false))) if !primed => true,
                Some(Ok((MODE_WAVELET_P, z))) if primed && z == zmap => false,
                Some(Ok((MODE_PACKET_P, z))) if primed && z == zmap => true,
                Some(_) => {
                    return Err(Error::Corrupt(
                        "a quantised wavelet profile holds no wavelet stream".into(),
                    ))
                }
                None => return Err(trunc()),
            };
            (Some(dequantise_means(qs, &ks)), pos + 1, packet)
        }
        MODE_PROFILE => {
            let l = d4[1];
            let end = l
                .checked_mul(4)
                .and_then(|b| b.checked_add(1))
                .ok_or_else(trunc)?;
            let bytes = head.get(1..end).ok_or_else(trunc)?;
            let means: Vec<f64> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect();
            if means.iter().any(|m| !m.is_finite()) {
                return Err(Error::Corrupt(
                    "a wavelet profile mean is not finite".into(),
                ));
            }
            if head.get(end) != Some(&MODE_WAVELET) {
                return Err(Error::Corrupt(
                    "a wavelet profile holds no wavelet stream".into(),
                ));
            }
            (Some(means), end + 1, false)
        }
        m => return Err(Error::Corrupt(format!("unknown wavelet mode {m}"))),
    };
    let fold = *head.get(pos).ok_or_else(trunc)? as usize;
    check_fold(fold, d4)?;
    pos += 1;
    let fixed = head.get(pos..pos + 17).ok_or_else(trunc)?;
    let (mean, step, offset_code) = read_fixed(fixed)?;
    pos += 17;
    let plan = Plan::of(d4, packet);
    let layout = Layout::with_models(&plan, primed).with_zero_map(zmap);
    let nown = coding::own_count(&layout);
    let mut lens = Vec::with_capacity(nown + 2);
    for _ in 0..nown + 2 {
        lens.push(get_varint(head, &mut pos)?);
    }
    let sum = lens
        .iter()
        .try_fold(0u64, |a, &l| a.checked_add(l))
        .ok_or_else(|| Error::Corrupt("stream lengths".into()))?;
    let have = total.checked_sub(pos).ok_or_else(trunc)? as u64;
    if have != sum {
        return Err(short_or_corrupt(
            have as usize,
            sum as usize,
            "wavelet streams",
        ));
    }
    let mut streams = Vec::with_capacity(lens.len());
    for &l in &lens {
        // Each length is at most `sum`, which fits `total`.
        let end = pos + l as usize;
        streams.push(pos..end);
        pos = end;
    }
    Ok(Some((
        Parts {
            means,
            fold,
            mean,
            step,
            offset_code,
            streams,
        },
        layout,
        plan,
    )))
}

/// The most bytes of a stream for `dims` that [`preview_plan`] needs to
/// see: modes, profile, fold, mean, step, offset and every stream length.
pub(crate) fn preview_header_len(dims: &[usize]) -> Result<usize> {
    let d4 = squeeze(dims)?;
    if d4.contains(&0) {
        return Err(Error::InvalidInput(format!(
            "wavelet block dims {dims:?} hold no elements"
        )));
    }
    // The dyadic or the packet plan, whichever has more own streams; the
    // profile takes at most 4 bytes a level (mode 3) or a step and a
    // varint of at most 10 bytes a level (mode 5).
    let nown = coding::own_count(&Layout::new(&Plan::new(d4)))
        .max(coding::own_count(&Layout::new(&Plan::packet(d4))));
    d4[1]
        .checked_mul(10)
        .and_then(|p| p.checked_add(25 + 10 * (nown + 2)))
        .ok_or_else(|| Error::InvalidInput("block too large".into()))
}

/// The d4 axes that are the block's last two (its horizontal axes).
fn horizontal_axes(dims: &[usize]) -> [bool; 4] {
    let kept: Vec<usize> = (0..dims.len()).filter(|&a| dims[a] != 1).collect();
    let mut h = [false; 4];
    let first = 4 - kept.len().min(4);
    for (j, &a) in kept.iter().enumerate() {
        if a + 2 >= dims.len() && first + j < 4 {
            h[first + j] = true;
        }
    }
    h
}

/// The bands a preview at level `k` keeps: every band of level ≥ `k`
/// (the approximation and the coarse details), and with `vertical` the
/// finer bands that are high-pass along no horizontal axis (detail along
/// time and levels only), so that those axes stay sharp. The set holds every
/// kept band's parent (same orientation, one level coarser).
///
/// Packet plan (format 2.2): every band is an outer band (axes 0 and 1)
/// times an inner one (axes 2 and 3). The preview keeps, for each outer
/// band, the inner approximation and the inner details of inner level ≥ `k`;
/// without `vertical` only for the outer approximation and the outer
/// details of outer level ≥ `k`. Both sets hold every kept band's parent.
fn preview_need(
    layout: &Layout,
    plan: &Plan,
    horizontal: [bool; 4],
    k: usize,
    vertical: bool,
) -> Vec<bool> {
    if let Some(p) = &plan.packet {
        let (outer, inner) = (Layout::new(&p.0), Layout::new(&p.1));
        let ni = inner.bands.len();
        return (0..layout.bands.len())
            .map(|i| {
                let (ia, ib) = (i / ni, i % ni);
                let o = vertical || ia == 0 || outer.bands[ia].level >= k;
                o && (ib == 0 || inner.bands[ib].level >= k)
            })
            .collect();
    }
    layout
        .bands
        .iter()
        .map(|b| b.level >= k || (vertical && (0..4).all(|a| !(horizontal[a] && b.start[a] > 0))))
        .collect()
}

/// A block's dims as (product of all but the last two, the second last,
/// the last): the preview samples the last two.
pub(crate) fn horizontal_split(dims: &[usize]) -> Result<(usize, usize, usize)> {
    match dims {
        [] => Err(Error::InvalidInput("a block without axes".into())),
        [lon] => Ok((1, 1, *lon)),
        [rest @ .., lat, lon] => Ok((rest.iter().product(), *lat, *lon)),
    }
}

/// Every `step`-th point (from index 0) of the last two axes of an
/// `outer × lat × lon` block.
pub(crate) fn subsample<T: Copy>(
    x: &[T],
    outer: usize,
    lat: usize,
    lon: usize,
    step: usize,
) -> Vec<T> {
    let mut out = Vec::with_capacity(outer * lat.div_ceil(step) * lon.div_ceil(step));
    for o in 0..outer {
        for i in (0..lat).step_by(step) {
            let row = (o * lat + i) * lon;
            out.extend((0..lon).step_by(step).map(|j| x[row + j]));
        }
    }
    out
}

/// What a preview reads of a wavelet stream (offsets from its first byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreviewPlan {
    /// Modes, profile, fold, mean, step, offset and the stream lengths.
    pub header: Range<usize>,
    /// The shared stream: the preview needs a prefix of it, how long is
    /// only known by decoding ([`preview_shared_ok`]).
    pub shared: Range<usize>,
    /// A first guess of that prefix's length, from the share of the shared
    /// stream's coefficients the preview decodes.
    pub shared_guess: usize,
    /// The own streams of the kept bands, adjacent ones merged.
    pub own: Vec<Range<usize>>,
}

/// What a preview at level `k` reads of a wavelet stream of `total` bytes
/// whose first bytes are `head` (at least [`preview_header_len`] of them,
/// or all). `None`: the stream is not progressive (raw or constant), or a
/// preview would read about as much (85 % or more): read it all.
pub(crate) fn preview_plan(
    head: &[u8],
    dims: &[usize],
    total: usize,
    k: usize,
    vertical: bool,
) -> Result<Option<PreviewPlan>> {
    let d4 = squeeze(dims)?;
    let Some((parts, layout, plan)) = parse_parts(head, d4, total)? else {
        return Ok(None);
    };
    let need = preview_need(&layout, &plan, horizontal_axes(dims), k, vertical);
    let mut own: Vec<Range<usize>> = Vec::new();
    let bands = layout.bands.iter().zip(&need).filter(|(b, _)| b.own);
    for ((_, &n), r) in bands.zip(&parts.streams[1..]) {
        if n && !r.is_empty() {
            match own.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => own.push(r.clone()),
            }
        }
    }
    let shared = parts.streams[0].clone();
    let (all, used) = coding::shared_share(&layout, &need);
    let part = shared.len() as f64 * used as f64 / all.max(1) as f64;
    // When the kept bands lie all over the stream (the packet plan keeps
    // every outer band's coarse inner bands, coded in outer order), reading
    // in part saves little: read it whole (and checked) instead.
    let guess = ((part * 1.25) as usize + 64).min(shared.len());
    let own_len: usize = own.iter().map(|r| r.len()).sum();
    if (shared.start + own_len + guess) as f64 >= 0.85 * total as f64 {
        return Ok(None);
    }
    Ok(Some(PreviewPlan {
        header: 0..shared.start,
        shared_guess: guess,
        shared,
        own,
    }))
}

/// Whether the first `prefix` bytes of the shared stream of `bytes` (a
/// wavelet stream whose header and those bytes were read) hold all that a
/// preview at level `k` decodes from it.
pub(crate) fn preview_shared_ok(
    bytes: &[u8],
    dims: &[usize],
    k: usize,
    vertical: bool,
    prefix: usize,
) -> Result<bool> {
    let d4 = squeeze(dims)?;
    let Some((parts, layout, plan)) = parse_parts(bytes, d4, bytes.len())? else {
        return Ok(true);
    };
    let need = preview_need(&layout, &plan, horizontal_axes(dims), k, vertical);
    let s = &parts.streams[0];
    let shared = &bytes[s.start..s.start + prefix.min(s.len())];
    Ok(coding::shared_prefix_suffices(&layout, shared, &need))
}

/// Decodes the coarse part of a wavelet-mode stream for a preview at level
/// `k`: the bands [`preview_plan`] names (only those bytes of `bytes` are
/// read; the others may hold anything), the finer ones taken as zero, the
/// outlier stream skipped. Returns the reconstruction at every 2^k-th
/// point (from index 0) of the block's last two axes only, row-major
/// (`[.., ceil(lat / 2^k), ceil(lon / 2^k)]`): at those points the values
/// a full-resolution inverse transform of the same bands gives, bit for
/// bit, computed without the finest level's passes elsewhere.
pub(crate) fn decode_preview(
    bytes: &[u8],
    dims: &[usize],
    k: usize,
    vertical: bool,
) -> Result<Vec<f64>> {
    let d4 = squeeze(dims)?;
    if d4.contains(&0) {
        return Err(Error::InvalidInput(format!(
            "wavelet block dims {dims:?} hold no elements"
        )));
    }
    let Some((parts, layout, plan)) = parse_parts(bytes, d4, bytes.len())? else {
        return Err(Error::InvalidInput(
            "a raw or constant wavelet block has no preview: decode it whole".into(),
        ));
    };
    let need = preview_need(&layout, &plan, horizontal_axes(dims), k, vertical);
    let own: Vec<&[u8]> = parts.streams[1..parts.streams.len() - 1]
        .iter()
        .map(|r| &bytes[r.clone()])
        .collect();
    let q = coding::decode_some(&layout, &bytes[parts.streams[0].clone()], &own, &need)
        .ok_or_else(|| Error::Truncated("wavelet coefficient stream ends early".into()))?;
    let step = 1usize
        .checked_shl(k as u32)
        .filter(|&s| s <= 1 << 16)
        .ok_or_else(|| Error::InvalidInput(format!("preview level {k}")))?;
    let (outer, lat, lon) = horizontal_split(dims)?;
    let (lat2, lon2) = (lat.div_ceil(step), lon.div_ceil(step));
    let fold_axis = d4.iter().position(|&v| v > 1).unwrap_or(0);
    // The sampled inverse samples the block's last two axes, which are its
    // horizontal ones when both are longer than 1; the fold must not run
    // along them.
    let sampled = lat > 1 && lon > 1 && (parts.fold == 1 || fold_axis < 2);
    let mut rec = if sampled {
        let mut data = dequantise(&layout, parts.step, parts.offset_code, &q);
        let mut sub = transform::inverse_sampled(&mut data, &plan, step);
        for v in &mut sub {
            *v += parts.mean;
        }
        if parts.fold > 1 {
            sub = permute(&sub, [d4[0], d4[1], lat2, lon2], parts.fold, true);
        }
        sub
    } else {
        let mut full = reconstruct(
            &layout,
            &plan,
            parts.mean,
            parts.step,
            parts.offset_code,
            &q,
        );
        if parts.fold > 1 {
            full = permute(&full, d4, parts.fold, true);
        }
        subsample(&full, outer, lat, lon, step)
    };
    if let Some(means) = parts.means {
        // The profile runs along d4's second axis; the kept points of a
        // plane of it are lat2 × lon2 (the plane is lat × lon whenever the
        // block has more than two axes longer than 1).
        let (l, plane) = (d4[1], rec.len() / (d4[0] * d4[1]).max(1));
        for (i, r) in rec.iter_mut().enumerate() {
            *r += means[(i / plane.max(1)) % l];
        }
    }
    Ok(rec)
}

/// The corrections of an outlier stream (the step, f64, then the
/// range-coded gap list; a negative step: the significance map of format
/// 2.3): the step they are multiples of, and per corrected element its
/// index and fix, in index order. They do not depend on the values they
/// correct, so the decoder reads them beside the coefficients.
struct Fixes {
    step: f64,
    list: Vec<(usize, Fix)>,
}

/// Decodes the outlier stream of the block `d4` (empty: no corrections).
fn decode_fixes(out: &[u8], d4: [usize; 4]) -> Result<Fixes> {
    let n: usize = d4.iter().product();
    if out.is_empty() {
        return Ok(Fixes {
            step: 1.0,
            list: Vec::new(),
        });
    }
    if out.len() < 8 {
        return Err(Error::Truncated("outlier stream".into()));
    }
    let s = read_f64(&out[..8]);
    if s < 0.0 && s.is_finite() {
        return Ok(Fixes {
            step: -s,
            list: outliers::decode_map(&out[8..], d4)?,
        });
    }
    if !s.is_finite() || s <= 0.0 {
        return Err(Error::Corrupt(format!("outlier step {s}")));
    }
    let mut dec = RangeDecoder::new(&out[8..]);
    let mut m = OutlierModels::new();
    let mut pos = 0usize;
    let mut list = Vec::new();
    loop {
        let (gap, k, bits) = m.code(&mut dec, 0, 0, 0);
        if dec.overrun() {
            return Err(Error::Truncated("outlier stream ends early".into()));
        }
        pos = pos.saturating_add(gap);
        if pos == n + 1 {
            return Ok(Fixes { step: s, list });
        }
        if pos >= n {
            return Err(Error::Corrupt("outlier position past the end".into()));
        }
        // At most one fix per element: the list is bounded by the block.
        list.push((
            pos,
            if k == 0 {
                Fix::Exact(bits)
            } else {
                Fix::Step(k)
            },
        ));
        pos += 1;
    }
}

/// Applies decoded corrections to the reconstruction.
fn apply_fixes(rec: &mut [f64], fixes: &Fixes) {
    for &(i, fix) in &fixes.list {
        rec[i] = match fix {
            Fix::Step(k) => apply(rec[i], k, fixes.step),
            Fix::Exact(bits) => f64::from_bits(bits),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(s: &mut u64) -> f64 {
        *s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*s >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
    }

    /// Smooth waves plus noise, with NaN in masked places.
    fn field(dims: &[usize], noise: f64, masked: bool, seed: u64) -> (Vec<f64>, Option<Vec<bool>>) {
        let n: usize = dims.iter().product();
        let mut s = seed;
        let mut x = Vec::with_capacity(n);
        let mut m = Vec::with_capacity(n);
        for i in 0..n {
            let mut rest = i;
            let mut phase = 0.0;
            for (a, &d) in dims.iter().enumerate().rev() {
                let c = (rest % d) as f64;
                rest /= d;
                phase += c * (0.07 + 0.05 * a as f64);
            }
            let v = 280.0 + 10.0 * phase.sin() + 3.0 * (0.3 * phase).cos() + noise * lcg(&mut s);
            let ok = !masked || (i * 7919 % 97 > 12 && !(i % 300 > 40 && i % 300 < 70));
            x.push(if ok { v } else { f64::NAN });
            m.push(ok);
        }
        (x, masked.then_some(m))
    }

    /// The codings of format 2.0/2.1 (dyadic plan, models at 1/2).
    const OLDEST: Codings = Codings {
        packet: false,
        primed: false,
        maps: false,
        seg: false,
        zmap: false,
    };

    fn check(x: &[f64], mask: Option<&[bool]>, dims: &[usize], t: Target) -> usize {
        let (bytes, rec) = encode(x, mask, dims, t).expect("encode");
        let dec = decode(&bytes, dims).expect("decode");
        assert_eq!(dec.len(), x.len());
        assert!(
            rec.iter()
                .zip(&dec)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "encode/decode differ"
        );
        let ok = |i: usize| is_valid_at(mask, i);
        let (mut s, mut k, mut mx) = (0.0, 0usize, 0.0f64);
        for i in 0..x.len() {
            if ok(i) {
                let e = x[i] - dec[i];
                s += e * e;
                k += 1;
                mx = mx.max(e.abs());
            }
        }
        match t {
            Target::Rmse(r) => assert!(
                (s / k.max(1) as f64).sqrt() <= r,
                "rmse {} > {r} on {dims:?}",
                (s / k as f64).sqrt()
            ),
            Target::MaxAbs(e) => assert!(mx <= e, "max {mx} > {e} on {dims:?}"),
        }
        bytes.len()
    }

    /// The bytes a preview plan names, found as the codec finds them (the
    /// shared stream's prefix doubled until it suffices); every other byte
    /// garbage. Returns the sparse copy and how many bytes it holds.
    /// A stream over the dyadic plan (mode 2, as format 2.0/2.1 wrote it):
    /// the preview reads these progressively.
    fn encode_dyadic(x: &[f64], dims: &[usize], target: Target) -> Vec<u8> {
        let d4 = squeeze(dims).unwrap();
        code_block(x, x, None, x.len(), d4, target, OLDEST, None)
            .expect("coded")
            .0
    }

    /// A level-profile stream of format 2.1 (mode 3: f32 means, then a
    /// mode 2 stream of the rest).
    fn encode_dyadic_profile(x: &[f64], dims: &[usize], target: Target) -> Vec<u8> {
        let d4 = squeeze(dims).unwrap();
        let means = profile(x, d4).expect("a profile");
        let plane = d4[2] * d4[3];
        let rest: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v - means[(i / plane) % d4[1]])
            .collect();
        let mut out = vec![MODE_PROFILE];
        for m in &means {
            out.extend_from_slice(&(*m as f32).to_le_bytes());
        }
        out.extend_from_slice(&encode_dyadic(&rest, dims, target));
        out
    }

    fn sparse_copy(bytes: &[u8], dims: &[usize], k: usize, vertical: bool) -> (Vec<u8>, usize) {
        let head = &bytes[..preview_header_len(dims).unwrap().min(bytes.len())];
        let plan = preview_plan(head, dims, bytes.len(), k, vertical)
            .unwrap()
            .expect("a wavelet stream");
        let mut out = vec![0xA5u8; bytes.len()];
        let mut read = 0;
        for r in std::iter::once(plan.header.clone()).chain(plan.own.iter().cloned()) {
            out[r.clone()].copy_from_slice(&bytes[r.clone()]);
            read += r.len();
        }
        let sh = plan.shared.clone();
        let mut have = plan.shared_guess;
        loop {
            out[sh.start..sh.start + have].copy_from_slice(&bytes[sh.start..sh.start + have]);
            if have == sh.len() || preview_shared_ok(&out, dims, k, vertical, have).unwrap() {
                break;
            }
            have = (have * 2).max(64).min(sh.len());
        }
        (out, read + have)
    }

    /// The preview computed the plain way: the kept bands inverse-transformed
    /// at full resolution, fold and profile undone, then subsampled.
    fn reference_preview(bytes: &[u8], dims: &[usize], k: usize, vertical: bool) -> Vec<f64> {
        let d4 = squeeze(dims).unwrap();
        let (parts, layout, plan) = parse_parts(bytes, d4, bytes.len()).unwrap().unwrap();
        let need = preview_need(&layout, &plan, horizontal_axes(dims), k, vertical);
        let own: Vec<&[u8]> = parts.streams[1..parts.streams.len() - 1]
            .iter()
            .map(|r| &bytes[r.clone()])
            .collect();
        let q =
            coding::decode_some(&layout, &bytes[parts.streams[0].clone()], &own, &need).unwrap();
        let mut rec = reconstruct(
            &layout,
            &plan,
            parts.mean,
            parts.step,
            parts.offset_code,
            &q,
        );
        if parts.fold > 1 {
            rec = permute(&rec, d4, parts.fold, true);
        }
        if let Some(means) = parts.means {
            add_level_means(&mut rec, &means, d4[2] * d4[3]);
        }
        let (outer, lat, lon) = horizontal_split(dims).unwrap();
        subsample(&rec, outer, lat, lon, 1 << k)
    }

    fn sub_of(full: &[f64], dims: &[usize], k: usize) -> Vec<f64> {
        let (outer, lat, lon) = horizontal_split(dims).unwrap();
        subsample(full, outer, lat, lon, 1 << k)
    }

    fn rms_diff(a: &[f64], b: &[f64]) -> f64 {
        let s: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        (s / a.len() as f64).sqrt()
    }

    #[test]
    fn preview_decodes_only_the_coarse_bands() {
        // time × lat × lon; every level-0 band has its own stream.
        let dims = [16, 1, 128, 256];
        let (x, _) = field(&dims, 0.5, false, 7);
        let bytes = encode_dyadic(&x, &dims, Target::Rmse(0.05));
        assert_eq!(bytes[0], MODE_WAVELET);
        let full = decode(&bytes, &dims).expect("decode");
        // Level 0 keeps every band (and an RMSE target has no outliers):
        // the full decode, bit for bit.
        let all = decode_preview(&bytes, &dims, 0, false).expect("preview 0");
        assert!(all
            .iter()
            .zip(&full)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let spread = rms_diff(
            &full,
            &vec![full.iter().sum::<f64>() / full.len() as f64; full.len()],
        );
        let mut errs = Vec::new();
        for vertical in [false, true] {
            let (sparse, read) = sparse_copy(&bytes, &dims, 2, vertical);
            // Only the named bytes are read: garbage elsewhere changes nothing.
            let p = decode_preview(&sparse, &dims, 2, vertical).expect("sparse preview");
            let q = decode_preview(&bytes, &dims, 2, vertical).expect("preview");
            assert!(p.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(read < bytes.len(), "{read} of {} bytes", bytes.len());
            if !vertical {
                assert!(read * 4 < bytes.len(), "{read} of {} bytes", bytes.len());
            }
            // The sampled inverse gives the plain computation's values.
            let r = reference_preview(&bytes, &dims, 2, vertical);
            assert!(p.iter().zip(&r).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert_eq!(p.len(), 16 * 32 * 64);
            // Close to the full decode (the field is smooth), not equal.
            let e = rms_diff(&p, &sub_of(&full, &dims, 2));
            assert!(e > 0.0 && e < 0.2 * spread, "error {e}, spread {spread}");
            errs.push(e);
        }
        // Keeping the time-only detail bands keeps time sharper.
        assert!(errs[1] < errs[0], "{errs:?}");
        // A damaged length is an error, not a panic.
        let mut bad = bytes.clone();
        bad[1 + 1 + 17] ^= 0x7f;
        assert!(decode_preview(&bad, &dims, 2, false).is_err());
    }

    /// Checks a packet-plan stream's preview: level 0 the full decode, and
    /// at `k` only the named bytes read, the sampled inverse equal to the
    /// plain computation, close to the full decode. Returns the bytes read.
    fn check_packet_preview(bytes: &[u8], dims: &[usize], k: usize, vertical: bool) -> usize {
        let full = decode(bytes, dims).expect("decode");
        let all = decode_preview(bytes, dims, 0, vertical).expect("preview 0");
        assert!(all
            .iter()
            .zip(&full)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let (sparse, read) = sparse_copy(bytes, dims, k, vertical);
        let p = decode_preview(&sparse, dims, k, vertical).expect("sparse preview");
        let q = decode_preview(bytes, dims, k, vertical).expect("preview");
        assert!(p.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()));
        let r = reference_preview(bytes, dims, k, vertical);
        assert!(p.iter().zip(&r).all(|(a, b)| a.to_bits() == b.to_bits()));
        let spread = rms_diff(
            &full,
            &vec![full.iter().sum::<f64>() / full.len() as f64; full.len()],
        );
        let e = rms_diff(&p, &sub_of(&full, dims, k));
        assert!(e > 0.0 && e < 0.2 * spread, "error {e}, spread {spread}");
        assert!(read < bytes.len(), "{read} of {} bytes", bytes.len());
        // Truncated or damaged: errors, never panics.
        for cut in [0, 1, 5, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_preview(&bytes[..cut], dims, k, vertical).is_err());
            let head = &bytes[..cut.min(preview_header_len(dims).unwrap())];
            let _ = preview_plan(head, dims, bytes.len(), k, vertical);
        }
        let mut s = 3u64;
        for _ in 0..40 {
            let mut bad = bytes.to_vec();
            let i = ((lcg(&mut s) + 1.0) * 0.5 * 40.0) as usize % bad.len();
            bad[i] ^= 0x5a;
            let _ = decode_preview(&bad, dims, k, vertical);
            let _ = preview_shared_ok(&bad, dims, k, vertical, bad.len() / 3);
        }
        read
    }

    #[test]
    fn packet_plan_previews_read_only_the_coarse_bands() {
        let dims = [16, 1, 128, 256];
        let (x, _) = field(&dims, 0.5, false, 7);
        // Segmented streams (2.3) are read whole for a preview.
        let seg = encode(&x, None, &dims, Target::Rmse(0.05))
            .expect("encode")
            .0;
        assert_eq!(seg[0] & !ZERO_MAP, MODE_SEG);
        let head = &seg[..preview_header_len(&dims).unwrap().min(seg.len())];
        assert!(preview_plan(head, &dims, seg.len(), 2, true)
            .unwrap()
            .is_none());
        let bytes = encode_with(&x, None, &dims, Target::Rmse(0.05), false)
            .expect("encode")
            .0;
        assert_eq!(bytes[0] & !ZERO_MAP, MODE_PACKET_P);
        let a = check_packet_preview(&bytes, &dims, 2, true);
        let b = check_packet_preview(&bytes, &dims, 2, false);
        assert!(b <= a && a * 2 < bytes.len(), "{a}, {b} of {}", bytes.len());
        check_packet_preview(&bytes, &dims, 1, true);
    }

    #[test]
    fn quantised_profile_previews_read_only_the_coarse_bands() {
        let dims = [26, 96, 192];
        let (mut x, _) = field(&dims, 0.2, false, 9);
        for (i, v) in x.iter_mut().enumerate() {
            let level = (i / (96 * 192)) as f64;
            *v += 1200.0 * level * (1.0 + 0.04 * level);
        }
        let bytes = encode(&x, None, &dims, Target::Rmse(0.05))
            .expect("encode")
            .0;
        assert_eq!(bytes[0] & !ZERO_MAP, MODE_PROFILE_QP);
        for (k, vertical) in [(1, true), (2, true), (2, false)] {
            let read = check_packet_preview(&bytes, &dims, k, vertical);
            assert!(read < bytes.len());
        }
    }

    #[test]
    fn preview_undoes_the_profile_and_the_fold() {
        // A level profile (mode 3), and a member × time fold.
        let dims = [26, 30, 40];
        let (mut x, _) = field(&dims, 0.2, false, 9);
        for (i, v) in x.iter_mut().enumerate() {
            let level = (i / 1200) as f64;
            *v += 1200.0 * level * (1.0 + 0.04 * level);
        }
        let (base, _) = field(&[4, 30, 40], 0.0, false, 4);
        let mut s = 11u64;
        let mut y = Vec::new();
        for _ in 0..6 {
            y.extend(base.iter().map(|v| v + 0.01 * lcg(&mut s)));
        }
        for (x, dims, mode) in [
            (&x, [26, 30, 40], MODE_PROFILE),
            (&y, [24, 30, 40], MODE_WAVELET),
        ] {
            let bytes = if mode == MODE_PROFILE {
                encode_dyadic_profile(x, &dims, Target::Rmse(0.05))
            } else {
                encode_dyadic(x, &dims, Target::Rmse(0.05))
            };
            assert_eq!(bytes[0], mode);
            let full = decode(&bytes, &dims).expect("decode");
            // Every band: the full decode, bit for bit.
            let all = decode_preview(&bytes, &dims, 0, true).expect("preview 0");
            assert!(all
                .iter()
                .zip(&full)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            // Coarse: near it, profile and fold undone (else it would be
            // off by the level means or scrambled along the first axis).
            let (sparse, _) = sparse_copy(&bytes, &dims, 1, true);
            let p = decode_preview(&sparse, &dims, 1, true).expect("preview 1");
            let r = reference_preview(&bytes, &dims, 1, true);
            assert!(p.iter().zip(&r).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert_eq!(p.len(), dims[0] * 15 * 20);
            let spread = rms_diff(
                &full,
                &vec![full.iter().sum::<f64>() / full.len() as f64; full.len()],
            );
            let e = rms_diff(&p, &sub_of(&full, &dims, 1));
            assert!(e > 0.0 && e < 0.05 * spread, "mode {mode}: {e} of {spread}");
        }
        assert_eq!(choose_fold(&y, squeeze(&[24, 30, 40]).expect("dims")), 4);
    }

    #[test]
    fn bounds_hold_and_reconstruction_matches_decode() {
        let shapes: [&[usize]; 7] = [
            &[5000],
            &[37, 41],
            &[1, 24, 1, 33],
            &[12, 9, 17],
            &[6, 5, 19, 22],
            &[3, 1, 1, 1],
            &[2, 2, 61, 30],
        ];
        for (si, dims) in shapes.iter().enumerate() {
            for masked in [false, true] {
                let (x, m) = field(dims, 0.5, masked, si as u64 + 1);
                for t in [
                    Target::Rmse(0.3),
                    Target::Rmse(0.01),
                    Target::MaxAbs(0.5),
                    Target::MaxAbs(0.003),
                ] {
                    check(&x, m.as_deref(), dims, t);
                }
            }
        }
    }

    #[test]
    fn a_strong_level_profile_is_removed_first() {
        // 26 levels of 30 x 40 whose means climb like geopotential height:
        // the profile carries nearly all the variance.
        let dims = [26, 30, 40];
        let (mut x, _) = field(&dims, 0.2, false, 9);
        for (i, v) in x.iter_mut().enumerate() {
            let level = (i / 1200) as f64;
            *v += 1200.0 * level * (1.0 + 0.04 * level);
        }
        for t in [Target::Rmse(0.5), Target::Rmse(0.05), Target::MaxAbs(0.2)] {
            check(&x, None, &dims, t);
            let (bytes, _) = encode(&x, None, &dims, t).expect("encode");
            assert_eq!(bytes[0] & !ZERO_MAP, MODE_PROFILE_QP, "{t:?}");
        }
        // With a mask too.
        let (_, m) = field(&dims, 0.2, true, 9);
        let mut xm = x.clone();
        for (v, ok) in xm.iter_mut().zip(m.as_deref().expect("mask")) {
            if !ok {
                *v = f64::NAN;
            }
        }
        check(&xm, m.as_deref(), &dims, Target::Rmse(0.05));
        // Damaged profile streams are errors, not panics.
        let (bytes, _) = encode(&x, None, &dims, Target::Rmse(0.05)).expect("encode");
        // Where the inner stream starts: after the step and 26 indices.
        let mut inner = 5;
        for _ in 0..26 {
            get_varint(&bytes, &mut inner).expect("index");
        }
        assert_eq!(bytes[inner] & !ZERO_MAP, MODE_PACKET_P);
        for cut in [1, 3, 5, 6, inner, inner + 1, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], &dims).is_err(), "cut at {cut}");
        }
        for bad in [f32::NAN, 0.0, -1.0] {
            let mut b = bytes.clone();
            b[1..5].copy_from_slice(&bad.to_le_bytes());
            assert!(decode(&b, &dims).is_err(), "step {bad}");
        }
        // An inner stream without primed models, or of another mode.
        for m in [
            MODE_PROFILE,
            MODE_PROFILE_Q,
            MODE_PROFILE_QP,
            MODE_SEG,
            MODE_RAW,
            MODE_CONST,
            MODE_PACKET,
            MODE_WAVELET,
            // The zero-map flag of the inner stream differs from the
            // outer one's.
            bytes[inner] ^ ZERO_MAP,
            MODE_WAVELET | ZERO_MAP,
        ] {
            let mut nested = bytes.clone();
            nested[inner] = m;
            assert!(decode(&nested, &dims).is_err(), "inner mode {m}");
        }
        // Mode 7 holds a mode 6 stream and nothing else.
        let mut b = bytes.clone();
        b[0] = MODE_PROFILE_Q_SEG;
        assert!(decode(&b, &dims).is_err());
        // A field without such a profile keeps the plain stream (over the
        // packet plan: the 26 levels take a level).
        let (y, _) = field(&dims, 0.2, false, 9);
        let (plain, _) = encode(&y, None, &dims, Target::Rmse(0.05)).expect("encode");
        assert_eq!(plain[0] & !ZERO_MAP, MODE_PACKET_P);
    }

    /// Streams of the 2.0/2.1 modes (dyadic plan, f32 profile), which the
    /// encoder no longer writes for blocks whose outer axes take a level,
    /// Primed models (format 2.3): both plans round-trip bit for bit with
    /// and without them, the primed stream is smaller on a smooth block at
    /// a coarse bound (the models need not learn that fine coefficients
    /// are zero), and a primed stream read with unprimed models (or the
    /// reverse) is another stream.
    #[test]
    fn primed_models_round_trip_and_pay_at_coarse_bounds() {
        let dims = [6, 3, 60, 90];
        let d4 = squeeze(&dims).expect("dims");
        let (x, _) = field(&dims, 0.5, false, 3);
        let n = x.len();
        for packet in [false, true] {
            for t in [Target::Rmse(0.2), Target::Rmse(0.01), Target::MaxAbs(0.3)] {
                let mut sizes = [0usize; 2];
                for (k, primed) in [false, true].into_iter().enumerate() {
                    let enc = Encoder::new(
                        &x,
                        &x,
                        None,
                        n,
                        d4,
                        1,
                        Codings {
                            packet,
                            primed,
                            maps: false,
                            seg: false,
                            zmap: false,
                        },
                    );
                    let (bytes, rec, _) = enc.run(t, None).expect("encode");
                    let want = match (packet, primed) {
                        (false, false) => MODE_WAVELET,
                        (true, false) => MODE_PACKET,
                        (false, true) => MODE_WAVELET_P,
                        (true, true) => MODE_PACKET_P,
                    };
                    assert_eq!(bytes[0], want);
                    let dec = decode(&bytes, &dims).expect("decode");
                    assert!(rec
                        .iter()
                        .zip(&dec)
                        .all(|(a, b)| a.to_bits() == b.to_bits()));
                    let mut other = bytes.clone();
                    other[0] = match want {
                        MODE_WAVELET => MODE_WAVELET_P,
                        MODE_PACKET => MODE_PACKET_P,
                        MODE_WAVELET_P => MODE_WAVELET,
                        _ => MODE_PACKET,
                    };
                    if let Ok(d) = decode(&other, &dims) {
                        assert!(d.iter().zip(&dec).any(|(a, b)| a.to_bits() != b.to_bits()));
                    }
                    sizes[k] = bytes.len();
                }
                if t == Target::Rmse(0.2) {
                    assert!(sizes[1] < sizes[0], "{packet} {t:?}: {sizes:?}");
                }
            }
        }
    }

    /// still decode to exactly what their encoder reconstructed.
    /// Zero maps (format 2.5): at a coarse bound a smooth field's finest
    /// bands are all zero; the map codes each in a flag instead of a zero
    /// flag per coefficient. The stream is smaller, decodes to the
    /// encoder's reconstruction bit for bit, and is labelled 2.5.
    #[test]
    fn zero_maps_skip_all_zero_bands() {
        let dims = [2, 3, 96, 192];
        let d4 = squeeze(&dims).unwrap();
        let n: usize = dims.iter().product();
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let (la, lo) = ((i / 192) % 96, i % 192);
                let lev = (i / (96 * 192)) % 3;
                (la as f64 * 0.05).sin() * 10.0 + (lo as f64 * 0.03).cos() * 5.0 + lev as f64
            })
            .collect();
        for t in [Target::Rmse(0.3), Target::MaxAbs(1.0)] {
            let mut sizes = [0usize; 2];
            for (k, zmap) in [false, true].into_iter().enumerate() {
                let codings = Codings { zmap, ..NEWEST };
                let enc = Encoder::new(&x, &x, None, n, d4, 1, codings);
                let (bytes, rec, _) = enc.run(t, None).expect("encode");
                assert_eq!(bytes[0] & ZERO_MAP != 0, zmap, "{t:?}");
                let dec = decode(&bytes, &dims).expect("decode");
                assert!(rec
                    .iter()
                    .zip(&dec)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
                let worst = x
                    .iter()
                    .zip(&dec)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                if let Target::MaxAbs(e) = t {
                    assert!(worst <= e, "{worst} > {e}");
                }
                sizes[k] = bytes.len();
                if zmap {
                    // A stream of a mode byte that may not carry the flag.
                    let mut b = bytes.clone();
                    b[0] = MODE_PACKET | ZERO_MAP;
                    assert!(decode(&b, &dims).is_err());
                    // The same bytes read without the map are not the field.
                    let mut b = bytes.clone();
                    b[0] &= !ZERO_MAP;
                    if let Ok(d) = decode(&b, &dims) {
                        assert!(d.iter().zip(&dec).any(|(a, b)| a != b));
                    }
                    // Damage is an error or other values, never a panic;
                    // a cut stream is an error.
                    for cut in [1, 2, 10, 20, bytes.len() / 2, bytes.len() - 1] {
                        assert!(decode(&bytes[..cut], &dims).is_err(), "cut {cut}");
                    }
                    for at in 0..bytes.len() {
                        let mut b = bytes.clone();
                        b[at] ^= 1 << (at % 8);
                        let _ = decode(&b, &dims);
                    }
                }
            }
            assert!(sizes[1] < sizes[0], "{t:?}: {sizes:?}");
        }
    }

    #[test]
    fn older_modes_still_decode() {
        let dims = [26, 30, 40];
        let d4 = squeeze(&dims).expect("dims");
        let (mut x, _) = field(&dims, 0.2, false, 9);
        for t in [Target::Rmse(0.05), Target::MaxAbs(0.2)] {
            let n = x.len();
            let enc = Encoder::new(&x, &x, None, n, d4, 1, OLDEST);
            let (bytes, rec, _) = enc.run(t, None).expect("encode");
            assert_eq!(bytes[0], MODE_WAVELET);
            let dec = decode(&bytes, &dims).expect("decode");
            assert!(rec
                .iter()
                .zip(&dec)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            // The same stream read as the packet plan is another stream.
            let mut other = bytes.clone();
            other[0] = MODE_PACKET;
            if let Ok(d) = decode(&other, &dims) {
                assert!(d.iter().zip(&dec).any(|(a, b)| a.to_bits() != b.to_bits()));
            }
        }
        // Mode 3: f32 means, then a mode 2 stream of the rest.
        for (i, v) in x.iter_mut().enumerate() {
            let level = (i / 1200) as f64;
            *v += 1200.0 * level * (1.0 + 0.04 * level);
        }
        let means = profile(&x, d4).expect("profile");
        let rest: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v - means[i / 1200])
            .collect();
        let n = x.len();
        let enc = Encoder::new(&rest, &rest, None, n, d4, 1, OLDEST);
        let (inner, rec, _) = enc.run(Target::Rmse(0.05), None).expect("encode");
        let mut bytes = vec![MODE_PROFILE];
        for m in &means {
            bytes.extend_from_slice(&(*m as f32).to_le_bytes());
        }
        bytes.extend_from_slice(&inner);
        let dec = decode(&bytes, &dims).expect("decode");
        for (i, (r, d)) in rec.iter().zip(&dec).enumerate() {
            assert_eq!((r + means[i / 1200]).to_bits(), d.to_bits());
        }
    }

    #[test]
    fn smooth_fields_compress_well() {
        let dims = [16, 40, 60];
        let (x, _) = field(&dims, 0.0, false, 3);
        let n = check(&x, None, &dims, Target::Rmse(0.01));
        assert!(n * 30 < x.len() * 4, "{n} bytes for {} values", x.len());
        let n = check(&x, None, &dims, Target::MaxAbs(0.01));
        assert!(n * 15 < x.len() * 4, "{n} bytes for {} values", x.len());
    }

    #[test]
    fn ensemble_axis_is_folded() {
        // 6 members × 4 times merged on axis 0: members nearly identical.
        let (base, _) = field(&[4, 30, 40], 0.0, false, 4);
        let mut s = 11u64;
        let mut x = Vec::new();
        for _ in 0..6 {
            x.extend(base.iter().map(|v| v + 0.01 * lcg(&mut s)));
        }
        let d4 = squeeze(&[24, 30, 40]).expect("dims");
        assert_eq!(choose_fold(&x, d4), 4);
        check(&x, None, &[24, 30, 40], Target::Rmse(0.05));
        check(&x, None, &[24, 30, 40], Target::MaxAbs(0.05));
        let p = permute(&x, d4, 4, false);
        assert!(permute(&p, d4, 4, true) == x);
    }

    #[test]
    fn constant_zero_bound_and_empty_fields() {
        let x = vec![3.25; 500];
        for t in [Target::Rmse(0.0), Target::MaxAbs(1e-3)] {
            let (b, r) = encode(&x, None, &[20, 25], t).expect("encode");
            assert!(b.len() <= 9);
            assert_eq!(decode(&b, &[20, 25]).expect("decode"), r);
            assert!(r.iter().all(|&v| v == 3.25));
        }
        let (x, m) = field(&[10, 12], 1.0, true, 9);
        let (b, r) = encode(&x, m.as_deref(), &[10, 12], Target::MaxAbs(0.0)).expect("encode");
        let mm = m.as_deref().expect("mask");
        assert!((0..x.len()).all(|i| !mm[i] || r[i] == x[i]));
        assert_eq!(decode(&b, &[10, 12]).expect("decode"), r);
        let none = vec![false; 30];
        let nan = vec![f64::NAN; 30];
        let (b, r) = encode(&nan, Some(&none), &[30], Target::Rmse(1.0)).expect("encode");
        assert_eq!(decode(&b, &[30]).expect("decode"), r);
        assert!(encode(&[1.0, f64::NAN], None, &[2], Target::Rmse(1.0)).is_err());
        assert!(encode(&[1.0, 2.0], None, &[3], Target::Rmse(1.0)).is_err());
        assert!(encode(&[1.0, 2.0], None, &[2], Target::Rmse(-1.0)).is_err());
        assert!(encode(&[1.0, 2.0], None, &[2], Target::MaxAbs(f64::NAN)).is_err());
    }

    /// Format 2.3 significance maps: the bound on every valid element, the
    /// reconstruction equal to what decode gives, masks, odd shapes, a bound
    /// tiny beside the values; damaged streams give errors, not panics.
    #[test]
    fn correction_maps_meet_the_bound() {
        let mut maps = 0;
        let cases: [(&[usize], bool); 5] = [
            (&[37, 23], false),
            (&[5, 9, 31], true),
            (&[3, 4, 17, 19], true),
            (&[301], false),
            (&[24, 30, 40], false),
        ];
        for (dims, masked) in cases {
            for noise in [0.0, 3.0] {
                let (x, m) = field(dims, noise, masked, 11);
                for e in [0.3, 0.02, 1e-9] {
                    let t = Target::MaxAbs(e);
                    let (bytes, rec) =
                        encode_opts(&x, m.as_deref(), dims, t, true).expect("encode");
                    let dec = decode(&bytes, dims).expect("decode");
                    assert!(rec
                        .iter()
                        .zip(&dec)
                        .all(|(a, b)| a.to_bits() == b.to_bits()));
                    for i in 0..x.len() {
                        if is_valid_at(m.as_deref(), i) {
                            assert!((x[i] - dec[i]).abs() <= e, "{dims:?} e {e} at {i}");
                        }
                    }
                    if !uses_map(&bytes, dims).expect("parts") {
                        continue;
                    }
                    maps += 1;
                    let (old, _) = encode_opts(&x, m.as_deref(), dims, t, false).expect("encode");
                    assert!(!uses_map(&old, dims).expect("parts"));
                    for cut in [bytes.len() / 2, bytes.len() - 1] {
                        assert!(decode(&bytes[..cut], dims).is_err());
                    }
                    let mut s = 5u64;
                    let mut pick = |len: usize| ((lcg(&mut s) + 0.5) * len as f64) as usize % len;
                    for _ in 0..200 {
                        let mut b = bytes.clone();
                        let i = pick(b.len());
                        b[i] ^= 1 << (pick(8) as u32);
                        let _ = decode(&b, dims);
                    }
                }
            }
        }
        assert!(maps >= 3, "{maps} streams used a map");
    }

    #[test]
    fn truncated_and_corrupt_streams_fail_cleanly() {
        let dims = [8, 30, 44];
        let (x, _) = field(&dims, 0.5, false, 5);
        for t in [Target::Rmse(0.05), Target::MaxAbs(0.02)] {
            let (bytes, _) = encode(&x, None, &dims, t).expect("encode");
            for cut in [
                0,
                1,
                2,
                10,
                18,
                bytes.len() / 3,
                bytes.len() / 2,
                bytes.len() - 1,
            ] {
                assert!(
                    decode(&bytes[..cut], &dims).is_err(),
                    "cut at {cut} of {}",
                    bytes.len()
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode(&longer, &dims).is_err());
            let mut s = 77u64;
            let mut pick = |len: usize| ((lcg(&mut s) + 0.5) * len as f64) as usize % len;
            for trial in 0..800 {
                let mut b = bytes.clone();
                for _ in 0..1 + trial % 3 {
                    let i = pick(b.len());
                    b[i] ^= 1 << (pick(8) as u32);
                }
                let _ = decode(&b, &dims);
            }
            assert!(decode(&bytes, &[8, 30, 45]).is_err() || decode(&bytes, &[8, 30, 45]).is_ok());
        }
        let garbage: Vec<u8> = (0..400u32).map(|i| (i * 131 % 251) as u8).collect();
        for mode in 0..4u8 {
            let mut g = garbage.clone();
            g[0] = mode;
            let _ = decode(&g, &dims);
        }
    }

    /// The segment counts of a [`MODE_SEG`] stream's own bands.
    fn segment_counts(bytes: &[u8], dims: &[usize]) -> Vec<u64> {
        assert_eq!(bytes[0] & !ZERO_MAP, MODE_SEG);
        let d4 = squeeze(dims).unwrap();
        let plan = if bytes[1] == 1 {
            Plan::packet(d4)
        } else {
            Plan::new(d4)
        };
        let layout = coding::segmented(Layout::new(&plan));
        let mut pos = 20;
        coding::max_segments(&layout)
            .iter()
            .map(|_| get_varint(bytes, &mut pos).unwrap() + 1)
            .collect()
    }

    /// Segmented streams (format 2.3): round trips on odd shapes, masks and
    /// both plans with bands cut into several segments; the same bytes and
    /// values for any thread count; damage gives errors, not panics.
    #[test]
    fn segmented_streams_round_trip_and_fail_cleanly() {
        let pool = |n: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("pool")
        };
        let cases: [(&[usize], bool, u8); 5] = [
            (&[9, 197, 131], true, 1),
            (&[3, 180, 203], false, 0),
            (&[301, 257], true, 0),
            (&[10, 2, 61, 120], false, 1),
            // With a level profile: mode 7.
            (&[26, 96, 128], false, 1),
        ];
        for (dims, masked, plan) in cases {
            let (mut x, m) = field(dims, 2.0, masked, 11);
            let profiled = dims[0] == 26;
            if profiled {
                for (i, v) in x.iter_mut().enumerate() {
                    let level = (i / (96 * 128)) as f64;
                    *v += 1200.0 * level * (1.0 + 0.04 * level);
                }
            }
            for t in [
                Target::Rmse(0.0005),
                Target::MaxAbs(0.002),
                Target::Rmse(0.5),
            ] {
                let len = check(&x, m.as_deref(), dims, t);
                let (bytes, rec) = pool(1).install(|| encode(&x, m.as_deref(), dims, t).unwrap());
                assert_eq!(bytes.len(), len);
                if matches!(t, Target::Rmse(r) if r < 0.01) {
                    // Fine enough to be cut into segments.
                    let at = if profiled {
                        assert_eq!(bytes[0] & !ZERO_MAP, MODE_PROFILE_Q_SEG);
                        let mut inner = 5;
                        for _ in 0..26 {
                            get_varint(&bytes, &mut inner).expect("index");
                        }
                        inner
                    } else {
                        0
                    };
                    assert_eq!(bytes[at + 1], plan, "{dims:?}");
                    let counts = segment_counts(&bytes[at..], dims);
                    assert!(counts.iter().any(|&k| k >= 2), "{dims:?}: {counts:?}");
                }
                for threads in [2, 3] {
                    let (b, r) =
                        pool(threads).install(|| encode(&x, m.as_deref(), dims, t).unwrap());
                    assert_eq!(b, bytes, "{threads} threads");
                    let d = pool(threads).install(|| decode(&bytes, dims).unwrap());
                    assert!(r.iter().zip(&d).all(|(a, b)| a.to_bits() == b.to_bits()));
                    assert!(rec.iter().zip(&d).all(|(a, b)| a.to_bits() == b.to_bits()));
                }
                // Damage: cuts, an extra byte, bit flips (also in the
                // counts and lengths), a bad plan byte.
                for cut in [1, 2, 3, 20, 21, 30, bytes.len() / 2, bytes.len() - 1] {
                    assert!(decode(&bytes[..cut], dims).is_err(), "cut {cut}");
                }
                let mut longer = bytes.clone();
                longer.push(0);
                assert!(decode(&longer, dims).is_err());
                if bytes[0] & !ZERO_MAP == MODE_SEG {
                    let mut b = bytes.clone();
                    b[1] = 2;
                    assert!(decode(&b, dims).is_err());
                }
                let mut s = 5u64;
                let mut pick = |n: usize| ((lcg(&mut s) + 0.5) * n as f64) as usize % n;
                for trial in 0..40 {
                    let mut b = bytes.clone();
                    let i = if trial % 2 == 0 {
                        pick(b.len().min(60))
                    } else {
                        pick(b.len())
                    };
                    b[i] ^= 1 << (pick(8) as u32);
                    let _ = decode(&b, dims);
                }
            }
        }
        let dims = [4, 64, 64];
        let garbage: Vec<u8> = (0..4000u32).map(|i| (i * 131 % 251) as u8).collect();
        for (mode, plan) in [(MODE_SEG, 0u8), (MODE_SEG, 1), (MODE_PROFILE_Q_SEG, 0)] {
            let mut g = garbage.clone();
            g[0] = mode;
            g[1] = plan;
            g[2] = 1;
            let _ = decode(&g, &dims);
        }
    }

    #[test]
    fn transform_layout_puts_energy_in_the_approximation() {
        let dims = [1, 24, 33, 49];
        let (x, _) = field(&dims, 0.0, false, 1);
        let plan = Plan::new(dims);
        let layout = Layout::new(&plan);
        let mut y = x.clone();
        transform::forward(&mut y, &plan);
        let c = layout.gather(&y);
        let ll = layout.bands[0].len;
        let e_ll: f64 = c[..ll].iter().map(|v| v * v).sum();
        let e_all: f64 = c.iter().map(|v| v * v).sum();
        assert!(e_ll > 0.999 * e_all, "{e_ll} of {e_all}");
        // Finest-level details of a smooth field are small.
        let fine = layout.bands.iter().filter(|b| b.level == 0);
        for b in fine {
            let m = c[b.offset..b.offset + b.len]
                .iter()
                .map(|v| v.abs())
                .sum::<f64>()
                / b.len as f64;
            assert!(m < 0.3, "band {:?}: mean {m}", b.start);
        }
    }
}
