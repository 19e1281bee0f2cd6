//! Harmonic decomposition (HiHa step 2): a 3-D FFT over (level, lat, lon)
//! splits a frame into low, mid and high frequency bands that sum back to the
//! input (`high` is defined as the remainder, in f64).
//!
//! # Thresholds and units
//!
//! The paper's threshold comes from SIREN initialisation: `f₀ = Ω·√(6/n_c)`,
//! low = (0, f₀), mid = (f₀, 3f₀), high = above 3f₀. hiha measures a
//! frequency as an *angular frequency per unit of network input*: on the
//! unit sphere one unit of arc is one radian, so a zonal harmonic with `m`
//! waves around a latitude circle has frequency `m`, and a meridional one
//! with `j` waves per half great circle (pole to pole and back) has `j`; on
//! the level axis the input is `p ∈ [-1, 1]`. Taken literally (`f₀ ≈ 2.1`
//! for Ω = 14, n_c = 256) the low band would hold only wavenumbers 0–2, so
//! the cut-offs are `κ_low = s·f₀`, `κ_mid = 3·s·f₀` with one documented
//! calibration factor `s` ([`band_thresholds`], default 3 in
//! `FicConfig::band_scale`): wavenumbers ≤ 6 (planetary) in low, 7–19
//! (synoptic) in mid, the rest high. The radial frequency of an FFT bin is
//! `κ = √(ω_lev² + ω_lat² + ω_lon²)`.
//!
//! # Non-periodic axes
//!
//! Latitude and level (and longitude when the grid is not global) are
//! mirror-extended (`x₀ … x_{n−1} x_{n−1} … x₀`, the DCT-II symmetry) before
//! the FFT, so there is no jump at the ends and no leakage; the filtered
//! field stays symmetric and its first half is the band.

use crate::error::{Error, Result};
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

/// The band edges, in angular frequency per unit of network input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandThresholds {
    /// Upper edge of the low band.
    pub low: f64,
    /// Upper edge of the mid band.
    pub mid: f64,
}

/// `κ_low = s·Ω·√(6/n_c)`, `κ_mid = 3·κ_low`.
pub fn band_thresholds(omega: f64, n_c: usize, scale: f64) -> BandThresholds {
    let f0 = omega * (6.0 / n_c.max(1) as f64).sqrt() * scale;
    BandThresholds {
        low: f0,
        mid: 3.0 * f0,
    }
}

/// One axis of the transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    /// Number of samples.
    pub n: usize,
    /// Periodic (global longitude) or mirror-extended.
    pub periodic: bool,
    /// Spacing between samples in units of network input (radians of arc
    /// for lat/lon, `2/(n−1)` for the level coordinate).
    pub spacing: f64,
}

impl Axis {
    fn ext_len(&self) -> usize {
        if self.periodic || self.n == 1 {
            self.n
        } else {
            2 * self.n
        }
    }

    /// Angular frequency of bin `k` of the (extended) transform.
    fn omega(&self, k: usize) -> f64 {
        let ne = self.ext_len();
        let kk = k.min(ne - k) as f64;
        let period = ne as f64 * self.spacing;
        if period > 0.0 {
            2.0 * std::f64::consts::PI * kk / period
        } else {
            0.0
        }
    }
}

/// The three bands of a frame, in f64; `low + mid + high == x` up to one
/// rounding per element.
#[derive(Debug, Clone)]
pub struct Bands {
    pub low: Vec<f64>,
    pub mid: Vec<f64>,
    pub high: Vec<f64>,
}

fn fft_axis(
    data: &mut [Complex64],
    dims: [usize; 3],
    axis: usize,
    inverse: bool,
    planner: &mut FftPlanner<f64>,
) {
    let n = dims[axis];
    if n <= 1 {
        return;
    }
    let fft = if inverse {
        planner.plan_fft_inverse(n)
    } else {
        planner.plan_fft_forward(n)
    };
    let stride: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    let mut buf = vec![Complex64::new(0.0, 0.0); n];
    for o in 0..outer {
        for s in 0..stride {
            let base = o * n * stride + s;
            for (k, b) in buf.iter_mut().enumerate() {
                *b = data[base + k * stride];
            }
            fft.process(&mut buf);
            for (k, b) in buf.iter().enumerate() {
                data[base + k * stride] = *b;
            }
        }
    }
}

fn mirror(i: usize, n: usize) -> usize {
    if i < n {
        i
    } else {
        2 * n - 1 - i
    }
}

/// Splits `x` (row-major `dims` = (level, lat, lon)) into bands.
pub fn split(x: &[f64], axes: [Axis; 3], th: BandThresholds) -> Result<Bands> {
    let dims = [axes[0].n, axes[1].n, axes[2].n];
    let n: usize = dims.iter().product();
    if n == 0 || x.len() != n {
        return Err(Error::InvalidInput(format!(
            "spectral split: {} values for dims {dims:?}",
            x.len()
        )));
    }
    let ed = [axes[0].ext_len(), axes[1].ext_len(), axes[2].ext_len()];
    let ne: usize = ed.iter().product();
    let mut spec = vec![Complex64::new(0.0, 0.0); ne];
    for a in 0..ed[0] {
        let sa = mirror(a, dims[0]);
        for b in 0..ed[1] {
            let sb = mirror(b, dims[1]);
            for c in 0..ed[2] {
                let sc = mirror(c, dims[2]);
                spec[(a * ed[1] + b) * ed[2] + c].re = x[(sa * dims[1] + sb) * dims[2] + sc];
            }
        }
    }
    let mut planner = FftPlanner::new();
    for ax in 0..3 {
        fft_axis(&mut spec, ed, ax, false, &mut planner);
    }
    let w: Vec<Vec<f64>> = (0..3)
        .map(|ax| (0..ed[ax]).map(|k| axes[ax].omega(k)).collect())
        .collect();
    let mut low = vec![Complex64::new(0.0, 0.0); ne];
    let mut mid = vec![Complex64::new(0.0, 0.0); ne];
    for a in 0..ed[0] {
        for b in 0..ed[1] {
            for c in 0..ed[2] {
                let k = (w[0][a] * w[0][a] + w[1][b] * w[1][b] + w[2][c] * w[2][c]).sqrt();
                let i = (a * ed[1] + b) * ed[2] + c;
                if k < th.low {
                    low[i] = spec[i];
                } else if k < th.mid {
                    mid[i] = spec[i];
                }
            }
        }
    }
    drop(spec);
    for ax in 0..3 {
        fft_axis(&mut low, ed, ax, true, &mut planner);
        fft_axis(&mut mid, ed, ax, true, &mut planner);
    }
    let norm = 1.0 / ne as f64;
    let mut bands = Bands {
        low: vec![0.0; n],
        mid: vec![0.0; n],
        high: vec![0.0; n],
    };
    for a in 0..dims[0] {
        for b in 0..dims[1] {
            for c in 0..dims[2] {
                let i = (a * dims[1] + b) * dims[2] + c;
                let e = (a * ed[1] + b) * ed[2] + c;
                let l = low[e].re * norm;
                let m = mid[e].re * norm;
                bands.low[i] = l;
                bands.mid[i] = m;
                bands.high[i] = x[i] - l - m;
            }
        }
    }
    Ok(bands)
}

/// The axes of a (levels, lat, lon) frame on a lat/lon grid: spacing in
/// radians of arc (longitude as degrees of a full circle), level index
/// spacing `2/(nl−1)` in `p`.
pub fn frame_axes(
    dims: [usize; 3],
    lat_deg: &[f64],
    lon_deg: &[f64],
    lon_global: bool,
) -> [Axis; 3] {
    let spacing = |v: &[f64]| {
        if v.len() > 1 {
            ((v[v.len() - 1] - v[0]) / (v.len() - 1) as f64)
                .abs()
                .to_radians()
        } else {
            0.0
        }
    };
    [
        Axis {
            n: dims[0],
            periodic: false,
            spacing: if dims[0] > 1 {
                2.0 / (dims[0] - 1) as f64
            } else {
                0.0
            },
        },
        Axis {
            n: dims[1],
            periodic: false,
            spacing: spacing(lat_deg),
        },
        Axis {
            n: dims[2],
            periodic: lon_global,
            spacing: spacing(lon_deg),
        },
    ]
}

/// Axes for a sub-block addressed by local coordinates in `[-1, 1]` on every
/// axis (all mirror-extended), used by the IDM re-decomposition.
pub fn block_axes(dims: [usize; 3]) -> [Axis; 3] {
    let ax = |n: usize| Axis {
        n,
        periodic: false,
        spacing: if n > 1 { 2.0 / (n - 1) as f64 } else { 0.0 },
    };
    [ax(dims[0]), ax(dims[1]), ax(dims[2])]
}
