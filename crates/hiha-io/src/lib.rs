//! NetCDF, GRIB and Zarr input, NetCDF and Zarr output for hiha.
//!
//! # Choice of libraries
//!
//! Reading uses [`netcdf_reader`] (crate `netcdf-reader`, pure Rust, MIT OR
//! Apache-2.0), which reads NetCDF-3 classic (CDF-1), 64-bit offset (CDF-2)
//! and 64-bit data (CDF-5) files, and NetCDF-4/HDF5 files through its
//! pure-Rust companion `hdf5-reader` (deflate, shuffle) when the default
//! feature `netcdf4` is on; without it NetCDF-4 files are refused with
//! "NetCDF-4 not supported in this build". No system library is needed. The crate `netcdf3` (pure Rust) was evaluated too: it reads and
//! writes CDF-1/2 only (no CDF-5, no NetCDF-4), so it was not kept.
//!
//! Writing ([`write_netcdf`]) gives NetCDF-4 through the pure-Rust
//! `netcdf-writer` crate (same family as `netcdf-reader`), every data
//! variable chunked by 2-D field with shuffle + zlib (feature `netcdf4`), or
//! NetCDF-3 through a small encoder in this crate: CDF-2 (64-bit offset), or
//! CDF-5 when a NetCDF-4 source brings unsigned or 64-bit integer types. A
//! variable whose source was CF-packed is written packed again when the
//! encoder verified that this keeps the bound; otherwise as float32.
//!
//! Zarr v2/v3 stores are read and v3 stores written by [`zarr`] (feature
//! `zarr`, pure Rust; see that module for why not the `zarrs` crate).
//!
//! # Model
//!
//! [`read_variable`] maps a variable with dims `(…, [level], lat, lon)` onto
//! [`hiha_core::Field`] (leading dims flattened into frames), checks that the
//! grid is a regular lat/lon grid ([`Grid`]), applies CF packing and missing
//! values, and keeps everything else of the file exactly in
//! [`hiha_core::meta::DatasetMeta`]. [`write_variable`] writes it back.
//!
//! [`grib`] reads GRIB1 and GRIB2 files into the same model (values
//! identical to ecCodes', fields grouped into variables as cfgrib does);
//! [`read_any`] picks the GRIB or the NetCDF reader by the file's first
//! bytes.

pub mod atomic;
pub mod cf;
mod dispatch;
pub mod error;
#[cfg(feature = "netcdf4")]
pub mod frames;
pub mod grib;
pub mod grid;
mod nc3;
#[cfg(feature = "netcdf4")]
mod nc4;
pub mod netcdf;
mod prepared;
mod stream_write;
mod write;
#[cfg(feature = "zarr")]
pub mod zarr;

pub use atomic::{write_atomic, write_atomic_with, Existing};
pub use dispatch::{input_format, read_any, read_any_variable, InputFormat};
pub use error::IoError;
pub use grid::{Grid, LatOrder, LonConvention};
pub use netcdf::{
    file_format, list_variables, read_dataset, read_variable, LoadedDataset, LoadedVariable,
    VarSummary,
};
pub use stream_write::{Nc3Stream, StreamVar};
pub use write::{
    write_dataset_with, write_netcdf, write_variable, write_variable_with, OutputFormat, OutputVar,
    VarEncoding, Written, NC_FILL_FLOAT,
};
