//! HiHa's predictor: the first stage of the method. It turns a frame into a
//! prediction plus compact sections (networks, sparse coefficients); the
//! residual coder (`crate::residual`), the second stage, codes what the
//! prediction missed within the error bound.
//!
//! From the bottom up (every import points down this list):
//! - [`preprocess`]: frame geometry, climatology and per-level normalisation;
//! - [`spectral`]: the FFT band split (low / mid / high);
//! - [`ssm`]: sparse storage of the high band;
//! - [`fit`]: fitting a SIREN to points, whether its bytes pay, network
//!   shape limits, and section blob I/O — shared by the stages above it;
//! - [`mim`]: the multi-scale INR of the low band (thumbnail + upscaling +
//!   block networks);
//! - [`idm`]: the octree of SIRENs for the mid band;
//! - [`fic`]: frequency-based hierarchical compression of one frame (the
//!   stages above, combined);
//! - [`trc`]: temporal residual compression of the frames between FIC
//!   keyframes.

pub mod fic;
pub mod fit;
pub mod idm;
pub mod mim;
pub mod preprocess;
pub mod spectral;
pub mod ssm;
pub mod trc;
