//! The field model: one variable as hiha sees it.
//!
//! A [`Field`] is a 4-D array `frames × levels × lat × lon` in row-major
//! order (lon fastest). Extra leading dimensions of the source variable (time,
//! ensemble member, ...) are flattened into `frames`; a single-level field has
//! `levels == 1`. Missing values (NaN or `_FillValue`) are recorded in a mask
//! and their slots in `values` are meaningless (the reader stores NaN there).

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
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub shape: Shape,
    /// Row-major values, `shape.len()` of them. Missing slots hold NaN.
    pub values: Vec<f32>,
    /// `Some(mask)` with `mask[i] == true` where the value is missing.
    pub missing: Option<Vec<bool>>,
}

impl Field {
    /// Builds a field, checking lengths. NaN values are turned into missing
    /// entries automatically.
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
            if !v.is_finite() {
                *m = true;
            }
            if *m {
                *v = f32::NAN;
                any = true;
            }
        }
        Ok(Self {
            shape,
            values,
            missing: if any { Some(mask) } else { None },
        })
    }

    /// True where the element is missing.
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
}
