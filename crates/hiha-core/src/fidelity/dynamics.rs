//! Derived dynamics: the geostrophic wind of geopotential, and the
//! vorticity and divergence of the horizontal wind, by centred finite
//! differences on the sphere.
//!
//! Every quantity is linear in the field, so the error of a derived
//! quantity is the derived quantity of the error field. A point counts when
//! its stencil (the neighbours east/west and north/south) is valid; the
//! first and last longitude use the wrap-around only on a global grid; the
//! first and last latitude and the points within 0.06° of a pole
//! (cos φ < 10⁻³) are left out.

use crate::error::Result;
use crate::meta::VarMeta;

use super::{Data, Grid};

/// Earth radius (m).
const RADIUS: f64 = 6_371_000.0;
/// Earth's angular velocity (rad s⁻¹).
const OMEGA: f64 = 7.292_115e-5;
/// Standard gravity (m s⁻²), for geopotential height in gpm.
pub const G0: f64 = 9.806_65;
/// The geostrophic wind is left out within this many degrees of the equator.
pub const GEOSTROPHIC_MIN_LAT: f64 = 10.0;
const MIN_COS: f64 = 1e-3;

/// The RMS of the error of a derived quantity, with the RMS of the
/// quantity itself on the original for scale.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct WindError {
    /// For a wind: √(mean |Δv|²), in m s⁻¹; for vorticity or divergence: s⁻¹.
    pub rmse: f64,
    /// The same RMS of the original's derived quantity.
    pub reference_rms: f64,
    /// Points compared.
    pub n: usize,
}

/// Vorticity and divergence errors of the pair u, v.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct WindErrors {
    pub vorticity: WindError,
    pub divergence: WindError,
}

/// The factor that turns the variable into geopotential (m² s⁻²): 1 for
/// geopotential (`standard_name = geopotential`, or named `z`), g₀ for
/// geopotential height (`standard_name = geopotential_height`, or named
/// `gh`, in gpm); `None` for anything else.
pub fn geopotential_factor(var: &VarMeta) -> Option<f64> {
    let std_name = var
        .attrs
        .iter()
        .find(|a| a.name == "standard_name")
        .and_then(|a| match &a.value {
            crate::meta::AttrValue::Text(t) => Some(t.trim().to_string()),
            _ => None,
        });
    match (std_name.as_deref(), var.name.as_str()) {
        (Some("geopotential"), _) | (_, "z") => Some(1.0),
        (Some("geopotential_height"), _) | (_, "gh") => Some(G0),
        _ => None,
    }
}

/// Centred differences on the grid.
struct Sphere {
    nlat: usize,
    nlon: usize,
    /// Latitudes in radians.
    phi: Vec<f64>,
    lam: Vec<f64>,
    global: bool,
}

impl Sphere {
    fn new(g: &Grid, lat: &[f64], lon: &[f64]) -> Self {
        let step = lon
            .get(1)
            .zip(lon.first())
            .map(|(b, a)| (b - a).rem_euclid(360.0))
            .unwrap_or(0.0);
        let global =
            g.nlon >= 3 && step > 0.0 && (g.nlon as f64 * step - 360.0).abs() <= 1e-3 * step;
        Self {
            nlat: g.nlat,
            nlon: g.nlon,
            phi: lat.iter().map(|d| d.to_radians()).collect(),
            lam: lon.iter().map(|d| d.to_radians()).collect(),
            global,
        }
    }

    /// The west and east neighbours of column `j` and their distance in radians.
    fn lon_stencil(&self, j: usize) -> Option<(usize, usize, f64)> {
        let (w, e) = if j > 0 && j + 1 < self.nlon {
            (j - 1, j + 1)
        } else if self.global && self.nlon >= 3 {
            ((j + self.nlon - 1) % self.nlon, (j + 1) % self.nlon)
        } else {
            return None;
        };
        let tau = std::f64::consts::TAU;
        let d = (self.lam[e] - self.lam[w]).rem_euclid(tau);
        let d = if d > std::f64::consts::PI { d - tau } else { d };
        (d != 0.0).then_some((w, e, d))
    }

    /// The rows either side of row `r` and their latitude difference in radians.
    fn lat_stencil(&self, r: usize) -> Option<(usize, usize, f64)> {
        if r == 0 || r + 1 >= self.nlat {
            return None;
        }
        let d = self.phi[r + 1] - self.phi[r - 1];
        (d != 0.0).then_some((r - 1, r + 1, d))
    }
}

/// RMS accumulator.
#[derive(Default)]
struct Rms {
    n: usize,
    err: f64,
    reference: f64,
}

impl Rms {
    fn finish(&self) -> Option<WindError> {
        (self.n > 0).then(|| WindError {
            rmse: (self.err / self.n as f64).sqrt(),
            reference_rms: (self.reference / self.n as f64).sqrt(),
            n: self.n,
        })
    }
}

/// The geostrophic wind error of geopotential `factor × field`:
/// u_g = −(1/f) ∂Φ/∂y, v_g = (1/f) ∂Φ/∂x, f = 2Ω sin φ, |φ| ≥ 10°.
pub(super) fn geostrophic(
    g: &Grid,
    d: &Data,
    lat: &[f64],
    lon: &[f64],
    factor: f64,
) -> Result<Option<WindError>> {
    if !factor.is_finite() || factor == 0.0 {
        return Err(crate::error::Error::InvalidInput(format!(
            "geopotential factor {factor} is not a finite non-zero number"
        )));
    }
    let sp = Sphere::new(g, lat, lon);
    let mut acc = Rms::default();
    for s in 0..g.slices {
        let base = s * g.plane;
        for (r, la) in lat.iter().enumerate() {
            if la.abs() < GEOSTROPHIC_MIN_LAT {
                continue;
            }
            let (sin, cos) = sp.phi[r].sin_cos();
            let Some((rn, rs, dphi)) = sp.lat_stencil(r) else {
                continue;
            };
            if cos < MIN_COS {
                continue;
            }
            let f = 2.0 * OMEGA * sin;
            for j in 0..g.nlon {
                let Some((jw, je, dlam)) = sp.lon_stencil(j) else {
                    continue;
                };
                let idx = [
                    base + r * g.nlon + jw,
                    base + r * g.nlon + je,
                    base + rn * g.nlon + j,
                    base + rs * g.nlon + j,
                ];
                if !idx.iter().all(|&i| d.valid[i]) {
                    continue;
                }
                let wind = |v: &dyn Fn(usize) -> f64| {
                    let dx = factor * (v(idx[1]) - v(idx[0])) / dlam / (RADIUS * cos);
                    let dy = factor * (v(idx[3]) - v(idx[2])) / dphi / RADIUS;
                    let (ug, vg) = (-dy / f, dx / f);
                    ug * ug + vg * vg
                };
                let e2 = wind(&|i| d.y[i] - d.x[i]);
                let r2 = wind(&|i| d.x[i]);
                if e2.is_finite() && r2.is_finite() {
                    acc.n += 1;
                    acc.err += e2;
                    acc.reference += r2;
                }
            }
        }
    }
    Ok(acc.finish())
}

/// Relative vorticity ζ = (1/(a cos φ)) ∂v/∂λ − (1/a) ∂u/∂φ + u tan φ / a and
/// divergence δ = (1/(a cos φ)) (∂u/∂λ + ∂(v cos φ)/∂φ), of the error and
/// of the original.
pub(super) fn vorticity_divergence(
    g: &Grid,
    u: &Data,
    v: &Data,
    lat: &[f64],
    lon: &[f64],
) -> Result<Option<WindErrors>> {
    let sp = Sphere::new(g, lat, lon);
    let (mut vort, mut div) = (Rms::default(), Rms::default());
    for s in 0..g.slices {
        let base = s * g.plane;
        for r in 0..g.nlat {
            let Some((rn, rs, dphi)) = sp.lat_stencil(r) else {
                continue;
            };
            let cos = sp.phi[r].cos();
            if cos < MIN_COS {
                continue;
            }
            let tan = sp.phi[r].tan();
            let (cn, cs) = (sp.phi[rn].cos(), sp.phi[rs].cos());
            for j in 0..g.nlon {
                let Some((jw, je, dlam)) = sp.lon_stencil(j) else {
                    continue;
                };
                let c = base + r * g.nlon + j;
                let idx = [
                    c,
                    base + r * g.nlon + jw,
                    base + r * g.nlon + je,
                    base + rn * g.nlon + j,
                    base + rs * g.nlon + j,
                ];
                if !idx.iter().all(|&i| u.valid[i] && v.valid[i]) {
                    continue;
                }
                let zd = |fu: &dyn Fn(usize) -> f64, fv: &dyn Fn(usize) -> f64| {
                    let dv_dlam = (fv(idx[2]) - fv(idx[1])) / dlam;
                    let du_dlam = (fu(idx[2]) - fu(idx[1])) / dlam;
                    let du_dphi = (fu(idx[4]) - fu(idx[3])) / dphi;
                    let dvc_dphi = (fv(idx[4]) * cs - fv(idx[3]) * cn) / dphi;
                    let zeta =
                        dv_dlam / (RADIUS * cos) - du_dphi / RADIUS + fu(idx[0]) * tan / RADIUS;
                    let delta = (du_dlam + dvc_dphi) / (RADIUS * cos);
                    (zeta, delta)
                };
                let (ez, ed) = zd(&|i| u.y[i] - u.x[i], &|i| v.y[i] - v.x[i]);
                let (rz, rd) = zd(&|i| u.x[i], &|i| v.x[i]);
                if [ez, ed, rz, rd].iter().all(|q| q.is_finite()) {
                    vort.n += 1;
                    vort.err += ez * ez;
                    vort.reference += rz * rz;
                    div.n += 1;
                    div.err += ed * ed;
                    div.reference += rd * rd;
                }
            }
        }
    }
    Ok(vort
        .finish()
        .zip(div.finish())
        .map(|(vorticity, divergence)| WindErrors {
            vorticity,
            divergence,
        }))
}
