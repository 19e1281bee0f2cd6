//! The field model: one variable as hiha sees it.
//!
//! A [`Field`] is a 4-D array `frames × levels × lat × lon` in row-major
//! order (lon fastest). Extra leading dimensions of the source variable (time,
//! ensemble member, ...) are flattened into `frames`; a single-level field has
//! `levels == 1`.
//!
//! Elements the codec does not code lossily are flagged in the `missing`
//! mask. Their slots in `values` hold exactly what comes back:
//! - [`MISSING`] (a NaN with a payload of its own) for a missing value of the
//!   source (`_FillValue`, `missing_value`), which writers turn back into the
//!   file's fill value;
//! - any other NaN, `+inf` or `-inf`: that value, bit for bit.
//!
//! So infinities and NaN of the data are never confused with missing data.

use crate::error::{Error, Result};

/// The 4-D shape of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub frames: usize,
    pub levels: usize,
    pub lat: usize,
    pub lon: usize,
}

impl Shape {
    pub fn new(frames: usize, levels: usize, lat: usize, lon: usize) -> Self {
        Self {
            frames,
            levels,
            lat,
            lon,
        }
    }
    /// Number of elements in one frame (levels × lat × lon).
    pub fn frame_len(&self) -> usize {
        self.levels * self.lat * self.lon
    }
    /// Total number of elements, or an error on overflow.
    pub fn checked_len(&self) -> Result<usize> {
        self.frames
            .checked_mul(self.levels)
            .and_then(|v| v.checked_mul(self.lat))
            .and_then(|v| v.checked_mul(self.lon))
            .ok_or_else(|| Error::InvalidInput(format!("shape {self:?} overflows")))
    }
    /// Total number of elements. Panics only on overflow of a shape that was
    /// never validated; use [`Shape::checked_len`] on untrusted shapes.
    pub fn len(&self) -> usize {
        self.frames * self.levels * self.lat * self.lon
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The per-frame dims as (levels, lat, lon).
    pub fn frame_dims(&self) -> [usize; 3] {
        [self.levels, self.lat, self.lon]
    }
}

/// One variable on a regular lat/lon grid.
/// The value a missing element holds: a quiet NaN whose payload marks it as
/// "missing" (fill), so that it differs from the NaN a source may hold as
/// data (`f32::NAN` is `0x7FC0_0000`).
pub const MISSING: f32 = f32::from_bits(MISSING_BITS);
/// The bit pattern of [`MISSING`].
pub const MISSING_BITS: u32 = 0x7FC0_4D49;

/// True when `v` is the [`MISSING`] marker (bit for bit).
pub fn is_missing_marker(v: f32) -> bool {
    v.to_bits() == MISSING_BITS
}

/// How a source stored its values: `scale · k + offset` for integers `k`
/// (CF packing), evaluated in f64. The f32 values of a [`Field`] are that
/// value rounded to f32; [`Packing::exact`] recovers it, so that bounds are
/// checked against the values as the file defines them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Packing {
    pub scale: f64,
    pub offset: f64,
}

impl Packing {
    /// The exact source value behind `v` (the f32 rounding of
    /// `scale · k + offset`), or `None` when `v` does not identify a single
    /// lattice point (the f32 spacing is coarser than half the step).
    pub fn exact(&self, v: f32) -> Option<f64> {
        if !(self.scale.is_finite() && self.scale != 0.0 && self.offset.is_finite()) {
            return None;
        }
        let k = ((v as f64 - self.offset) / self.scale).round();
        let x = k * self.scale + self.offset;
        // Unique only if the neighbouring lattice points round elsewhere.
        let ok = x as f32 == v
            && ((k - 1.0) * self.scale + self.offset) as f32 != v
            && ((k + 1.0) * self.scale + self.offset) as f32 != v;
        ok.then_some(x)
    }

    /// The lattice index nearest to `v`: `round((v − offset) / scale)`, in
    /// f64 (an integer), or `None` when the packing or `v` is not finite.
    /// Re-packing a reconstruction for output (hiha-io) and checking that
    /// re-packed values keep the bound (the codec) both use this function,
    /// so they agree bit for bit.
    pub fn index(&self, v: f32) -> Option<f64> {
        if !(self.scale.is_finite() && self.scale != 0.0 && self.offset.is_finite()) {
            return None;
        }
        let k = ((v as f64 - self.offset) / self.scale).round();
        k.is_finite().then_some(k)
    }

    /// The value `scale · k + offset` of lattice index `k`, in f64.
    pub fn value(&self, k: f64) -> f64 {
        k * self.scale + self.offset
    }
}

/// The largest distance between `v` and any real number that rounds to it
/// in f32: half the spacing of f32 values around `v` (the larger side).
pub fn half_ulp(v: f32) -> f64 {
    let a = v.abs();
    if !a.is_finite() {
        return f64::INFINITY;
    }
    let up = f32::from_bits(a.to_bits() + 1);
    if !up.is_finite() {
        return (a as f64) * f64::EPSILON;
    }
    (up as f64 - a as f64) / 2.0
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub shape: Shape,
    /// Row-major values, `shape.len()` of them. Missing slots hold NaN.
    pub values: Vec<f32>,
    /// `Some(mask)` with `mask[i] == true` where the value is missing.
    pub missing: Option<Vec<bool>>,
    /// How the source packed its values, when it did: bounds are then
    /// verified against the exact source values ([`Field::source_value`]).
    pub packing: Option<Packing>,
}

impl Field {
    /// Builds a field, checking lengths. Elements flagged in `missing` are
    /// missing values and hold [`MISSING`]; NaN and infinite values are
    /// flagged too but keep their exact bits.
    pub fn new(shape: Shape, values: Vec<f32>, missing: Option<Vec<bool>>) -> Result<Self> {
        let n = shape.checked_len()?;
        if n == 0 {
            return Err(Error::InvalidInput(format!(
                "field of shape {shape:?} is empty"
            )));
        }
        if values.len() != n {
            return Err(Error::InvalidInput(format!(
                "field of shape {shape:?} needs {n} values, got {}",
                values.len()
            )));
        }
        let mut mask = match missing {
            Some(m) if m.len() != n => {
                return Err(Error::InvalidInput(format!(
                    "missing mask has {} entries, field has {n}",
                    m.len()
                )))
            }
            Some(m) => m,
            None => vec![false; n],
        };
        let mut values = values;
        let mut any = false;
        for (v, m) in values.iter_mut().zip(mask.iter_mut()) {
            if *m {
                *v = MISSING;
            } else if !v.is_finite() {
                *m = true;
            }
            any |= *m;
        }
        Ok(Self {
            shape,
            values,
            missing: if any { Some(mask) } else { None },
            packing: None,
        })
    }

    /// The source's value of element `i` as the file defines it: the exact
    /// packed value when the field has [`Packing`] and `values[i]`
    /// identifies it, else `values[i]`. The second item is how far the
    /// source value may lie from the first (0 when exact).
    pub fn source_value(&self, i: usize) -> (f64, f64) {
        let v = self.values[i];
        match self.packing {
            None => (v as f64, 0.0),
            Some(p) => match p.exact(v) {
                Some(x) => (x, 0.0),
                None => (v as f64, half_ulp(v)),
            },
        }
    }

    /// Counts of the elements that are not coded lossily, by kind.
    pub fn special_counts(&self) -> SpecialCounts {
        let mut c = SpecialCounts::default();
        if let Some(m) = &self.missing {
            for (&v, _) in self.values.iter().zip(m).filter(|(_, &m)| m) {
                if is_missing_marker(v) {
                    c.missing += 1;
                } else if v == f32::INFINITY {
                    c.pos_inf += 1;
                } else if v == f32::NEG_INFINITY {
                    c.neg_inf += 1;
                } else if v.is_nan() {
                    c.nan += 1;
                } else {
                    c.missing += 1;
                }
            }
        }
        c
    }

    pub fn is_missing(&self, i: usize) -> bool {
        self.missing.as_ref().is_some_and(|m| m[i])
    }

    /// Number of valid (non-missing) elements.
    pub fn valid_count(&self) -> usize {
        match &self.missing {
            Some(m) => m.iter().filter(|&&x| !x).count(),
            None => self.values.len(),
        }
    }

    /// (min, max) over valid elements, or None when all are missing.
    pub fn value_range(&self) -> Option<(f32, f32)> {
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for (i, &v) in self.values.iter().enumerate() {
            if self.is_missing(i) {
                continue;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// The values of frame `f`.
    pub fn frame(&self, f: usize) -> &[f32] {
        let n = self.shape.frame_len();
        &self.values[f * n..(f + 1) * n]
    }
}

/// How many elements of a field are missing, NaN, or infinite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecialCounts {
    pub missing: usize,
    pub nan: usize,
    pub pos_inf: usize,
    pub neg_inf: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_becomes_missing_and_bad_lengths_are_refused() {
        let s = Shape::new(1, 1, 2, 2);
        let f = Field::new(s, vec![1.0, f32::NAN, 3.0, 4.0], None).unwrap();
        assert!(f.is_missing(1));
        assert!(!f.is_missing(0));
        assert_eq!(f.valid_count(), 3);
        assert_eq!(f.value_range(), Some((1.0, 4.0)));
        assert!(Field::new(s, vec![1.0; 3], None).is_err());
        assert!(Field::new(Shape::new(0, 1, 1, 1), vec![], None).is_err());
        assert!(Shape::new(usize::MAX, 2, 1, 1).checked_len().is_err());
    }

    #[test]
    fn infinities_and_nan_keep_their_bits_missing_values_get_the_marker() {
        let s = Shape::new(1, 1, 1, 5);
        let odd_nan = f32::from_bits(0x7FC0_0123);
        let f = Field::new(
            s,
            vec![1.0, f32::INFINITY, f32::NEG_INFINITY, odd_nan, 5.0],
            Some(vec![false, false, false, false, true]),
        )
        .unwrap();
        assert_eq!(f.missing, Some(vec![false, true, true, true, true]));
        assert_eq!(f.values[1], f32::INFINITY);
        assert_eq!(f.values[2], f32::NEG_INFINITY);
        assert_eq!(f.values[3].to_bits(), 0x7FC0_0123);
        assert!(is_missing_marker(f.values[4]));
        let c = f.special_counts();
        assert_eq!((c.missing, c.nan, c.pos_inf, c.neg_inf), (1, 1, 1, 1));
    }

    #[test]
    fn packing_recovers_the_exact_source_value() {
        let p = Packing {
            scale: 0.0017516,
            offset: 273.1,
        };
        for k in [-32767.0f64, -5.0, 0.0, 1.0, 12345.0, 32767.0] {
            let x = k * p.scale + p.offset;
            assert_eq!(p.exact(x as f32), Some(x));
        }
        // A step far below f32's spacing at this magnitude: not identifiable.
        let q = Packing {
            scale: 1e-6,
            offset: 300.0,
        };
        assert_eq!(q.exact(300.0), None);
        assert!(half_ulp(300.0) > 0.0 && half_ulp(300.0) < 1e-4);
    }
}
