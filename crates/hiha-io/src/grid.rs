//! The horizontal grid of a variable and the checks that it is a regular
//! latitude/longitude grid.

use crate::error::{IoError, Result};

/// Relative tolerance on the grid step: a coordinate may deviate from the
/// uniform grid by this fraction of the step.
pub const STEP_TOLERANCE: f64 = 1e-3;

/// Direction of the latitude axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatOrder {
    /// First row is the northernmost (ERA5, GFS).
    NorthToSouth,
    /// First row is the southernmost.
    SouthToNorth,
}

/// How longitudes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LonConvention {
    /// Values in [0, 360) and at least one value above 180, or a global grid
    /// that starts at a non-negative longitude.
    ZeroTo360,
    /// At least one negative value: values in [-180, 180].
    Minus180To180,
    /// A regional grid inside [0, 180], valid in both conventions.
    Regional,
}

/// The regular lat/lon grid of a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Latitudes in degrees north, in file order.
    pub lat: Vec<f64>,
    /// Longitudes in degrees east, in file order.
    pub lon: Vec<f64>,
    /// Values of the level coordinate (hPa, Pa, m, ... as in the file), when
    /// the variable has a level dim with a 1-D coordinate variable.
    pub levels: Option<Vec<f64>>,
    pub lat_order: LatOrder,
    pub lon_convention: LonConvention,
    /// True when the longitudes cover the full 360° circle (periodic in lon).
    pub global_lon: bool,
}

impl Grid {
    /// Checks the coordinates and builds the grid. `lat_name`/`lon_name` are
    /// only used in messages.
    pub fn from_coords(
        lat_name: &str,
        lat: Vec<f64>,
        lon_name: &str,
        lon: Vec<f64>,
        levels: Option<Vec<f64>>,
    ) -> Result<Grid> {
        check_finite(lat_name, &lat)?;
        check_finite(lon_name, &lon)?;
        if let Some(bad) = lat.iter().find(|v| v.abs() > 90.0 + 1e-6) {
            return Err(IoError::NotRegularGrid(format!(
                "latitude '{lat_name}' has a value {bad} outside [-90, 90]"
            )));
        }
        if lat.len() >= 2 {
            check_monotonic(lat_name, &lat)?;
            if let Err(e) = check_uniform(lat_name, &lat) {
                if is_gaussian(&lat) {
                    return Err(IoError::NotRegularGrid(format!(
                        "latitude '{lat_name}' holds the {} latitudes of a Gaussian grid; Gaussian grids \
                         are not regular lat/lon grids and are not supported (regrid to a regular grid first)",
                        lat.len()
                    )));
                }
                return Err(e);
            }
        }
        // Longitudes may cross the ±180 or 360 seam once: unwrap before checking.
        let unwrapped = unwrap_lon(&lon);
        if lon.len() >= 2 {
            check_monotonic(lon_name, &unwrapped)?;
            check_uniform(lon_name, &unwrapped)?;
        }
        let lat_order = match (lat.first(), lat.last()) {
            (Some(a), Some(b)) if b > a => LatOrder::SouthToNorth,
            _ => LatOrder::NorthToSouth,
        };
        let global_lon = lon.len() >= 2 && {
            let step = (unwrapped[lon.len() - 1] - unwrapped[0]) / (lon.len() - 1) as f64;
            let span = step.abs() * lon.len() as f64;
            (span - 360.0).abs() <= STEP_TOLERANCE * step.abs() * lon.len() as f64
        };
        if lon.len() >= 2 {
            let step = (unwrapped[lon.len() - 1] - unwrapped[0]).abs() / (lon.len() - 1) as f64;
            if step * (lon.len() as f64 - 1.0) > 360.0 + 1e-6 {
                return Err(IoError::NotRegularGrid(format!(
                    "longitude '{lon_name}' spans more than 360 degrees"
                )));
            }
        }
        let min = lon.iter().copied().fold(f64::INFINITY, f64::min);
        let max = lon.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lon_convention = if min < 0.0 {
            LonConvention::Minus180To180
        } else if max > 180.0 || global_lon {
            LonConvention::ZeroTo360
        } else {
            LonConvention::Regional
        };
        Ok(Grid {
            lat,
            lon,
            levels,
            lat_order,
            lon_convention,
            global_lon,
        })
    }

    /// Latitude step in degrees (signed, as in the file); 0 for one row.
    pub fn lat_step(&self) -> f64 {
        step(&self.lat)
    }

    /// Longitude step in degrees (signed, as in the file); 0 for one column.
    pub fn lon_step(&self) -> f64 {
        step(&unwrap_lon(&self.lon))
    }
}

fn step(v: &[f64]) -> f64 {
    if v.len() < 2 {
        0.0
    } else {
        (v[v.len() - 1] - v[0]) / (v.len() - 1) as f64
    }
}

fn check_finite(name: &str, v: &[f64]) -> Result<()> {
    if v.is_empty() {
        return Err(IoError::NotRegularGrid(format!(
            "coordinate '{name}' is empty"
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(IoError::NotRegularGrid(format!(
            "coordinate '{name}' has a non-finite value at index {i}"
        )));
    }
    Ok(())
}

fn check_monotonic(name: &str, v: &[f64]) -> Result<()> {
    let inc = v[1] > v[0];
    for (i, w) in v.windows(2).enumerate() {
        let ok = if inc { w[1] > w[0] } else { w[1] < w[0] };
        if !ok {
            return Err(IoError::NotRegularGrid(format!(
                "coordinate '{name}' is not strictly monotonic (index {}: {} then {})",
                i, w[0], w[1]
            )));
        }
    }
    Ok(())
}

fn check_uniform(name: &str, v: &[f64]) -> Result<()> {
    let s = step(v);
    for (i, w) in v.windows(2).enumerate() {
        let d = w[1] - w[0];
        if (d - s).abs() > STEP_TOLERANCE * s.abs() {
            return Err(IoError::NotRegularGrid(format!(
                "coordinate '{name}' is not uniformly spaced: step {d} between index {i} and {} \
                 differs from the mean step {s} by more than {STEP_TOLERANCE} of the step",
                i + 1
            )));
        }
    }
    Ok(())
}

/// Adds or removes 360 where consecutive longitudes jump by more than 180°.
fn unwrap_lon(lon: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(lon.len());
    let mut shift = 0.0;
    for (i, &x) in lon.iter().enumerate() {
        if i > 0 {
            let d = x + shift - out[i - 1];
            if d < -180.0 {
                shift += 360.0;
            } else if d > 180.0 {
                shift -= 360.0;
            }
        }
        out.push(x + shift);
    }
    out
}

/// True when `lat` matches the Gaussian latitudes of a grid with `lat.len()`
/// rows (either order) within 1e-3 degrees.
fn is_gaussian(lat: &[f64]) -> bool {
    let n = lat.len();
    if n < 4 {
        return false;
    }
    let g = gaussian_latitudes(n);
    let matches =
        |it: &mut dyn Iterator<Item = &f64>| it.zip(&g).all(|(a, b)| (a - b).abs() < 1e-3);
    matches(&mut lat.iter()) || matches(&mut lat.iter().rev())
}

/// Gaussian latitudes (north to south, degrees): arcsin of the roots of the
/// Legendre polynomial P_n.
fn gaussian_latitudes(n: usize) -> Vec<f64> {
    let nf = n as f64;
    (0..n)
        .map(|i| {
            // Initial guess (Tricomi), then Newton on P_n(x).
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let kf = k as f64;
                    let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
                    p0 = p1;
                    p1 = p2;
                }
                let dp = nf * (x * p1 - p0) / (x * x - 1.0);
                let dx = p1 / dp;
                x -= dx;
                if dx.abs() < 1e-15 {
                    break;
                }
            }
            x.asin().to_degrees()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin(a: f64, step: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| a + step * i as f64).collect()
    }

    #[test]
    fn regular_global_grid() {
        let g = Grid::from_coords("lat", lin(90.0, -3.0, 61), "lon", lin(0.0, 3.0, 120), None)
            .expect("valid");
        assert_eq!(g.lat_order, LatOrder::NorthToSouth);
        assert_eq!(g.lon_convention, LonConvention::ZeroTo360);
        assert!(g.global_lon);
        let g = Grid::from_coords(
            "lat",
            lin(50.0, 0.25, 33),
            "lon",
            lin(-10.0, 0.25, 49),
            None,
        )
        .expect("valid");
        assert_eq!(g.lat_order, LatOrder::SouthToNorth);
        assert_eq!(g.lon_convention, LonConvention::Minus180To180);
        assert!(!g.global_lon);
        let g = Grid::from_coords("lat", lin(55.0, -0.25, 41), "lon", lin(0.0, 0.25, 41), None)
            .expect("valid");
        assert_eq!(g.lon_convention, LonConvention::Regional);
        // crossing the dateline
        let lon: Vec<f64> = lin(170.0, 5.0, 5)
            .into_iter()
            .map(|x| if x > 180.0 { x - 360.0 } else { x })
            .collect();
        assert!(Grid::from_coords("lat", lin(0.0, 1.0, 3), "lon", lon, None).is_ok());
    }

    #[test]
    fn irregular_and_gaussian_are_refused() {
        let mut lat = lin(90.0, -3.0, 61);
        lat[10] += 0.5;
        let e = Grid::from_coords("lat", lat, "lon", lin(0.0, 3.0, 120), None)
            .expect_err("must be refused");
        assert!(
            matches!(e, IoError::NotRegularGrid(ref m) if m.contains("uniformly")),
            "{e}"
        );
        let mut lon = lin(0.0, 3.0, 120);
        lon.swap(3, 4);
        let e = Grid::from_coords("lat", lin(90.0, -3.0, 61), "lon", lon, None)
            .expect_err("must be refused");
        assert!(
            matches!(e, IoError::NotRegularGrid(ref m) if m.contains("monotonic")),
            "{e}"
        );
        let g = gaussian_latitudes(32);
        assert!((g[0] - 85.7605871204).abs() < 1e-6, "{}", g[0]);
        let e = Grid::from_coords("lat", g, "lon", lin(0.0, 3.75, 96), None)
            .expect_err("must be refused");
        assert!(
            matches!(e, IoError::NotRegularGrid(ref m) if m.contains("Gaussian")),
            "{e}"
        );
    }
}
