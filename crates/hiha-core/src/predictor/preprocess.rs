//! Pre-processing (HiHa step 1): climatology removal, per-level
//! normalisation to [-1, 1], and coordinates for the networks.
//!
//! - **Climatology.** A user array (`Option<&[f32]>`, one value per element of
//!   the frame, not stored: the decoder must be given the same array), or the
//!   stand-in hiha stores itself: the zonal mean per (level, latitude row),
//!   quantised with a step of `range / 2^clim_bits` and delta-coded along
//!   latitude with the adaptive range coder (≈ 0.4–0.8 KB for 26 × 73 rows).
//!   See `docs/ALGORITHM.md`, "Pre-processing".
//! - **Normalisation.** Per level, the anomaly `x − clim` is mapped to
//!   `[-1, 1]` by an offset and a scale stored as f32.
//! - **Coordinates.** `(x, y, z)` on the unit sphere plus a normalised level
//!   index `p ∈ [-1, 1]`, computed with a deterministic sine/cosine (only
//!   IEEE-754 `+ − × ÷` on f64), so that encoder and decoder get the same
//!   bits on every CPU.
//!
//! Everything the decoder recomputes goes through [`NormParams::denormalize`],
//! a fixed sequence of f64 operations per element.

use crate::entropy::{IntModel, RangeDecoder, RangeEncoder};
use crate::error::{Error, Result};

/// Which climatology was subtracted.
#[derive(Debug, Clone, PartialEq)]
pub enum Climatology {
    /// Nothing subtracted.
    None,
    /// Zonal mean per (level, lat row): `q[l * ny + j] * step`.
    Zonal { step: f64, q: Vec<i32> },
    /// An array the caller supplies at encode and decode time.
    User,
}

/// Normalisation parameters of one frame (stored in the Predictor section).
#[derive(Debug, Clone, PartialEq)]
pub struct NormParams {
    /// (levels, lat, lon).
    pub dims: [usize; 3],
    pub clim: Climatology,
    /// Per-level offset of the anomaly.
    pub offset: Vec<f32>,
    /// Per-level half range of the anomaly (1 when the level is constant).
    pub scale: Vec<f32>,
}

fn frame_len(dims: [usize; 3]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::InvalidInput(format!("bad frame dims {dims:?}")))
}

/// Removes the climatology and normalises per level. Returns the normalised
/// anomaly (missing elements set to 0) and the parameters. `zonal` selects
/// the stored zonal-mean stand-in when no `climatology` array is given;
/// `clim_bits` sets its quantisation step (`level range / 2^clim_bits`).
pub fn normalize(
    frame: &[f32],
    missing: Option<&[bool]>,
    dims: [usize; 3],
    climatology: Option<&[f32]>,
    zonal: bool,
    clim_bits: u8,
) -> Result<(Vec<f32>, NormParams)> {
    let n = frame_len(dims)?;
    let [nl, ny, nx] = dims;
    if frame.len() != n || missing.is_some_and(|m| m.len() != n) {
        return Err(Error::InvalidInput(
            "frame/mask length does not match dims".into(),
        ));
    }
    if climatology.is_some_and(|c| c.len() != n) {
        return Err(Error::InvalidInput(
            "climatology must have one value per frame element".into(),
        ));
    }
    let valid = |i: usize| !missing.is_some_and(|m| m[i]) && frame[i].is_finite();
    let clim = if climatology.is_some() {
        Climatology::User
    } else if zonal {
        let (lo, hi) = (0..n)
            .filter(|&i| valid(i))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), i| {
                (a.min(frame[i] as f64), b.max(frame[i] as f64))
            });
        let range = if hi > lo { hi - lo } else { 1.0 };
        let step = (range / (1u64 << clim_bits.clamp(1, 24)) as f64) as f32 as f64;
        let mut q = vec![0i32; nl * ny];
        for r in 0..nl * ny {
            let (mut s, mut c) = (0.0f64, 0usize);
            for (i, &v) in frame.iter().enumerate().skip(r * nx).take(nx) {
                if valid(i) {
                    s += v as f64;
                    c += 1;
                }
            }
            q[r] = if c > 0 {
                (s / c as f64 / step).round().clamp(-1e9, 1e9) as i32
            } else if r > 0 {
                q[r - 1]
            } else {
                0
            };
        }
        Climatology::Zonal { step, q }
    } else {
        Climatology::None
    };
    let mut p = NormParams {
        dims,
        clim,
        offset: vec![0.0; nl],
        scale: vec![1.0; nl],
    };
    let plane = ny * nx;
    let mut anom = vec![0.0f64; n];
    for i in 0..n {
        if valid(i) {
            anom[i] = frame[i] as f64 - p.clim_value(i, climatology);
        }
    }
    for l in 0..nl {
        let (lo, hi) = (l * plane..(l + 1) * plane)
            .filter(|&i| valid(i))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), i| {
                (a.min(anom[i]), b.max(anom[i]))
            });
        if lo.is_finite() {
            p.offset[l] = ((lo + hi) * 0.5) as f32;
            let s = ((hi - lo) * 0.5) as f32;
            p.scale[l] = if s > 0.0 && s.is_finite() { s } else { 1.0 };
        }
    }
    let mut out = vec![0.0f32; n];
    for i in 0..n {
        if valid(i) {
            let l = i / plane;
            out[i] = ((anom[i] - p.offset[l] as f64) / p.scale[l] as f64) as f32;
        }
    }
    Ok((out, p))
}

impl NormParams {
    /// The climatology at element `i` (0 without one).
    pub fn clim_value(&self, i: usize, user: Option<&[f32]>) -> f64 {
        match &self.clim {
            Climatology::None => 0.0,
            Climatology::User => user.map_or(0.0, |c| c[i] as f64),
            Climatology::Zonal { step, q } => {
                let nx = self.dims[2];
                q[i / nx] as f64 * step
            }
        }
    }

    /// Per-element scale (the level's), for judging errors in data units.
    pub fn element_scale(&self) -> Vec<f64> {
        let plane = self.dims[1] * self.dims[2];
        let mut w = Vec::with_capacity(plane * self.dims[0]);
        for &s in &self.scale {
            w.extend(std::iter::repeat_n(s as f64, plane));
        }
        w
    }

    /// Maps a normalised prediction back to data units:
    /// `f32(pn · scale + offset + clim)`, evaluated in f64 in that order.
    pub fn denormalize(&self, pn: &[f32], user: Option<&[f32]>) -> Result<Vec<f32>> {
        let n = frame_len(self.dims)?;
        if pn.len() != n {
            return Err(Error::InvalidInput(
                "prediction length does not match dims".into(),
            ));
        }
        if matches!(self.clim, Climatology::User) && user.is_none_or(|c| c.len() != n) {
            return Err(Error::InvalidInput(
                "this frame was normalised with a user climatology: give the same array".into(),
            ));
        }
        let plane = self.dims[1] * self.dims[2];
        Ok((0..n)
            .map(|i| {
                let l = i / plane;
                let v = pn[i] as f64 * self.scale[l] as f64 + self.offset[l] as f64;
                (v + self.clim_value(i, user)) as f32
            })
            .collect())
    }

    /// Serialises the parameters (dims are not stored: the caller knows them).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let tag = match self.clim {
            Climatology::None => 0u8,
            Climatology::Zonal { .. } => 1,
            Climatology::User => 2,
        };
        out.push(tag);
        for l in 0..self.dims[0] {
            out.extend_from_slice(&self.offset[l].to_le_bytes());
            out.extend_from_slice(&self.scale[l].to_le_bytes());
        }
        if let Climatology::Zonal { step, q } = &self.clim {
            out.extend_from_slice(&(*step as f32).to_le_bytes());
            let mut enc = RangeEncoder::new();
            let mut first = IntModel::new();
            let mut delta = IntModel::new();
            let ny = self.dims[1];
            for (r, &v) in q.iter().enumerate() {
                if r % ny == 0 {
                    first.encode(&mut enc, v);
                } else {
                    delta.encode(&mut enc, v.wrapping_sub(q[r - 1]));
                }
            }
            out.extend_from_slice(&enc.finish());
        }
        out
    }

    /// Reads what [`NormParams::to_bytes`] wrote for a frame of `dims`.
    pub fn from_bytes(bytes: &[u8], dims: [usize; 3]) -> Result<Self> {
        // every array is sized by the frame (checked by `frame_len`), never
        // by a count read from the bytes
        frame_len(dims)?;
        let nl = dims[0];
        let need = nl
            .checked_mul(8)
            .and_then(|v| v.checked_add(1))
            .ok_or_else(|| Error::InvalidInput(format!("bad frame dims {dims:?}")))?;
        if bytes.len() < need {
            return Err(Error::Truncated("normalisation parameters".into()));
        }
        let f = |o: usize| f32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let mut offset = Vec::with_capacity(nl);
        let mut scale = Vec::with_capacity(nl);
        for l in 0..nl {
            let (o, s) = (f(1 + 8 * l), f(5 + 8 * l));
            if !o.is_finite() || !s.is_finite() || s == 0.0 {
                return Err(Error::Corrupt("normalisation offset/scale".into()));
            }
            offset.push(o);
            scale.push(s);
        }
        let clim = match bytes[0] {
            0 | 2 if bytes.len() == need => {
                if bytes[0] == 0 {
                    Climatology::None
                } else {
                    Climatology::User
                }
            }
            0 | 2 => return Err(Error::Corrupt("trailing bytes after normalisation".into())),
            1 => {
                if bytes.len() < need + 4 {
                    return Err(Error::Truncated("climatology step".into()));
                }
                let step = f(need) as f64;
                if !step.is_finite() || step <= 0.0 {
                    return Err(Error::Corrupt("climatology step".into()));
                }
                let rows = nl * dims[1];
                let mut dec = RangeDecoder::new(&bytes[need + 4..]);
                let mut first = IntModel::new();
                let mut delta = IntModel::new();
                let mut q: Vec<i32> = Vec::with_capacity(rows);
                for r in 0..rows {
                    let v = if r % dims[1] == 0 {
                        first.decode(&mut dec)
                    } else {
                        q[r - 1].wrapping_add(delta.decode(&mut dec))
                    };
                    q.push(v);
                    if dec.overrun() {
                        return Err(Error::Truncated("climatology values".into()));
                    }
                }
                if dec.overrun() {
                    return Err(Error::Truncated("climatology values".into()));
                }
                Climatology::Zonal { step, q }
            }
            t => return Err(Error::Corrupt(format!("climatology kind {t}"))),
        };
        Ok(Self {
            dims,
            clim,
            offset,
            scale,
        })
    }
}

/// `(sin, cos)` of an angle in degrees using only IEEE-754 basic operations
/// on f64 (exact reduction to [-45°, 45°], then Taylor series): the same bits
/// on every platform, accurate to a few ulps.
pub fn det_sin_cos_deg(deg: f64) -> (f64, f64) {
    if !deg.is_finite() {
        return (f64::NAN, f64::NAN);
    }
    let mut d = deg % 360.0; // exact
    if d < 0.0 {
        d += 360.0;
    }
    let quadrant = ((d + 45.0) / 90.0).floor();
    let r = d - quadrant * 90.0; // exact: small multiples of 90
    let x = r * (std::f64::consts::PI / 180.0);
    let x2 = x * x;
    // Taylor to x^19 / x^18: |x| ≤ π/4, remainder below 1e-18.
    let mut s = 0.0f64;
    let mut c = 0.0f64;
    let mut ts = x;
    let mut tc = 1.0f64;
    for k in 0..10u32 {
        s += ts;
        c += tc;
        let a = (2 * k + 2) as f64;
        let b = (2 * k + 3) as f64;
        ts = -ts * x2 / (a * b);
        tc = -tc * x2 / ((2 * k + 1) as f64 * a);
    }
    match (quadrant as i64).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// Network inputs for every element of a (levels, lat, lon) frame,
/// point-major: `(x, y, z)` on the unit sphere and, when `nl > 1`, the level
/// index mapped linearly to `p ∈ [-1, 1]`. Returns `(coords, in_dim)`.
pub fn sphere_coords(lat_deg: &[f64], lon_deg: &[f64], nl: usize) -> (Vec<f32>, usize) {
    let d = if nl > 1 { 4 } else { 3 };
    let mut out = Vec::with_capacity(nl * lat_deg.len() * lon_deg.len() * d);
    let lon_sc: Vec<(f64, f64)> = lon_deg.iter().map(|&v| det_sin_cos_deg(v)).collect();
    for l in 0..nl {
        let p = level_coord(l, nl);
        for &lat in lat_deg {
            let (st, ct) = det_sin_cos_deg(lat);
            for &(sp, cp) in &lon_sc {
                out.push((ct * cp) as f32);
                out.push((ct * sp) as f32);
                out.push(st as f32);
                if d == 4 {
                    out.push(p as f32);
                }
            }
        }
    }
    (out, d)
}

/// The normalised coordinate of index `i` of `n` in `[-1, 1]` (0 when `n == 1`).
pub fn level_coord(i: usize, n: usize) -> f64 {
    if n > 1 {
        -1.0 + 2.0 * i as f64 / (n - 1) as f64
    } else {
        0.0
    }
}

/// True when the longitudes cover the full circle with uniform spacing (the
/// last point one step short of the first plus 360°).
pub fn lon_is_global(lon_deg: &[f64]) -> bool {
    let n = lon_deg.len();
    if n < 3 {
        return false;
    }
    let step = (lon_deg[n - 1] - lon_deg[0]) / (n - 1) as f64;
    ((step * n as f64).abs() - 360.0).abs() < 1e-3 * step.abs().max(1e-9)
}

/// The geometry of a frame as the predictor stages see it.
#[derive(Debug, Clone)]
pub struct FrameGeom {
    /// (levels, lat, lon).
    pub dims: [usize; 3],
    /// Sphere coordinates of every element ([`sphere_coords`]).
    pub coords: Vec<f32>,
    /// Values per point in `coords` (3, or 4 with several levels).
    pub in_dim: usize,
    /// Longitude wraps around (global grid).
    pub lon_periodic: bool,
}

impl FrameGeom {
    /// Builds the geometry; `lat_deg`/`lon_deg` must match `dims`.
    pub fn new(dims: [usize; 3], lat_deg: &[f64], lon_deg: &[f64]) -> Result<Self> {
        frame_len(dims)?;
        if lat_deg.len() != dims[1] || lon_deg.len() != dims[2] {
            return Err(Error::InvalidInput(format!(
                "grid has {} latitudes and {} longitudes, frame dims are {dims:?}",
                lat_deg.len(),
                lon_deg.len()
            )));
        }
        if lat_deg.iter().chain(lon_deg).any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput("non-finite grid coordinate".into()));
        }
        let (coords, in_dim) = sphere_coords(lat_deg, lon_deg, dims[0]);
        Ok(Self {
            dims,
            coords,
            in_dim,
            lon_periodic: lon_is_global(lon_deg),
        })
    }

    /// Periodicity of (level, lat, lon).
    pub fn periodic(&self) -> [bool; 3] {
        [false, false, self.lon_periodic]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn det_sin_cos_is_accurate() {
        for k in -800..800 {
            let d = k as f64 * 0.77;
            let (s, c) = det_sin_cos_deg(d);
            let (s0, c0) = d.to_radians().sin_cos();
            assert!((s - s0).abs() < 1e-14 && (c - c0).abs() < 1e-14, "{d}");
        }
    }

    #[test]
    fn normalise_round_trips() {
        let dims = [2, 5, 8];
        let x: Vec<f32> = (0..80)
            .map(|i| 250.0 + (i as f32 * 0.37).sin() * 10.0 + i as f32 * 0.1)
            .collect();
        let (a, p) = normalize(&x, None, dims, None, true, 10).unwrap();
        assert!(a.iter().all(|v| v.abs() <= 1.0 + 1e-6));
        let p2 = NormParams::from_bytes(&p.to_bytes(), dims).unwrap();
        assert_eq!(p, p2);
        let back = p2.denormalize(&a, None).unwrap();
        for (u, v) in x.iter().zip(&back) {
            assert!((u - v).abs() < 1e-3);
        }
    }
}
