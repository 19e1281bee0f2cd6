//! Spatial structure of the error: lag-1 autocorrelation, and DSSIM.

use super::{Data, Grid};

/// Lag-1 autocorrelation of the error, each 2-D slice's mean error removed
/// (so a per-level offset is bias, not structure). White noise gives ≈ 0,
/// smooth (structured) errors approach 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Autocorrelation {
    /// Between neighbours along longitude (no wrap-around).
    pub lon: Option<f64>,
    /// Between neighbours along latitude.
    pub lat: Option<f64>,
}

/// DSSIM = (1 − SSIM) / 2, SSIM averaged over the 2-D lat × lon slices.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Dssim {
    pub dssim: f64,
    /// Mean SSIM over the slices scored.
    pub ssim: f64,
    /// Slices scored.
    pub slices: usize,
    /// Slices left out: constant in the original, or no complete window.
    pub skipped: usize,
    /// Window side (7, or the grid's side when smaller).
    pub window: [usize; 2],
}

/// Pearson-style correlation of the pairs (a, b) of centred errors.
#[derive(Default)]
struct Pairs {
    n: usize,
    ab: f64,
    aa: f64,
    bb: f64,
}

impl Pairs {
    fn add(&mut self, a: f64, b: f64) {
        self.n += 1;
        self.ab += a * b;
        self.aa += a * a;
        self.bb += b * b;
    }
    fn finish(&self) -> Option<f64> {
        let den = (self.aa * self.bb).sqrt();
        (self.n > 0 && den > 0.0 && den.is_finite()).then(|| (self.ab / den).clamp(-1.0, 1.0))
    }
}

pub(super) fn autocorrelation(g: &Grid, d: &Data) -> Autocorrelation {
    let (mut lon, mut lat) = (Pairs::default(), Pairs::default());
    for s in 0..g.slices {
        let base = s * g.plane;
        let (mut sum, mut cnt) = (0.0, 0usize);
        for i in base..base + g.plane {
            if let Some(e) = d.err(i) {
                sum += e;
                cnt += 1;
            }
        }
        if cnt == 0 {
            continue;
        }
        let mean = sum / cnt as f64;
        let c = |i: usize| d.err(i).map(|e| e - mean);
        for r in 0..g.nlat {
            for j in 0..g.nlon {
                let i = base + r * g.nlon + j;
                let Some(a) = c(i) else { continue };
                if j + 1 < g.nlon {
                    if let Some(b) = c(i + 1) {
                        lon.add(a, b);
                    }
                }
                if r + 1 < g.nlat {
                    if let Some(b) = c(i + g.nlon) {
                        lat.add(a, b);
                    }
                }
            }
        }
    }
    Autocorrelation {
        lon: lon.finish(),
        lat: lat.finish(),
    }
}

/// SSIM per slice on values mapped to [0, 1] by the slice's original
/// min and range L (the same as constants C1 = (0.01·L)², C2 = (0.03·L)² on
/// values offset by the minimum), uniform windows of 7 × 7 (population
/// statistics), only windows with every element valid.
pub(super) fn dssim(g: &Grid, d: &Data) -> Option<Dssim> {
    const C1: f64 = 0.01 * 0.01;
    const C2: f64 = 0.03 * 0.03;
    let wy = g.nlat.min(7);
    let wx = g.nlon.min(7);
    let (mut total, mut slices, mut skipped) = (0.0, 0usize, 0usize);
    let mut xs = vec![0.0; wy * wx];
    let mut ys = vec![0.0; wy * wx];
    for s in 0..g.slices {
        let base = s * g.plane;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in base..base + g.plane {
            if d.valid[i] {
                lo = lo.min(d.x[i]);
                hi = hi.max(d.x[i]);
            }
        }
        let range = hi - lo;
        if !(range > 0.0 && range.is_finite()) || wy == 0 || wx == 0 {
            skipped += 1;
            continue;
        }
        let (mut sum, mut windows) = (0.0, 0usize);
        for r0 in 0..=g.nlat - wy {
            'win: for c0 in 0..=g.nlon - wx {
                for r in 0..wy {
                    for c in 0..wx {
                        let i = base + (r0 + r) * g.nlon + c0 + c;
                        if !d.valid[i] {
                            continue 'win;
                        }
                        xs[r * wx + c] = (d.x[i] - lo) / range;
                        ys[r * wx + c] = (d.y[i] - lo) / range;
                    }
                }
                let n = (wy * wx) as f64;
                let mx = xs.iter().sum::<f64>() / n;
                let my = ys.iter().sum::<f64>() / n;
                let (mut vx, mut vy, mut cxy) = (0.0, 0.0, 0.0);
                for (a, b) in xs.iter().zip(&ys) {
                    vx += (a - mx) * (a - mx);
                    vy += (b - my) * (b - my);
                    cxy += (a - mx) * (b - my);
                }
                let (vx, vy, cxy) = (vx / n, vy / n, cxy / n);
                let ssim = ((2.0 * mx * my + C1) * (2.0 * cxy + C2))
                    / ((mx * mx + my * my + C1) * (vx + vy + C2));
                if ssim.is_finite() {
                    sum += ssim;
                    windows += 1;
                }
            }
        }
        if windows == 0 {
            skipped += 1;
            continue;
        }
        total += sum / windows as f64;
        slices += 1;
    }
    (slices > 0).then(|| {
        let ssim = total / slices as f64;
        Dssim {
            dssim: ((1.0 - ssim) / 2.0).max(0.0),
            ssim,
            slices,
            skipped,
            window: [wy, wx],
        }
    })
}
