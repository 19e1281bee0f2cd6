//! MIM, the multi-scale INR of the low band.
//!
//! 1. The low band is subsampled by 3 per axis (levels only when there are
//!    at least 6; a single level is thinned 3 × 3 = 9) at knots
//!    `0, 3, 6, …` (plus the last index on non-periodic axes).
//! 2. A thumbnail SIREN (3 layers, Ω = 14) is fitted to it on sphere
//!    coordinates.
//! 3. Its (quantised, reproducible) output at the knots is upscaled to the
//!    full grid by optimal interpolation ([`Interp::Oi`], 3D-Var with a
//!    Gaussian background covariance applied by separable filters), or by
//!    cubic / trilinear interpolation.
//! 4. The grid is cut into 3 × 3 × 3 blocks; each block whose low-band error
//!    misses the target gets a residual SIREN (2 layers, Ω = 15) on block-local
//!    coordinates.
//!
//! Section layout: `version u8 | interp u8 | factors 3×u8 | oi_sigma f32 |
//! oi_r f32 | thumb net (len-prefixed) | block count u8 | block bitmap |
//! block nets (len-prefixed)`.
//!
//! Everything the decoder recomputes (interpolation, the OI conjugate
//! gradient) is sequential f64 code with a deterministic exponential, so
//! encoder and decoder produce the same bits.

pub use super::fit::{
    block_in_dim, box_points, check_net_shape, codec_bits, put_blob, read_net, read_net_header,
    Reader, MAX_NET_MACS,
};
use super::fit::{check_storable, fit_net, NetSpec};
use crate::error::{Error, Result};
use crate::predictor::preprocess::FrameGeom;
use crate::siren::Siren;

/// Blocks of the 3 × 3 × 3 partition ([`blocks3`]): at most 27.
pub const MAX_BLOCKS: usize = 27;

/// Most conjugate-gradient iterations a stored OI setting may ask for (the
/// encoder always stores 200, [`OiParams::default`]).
pub const MAX_OI_ITER: usize = 1000;

/// Largest stored OI correlation length, in knot spacings (the limit
/// `FicConfig` accepts).
pub const MAX_OI_SIGMA: f64 = 64.0;

/// Most arithmetic per frame point an OI upscale may cost: (iterations + 1)
/// × the summed lengths of the three Gaussian kernels. The default setting
/// (σ = 1, factor 3, 200 iterations) costs about 6 k; σ = 64 at factor 3
/// still fits (0.35 M). A stored setting above it is refused before any
/// kernel is built: σ = 64 with a thinning of 255 would otherwise make
/// kernels up to 192 × the axis long, each tap paid at every point in
/// every iteration.
pub const MAX_OI_WORK_PER_POINT: f64 = (1u64 << 20) as f64;

/// How the thumbnail is brought back to full resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Interp {
    /// Optimal interpolation (3D-Var analysis) with a Gaussian background
    /// covariance.
    Oi,
    /// Separable 4-point Lagrange (cubic) interpolation.
    Cubic,
    /// Separable linear (trilinear) interpolation, as the public code does.
    Trilinear,
}

impl Interp {
    fn id(self) -> u8 {
        match self {
            Interp::Oi => 0,
            Interp::Cubic => 1,
            Interp::Trilinear => 2,
        }
    }
    fn from_id(id: u8) -> Result<Self> {
        match id {
            0 => Ok(Interp::Oi),
            1 => Ok(Interp::Cubic),
            2 => Ok(Interp::Trilinear),
            t => Err(Error::Corrupt(format!("MIM interpolation kind {t}"))),
        }
    }
}

/// Optimal-interpolation settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OiParams {
    /// Background correlation length in units of the knot spacing.
    pub sigma: f64,
    /// Observation error variance relative to the background variance.
    pub r: f64,
    /// Conjugate-gradient iterations at most (stops earlier at 1e-10 relative residual).
    pub max_iter: usize,
}

impl Default for OiParams {
    fn default() -> Self {
        Self {
            sigma: 1.0,
            r: 1e-3,
            max_iter: 200,
        }
    }
}

/// `exp(x)` for `x ≤ 0` using only IEEE basic operations (deterministic).
pub fn det_exp_neg(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x > 0.0 {
        return f64::INFINITY;
    }
    if x < -700.0 {
        return 0.0;
    }
    // exp(x) = exp(x / 2^k)^(2^k) with |x / 2^k| ≤ 1/16, Taylor to order 12.
    let mut k = 0;
    let mut y = x;
    while y < -0.0625 {
        y *= 0.5;
        k += 1;
    }
    let mut s = 1.0f64;
    let mut t = 1.0f64;
    for i in 1..=12 {
        t = t * y / i as f64;
        s += t;
    }
    for _ in 0..k {
        s *= s;
    }
    s
}

/// Knot indices of an axis of `n` samples thinned by `factor`.
pub fn knots(n: usize, factor: usize, periodic: bool) -> Vec<usize> {
    let f = factor.max(1);
    let mut k: Vec<usize> = (0..n).step_by(f).collect();
    if !periodic && k.last() != Some(&(n - 1)) {
        k.push(n - 1);
    }
    k
}

/// Interpolation weights `(knot number, weight)` for every output index.
fn interp_weights(n: usize, kn: &[usize], periodic: bool, order: usize) -> Vec<Vec<(usize, f64)>> {
    let m = kn.len();
    (0..n)
        .map(|i| {
            if m == 1 {
                return vec![(0, 1.0)];
            }
            // segment s: knots s and s+1 (wrapping when periodic)
            // knots are strictly increasing: the last one at or before i
            let s = kn.partition_point(|&k| k <= i).saturating_sub(1);
            if kn[s] == i {
                return vec![(s, 1.0)];
            }
            let ord = order.min(m).max(2);
            let lo = s as isize - (ord as isize / 2 - 1);
            let start = if periodic {
                lo
            } else {
                lo.clamp(0, (m - ord) as isize)
            };
            let pos = |j: isize| -> (usize, f64) {
                let jj = j.rem_euclid(m as isize) as usize;
                let wraps = j.div_euclid(m as isize);
                (jj, kn[jj] as f64 + (wraps * n as isize) as f64)
            };
            let pts: Vec<(usize, f64)> = (0..ord as isize).map(|o| pos(start + o)).collect();
            let x = i as f64;
            pts.iter()
                .enumerate()
                .map(|(a, &(ka, xa))| {
                    let mut w = 1.0;
                    for (b, &(_, xb)) in pts.iter().enumerate() {
                        if a != b {
                            w = w * (x - xb) / (xa - xb);
                        }
                    }
                    (ka, w)
                })
                .collect()
        })
        .collect()
}

/// Applies per-output weights along `axis`, changing its length.
fn apply_axis(
    data: &[f64],
    dims: [usize; 3],
    axis: usize,
    w: &[Vec<(usize, f64)>],
) -> (Vec<f64>, [usize; 3]) {
    let mut nd = dims;
    nd[axis] = w.len();
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    let mut out = vec![0.0; nd.iter().product()];
    for o in 0..outer {
        for (i, wi) in w.iter().enumerate() {
            let dst = (o * nd[axis] + i) * inner;
            for &(k, wk) in wi {
                let src = (o * dims[axis] + k) * inner;
                for s in 0..inner {
                    out[dst + s] += wk * data[src + s];
                }
            }
        }
    }
    (out, nd)
}

/// Gaussian convolution along `axis` (half-sample reflection at the ends of
/// a non-periodic axis: a symmetric, positive semi-definite operator).
fn gauss_axis(data: &mut [f64], dims: [usize; 3], axis: usize, g: &[f64], periodic: bool) {
    let n = dims[axis];
    if n <= 1 || g.len() <= 1 {
        return;
    }
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    let mut line = vec![0.0; n];
    let mut res = vec![0.0; n];
    for o in 0..outer {
        for s in 0..inner {
            let at = |k: usize| (o * n + k) * inner + s;
            for (k, v) in line.iter_mut().enumerate() {
                *v = data[at(k)];
            }
            for (i, out) in res.iter_mut().enumerate() {
                let mut acc = g[0] * line[i];
                for (d, &gd) in g.iter().enumerate().skip(1) {
                    let (a, b) = if periodic {
                        ((i + n - d % n) % n, (i + d) % n)
                    } else {
                        (
                            reflect(i as isize - d as isize, n),
                            reflect((i + d) as isize, n),
                        )
                    };
                    acc += gd * (line[a] + line[b]);
                }
                *out = acc;
            }
            for (k, v) in res.iter().enumerate() {
                data[at(k)] = *v;
            }
        }
    }
}

/// Half-sample symmetric reflection of index `i` into `0..n` (`n ≥ 1`):
/// the mirror images about −½ and n − ½ repeat with period 2n, so this is
/// one remainder, whatever the distance (a kernel may be longer than the
/// axis).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let j = i.rem_euclid(2 * n);
    (if j >= n { 2 * n - 1 - j } else { j }) as usize
}

/// Length of [`gauss_kernel`]`(sigma)` (as f64: a hostile σ may be huge).
fn gauss_kernel_len(sigma: f64) -> f64 {
    if sigma <= 0.0 {
        1.0
    } else {
        (3.0 * sigma).ceil() + 1.0
    }
}

/// Knot spacing of an axis of `n` samples with `m` knots (0 for one knot).
fn knot_spacing(n: usize, m: usize) -> f64 {
    if m > 1 {
        (n - 1) as f64 / (m - 1) as f64
    } else {
        0.0
    }
}

/// Arithmetic per frame point of [`upsample`] with `interp` and `oi` (an
/// estimate for OI: CG iterations + 1 times the Gaussian kernel lengths of
/// the axes the filter runs along; a small constant for the separable
/// interpolations).
pub fn upsample_work_per_point(
    dims: [usize; 3],
    kn: &[Vec<usize>; 3],
    interp: Interp,
    oi: OiParams,
) -> f64 {
    match interp {
        Interp::Trilinear => 6.0,
        Interp::Cubic => 12.0,
        Interp::Oi => {
            let per_pass: f64 = (0..3)
                .map(|ax| {
                    let g = gauss_kernel_len(oi.sigma * knot_spacing(dims[ax], kn[ax].len()));
                    if dims[ax] > 1 && g > 1.0 {
                        g
                    } else {
                        0.0
                    }
                })
                .sum();
            (oi.max_iter as f64 + 1.0) * (per_pass + 1.0)
        }
    }
}

fn gauss_kernel(sigma: f64) -> Vec<f64> {
    if sigma <= 0.0 {
        return vec![1.0];
    }
    let r = (3.0 * sigma).ceil() as usize;
    (0..=r)
        .map(|k| det_exp_neg(-((k * k) as f64) / (2.0 * sigma * sigma)))
        .collect()
}

/// Brings `obs` (values at the knots, row-major over the knot grid) to the
/// full grid `dims`.
pub fn upsample(
    obs: &[f64],
    dims: [usize; 3],
    kn: &[Vec<usize>; 3],
    periodic: [bool; 3],
    interp: Interp,
    oi: OiParams,
) -> Result<Vec<f64>> {
    let td = [kn[0].len(), kn[1].len(), kn[2].len()];
    if obs.len() != td.iter().product::<usize>() {
        return Err(Error::InvalidInput(
            "observation count does not match knots".into(),
        ));
    }
    let work = upsample_work_per_point(dims, kn, interp, oi);
    if work.is_nan() || work > MAX_OI_WORK_PER_POINT {
        return Err(Error::InvalidInput(format!(
            "OI upscale (σ = {}, {} iterations) would cost {work:.0} operations per point, above the limit of {MAX_OI_WORK_PER_POINT}",
            oi.sigma, oi.max_iter
        )));
    }
    let interp_sep = |order: usize, v: &[f64]| {
        let mut cur = v.to_vec();
        let mut cd = td;
        for ax in (0..3).rev() {
            let w = interp_weights(dims[ax], &kn[ax], periodic[ax], order);
            let (o, d) = apply_axis(&cur, cd, ax, &w);
            cur = o;
            cd = d;
        }
        cur
    };
    match interp {
        Interp::Trilinear => Ok(interp_sep(2, obs)),
        Interp::Cubic => Ok(interp_sep(4, obs)),
        Interp::Oi => Ok(optimal_interpolation(obs, dims, kn, periodic, oi)),
    }
}

fn optimal_interpolation(
    obs: &[f64],
    dims: [usize; 3],
    kn: &[Vec<usize>; 3],
    periodic: [bool; 3],
    oi: OiParams,
) -> Vec<f64> {
    let n: usize = dims.iter().product();
    let nobs = obs.len();
    // background: the mean of the observations
    let xb = obs.iter().sum::<f64>() / nobs as f64;
    let kernels: Vec<Vec<f64>> = (0..3)
        .map(|ax| gauss_kernel(oi.sigma * knot_spacing(dims[ax], kn[ax].len())))
        .collect();
    let obs_index: Vec<usize> = {
        let mut v = Vec::with_capacity(nobs);
        for &a in &kn[0] {
            for &b in &kn[1] {
                for &c in &kn[2] {
                    v.push((a * dims[1] + b) * dims[2] + c);
                }
            }
        }
        v
    };
    let apply_b = |f: &mut [f64]| {
        for ax in 0..3 {
            gauss_axis(f, dims, ax, &kernels[ax], periodic[ax]);
        }
    };
    // diag of B (at a grid point far from the edges) sets the scale of R
    let diag: f64 = kernels.iter().map(|g| g[0]).product();
    let r = oi.r * diag;
    let mut grid = vec![0.0; n];
    let mut hbht = |w: &[f64], out: &mut [f64]| {
        grid.iter_mut().for_each(|v| *v = 0.0);
        for (k, &i) in obs_index.iter().enumerate() {
            grid[i] = w[k];
        }
        apply_b(&mut grid);
        for (k, &i) in obs_index.iter().enumerate() {
            out[k] = grid[i] + r * w[k];
        }
    };
    // CG on (H B Hᵀ + R) w = y − H x_b
    let d: Vec<f64> = obs.iter().map(|&y| y - xb).collect();
    let mut w = vec![0.0; nobs];
    let mut res = d.clone();
    let mut p = res.clone();
    let mut ap = vec![0.0; nobs];
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y);
    let mut rr = dot(&res, &res);
    let stop = rr * 1e-20;
    for _ in 0..oi.max_iter {
        if rr <= stop || rr == 0.0 {
            break;
        }
        hbht(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let alpha = rr / pap;
        for k in 0..nobs {
            w[k] += alpha * p[k];
            res[k] -= alpha * ap[k];
        }
        let rr2 = dot(&res, &res);
        let beta = rr2 / rr;
        rr = rr2;
        for k in 0..nobs {
            p[k] = res[k] + beta * p[k];
        }
    }
    let mut x = vec![0.0; n];
    for (k, &i) in obs_index.iter().enumerate() {
        x[i] = w[k];
    }
    apply_b(&mut x);
    for v in x.iter_mut() {
        *v += xb;
    }
    x
}

/// MIM settings (stored in the section).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MimParams {
    pub interp: Interp,
    pub factors: [usize; 3],
    pub oi: OiParams,
}

/// The thinning factors for a frame: 3 per axis, levels only when there are
/// at least 6 of them.
pub fn default_factors(dims: [usize; 3], factor: usize) -> [usize; 3] {
    let f = |n: usize| if n >= 2 * factor { factor } else { 1 };
    [f(dims[0]), f(dims[1]), f(dims[2])]
}

/// The 3 × 3 × 3 block partition (axes shorter than 3 are not cut): per
/// axis the `[start, end)` of each piece.
pub fn blocks3(dims: [usize; 3]) -> Vec<[(usize, usize); 3]> {
    let cuts = |n: usize| -> Vec<(usize, usize)> {
        let k = if n >= 3 { 3 } else { 1 };
        (0..k).map(|i| (i * n / k, (i + 1) * n / k)).collect()
    };
    let (a, b, c) = (cuts(dims[0]), cuts(dims[1]), cuts(dims[2]));
    let mut out = Vec::new();
    for &x in &a {
        for &y in &b {
            for &z in &c {
                out.push([x, y, z]);
            }
        }
    }
    out
}

/// A trained MIM stage.
#[derive(Debug, Clone)]
pub struct MimModel {
    pub params: MimParams,
    pub thumb: Siren,
    pub blocks: Vec<Option<Siren>>,
}

fn knots_of(geom: &FrameGeom, f: [usize; 3]) -> [Vec<usize>; 3] {
    let p = geom.periodic();
    [
        knots(geom.dims[0], f[0], p[0]),
        knots(geom.dims[1], f[1], p[1]),
        knots(geom.dims[2], f[2], p[2]),
    ]
}

fn knot_coords(geom: &FrameGeom, kn: &[Vec<usize>; 3]) -> Vec<f32> {
    let d = geom.in_dim;
    let mut co = Vec::with_capacity(kn[0].len() * kn[1].len() * kn[2].len() * d);
    for &a in &kn[0] {
        for &b in &kn[1] {
            for &c in &kn[2] {
                let i = (a * geom.dims[1] + b) * geom.dims[2] + c;
                co.extend_from_slice(&geom.coords[i * d..(i + 1) * d]);
            }
        }
    }
    co
}

impl MimModel {
    /// The thumbnail prediction upscaled to the full grid (no residual nets).
    pub fn base(&self, geom: &FrameGeom) -> Result<Vec<f64>> {
        let kn = knots_of(geom, self.params.factors);
        let co = knot_coords(geom, &kn);
        let y = self.thumb.predict_vec(&co)?;
        let y: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        upsample(
            &y,
            geom.dims,
            &kn,
            geom.periodic(),
            self.params.interp,
            self.params.oi,
        )
    }

    /// The full MIM prediction (normalised units).
    pub fn predict(&self, geom: &FrameGeom) -> Result<Vec<f64>> {
        let mut out = self.base(geom)?;
        let bl = blocks3(geom.dims);
        if bl.len() != self.blocks.len() {
            return Err(Error::Corrupt(
                "MIM block count does not match the frame".into(),
            ));
        }
        for (bx, net) in bl.iter().zip(&self.blocks) {
            if let Some(net) = net {
                let (idx, co, d) = box_points(geom.dims, bx);
                if net.config().in_dim != d {
                    return Err(Error::Corrupt("MIM block network input size".into()));
                }
                let y = net.predict_vec(&co)?;
                for (k, &i) in idx.iter().enumerate() {
                    out[i] += y[k] as f64;
                }
            }
        }
        Ok(out)
    }

    /// Fits the stage to `low` (normalised units). `w` is the per-element
    /// scale to data units, `valid` the elements that may be used, `target`
    /// the data-unit RMSE a block must reach to need no residual network.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        low: &[f64],
        valid: &[bool],
        w: &[f64],
        geom: &FrameGeom,
        params: MimParams,
        nets: (&NetSpec, &NetSpec, crate::siren::WeightCodec, bool),
        target: f64,
        seed: u64,
    ) -> Result<Self> {
        let (thumb_spec, res_spec, codec, rd) = nets;
        let kn = knots_of(geom, params.factors);
        let co = knot_coords(geom, &kn);
        let d = geom.in_dim;
        let mut tc = Vec::new();
        let mut tt = Vec::new();
        let mut ws = 0.0;
        let mut k = 0;
        for &a in &kn[0] {
            for &b in &kn[1] {
                for &c in &kn[2] {
                    let i = (a * geom.dims[1] + b) * geom.dims[2] + c;
                    if valid[i] {
                        tc.extend_from_slice(&co[k * d..(k + 1) * d]);
                        tt.push(low[i] as f32);
                        ws += w[i] * w[i];
                    }
                    k += 1;
                }
            }
        }
        let mean_w2 = if tt.is_empty() {
            1.0
        } else {
            ws / tt.len() as f64
        };
        let tmse = (target * target / mean_w2) as f32;
        let thumb = fit_net(thumb_spec, codec, d, &tc, &tt, tmse, seed)?;
        let mut m = Self {
            params,
            thumb,
            blocks: Vec::new(),
        };
        let base = m.base(geom)?;
        for (bi, bx) in blocks3(geom.dims).iter().enumerate() {
            let (idx, bco, bd) = box_points(geom.dims, bx);
            let (mut sse, mut cnt, mut ws) = (0.0, 0usize, 0.0);
            let mut co2 = Vec::new();
            let mut t2 = Vec::new();
            for (k, &i) in idx.iter().enumerate() {
                if valid[i] {
                    let e = low[i] - base[i];
                    sse += e * e * w[i] * w[i];
                    ws += w[i] * w[i];
                    cnt += 1;
                    co2.extend_from_slice(&bco[k * bd..(k + 1) * bd]);
                    t2.push(e as f32);
                }
            }
            let est = super::fit::net_bytes_estimate(res_spec, bd, codec_bits(codec));
            let net = if cnt > 0
                && (sse / cnt as f64).sqrt() > target
                && res_spec.steps > 0
                && (!rd || super::fit::pays(sse, 0.0, cnt, target, est))
            {
                let tmse = (target * target / (ws / cnt as f64)) as f32;
                let net = fit_net(
                    res_spec,
                    codec,
                    bd,
                    &co2,
                    &t2,
                    tmse,
                    seed.wrapping_add(1 + bi as u64),
                )?;
                // keep it only when it helps
                let y = net.predict_vec(&co2)?;
                let sse2: f64 = t2
                    .iter()
                    .zip(&y)
                    .zip(idx.iter().filter(|&&i| valid[i]))
                    .map(|((&t, &p), &i)| {
                        let e = (t - p) as f64 * w[i];
                        e * e
                    })
                    .sum();
                let bytes = net.to_bytes(codec)?.len();
                super::fit::keeps(rd, sse, sse2, cnt, target, bytes).then_some(net)
            } else {
                None
            };
            m.blocks.push(net);
        }
        Ok(m)
    }

    /// Serialises the stage. Settings and networks the reader would refuse
    /// (see [`MimModel::from_bytes_for`]) are [`Error::InvalidInput`].
    pub fn to_bytes(&self, codec: crate::siren::WeightCodec) -> Result<Vec<u8>> {
        let p = &self.params;
        if p.factors.iter().any(|&f| !(1..=255).contains(&f))
            || !(p.oi.sigma.is_finite() && (0.0..=MAX_OI_SIGMA).contains(&p.oi.sigma))
            || !(p.oi.r.is_finite() && p.oi.r >= 0.0)
            || p.oi.max_iter > MAX_OI_ITER
            || self.blocks.len() > MAX_BLOCKS
        {
            return Err(Error::InvalidInput(format!(
                "MIM settings cannot be stored: {p:?} with {} blocks",
                self.blocks.len()
            )));
        }
        check_storable(&self.thumb)?;
        for b in self.blocks.iter().flatten() {
            check_storable(b)?;
        }
        let mut out = vec![1u8, self.params.interp.id()];
        for f in self.params.factors {
            out.push(f as u8);
        }
        out.extend_from_slice(&(self.params.oi.sigma as f32).to_le_bytes());
        out.extend_from_slice(&(self.params.oi.r as f32).to_le_bytes());
        out.extend_from_slice(&(self.params.oi.max_iter as u16).to_le_bytes());
        put_blob(&mut out, &self.thumb.to_bytes(codec)?);
        out.push(self.blocks.len() as u8);
        let mut bits = vec![0u8; self.blocks.len().div_ceil(8)];
        for (i, b) in self.blocks.iter().enumerate() {
            if b.is_some() {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&bits);
        for b in self.blocks.iter().flatten() {
            put_blob(&mut out, &b.to_bytes(codec)?);
        }
        Ok(out)
    }

    /// Reads a MIM section without knowing the frame: the settings, at most
    /// [`MAX_BLOCKS`] blocks and networks of at most [`MAX_NET_MACS`] are
    /// checked; use [`MimModel::from_bytes_for`] when decoding a frame.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::read(bytes, None)
    }

    /// Reads the MIM section of a frame of `geom`: besides the checks of
    /// [`MimModel::from_bytes`], the block count must be the frame's, every
    /// network must take the frame's inputs, and the upscale's work must be
    /// within [`MAX_OI_WORK_PER_POINT`], all decided before any network's
    /// weights are read.
    pub fn from_bytes_for(bytes: &[u8], geom: &FrameGeom) -> Result<Self> {
        Self::read(bytes, Some(geom))
    }

    /// Refuses settings whose upscale on `geom` would exceed
    /// [`MAX_OI_WORK_PER_POINT`] ([`Error::Corrupt`]).
    pub fn check_frame(params: &MimParams, geom: &FrameGeom) -> Result<()> {
        let kn = knots_of(geom, params.factors);
        let work = upsample_work_per_point(geom.dims, &kn, params.interp, params.oi);
        if work <= MAX_OI_WORK_PER_POINT {
            Ok(())
        } else {
            Err(Error::Corrupt(format!(
                "MIM upscale settings would cost {work:.0} operations per point, above the limit of {MAX_OI_WORK_PER_POINT}"
            )))
        }
    }

    fn read(bytes: &[u8], geom: Option<&FrameGeom>) -> Result<Self> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.u8()? != 1 {
            return Err(Error::Unsupported("MIM section version".into()));
        }
        let interp = Interp::from_id(r.u8()?)?;
        let mut factors = [0usize; 3];
        for f in factors.iter_mut() {
            *f = r.u8()? as usize;
            if *f == 0 {
                return Err(Error::Corrupt("MIM factor 0".into()));
            }
        }
        let sigma = r.f32()? as f64;
        let rr = r.f32()? as f64;
        let max_iter = r.u16()? as usize;
        if !(sigma.is_finite()
            && (0.0..=MAX_OI_SIGMA).contains(&sigma)
            && rr.is_finite()
            && rr >= 0.0
            && max_iter <= MAX_OI_ITER)
        {
            return Err(Error::Corrupt("MIM OI parameters".into()));
        }
        let params = MimParams {
            interp,
            factors,
            oi: OiParams {
                sigma,
                r: rr,
                max_iter,
            },
        };
        if let Some(g) = geom {
            Self::check_frame(&params, g)?;
        }
        let thumb_blob = r.blob()?;
        let nb = r.u8()? as usize;
        let expect = geom.map(|g| blocks3(g.dims).len());
        if nb > MAX_BLOCKS || expect.is_some_and(|e| e != nb) {
            return Err(Error::Corrupt(format!(
                "MIM section with {nb} blocks{}",
                expect.map_or(String::new(), |e| format!(", the frame has {e}"))
            )));
        }
        let bits = r.take(nb.div_ceil(8))?;
        // all blobs and their headers first: a refused shape costs nothing
        let mut blobs = Vec::with_capacity(nb);
        for i in 0..nb {
            blobs.push(if bits[i / 8] >> (i % 8) & 1 == 1 {
                Some(r.blob()?)
            } else {
                None
            });
        }
        if r.pos != bytes.len() {
            return Err(Error::Corrupt("trailing bytes in MIM section".into()));
        }
        let thumb_dim = geom.map(|g| g.in_dim);
        let block_dim = geom.map(|g| block_in_dim(g.dims));
        read_net_header(thumb_blob, thumb_dim)?;
        for b in blobs.iter().flatten() {
            read_net_header(b, block_dim)?;
        }
        let thumb = read_net(thumb_blob, thumb_dim)?;
        let blocks = blobs
            .iter()
            .map(|b| b.map(|b| read_net(b, block_dim)).transpose())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            params,
            thumb,
            blocks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop [`reflect`] replaced (one mirror step per period).
    fn reflect_loop(mut i: isize, n: usize) -> usize {
        let n = n as isize;
        loop {
            if i < 0 {
                i = -i - 1;
            } else if i >= n {
                i = 2 * n - 1 - i;
            } else {
                return i as usize;
            }
        }
    }

    #[test]
    fn reflect_is_the_mirror_loop() {
        for n in 1..9usize {
            for i in -40isize..40 {
                assert_eq!(reflect(i, n), reflect_loop(i, n), "i {i} n {n}");
            }
        }
    }

    #[test]
    fn segment_search_is_the_linear_search() {
        for n in 1..40usize {
            for f in 1..7 {
                for per in [false, true] {
                    let kn = knots(n, f, per);
                    for i in 0..n {
                        let lin = kn.iter().rposition(|&k| k <= i).unwrap_or_default();
                        assert_eq!(kn.partition_point(|&k| k <= i).saturating_sub(1), lin);
                    }
                }
            }
        }
    }

    #[test]
    fn upscale_cost_of_the_defaults_is_far_below_the_limit() {
        let dims = [6, 181, 360];
        let per = [false, false, true];
        let f = default_factors(dims, 3);
        let kn = [
            knots(dims[0], f[0], per[0]),
            knots(dims[1], f[1], per[1]),
            knots(dims[2], f[2], per[2]),
        ];
        let oi = OiParams::default();
        let w = upsample_work_per_point(dims, &kn, Interp::Oi, oi);
        assert!(w < MAX_OI_WORK_PER_POINT / 100.0, "{w}");
        // the widest correlation FicConfig accepts still fits at factor 3
        let wide = OiParams { sigma: 64.0, ..oi };
        let w = upsample_work_per_point(dims, &kn, Interp::Oi, wide);
        assert!(w < MAX_OI_WORK_PER_POINT, "{w}");
    }
}
