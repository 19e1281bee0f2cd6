//! Subband layout and context-modelled coding of quantisation indices.
//!
//! Coefficients are coded subband by subband, coarsest first, each in raster
//! order. Every index is a zero flag, then a sign, a "magnitude > 1" flag and
//! an adaptive integer for the rest. The models are chosen from the indices
//! already coded around it: left and above in the same subband, the previous
//! sample along the two outer axes, the two diagonal neighbours above, and
//! the parent (same orientation, next coarser level). The approximation band
//! is coded as prediction residuals.
//!
//! Big subbands get their own range-coder stream so the decoder can run them
//! in parallel; the small ones share one stream. Which band goes where only
//! depends on the dims, so the split does not depend on the thread count.

use super::transform::Plan;
use crate::entropy::{BitModel, BitReader, BitWriter, RangeDecoder, RangeEncoder, UintModel};
use rayon::prelude::*;

/// A subband with at least this many coefficients gets its own stream.
const OWN_STREAM: usize = 1 << 15;
/// Largest magnitude an index may have.
pub(crate) const MAX_INDEX: i64 = 1 << 30;

/// One subband: a box in the Mallat layout.
#[derive(Debug, Clone)]
pub(crate) struct Band {
    pub start: [usize; 4],
    pub dims: [usize; 4],
    /// Level (0 = finest); the approximation band has `levels`.
    pub level: usize,
    /// Index of the parent band.
    pub parent: Option<usize>,
    /// Per axis: 1 when the parent band is half as long along it.
    pub pshift: [u32; 4],
    /// Offset in the band-major coefficient vector.
    pub offset: usize,
    pub len: usize,
    pub own: bool,
    /// Decoding group: bands of one group are decoded together (the own
    /// ones in parallel) and only have parents in earlier groups.
    pub group: usize,
}

/// All subbands of a plan, coarsest first.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub bands: Vec<Band>,
    pub dims: [usize; 4],
    pub total: usize,
    /// Format 2.3: the coefficient models start at [`super::priors`]'
    /// probabilities instead of 1/2.
    pub primed: bool,
    /// Format 2.5: a flag per detail band says it is all zero, and such a
    /// band codes nothing else.
    pub zmap: bool,
}

impl Layout {
    pub fn new(plan: &Plan) -> Self {
        match &plan.packet {
            None => Self::dyadic(plan),
            Some(p) => Self::packet(&Self::dyadic(&p.0), &Self::dyadic(&p.1)),
        }
    }

    /// The products of the outer and inner groups' bands (packet plan), in
    /// outer order, each with the inner bands coarsest first. A band with
    /// inner detail has the same outer band at the next coarser inner level
    /// as parent; an inner approximation band has the next coarser outer
    /// band (inner approximation) as parent.
    fn packet(outer: &Layout, inner: &Layout) -> Self {
        let ni = inner.bands.len();
        let ki = inner.bands[0].level;
        let mut bands: Vec<Band> = Vec::with_capacity(outer.bands.len() * ni);
        let mut offset = 0;
        for (ia, a) in outer.bands.iter().enumerate() {
            for (ib, b) in inner.bands.iter().enumerate() {
                let mut start = a.start;
                let mut dims = a.dims;
                start[2..].copy_from_slice(&b.start[2..]);
                dims[2..].copy_from_slice(&b.dims[2..]);
                let (parent, pshift) = if ib > 0 {
                    (b.parent.map(|p| ia * ni + p), b.pshift)
                } else {
                    (a.parent.map(|p| p * ni), a.pshift)
                };
                let level = if ib > 0 {
                    b.level
                } else if ia > 0 {
                    a.level
                } else {
                    ki
                };
                let len: usize = dims.iter().product();
                bands.push(Band {
                    start,
                    dims,
                    level,
                    parent,
                    pshift,
                    offset,
                    len,
                    own: len >= OWN_STREAM,
                    group: ia * (ki + 1) + (ki - b.level),
                });
                offset += len;
            }
        }
        Self {
            bands,
            dims: outer.dims,
            total: offset,
            primed: false,
            zmap: false,
        }
    }

    fn dyadic(plan: &Plan) -> Self {
        let k_max = plan.levels();
        let mut bands = Vec::new();
        let ll = plan.region[k_max];
        let len: usize = ll.iter().product();
        bands.push(Band {
            start: [0; 4],
            dims: ll,
            level: k_max,
            parent: None,
            pshift: [0; 4],
            offset: 0,
            len,
            own: false,
            group: k_max,
        });
        let mut offset = len;
        // (level, mask) -> band index, to find parents.
        let mut index: Vec<[Option<usize>; 16]> = vec![[None; 16]; k_max + 1];
        for k in (0..k_max).rev() {
            let t = plan.axes[k];
            let (rk, rk1) = (plan.region[k], plan.region[k + 1]);
            #[allow(clippy::needless_range_loop)]
            for m in 1..16usize {
                if (0..4).any(|a| m >> a & 1 == 1 && !t[a]) {
                    continue;
                }
                let mut start = [0; 4];
                let mut dims = [0; 4];
                for a in 0..4 {
                    if m >> a & 1 == 1 {
                        start[a] = rk1[a];
                        dims[a] = rk[a] - rk1[a];
                    } else {
                        dims[a] = rk1[a];
                    }
                }
                let len: usize = dims.iter().product();
                let mut parent = None;
                let mut pshift = [0; 4];
                if k + 1 < k_max {
                    parent = index[k + 1][m];
                    pshift = plan.axes[k + 1].map(|t| t as u32);
                }
                index[k][m] = Some(bands.len());
                bands.push(Band {
                    start,
                    dims,
                    level: k,
                    parent,
                    pshift,
                    offset,
                    len,
                    own: len >= OWN_STREAM,
                    group: k_max + k_max - k,
                });
                offset += len;
            }
        }
        Self {
            bands,
            dims: plan.dims,
            total: offset,
            primed: false,
            zmap: false,
        }
    }

    /// The layout of `plan`, with primed models when `primed` (format 2.3).
    pub fn with_models(plan: &Plan, primed: bool) -> Self {
        Self {
            primed,
            ..Self::new(plan)
        }
    }

    /// This layout with a zero map (format 2.5) when `zmap`.
    pub fn with_zero_map(self, zmap: bool) -> Self {
        Self { zmap, ..self }
    }

    /// Copies the coefficients of the Mallat-layout array into band order.
    pub fn gather(&self, data: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.total];
        for b in &self.bands {
            let dst = &mut out[b.offset..b.offset + b.len];
            for_rows(b, self.dims, |src, o| {
                dst[o..o + b.dims[3]].copy_from_slice(&data[src..src + b.dims[3]])
            });
        }
        out
    }

    /// Writes `f(band, coefficient)` into the Mallat-layout array, plane by
    /// plane (the last two axes) in parallel: each plane gathers the rows
    /// of the bands that cross it, so the result does not depend on the
    /// thread count.
    pub fn scatter(&self, flat: &[i32], data: &mut [f64], f: impl Fn(usize, i32) -> f64 + Sync) {
        let d = self.dims;
        let plane = d[2] * d[3];
        if plane == 0 {
            return;
        }
        data.par_chunks_mut(plane).enumerate().for_each(|(p, out)| {
            let (i0, i1) = (p / d[1], p % d[1]);
            for (bi, b) in self.bands.iter().enumerate() {
                let j0 = i0.wrapping_sub(b.start[0]);
                let j1 = i1.wrapping_sub(b.start[1]);
                if j0 >= b.dims[0] || j1 >= b.dims[1] {
                    continue;
                }
                let row = b.dims[3];
                let base = b.offset + (j0 * b.dims[1] + j1) * b.dims[2] * row;
                for j2 in 0..b.dims[2] {
                    let src = &flat[base + j2 * row..base + (j2 + 1) * row];
                    let at = (b.start[2] + j2) * d[3] + b.start[3];
                    for (o, &q) in out[at..at + row].iter_mut().zip(src) {
                        *o = f(bi, q);
                    }
                }
            }
        });
    }
}

/// Calls `f(position of the row in the full array, offset in the band)` for
/// every row of a band.
fn for_rows(b: &Band, dims: [usize; 4], mut f: impl FnMut(usize, usize)) {
    let (s0, s1, s2) = (dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3]);
    let mut o = 0;
    for i0 in 0..b.dims[0] {
        for i1 in 0..b.dims[1] {
            for i2 in 0..b.dims[2] {
                let p = (b.start[0] + i0) * s0
                    + (b.start[1] + i1) * s1
                    + (b.start[2] + i2) * s2
                    + b.start[3];
                f(p, o);
                o += b.dims[3];
            }
        }
    }
}

/// Encoder or decoder behind one interface, so both run the same code.
pub(crate) trait Coder {
    fn bit(&mut self, m: &mut BitModel, b: bool) -> bool;
    /// [`Coder::bit`] for a decision the caller does not branch on (a sign):
    /// the decoder then runs without a branch.
    fn select(&mut self, m: &mut BitModel, b: bool) -> bool;
    fn uint(&mut self, m: &mut UintModel, v: u32) -> u32;
}

impl Coder for RangeEncoder {
    #[inline]
    fn bit(&mut self, m: &mut BitModel, b: bool) -> bool {
        self.encode_bit(m, b);
        b
    }
    #[inline]
    fn select(&mut self, m: &mut BitModel, b: bool) -> bool {
        self.encode_bit(m, b);
        b
    }
    #[inline]
    fn uint(&mut self, m: &mut UintModel, v: u32) -> u32 {
        m.encode(self, v);
        v
    }
}

impl Coder for RangeDecoder<'_> {
    #[inline]
    fn bit(&mut self, m: &mut BitModel, _: bool) -> bool {
        self.decode_bit(m)
    }
    #[inline]
    fn select(&mut self, m: &mut BitModel, _: bool) -> bool {
        self.decode_bit_select(m) != 0
    }
    #[inline]
    fn uint(&mut self, m: &mut UintModel, _: u32) -> u32 {
        m.decode(self)
    }
}

const ZBUCKETS: usize = 10;
const MAGBUCKETS: usize = 14;

/// The adaptive models of one stream.
#[derive(Clone)]
pub(crate) struct Models {
    zero: Vec<BitModel>,
    sign: [BitModel; 9],
    gt1: Vec<BitModel>,
    mag: Vec<UintModel>,
    ll_zero: BitModel,
    ll_sign: BitModel,
    ll_mag: Vec<UintModel>,
    band_zero: [BitModel; 3],
}

impl Models {
    /// The models of a stream of `layout`: primed (format 2.3) or all at 1/2.
    pub fn for_layout(layout: &Layout) -> Self {
        if layout.primed {
            Self::primed()
        } else {
            Self::new()
        }
    }

    /// Models that start at the probabilities of [`super::priors`].
    pub fn primed() -> Self {
        use super::priors::{GT1, LENGTH, ZERO};
        Self {
            zero: ZERO.iter().map(|&p| BitModel::with_p0(p)).collect(),
            gt1: GT1.iter().map(|&p| BitModel::with_p0(p)).collect(),
            mag: LENGTH.iter().map(UintModel::with_length_p0).collect(),
            ..Self::new()
        }
    }

    pub fn new() -> Self {
        Self {
            zero: vec![BitModel::new(); 3 * 3 * ZBUCKETS],
            sign: [BitModel::new(); 9],
            gt1: vec![BitModel::new(); 3 * 6],
            mag: vec![UintModel::new(); MAGBUCKETS],
            ll_zero: BitModel::new(),
            ll_sign: BitModel::new(),
            ll_mag: vec![UintModel::new(); MAGBUCKETS],
            // The zero map's flags: a band whose parent is all zero is
            // almost always all zero too.
            band_zero: [BitModel::new(), BitModel::new(), BitModel::with_p0(8192)],
        }
    }
}

#[inline]
fn zbucket(s: u32) -> usize {
    const T: [u8; 16] = [0, 1, 2, 3, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 8, 8];
    if s < 16 {
        T[s as usize] as usize
    } else {
        9
    }
}

#[inline]
fn log_bucket(v: u32, cap: usize) -> usize {
    ((32 - v.leading_zeros()) as usize).min(cap - 1)
}

#[inline]
fn sgn(q: i32) -> usize {
    if q > 0 {
        1
    } else if q < 0 {
        2
    } else {
        0
    }
}

/// Codes a detail band, or the rows of it from row `r0` on (a row: the
/// last axis). `q` is those rows' indices (input for the encoder, output
/// for the decoder), `parent` the parent band's indices.
pub(crate) fn code_band<C: Coder>(
    c: &mut C,
    m: &mut Models,
    b: &Band,
    pb: Option<&Band>,
    q: &mut [i32],
    parent: &[i32],
    r0: usize,
) {
    let d = b.dims;
    let lc = b.level.min(2);
    let (s0, s1, s2) = (d[1] * d[2] * d[3], d[2] * d[3], d[3]);
    // Parent column per column of the band.
    let pcol: Vec<usize> = match pb {
        Some(p) => (0..d[3])
            .map(|i| (i >> b.pshift[3]).min(p.dims[3] - 1))
            .collect(),
        None => Vec::new(),
    };
    let (d1, d2) = (d[1], d[2]);
    let rows = q.len() / s2.max(1);
    let (mut i0, mut i1, mut i2) = (r0 / (d1 * d2), (r0 / d2) % d1, r0 % d2);
    for local in 0..rows {
        let prow: Option<&[i32]> = pb.map(|p| {
            let j0 = (i0 >> b.pshift[0]).min(p.dims[0] - 1);
            let j1 = (i1 >> b.pshift[1]).min(p.dims[1] - 1);
            let j2 = (i2 >> b.pshift[2]).min(p.dims[2] - 1);
            let o = ((j0 * p.dims[1] + j1) * p.dims[2] + j2) * p.dims[3];
            &parent[o..o + p.dims[3]]
        });
        let base = local * s2;
        let (done, cur) = q.split_at_mut(base);
        let cur = &mut cur[..s2];
        // Neighbour rows exist only inside this segment (rows from `r0`):
        // a segment boundary is an edge.
        let up: Option<&[i32]> = (i2 > 0 && local >= 1).then(|| &done[base - s2..base]);
        let o1: Option<&[i32]> = (i1 > 0 && local >= d2).then(|| &done[base - s1..base - s1 + s2]);
        let o0: Option<&[i32]> =
            (i0 > 0 && local >= d1 * d2).then(|| &done[base - s0..base - s0 + s2]);
        let mut left = 0i32;
        for i3 in 0..s2 {
            let l = left.unsigned_abs();
            let (u, ul, ur) = match up {
                Some(r) => (
                    r[i3].unsigned_abs(),
                    if i3 > 0 { r[i3 - 1].unsigned_abs() } else { 0 },
                    if i3 + 1 < s2 {
                        r[i3 + 1].unsigned_abs()
                    } else {
                        0
                    },
                ),
                None => (0, 0, 0),
            };
            let a1 = o1.map_or(0, |r| r[i3].unsigned_abs());
            let a0 = o0.map_or(0, |r| r[i3].unsigned_abs());
            let p = match prow {
                Some(r) => r[pcol[i3]].unsigned_abs(),
                None => 0,
            };
            let near = 2 * (l.min(3) + u.min(3)) + ul.min(2) + ur.min(2) + a1.min(2) + a0.min(2);
            let pb_ = (p.min(2)) as usize;
            let zctx = (lc * 3 + pb_) * ZBUCKETS + zbucket(near);
            let v = cur[i3];
            let nz = c.bit(&mut m.zero[zctx], v != 0);
            let val = if nz {
                let sctx = 3 * sgn(left) + up.map_or(0, |r| sgn(r[i3]));
                let neg = c.select(&mut m.sign[sctx], v < 0);
                let mag_est = (l as u64
                    + u as u64
                    + p as u64
                    + (ul as u64 + ur as u64 + a1 as u64 + a0 as u64) / 2)
                    .min(u32::MAX as u64) as u32;
                let g = lc * 6 + (mag_est.min(5)) as usize;
                let big = c.bit(&mut m.gt1[g], v.unsigned_abs() > 1);
                let mag = if big {
                    let mb = log_bucket(mag_est, MAGBUCKETS);
                    let r = c.uint(&mut m.mag[mb], v.unsigned_abs().wrapping_sub(2));
                    (r as i64 + 2).min(MAX_INDEX) as i32
                } else {
                    1
                };
                if neg {
                    -mag
                } else {
                    mag
                }
            } else {
                0
            };
            cur[i3] = val;
            left = val;
        }
        i2 += 1;
        if i2 == d2 {
            i2 = 0;
            i1 += 1;
            if i1 == d1 {
                i1 = 0;
                i0 += 1;
            }
        }
    }
}

/// Codes the approximation band as residuals of a planar prediction.
pub(crate) fn code_ll<C: Coder>(c: &mut C, m: &mut Models, b: &Band, q: &mut [i32]) {
    let d = b.dims;
    let (s0, s1, s2) = (d[1] * d[2] * d[3], d[2] * d[3], d[3]);
    let mut prev_res = 0u32;
    for i in 0..q.len() {
        let i3 = i % s2;
        let i2 = (i / s2) % d[2];
        let i1 = (i / s1) % d[1];
        let pred: i64 = if i3 > 0 && i2 > 0 {
            let (l, u, ul) = (q[i - 1] as i64, q[i - s2] as i64, q[i - s2 - 1] as i64);
            // Median edge detector (LOCO-I).
            if ul >= l.max(u) {
                l.min(u)
            } else if ul <= l.min(u) {
                l.max(u)
            } else {
                l + u - ul
            }
        } else if i3 > 0 {
            q[i - 1] as i64
        } else if i2 > 0 {
            q[i - s2] as i64
        } else if i1 > 0 {
            q[i - s1] as i64
        } else if i >= s0 {
            q[i - s0] as i64
        } else {
            0
        };
        let v = q[i] as i64 - pred;
        let nz = c.bit(&mut m.ll_zero, v != 0);
        let res = if nz {
            let neg = c.select(&mut m.ll_sign, v < 0);
            let mb = log_bucket(prev_res, MAGBUCKETS);
            let mag =
                c.uint(&mut m.ll_mag[mb], (v.unsigned_abs().wrapping_sub(1)) as u32) as i64 + 1;
            if neg {
                -mag
            } else {
                mag
            }
        } else {
            0
        };
        prev_res = res.unsigned_abs().min(u32::MAX as u64) as u32;
        q[i] = (pred + res).clamp(-MAX_INDEX, MAX_INDEX) as i32;
    }
}

/// Codes the zero map of a [`Layout::zmap`] layout: per detail band, whether
/// all its indices are zero (read from `q` when encoding). Returns a flag
/// per band (the approximation band's always false); all false without a map.
pub(crate) fn code_zero_map<C: Coder>(
    c: &mut C,
    m: &mut Models,
    layout: &Layout,
    q: Option<&[i32]>,
) -> Vec<bool> {
    let mut zero = vec![false; layout.bands.len()];
    if !layout.zmap {
        return zero;
    }
    for (bi, b) in layout.bands.iter().enumerate().skip(1) {
        let is = q.is_some_and(|q| band_is_zero(b, q));
        let ctx = match b.parent {
            None | Some(0) => 0,
            Some(p) => 1 + zero[p] as usize,
        };
        zero[bi] = c.bit(&mut m.band_zero[ctx], is);
    }
    zero
}

/// Whether band `b` holds only zeros in `q` (all indices, band order).
fn band_is_zero(b: &Band, q: &[i32]) -> bool {
    q[b.offset..b.offset + b.len].iter().all(|&v| v == 0)
}

/// Whether some detail band of `layout` holds only zeros in `q`.
pub(crate) fn any_zero_band(layout: &Layout, q: &[i32]) -> bool {
    layout.bands.iter().skip(1).any(|b| band_is_zero(b, q))
}

/// Encodes all indices (band order). Returns the shared stream and one
/// stream per own band, in band order.
pub(crate) fn encode_all(layout: &Layout, q: &[i32]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut shared = RangeEncoder::new();
    let mut models = Models::for_layout(layout);
    let mut scratch = q.to_vec();
    let ll = &layout.bands[0];
    code_ll(&mut shared, &mut models, ll, &mut scratch[..ll.len]);
    let zero = code_zero_map(&mut shared, &mut models, layout, Some(q));
    let mut own_jobs = Vec::new();
    for (bi, b) in layout.bands.iter().enumerate().skip(1) {
        if b.own {
            own_jobs.push(bi);
            continue;
        }
        if zero[bi] {
            continue;
        }
        let pb = b.parent.map(|p| &layout.bands[p]);
        let parent: &[i32] = pb.map_or(&[], |p| &q[p.offset..p.offset + p.len]);
        let mut cur = q[b.offset..b.offset + b.len].to_vec();
        code_band(&mut shared, &mut models, b, pb, &mut cur, parent, 0);
    }
    let own: Vec<Vec<u8>> = own_jobs
        .par_iter()
        .map(|&bi| {
            if zero[bi] {
                return Vec::new();
            }
            let b = &layout.bands[bi];
            let pb = b.parent.map(|p| &layout.bands[p]);
            let parent: &[i32] = pb.map_or(&[], |p| &q[p.offset..p.offset + p.len]);
            let mut cur = q[b.offset..b.offset + b.len].to_vec();
            let mut enc = RangeEncoder::new();
            let mut m = Models::for_layout(layout);
            code_band(&mut enc, &mut m, b, pb, &mut cur, parent, 0);
            enc.finish()
        })
        .collect();
    (shared.finish(), own)
}

/// Decodes all indices. `own` holds the own-band streams in band order.
/// Returns `None` when a stream ends early.
pub(crate) fn decode_all(layout: &Layout, shared: &[u8], own: &[&[u8]]) -> Option<Vec<i32>> {
    let mut q = vec![0i32; layout.total];
    let mut dec = RangeDecoder::new(shared);
    let mut models = Models::for_layout(layout);
    let ll = &layout.bands[0];
    code_ll(&mut dec, &mut models, ll, &mut q[..ll.len]);
    let zero = code_zero_map(&mut dec, &mut models, layout, None);
    let mut own_iter = 0usize;
    let mut bi = 1;
    let mut ok = true;
    while bi < layout.bands.len() {
        let group = layout.bands[bi].group;
        let end = layout.bands[bi..]
            .iter()
            .position(|b| b.group != group)
            .map_or(layout.bands.len(), |e| bi + e);
        let lo = layout.bands[bi].offset;
        let (coarser, this) = q.split_at_mut(lo);
        let coarser: &[i32] = coarser;
        // Shared bands of this level, in order.
        for (j, b) in layout.bands[bi..end].iter().enumerate() {
            if b.own || zero[bi + j] {
                continue;
            }
            let pb = b.parent.map(|p| &layout.bands[p]);
            let parent: &[i32] = pb.map_or(&[], |p| &coarser[p.offset..p.offset + p.len]);
            code_band(
                &mut dec,
                &mut models,
                b,
                pb,
                &mut this[b.offset - lo..b.offset - lo + b.len],
                parent,
                0,
            );
        }
        // Own bands of this level, in parallel.
        let mut jobs: Vec<(&Band, &[u8], &mut [i32])> = Vec::new();
        let mut rest: &mut [i32] = this;
        let mut at = lo;
        for (j, b) in layout.bands[bi..end].iter().enumerate() {
            let (_, tail) = rest.split_at_mut(b.offset - at);
            let (mine, tail) = tail.split_at_mut(b.len);
            rest = tail;
            at = b.offset + b.len;
            if b.own {
                let bytes = own.get(own_iter).copied().unwrap_or(&[]);
                if !zero[bi + j] {
                    jobs.push((b, bytes, mine));
                } else {
                    // An all-zero band has an empty stream.
                    ok &= bytes.is_empty();
                }
                own_iter += 1;
            }
        }
        ok &= decode_own(layout, coarser, jobs);
        bi = end;
    }
    ok &= !dec.overrun();
    ok.then_some(q)
}

/// Decodes own-stream bands in parallel: each job is a band, its stream
/// and its indices; `coarser` holds every band before them. `false` when a
/// stream ends early.
fn decode_own(layout: &Layout, coarser: &[i32], jobs: Vec<(&Band, &[u8], &mut [i32])>) -> bool {
    jobs.into_par_iter()
        .map(|(b, bytes, out)| {
            let pb = b.parent.map(|p| &layout.bands[p]);
            let parent: &[i32] = pb.map_or(&[], |p| &coarser[p.offset..p.offset + p.len]);
            let mut d = RangeDecoder::new(bytes);
            let mut m = Models::for_layout(layout);
            code_band(&mut d, &mut m, b, pb, out, parent, 0);
            !d.overrun()
        })
        .collect::<Vec<bool>>()
        .iter()
        .all(|&r| r)
}

/// Number of own-stream bands.
pub(crate) fn own_count(layout: &Layout) -> usize {
    layout.bands.iter().filter(|b| b.own).count()
}

/// The index of the last band the shared stream must be decoded up to for
/// the bands `need` (0: the approximation band only).
fn last_shared(layout: &Layout, need: &[bool]) -> usize {
    layout
        .bands
        .iter()
        .enumerate()
        .filter(|(i, b)| !b.own && need.get(*i).copied().unwrap_or(false))
        .map(|(i, _)| i)
        .max()
        .unwrap_or(0)
}

/// Decodes the shared stream's bands up to the last one in `need` into `q`
/// (band order). Shared bands never have an own band as parent (a parent
/// is never larger than its child), so this needs nothing else. `false`
/// when the stream ends early.
fn decode_shared(
    layout: &Layout,
    shared: &[u8],
    need: &[bool],
    q: &mut [i32],
) -> (bool, Vec<bool>) {
    let mut dec = RangeDecoder::new(shared);
    let mut models = Models::for_layout(layout);
    let ll = &layout.bands[0];
    code_ll(&mut dec, &mut models, ll, &mut q[..ll.len]);
    let zero = code_zero_map(&mut dec, &mut models, layout, None);
    let last = last_shared(layout, need);
    for (bi, b) in layout.bands.iter().enumerate().take(last + 1).skip(1) {
        if b.own || zero[bi] {
            continue;
        }
        let (coarser, this) = q.split_at_mut(b.offset);
        let pb = b.parent.map(|p| &layout.bands[p]);
        let parent: &[i32] = pb.map_or(&[], |p| &coarser[p.offset..p.offset + p.len]);
        code_band(&mut dec, &mut models, b, pb, &mut this[..b.len], parent, 0);
    }
    (!dec.overrun(), zero)
}

/// Whether `shared`, a prefix of the shared stream, holds every byte the
/// bands `need` take from it (then decoding them from any longer prefix
/// gives the same indices).
pub(crate) fn shared_prefix_suffices(layout: &Layout, shared: &[u8], need: &[bool]) -> bool {
    let mut q = vec![0i32; layout.total];
    decode_shared(layout, shared, need, &mut q).0
}

/// How many coefficients the shared stream codes, and how many of them lie
/// in the bands up to the last one `need` takes from it.
pub(crate) fn shared_share(layout: &Layout, need: &[bool]) -> (usize, usize) {
    let last = last_shared(layout, need);
    let mut all = 0;
    let mut used = 0;
    for (i, b) in layout.bands.iter().enumerate() {
        if !b.own {
            all += b.len;
            if i <= last {
                used += b.len;
            }
        }
    }
    (all, used)
}

/// Decodes only the bands with `need[band]` set (a set that holds every
/// needed band's parent), the others left at zero: the coarse-to-fine
/// preview. Shared bands are decoded in stream order up to the last needed
/// one (they share one adaptive stream), then the unneeded ones among them
/// are zeroed; an unneeded own band's stream is never read, so its slice
/// may be empty. Returns `None` when a stream that is read ends early.
pub(crate) fn decode_some(
    layout: &Layout,
    shared: &[u8],
    own: &[&[u8]],
    need: &[bool],
) -> Option<Vec<i32>> {
    let mut q = vec![0i32; layout.total];
    let (mut ok, zero) = decode_shared(layout, shared, need, &mut q);
    let mut own_iter = 0usize;
    let mut bi = 1;
    while bi < layout.bands.len() {
        let level = layout.bands[bi].level;
        let end = layout.bands[bi..]
            .iter()
            .position(|b| b.level != level)
            .map_or(layout.bands.len(), |e| bi + e);
        let lo = layout.bands[bi].offset;
        let (coarser, this) = q.split_at_mut(lo);
        let coarser: &[i32] = coarser;
        let mut jobs: Vec<(&Band, &[u8], &mut [i32])> = Vec::new();
        let mut rest: &mut [i32] = this;
        let mut at = lo;
        for (j, b) in layout.bands[bi..end].iter().enumerate() {
            let (_, tail) = rest.split_at_mut(b.offset - at);
            let (mine, tail) = tail.split_at_mut(b.len);
            rest = tail;
            at = b.offset + b.len;
            if b.own {
                if need.get(bi + j).copied().unwrap_or(false) && !zero[bi + j] {
                    jobs.push((b, own.get(own_iter).copied().unwrap_or(&[]), mine));
                }
                own_iter += 1;
            }
        }
        ok &= decode_own(layout, coarser, jobs);
        bi = end;
    }
    for (i, b) in layout.bands.iter().enumerate() {
        if !need.get(i).copied().unwrap_or(false) {
            q[b.offset..b.offset + b.len].fill(0);
        }
    }
    ok.then_some(q)
}

// ---------------------------------------------------------------------------
// Segmented streams (format 2.3, wavelet modes 6 and 7).

/// Segmented streams: a subband with at least this many coefficients gets
/// streams of its own.
pub(crate) const SEG_OWN: usize = 1 << 14;
/// A segment holds at least this many coefficients...
const SEG_MIN_COEFS: usize = 1 << 13;
/// ...and about this many bytes of coded stream, by [`estimate_bytes`].
const SEG_MIN_BYTES: usize = 1 << 12;

/// The layout with [`SEG_OWN`] as the threshold of own streams.
pub(crate) fn segmented(mut layout: Layout) -> Layout {
    // Segmented streams are new in 2.3, like primed models: always primed.
    layout.primed = true;
    for b in layout.bands.iter_mut().skip(1) {
        b.own = b.len >= SEG_OWN;
    }
    layout
}

/// Rows (runs along the last axis) of a band.
fn rows_of(b: &Band) -> usize {
    b.dims[0] * b.dims[1] * b.dims[2]
}

/// The first row of segment `j` of `k` of a band of `rows` rows.
fn seg_row(rows: usize, j: usize, k: usize) -> usize {
    (rows as u128 * j as u128 / k as u128) as usize
}

/// A rough size of a band's coded indices, for the segment count only.
fn estimate_bytes(q: &[i32]) -> usize {
    let bits: u64 = q
        .iter()
        .map(|&v| {
            if v == 0 {
                0
            } else {
                3 + u64::from(32 - v.unsigned_abs().leading_zeros())
            }
        })
        .sum();
    (bits / 8) as usize
}

/// How many segments an own band of these indices gets: one per
/// [`SEG_MIN_BYTES`] of estimated stream, each of at least
/// [`SEG_MIN_COEFS`] coefficients and one row.
fn segment_count(b: &Band, q: &[i32]) -> usize {
    (estimate_bytes(q) / SEG_MIN_BYTES)
        .min(b.len / SEG_MIN_COEFS)
        .min(rows_of(b))
        .max(1)
}

/// Whether some own band of a [`segmented`] layout gets more than one
/// segment for these indices.
pub(crate) fn cuts_segments(layout: &Layout, q: &[i32]) -> bool {
    layout
        .bands
        .iter()
        .filter(|b| b.own)
        .any(|b| segment_count(b, &q[b.offset..b.offset + b.len]) > 1)
}

/// A range-coded stream and its plain bits.
pub(crate) struct SegEnc {
    rc: RangeEncoder,
    raw: BitWriter,
}

impl SegEnc {
    fn new() -> Self {
        Self {
            rc: RangeEncoder::new(),
            raw: BitWriter::new(),
        }
    }

    fn finish(self) -> (Vec<u8>, Vec<u8>) {
        (self.rc.finish(), self.raw.finish())
    }
}

pub(crate) struct SegDec<'a> {
    rc: RangeDecoder<'a>,
    raw: BitReader<'a>,
}

impl<'a> SegDec<'a> {
    fn new(s: (&'a [u8], &'a [u8])) -> Self {
        Self {
            rc: RangeDecoder::new(s.0),
            raw: BitReader::new(s.1),
        }
    }

    fn overrun(&self) -> bool {
        self.rc.overrun() || self.raw.overrun()
    }
}

impl Coder for SegEnc {
    #[inline]
    fn bit(&mut self, m: &mut BitModel, b: bool) -> bool {
        self.rc.encode_bit(m, b);
        b
    }
    #[inline]
    fn select(&mut self, m: &mut BitModel, b: bool) -> bool {
        self.rc.encode_bit(m, b);
        b
    }
    #[inline]
    fn uint(&mut self, m: &mut UintModel, v: u32) -> u32 {
        // Detail magnitudes are below 2^30, approximation residuals at
        // most 2^31 − 1 after the −1.
        m.encode_split(&mut self.rc, &mut self.raw, v.min((1 << 31) - 1));
        v
    }
}

impl Coder for SegDec<'_> {
    #[inline]
    fn bit(&mut self, m: &mut BitModel, _: bool) -> bool {
        self.rc.decode_bit(m)
    }
    #[inline]
    fn select(&mut self, m: &mut BitModel, _: bool) -> bool {
        self.rc.decode_bit_select(m) != 0
    }
    #[inline]
    fn uint(&mut self, m: &mut UintModel, _: u32) -> u32 {
        m.decode_split(&mut self.rc, &mut self.raw)
    }
}

/// The coded streams of a segmented layout: the shared stream, then per own
/// band (band order) its segment count and segments, each a range-coded
/// part and a plain-bits part.
pub(crate) struct Segmented {
    pub shared: (Vec<u8>, Vec<u8>),
    pub counts: Vec<usize>,
    pub segments: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Encodes all indices (band order) into segmented streams; `layout` from
/// [`segmented`].
pub(crate) fn encode_segmented(layout: &Layout, q: &[i32]) -> Segmented {
    let mut shared = SegEnc::new();
    let mut models = Models::for_layout(layout);
    let mut scratch = q[..layout.bands[0].len].to_vec();
    code_ll(&mut shared, &mut models, &layout.bands[0], &mut scratch);
    let zero = code_zero_map(&mut shared, &mut models, layout, Some(q));
    let mut jobs: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut counts = Vec::new();
    // The shared stream's models at the start of each group: the segments
    // of the group start from them.
    let mut snaps: Vec<Models> = Vec::new();
    let mut group = usize::MAX;
    for (bi, b) in layout.bands.iter().enumerate().skip(1) {
        if b.group != group {
            group = b.group;
            snaps.push(models.clone());
        }
        let band = &q[b.offset..b.offset + b.len];
        if b.own && zero[bi] {
            counts.push(1);
            jobs.push((bi, 0, 1, snaps.len() - 1));
            continue;
        }
        if zero[bi] {
            continue;
        }
        if b.own {
            let k = segment_count(b, band);
            counts.push(k);
            jobs.extend((0..k).map(|j| (bi, j, k, snaps.len() - 1)));
            continue;
        }
        let pb = b.parent.map(|p| &layout.bands[p]);
        let parent: &[i32] = pb.map_or(&[], |p| &q[p.offset..p.offset + p.len]);
        let mut cur = band.to_vec();
        code_band(&mut shared, &mut models, b, pb, &mut cur, parent, 0);
    }
    let segments = jobs
        .par_iter()
        .map(|&(bi, j, k, si)| {
            if zero[bi] {
                return (Vec::new(), Vec::new());
            }
            let b = &layout.bands[bi];
            let pb = b.parent.map(|p| &layout.bands[p]);
            let parent: &[i32] = pb.map_or(&[], |p| &q[p.offset..p.offset + p.len]);
            let rows = rows_of(b);
            let (r0, r1) = (seg_row(rows, j, k), seg_row(rows, j + 1, k));
            let s3 = b.dims[3];
            let mut cur = q[b.offset + r0 * s3..b.offset + r1 * s3].to_vec();
            let mut enc = SegEnc::new();
            let mut m = snaps[si].clone();
            code_band(&mut enc, &mut m, b, pb, &mut cur, parent, r0);
            enc.finish()
        })
        .collect();
    Segmented {
        shared: shared.finish(),
        counts,
        segments,
    }
}

/// The largest segment count an own band may have (one row each).
pub(crate) fn max_segments(layout: &Layout) -> Vec<usize> {
    layout.bands.iter().filter(|b| b.own).map(rows_of).collect()
}

/// A segment to decode: its band, first row, stream parts and indices.
type SegJob<'a, 'b> = (&'a Band, usize, (&'b [u8], &'b [u8]), &'b mut [i32]);

/// Decodes segmented streams: `counts` per own band (each from 1 to its
/// [`max_segments`]), `segments` in band order. Bands are decoded group by
/// group; in each group the shared stream's bands and all segments of the
/// own bands run in parallel (results independent of the thread count).
/// `None` when a stream ends early.
pub(crate) fn decode_segmented(
    layout: &Layout,
    shared: (&[u8], &[u8]),
    counts: &[usize],
    segments: &[(&[u8], &[u8])],
) -> Option<Vec<i32>> {
    let mut q = vec![0i32; layout.total];
    let mut dec = SegDec::new(shared);
    let mut models = Models::for_layout(layout);
    let ll = &layout.bands[0];
    code_ll(&mut dec, &mut models, ll, &mut q[..ll.len]);
    let zero = code_zero_map(&mut dec, &mut models, layout, None);
    let mut own_at = 0usize;
    let mut seg_at = 0usize;
    let mut bi = 1;
    let mut ok = true;
    while bi < layout.bands.len() {
        let group = layout.bands[bi].group;
        let end = layout.bands[bi..]
            .iter()
            .position(|b| b.group != group)
            .map_or(layout.bands.len(), |e| bi + e);
        let lo = layout.bands[bi].offset;
        let (coarser, this) = q.split_at_mut(lo);
        let coarser: &[i32] = coarser;
        // Split this group's indices into the shared bands' slices and the
        // own bands' segments.
        let mut shared_jobs: Vec<(&Band, &mut [i32])> = Vec::new();
        let mut seg_jobs: Vec<SegJob> = Vec::new();
        let mut rest: &mut [i32] = this;
        let mut at = lo;
        for (jb, b) in layout.bands[bi..end].iter().enumerate() {
            let (_, tail) = rest.split_at_mut(b.offset - at);
            let (mut mine, tail) = tail.split_at_mut(b.len);
            rest = tail;
            at = b.offset + b.len;
            let is_zero = zero[bi + jb];
            if !b.own {
                if !is_zero {
                    shared_jobs.push((b, mine));
                }
                continue;
            }
            let k = counts.get(own_at).copied().unwrap_or(1);
            own_at += 1;
            if is_zero {
                // An all-zero band has one segment, both parts empty.
                let empty = |s: Option<&(&[u8], &[u8])>| {
                    s.is_some_and(|p| p.0.is_empty() && p.1.is_empty())
                };
                ok &= k == 1 && empty(segments.get(seg_at));
                seg_at += k;
                continue;
            }
            let rows = rows_of(b);
            for j in 0..k {
                let n = (seg_row(rows, j + 1, k) - seg_row(rows, j, k)) * b.dims[3];
                let (seg, tail) = mine.split_at_mut(n);
                mine = tail;
                let bytes = segments.get(seg_at).copied().unwrap_or((&[], &[]));
                seg_at += 1;
                seg_jobs.push((b, seg_row(rows, j, k), bytes, seg));
            }
        }
        let parent_of = |b: &Band| -> (Option<&Band>, &[i32]) {
            let pb = b.parent.map(|p| &layout.bands[p]);
            (pb, pb.map_or(&[], |p| &coarser[p.offset..p.offset + p.len]))
        };
        let snap = models.clone();
        let (_, segs_ok) = rayon::join(
            || {
                for (b, out) in shared_jobs {
                    let (pb, parent) = parent_of(b);
                    code_band(&mut dec, &mut models, b, pb, out, parent, 0);
                }
            },
            || {
                seg_jobs
                    .into_par_iter()
                    .map(|(b, r0, bytes, out)| {
                        let (pb, parent) = parent_of(b);
                        let mut d = SegDec::new(bytes);
                        let mut m = snap.clone();
                        code_band(&mut d, &mut m, b, pb, out, parent, r0);
                        !d.overrun()
                    })
                    .reduce(|| true, |a, b| a && b)
            },
        );
        ok &= segs_ok;
        bi = end;
    }
    ok &= !dec.overrun();
    ok.then_some(q)
}
