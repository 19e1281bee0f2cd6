//! GRIB1 and GRIB2 input: reads a GRIB file into the same [`LoadedDataset`]
//! as a NetCDF file, so that it compresses like one and decompresses to
//! CF NetCDF.
//!
//! # What is read
//!
//! - GRIB1: grid-point data with simple packing on regular lat/lon grids,
//!   bitmaps, ECMWF's local MARS labelling (ensemble member).
//! - GRIB2: simple packing (template 5.0), complex packing (5.2), complex
//!   packing with spatial differencing (5.3, as in GFS files) and CCSDS
//!   (5.42, as in ECMWF's data since 2023), on regular lat/lon grids
//!   (template 3.0), product templates 4.0, 4.1, 4.2, 4.8, 4.11, 4.12 and
//!   4.40–4.43, bitmaps, several fields per message.
//! - Other grids (Gaussian, rotated, Lambert, polar stereographic, spectral,
//!   …) and other packings (JPEG 2000, PNG, IEEE, GRIB1 second order) are
//!   refused with an error that names them.
//!
//! # Values identical to ecCodes'
//!
//! Every value is computed as ecCodes computes it in `double`
//! ([`decode`]): the same integer unpacking, the reference value decoded by
//! the same routine (IBM or IEEE), the same scale factors (powers by
//! repeated multiplication, not `powi`), the same expression
//! `((X · 2^E) + R) · 10^-D` in the same order, and ecCodes' special cases
//! (a constant field is the reference value, not decimally scaled). The
//! tests compare every value of every field of the sample files with
//! ecCodes' `codes_get_values`, bit for bit. The dataset stores these values
//! rounded to `f32` (the bound of `hiha compress` is verified against them).
//!
//! The pure-Rust `grib` crate was evaluated and not used: it computes
//! values in `f32` arithmetic (`(R + X · 2^E) · 10^-D` with `f32` factors),
//! which differs from ecCodes in the last bits, and it reads no GRIB1.
//! CCSDS decoding uses the small pure-Rust `rust-aec` crate (the decoder
//! the `grib` crate itself uses).
//!
//! # Grouping
//!
//! Fields are grouped into variables as cfgrib groups them ([`dataset`]):
//! names are ecCodes' `cfVarName` (`t`, `z`, `t2m`, `u10`, …) from a table
//! generated from ecCodes (`params.tsv`), dims are `number` (ensemble
//! member), `time` (reference time), `step` (forecast step, hours), the
//! level (named by `typeOfLevel`: `isobaricInhPa`, `heightAboveGround`, …),
//! `latitude` and `longitude`; a dim with one value is a scalar
//! coordinate, and `valid_time` is `time + step`. Fields that do not fill a
//! hypercube are an error that names them.
//!
//! # Hostile input
//!
//! Every length and offset is checked against the bytes that hold it; the
//! values a file may decode to are bounded by its size (see
//! [`VALUES_PER_BYTE`]) before anything is allocated; integer
//! arithmetic on values from the file is checked. Truncated or garbled
//! files give [`crate::IoError::Corrupt`], never a panic.

mod bitmap;
mod bytes;
mod ccsds;
mod complex;
pub mod dataset;
mod decode;
mod error;
mod file;
mod grib1;
mod grib2;
mod latlon;
mod level;
mod message;
mod numbers;
mod packing;
mod params;
mod simple;
mod time;

use std::path::Path;

pub use decode::{decode, Decoded, SLACK_VALUES, VALUES_PER_BYTE};
pub use error::GribError;
pub use file::{edition_at, scan};
pub use latlon::{GridDef, LatLonGrid};
pub use level::Level;
pub use message::{GribField, ParamKey, Step, StepType};
pub use packing::Packing;
pub use params::{lookup as param_info, ParamInfo};

use crate::error::{IoError, Result};
use crate::netcdf::LoadedDataset;

/// True when `bytes` hold a GRIB message within their first kilobyte and
/// no NetCDF or HDF5 signature at the start.
pub fn is_grib(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"CDF") || bytes.get(1..4) == Some(b"HDF".as_slice()) {
        return false;
    }
    let head = &bytes[..bytes.len().min(1024)];
    head.windows(4)
        .position(|w| w == b"GRIB")
        .is_some_and(|p| edition_at(&bytes[p..]).is_some())
}

fn to_io(path: &str, e: GribError) -> IoError {
    match e {
        GribError::Corrupt(reason) => IoError::Corrupt {
            path: path.to_string(),
            reason: format!("not a readable GRIB file: {reason}"),
        },
        GribError::Unsupported(m) => IoError::UnsupportedFormat(format!("'{path}': {m}")),
        GribError::NotRegularGrid(m) => IoError::NotRegularGrid(m),
        GribError::BadShape(m) => IoError::BadShape(m),
    }
}

/// The names of the variables of a GRIB file, in file order, without
/// decoding any value.
pub fn variable_names(path: &Path) -> Result<Vec<String>> {
    let p = path.display().to_string();
    let bytes = read_file(path)?;
    let fields = scan(&bytes).map_err(|e| to_io(&p, e))?;
    Ok(dataset::names(&fields))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| IoError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
        kind: e.kind(),
    })
}

/// Reads the variables `vars` of a GRIB file (every variable when `None`)
/// into a dataset: fields grouped into variables, values identical to
/// ecCodes', missing points (bitmaps) as missing elements.
pub fn read_grib(path: &Path, vars: Option<&[&str]>) -> Result<LoadedDataset> {
    let p = path.display().to_string();
    let bytes = read_file(path)?;
    read_grib_bytes(&p, &bytes, vars)
}

/// [`read_grib`] on bytes already in memory (`name` is used in messages).
pub fn read_grib_bytes(name: &str, bytes: &[u8], vars: Option<&[&str]>) -> Result<LoadedDataset> {
    let fields = scan(bytes).map_err(|e| to_io(name, e))?;
    dataset::build(bytes, &fields, vars).map_err(|e| match e {
        dataset::BuildError::Grib(g) => to_io(name, g),
        dataset::BuildError::NotFound { var, candidates } => IoError::NotFound {
            var: Some(var),
            candidates,
        },
    })
}
