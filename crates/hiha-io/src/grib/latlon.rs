//! Horizontal grids: the regular latitude/longitude grid hiha reads (GRIB1
//! data representation type 0, GRIB2 grid definition template 3.0), its
//! coordinates and scanning modes; every other grid is named in an error.

use super::error::{GribError, GribResult};

/// The grid of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum GridDef {
    RegularLatLon(LatLonGrid),
    /// Any other grid: ecCodes' `gridType` name and where it was found.
    Other {
        grid_type: String,
        detail: String,
    },
}

impl GridDef {
    /// ecCodes' `gridType`.
    pub fn grid_type(&self) -> &str {
        match self {
            GridDef::RegularLatLon(_) => "regular_ll",
            GridDef::Other { grid_type, .. } => grid_type,
        }
    }
}

/// A regular latitude/longitude grid. Angles are integers in units of
/// `num / den` degrees (GRIB1: millidegrees; GRIB2: microdegrees unless a
/// basic angle and subdivisions say otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LatLonGrid {
    /// Points along a parallel.
    pub ni: usize,
    /// Points along a meridian.
    pub nj: usize,
    pub lat1: i64,
    pub lon1: i64,
    pub lat2: i64,
    pub lon2: i64,
    /// Increments, when given (always positive).
    pub di: Option<i64>,
    pub dj: Option<i64>,
    pub num: i64,
    pub den: i64,
    /// Flag table 3.4 (GRIB1 table 8): 0x80 i scans negatively, 0x40 j
    /// scans positively, 0x20 j points are consecutive, 0x10 boustrophedonic rows.
    pub scanning: u8,
}

/// ecCodes' name of a GRIB1 grid (data representation type, code table 6).
pub fn grib1_grid_name(kind: u8) -> String {
    match kind {
        0 => "regular_ll",
        1 => "mercator",
        3 => "lambert",
        4 => "regular_gg",
        5 => "polar_stereographic",
        6 => "UTM",
        8 => "albers",
        10 => "rotated_ll",
        13 => "oblique_lambert_conformal",
        14 => "rotated_gg",
        20 => "stretched_ll",
        24 => "stretched_gg",
        30 => "stretched_rotated_ll",
        34 => "stretched_rotated_gg",
        50 => "sh",
        60 => "rotated_sh",
        70 => "stretched_sh",
        80 => "stretched_rotated_sh",
        90 => "space_view",
        192 => "triangular_grid",
        _ => return format!("grid type {kind}"),
    }
    .to_string()
}

/// ecCodes' name of a GRIB2 grid (grid definition template number, code table 3.1).
pub fn grib2_grid_name(template: u16) -> String {
    match template {
        0 => "regular_ll",
        1 => "rotated_ll",
        2 => "stretched_ll",
        3 => "stretched_rotated_ll",
        4 => "irregular_latlon",
        10 => "mercator",
        12 => "transverse_mercator",
        20 => "polar_stereographic",
        30 => "lambert",
        31 => "albers",
        40 => "regular_gg",
        41 => "rotated_gg",
        42 => "stretched_gg",
        43 => "stretched_rotated_gg",
        50 => "sh",
        51 => "rotated_sh",
        52 => "stretched_sh",
        53 => "stretched_rotated_sh",
        90 => "space_view",
        100 => "triangular_grid",
        101 => "unstructured_grid",
        110 => "equatorial_azimuthal_equidistant",
        120 => "azimuth_range",
        140 => "lambert_azimuthal_equal_area",
        150 => "healpix",
        204 => "curvilinear_orthogonal",
        1000 => "cross_section",
        1100 => "Hovmoller",
        _ => return format!("grid definition template 3.{template}"),
    }
    .to_string()
}

impl LatLonGrid {
    /// Checks what the decoder relies on.
    pub fn check(&self) -> GribResult<()> {
        if self.ni == 0 || self.nj == 0 {
            return Err(GribError::Corrupt(format!(
                "the grid has {} × {} points",
                self.ni, self.nj
            )));
        }
        if self.den <= 0 || self.num <= 0 {
            return Err(GribError::Corrupt(format!(
                "the grid's angle unit {}/{} degrees is not positive",
                self.num, self.den
            )));
        }
        if self.scanning & 0x10 != 0 {
            return Err(GribError::Unsupported(
                "the grid scans rows alternately in opposite directions (boustrophedonic, \
                 scanning mode flag 0x10), which hiha does not read"
                    .into(),
            ));
        }
        Ok(())
    }

    fn degrees(&self, v: f64) -> f64 {
        if self.num == 1 {
            v / self.den as f64
        } else {
            v * self.num as f64 / self.den as f64
        }
    }

    /// One full turn in the grid's units, when it is a whole number of them.
    fn turn(&self) -> Option<i64> {
        let t = 360i64.checked_mul(self.den)?;
        (t % self.num == 0).then(|| t / self.num)
    }

    /// Latitudes of the rows in the order the data gives them (north to
    /// south unless j scans positively).
    pub fn lats(&self) -> Vec<f64> {
        let n = self.nj;
        let up = self.scanning & 0x40 != 0;
        let exact = self.dj.filter(|&dj| {
            let span = (n as i64 - 1).checked_mul(dj);
            let end = span.and_then(|s| {
                if up {
                    self.lat1.checked_add(s)
                } else {
                    self.lat1.checked_sub(s)
                }
            });
            end == Some(self.lat2)
        });
        (0..n)
            .map(|k| match exact {
                Some(dj) => {
                    let off = k as i64 * dj;
                    self.degrees((if up { self.lat1 + off } else { self.lat1 - off }) as f64)
                }
                None if n > 1 => {
                    let step = (self.lat2 - self.lat1) as f64 / (n - 1) as f64;
                    self.degrees(self.lat1 as f64 + k as f64 * step)
                }
                None => self.degrees(self.lat1 as f64),
            })
            .collect()
    }

    /// Longitudes of the columns in the order the data gives them, in
    /// [-180, 360): increasing unless i scans negatively.
    pub fn lons(&self) -> Vec<f64> {
        let n = self.ni;
        let neg = self.scanning & 0x80 != 0;
        let turn = self.turn();
        // The span from the first to the last column, in the scan direction.
        let span = |t: i64| {
            let d = if neg {
                self.lon1 - self.lon2
            } else {
                self.lon2 - self.lon1
            };
            d.rem_euclid(t)
        };
        let exact = match (self.di, turn) {
            (Some(di), Some(t)) => ((n as i64 - 1).checked_mul(di))
                .filter(|&s| s.rem_euclid(t) == span(t))
                .map(|_| di),
            _ => None,
        };
        let step = match (exact, turn) {
            (Some(di), _) => di as f64,
            (None, Some(t)) if n > 1 => span(t) as f64 / (n - 1) as f64,
            (None, _) if n > 1 => (self.lon2 - self.lon1).abs() as f64 / (n - 1) as f64,
            _ => 0.0,
        };
        (0..n)
            .map(|k| {
                let off = match exact {
                    Some(di) => (k as i64 * di) as f64,
                    None => k as f64 * step,
                };
                let raw = if neg {
                    self.lon1 as f64 - off
                } else {
                    self.lon1 as f64 + off
                };
                let mut d = self.degrees(raw);
                if d >= 360.0 {
                    d -= 360.0;
                }
                if d < -180.0 {
                    d += 360.0;
                }
                d
            })
            .collect()
    }

    /// The index in the message's values of row `r` (in [`LatLonGrid::lats`]
    /// order) and column `c` (in [`LatLonGrid::lons`] order).
    pub fn index(&self, r: usize, c: usize) -> usize {
        if self.scanning & 0x20 != 0 {
            c * self.nj + r
        } else {
            r * self.ni + c
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(lat1: i64, lat2: i64, lon1: i64, lon2: i64, n: (usize, usize), d: i64) -> LatLonGrid {
        LatLonGrid {
            ni: n.0,
            nj: n.1,
            lat1,
            lon1,
            lat2,
            lon2,
            di: Some(d),
            dj: Some(d),
            num: 1,
            den: 1000,
            scanning: 0,
        }
    }

    #[test]
    fn era5_three_degree_grid() {
        let g = grid(90_000, -90_000, 0, 357_000, (120, 61), 3000);
        let lats = g.lats();
        assert_eq!((lats[0], lats[1], lats[60]), (90.0, 87.0, -90.0));
        let lons = g.lons();
        assert_eq!((lons[0], lons[1], lons[119]), (0.0, 3.0, 357.0));
    }

    #[test]
    fn decimal_steps_are_exact_decimals() {
        let mut g = grid(45_000_000, 55_000_000, 0, 10_000_000, (41, 41), 250_000);
        g.den = 1_000_000;
        g.scanning = 0x40;
        let lats = g.lats();
        assert_eq!(lats[1], 45.25);
        assert_eq!(lats[40], 55.0);
        assert_eq!(g.lons()[3], 0.75);
    }

    #[test]
    fn seam_and_negative_scans() {
        let g = grid(0, 0, 180_000, 179_000, (360, 1), 1000);
        let lons = g.lons();
        assert_eq!(
            (lons[0], lons[179], lons[180], lons[359]),
            (180.0, 359.0, 0.0, 179.0)
        );
        let mut g = grid(0, 0, 10_000, 0, (11, 1), 1000);
        g.scanning = 0x80;
        assert_eq!(g.lons()[10], 0.0);
        assert_eq!(g.lons()[1], 9.0);
    }

    #[test]
    fn transposed_scan_index() {
        let mut g = grid(0, 0, 0, 0, (3, 2), 1);
        assert_eq!(g.index(1, 2), 5);
        g.scanning = 0x20;
        assert_eq!(g.index(1, 2), 5);
        assert_eq!(g.index(0, 2), 4);
        assert_eq!(g.index(1, 0), 1);
    }
}
