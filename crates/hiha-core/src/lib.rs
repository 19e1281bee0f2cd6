//! # hiha-core
//!
//! The pure-Rust core of hiha, a compressor for gridded atmospheric data that
//! implements HiHa (hierarchical harmonic decomposition + implicit neural
//! compression, Xu et al., AAAI 2025) and adds a guaranteed error bound.
//!
//! Data flow (see `docs/ARCHITECTURE.md`):
//!
//! ```text
//! Field ──preprocess──▶ normalised frame ──predictor (FIC: spectral → ssm/mim/idm, trc)──▶ prediction
//!   │                                                                                      │
//!   └────────────── residual = input − prediction ──▶ residual coder (guarantee) ◀─────────┘
//!                                                        │
//!                                                 format (.hiha container)
//! ```
//!
//! Modules are named after the concepts of the method:
//! - [`field`]: the variable as hiha sees it (frames × levels × lat × lon + missing mask);
//! - [`meta`]: everything needed to write the original file back (dims, coordinates, attributes);
//! - [`bound`]: the accuracy modes the user asks for (`--nrmse`, `--max-abs`, `--max-rel`);
//! - [`metrics`]: RMSE, NRMSE, PSNR, max abs error;
//! - [`fidelity`]: the fitness report of `hiha compare` (per-level errors, bias, R²,
//!   sign changes, error autocorrelation, zonal spectra, DSSIM, geostrophic wind,
//!   vorticity/divergence, error ÷ ensemble spread);
//! - [`mask`]: the missing-value mask, coded losslessly;
//! - [`entropy`]: adaptive binary range coder used by the coders;
//! - [`residual`]: the error-bounded residual coder (the guarantee stage);
//! - [`predictor`]: HiHa's predictor, the first stage (preprocess, spectral, ssm, fit,
//!   mim, idm, fic, trc), on [`siren`], the network engine;
//! - `levels`: per-level value ranges (clamping each level into its own
//!   [min, max]) and the per-level normalisation of the per-level bounds;
//! - `pw_rel`: the pointwise relative bound (`ln|x|` coding, signs and zeros kept);
//! - [`format`]: the `.hiha` container;
//! - [`codec`]: the end-to-end pipeline.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod bound;
pub mod codec;
pub mod entropy;
pub mod error;
pub mod fidelity;
pub mod field;
pub mod format;
mod lattice;
mod levels;
pub mod mask;
pub mod meta;
pub mod metrics;
pub mod predictor;
mod pw_rel;
pub mod residual;
pub mod siren;
mod spread;

pub use error::{Error, Result};
pub use field::Field;
