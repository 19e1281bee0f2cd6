//! Zarr stores (v2 and v3, on the local file system) as input and output,
//! in pure Rust (feature `zarr`, on by default).
//!
//! # Why not the `zarrs` crate
//!
//! `zarrs` 0.23 reads zarr-python's stores and writes v3, but it costs a
//! fresh build about 7 minutes of compile on this project's 2-core machine
//! (713 s of compile units; `zarrs` itself 126 s, the C builds of zstd and
//! lz4 117 s, regex 86 s), needs a C compiler for zstd, lz4, zlib and
//! blosc, and Rust 1.91 (the workspace supports 1.87). What a gridded
//! dataset needs of Zarr is small: JSON metadata, a regular chunk grid, and
//! the codecs zarr-python and xarray write by default (zstd for v3, Blosc
//! with LZ4 and byte shuffle for v2). This module does that with `ruzstd`
//! and `lz4_flex` (pure Rust, about 25 s of compile together) and the
//! `flate2` and `serde_json` the workspace builds anyway. What it does not
//! decode (sharding, bit shuffle, blosclz, other codecs, nested groups) is
//! refused or left out by name, never misread.
//!
//! # Model
//!
//! Reading ([`read_dataset`]) maps the root group's arrays onto the same
//! model a NetCDF file gives (dims from `dimension_names` /
//! `_ARRAY_DIMENSIONS`, attributes, CF packing, `_FillValue`; a v2 array's
//! `fill_value` is its `_FillValue`, as xarray reads it; strings become
//! char arrays as NetCDF-4 strings do), and then uses the NetCDF reader's
//! CF logic, grid checks and all. Writing ([`write_store`]) gives a v3
//! store (chunks as Blosc frames: byte shuffle + zstd, which zarr-python
//! decodes natively; `dimension_names`, the variables' CF attributes,
//! strings as fixed-length UTF-32) that xarray opens.

mod codec;
mod meta;
mod read;
mod write;

use std::path::Path;

use crate::atomic::Existing;
use crate::error::Result;
use crate::netcdf::{read_dataset_from, read_variable_from, LoadedDataset, LoadedVariable};
use crate::write::{prepare_dataset, OutputVar, Written};

/// True when `path` is a Zarr store (a directory with `zarr.json`, or
/// `.zgroup`/`.zattrs`/`.zarray`).
pub fn is_store(path: &Path) -> bool {
    read::store_version(path).is_some()
}

/// The bytes a store occupies: the sum of its files' sizes (links are not
/// followed).
pub fn store_bytes(path: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    total = total.saturating_add(e.metadata().map(|m| m.len()).unwrap_or(0))
                }
                _ => {}
            }
        }
    }
    total
}

/// Reads the data variables of a Zarr store, as
/// [`crate::read_dataset`] does for a NetCDF file.
pub fn read_dataset(path: &Path, vars: Option<&[&str]>) -> Result<LoadedDataset> {
    read_dataset_from(read::open(path)?, vars)
}

/// Reads one data variable of a Zarr store, as [`crate::read_variable`]
/// does for a NetCDF file.
pub fn read_variable(path: &Path, var: Option<&str>) -> Result<LoadedVariable> {
    read_variable_from(read::open(path)?, var)
}

/// Writes the data variables `vars` of one dataset as a Zarr v3 store at
/// `path` (see the module documentation), each packed or float32 as
/// [`crate::write_netcdf`] decides. The store appears complete or not at
/// all; an existing one is replaced only with [`Existing::Replace`] and
/// only if it is a Zarr store.
pub fn write_store(path: &Path, vars: &[OutputVar], existing: Existing) -> Result<Written> {
    let data = prepare_dataset(vars)?;
    let bytes = write::write_store(path, &data, existing)?;
    Ok(Written {
        bytes,
        vars: data
            .vars
            .iter()
            .map(|v| (v.name.to_string(), v.encoding.clone()))
            .collect(),
    })
}
