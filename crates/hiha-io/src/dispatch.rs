//! Reading any supported input: GRIB or NetCDF, told apart by the file's
//! first bytes (not its name).

use std::io::Read;
use std::path::Path;

use crate::error::{IoError, Result};
use crate::grib;
use crate::netcdf::{self, LoadedDataset, LoadedVariable};

/// The kind of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// GRIB edition 1 or 2 (a "GRIB" message within the first kilobyte).
    Grib,
    /// Anything else is handed to the NetCDF reader, which names what it
    /// finds (NetCDF-3, NetCDF-4/HDF5, or not a NetCDF file).
    NetCdf,
}

/// The format of the file at `path`, from its first kilobyte.
pub fn input_format(path: &Path) -> Result<InputFormat> {
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(path)
        .and_then(|f| f.take(1024).read_to_end(&mut head))
        .map_err(|e| IoError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
            kind: e.kind(),
        })?;
    Ok(if grib::is_grib(&head) {
        InputFormat::Grib
    } else {
        InputFormat::NetCdf
    })
}

/// Reads the data variables of a GRIB or NetCDF file:
/// [`grib::read_grib`] or [`netcdf::read_dataset`], by the file's magic bytes.
pub fn read_any(path: &Path, vars: Option<&[&str]>) -> Result<LoadedDataset> {
    match input_format(path)? {
        InputFormat::Grib => grib::read_grib(path, vars),
        InputFormat::NetCdf => netcdf::read_dataset(path, vars),
    }
}

/// Reads one variable of a GRIB or NetCDF file, as
/// [`netcdf::read_variable`] does: with `var = None` the file must hold
/// exactly one data variable.
pub fn read_any_variable(path: &Path, var: Option<&str>) -> Result<LoadedVariable> {
    match input_format(path)? {
        InputFormat::NetCdf => netcdf::read_variable(path, var),
        InputFormat::Grib => {
            let name = match var {
                Some(v) => v.to_string(),
                None => {
                    let names = grib::variable_names(path)?;
                    match names.as_slice() {
                        [one] => one.clone(),
                        _ => {
                            return Err(IoError::NotFound {
                                var: None,
                                candidates: names,
                            })
                        }
                    }
                }
            };
            let mut ds = grib::read_grib(path, Some(&[name.as_str()]))?;
            let mut v = ds.variables.pop().ok_or_else(|| IoError::NotFound {
                var: Some(name.clone()),
                candidates: Vec::new(),
            })?;
            v.notes = ds.notes;
            Ok(v)
        }
    }
}
