//! Zonal power spectra: FFT along longitude of every row.

use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

use super::{ratio_or, Data, Grid};

/// One octave band of zonal wavenumbers, k_lo ..= k_hi.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpectralBand {
    pub k_lo: usize,
    pub k_hi: usize,
    /// Mean power of the original over the band's wavenumbers and the rows.
    pub original_power: f64,
    pub decoded_power: f64,
    /// Σ decoded power ÷ Σ original power over the band (1 when both are 0,
    /// `None` when only the original's is).
    pub ratio: Option<f64>,
    /// Σ error power ÷ Σ original power over the band (same rule, 0 when both are 0).
    pub error_ratio: Option<f64>,
}

/// The zonal spectra of the rows (frame, level, latitude) with every
/// longitude valid, averaged over those rows (unweighted).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZonalSpectra {
    /// Rows transformed.
    pub rows: usize,
    /// Rows left out because a value is missing.
    pub skipped_rows: usize,
    /// Octave bands: k = 1, 2–3, 4–7, …, the last ending at nlon / 2.
    pub bands: Vec<SpectralBand>,
    /// Decoded ÷ original power at each wavenumber k = 0 ..= nlon / 2.
    pub ratio_per_k: Vec<Option<f64>>,
}

/// `None` with fewer than 2 longitudes or no complete row.
pub(super) fn zonal(g: &Grid, d: &Data) -> Option<ZonalSpectra> {
    if g.nlon < 2 {
        return None;
    }
    let nk = g.nlon / 2 + 1;
    let fft = FftPlanner::<f64>::new().plan_fft_forward(g.nlon);
    let mut bx = vec![Complex64::default(); g.nlon];
    let mut by = bx.clone();
    let mut be = bx.clone();
    let (mut px, mut py, mut pe) = (vec![0.0; nk], vec![0.0; nk], vec![0.0; nk]);
    let (mut rows, mut skipped_rows) = (0usize, 0usize);
    for row in 0..g.slices * g.nlat {
        let base = row * g.nlon;
        if !d.valid[base..base + g.nlon].iter().all(|&v| v) {
            skipped_rows += 1;
            continue;
        }
        for j in 0..g.nlon {
            let (x, y) = (d.x[base + j], d.y[base + j]);
            bx[j] = Complex64::new(x, 0.0);
            by[j] = Complex64::new(y, 0.0);
            be[j] = Complex64::new(y - x, 0.0);
        }
        fft.process(&mut bx);
        fft.process(&mut by);
        fft.process(&mut be);
        for k in 0..nk {
            px[k] += bx[k].norm_sqr();
            py[k] += by[k].norm_sqr();
            pe[k] += be[k].norm_sqr();
        }
        rows += 1;
    }
    if rows == 0 {
        return None;
    }
    let mut bands = Vec::new();
    let mut lo = 1usize;
    while lo < nk {
        let hi = lo.saturating_mul(2).saturating_sub(1).min(nk - 1);
        let sx: f64 = px[lo..=hi].iter().sum();
        let sy: f64 = py[lo..=hi].iter().sum();
        let se: f64 = pe[lo..=hi].iter().sum();
        let per = rows as f64 * (hi - lo + 1) as f64;
        bands.push(SpectralBand {
            k_lo: lo,
            k_hi: hi,
            original_power: sx / per,
            decoded_power: sy / per,
            ratio: ratio_or(sy, sx, 1.0),
            error_ratio: ratio_or(se, sx, 0.0),
        });
        lo = hi + 1;
    }
    Some(ZonalSpectra {
        rows,
        skipped_rows,
        bands,
        ratio_per_k: px
            .iter()
            .zip(&py)
            .map(|(&x, &y)| ratio_or(y, x, 1.0))
            .collect(),
    })
}
