//! SSM, sparse storage of the high band.
//!
//! High-band values whose magnitude exceeds a threshold are kept out of the
//! networks (they bias the fit) and stored in CSR form: one row per
//! (level, lat) line of longitudes, the column indices and quantised values
//! of the kept elements. Coding (adaptive binary range coder,
//! [`crate::entropy`]): per row the count (a [`UintModel`] that learns that
//! most rows are empty), per element the gap to the previous column of the
//! row and the quantised value `q = round(v / step)` ([`IntModel`]).
//!
//! Layout: `step f32 | range-coded rows`.

use crate::entropy::{IntModel, RangeDecoder, RangeEncoder, UintModel};
use crate::error::{Error, Result};

/// A sparse set of corrections in CSR form over rows of `ncols` elements.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseStore {
    pub nrows: usize,
    pub ncols: usize,
    /// `row_ptr[r]..row_ptr[r+1]` index `cols`/`q` of row `r`.
    pub row_ptr: Vec<usize>,
    pub cols: Vec<u32>,
    pub q: Vec<i32>,
    /// Quantisation step: a value decodes to `q as f32 * step`.
    pub step: f32,
}

impl SparseStore {
    /// Keeps the elements of `high` (rows of `ncols`) with `|v| > threshold`
    /// that are not missing, quantised with `step`.
    pub fn select(
        high: &[f64],
        ncols: usize,
        missing: Option<&[bool]>,
        threshold: f64,
        step: f64,
    ) -> Self {
        let nrows = high.len() / ncols.max(1);
        let step = (step.max(1e-30) as f32).max(f32::MIN_POSITIVE);
        let mut s = Self {
            nrows,
            ncols,
            row_ptr: vec![0],
            cols: Vec::new(),
            q: Vec::new(),
            step,
        };
        for r in 0..nrows {
            for c in 0..ncols {
                let i = r * ncols + c;
                let v = high[i];
                if missing.is_some_and(|m| m[i]) || v.abs() <= threshold {
                    continue;
                }
                let q = (v / step as f64).round().clamp(-1e9, 1e9) as i32;
                if q != 0 {
                    s.cols.push(c as u32);
                    s.q.push(q);
                }
            }
            s.row_ptr.push(s.cols.len());
        }
        s
    }

    /// Number of stored elements.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Adds the stored values to `out` (length `nrows * ncols`).
    pub fn add_to(&self, out: &mut [f32]) {
        for r in 0..self.nrows {
            for k in self.row_ptr[r]..self.row_ptr[r + 1] {
                let i = r * self.ncols + self.cols[k] as usize;
                out[i] += self.q[k] as f32 * self.step;
            }
        }
    }

    /// `(flat index, value)` of every stored element.
    pub fn entries(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        (0..self.nrows).flat_map(move |r| {
            (self.row_ptr[r]..self.row_ptr[r + 1]).map(move |k| {
                (
                    r * self.ncols + self.cols[k] as usize,
                    self.q[k] as f32 * self.step,
                )
            })
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.step.to_le_bytes().to_vec();
        let mut enc = RangeEncoder::new();
        let mut count = UintModel::new();
        let mut gap = UintModel::new();
        let mut val = IntModel::new();
        for r in 0..self.nrows {
            let (a, b) = (self.row_ptr[r], self.row_ptr[r + 1]);
            count.encode(&mut enc, (b - a) as u32);
            let mut prev = 0u32;
            for k in a..b {
                let c = self.cols[k];
                gap.encode(&mut enc, c - prev);
                prev = c + 1;
                val.encode(&mut enc, self.q[k]);
            }
        }
        out.extend_from_slice(&enc.finish());
        out
    }

    /// Reads a store of `nrows × ncols`; damaged bytes give an error.
    /// Bounded by the frame, whatever the bytes say: a row holds at most
    /// `ncols` strictly increasing columns, so at most `nrows × ncols`
    /// entries are ever decoded (8 bytes each), and decoding stops at the
    /// first entry read past the end of the stream.
    pub fn from_bytes(bytes: &[u8], nrows: usize, ncols: usize) -> Result<Self> {
        if nrows.checked_mul(ncols).is_none() {
            return Err(Error::InvalidInput("SSM frame size overflows".into()));
        }
        if bytes.len() < 4 {
            return Err(Error::Truncated("SSM step".into()));
        }
        let step = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if !step.is_finite() || step <= 0.0 {
            return Err(Error::Corrupt("SSM step".into()));
        }
        let mut dec = RangeDecoder::new(&bytes[4..]);
        let mut count = UintModel::new();
        let mut gap = UintModel::new();
        let mut val = IntModel::new();
        let mut s = Self {
            nrows,
            ncols,
            row_ptr: vec![0],
            cols: Vec::new(),
            q: Vec::new(),
            step,
        };
        for _ in 0..nrows {
            let k = count.decode(&mut dec) as usize;
            if k > ncols {
                return Err(Error::Corrupt("SSM row count above row length".into()));
            }
            let mut prev = 0u64;
            for _ in 0..k {
                let c = prev + gap.decode(&mut dec) as u64;
                if c >= ncols as u64 {
                    return Err(Error::Corrupt("SSM column out of range".into()));
                }
                let q = val.decode(&mut dec);
                if dec.overrun() {
                    return Err(Error::Truncated("SSM rows".into()));
                }
                if !(q as f32 * step).is_finite() {
                    return Err(Error::Corrupt("SSM value overflows".into()));
                }
                s.cols.push(c as u32);
                s.q.push(q);
                prev = c + 1;
            }
            if dec.overrun() {
                return Err(Error::Truncated("SSM rows".into()));
            }
            s.row_ptr.push(s.cols.len());
        }
        Ok(s)
    }
}
