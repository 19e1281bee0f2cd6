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
//! - [`mask`]: the missing-value mask, coded losslessly;
//! - [`preprocess`]: climatology removal, normalisation, sphere coordinates;
//! - [`entropy`]: adaptive binary range coder used by the coders;
//! - [`residual`]: the error-bounded residual coder (the guarantee stage);
//! - [`spectral`], [`ssm`], [`mim`], [`idm`], [`trc`], [`siren`]: the HiHa predictor;
//! - [`format`]: the `.hiha` container;
//! - [`codec`]: the end-to-end pipeline.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod bound;
pub mod codec;
pub mod entropy;
pub mod error;
pub mod fic;
pub mod field;
pub mod format;
pub mod idm;
pub mod mask;
pub mod meta;
pub mod metrics;
pub mod mim;
pub mod preprocess;
pub mod residual;
pub mod siren;
pub mod spectral;
pub mod ssm;
pub mod trc;

pub use error::{Error, Result};
pub use field::Field;
