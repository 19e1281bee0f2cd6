//! The errors of the GRIB reader, before they are tied to a file path.

use thiserror::Error;

/// What went wrong while reading GRIB messages. [`super::read_grib`] turns
/// these into [`crate::IoError`] with the file's path.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GribError {
    /// The bytes are not a well-formed GRIB message (truncated, a length
    /// that does not fit, a section that overlaps the next, ...).
    #[error("{0}")]
    Corrupt(String),
    /// Well-formed, but a feature hiha does not read (a packing, a product
    /// definition template, a time unit, ...).
    #[error("{0}")]
    Unsupported(String),
    /// The message is on a grid other than a regular latitude/longitude grid.
    #[error("{0}")]
    NotRegularGrid(String),
    /// The messages do not form variables on a regular hypercube.
    #[error("{0}")]
    BadShape(String),
}

/// Result alias of the GRIB reader.
pub type GribResult<T> = std::result::Result<T, GribError>;

/// Shorthand for a [`GribError::Corrupt`].
pub(crate) fn corrupt(msg: impl Into<String>) -> GribError {
    GribError::Corrupt(msg.into())
}

/// Shorthand for a [`GribError::Unsupported`].
pub(crate) fn unsupported(msg: impl Into<String>) -> GribError {
    GribError::Unsupported(msg.into())
}
