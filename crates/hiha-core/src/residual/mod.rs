//! The residual coder: hiha's guarantee stage.
//!
//! Given the data `x` and an optional prediction `p` (from FIC, or none), it
//! codes `x − p` so that the decoded reconstruction, *as f32*, meets the
//! target on every element. With no prediction it is a complete
//! error-bounded compressor on its own.
//!
//! API contract (implementation pending in this module):
//! - [`encode`] / [`decode`] work on an N-D block (`dims`, row-major, up to 4
//!   axes, axes of length 1 allowed), with an optional missing mask: masked
//!   elements are never read (their values may be NaN) and decode leaves NaN
//!   there.
//! - `decode(encode(x, p, ...), p, ...)` gives a reconstruction `x̂` with
//!   `|x − x̂| ≤ e` on every valid element for [`Target::MaxAbs`] and
//!   `rmse(x, x̂) ≤ r` for [`Target::Rmse`], computed in f64 on the f32 values.
//! - The decoder must receive bit-identical `prediction` values.

use crate::error::{Error, Result};

/// What the residual coder must achieve on its block.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Target {
    /// Pointwise bound, in the data's units.
    MaxAbs(f64),
    /// Root-mean-square error bound over the block's valid elements.
    Rmse(f64),
}

/// Encodes `data` (minus `prediction`, when given) to meet `target`.
pub fn encode(
    data: &[f32],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
    target: Target,
) -> Result<Vec<u8>> {
    let _ = (data, prediction, dims, missing, target);
    Err(Error::Unsupported("residual coder not implemented yet".into()))
}

/// Decodes what [`encode`] produced, given the same prediction, dims and mask.
pub fn decode(
    bytes: &[u8],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
) -> Result<Vec<f32>> {
    let _ = (bytes, prediction, dims, missing);
    Err(Error::Unsupported("residual coder not implemented yet".into()))
}
