//! Lossless coding of integer-valued blocks (format 2.7, residual tag 4).
//!
//! A block whose valid values are all integers, with a pointwise bound
//! below ½ (the indices of a lattice-coded chunk, see `crate::lattice`),
//! must come back exactly. The lossy paths get there through a step search
//! and per-element corrections; this coder predicts each integer from its
//! decoded neighbours and codes the prediction error exactly, in one pass.
//!
//! The block is seen as planes of `rows × cols` (its last two axes; the
//! leading axes are flattened into planes). Each plane is predicted either
//! on its own (the median edge detector of LOCO-I / JPEG-LS over its West,
//! North and North-West neighbours) or as a difference from the previous
//! plane (the same predictor on `x − x_prev`): the encoder picks, per
//! plane, the one whose errors are smaller, and codes the choice.
//!
//! Each error `r` is coded with adaptive binary range coding in one of
//! [`CONTEXTS`] contexts, chosen by the local activity (gradients around
//! the element and the errors already made at its West and North
//! neighbours): a zero flag, a sign, and `|r| − 1` as an adaptive
//! Golomb–Rice code (JPEG-LS's parameter rule) whose unary part is
//! modelled and whose low bits are raw.
//!
//! Large blocks are cut into segments of whole planes, each with its own
//! range-coder stream and models, so that decoding runs on every core.
//!
//! Payload: `u8 version (0 lossless, 1 near-lossless) | varint near (version
//! 1 only) | varint segments S | S − 1 varint stream lengths | the S
//! streams`. Segment `j` holds planes
//! `[j·P/S, (j+1)·P/S)` of the `P` planes.
//!
//! Missing elements are not coded: they take their prediction, so that
//! their neighbours are predicted alike on both sides, and decode as NaN.
//! Every valid value comes back bit for bit, but for the sign of a zero:
//! −0 decodes as +0 (an error of 0; lattice indices map both to the same
//! value).

use crate::entropy::{BitModel, BitTree, RangeDecoder, RangeEncoder};
use crate::error::{Error, Result};
use crate::format::put_varint;
use rayon::prelude::*;

/// Largest magnitude of a value this coder takes (integers up to 2^24 are
/// exact in f32).
const MAX_VALUE: f32 = (1u32 << 24) as f32;
/// Largest magnitude of a coded signal (a value, or a difference of two):
/// a decoded one beyond is corrupt.
const VALUE_LIMIT: i32 = 1 << 26;
/// Predictions are clamped to this magnitude, so that an error fits 29 bits.
const PRED_LIMIT: i32 = 1 << 27;
/// Activity contexts.
const CONTEXTS: usize = 16;
/// Modelled positions of the unary part (later ones share the last model).
const UNARY_MODELS: usize = 12;
/// Unary values at and above this are escaped: a 5-bit length and the raw
/// bits of the whole magnitude follow.
const UNARY_ESCAPE: u32 = 24;
/// Values per segment at least: a segment's models learn from scratch,
/// which costs a few hundred bytes; below this, one stream.
const SEGMENT_VALUES: usize = 1 << 17;
/// Most segments (a stored count is checked against it).
const MAX_SEGMENTS: usize = 64;
/// Largest near-lossless error bound, in integers.
const MAX_NEAR: u32 = 1 << 20;
/// Largest Golomb–Rice parameter: the raw low bits, all but the top one,
/// then go out as one symbol of at most 2^15.
const MAX_RICE: u32 = 16;
/// Rice statistics are halved when their count reaches this.
const RICE_RESET: u32 = 64;

/// Whether `data` may be coded here for a pointwise bound `e`: a bound
/// below ½ (so only the exact integers meet it), no prediction, and every
/// valid value an integer of magnitude at most 2^24.
pub(crate) fn applies(data: &[f32], missing: Option<&[bool]>, e: f64) -> bool {
    e < 0.5
        && data.iter().enumerate().all(|(i, &v)| {
            missing.is_some_and(|m| m[i]) || (v.fract() == 0.0 && v.abs() <= MAX_VALUE)
        })
}

/// The block as planes: (planes, rows, cols).
fn geometry(dims: &[usize]) -> (usize, usize, usize) {
    let cols = dims.last().copied().unwrap_or(1);
    let rows = if dims.len() >= 2 {
        dims[dims.len() - 2]
    } else {
        1
    };
    let planes = dims[..dims.len().saturating_sub(2)].iter().product();
    (planes, rows, cols)
}

/// Segments of a block of `n` values in `planes` planes: one per
/// [`SEGMENT_VALUES`], and two from [`SEGMENT_VALUES`] / 2 on (so that two
/// cores decode a block of 2.5° global levels side by side).
fn segments_for(planes: usize, n: usize) -> usize {
    let least = if 2 * n >= SEGMENT_VALUES { 2 } else { 1 };
    (n / SEGMENT_VALUES)
        .clamp(least, MAX_SEGMENTS)
        .min(planes.max(1))
}

fn plane_range(j: usize, s: usize, planes: usize) -> std::ops::Range<usize> {
    j * planes / s..(j + 1) * planes / s
}

/// The adaptive state of one stream.
struct Models {
    mode: BitTree,
    zero: [BitModel; CONTEXTS],
    sign: [BitModel; 9],
    top: [BitModel; CONTEXTS],
    unary: [[BitModel; UNARY_MODELS]; CONTEXTS],
    /// Sum of coded magnitudes − 1 and their count, per context (JPEG-LS).
    sum: [u32; CONTEXTS],
    count: [u32; CONTEXTS],
}

impl Models {
    fn new() -> Self {
        Self {
            mode: BitTree::new(3),
            zero: [BitModel::new(); CONTEXTS],
            sign: [BitModel::new(); 9],
            top: [BitModel::new(); CONTEXTS],
            unary: [[BitModel::new(); UNARY_MODELS]; CONTEXTS],
            sum: [2; CONTEXTS],
            count: [1; CONTEXTS],
        }
    }

    /// The Golomb–Rice parameter of context `c`: the smallest `k` with
    /// `count · 2^k ≥ sum` (JPEG-LS), at most [`MAX_RICE`].
    #[inline]
    fn rice(&self, c: usize) -> u32 {
        let (a, n) = (self.sum[c], self.count[c].max(1));
        if n >= a {
            return 0;
        }
        // n · 2^k0 has a's bit length: k0 or k0 + 1.
        let k0 = n.leading_zeros() - a.leading_zeros();
        let k = k0 + u32::from(((n as u64) << k0) < a as u64);
        k.min(MAX_RICE)
    }

    #[inline]
    fn learn(&mut self, c: usize, m: u32) {
        self.sum[c] = self.sum[c].saturating_add(m);
        self.count[c] += 1;
        if self.count[c] >= RICE_RESET {
            self.sum[c] >>= 1;
            self.count[c] >>= 1;
        }
    }
}

#[inline]
fn bucket(a: u32) -> usize {
    ((32 - a.leading_zeros()) as usize).min(CONTEXTS - 1)
}

/// The median of W, N and W + N − NW (LOCO-I's median edge detector),
/// without a branch: W + N − NW clamped between the smaller and the larger
/// of W and N.
#[inline]
fn med(w: i32, n: i32, nw: i32) -> i32 {
    w.wrapping_add(n).wrapping_sub(nw).clamp(w.min(n), w.max(n))
}

/// Predictors a plane may use (the third bit of its mode: the signal is
/// the plane itself or its difference from the previous plane).
const PREDICTORS: u32 = 4;
/// LOCO-I's median edge detector (edges: GFS temperature, humidity).
const P_MED: u32 = 0;
/// The plane through W, N and NW (smooth fields).
const P_PLANAR: u32 = 1;
/// Second-order 2-D Lorenzo (the quadric through the 3 × 3 corner).
const P_LORENZO2: u32 = 2;
/// Cubic extrapolation along the row, plus the planar step of the row
/// above (very smooth fields: 500 hPa geopotential).
const P_CUBIC: u32 = 3;

/// The neighbourhood of element (`row`, `col`) of a plane of signal `d`
/// (row-major, `cols` wide) and of its errors `res`: the prediction by
/// predictor `kind` and the activity context. Near the plane's first rows
/// and columns, where a predictor's neighbours are missing, the simpler
/// ones stand in.
#[inline(always)]
fn predict<const KIND: u32>(
    d: &[i32],
    res: &[u32],
    i: usize,
    row: usize,
    col: usize,
    cols: usize,
) -> (i32, usize) {
    if row == 0 {
        if col == 0 {
            return (0, 0);
        }
        let w = d[i - 1];
        let a = res[i - 1] >> 1;
        return (w, bucket(a.saturating_mul(2)));
    }
    let n = d[i - cols];
    let (w, nw, rw) = if col > 0 {
        (d[i - 1], d[i - cols - 1], res[i - 1] >> 1)
    } else {
        (n, n, 0)
    };
    let ne = if col + 1 < cols { d[i - cols + 1] } else { n };
    let a = (w.abs_diff(nw))
        .saturating_add(n.abs_diff(nw))
        .saturating_add(ne.abs_diff(n))
        .saturating_add(rw)
        .saturating_add(res[i - cols] >> 1);
    let c = bucket(a);
    // Every prediction is clamped to ±PRED_LIMIT, so that a missing
    // element's stand-in (its prediction) stays there too: with coded
    // values at most 2^26, no signal exceeds 2^27, and the 15 weights of
    // the higher-order predictors (summed in i64 all the same) stay within
    // i32.
    let pred = match KIND {
        P_PLANAR if col > 0 => w as i64 + n as i64 - nw as i64,
        P_LORENZO2 if col >= 2 && row >= 2 => {
            let (ww, nn) = (d[i - 2] as i64, d[i - 2 * cols] as i64);
            let (nww, nnw, nnww) = (
                d[i - cols - 2] as i64,
                d[i - 2 * cols - 1] as i64,
                d[i - 2 * cols - 2] as i64,
            );
            let (w, n, nw) = (w as i64, n as i64, nw as i64);
            2 * (w + n + nww + nnw) - ww - nn - 4 * nw - nnww
        }
        P_CUBIC if col >= 3 => {
            let (ww, www) = (d[i - 2] as i64, d[i - 3] as i64);
            let (nww, nwww) = (d[i - cols - 2] as i64, d[i - cols - 3] as i64);
            let (w, n, nw) = (w as i64, n as i64, nw as i64);
            3 * (w - ww - nw + nww) + www + n - nwww
        }
        P_LORENZO2 | P_CUBIC if col > 0 => w as i64 + n as i64 - nw as i64,
        _ => med(w, n, nw) as i64,
    }
    .clamp(-(PRED_LIMIT as i64), PRED_LIMIT as i64) as i32;
    (pred, c)
}

/// An element of a plane as the next plane sees it: its signal, plus the
/// previous plane's element in difference mode; a missing element's
/// stand-in clamped to ±2^24, so that stand-ins cannot grow from plane to
/// plane.
#[inline]
fn standing(use_diff: bool, d: i32, prev: Option<i32>, missing: bool) -> i32 {
    let x = if use_diff {
        d.wrapping_add(prev.unwrap_or(0))
    } else {
        d
    };
    if missing {
        x.clamp(-(MAX_VALUE as i32), MAX_VALUE as i32)
    } else {
        x
    }
}

/// The sign context of element `i`: the signs of the errors at its West
/// and North neighbours (0 none, 1 positive, 2 negative each).
#[inline(always)]
fn sign_context(res: &[u32], i: usize, row: usize, col: usize, cols: usize) -> usize {
    let sg = |r: u32| if r >> 1 == 0 { 0 } else { 1 + (r & 1) as usize };
    let w = if col > 0 { sg(res[i - 1]) } else { 0 };
    let n = if row > 0 { sg(res[i - cols]) } else { 0 };
    3 * w + n
}

/// The cost proxy of a plane's errors under predictor `KIND` (bit
/// lengths summed; `res` is scratch).
fn plane_cost<const KIND: u32>(
    d: &[i32],
    res: &mut [u32],
    rows: usize,
    cols: usize,
    skip: Option<&[bool]>,
) -> u64 {
    let mut cost = 0u64;
    for row in 0..rows {
        for col in 0..cols {
            let i = row * cols + col;
            if skip.is_some_and(|m| m[i]) {
                res[i] = 0;
                continue;
            }
            let (p, _) = predict::<KIND>(d, res, i, row, col, cols);
            let r = d[i].wrapping_sub(p).unsigned_abs();
            res[i] = r << 1;
            cost += (32 - r.leading_zeros()) as u64 + u64::from(r != 0);
        }
    }
    cost
}

fn plane_cost_any(
    kind: u32,
    d: &[i32],
    res: &mut [u32],
    rows: usize,
    cols: usize,
    skip: Option<&[bool]>,
) -> u64 {
    match kind {
        P_PLANAR => plane_cost::<P_PLANAR>(d, res, rows, cols, skip),
        P_LORENZO2 => plane_cost::<P_LORENZO2>(d, res, rows, cols, skip),
        P_CUBIC => plane_cost::<P_CUBIC>(d, res, rows, cols, skip),
        _ => plane_cost::<P_MED>(d, res, rows, cols, skip),
    }
}

/// Codes `data` (integers; see [`applies`]) losslessly.
pub(crate) fn encode(data: &[f32], dims: &[usize], missing: Option<&[bool]>, near: u32) -> Vec<u8> {
    let (planes, rows, cols) = geometry(dims);
    let plane = rows * cols;
    let s = segments_for(planes, data.len());
    let streams: Vec<Vec<u8>> = (0..s)
        .into_par_iter()
        .map(|j| {
            let r = plane_range(j, s, planes);
            let span = r.start * plane..r.end * plane;
            encode_segment(
                &data[span.clone()],
                rows,
                cols,
                missing.map(|m| &m[span]),
                near,
            )
        })
        .collect();
    let mut out = vec![u8::from(near > 0)];
    if near > 0 {
        put_varint(&mut out, near as u64);
    }
    put_varint(&mut out, s as u64);
    for st in &streams[..s - 1] {
        put_varint(&mut out, st.len() as u64);
    }
    for st in &streams {
        out.extend_from_slice(st);
    }
    out
}

fn encode_segment(
    data: &[f32],
    rows: usize,
    cols: usize,
    missing: Option<&[bool]>,
    near: u32,
) -> Vec<u8> {
    let plane = rows * cols;
    let planes = data.len() / plane.max(1);
    let mut enc = RangeEncoder::new();
    let mut m = Models::new();
    let mut prev: Vec<i32> = Vec::new();
    let mut x = vec![0i32; plane];
    let mut d = vec![0i32; plane];
    let mut diff = vec![0i32; plane];
    let mut res = vec![0u32; plane];
    for p in 0..planes {
        let vals = &data[p * plane..(p + 1) * plane];
        let skip = missing.map(|mk| &mk[p * plane..(p + 1) * plane]);
        for (i, v) in x.iter_mut().enumerate() {
            *v = if skip.is_some_and(|mk| mk[i]) {
                0
            } else {
                vals[i] as i32
            };
        }
        if !prev.is_empty() {
            for i in 0..plane {
                diff[i] = x[i].wrapping_sub(prev[i]);
            }
        }
        // The mode of least cost: predictor × (plane, difference). Missing
        // elements take their prediction during the pass below; for the
        // choice, their 0 placeholders are skipped.
        let mut best = (u64::MAX, 0u32);
        for mode in 0..2 * PREDICTORS {
            let use_diff = mode >= PREDICTORS;
            if use_diff && prev.is_empty() {
                continue;
            }
            let sig = if use_diff { &diff } else { &x };
            let cost = plane_cost_any(mode % PREDICTORS, sig, &mut res, rows, cols, skip);
            if cost < best.0 {
                best = (cost, mode);
            }
        }
        let mode = best.1;
        m.mode.encode(&mut enc, mode);
        let use_diff = mode >= PREDICTORS;
        d.copy_from_slice(if use_diff { &diff } else { &x });
        match mode % PREDICTORS {
            P_PLANAR => {
                code_plane::<P_PLANAR>(&mut enc, &mut m, &mut d, &mut res, rows, cols, skip, near)
            }
            P_LORENZO2 => {
                code_plane::<P_LORENZO2>(&mut enc, &mut m, &mut d, &mut res, rows, cols, skip, near)
            }
            P_CUBIC => {
                code_plane::<P_CUBIC>(&mut enc, &mut m, &mut d, &mut res, rows, cols, skip, near)
            }
            _ => code_plane::<P_MED>(&mut enc, &mut m, &mut d, &mut res, rows, cols, skip, near),
        }
        // The plane as the next one sees it: values, missing ones at their
        // stand-ins.
        for i in 0..plane {
            x[i] = standing(
                use_diff,
                d[i],
                prev.get(i).copied(),
                skip.is_some_and(|mk| mk[i]),
            );
        }
        prev.clear();
        prev.extend_from_slice(&x);
    }
    enc.finish()
}

/// Codes one plane's signal `d` with predictor `KIND`; missing elements
/// are set to their prediction.
#[allow(clippy::too_many_arguments)]
fn code_plane<const KIND: u32>(
    enc: &mut RangeEncoder,
    m: &mut Models,
    d: &mut [i32],
    res: &mut [u32],
    rows: usize,
    cols: usize,
    skip: Option<&[bool]>,
    near: u32,
) {
    let bin = 2 * near as i32 + 1;
    for row in 0..rows {
        for col in 0..cols {
            let i = row * cols + col;
            let (pred, c) = predict::<KIND>(d, res, i, row, col, cols);
            if skip.is_some_and(|mk| mk[i]) {
                d[i] = pred;
                res[i] = 0;
                continue;
            }
            let mut r = d[i] - pred;
            if near > 0 {
                // Near-lossless: the error quantised to bins of 2·near + 1,
                // and the element as the decoder will see it.
                let q = (r.unsigned_abs() + near) / bin as u32;
                r = if r < 0 { -(q as i32) } else { q as i32 };
                d[i] = pred + r * bin;
            }
            let mag = r.unsigned_abs();
            enc.encode_bit(&mut m.zero[c], r != 0);
            if r == 0 {
                res[i] = 0;
                continue;
            }
            let sc = sign_context(res, i, row, col, cols);
            enc.encode_bit(&mut m.sign[sc], r < 0);
            res[i] = (mag << 1) | u32::from(r < 0);
            let v = mag - 1;
            let k = m.rice(c);
            let q = v >> k;
            let units = &mut m.unary[c];
            let mut j = 0u32;
            while j < q.min(UNARY_ESCAPE) {
                enc.encode_bit(&mut units[(j as usize).min(UNARY_MODELS - 1)], true);
                j += 1;
            }
            if q >= UNARY_ESCAPE {
                let len = 32 - v.leading_zeros();
                enc.encode_direct(len, 5);
                enc.encode_direct(v, len);
            } else {
                enc.encode_bit(&mut units[(q as usize).min(UNARY_MODELS - 1)], false);
                if k > 0 {
                    enc.encode_bit(&mut m.top[c], (v >> (k - 1)) & 1 == 1);
                    enc.encode_bits(v & ((1 << (k - 1)) - 1), k - 1);
                }
            }
            m.learn(c, v);
        }
    }
}

/// A segment to decode: its stream, its output and its mask.
type SegmentJob<'a> = (&'a [u8], &'a mut [f32], Option<&'a [bool]>);

/// Decodes what [`encode`] wrote for the same dims and mask; missing
/// elements come back as NaN.
pub(crate) fn decode(payload: &[u8], dims: &[usize], missing: Option<&[bool]>) -> Result<Vec<f32>> {
    let (planes, rows, cols) = geometry(dims);
    let plane = rows * cols;
    let n = planes * plane;
    let (&version, mut rest) = payload
        .split_first()
        .ok_or_else(|| Error::Truncated("integer residual stream".into()))?;
    if version > 1 {
        return Err(corrupt(&format!("unknown version {version}")));
    }
    let mut near = 0u32;
    if version == 1 {
        let (v, used) =
            crate::format::get_varint(rest).ok_or_else(|| corrupt("malformed near bound"))?;
        rest = &rest[used..];
        near = u32::try_from(v)
            .ok()
            .filter(|&v| (1..=MAX_NEAR).contains(&v))
            .ok_or_else(|| corrupt("near bound"))?;
    }
    let (s, used) =
        crate::format::get_varint(rest).ok_or_else(|| corrupt("malformed segment count"))?;
    rest = &rest[used..];
    let s = usize::try_from(s).map_err(|_| corrupt("segment count"))?;
    if s == 0 || s > MAX_SEGMENTS || s > planes.max(1) {
        return Err(corrupt(&format!("{s} segments for {planes} planes")));
    }
    let mut lens = Vec::with_capacity(s);
    for _ in 0..s - 1 {
        let (l, used) =
            crate::format::get_varint(rest).ok_or_else(|| corrupt("malformed stream length"))?;
        rest = &rest[used..];
        lens.push(usize::try_from(l).map_err(|_| corrupt("stream length"))?);
    }
    let mut streams = Vec::with_capacity(s);
    for &l in &lens {
        if l > rest.len() {
            return Err(Error::Truncated("integer residual segment".into()));
        }
        let (a, b) = rest.split_at(l);
        streams.push(a);
        rest = b;
    }
    streams.push(rest);
    let mut out = vec![0f32; n];
    let mut jobs: Vec<SegmentJob> = Vec::with_capacity(s);
    let mut tail: &mut [f32] = &mut out;
    for (j, st) in streams.into_iter().enumerate() {
        let r = plane_range(j, s, planes);
        let (a, b) = std::mem::take(&mut tail).split_at_mut((r.end - r.start) * plane);
        jobs.push((st, a, missing.map(|m| &m[r.start * plane..r.end * plane])));
        tail = b;
    }
    jobs.into_par_iter()
        .map(|(st, o, mk)| decode_segment(st, o, rows, cols, mk, near))
        .collect::<Result<Vec<()>>>()?;
    Ok(out)
}

fn decode_segment(
    stream: &[u8],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    missing: Option<&[bool]>,
    near: u32,
) -> Result<()> {
    let plane = rows * cols;
    let planes = out.len() / plane.max(1);
    let mut dec = RangeDecoder::new(stream);
    let mut m = Models::new();
    let mut prev: Vec<i32> = Vec::new();
    let mut d = vec![0i32; plane];
    let mut res = vec![0u32; plane];
    for p in 0..planes {
        let skip = missing.map(|mk| &mk[p * plane..(p + 1) * plane]);
        let mode = m.mode.decode(&mut dec);
        let use_diff = mode >= PREDICTORS;
        if use_diff && prev.is_empty() {
            return Err(corrupt("a first plane coded as a difference"));
        }
        match mode % PREDICTORS {
            P_PLANAR => {
                decode_plane::<P_PLANAR>(&mut dec, &mut m, &mut d, &mut res, rows, cols, skip, near)
            }
            P_LORENZO2 => decode_plane::<P_LORENZO2>(
                &mut dec, &mut m, &mut d, &mut res, rows, cols, skip, near,
            ),
            P_CUBIC => {
                decode_plane::<P_CUBIC>(&mut dec, &mut m, &mut d, &mut res, rows, cols, skip, near)
            }
            _ => decode_plane::<P_MED>(&mut dec, &mut m, &mut d, &mut res, rows, cols, skip, near),
        }?;
        if dec.overrun() {
            return Err(Error::Truncated("integer residual segment".into()));
        }
        let o = &mut out[p * plane..(p + 1) * plane];
        for i in 0..plane {
            let gone = skip.is_some_and(|mk| mk[i]);
            let x = standing(use_diff, d[i], prev.get(i).copied(), gone);
            o[i] = if gone {
                f32::NAN
            } else {
                if (x as f32).abs() > MAX_VALUE {
                    return Err(corrupt("a value out of range"));
                }
                x as f32
            };
            d[i] = x;
        }
        prev.clear();
        prev.extend_from_slice(&d);
    }
    Ok(())
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(format!("integer residual stream: {what}"))
}

/// Decodes one plane's signal into `d` with predictor `KIND`.
#[allow(clippy::too_many_arguments)]
fn decode_plane<const KIND: u32>(
    dec: &mut RangeDecoder,
    m: &mut Models,
    d: &mut [i32],
    res: &mut [u32],
    rows: usize,
    cols: usize,
    skip: Option<&[bool]>,
    near: u32,
) -> Result<()> {
    let bin = 2 * near as i64 + 1;
    for row in 0..rows {
        for col in 0..cols {
            let i = row * cols + col;
            let (pred, c) = predict::<KIND>(d, res, i, row, col, cols);
            if skip.is_some_and(|mk| mk[i]) || !dec.decode_bit(&mut m.zero[c]) {
                d[i] = pred;
                res[i] = 0;
                continue;
            }
            let sc = sign_context(res, i, row, col, cols);
            let neg = dec.decode_bit_select(&mut m.sign[sc]) == 1;
            let k = m.rice(c);
            let units = &mut m.unary[c];
            let mut q = 0u32;
            while q < UNARY_ESCAPE && dec.decode_bit(&mut units[(q as usize).min(UNARY_MODELS - 1)])
            {
                q += 1;
            }
            let v = if q >= UNARY_ESCAPE {
                let len = dec.decode_direct(5);
                dec.decode_direct(len)
            } else {
                if k > 0 {
                    let top = dec.decode_bit_select(&mut m.top[c]);
                    (q << k) | (top << (k - 1)) | dec.decode_bits(k - 1)
                } else {
                    q
                }
            };
            m.learn(c, v);
            let mag = v as i64 + 1;
            let value = pred as i64 + (if neg { -mag } else { mag }) * bin;
            if value.abs() > VALUE_LIMIT as i64 {
                return Err(corrupt("a value out of range"));
            }
            d[i] = value as i32;
            res[i] = ((mag as u32) << 1) | u32::from(neg);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(s: &mut u64) -> u64 {
        *s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *s >> 33
    }

    /// A smooth field with noise, as integers (optionally shifted far from 0).
    fn field(dims: &[usize], noise: u64, shift: f32, seed: u64) -> Vec<f32> {
        let n: usize = dims.iter().product();
        let cols = *dims.last().unwrap();
        let mut s = seed;
        (0..n)
            .map(|i| {
                let (r, c) = ((i / cols) as f32, (i % cols) as f32);
                let smooth = 300.0 * (r * 0.05).sin() * (c * 0.07).cos() + (i / 997) as f32;
                let jitter = if noise > 0 {
                    (lcg(&mut s) % (2 * noise + 1)) as f32 - noise as f32
                } else {
                    0.0
                };
                (smooth + jitter + shift).round()
            })
            .collect()
    }

    fn round_trip(x: &[f32], dims: &[usize], mask: Option<&[bool]>) -> usize {
        assert!(applies(x, mask, 0.45));
        let bytes = encode(x, dims, mask, 0);
        let back = decode(&bytes, dims, mask).expect("decodes");
        assert_eq!(back.len(), x.len());
        for i in 0..x.len() {
            if mask.is_some_and(|m| m[i]) {
                assert!(
                    back[i].is_nan(),
                    "missing element {i} decoded as {}",
                    back[i]
                );
            } else {
                // Bit for bit, but for the sign of a zero (−0 comes back
                // as +0, an error of 0).
                assert_eq!(
                    back[i].to_bits(),
                    (x[i] + 0.0).to_bits(),
                    "element {i} of {dims:?}"
                );
            }
        }
        bytes.len()
    }

    #[test]
    fn integers_come_back_exactly_in_every_shape() {
        for dims in [
            vec![1usize],
            vec![7],
            vec![1, 1],
            vec![5, 1],
            vec![1, 9],
            vec![13, 17],
            vec![3, 13, 17],
            vec![2, 3, 13, 17],
            vec![4, 1, 2, 2],
        ] {
            for (noise, shift) in [(0, 0.0), (3, 0.0), (40, -1000.0), (2, 16_000_000.0)] {
                let x = field(&dims, noise, shift, 7);
                round_trip(&x, &dims, None);
            }
        }
        // The extremes of the range, and alternating signs.
        let m = MAX_VALUE;
        let x: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { m } else { -m }).collect();
        round_trip(&x, &[4, 16], None);
        let x: Vec<f32> = (0..64)
            .map(|i| if i % 3 == 0 { 0.0 } else { -0.0 })
            .collect();
        round_trip(&x, &[64], None);
    }

    #[test]
    fn missing_elements_are_skipped_and_decode_as_nan() {
        let dims = [3, 20, 30];
        let mut x = field(&dims, 5, 0.0, 3);
        let mut s = 9u64;
        let mask: Vec<bool> = (0..x.len())
            .map(|_| lcg(&mut s).is_multiple_of(4))
            .collect();
        for (v, &m) in x.iter_mut().zip(&mask) {
            if m {
                *v = f32::NAN;
            }
        }
        round_trip(&x, &dims, Some(&mask));
        // All missing but one.
        let mut mask = vec![true; x.len()];
        mask[777] = false;
        round_trip(&x, &dims, Some(&mask));
    }

    #[test]
    fn each_predictor_is_chosen_where_it_fits() {
        // Planes that drift (the difference mode), smooth planes and noisy
        // ones: every mode round trips, and smooth data costs few bits.
        let dims = [6, 40, 50];
        let x: Vec<f32> = (0..6 * 40 * 50)
            .map(|i| {
                let (p, r, c) = (i / 2000, (i / 50) % 40, i % 50);
                (0.5 * (r * r) as f32 + 3.0 * c as f32 + 2.0 * p as f32).round()
            })
            .collect();
        let smooth = round_trip(&x, &dims, None);
        assert!(smooth * 8 < x.len(), "{smooth} bytes for a quadric");
        let noisy = field(&dims, 50, 0.0, 1);
        let rough = round_trip(&noisy, &dims, None);
        assert!(rough > 4 * smooth);
    }

    #[test]
    fn large_blocks_are_cut_into_segments_that_decode_alike() {
        let dims = [8, 100, 360];
        let x = field(&dims, 6, 0.0, 5);
        let bytes = encode(&x, &dims, None, 0);
        let (s, _) = crate::format::get_varint(&bytes[1..]).expect("count");
        assert_eq!(s as usize, segments_for(8, x.len()));
        assert!(s >= 2);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let back1 = one
            .install(|| decode(&bytes, &dims, None))
            .expect("decodes");
        let back = decode(&bytes, &dims, None).expect("decodes");
        assert_eq!(back1, back);
        assert_eq!(back, x);
        // And encoding on one thread writes the same bytes.
        assert_eq!(one.install(|| encode(&x, &dims, None, 0)), bytes);
    }

    #[test]
    fn near_lossless_values_stay_within_near() {
        for (dims, near) in [
            (vec![3usize, 30, 40], 1u32),
            (vec![2, 50, 60], 5),
            (vec![40], 1000),
            (vec![1, 1], 2),
        ] {
            let x = field(&dims, 30, -200.0, 13);
            let mut s = 5u64;
            let mask: Vec<bool> = (0..x.len())
                .map(|_| lcg(&mut s).is_multiple_of(7))
                .collect();
            let lossless = encode(&x, &dims, Some(&mask), 0).len();
            let bytes = encode(&x, &dims, Some(&mask), near);
            let back = decode(&bytes, &dims, Some(&mask)).expect("decodes");
            for i in 0..x.len() {
                if mask[i] {
                    assert!(back[i].is_nan());
                } else {
                    assert!(
                        (back[i] - x[i]).abs() <= near as f32,
                        "{i}: {} vs {}",
                        back[i],
                        x[i]
                    );
                    assert_eq!(back[i].fract(), 0.0);
                }
            }
            assert!(
                x.len() < 100 || bytes.len() < lossless,
                "{near}: {} vs {lossless}",
                bytes.len()
            );
        }
        // A near bound out of range is corrupt.
        let x = field(&[4, 20, 20], 3, 0.0, 1);
        let mut bytes = encode(&x, &[4, 20, 20], None, 3);
        assert_eq!(&bytes[..2], &[1, 3]);
        bytes[1] = 0;
        assert!(decode(&bytes, &[4, 20, 20], None).is_err());
    }

    #[test]
    fn the_rice_parameter_is_the_jpeg_ls_one() {
        let mut m = Models::new();
        for (a, n) in [
            (0u32, 1u32),
            (1, 1),
            (2, 1),
            (3, 1),
            (5, 2),
            (64, 63),
            (1000, 7),
            (u32::MAX, 1),
            (1 << 20, 32),
        ] {
            m.sum[0] = a;
            m.count[0] = n;
            let mut k = 0;
            while k < MAX_RICE && ((n as u64) << k) < a as u64 {
                k += 1;
            }
            assert_eq!(m.rice(0), k, "sum {a} count {n}");
        }
    }

    #[test]
    fn random_streams_never_panic_and_stay_in_range() {
        // Random bytes pick random plane modes (all four predictors, plane
        // and difference) and random values up to the limits: in a debug
        // build any arithmetic overflow would panic here (review of 2.7:
        // the cubic predictor over unclamped stand-ins could).
        let mut s = 77u64;
        for round in 0..400 {
            let dims = [3usize, 7, 9];
            let mut b = vec![(round % 2) as u8];
            if round % 2 == 1 {
                b.push(1 + (round % 5) as u8);
            }
            b.push(1);
            b.extend((0..200).map(|_| lcg(&mut s) as u8));
            let mask: Vec<bool> = (0..3 * 7 * 9).map(|i| (i * 7 + round) % 5 == 0).collect();
            for m in [None, Some(mask.as_slice())] {
                if let Ok(v) = decode(&b, &dims, m) {
                    assert!(v.iter().all(|x| x.is_nan() || x.abs() <= MAX_VALUE));
                }
            }
        }
    }

    #[test]
    fn what_does_not_apply_is_refused() {
        assert!(!applies(&[1.0, 2.5], None, 0.45));
        assert!(!applies(&[1.0, 2.0], None, 0.5));
        assert!(!applies(&[1.0, MAX_VALUE * 2.0], None, 0.45));
        assert!(!applies(&[1.0, f32::NAN], None, 0.45));
        assert!(!applies(&[1.0, f32::INFINITY], None, 0.45));
        assert!(applies(&[1.0, f32::NAN], Some(&[false, true]), 0.45));
    }

    #[test]
    fn corrupt_and_truncated_streams_fail_cleanly() {
        let dims = [3, 30, 40];
        let x = field(&dims, 8, 0.0, 11);
        let bytes = encode(&x, &dims, None, 0);
        for cut in [0, 1, 2, bytes.len() / 3, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], &dims, None).is_err(), "cut at {cut}");
        }
        // Flipped bytes: an error or some values, never a panic.
        let mut s = 1u64;
        for _ in 0..300 {
            let mut b = bytes.clone();
            let at = (lcg(&mut s) as usize) % b.len();
            b[at] ^= 1 << (lcg(&mut s) % 8);
            let _ = decode(&b, &dims, None);
        }
        // Bad headers.
        assert!(decode(&[1, 1], &dims, None).is_err());
        assert!(decode(&[0, 0], &dims, None).is_err());
        assert!(decode(&[0, 9], &dims, None).is_err());
        // Streams of all ones decode to huge values: refused.
        let ones = vec![0xffu8; 200];
        let mut b = vec![0u8, 1];
        b.extend_from_slice(&ones);
        assert!(decode(&b, &dims, None).is_err());
    }
}
