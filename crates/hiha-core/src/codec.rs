//! The end-to-end pipeline: field → `.hiha` archive → field.
//!
//! API contract (implementation in progress):
//! - [`compress`] takes a [`Field`], its [`DatasetMeta`] and [`CompressOptions`],
//!   encodes, then decodes and verifies the bound on every element before it
//!   returns the archive bytes and a [`CompressReport`].
//! - [`decompress`] returns the field (optionally only frames `a..b`) and the metadata.

use crate::bound::Bound;
use crate::error::{Error, Result};
use crate::field::Field;
use crate::meta::DatasetMeta;
use crate::metrics::Metrics;

/// Which predictor feeds the residual coder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PredictorKind {
    /// No predictor: the residual coder alone.
    #[default]
    None,
    /// HiHa's frequency-based hierarchical compression (FIC).
    Fic,
}

/// Options of one compression run.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressOptions {
    pub bound: Bound,
    pub predictor: PredictorKind,
}

/// Receives progress of long work. `total` may change between calls.
pub trait Progress: Sync {
    fn stage(&self, _name: &str, _total: u64) {}
    fn inc(&self, _n: u64) {}
}

/// A progress sink that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What one compression achieved, verified after decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressReport {
    pub metrics: Metrics,
    pub original_bytes: usize,
    pub compressed_bytes: usize,
    /// Bytes per section kind, for `hiha info` and the benchmarks.
    pub section_bytes: Vec<(String, usize)>,
}

impl CompressReport {
    /// float32 bytes of the valid+missing elements over archive bytes.
    pub fn ratio(&self) -> f64 {
        self.original_bytes as f64 / self.compressed_bytes.max(1) as f64
    }
}

/// Compresses a field, verifying the bound on every element.
pub fn compress(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    progress: &dyn Progress,
) -> Result<(Vec<u8>, CompressReport)> {
    let _ = (field, meta, opts, progress);
    Err(Error::Unsupported("pipeline not implemented yet".into()))
}

/// Decompresses an archive, optionally only frames `frames`.
pub fn decompress(
    bytes: &[u8],
    frames: Option<std::ops::Range<usize>>,
) -> Result<(Field, DatasetMeta)> {
    let _ = (bytes, frames);
    Err(Error::Unsupported("pipeline not implemented yet".into()))
}
