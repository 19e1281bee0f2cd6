//! Python exceptions of the core's errors, and the guard that keeps
//! panics from crossing into Python.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hiha_core::Error as CoreError;
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    hiha,
    CorruptArchiveError,
    PyValueError,
    "The bytes are not a valid hiha archive: damaged, truncated, or not an archive at all."
);
create_exception!(
    hiha,
    UnsupportedArchiveError,
    PyValueError,
    "The archive uses a format version or feature this build cannot read."
);
create_exception!(
    hiha,
    BoundViolatedError,
    PyRuntimeError,
    "Verification after encoding found an element outside the bound (a bug, never a tolerance)."
);
create_exception!(
    hiha,
    InternalError,
    PyRuntimeError,
    "A bug in hiha: the Rust code panicked. The panic was caught at the boundary."
);

/// A core error as the Python exception of its kind, with the core's message.
pub(crate) fn to_py_err(e: CoreError) -> PyErr {
    let msg = e.to_string();
    match e {
        CoreError::InvalidInput(_) => PyValueError::new_err(msg),
        CoreError::Corrupt(_) | CoreError::Truncated(_) | CoreError::Checksum { .. } => {
            CorruptArchiveError::new_err(msg)
        }
        CoreError::Unsupported(_) => UnsupportedArchiveError::new_err(msg),
        CoreError::BoundViolated(_) => BoundViolatedError::new_err(msg),
        CoreError::Io(_) => PyOSError::new_err(msg),
    }
}

pub(crate) fn panic_message(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs `f`, turning a panic into `hiha.InternalError`: no panic crosses
/// into Python.
pub(crate) fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(InternalError::new_err(format!(
            "internal error (please report): {}",
            panic_message(p)
        )))
    })
}

/// Like [`guarded`] for a closure returning a core result.
pub(crate) fn core<T>(f: impl FnOnce() -> hiha_core::Result<T>) -> PyResult<T> {
    guarded(|| f().map_err(to_py_err))
}
