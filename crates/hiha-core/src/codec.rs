//! The end-to-end pipeline: field → `.hiha` archive → field.
//!
//! [`compress`] splits the frames into chunks, codes each chunk's missing
//! mask and its residual against the predictor (none, or FIC), writes the
//! container, then decodes the archive it wrote and verifies the bound on
//! every element before returning it. [`decompress`] reads only the sections
//! the requested frames need.

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bound::Bound;
use crate::error::{Error, Result};
use crate::field::{Field, Shape};
use crate::format::{ArchiveReader, ArchiveWriter, Header, SectionKind};
use crate::meta::DatasetMeta;
use crate::metrics::Metrics;
use crate::residual::{self, Target};

/// Which predictor feeds the residual coder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    /// Frames per independently decodable chunk; `None` picks a default
    /// (about 4 Mi elements per chunk).
    pub chunk_frames: Option<usize>,
}

impl CompressOptions {
    /// Default options for a bound: no predictor, default chunking.
    pub fn new(bound: Bound) -> Self {
        Self {
            bound,
            predictor: PredictorKind::None,
            chunk_frames: None,
        }
    }
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
    /// float32 bytes of all elements over archive bytes.
    pub fn ratio(&self) -> f64 {
        self.original_bytes as f64 / self.compressed_bytes.max(1) as f64
    }
    /// Archive bits per element.
    pub fn bits_per_value(&self) -> f64 {
        self.compressed_bytes as f64 * 8.0 / (self.original_bytes as f64 / 4.0).max(1.0)
    }
}

/// The codec's own configuration, stored as TOML in the archive header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CodecConfig {
    predictor: PredictorKind,
    chunk_frames: usize,
    /// min and max of the valid values (the range the relative modes use).
    value_min: f64,
    value_max: f64,
    /// True when every valid element equals `value_min`: nothing is coded.
    constant: bool,
}

/// About 4 Mi elements (16 MiB of f32) per chunk by default.
const DEFAULT_CHUNK_ELEMENTS: usize = 1 << 22;

fn default_chunk_frames(shape: &Shape) -> usize {
    (DEFAULT_CHUNK_ELEMENTS / shape.frame_len().max(1)).clamp(1, shape.frames.max(1))
}

/// The residual coder's target for a whole variable of value range `range`.
fn residual_target(bound: &Bound, range: f64) -> Target {
    match bound.pointwise_abs(range) {
        Some(e) => Target::MaxAbs(e),
        None => Target::Rmse(bound.rmse_budget(range)),
    }
}

/// Compresses a field, verifying the bound on every element.
pub fn compress(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    progress: &dyn Progress,
) -> Result<(Vec<u8>, CompressReport)> {
    opts.bound.validate()?;
    let shape = field.shape;
    let n = shape.checked_len()?;
    if field.values.len() != n {
        return Err(Error::InvalidInput(format!(
            "field has {} values but its shape {shape:?} needs {n}",
            field.values.len()
        )));
    }
    if opts.predictor == PredictorKind::Fic {
        return Err(Error::Unsupported(
            "the FIC predictor is not available in this build yet; use --predictor none".into(),
        ));
    }
    let (lo, hi) = field.value_range().unwrap_or((0.0, 0.0));
    let (lo, hi) = (lo as f64, hi as f64);
    let range = hi - lo;
    let chunk_frames = match opts.chunk_frames {
        Some(0) => {
            return Err(Error::InvalidInput(
                "chunk size must be at least 1 frame".into(),
            ))
        }
        Some(c) => c.min(shape.frames),
        None => default_chunk_frames(&shape),
    };
    let config = CodecConfig {
        predictor: opts.predictor,
        chunk_frames,
        value_min: lo,
        value_max: hi,
        constant: range == 0.0,
    };
    let header = Header {
        meta: meta.clone(),
        shape,
        bound: opts.bound,
        codec_config: toml::to_string(&config)
            .map_err(|e| Error::InvalidInput(format!("cannot serialise the codec config: {e}")))?,
        extra: Vec::new(),
    };

    let target = residual_target(&opts.bound, range);
    let chunks: Vec<Range<usize>> = (0..shape.frames)
        .step_by(chunk_frames)
        .map(|a| a..(a + chunk_frames).min(shape.frames))
        .collect();
    progress.stage("compress", shape.frames as u64);
    let frame_len = shape.frame_len();
    let coded: Vec<Result<(Option<Vec<u8>>, Option<Vec<u8>>)>> = chunks
        .par_iter()
        .map(|fr| {
            let span = fr.start * frame_len..fr.end * frame_len;
            let mask = field.missing.as_ref().map(|m| &m[span.clone()]);
            let mask = mask.filter(|m| m.iter().any(|&x| x));
            let mask_bytes = mask.map(crate::mask::encode);
            let res = if config.constant {
                None
            } else {
                let dims = [fr.len(), shape.levels, shape.lat, shape.lon];
                Some(residual::encode(
                    &field.values[span],
                    None,
                    &dims,
                    mask,
                    target,
                )?)
            };
            progress.inc(fr.len() as u64);
            Ok((mask_bytes, res))
        })
        .collect();

    let mut writer = ArchiveWriter::new(&header)?;
    for (fr, c) in chunks.iter().zip(coded) {
        let (mask_bytes, res) = c?;
        let frames = fr.start as u32..fr.end as u32;
        if let Some(m) = mask_bytes {
            writer.add_section(SectionKind::Mask, frames.clone(), None, &m)?;
        }
        if let Some(r) = res {
            writer.add_section(SectionKind::Residual, frames, None, &r)?;
        }
    }
    let bytes = writer.finish()?;

    // Verify: decode what we wrote and check every element.
    progress.stage("verify", 1);
    let (back, _) = decompress(&bytes, None)?;
    if back.missing != field.missing {
        return Err(Error::BoundViolated(
            "the missing-value mask did not round-trip".into(),
        ));
    }
    let metrics = Metrics::compute(&field.values, &back.values, field.missing.as_deref())?;
    opts.bound.check(&metrics)?;
    progress.inc(1);
    let section_bytes = ArchiveReader::open(&bytes)?.bytes_by_kind();
    let report = CompressReport {
        metrics,
        original_bytes: n * 4,
        compressed_bytes: bytes.len(),
        section_bytes,
    };
    Ok((bytes, report))
}

fn parse_config(header: &Header) -> Result<CodecConfig> {
    let c: CodecConfig = toml::from_str(&header.codec_config)
        .map_err(|e| Error::Corrupt(format!("codec configuration does not parse: {e}")))?;
    if c.chunk_frames == 0 || !c.value_min.is_finite() || !c.value_max.is_finite() {
        return Err(Error::Corrupt(
            "codec configuration holds impossible values".into(),
        ));
    }
    if c.predictor == PredictorKind::Fic {
        return Err(Error::Unsupported(
            "this archive uses the FIC predictor, which this build cannot decode".into(),
        ));
    }
    Ok(c)
}

/// Decompresses an archive, optionally only frames `frames` (the returned
/// field then has `frames.len()` frames, and the metadata is sliced to match).
pub fn decompress(bytes: &[u8], frames: Option<Range<usize>>) -> Result<(Field, DatasetMeta)> {
    let reader = ArchiveReader::open(bytes)?;
    let header = reader.header();
    let config = parse_config(header)?;
    let shape = header.shape;
    shape.checked_len()?;
    let want = frames.clone().unwrap_or(0..shape.frames);
    if want.start >= want.end || want.end > shape.frames {
        return Err(Error::InvalidInput(format!(
            "frames {}..{} are not within the archive's {} frames",
            want.start, want.end, shape.frames
        )));
    }
    let frame_len = shape.frame_len();
    let out_shape = Shape {
        frames: want.len(),
        ..shape
    };
    let mut values = vec![f32::NAN; out_shape.checked_len()?];
    let mut missing = vec![false; values.len()];

    // Sections grouped by chunk (frame range); each chunk has an optional
    // mask and a residual unless the field is constant.
    let needed = reader.sections_for_frames(want.start as u32..want.end as u32)?;
    let mut chunks: Vec<(Range<usize>, Option<usize>, Option<usize>)> = Vec::new();
    for i in needed {
        let s = &reader.sections()[i];
        let fr = s.frames.start as usize..s.frames.end as usize;
        let slot = match chunks.iter().position(|c| c.0 == fr) {
            Some(p) => p,
            None => {
                chunks.push((fr, None, None));
                chunks.len() - 1
            }
        };
        match s.kind {
            SectionKind::Mask => chunks[slot].1 = Some(i),
            SectionKind::Residual => chunks[slot].2 = Some(i),
            other => {
                return Err(Error::Unsupported(format!(
                    "section kind '{other}' is not decodable by this build's pipeline"
                )))
            }
        }
    }
    // Every wanted frame must be covered exactly once.
    let mut covered = vec![0u8; want.len()];
    for (fr, _, res) in &chunks {
        if res.is_none() && !config.constant {
            return Err(Error::Corrupt(format!(
                "frames {fr:?} have no residual section"
            )));
        }
        for f in fr.clone() {
            if want.contains(&f) {
                covered[f - want.start] += 1;
            }
        }
    }
    if covered.iter().any(|&c| c != 1) {
        return Err(Error::Corrupt(
            "the frame index does not cover each frame exactly once".into(),
        ));
    }

    let decoded: Vec<Result<(Range<usize>, Vec<f32>, Option<Vec<bool>>)>> = chunks
        .par_iter()
        .map(|(fr, mask_i, res_i)| {
            let len = fr.len() * frame_len;
            let mask = match mask_i {
                Some(i) => Some(crate::mask::decode(reader.read(*i)?, len)?),
                None => None,
            };
            let vals = match res_i {
                Some(i) => {
                    let dims = [fr.len(), shape.levels, shape.lat, shape.lon];
                    residual::decode(reader.read(*i)?, None, &dims, mask.as_deref())?
                }
                None => vec![config.value_min as f32; len],
            };
            if vals.len() != len {
                return Err(Error::Corrupt(format!(
                    "frames {fr:?} decoded to {} values, expected {len}",
                    vals.len()
                )));
            }
            Ok((fr.clone(), vals, mask))
        })
        .collect();
    for d in decoded {
        let (fr, vals, mask) = d?;
        let lo = fr.start.max(want.start);
        let hi = fr.end.min(want.end);
        let src = (lo - fr.start) * frame_len..(hi - fr.start) * frame_len;
        let dst = (lo - want.start) * frame_len..(hi - want.start) * frame_len;
        values[dst.clone()].copy_from_slice(&vals[src.clone()]);
        if let Some(m) = mask {
            missing[dst].copy_from_slice(&m[src]);
        }
    }
    let any_missing = missing.iter().any(|&m| m);
    for (v, &m) in values.iter_mut().zip(&missing) {
        if m {
            *v = f32::NAN;
        }
    }
    let field = Field {
        shape: out_shape,
        values,
        missing: if any_missing { Some(missing) } else { None },
    };
    let meta = match frames {
        Some(r) if r != (0..shape.frames) => header.meta.select_frames(r, shape.frames)?,
        _ => header.meta.clone(),
    };
    Ok((field, meta))
}

/// What `hiha info` shows about an archive.
pub fn describe(bytes: &[u8]) -> Result<String> {
    let reader = ArchiveReader::open(bytes)?;
    let mut s = reader.summary();
    s.push_str("codec configuration:\n");
    for line in reader.header().codec_config.lines() {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s.push_str("bytes by section kind:\n");
    for (k, b) in reader.bytes_by_kind() {
        s.push_str(&format!("  {k:<10} {b:>12} B\n"));
    }
    Ok(s)
}
