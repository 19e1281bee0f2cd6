//! The one error type of the core library.

use thiserror::Error;

/// Everything that can go wrong in the core library. Each variant is a *kind*
/// of failure; the message says what exactly happened, in plain words.
#[derive(Debug, Error)]
pub enum Error {
    /// The caller gave something the library cannot work with (bad shape,
    /// non-finite bound, empty field, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The archive is damaged: a structure does not make sense.
    #[error("corrupt archive: {0}")]
    Corrupt(String),
    /// The archive ends before a structure it announces.
    #[error("truncated archive: {0}")]
    Truncated(String),
    /// A section's checksum does not match its bytes.
    #[error("checksum mismatch in section '{section}': the archive is damaged")]
    Checksum { section: String },
    /// The archive or the input uses a feature this build does not support
    /// (a newer format version, an unknown codec id, ...).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The verification after encoding found an element outside the bound.
    /// This is always a bug, never a tolerance.
    #[error("error bound violated: {0}")]
    BoundViolated(String),
    /// An operating-system I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias for the core library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
