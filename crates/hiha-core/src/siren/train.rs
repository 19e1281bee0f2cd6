//! Training: hand-written forward/backward on the CPU, Adam with a cosine
//! learning-rate schedule.
//!
//! The batch is cut into blocks of [`BLOCK`] points. Blocks are assigned to at
//! most [`MAX_GROUPS`] groups by a fixed contiguous partition (independent of
//! the thread count); each group runs its blocks in order, accumulating its
//! gradient in its own buffer, the groups run in parallel on the current rayon
//! pool, and the group gradients are summed in group order. So a training run
//! is deterministic for a given seed on a given CPU at any thread count. (The
//! GEMMs, faer with `Par::Seq` inside each task, pick their kernels by CPU, so
//! the last bits of the weights may differ across CPUs; only inference is
//! guaranteed identical everywhere, which is what the decoder needs.)
//!
//! Per block: the first layer (in_dim ≤ 4) is a hand loop, the other layers are
//! faer GEMMs, each followed by a fused pass `z = Ω(a + b); h = sin z;
//! c = Ω cos z` (one shared range reduction, [`super::trig::sin_cos`]); `c` is
//! kept for the backward pass. The fused loops are compiled for AVX-512F and
//! AVX2 and chosen at run time.

use super::infer::Isa;
use super::trig;
use super::{Siren, SirenConfig};
use crate::error::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::time::Instant;

/// Points per block (one GEMM task).
pub const BLOCK: usize = 512;
/// Maximum number of gradient groups (fixed, whatever the thread count).
pub const MAX_GROUPS: usize = 16;

/// Training loss (mean over all points and channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Loss {
    /// Mean squared error.
    L2,
    /// Mean absolute error.
    L1,
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Step budget (Adam updates).
    pub steps: usize,
    /// Peak learning rate (start of the cosine schedule).
    pub lr: f32,
    /// Learning rate at the end of the cosine schedule.
    pub lr_min: f32,
    pub loss: Loss,
    /// Points per mini-batch (reshuffled each epoch); `None`: full batch.
    pub batch: Option<usize>,
    /// Stop once the mean squared error (over all values) is at most this.
    pub target_mse: Option<f32>,
    /// Stop once the maximum absolute error is at most this.
    pub target_max_abs: Option<f32>,
    /// With mini-batches, how often (in steps) to evaluate the targets on all
    /// points; with a full batch they are checked every step for free.
    pub check_every: usize,
    /// Seed of the batch shuffling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            lr: 1e-3,
            lr_min: 1e-5,
            loss: Loss::L2,
            batch: None,
            target_mse: None,
            target_max_abs: None,
            check_every: 50,
            seed: 0,
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    /// Adam updates applied.
    pub steps: usize,
    /// True when a target was met before the step budget ran out.
    pub stopped_early: bool,
    /// Training loss of the last evaluated batch (fast path).
    pub last_loss: f64,
    /// MSE over all points of the final network, from [`Siren::predict`].
    pub mse: f64,
    /// Max abs error over all points of the final network, from [`Siren::predict`].
    pub max_abs: f64,
    /// Whether the final `predict()` output meets every given target.
    pub target_met: bool,
    /// Wall time of the training loop (without the final `predict()`).
    pub seconds: f64,
    /// Σ over steps of the points in the batch.
    pub point_steps: u64,
    /// GEMM floating-point operations performed (see [`flops_per_point_step`]).
    pub flops: f64,
}

/// A training engine. The CPU one is [`CpuBackend`]; another (GPU) backend
/// implements the same method and callers do not change.
pub trait TrainBackend {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    /// Trains `net` in place on `coords` (`n × in_dim`) → `targets` (`n × out_dim`).
    fn train(
        &self,
        net: &mut Siren,
        coords: &[f32],
        targets: &[f32],
        cfg: &TrainConfig,
    ) -> Result<TrainReport>;
}

/// The CPU backend (uses the current rayon pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

impl TrainBackend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn train(
        &self,
        net: &mut Siren,
        coords: &[f32],
        targets: &[f32],
        cfg: &TrainConfig,
    ) -> Result<TrainReport> {
        train_cpu(net, coords, targets, cfg)
    }
}

/// Trains with the [`CpuBackend`].
pub fn train(
    net: &mut Siren,
    coords: &[f32],
    targets: &[f32],
    cfg: &TrainConfig,
) -> Result<TrainReport> {
    CpuBackend.train(net, coords, targets, cfg)
}

/// GEMM flops per point and step, as counted in [`TrainReport::flops`]:
/// forward `2·Σ n_in·n_out`, weight gradients the same, input gradients the same
/// less the first layer (not computed).
pub fn flops_per_point_step(cfg: &SirenConfig) -> f64 {
    let m = cfg.macs_per_point() as f64;
    let first = (cfg.in_dim * cfg.hidden) as f64;
    6.0 * m - 2.0 * first
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    sum_loss: f64,
    sum_sq: f64,
    max_abs: f64,
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        self.sum_loss += o.sum_loss;
        self.sum_sq += o.sum_sq;
        self.max_abs = self.max_abs.max(o.max_abs);
    }
}

/// Per-group buffers.
struct Group {
    h: Vec<Vec<f32>>,
    c: Vec<Vec<f32>>,
    y: Vec<f32>,
    g1: Vec<f32>,
    g2: Vec<f32>,
    grad: Vec<f32>,
    stats: Stats,
}

impl Group {
    fn new(cfg: &SirenConfig) -> Self {
        let hw = BLOCK * cfg.hidden;
        let gw = BLOCK * cfg.hidden.max(cfg.out_dim);
        Self {
            h: (0..cfg.layers).map(|_| vec![0.0; hw]).collect(),
            c: (0..cfg.layers).map(|_| vec![0.0; hw]).collect(),
            y: vec![0.0; BLOCK * cfg.out_dim],
            g1: vec![0.0; gw],
            g2: vec![0.0; gw],
            grad: vec![0.0; cfg.n_params()],
            stats: Stats::default(),
        }
    }
}

/// Read-only inputs of one pass.
struct Pass<'a> {
    net: &'a Siren,
    /// First-layer weights transposed (in_dim × hidden).
    w0t: &'a [f32],
    coords: &'a [f32],
    targets: &'a [f32],
    /// d loss / d y = scale · (2e or sign e).
    scale: f32,
    loss: Loss,
    backward: bool,
}

#[inline(always)]
fn mat<'a>(s: &'a [f32], r: usize, c: usize) -> MatRef<'a, f32> {
    MatRef::from_row_major_slice(&s[..r * c], r, c)
}

#[inline(always)]
fn mat_mut<'a>(s: &'a mut [f32], r: usize, c: usize) -> MatMut<'a, f32> {
    MatMut::from_row_major_slice_mut(&mut s[..r * c], r, c)
}

/// `z = Ω(a + b); a ← sin z; c ← Ω cos z`, row by row.
#[inline(always)]
fn fused_act(a: &mut [f32], c: &mut [f32], b: &[f32], om: f32) {
    let n = b.len();
    for (ar, cr) in a.chunks_exact_mut(n).zip(c.chunks_exact_mut(n)) {
        for ((av, cv), &bv) in ar.iter_mut().zip(cr.iter_mut()).zip(b) {
            let (s, co) = trig::sin_cos((*av + bv) * om);
            *av = s;
            *cv = om * co;
        }
    }
}

/// `acc[i] += Σ_r g[r][i]` (rows in order).
#[inline(always)]
fn col_sum(g: &[f32], n: usize, acc: &mut [f32]) {
    for row in g.chunks_exact(n) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

#[inline(always)]
fn block_generic(p: &Pass, s: &mut Group, start: usize, rows: usize) {
    let cfg = p.net.config();
    let (d, hd, od, nl) = (cfg.in_dim, cfg.hidden, cfg.out_dim, cfg.layers);
    let x = &p.coords[start * d..(start + rows) * d];
    let t = &p.targets[start * od..(start + rows) * od];
    let Group {
        h,
        c,
        y,
        g1,
        g2,
        grad,
        stats,
    } = s;

    // First layer by hand (K = in_dim ≤ 4).
    {
        let (_, b0) = p.net.layer(0);
        let h0 = &mut h[0][..rows * hd];
        for (xr, hr) in x.chunks_exact(d).zip(h0.chunks_exact_mut(hd)) {
            hr.fill(0.0);
            for (k, &xv) in xr.iter().enumerate() {
                for (hv, &w) in hr.iter_mut().zip(&p.w0t[k * hd..(k + 1) * hd]) {
                    *hv += xv * w;
                }
            }
        }
        fused_act(h0, &mut c[0][..rows * hd], b0, cfg.omega(0));
    }
    for l in 1..nl {
        let (w, b) = p.net.layer(l);
        let (prev, cur) = h.split_at_mut(l);
        matmul(
            mat_mut(&mut cur[0], rows, hd),
            Accum::Replace,
            mat(&prev[l - 1], rows, hd),
            mat(w, hd, hd).transpose(),
            1.0f32,
            Par::Seq,
        );
        fused_act(
            &mut cur[0][..rows * hd],
            &mut c[l][..rows * hd],
            b,
            cfg.omega(l),
        );
    }
    let (wl, bl) = p.net.layer(nl);
    matmul(
        mat_mut(y, rows, od),
        Accum::Replace,
        mat(&h[nl - 1], rows, hd),
        mat(wl, od, hd).transpose(),
        1.0f32,
        Par::Seq,
    );
    // Output bias, loss, dL/dy into g1.
    let mut st = Stats::default();
    for ((yr, tr), gr) in y[..rows * od]
        .chunks_exact_mut(od)
        .zip(t.chunks_exact(od))
        .zip(g1.chunks_exact_mut(od))
    {
        for (((yv, &tv), gv), &bv) in yr.iter_mut().zip(tr).zip(gr.iter_mut()).zip(bl) {
            *yv += bv;
            let e = *yv - tv;
            let ea = (e as f64).abs();
            st.sum_sq += ea * ea;
            st.max_abs = st.max_abs.max(ea);
            match p.loss {
                Loss::L2 => {
                    st.sum_loss += ea * ea;
                    *gv = 2.0 * e * p.scale;
                }
                Loss::L1 => {
                    st.sum_loss += ea;
                    *gv = if e > 0.0 {
                        p.scale
                    } else if e < 0.0 {
                        -p.scale
                    } else {
                        0.0
                    };
                }
            }
        }
    }
    if st.max_abs.is_nan() || !st.sum_sq.is_finite() {
        st.max_abs = f64::INFINITY;
    }
    stats.merge(&st);
    if !p.backward {
        return;
    }

    // Output layer.
    {
        let off = cfg.layer_offset(nl);
        let (gw, gb) = grad[off..off + od * hd + od].split_at_mut(od * hd);
        matmul(
            mat_mut(gw, od, hd),
            Accum::Add,
            mat(g1, rows, od).transpose(),
            mat(&h[nl - 1], rows, hd),
            1.0f32,
            Par::Seq,
        );
        col_sum(&g1[..rows * od], od, gb);
        matmul(
            mat_mut(g2, rows, hd),
            Accum::Replace,
            mat(g1, rows, od),
            mat(wl, od, hd),
            1.0f32,
            Par::Seq,
        );
    }
    // Hidden layers, last to first; g2 holds dL/dh_l on entry.
    for l in (0..nl).rev() {
        let n_in = if l == 0 { d } else { hd };
        let ga = &mut g2[..rows * hd];
        for (gv, &cv) in ga.iter_mut().zip(&c[l][..rows * hd]) {
            *gv *= cv;
        }
        let off = cfg.layer_offset(l);
        let (gw, gb) = grad[off..off + hd * n_in + hd].split_at_mut(hd * n_in);
        let inp: &[f32] = if l == 0 { x } else { &h[l - 1] };
        matmul(
            mat_mut(gw, hd, n_in),
            Accum::Add,
            mat(ga, rows, hd).transpose(),
            mat(inp, rows, n_in),
            1.0f32,
            Par::Seq,
        );
        col_sum(ga, hd, gb);
        if l > 0 {
            let (w, _) = p.net.layer(l);
            matmul(
                mat_mut(g1, rows, hd),
                Accum::Replace,
                mat(g2, rows, hd),
                mat(w, hd, hd),
                1.0f32,
                Par::Seq,
            );
            std::mem::swap(g1, g2);
        }
    }
}

#[inline(always)]
fn group_generic(p: &Pass, s: &mut Group, blocks: std::ops::Range<usize>, n: usize) {
    for blk in blocks {
        let start = blk * BLOCK;
        let rows = BLOCK.min(n - start);
        block_generic(p, s, start, rows);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn group_avx512(p: &Pass, s: &mut Group, blocks: std::ops::Range<usize>, n: usize) {
    group_generic(p, s, blocks, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn group_avx2(p: &Pass, s: &mut Group, blocks: std::ops::Range<usize>, n: usize) {
    group_generic(p, s, blocks, n)
}

/// Runs one pass (forward, optionally backward) over `n` points with the
/// fixed group partition; returns the merged stats and (if backward) the
/// gradient summed in group order into `gsum`.
fn run_pass(p: &Pass, groups: &mut [Group], n: usize, isa: Isa, gsum: &mut [f32]) -> Stats {
    let nb = n.div_ceil(BLOCK);
    let ng = groups.len().min(nb).max(1);
    groups[..ng].par_iter_mut().enumerate().for_each(|(g, s)| {
        s.stats = Stats::default();
        if p.backward {
            s.grad.fill(0.0);
        }
        let blocks = (g * nb / ng)..((g + 1) * nb / ng);
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Isa::Avx512 only comes from runtime detection.
            Isa::Avx512 => unsafe { group_avx512(p, s, blocks, n) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Isa::Avx2 only comes from runtime detection.
            Isa::Avx2 => unsafe { group_avx2(p, s, blocks, n) },
            _ => group_generic(p, s, blocks, n),
        }
    });
    let mut st = Stats::default();
    for (g, s) in groups[..ng].iter().enumerate() {
        st.merge(&s.stats);
        if p.backward {
            if g == 0 {
                gsum.copy_from_slice(&s.grad);
            } else {
                for (a, &v) in gsum.iter_mut().zip(&s.grad) {
                    *a += v;
                }
            }
        }
    }
    st
}

fn transpose_w0(net: &Siren) -> Vec<f32> {
    let cfg = net.config();
    let (w, _) = net.layer(0);
    let (d, hd) = (cfg.in_dim, cfg.hidden);
    let mut t = vec![0.0; d * hd];
    for i in 0..hd {
        for k in 0..d {
            t[k * hd + i] = w[i * d + k];
        }
    }
    t
}

fn check_data(net: &Siren, coords: &[f32], targets: &[f32]) -> Result<usize> {
    let cfg = net.config();
    if coords.len() / cfg.in_dim * cfg.in_dim != coords.len() {
        return Err(Error::InvalidInput(
            "coordinates are not a multiple of in_dim".into(),
        ));
    }
    let n = coords.len() / cfg.in_dim;
    if n == 0 {
        return Err(Error::InvalidInput("no training points".into()));
    }
    if targets.len() != n * cfg.out_dim {
        return Err(Error::InvalidInput(format!(
            "{} targets for {} points × {} channels",
            targets.len(),
            n,
            cfg.out_dim
        )));
    }
    Ok(n)
}

/// Mean loss over all points and channels and its gradient with respect to
/// the flat parameters, computed by the training (fast) path. For tests and
/// for other optimisers.
pub fn loss_and_grad(
    net: &Siren,
    coords: &[f32],
    targets: &[f32],
    loss: Loss,
) -> Result<(f64, Vec<f32>)> {
    let n = check_data(net, coords, targets)?;
    let cfg = *net.config();
    let w0t = transpose_w0(net);
    let nv = (n * cfg.out_dim) as f64;
    let p = Pass {
        net,
        w0t: &w0t,
        coords,
        targets,
        scale: (1.0 / nv) as f32,
        loss,
        backward: true,
    };
    let mut groups: Vec<Group> = (0..MAX_GROUPS.min(n.div_ceil(BLOCK)))
        .map(|_| Group::new(&cfg))
        .collect();
    let mut g = vec![0.0; cfg.n_params()];
    let st = run_pass(&p, &mut groups, n, Isa::detect(), &mut g);
    Ok((st.sum_loss / nv, g))
}

fn train_cpu(
    net: &mut Siren,
    coords: &[f32],
    targets: &[f32],
    tc: &TrainConfig,
) -> Result<TrainReport> {
    let n = check_data(net, coords, targets)?;
    let cfg = *net.config();
    let (d, od) = (cfg.in_dim, cfg.out_dim);
    if !(tc.lr.is_finite() && tc.lr_min.is_finite()) {
        return Err(Error::InvalidInput("learning rates must be finite".into()));
    }
    let bs = tc.batch.map(|b| b.clamp(1, n)).unwrap_or(n);
    let full = bs == n;
    let isa = Isa::detect();
    let np = cfg.n_params();
    let mut groups: Vec<Group> = (0..MAX_GROUPS.min(bs.div_ceil(BLOCK)))
        .map(|_| Group::new(&cfg))
        .collect();
    let mut eval_groups: Vec<Group> = if full {
        Vec::new()
    } else {
        (0..MAX_GROUPS.min(n.div_ceil(BLOCK)))
            .map(|_| Group::new(&cfg))
            .collect()
    };
    let mut gsum = vec![0.0f32; np];
    let (mut m, mut v) = (vec![0.0f32; np], vec![0.0f32; np]);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f32);
    let mut rng = super::SplitMix64::new(tc.seed);
    let mut perm: Vec<usize> = (0..n).collect();
    let mut cursor = n;
    let (mut bx, mut by) = if full {
        (Vec::new(), Vec::new())
    } else {
        (vec![0.0; bs * d], vec![0.0; bs * od])
    };
    let nv_all = (n * od) as f64;
    let met = |st: &Stats| {
        let mse = st.sum_sq / nv_all;
        let a = tc.target_mse.map(|t| mse <= t as f64);
        let b = tc.target_max_abs.map(|t| st.max_abs <= t as f64);
        (a.is_some() || b.is_some()) && a.unwrap_or(true) && b.unwrap_or(true)
    };

    let t0 = Instant::now();
    let mut steps = 0;
    let mut stopped_early = false;
    let mut last_loss = f64::NAN;
    let mut point_steps = 0u64;
    for step in 0..tc.steps {
        // Mini-batch: check targets on all points every `check_every` steps.
        if !full && tc.check_every > 0 && step % tc.check_every == 0 && step > 0 {
            let w0t = transpose_w0(net);
            let p = Pass {
                net,
                w0t: &w0t,
                coords,
                targets,
                scale: 0.0,
                loss: tc.loss,
                backward: false,
            };
            let st = run_pass(&p, &mut eval_groups, n, isa, &mut []);
            if met(&st) {
                stopped_early = true;
                break;
            }
        }
        let (xc, yc): (&[f32], &[f32]) = if full {
            (coords, targets)
        } else {
            for i in 0..bs {
                if cursor == n {
                    for k in (1..n).rev() {
                        let j = rng.below(k + 1);
                        perm.swap(k, j);
                    }
                    cursor = 0;
                }
                let src = perm[cursor];
                cursor += 1;
                bx[i * d..(i + 1) * d].copy_from_slice(&coords[src * d..(src + 1) * d]);
                by[i * od..(i + 1) * od].copy_from_slice(&targets[src * od..(src + 1) * od]);
            }
            (&bx, &by)
        };
        let w0t = transpose_w0(net);
        let nvb = (bs * od) as f64;
        let p = Pass {
            net,
            w0t: &w0t,
            coords: xc,
            targets: yc,
            scale: (1.0 / nvb) as f32,
            loss: tc.loss,
            backward: true,
        };
        let st = run_pass(&p, &mut groups, bs, isa, &mut gsum);
        point_steps += bs as u64;
        last_loss = st.sum_loss / nvb;
        if full && met(&st) {
            stopped_early = true;
            break;
        }
        // Adam with bias correction and cosine-annealed learning rate.
        let t = (step + 1) as i32;
        let frac = step as f64 / tc.steps.max(1) as f64;
        let lr = tc.lr_min as f64
            + 0.5 * (tc.lr as f64 - tc.lr_min as f64) * (1.0 + (std::f64::consts::PI * frac).cos());
        let step_size = (lr / (1.0 - b1.powi(t))) as f32;
        let inv_bc2 = (1.0 / (1.0 - b2.powi(t))) as f32;
        let (b1f, b2f) = (b1 as f32, b2 as f32);
        for (((pv, &g), mv), vv) in net
            .params_mut()
            .iter_mut()
            .zip(&gsum)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            *mv = b1f * *mv + (1.0 - b1f) * g;
            *vv = b2f * *vv + (1.0 - b2f) * g * g;
            *pv -= step_size * *mv / ((*vv * inv_bc2).sqrt() + eps);
        }
        steps += 1;
    }
    let seconds = t0.elapsed().as_secs_f64();

    let pred = net.predict_vec(coords)?;
    let mut fin = Stats::default();
    for (&a, &b) in pred.iter().zip(targets) {
        let e = (a as f64 - b as f64).abs();
        fin.sum_sq += e * e;
        fin.max_abs = if e.is_nan() {
            f64::INFINITY
        } else {
            fin.max_abs.max(e)
        };
    }
    let target_met = met(&fin);
    Ok(TrainReport {
        steps,
        stopped_early,
        last_loss,
        mse: fin.sum_sq / nv_all,
        max_abs: fin.max_abs,
        target_met,
        seconds,
        point_steps,
        flops: point_steps as f64 * flops_per_point_step(&cfg),
    })
}
