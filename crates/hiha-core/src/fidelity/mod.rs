//! The fitness report of a reconstruction: the checks a climate scientist
//! runs before trusting decompressed data (issue 13, `hiha compare`).
//!
//! One variable is compared at a time ([`report`]); the winds `u` and `v`
//! together give the vorticity and divergence error ([`wind_error`]). Each
//! concept has its own file:
//!
//! | file | what |
//! |---|---|
//! | `pointwise` | per-level NRMSE, max error, median relative error; bias, R², sign changes |
//! | `spatial` | lag-1 autocorrelation of the error along longitude and latitude; DSSIM |
//! | `spectra` | zonal power spectra, decoded ÷ original, per wavenumber and octave band |
//! | `dynamics` | geostrophic wind error of geopotential; vorticity and divergence error of u, v |
//! | `ensemble` | error ÷ ensemble spread (median, 99th percentile) |
//!
//! Definitions (docs/fidelity.md gives them with their reasons):
//!
//! * The error is `e = x̂ − x`, the reconstruction minus the original; the
//!   original is the source's value as the file defines it
//!   ([`Field::source_value`]). Elements missing in the original are skipped.
//! * A score against a reference with no spread (a constant level, a
//!   constant field) is the perfect score when the reconstruction is exact
//!   and `None` otherwise; a statistic over no elements is `None` (or 0 for
//!   counts and shares). No value of the report is NaN or infinite.
//! * Sizes taken from the input are checked; a mismatch is
//!   [`Error::InvalidInput`], never a panic.

mod dynamics;
mod ensemble;
mod pointwise;
mod spatial;
mod spectra;

pub use dynamics::{geopotential_factor, WindError, WindErrors};
pub use ensemble::{Ensemble, SpreadRatio, MEMBER_DIMS};
pub use pointwise::{LevelStats, SignChanges};
pub use spatial::{Autocorrelation, Dssim};
pub use spectra::{SpectralBand, ZonalSpectra};

use crate::error::{Error, Result};
use crate::field::Field;

/// One variable to compare: its original, its reconstruction and its grid.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub field: &'a Field,
    /// The reconstruction, in the field's order (frames × levels × lat × lon).
    pub recon: &'a [f32],
    /// Latitudes in degrees north, one per row.
    pub lat: &'a [f64],
    /// Longitudes in degrees east, one per column.
    pub lon: &'a [f64],
}

/// What the report may compute beyond the generic metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Multiply the variable by this to get geopotential in m² s⁻² (1 for
    /// `z`, g₀ for `gh` in gpm); `None` skips the geostrophic wind error.
    /// [`geopotential_factor`] finds it from the variable's metadata.
    pub geopotential_factor: Option<f64>,
    /// How the frames hold ensemble members; `None` skips error ÷ spread.
    pub ensemble: Option<Ensemble>,
}

/// The fitness report of one variable.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fidelity {
    /// Number of elements compared (valid in the original).
    pub n: usize,
    /// Per level, each against its own range.
    pub levels: Vec<LevelStats>,
    /// Mean error x̂ − x over every element.
    pub bias: Option<f64>,
    /// 1 − SSE/SST over every element.
    pub r2: Option<f64>,
    pub signs: SignChanges,
    pub autocorrelation: Autocorrelation,
    pub spectra: Option<ZonalSpectra>,
    pub dssim: Option<Dssim>,
    /// Geostrophic wind error, for geopotential.
    pub geostrophic_wind: Option<WindError>,
    /// Error ÷ ensemble spread, for an ensemble.
    pub spread_ratio: Option<SpreadRatio>,
}

/// The fitness report of one variable; see the module docs for the rules.
pub fn report(input: &Input<'_>, opts: &Options) -> Result<Fidelity> {
    let g = Grid::check(input)?;
    let d = Data::load(input)?;
    let (levels, global) = pointwise::stats(&g, &d);
    Ok(Fidelity {
        n: global.n,
        levels,
        bias: global.bias,
        r2: global.r2,
        signs: global.signs,
        autocorrelation: spatial::autocorrelation(&g, &d),
        spectra: spectra::zonal(&g, &d),
        dssim: spatial::dssim(&g, &d),
        geostrophic_wind: match opts.geopotential_factor {
            Some(f) => dynamics::geostrophic(&g, &d, input.lat, input.lon, f)?,
            None => None,
        },
        spread_ratio: match opts.ensemble {
            Some(e) => ensemble::spread_ratio(&g, &d, e)?,
            None => None,
        },
    })
}

/// The vorticity and divergence error of the winds `u` and `v` (same shape
/// and grid); `None` when no point has a complete stencil.
pub fn wind_error(u: &Input<'_>, v: &Input<'_>) -> Result<Option<WindErrors>> {
    let g = Grid::check(u)?;
    let gv = Grid::check(v)?;
    if g != gv || u.lat != v.lat || u.lon != v.lon {
        return Err(Error::InvalidInput(
            "u and v must share shape and grid to compare vorticity and divergence".into(),
        ));
    }
    let du = Data::load(u)?;
    let dv = Data::load(v)?;
    dynamics::vorticity_divergence(&g, &du, &dv, u.lat, u.lon)
}

/// The checked shape: `slices` 2-D lat × lon slices (frames × levels) of
/// `nlat` × `nlon` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub frames: usize,
    pub levels: usize,
    pub nlat: usize,
    pub nlon: usize,
    pub plane: usize,
    pub slices: usize,
}

impl Grid {
    fn check(input: &Input<'_>) -> Result<Self> {
        let s = input.field.shape;
        let len = s.checked_len()?;
        if input.field.values.len() != len || input.recon.len() != len {
            return Err(Error::InvalidInput(format!(
                "shape {s:?} holds {len} values, the original has {} and the reconstruction {}",
                input.field.values.len(),
                input.recon.len()
            )));
        }
        if input.field.missing.as_ref().is_some_and(|m| m.len() != len) {
            return Err(Error::InvalidInput("mask length differs from data".into()));
        }
        if input.lat.len() != s.lat || input.lon.len() != s.lon {
            return Err(Error::InvalidInput(format!(
                "{} latitudes and {} longitudes for a {} × {} grid",
                input.lat.len(),
                input.lon.len(),
                s.lat,
                s.lon
            )));
        }
        if input.lat.iter().chain(input.lon).any(|c| !c.is_finite()) {
            return Err(Error::InvalidInput("a coordinate is not finite".into()));
        }
        let plane = s.lat * s.lon; // ≤ len, which did not overflow
        let levels = s.levels;
        let slices = s.frames * levels;
        Ok(Self {
            frames: s.frames,
            levels,
            nlat: s.lat,
            nlon: s.lon,
            plane,
            slices,
        })
    }

    /// The level of slice `s`.
    fn level(&self, s: usize) -> usize {
        s % self.levels.max(1)
    }
}

/// The original (as the source defines it) and the reconstruction, in f64,
/// with the elements that count.
pub(crate) struct Data {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub valid: Vec<bool>,
}

impl Data {
    fn load(input: &Input<'_>) -> Result<Self> {
        let f = input.field;
        let n = f.values.len();
        let mut x = vec![0.0; n];
        let mut y = vec![0.0; n];
        let mut valid = vec![false; n];
        for (i, &r) in input.recon.iter().enumerate() {
            if f.is_missing(i) {
                continue;
            }
            let b = r as f64;
            if !b.is_finite() {
                return Err(Error::InvalidInput(format!(
                    "reconstructed value at index {i} is not finite ({b}) where the original is valid"
                )));
            }
            x[i] = f.source_value(i).0;
            y[i] = b;
            valid[i] = true;
        }
        Ok(Self { x, y, valid })
    }

    /// The error x̂ − x at `i` when it counts.
    fn err(&self, i: usize) -> Option<f64> {
        self.valid[i].then(|| self.y[i] - self.x[i])
    }
}

/// The ⌈q·n⌉-th smallest of `v` (nearest rank; the smallest for q = 0),
/// or `None` for an empty slice. Reorders `v`.
pub(crate) fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    let k = rank.saturating_sub(1).min(v.len() - 1);
    let (_, m, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    Some(*m)
}

/// `a / b` when `b > 0`; the perfect score `exact` when both are 0; `None`
/// otherwise (a reference with no spread and an inexact reconstruction).
pub(crate) fn ratio_or(a: f64, b: f64, exact: f64) -> Option<f64> {
    if b > 0.0 {
        let r = a / b;
        r.is_finite().then_some(r)
    } else if a == 0.0 {
        Some(exact)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
