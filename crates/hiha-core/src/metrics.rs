//! Accuracy metrics, as the paper defines them.
//!
//! NRMSE = RMSE / (max − min) of the original; PSNR = 20·log10((max − min) / RMSE).
//! All sums are in f64; missing elements are skipped.

use crate::error::{Error, Result};
use crate::field::{Field, Packing};

/// Error statistics of a reconstruction against its original.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// Number of valid elements compared.
    pub n: usize,
    /// max − min of the original over valid elements.
    pub range: f64,
    pub rmse: f64,
    pub nrmse: f64,
    /// In dB; infinite for an exact reconstruction.
    pub psnr: f64,
    pub max_abs: f64,
}

impl Metrics {
    /// Compares `recon` with the source values of `field` as the file
    /// defines them ([`Field::source_value`]): each element's error is the
    /// largest it can be given what the field knows of its source, so a
    /// bound checked on these metrics holds for the source's own values.
    pub fn against_source(field: &Field, recon: &[f32]) -> Result<Self> {
        if field.packing.is_none() {
            return Self::compute(&field.values, recon, field.missing.as_deref());
        }
        if field.values.len() != recon.len() {
            return Err(Error::InvalidInput(format!(
                "cannot compare {} values with {}",
                field.values.len(),
                recon.len()
            )));
        }
        Self::accumulate(recon, |i| {
            (!field.is_missing(i)).then(|| field.source_value(i))
        })
    }

    /// Compares the re-packed reconstruction with the source values of
    /// `field`: every valid element of `recon` replaced by the value of its
    /// nearest point of `packing`'s lattice ([`Packing::index`],
    /// [`Packing::value`], in f64), as a file re-packed with that packing
    /// defines it. An element without a lattice index (not finite) is an
    /// error, as in [`Metrics::against_source`].
    pub fn repacked_against_source(field: &Field, recon: &[f32], packing: Packing) -> Result<Self> {
        if field.values.len() != recon.len() {
            return Err(Error::InvalidInput(format!(
                "cannot compare {} values with {}",
                field.values.len(),
                recon.len()
            )));
        }
        Self::accumulate_f64(
            recon.len(),
            |i| {
                packing
                    .index(recon[i])
                    .map_or(f64::NAN, |k| packing.value(k))
            },
            |i| (!field.is_missing(i)).then(|| field.source_value(i)),
        )
    }

    /// Compares `recon` with `orig`, skipping elements where `missing` is true.
    /// Errors when the lengths differ or a valid reconstructed value is not finite.
    pub fn compute(orig: &[f32], recon: &[f32], missing: Option<&[bool]>) -> Result<Self> {
        if orig.len() != recon.len() {
            return Err(Error::InvalidInput(format!(
                "cannot compare {} values with {}",
                orig.len(),
                recon.len()
            )));
        }
        if let Some(m) = missing {
            if m.len() != orig.len() {
                return Err(Error::InvalidInput("mask length differs from data".into()));
            }
        }
        Self::accumulate(recon, |i| {
            (!missing.is_some_and(|m| m[i])).then(|| (orig[i] as f64, 0.0))
        })
    }

    /// The metrics of each level of `field` (shape frames × levels × lat ×
    /// lon) against its reconstruction, each against that level's own
    /// range, computed as [`against_source`](Self::against_source) does.
    pub fn per_level(field: &Field, recon: &[f32]) -> Result<Vec<Self>> {
        if field.values.len() != recon.len() {
            return Err(Error::InvalidInput(format!(
                "cannot compare {} values with {}",
                field.values.len(),
                recon.len()
            )));
        }
        let plane = field.shape.lat.saturating_mul(field.shape.lon).max(1);
        let levels = field.shape.levels.max(1);
        let mut accs = vec![Acc::default(); levels];
        for (i, &r) in recon.iter().enumerate() {
            if field.is_missing(i) {
                continue;
            }
            accs[(i / plane) % levels].add(i, field.source_value(i), r as f64)?;
        }
        Ok(accs.iter().map(Acc::finish).collect())
    }

    /// The metrics over the elements for which `source(i)` gives the
    /// original value and how far the true original may lie from it.
    fn accumulate(recon: &[f32], source: impl Fn(usize) -> Option<(f64, f64)>) -> Result<Self> {
        Self::accumulate_f64(recon.len(), |i| recon[i] as f64, source)
    }

    /// [`Metrics::accumulate`] over `len` reconstructed values given in f64.
    fn accumulate_f64(
        len: usize,
        recon: impl Fn(usize) -> f64,
        source: impl Fn(usize) -> Option<(f64, f64)>,
    ) -> Result<Self> {
        let mut acc = Acc::default();
        for i in 0..len {
            if let Some(s) = source(i) {
                acc.add(i, s, recon(i))?;
            }
        }
        Ok(acc.finish())
    }
}

/// The metrics of a field compared piece by piece: consecutive runs of
/// whole frames, in order, each with its reconstruction. The sums run in
/// the same element order as [`Metrics::against_source`],
/// [`Metrics::repacked_against_source`] and [`Metrics::per_level`] over
/// the whole field, so the result is bit for bit theirs (the streaming
/// encoder relies on it: the archive stores these numbers).
#[derive(Debug, Clone)]
pub(crate) struct PieceMetrics {
    whole: Acc,
    /// One per level when per-level metrics are wanted.
    levels: Vec<Acc>,
    /// Elements seen so far (for error messages).
    offset: usize,
}

impl PieceMetrics {
    /// A comparison of the whole, and of each of `levels` levels when
    /// `levels > 0`.
    pub fn new(levels: usize) -> Self {
        Self {
            whole: Acc::default(),
            levels: vec![Acc::default(); levels],
            offset: 0,
        }
    }

    /// Adds a piece (starting at a frame boundary) and its reconstruction,
    /// against the piece's source values.
    pub fn add(&mut self, piece: &Field, recon: &[f32]) -> Result<()> {
        self.add_with(piece, recon.len(), |i| recon[i] as f64, recon)
    }

    /// Adds a piece whose reconstruction is re-packed onto `packing`
    /// (as [`Metrics::repacked_against_source`]).
    pub fn add_repacked(&mut self, piece: &Field, recon: &[f32], packing: Packing) -> Result<()> {
        let r = |i: usize| {
            packing
                .index(recon[i])
                .map_or(f64::NAN, |k| packing.value(k))
        };
        self.add_with(piece, recon.len(), r, recon)
    }

    fn add_with(
        &mut self,
        piece: &Field,
        len: usize,
        recon: impl Fn(usize) -> f64,
        raw: &[f32],
    ) -> Result<()> {
        if piece.values.len() != len {
            return Err(Error::InvalidInput(format!(
                "cannot compare {} values with {len}",
                piece.values.len()
            )));
        }
        let plane = piece.shape.lat.saturating_mul(piece.shape.lon).max(1);
        let nl = self.levels.len();
        for (i, &r) in raw.iter().enumerate().take(len) {
            if piece.is_missing(i) {
                continue;
            }
            let s = piece.source_value(i);
            self.whole.add(self.offset + i, s, recon(i))?;
            if nl > 0 {
                self.levels[(i / plane) % nl].add(self.offset + i, s, r as f64)?;
            }
        }
        self.offset += len;
        Ok(())
    }

    /// The metrics of everything added.
    pub fn finish(&self) -> Metrics {
        self.whole.finish()
    }

    /// The metrics of each level (empty unless asked for).
    pub fn finish_levels(&self) -> Vec<Metrics> {
        self.levels.iter().map(Acc::finish).collect()
    }
}

/// Running sums of a comparison.
#[derive(Debug, Clone, Copy)]
struct Acc {
    n: usize,
    lo: f64,
    hi: f64,
    sse: f64,
    max_abs: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            n: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            sse: 0.0,
            max_abs: 0.0,
        }
    }
}

impl Acc {
    /// Adds element `i`: its source value and slack, and its reconstruction.
    fn add(&mut self, i: usize, (a, slack): (f64, f64), b: f64) -> Result<()> {
        if !b.is_finite() {
            return Err(Error::BoundViolated(format!(
                "reconstructed value at index {i} is not finite ({b})"
            )));
        }
        self.n += 1;
        self.lo = self.lo.min(a + slack);
        self.hi = self.hi.max(a - slack);
        let d = (a - b).abs() + slack;
        self.sse += d * d;
        self.max_abs = self.max_abs.max(d);
        Ok(())
    }

    fn finish(&self) -> Metrics {
        let n = self.n;
        let hi = self.hi.max(self.lo);
        let range = if n > 0 { hi - self.lo } else { 0.0 };
        let rmse = if n > 0 {
            (self.sse / n as f64).sqrt()
        } else {
            0.0
        };
        let nrmse = if range > 0.0 {
            rmse / range
        } else if rmse == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        let psnr = if rmse == 0.0 {
            f64::INFINITY
        } else {
            20.0 * (range / rmse).log10()
        };
        Metrics {
            n,
            range,
            rmse,
            nrmse,
            psnr,
            max_abs: self.max_abs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let o = [0.0f32, 10.0, 5.0, 5.0];
        let r = [1.0f32, 10.0, 5.0, 4.0];
        let m = Metrics::compute(&o, &r, None).unwrap();
        assert_eq!(m.n, 4);
        assert_eq!(m.range, 10.0);
        assert!((m.rmse - (0.5f64).sqrt()).abs() < 1e-12);
        assert_eq!(m.max_abs, 1.0);
        assert!((m.psnr - 20.0 * (10.0 / 0.5f64.sqrt()).log10()).abs() < 1e-9);
    }

    #[test]
    fn mask_skips_and_nonfinite_is_error() {
        let o = [0.0f32, 100.0, 1.0];
        let r = [0.0f32, 0.0, 1.0];
        let m = Metrics::compute(&o, &r, Some(&[false, true, false])).unwrap();
        assert_eq!(m.max_abs, 0.0);
        assert_eq!(m.range, 1.0);
        assert!(Metrics::compute(&o, &[0.0, f32::NAN, 1.0], None).is_err());
    }
}
