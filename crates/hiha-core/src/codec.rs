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
use crate::fic::{self, FicConfig, FicGrid};
use crate::field::{Field, Shape};
use crate::format::{ArchiveReader, ArchiveWriter, Header, SectionKind};
use crate::meta::{CoordData, DatasetMeta};
use crate::metrics::Metrics;
use crate::residual::{self, Target};
use crate::trc::{FrameKind, TrcConfig, TrcDecoder, TrcEncoder};

/// Which predictor feeds the residual coder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PredictorKind {
    /// No predictor: the residual coder alone.
    #[default]
    None,
    /// HiHa's frequency-based hierarchical compression (FIC), every frame
    /// on its own ("HiHa without TRC").
    Fic,
    /// Full HiHa: FIC keyframes and temporal residual compression (TRC)
    /// of the frames in between.
    Hiha,
}

/// Options of one compression run.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressOptions {
    pub bound: Bound,
    pub predictor: PredictorKind,
    /// Frames per independently decodable chunk; `None` picks a default
    /// (about 4 Mi elements per chunk).
    pub chunk_frames: Option<usize>,
    /// FIC settings (predictors `Fic` and `Hiha`).
    pub fic: FicConfig,
    /// TRC settings (predictor `Hiha`).
    pub trc: TrcConfig,
}

impl CompressOptions {
    /// Default options for a bound: no predictor, default chunking.
    pub fn new(bound: Bound) -> Self {
        Self {
            bound,
            predictor: PredictorKind::None,
            chunk_frames: None,
            fic: FicConfig::default(),
            trc: TrcConfig::default(),
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
    /// FIC / TRC settings that differ from this version's defaults.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    fic: toml::Table,
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    trc: toml::Table,
}

/// The keys of `v` whose values differ from `T::default()`: what the header
/// must store so that `T` deserialises (with `#[serde(default)]`) to `v`.
fn config_diff<T: Serialize + Default>(v: &T) -> Result<toml::Table> {
    let err = |e: toml::ser::Error| Error::InvalidInput(format!("cannot serialise a config: {e}"));
    let mine = toml::Table::try_from(v).map_err(err)?;
    let base = toml::Table::try_from(T::default()).map_err(err)?;
    Ok(mine
        .into_iter()
        .filter(|(k, x)| base.get(k) != Some(x))
        .collect())
}

fn config_from<T: for<'de> Deserialize<'de>>(t: &toml::Table, what: &str) -> Result<T> {
    T::deserialize(toml::Value::Table(t.clone()))
        .map_err(|e| Error::Corrupt(format!("{what} configuration does not parse: {e}")))
}

/// The grid the FIC networks see, from the coordinates of the metadata
/// (uniform global coordinates when the source had none).
fn fic_grid(meta: &DatasetMeta, shape: &Shape) -> FicGrid {
    let coord = |name: &str, n: usize| -> Option<Vec<f64>> {
        let v = meta.aux(name)?;
        let vals: Vec<f64> = match &v.data {
            CoordData::F64(x) => x.clone(),
            CoordData::F32(x) => x.iter().map(|&a| a as f64).collect(),
            CoordData::I64(x) => x.iter().map(|&a| a as f64).collect(),
            CoordData::I32(x) => x.iter().map(|&a| a as f64).collect(),
            CoordData::I16(x) => x.iter().map(|&a| a as f64).collect(),
            CoordData::I8(x) => x.iter().map(|&a| a as f64).collect(),
            CoordData::U8(x) => x.iter().map(|&a| a as f64).collect(),
            CoordData::Text(_) => return None,
        };
        (vals.len() == n && vals.iter().all(|x| x.is_finite())).then_some(vals)
    };
    let l = &meta.var.layout;
    let lat = coord(&l.lat_dim, shape.lat).unwrap_or_else(|| {
        (0..shape.lat)
            .map(|i| 90.0 - 180.0 * (i as f64 + 0.5) / shape.lat as f64)
            .collect()
    });
    let lon = coord(&l.lon_dim, shape.lon).unwrap_or_else(|| {
        (0..shape.lon)
            .map(|i| 360.0 * i as f64 / shape.lon as f64)
            .collect()
    });
    let levels = l.level_dim.as_deref().and_then(|d| coord(d, shape.levels));
    FicGrid {
        lat_deg: lat,
        lon_deg: lon,
        levels,
    }
}

/// Frames per independent temporal chain: the length of the innermost frame
/// dim when there are several (ensemble members are independent series).
fn chain_len(meta: &DatasetMeta, shape: &Shape) -> usize {
    let l = &meta.var.layout;
    if l.frame_dims >= 2 {
        if let Some(d) = l.dims.get(l.frame_dims - 1).and_then(|n| meta.dim(n)) {
            if d.len > 0 && shape.frames.is_multiple_of(d.len) {
                return d.len;
            }
        }
    }
    shape.frames.max(1)
}

fn is_predictor_kind(k: SectionKind) -> bool {
    matches!(
        k,
        SectionKind::Predictor
            | SectionKind::Ssm
            | SectionKind::Mim
            | SectionKind::Idm
            | SectionKind::Trc
    )
}

/// Runs the predictor over every frame: per frame, its sections and its
/// prediction.
#[allow(clippy::type_complexity)]
fn predict_frames(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    target: Target,
    progress: &dyn Progress,
) -> Result<Vec<(Vec<(SectionKind, Vec<u8>)>, Vec<f32>)>> {
    let shape = field.shape;
    let dims = shape.frame_dims();
    let n = shape.frame_len();
    let grid = fic_grid(meta, &shape);
    let rmse = match target {
        Target::Rmse(r) | Target::MaxAbs(r) => r,
    };
    progress.stage("predictor", shape.frames as u64);
    let frame_mask = |f: usize| field.missing.as_ref().map(|m| &m[f * n..(f + 1) * n]);
    match opts.predictor {
        PredictorKind::None => Ok(vec![]),
        PredictorKind::Fic => (0..shape.frames)
            .map(|f| {
                let r = fic::encode_frame_with_climatology(
                    field.frame(f),
                    frame_mask(f),
                    dims,
                    &grid,
                    &opts.fic,
                    target,
                    None,
                )?;
                progress.inc(1);
                Ok((r.sections, r.prediction))
            })
            .collect(),
        PredictorKind::Hiha => {
            let chain = chain_len(meta, &shape);
            let mut enc = TrcEncoder::new(dims, grid, opts.fic.clone(), opts.trc.clone())?;
            let mut out = Vec::with_capacity(shape.frames);
            for f in 0..shape.frames {
                if f % chain == 0 {
                    enc.reset();
                }
                let r = enc.encode_next(field.frame(f), frame_mask(f), rmse)?;
                out.push((r.sections, r.prediction));
                progress.inc(1);
            }
            Ok(out)
        }
    }
}

/// A chunk's coded mask (when it has missing values) and residual (unless
/// the field is constant).
type CodedChunk = (Option<Vec<u8>>, Option<Vec<u8>>);
/// A chunk's frames, values and mask.
type DecodedChunk = (Range<usize>, Vec<f32>, Option<Vec<bool>>);

/// About 4 Mi elements (16 MiB of f32) per chunk by default.
const DEFAULT_CHUNK_ELEMENTS: usize = 1 << 22;

/// Fields of at least this many values are split into at least
/// [`DECODE_SPLIT`] chunks at fine bounds, so that decoding uses two cores.
const SPLIT_MIN_ELEMENTS: usize = 1 << 19;
const DECODE_SPLIT: usize = 2;
/// ...but only long series, whose chunks keep at least this many frames:
/// splitting the 40-frame ERA5 ensemble cost 9 % of ratio at 1e-4, and the
/// 2-frame ERA-Interim means 6 %.
const SPLIT_MIN_CHUNK_FRAMES: usize = 64;
/// "Fine" means an RMSE (or pointwise) budget at most this fraction of the range.
const SPLIT_MAX_RELATIVE: f64 = 5e-4;

/// Frames per chunk by default: about 4 Mi values per chunk; and, at fine
/// bounds (where decoding is entropy-decoder bound and temporal context
/// gains little), at least two chunks so that decoding runs on two cores.
/// On ERA5 t2m (744 h) at NRMSE 1e-4 two chunks decode at 129 MB/s against
/// 70 for one, for 0.2 % of ratio; at 1e-2 they would cost 3 %, so coarse
/// bounds keep one. The split is fixed, never the machine's thread count,
/// so the archive does not depend on the machine.
fn default_chunk_frames(shape: &Shape, relative_budget: f64) -> usize {
    let frames = shape.frames.max(1);
    let mut c = (DEFAULT_CHUNK_ELEMENTS / shape.frame_len().max(1)).clamp(1, frames);
    if relative_budget <= SPLIT_MAX_RELATIVE
        && shape.len() >= SPLIT_MIN_ELEMENTS
        && frames >= DECODE_SPLIT * SPLIT_MIN_CHUNK_FRAMES
    {
        c = c.min(frames.div_ceil(DECODE_SPLIT));
    }
    c
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
        None => {
            let rel = if range > 0.0 {
                opts.bound.rmse_budget(range) / range
            } else {
                1.0
            };
            default_chunk_frames(&shape, rel)
        }
    };
    let config = CodecConfig {
        predictor: opts.predictor,
        chunk_frames,
        value_min: lo,
        value_max: hi,
        constant: range == 0.0,
        fic: match opts.predictor {
            PredictorKind::None => toml::Table::new(),
            _ => config_diff(&opts.fic)?,
        },
        trc: match opts.predictor {
            PredictorKind::Hiha => config_diff(&opts.trc)?,
            _ => toml::Table::new(),
        },
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
    let predicted = if config.constant {
        vec![]
    } else {
        predict_frames(field, meta, opts, target, progress)?
    };
    let frame_len = shape.frame_len();
    let chunks: Vec<Range<usize>> = (0..shape.frames)
        .step_by(chunk_frames)
        .map(|a| a..(a + chunk_frames).min(shape.frames))
        .collect();
    progress.stage("residual", shape.frames as u64);
    let coded: Vec<Result<CodedChunk>> = chunks
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
                let pred: Option<Vec<f32>> = (!predicted.is_empty()).then(|| {
                    fr.clone()
                        .flat_map(|f| predicted[f].1.iter().copied())
                        .collect()
                });
                Some(residual::encode(
                    &field.values[span],
                    pred.as_deref(),
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
    // Predictor sections, frame by frame. Within a frame each section
    // depends on the one before, and a TRC delta frame's first section on
    // the last section of the frame before, so that the frame index pulls
    // in whole chains back to their keyframe.
    let mut last_section: Option<u32> = None;
    for (f, (sections, _)) in predicted.iter().enumerate() {
        let frames = f as u32..f as u32 + 1;
        let delta = sections.iter().any(|(k, _)| *k == SectionKind::Trc);
        let mut prev = if delta { last_section } else { None };
        if delta && prev.is_none() {
            return Err(Error::InvalidInput(
                "a TRC delta frame has no frame before it".into(),
            ));
        }
        for (kind, bytes) in sections {
            prev = Some(writer.add_section(*kind, frames.clone(), prev, bytes)?);
        }
        last_section = prev;
    }
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
    // The shape comes from the archive: refuse one this machine cannot hold
    // instead of aborting on allocation.
    let total = out_shape.checked_len()?;
    let too_big = |_| {
        Error::Corrupt(format!(
            "the archive declares {total} values, more than this machine can allocate"
        ))
    };
    let mut values: Vec<f32> = Vec::new();
    values.try_reserve_exact(total).map_err(too_big)?;
    values.resize(total, f32::NAN);
    let mut missing: Vec<bool> = Vec::new();
    missing.try_reserve_exact(total).map_err(too_big)?;
    missing.resize(total, false);

    // Sections grouped by chunk (frame range); each chunk has an optional
    // mask and a residual unless the field is constant.
    // Residual chunks are decoded whole, so widen to chunk boundaries.
    let c = config.chunk_frames;
    let wide = (want.start / c * c)..(want.end.div_ceil(c) * c).min(shape.frames);
    let needed = reader.sections_for_frames(wide.start as u32..wide.end as u32)?;
    let mut chunks: Vec<(Range<usize>, Option<usize>, Option<usize>)> = Vec::new();
    // Predictor sections per frame, in frame order.
    let mut pred_sections: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in needed {
        let s = &reader.sections()[i];
        let fr = s.frames.start as usize..s.frames.end as usize;
        if is_predictor_kind(s.kind) {
            if config.predictor == PredictorKind::None || fr.len() != 1 {
                return Err(Error::Corrupt(format!("unexpected predictor section {i}")));
            }
            match pred_sections.iter_mut().find(|(f, _)| *f == fr.start) {
                Some((_, v)) => v.push(i),
                None => pred_sections.push((fr.start, vec![i])),
            }
            continue;
        }
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
    if config.constant {
        // A constant field stores no residual; chunks without missing
        // values store nothing at all.
        for a in (wide.start..wide.end).step_by(c) {
            let fr = a..(a + c).min(shape.frames);
            if !chunks.iter().any(|ch| ch.0 == fr) {
                chunks.push((fr, None, None));
            }
        }
    }
    pred_sections.sort_by_key(|(f, _)| *f);
    let predictions = decode_predictions(&reader, &config, &shape, &pred_sections)?;
    let prediction_of = |fr: &Range<usize>| -> Option<Vec<f32>> {
        if config.predictor == PredictorKind::None {
            return None;
        }
        let mut v = Vec::with_capacity(fr.len() * frame_len);
        for f in fr.clone() {
            match predictions.iter().find(|(g, _)| *g == f) {
                Some((_, p)) => v.extend_from_slice(p),
                // FIC left this frame unpredicted (it did not pay).
                None => v.extend(std::iter::repeat_n(0.0f32, frame_len)),
            }
        }
        Some(v)
    };
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

    let decoded: Vec<Result<DecodedChunk>> = chunks
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
                    let pred = prediction_of(fr);
                    residual::decode(reader.read(*i)?, pred.as_deref(), &dims, mask.as_deref())?
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

/// Decodes the predictor of every frame that has predictor sections
/// (`frames` sorted), following TRC chains from their keyframes.
fn decode_predictions(
    reader: &ArchiveReader,
    config: &CodecConfig,
    shape: &Shape,
    frames: &[(usize, Vec<usize>)],
) -> Result<Vec<(usize, Vec<f32>)>> {
    if frames.is_empty() {
        return Ok(vec![]);
    }
    let meta = &reader.header().meta;
    let grid = fic_grid(meta, shape);
    let dims = shape.frame_dims();
    let fic_cfg: FicConfig = config_from(&config.fic, "FIC")?;
    let load = |ids: &[usize]| -> Result<Vec<(SectionKind, &[u8])>> {
        ids.iter()
            .map(|&i| Ok((reader.sections()[i].kind, reader.read(i)?)))
            .collect()
    };
    match config.predictor {
        PredictorKind::None => Ok(vec![]),
        PredictorKind::Fic => frames
            .par_iter()
            .map(|(f, ids)| Ok((*f, fic::decode_frame(&load(ids)?, dims, &grid, &fic_cfg)?)))
            .collect(),
        PredictorKind::Hiha => {
            let trc_cfg: TrcConfig = config_from(&config.trc, "TRC")?;
            let mut dec = TrcDecoder::new(dims, grid, fic_cfg, trc_cfg)?;
            let mut out = Vec::with_capacity(frames.len());
            for (f, ids) in frames {
                let secs = load(ids)?;
                let kind = if secs.iter().any(|(k, _)| *k == SectionKind::Trc) {
                    FrameKind::Delta
                } else {
                    dec.reset();
                    FrameKind::Key
                };
                out.push((*f, dec.decode_next(kind, &secs)?));
            }
            Ok(out)
        }
    }
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
