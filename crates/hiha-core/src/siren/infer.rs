//! The reproducible inference kernel.
//!
//! Canonical operation order, per point and per neuron `i` of layer `l`:
//!
//! ```text
//! acc = 0.0; for j in 0..n_in { acc += W[i][j] * h[j] }   // f32, j ascending
//! hidden:  h'[i] = trig::sin((acc + b[i]) * Ω_l)
//! output:  y[i]  = acc + b[i]
//! ```
//!
//! Every step is an IEEE-754 f32 `+` or `*` (never fused) or the bit-exact
//! [`super::trig::sin`], so any evaluation that follows this order gives the
//! same bits. The fast kernel keeps it: it vectorises *across points* (16
//! lanes = 16 points; each lane runs exactly the scalar sequence) and blocks 4
//! neurons at a time for register reuse; threads split the points only. The
//! kernel is compiled three times (baseline, AVX2, AVX-512F) and chosen at run
//! time; on other architectures the baseline build auto-vectorises (NEON).

use super::trig;
use super::Siren;
use rayon::prelude::*;

/// Points per SIMD block (lanes).
pub const LANES: usize = 16;
/// Points per parallel task.
const CHUNK: usize = 512;

type V = [f32; LANES];

/// Instruction set the kernel is compiled for. All give identical bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Baseline target features (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// x86-64 AVX2.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
}

impl Isa {
    /// Best instruction set of this CPU.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// Every instruction set usable on this CPU (for tests).
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Isa::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
        }
        v
    }
}

/// Fixed-order dense layer over one block: `acc[i][p] = Σ_j W[i][j] * h[j][p]`.
#[inline(always)]
fn dense(w: &[f32], n_in: usize, n_out: usize, h: &[V], acc: &mut [V]) {
    let h = &h[..n_in];
    let mut i = 0;
    while i + 4 <= n_out {
        let w0 = &w[i * n_in..(i + 1) * n_in];
        let w1 = &w[(i + 1) * n_in..(i + 2) * n_in];
        let w2 = &w[(i + 2) * n_in..(i + 3) * n_in];
        let w3 = &w[(i + 3) * n_in..(i + 4) * n_in];
        let mut a0 = [0.0f32; LANES];
        let mut a1 = [0.0f32; LANES];
        let mut a2 = [0.0f32; LANES];
        let mut a3 = [0.0f32; LANES];
        for j in 0..n_in {
            let x = &h[j];
            let (c0, c1, c2, c3) = (w0[j], w1[j], w2[j], w3[j]);
            for p in 0..LANES {
                a0[p] += c0 * x[p];
                a1[p] += c1 * x[p];
                a2[p] += c2 * x[p];
                a3[p] += c3 * x[p];
            }
        }
        acc[i] = a0;
        acc[i + 1] = a1;
        acc[i + 2] = a2;
        acc[i + 3] = a3;
        i += 4;
    }
    while i < n_out {
        let wi = &w[i * n_in..(i + 1) * n_in];
        let mut a = [0.0f32; LANES];
        for j in 0..n_in {
            let c = wi[j];
            let x = &h[j];
            for p in 0..LANES {
                a[p] += c * x[p];
            }
        }
        acc[i] = a;
        i += 1;
    }
}

/// Evaluates a chunk of points (point-major in and out).
#[inline(always)]
fn chunk_generic(net: &Siren, coords: &[f32], out: &mut [f32]) {
    let cfg = net.config();
    let (d, od, width) = (
        cfg.in_dim,
        cfg.out_dim,
        cfg.hidden.max(cfg.out_dim).max(cfg.in_dim),
    );
    let n = coords.len() / d;
    let mut ha = vec![[0.0f32; LANES]; width];
    let mut hb = vec![[0.0f32; LANES]; width];
    let mut start = 0;
    while start < n {
        let np = LANES.min(n - start);
        for (k, hk) in ha.iter_mut().take(d).enumerate() {
            for p in 0..LANES {
                hk[p] = if p < np {
                    coords[(start + p) * d + k]
                } else {
                    0.0
                };
            }
        }
        for l in 0..cfg.n_linear() {
            let (n_in, n_out) = cfg.layer_dims(l);
            let (w, b) = net.layer(l);
            dense(w, n_in, n_out, &ha, &mut hb);
            if l < cfg.layers {
                let om = cfg.omega(l);
                for (hi, &bi) in hb[..n_out].iter_mut().zip(b) {
                    for v in hi.iter_mut() {
                        *v = trig::sin((*v + bi) * om);
                    }
                }
            } else {
                for (hi, &bi) in hb[..n_out].iter_mut().zip(b) {
                    for v in hi.iter_mut() {
                        *v += bi;
                    }
                }
            }
            std::mem::swap(&mut ha, &mut hb);
        }
        for p in 0..np {
            for c in 0..od {
                out[(start + p) * od + c] = ha[c][p];
            }
        }
        start += np;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunk_avx2(net: &Siren, coords: &[f32], out: &mut [f32]) {
    chunk_generic(net, coords, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chunk_avx512(net: &Siren, coords: &[f32], out: &mut [f32]) {
    chunk_generic(net, coords, out)
}

fn chunk(net: &Siren, coords: &[f32], out: &mut [f32], isa: Isa) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only produced after runtime detection of AVX2.
        Isa::Avx2 => unsafe { chunk_avx2(net, coords, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only produced after runtime detection of AVX-512F.
        Isa::Avx512 => unsafe { chunk_avx512(net, coords, out) },
        _ => chunk_generic(net, coords, out),
    }
}

/// Parallel (over points) evaluation with the kernel built for `isa` (the
/// baseline build is used if this CPU lacks `isa`); for tests and benchmarks,
/// [`Siren::predict`] picks the best one. Errors on inconsistent shapes.
pub fn predict(net: &Siren, coords: &[f32], out: &mut [f32], isa: Isa) -> crate::Result<()> {
    net.check_io(coords, out)?;
    predict_unchecked(net, coords, out, isa);
    Ok(())
}

pub(super) fn predict_unchecked(net: &Siren, coords: &[f32], out: &mut [f32], isa: Isa) {
    let isa = if Isa::available().contains(&isa) {
        isa
    } else {
        Isa::Baseline
    };
    let (d, od) = (net.config().in_dim, net.config().out_dim);
    coords
        .par_chunks(CHUNK * d)
        .zip(out.par_chunks_mut(CHUNK * od))
        .for_each(|(c, o)| chunk(net, c, o, isa));
}

/// The scalar definition (one point at a time, no SIMD blocks, no threads).
pub(super) fn predict_scalar(net: &Siren, coords: &[f32], out: &mut [f32]) {
    let cfg = net.config();
    let (d, od) = (cfg.in_dim, cfg.out_dim);
    let width = cfg.hidden.max(d).max(od);
    let mut h = vec![0.0f32; width];
    let mut nh = vec![0.0f32; width];
    for (x, y) in coords.chunks_exact(d).zip(out.chunks_exact_mut(od)) {
        h[..d].copy_from_slice(x);
        for l in 0..cfg.n_linear() {
            let (n_in, n_out) = cfg.layer_dims(l);
            let (w, b) = net.layer(l);
            for i in 0..n_out {
                let mut acc = 0.0f32;
                for j in 0..n_in {
                    acc += w[i * n_in + j] * h[j];
                }
                nh[i] = if l < cfg.layers {
                    trig::sin((acc + b[i]) * cfg.omega(l))
                } else {
                    acc + b[i]
                };
            }
            std::mem::swap(&mut h, &mut nh);
        }
        y.copy_from_slice(&h[..od]);
    }
}
