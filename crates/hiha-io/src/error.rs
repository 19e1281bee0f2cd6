//! The error type of the I/O crate.

use thiserror::Error;

/// Everything that can go wrong while reading or writing a dataset. Each
/// variant is a *kind* of failure; the message says what happened in plain
/// words and names the file, variable or coordinate involved.
#[derive(Debug, Error)]
pub enum IoError {
    /// The operating system could not read the file (it does not exist, no
    /// permission, a device error). Nothing is known about its contents.
    #[error("cannot read '{path}': {reason}")]
    Read {
        path: String,
        reason: String,
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
    },
    /// The file was read but is not a readable NetCDF file (empty, garbage
    /// or text, another format such as GRIB, a truncated or damaged header).
    #[error("cannot open '{path}': {reason}")]
    Open { path: String, reason: String },
    /// The requested variable does not exist, or no variable was named and
    /// the file holds zero or several data variables.
    #[error("{}", not_found_message(.var.as_deref(), .candidates))]
    NotFound {
        var: Option<String>,
        candidates: Vec<String>,
    },
    /// The file or variable uses a feature this build does not handle
    /// (string or compound types, NetCDF-4 groups, ...).
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    /// The latitude/longitude coordinates do not form a regular grid
    /// (irregular spacing, Gaussian latitudes, missing or 2-D coordinates).
    #[error("not a regular lat/lon grid: {0}")]
    NotRegularGrid(String),
    /// The variable's dims cannot be mapped onto frames × levels × lat × lon,
    /// or a field does not match the metadata it is written with.
    #[error("bad shape: {0}")]
    BadShape(String),
    /// The file's contents are inconsistent (data shorter than announced,
    /// attribute of the wrong kind, ...).
    #[error("corrupt file '{path}': {reason}")]
    Corrupt { path: String, reason: String },
    /// Writing the output failed.
    #[error("cannot write '{path}': {reason}")]
    Write { path: String, reason: String },
    /// The output already exists and the write was asked not to replace it.
    #[error("'{path}' already exists")]
    Exists { path: String },
    /// An error of the core library (field construction, ...).
    #[error(transparent)]
    Core(#[from] hiha_core::Error),
}

fn not_found_message(var: Option<&str>, candidates: &[String]) -> String {
    let list = if candidates.is_empty() {
        "none".to_string()
    } else {
        candidates.join(", ")
    };
    match var {
        Some(v) => format!("variable '{v}' not found; data variables in the file: {list}"),
        None if candidates.is_empty() => {
            "the file holds no data variable (a variable with latitude and longitude dims)"
                .to_string()
        }
        None => format!("the file holds several data variables, choose one of: {list}"),
    }
}

/// Result alias for the I/O crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
