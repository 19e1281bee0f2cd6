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
use crate::field::{Field, Packing, Shape};
use crate::format::{ArchiveReader, ArchiveWriter, Header, SectionKind};
use crate::lattice::{Lattice, Values};
use crate::levels::LevelInfo;
use crate::meta::{CoordData, DatasetMeta};
use crate::metrics::Metrics;
use crate::predictor::fic::{self, FicConfig, FicGrid};
use crate::predictor::trc::{FrameKind, TrcConfig, TrcDecoder, TrcEncoder};
use crate::residual::{self, Target};

pub mod preview;
mod stream;
pub use stream::{
    compress_streamed, decompress_file_streamed, decompress_streamed, value_range, variable_meta,
    write_archive, FieldFrames, FrameSource, StreamOptions, StreamedVariable, DEFAULT_IN_FLIGHT,
};

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
    /// For a packed source: the largest share of the bound the coder gives
    /// up so that its reconstruction can be re-packed onto a coarser lattice
    /// of the source within the bound (smaller decompressed files; see
    /// [`Repacking`]). 0 keeps the whole bound for the coder; re-packing is
    /// then verified onto the source's own lattice only.
    pub repack_room: f64,
    /// `keep-zeros`: every exact zero comes back exactly zero and no value
    /// changes sign (a signs section per chunk, format 2.1; the residual
    /// coder skips the zeros). `Some(true)` asks for it, `Some(false)`
    /// refuses it, `None` (the default) takes it for a field more than
    /// [`AUTO_KEEP_ZEROS_SHARE`] of whose valid values are exactly 0 (not
    /// a constant one), where it gains ratio as well (docs/fidelity.md).
    pub keep_zeros: Option<bool>,
    /// For [`Bound::Spread`]: the spread, one value per element of the
    /// field or per element without its member dim; `None` takes the
    /// standard deviation over the field's ensemble members.
    pub spread: Option<std::sync::Arc<[f32]>>,
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
            repack_room: DEFAULT_REPACK_ROOM,
            keep_zeros: None,
            spread: None,
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
    /// The report of archive `bytes` coding `n` values with `metrics`.
    fn of(bytes: &[u8], metrics: Metrics, n: usize) -> Result<Self> {
        Ok(CompressReport {
            metrics,
            original_bytes: n * 4,
            compressed_bytes: bytes.len(),
            section_bytes: ArchiveReader::open(bytes)?.bytes_by_kind(),
        })
    }

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
    /// Present when the source was packed and the encoder verified that the
    /// reconstruction, rounded to the source's own lattice, still meets the
    /// bound (archives written before this key was added have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repack: Option<Repacking>,
}

/// A range end as the header stores it: [`short_decimal`], except in a
/// constant field (`range` 0), whose value the end is, exactly.
pub(crate) fn stored_end(v: f64, range: f64, upper: bool) -> f64 {
    if range == 0.0 {
        v
    } else {
        short_decimal(v, upper)
    }
}

/// The shortest decimal (as the f64 nearest it) that stands for the f32
/// range end `v` in the header: it rounds to the same f32, and lies on the
/// outer side of `v` (below a minimum, above a maximum, `upper`), so that a
/// reader that takes it as an f64 still finds every value inside the range.
/// "188.89999" instead of "188.89999389648438": the header's text codes
/// digits at about 5 bits each. `v` itself when it is not an f32 value.
fn short_decimal(v: f64, upper: bool) -> f64 {
    let f = v as f32;
    if !v.is_finite() || f as f64 != v || v == 0.0 {
        return v;
    }
    let outer = |d: f64| if upper { d >= v } else { d <= v };
    for digits in 1..=17usize {
        let near = format!("{:.*e}", digits - 1, v);
        let Some((mant, exp)) = near.split_once('e') else {
            continue;
        };
        let (Ok(m), Ok(e)) = (mant.replace('.', "").parse::<i64>(), exp.parse::<i32>()) else {
            continue;
        };
        let e = e - (digits as i32 - 1);
        for step in [0i64, 1] {
            // One unit of the last digit outwards when the nearest is inside.
            let m = if upper { m + step } else { m - step };
            let Ok(d) = format!("{m}e{e}").parse::<f64>() else {
                continue;
            };
            // Nearer `f` than either neighbour, strictly: a decimal halfway
            // between two f32s could be read as either.
            let nearest = |n: f32| (d - f as f64).abs() < (d - n as f64).abs();
            if outer(d) && d as f32 == f && nearest(f.next_up()) && nearest(f.next_down()) {
                return d;
            }
        }
    }
    v
}

/// What the encoder verified about re-packing a variable whose source was
/// CF-packed (`source_scale · k + offset`): every valid reconstructed
/// value, replaced by its nearest point of the lattice `scale · k + offset`
/// ([`Packing::index`]), still meets the archive's bound against the
/// source's own values. `scale` is the source's scale times a power of two
/// (the coarsest the bound allowed: coarser lattices compress better, and
/// each is a sub-lattice of the source's). A writer that re-packs with
/// exactly this `scale` and `offset` writes values within the bound; the
/// measured errors of those values are kept for reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Repacking {
    pub scale: f64,
    pub offset: f64,
    /// Largest error of the re-packed values against the source.
    pub max_abs: f64,
    /// RMSE of the re-packed values against the source.
    pub rmse: f64,
}

impl Repacking {
    /// The lattice to re-pack onto.
    pub fn packing(&self) -> Packing {
        Packing {
            scale: self.scale,
            offset: self.offset,
        }
    }
}

/// The re-packing the encoder verified for the variable `header` describes
/// (see [`Repacking`]), or `None` when the source was not packed, the
/// re-packed values would not keep the bound, or the archive predates the
/// check.
pub fn repacking(header: &Header) -> Result<Option<Repacking>> {
    let r = parse_config(header)?.repack;
    match r {
        Some(r)
            if !(r.scale.is_finite()
                && r.scale != 0.0
                && r.offset.is_finite()
                && r.max_abs >= 0.0
                && r.rmse >= 0.0) =>
        {
            Err(Error::Corrupt(
                "codec configuration holds an impossible re-packing".into(),
            ))
        }
        r => Ok(r),
    }
}

/// The re-packing of `field`'s reconstruction `back` onto a lattice of the
/// packed source: the coarsest of steps `multiple · scale`,
/// `multiple/2 · scale`, …, `scale` (same offset) on which the re-packed
/// values meet `bound`, checked on every element like the reconstruction
/// itself; `None` when the field was not packed or none does.
fn check_repacking(field: &Field, back: &Field, bound: &Bound, multiple: u32) -> Option<Repacking> {
    let p = field.packing?;
    let mut m = multiple.max(1);
    loop {
        let lattice = Packing {
            scale: p.scale * f64::from(m),
            offset: p.offset,
        };
        let ok = Metrics::repacked_against_source(field, &back.values, lattice)
            .ok()
            .filter(|metrics| bound.check(metrics).is_ok());
        if let Some(metrics) = ok {
            return Some(Repacking {
                scale: lattice.scale,
                offset: lattice.offset,
                max_abs: metrics.max_abs,
                rmse: metrics.rmse,
            });
        }
        if m == 1 {
            return None;
        }
        m /= 2;
    }
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
fn predict_frames(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    target: Target,
    progress: &dyn Progress,
) -> Result<Vec<PredictedFrame>> {
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

/// A chunk's coded mask (when it has flagged elements) and residual (unless
/// the field is constant).
struct CodedChunk {
    mask: Option<Vec<u8>>,
    /// Pointwise relative bound and `keep-zeros`: the signs and zeros of
    /// the chunk.
    signs: Option<Vec<u8>>,
    residual: Option<Vec<u8>>,
    /// The residual codes lattice indices (section kind lattice-residual).
    indices: bool,
    /// The chunk uses a coding new in format 2.1 (lattice indices, the
    /// wavelet coder's level profile).
    newer: bool,
    /// The chunk uses a coding new in format 2.2 (the wavelet coder's
    /// packet plan or quantised level profile).
    newest: bool,
    /// The chunk uses a coding new in format 2.3 (the wavelet coder's
    /// primed models, segmented streams, significance maps).
    v2_3: bool,
    /// The chunk uses a coding new in format 2.5 (the wavelet coder's zero
    /// maps).
    v2_5: bool,
    /// The chunk uses a coding new in format 2.7 (lossless lattice indices).
    v2_7: bool,
    /// Spread bound: corrections of the decoded chunk.
    fixes: Option<Vec<u8>>,
}

/// A decoded chunk: its values and its mask (when it has one).
type DecodedChunk = (Vec<f32>, Option<Vec<bool>>);

/// One frame's predictor sections and its prediction.
type PredictedFrame = (Vec<(SectionKind, Vec<u8>)>, Vec<f32>);

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
/// "Fine" means an RMSE (or pointwise) budget at most this fraction of the
/// range: 1e-3 and finer (with room for rounding). On t2m two chunks cost
/// +0.09 % bytes at NRMSE 1e-3 and −0.05 % at max-rel 1e-3 for 1.36× and
/// 1.28× faster decoding, but +2.2 % and +0.8 % at 1e-2.
const SPLIT_MAX_RELATIVE: f64 = 1.2e-3;

/// Frames per chunk by default: about 4 Mi values per chunk; and, at fine
/// bounds (where decoding is entropy-decoder bound and temporal context
/// gains little), at least two chunks so that decoding runs on two cores.
/// On ERA5 t2m (744 h) at NRMSE 1e-4 two chunks decode at 129 MB/s against
/// 70 for one, for 0.2 % of ratio; at 1e-2 they would cost 2–3 %, so coarse
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

/// The default [`CompressOptions::repack_room`]: the largest share of a
/// bound the encoder gives up so that the reconstruction, rounded to a
/// lattice of the packed source, keeps the bound too (see [`repack_plan`];
/// the measurements behind 0.1 are in docs/ALGORITHM.md).
pub const DEFAULT_REPACK_ROOM: f64 = 0.1;

/// The coarsest lattice multiple tried: 2^15 steps (an int16 source then
/// keeps a couple of levels).
const MAX_REPACK_MULTIPLE: u32 = 1 << 15;

/// How to make room for re-packing a reconstruction onto a lattice of a
/// packed source of step `step` (docs/ALGORITHM.md, "Output that is not
/// larger than the input"): the part of `budget` the coder may use, and
/// the lattice multiple `m` (a power of two) whose lattice `m · step`
/// (same offset) is tried first. At most the share `room` of the budget is
/// given up; where even the source's own lattice would need more, the
/// budget is kept whole and `m = 1`. Whether re-packing keeps the bound is
/// then measured on every element ([`check_repacking`]); this only makes it
/// likely.
///
/// - Pointwise, `m ≥ 2`: rounding moves a value by at most `m · step / 2`,
///   so the coder's bound is `budget − m · step / 2`.
/// - Pointwise, `m = 1`: the source value is itself a lattice point, so an
///   error `e` becomes at most `step · ⌊e/step + 1/2⌋` once rounded, which
///   is at most `budget` when `e < step · (⌊budget/step⌋ + 1/2)` (a whole
///   number of steps counts one step less, so that no error of exactly
///   `budget` rests on how f64 rounds `k · step + offset`).
/// - RMSE: rounding adds about `(m · step)²/12` of variance (a uniform
///   rounding residue, independent of the coding error); the room taken is
///   that. When the measured RMSE is higher, the next finer lattice is
///   tried.
fn repack_plan(budget: f64, pointwise: bool, step: f64, room: f64) -> (f64, u32) {
    let step = step.abs();
    if !(step.is_finite()
        && step > 0.0
        && budget.is_finite()
        && budget > 0.0
        && room.is_finite()
        && room > 0.0
        && room < 1.0)
    {
        return (budget, 1);
    }
    // (A relative hair below, so that a lattice needing exactly `room`
    // qualifies despite the margins below.)
    let floor = budget * (1.0 - room) * (1.0 - 1e-6);
    let with = |m: u32| -> f64 {
        let s = step * f64::from(m);
        if !pointwise {
            (budget * budget - s * s / 12.0).max(0.0).sqrt()
        } else if m == 1 {
            let k = (budget / step * (1.0 - 1e-6)).floor();
            budget.min((k + 0.5) * step * (1.0 - 1e-9))
        } else {
            budget - s / 2.0
        }
    };
    let mut m = MAX_REPACK_MULTIPLE;
    while m > 1 && with(m) < floor {
        m /= 2;
    }
    let b = with(m);
    if b >= floor {
        (b, m)
    } else {
        (budget, 1)
    }
}

/// The residual coder's target for a whole variable of value range `range`,
/// tightened by how far the f32 values may lie from the source's own values
/// (`dev`): the error against the source is at most the coded error plus
/// that distance (pointwise, and by the triangle inequality for RMSE). For
/// a packed source, room is made for re-packing onto a lattice of it when
/// that is cheap ([`repack_plan`]); the second item is the lattice multiple
/// to try first (1 when there is no room).
fn residual_target(
    bound: &Bound,
    range: f64,
    dev: &SourceDeviation,
    packing: Option<Packing>,
    room: f64,
) -> Result<(Target, u32)> {
    let (budget, slack, pointwise) = match bound.pointwise_abs(range) {
        Some(e) => (e, dev.max, true),
        None => (bound.rmse_budget(range), dev.rms, false),
    };
    let t = budget - slack;
    let (room, multiple) = packing.map_or((budget, 1), |p| {
        repack_plan(budget, pointwise, p.scale, room)
    });
    let (t, multiple) = if room - slack >= 0.0 && room.is_finite() {
        (room - slack, multiple)
    } else {
        (t, 1)
    };
    if t < 0.0 || !t.is_finite() {
        return Err(Error::BoundViolated(format!(
            "{bound} is finer than the source's own precision: its values are known only to \
             within {slack:.3e} in f32"
        )));
    }
    Ok((
        if pointwise {
            Target::MaxAbs(t)
        } else {
            Target::Rmse(t)
        },
        multiple,
    ))
}

/// How far a field's f32 values lie from the values its source defines
/// (0 unless the source was packed): the largest distance and the RMS.
#[derive(Debug, Clone, Copy, Default)]
struct SourceDeviation {
    max: f64,
    rms: f64,
}

fn source_deviation(field: &Field) -> SourceDeviation {
    if field.packing.is_none() {
        return SourceDeviation::default();
    }
    let (mut max, mut ss, mut n) = (0.0f64, 0.0f64, 0usize);
    for i in 0..field.values.len() {
        if field.is_missing(i) {
            continue;
        }
        let (x, slack) = field.source_value(i);
        let d = (x - field.values[i] as f64).abs() + slack;
        max = max.max(d);
        ss += d * d;
        n += 1;
    }
    SourceDeviation {
        max,
        rms: if n > 0 { (ss / n as f64).sqrt() } else { 0.0 },
    }
}

/// Checks that `field` is consistent with its shape; returns the number of
/// elements.
fn checked_field_len(field: &Field) -> Result<usize> {
    let n = field.shape.checked_len()?;
    if field.values.len() != n || field.missing.as_ref().is_some_and(|m| m.len() != n) {
        return Err(Error::InvalidInput(format!(
            "field has {} values but its shape {:?} needs {n}",
            field.values.len(),
            field.shape
        )));
    }
    Ok(n)
}

/// Frames per chunk: the caller's choice, else the default for the bound.
fn choose_chunk_frames(opts: &CompressOptions, shape: &Shape, range: f64) -> Result<usize> {
    match opts.chunk_frames {
        Some(0) => Err(Error::InvalidInput(
            "chunk size must be at least 1 frame".into(),
        )),
        Some(c) => Ok(c.min(shape.frames).max(1)),
        None => {
            let rel = if range > 0.0 {
                opts.bound.rmse_budget(range) / range
            } else {
                1.0
            };
            Ok(default_chunk_frames(shape, rel))
        }
    }
}

/// The frame ranges of the chunks: `c` frames each, the last one shorter.
fn chunk_ranges(frames: usize, c: usize) -> Vec<Range<usize>> {
    (0..frames)
        .step_by(c.max(1))
        .map(|a| a..(a + c).min(frames))
        .collect()
}

/// Codes each chunk's mask and residual, in parallel.
///
/// With `signs_of` (the pointwise relative bound) `field` holds `ln|x|`,
/// `signs_of` the original values whose signs and zeros each chunk codes,
/// and `skip` the elements the residual coder skips (flagged and zero).
#[allow(clippy::too_many_arguments)] // each is one independent choice of the caller
fn code_chunks(
    field: &Field,
    chunks: &[Range<usize>],
    predicted: &[PredictedFrame],
    target: Target,
    constant: bool,
    signs_of: Option<(&Field, &[bool])>,
    lattice: bool,
    self_check: bool,
    progress: &dyn Progress,
) -> Result<Vec<CodedChunk>> {
    let shape = field.shape;
    let frame_len = shape.frame_len();
    progress.stage("residual", shape.frames as u64);
    chunks
        .par_iter()
        .map(|fr| {
            let span = fr.start * frame_len..fr.end * frame_len;
            let mask = field.missing.as_ref().map(|m| &m[span.clone()]);
            let mask = mask.filter(|m| m.iter().any(|&x| x));
            let mask_bytes = mask.map(|m| crate::mask::encode(m, &field.values[span.clone()]));
            let signs = signs_of
                .map(|(orig, _)| crate::pw_rel::encode_signs(&orig.values[span.clone()], mask))
                .transpose()?;
            // The residual coder skips the flagged elements, and with the
            // pointwise relative bound the zeros too.
            let skip = signs_of.map(|(_, skip)| &skip[span.clone()]);
            let mask = skip.filter(|m| m.iter().any(|&x| x)).or(mask);
            // Lattice indices are coded without a prediction (they are
            // offered with predictor none only) and need an error below ½.
            let lattice_ok = lattice && !constant && signs_of.is_none() && predicted.is_empty();
            let values = Values {
                values: &field.values[span.clone()],
                missing: field.missing.as_ref().map(|m| &m[span.clone()]),
                packing: field.packing,
            };
            let on_lattice = lattice_ok
                .then(|| Lattice::for_chunk(&values, target))
                .flatten();
            let dims = [fr.len(), shape.levels, shape.lat, shape.lon];
            // The newest format minor the residual coding needs.
            let mut minor = 0u16;
            let mut indices = on_lattice.is_some();
            let residual = match (&on_lattice, constant) {
                (_, true) => None,
                (Some((l, k)), false) => {
                    let mut out = Vec::new();
                    l.write_prefix(&mut out);
                    let t = Target::MaxAbs(crate::lattice::INDEX_TARGET);
                    let r = residual::encode_with(k, None, &dims, mask, t, self_check)?;
                    minor = residual::format_minor(&r);
                    out.extend_from_slice(&r);
                    Some(out)
                }
                (None, false) => {
                    let pred: Option<Vec<f32>> = (!predicted.is_empty()).then(|| {
                        fr.clone()
                            .flat_map(|f| predicted[f].1.iter().copied())
                            .collect()
                    });
                    let r = residual::encode_with(
                        &field.values[span],
                        pred.as_deref(),
                        &dims,
                        mask,
                        target,
                        self_check,
                    )?;
                    // A pointwise bound of a step or more on a regular
                    // lattice: the indices coded near-losslessly (one
                    // pass), kept when smaller than the values' stream.
                    // Not tried where that stream is under 1 bit a value
                    // (coarse bounds on smooth fields: it never wins there).
                    let near = match target {
                        Target::MaxAbs(e) if lattice_ok && r.len() * 8 >= values.values.len() => {
                            near_lattice(&values, e, &dims, mask, r.len())
                        }
                        _ => None,
                    };
                    match near {
                        Some(n) if n.len() < r.len() => {
                            indices = true;
                            minor = 7;
                            Some(n)
                        }
                        _ => {
                            minor = residual::format_minor(&r);
                            Some(r)
                        }
                    }
                }
            };
            progress.inc(fr.len() as u64);
            // Field 10 (2.7) always comes with field 4, also for integer
            // streams of chunks that are not lattice indices (integer
            // fields at a pointwise bound below ½ with keep-zeros).
            let newer = indices || minor == 1 || minor >= 7;
            Ok(CodedChunk {
                mask: mask_bytes,
                signs,
                residual,
                indices,
                newer,
                // Each coding's own minor: a 2.7 (integer) stream uses
                // none of the wavelet codings of 2.2–2.5.
                newest: (2..7).contains(&minor),
                v2_3: (3..7).contains(&minor),
                v2_5: (5..7).contains(&minor),
                v2_7: minor >= 7,
                fixes: None,
            })
        })
        .collect()
}

/// The sampled near-lossless section may be this many times the values'
/// stream and the whole still be coded: the middle quarter of a field's
/// levels overestimates it by up to 1.24× (GFS r, whose mid-troposphere
/// levels are the roughest), and ERA5's smooth fields, which never win,
/// sample at 1.23× and more at max-rel 1e-3.
const NEAR_SAMPLE_SLACK: f64 = 1.2;

/// The lattice-residual section of a chunk on a regular lattice, its
/// indices coded near-losslessly for the pointwise bound `e` (format 2.7),
/// when `e` spans a step or more and it may be smaller than `beat` bytes;
/// `None` otherwise, or when any decoded value would miss `e` (checked
/// here on every valid element).
fn near_lattice(
    values: &Values,
    e: f64,
    dims: &[usize],
    mask: Option<&[bool]>,
    beat: usize,
) -> Option<Vec<u8>> {
    let (l, k, near) = Lattice::for_chunk_near(values, e)?;
    // On 8 planes or more, the middle quarter of them first: coded alone,
    // it tells whether the whole can win (ERA5's smooth 0.25° fields never
    // do, and are spared three quarters of the pass).
    let plane = dims[2] * dims[3];
    let planes = dims[0] * dims[1];
    if planes >= 8 {
        let (from, to) = (planes * 3 / 8, planes * 5 / 8);
        let span = from * plane..to * plane;
        let part = residual::encode_integer_near(
            &k[span.clone()],
            &[to - from, dims[2], dims[3]],
            mask.map(|m| &m[span]),
            near,
        )
        .ok()?;
        if part.len() as f64 * planes as f64 / (to - from) as f64 > NEAR_SAMPLE_SLACK * beat as f64
        {
            return None;
        }
    }
    let stream = residual::encode_integer_near(&k, dims, mask, near).ok()?;
    let mut back = residual::decode(&stream, None, dims, mask).ok()?;
    l.restore(&mut back, mask);
    let ok = values
        .values
        .iter()
        .zip(&back)
        .enumerate()
        .all(|(i, (&x, &y))| mask.is_some_and(|m| m[i]) || (x as f64 - y as f64).abs() <= e);
    if !ok {
        return None;
    }
    let mut out = Vec::new();
    l.write_prefix(&mut out);
    out.extend_from_slice(&stream);
    Some(out)
}

/// Writes the archive: predictor sections frame by frame, then per chunk
/// its mask, residual and (when `checks` is given) the hash of its decoded
/// values.
fn assemble(
    header: &Header,
    predicted: &[PredictedFrame],
    chunks: &[Range<usize>],
    coded: &[CodedChunk],
    checks: Option<&[Vec<u8>]>,
) -> Result<Vec<u8>> {
    let mut kinds = Vec::new();
    if coded.iter().any(|c| c.signs.is_some()) {
        kinds.push(SectionKind::Signs);
    }
    if coded.iter().any(|c| c.fixes.is_some()) {
        kinds.push(SectionKind::Fixes);
    }
    let mut writer = ArchiveWriter::new_with(header, &kinds)?;
    // Within a frame each section depends on the one before, and a TRC
    // delta frame's first section on the last section of the frame before,
    // so that the frame index pulls in whole chains back to their keyframe.
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
    for (j, (fr, c)) in chunks.iter().zip(coded).enumerate() {
        let frames = fr.start as u32..fr.end as u32;
        if let Some(m) = &c.mask {
            writer.add_section(SectionKind::Mask, frames.clone(), None, m)?;
        }
        if let Some(g) = &c.signs {
            writer.add_section(SectionKind::Signs, frames.clone(), None, g)?;
        }
        if let Some(r) = &c.residual {
            let kind = if c.indices {
                SectionKind::LatticeResidual
            } else {
                SectionKind::Residual
            };
            writer.add_section(kind, frames.clone(), None, r)?;
        }
        if let Some(x) = &c.fixes {
            writer.add_section(SectionKind::Fixes, frames.clone(), None, x)?;
        }
        if let Some(h) = checks.and_then(|h| h.get(j)) {
            writer.add_section(SectionKind::Check, frames, None, h)?;
        }
    }
    writer.finish()
}

/// The check section of a chunk: its value count and the CRC-32 of its
/// decoded values (little-endian f32 bit patterns, flagged elements
/// included).
fn check_payload(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    crate::format::put_varint(&mut out, values.len() as u64);
    out.extend_from_slice(&values_crc(values).to_le_bytes());
    out
}

/// CRC-32 of values as little-endian f32 bit patterns.
fn values_crc(values: &[f32]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    let mut buf = [0u8; 4096];
    for block in values.chunks(buf.len() / 4) {
        for (b, v) in buf.chunks_exact_mut(4).zip(block) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        h.update(&buf[..block.len() * 4]);
    }
    h.finalize()
}

/// Checks a decoded chunk against its check section.
fn verify_check(payload: &[u8], values: &[f32], frames: &Range<usize>) -> Result<()> {
    let (n, used) = crate::format::get_varint(payload).ok_or_else(|| {
        Error::Corrupt(format!("check section of frames {frames:?} is malformed"))
    })?;
    let rest = &payload[used..];
    if rest.len() != 4 || n != values.len() as u64 {
        return Err(Error::Corrupt(format!(
            "check section of frames {frames:?} is malformed"
        )));
    }
    let want = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    if values_crc(values) != want {
        return Err(Error::Corrupt(format!(
            "frames {frames:?} decoded to values that differ from those the encoder verified \
             (hash mismatch): the archive is damaged"
        )));
    }
    Ok(())
}

/// Compresses a field, verifying the bound on every element.
///
/// A per-level bound ([`Bound::is_per_level`]) codes each level normalised
/// by its own range and is verified on every level; should a level miss
/// its bound (the coder controls the error of the whole, which spreads
/// almost evenly over the levels), the target is tightened by what was
/// missed and the field coded again, at most four times in all.
pub fn compress(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    progress: &dyn Progress,
) -> Result<(Vec<u8>, CompressReport)> {
    opts.bound.validate()?;
    let per_level = opts.bound.is_per_level();
    let transformed = per_level || matches!(opts.bound, Bound::PwRel(_) | Bound::Spread(_));
    if transformed && opts.predictor != PredictorKind::None {
        return Err(Error::InvalidInput(format!(
            "{} works with the residual coder alone (predictor none)",
            opts.bound
        )));
    }
    if !(opts.repack_room.is_finite() && (0.0..1.0).contains(&opts.repack_room)) {
        return Err(Error::InvalidInput(format!(
            "the re-packing room is a share of the bound in [0, 1), got {}",
            opts.repack_room
        )));
    }
    let n = checked_field_len(field)?;
    let mut levels = LevelInfo::measure(field, per_level);
    if let Some((lo, hi)) = field.value_range() {
        levels.coarsen(lo as f64, hi as f64);
    }
    // The pointwise relative bound keeps zeros and signs already.
    levels.keep_zeros =
        keeps_zeros(field, opts.keep_zeros) && !matches!(opts.bound, Bound::PwRel(_));
    if let Bound::Spread(f) = opts.bound {
        let map = crate::spread::SpreadMap::build(field, meta, opts.spread.as_deref(), f)?;
        let (bytes, metrics) = crate::spread::best_of(&map, |e0| {
            let (b, m, worst) =
                encode_verified(field, meta, opts, &levels, 1.0, Some((&map, e0)), progress)?;
            if worst > 1.0 {
                return Err(Error::BoundViolated(format!(
                    "asked for {}, an element reached {worst:.3} x its bound",
                    opts.bound
                )));
            }
            Ok((b, m))
        })?;
        let report = CompressReport::of(&bytes, metrics, n)?;
        return Ok((bytes, report));
    }
    let mut scale = 1.0f64;
    for attempt in 1..=4 {
        let (bytes, metrics, worst) =
            encode_verified(field, meta, opts, &levels, scale, None, progress)?;
        if worst <= 1.0 {
            let report = CompressReport::of(&bytes, metrics, n)?;
            return Ok((bytes, report));
        }
        if attempt == 4 {
            return Err(Error::BoundViolated(format!(
                "asked for {}, a level still reached {worst:.3} x its bound after {attempt} tries",
                opts.bound
            )));
        }
        scale *= 0.97 / worst;
    }
    unreachable!("the loop returns on its last try")
}

/// [`encode_verified_once`] without the residual coder's own re-decode of
/// its wavelet streams: the verification decode of the whole archive, which
/// checks every element, covers it. Should that verification fail (a
/// decoder that disagrees with its encoder, a bug), the field is coded again
/// with the re-decode on, which drops such a wavelet stream for the SZ-style
/// one, as every encode did before.
fn encode_verified(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    levels: &LevelInfo,
    scale: f64,
    spread: Option<(&crate::spread::SpreadMap, f64)>,
    progress: &dyn Progress,
) -> Result<(Vec<u8>, Metrics, f64)> {
    let once = |self_check| {
        encode_verified_once(
            field, meta, opts, levels, scale, spread, progress, self_check,
        )
    };
    match once(false) {
        Err(
            Error::BoundViolated(_)
            | Error::Corrupt(_)
            | Error::Truncated(_)
            | Error::Checksum { .. },
        ) => once(true),
        r => r,
    }
}

/// Codes the field once with the residual target scaled by `scale`, writes
/// the archive, decodes it and verifies it (`self_check`: the residual
/// coder re-decodes its wavelet streams too, see [`residual::encode_with`]). Returns the archive, the
/// metrics of the whole, and for a per-level bound the largest ratio of a
/// level's error to what the bound allows it (0 otherwise); a plain bound
/// that fails is an error.
#[allow(clippy::too_many_arguments)] // each is one independent choice of the caller
fn encode_verified_once(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    levels: &LevelInfo,
    scale: f64,
    spread: Option<(&crate::spread::SpreadMap, f64)>,
    progress: &dyn Progress,
    self_check: bool,
) -> Result<(Vec<u8>, Metrics, f64)> {
    let shape = field.shape;
    let (lo, hi) = field.value_range().unwrap_or((0.0, 0.0));
    let (lo, hi) = (lo as f64, hi as f64);
    let range = hi - lo;
    let chunk_frames = choose_chunk_frames(opts, &shape, range)?;
    let mut config = CodecConfig {
        predictor: opts.predictor,
        chunk_frames,
        value_min: stored_end(lo, range, false),
        value_max: stored_end(hi, range, true),
        constant: range == 0.0,
        fic: match opts.predictor {
            PredictorKind::None => toml::Table::new(),
            _ => config_diff(&opts.fic)?,
        },
        trc: match opts.predictor {
            PredictorKind::Hiha => config_diff(&opts.trc)?,
            _ => toml::Table::new(),
        },
        repack: None,
    };
    let mut header = Header {
        meta: meta.clone(),
        shape,
        bound: opts.bound,
        codec_config: toml::to_string(&config)
            .map_err(|e| Error::InvalidInput(format!("cannot serialise the codec config: {e}")))?,
        extra: levels.encode(),
        variables: Vec::new(),
    };
    let dev = source_deviation(field);
    let pw_rel = match opts.bound {
        Bound::PwRel(_) => Some((
            crate::pw_rel::to_log(field),
            crate::pw_rel::zero_mask(field),
        )),
        _ => None,
    };
    // keep-zeros: the residual coder skips the zeros too, which come back
    // exact; so a whole-variable RMSE target may be spent on the others
    // alone: sqrt(valid / nonzero) times it (verified below like any).
    let zero_skip = levels.keep_zeros.then(|| crate::pw_rel::zero_mask(field));
    // Re-packing (`multiple`) is offered for the plain modes only.
    let (target, multiple) = match (&pw_rel, opts.bound) {
        (Some((logs, _)), Bound::PwRel(r)) => {
            let max_log = logs
                .value_range()
                .map_or(0.0, |(a, b)| a.abs().max(b.abs()) as f64);
            (
                Target::MaxAbs(crate::pw_rel::log_target(r, max_log, scale)?),
                0,
            )
        }
        _ if levels.normalized => (level_target(&opts.bound, levels, &dev, scale)?, 0),
        _ if spread.is_some() => (
            crate::spread::coder_target(spread.map_or(0.0, |(_, e0)| e0), dev.max)?,
            0,
        ),
        _ => residual_target(&opts.bound, range, &dev, field.packing, opts.repack_room)?,
    };
    let target = match (&zero_skip, target) {
        (Some(skip), Target::Rmse(t)) if !levels.normalized => {
            let valid = field.valid_count();
            let coded = skip.iter().filter(|&&s| !s).count();
            if coded > 0 && valid > coded {
                Target::Rmse(t * (valid as f64 / coded as f64).sqrt())
            } else {
                Target::Rmse(t)
            }
        }
        (_, t) => t,
    };
    // A chunk already quantised onto a lattice finer than the bound needs
    // is coded as its lattice indices, losslessly (lattice.rs); not where
    // signs, zeros or corrections are coded beside the values.
    let lattice = pw_rel.is_none()
        && zero_skip.is_none()
        && !levels.normalized
        && !matches!(opts.bound, Bound::Spread(_))
        && opts.predictor == PredictorKind::None;
    let predicted = if config.constant {
        vec![]
    } else {
        predict_frames(field, meta, opts, target, progress)?
    };
    let chunks = chunk_ranges(shape.frames, chunk_frames);
    let normalized = levels.normalized.then(|| levels.normalize(field));
    let coded_field = match (&pw_rel, &normalized) {
        (Some((logs, _)), _) => logs,
        (None, Some(n)) => n,
        (None, None) => field,
    };
    let mut coded = code_chunks(
        coded_field,
        &chunks,
        &predicted,
        target,
        config.constant,
        pw_rel
            .as_ref()
            .map(|(_, skip)| (field, skip.as_slice()))
            .or(zero_skip.as_ref().map(|skip| (field, skip.as_slice()))),
        lattice,
        self_check,
        progress,
    )?;
    drop(normalized);
    drop(pw_rel);
    let frame_len = shape.frame_len();
    drop(zero_skip);
    let (newer, newest, v2_3, v2_5, v2_7) = (
        coded.iter().any(|c| c.newer),
        coded.iter().any(|c| c.newest),
        coded.iter().any(|c| c.v2_3),
        coded.iter().any(|c| c.v2_5),
        coded.iter().any(|c| c.v2_7),
    );
    if newer || newest || v2_3 || v2_5 || v2_7 {
        let mut with = levels.clone();
        with.newer_chunks = newer;
        with.newest_chunks = newest;
        with.chunks_2_3 = v2_3;
        with.chunks_2_5 = v2_5;
        with.chunks_2_7 = v2_7;
        header.extra = with.encode();
    }
    let mut plain = assemble(&header, &predicted, &chunks, &coded, None)?;

    // Verify: decode what we wrote and check every element against the
    // source, then store the hash of each chunk's decoded values.
    progress.stage("verify", 1);
    let unchecked = DecodeOptions {
        require_checks: false,
        ..DecodeOptions::default()
    };
    let (mut back, _) = decompress_with(&plain, None, &unchecked)?;
    if let Some((map, _)) = spread {
        // Fix every element beyond its own bound, then decode again.
        let (vlo, vhi) = (lo as f32, hi as f32);
        let plane = shape.lat * shape.lon;
        let mut any = false;
        for (fr, c) in chunks.iter().zip(coded.iter_mut()) {
            let span = fr.start * frame_len..fr.end * frame_len;
            let vals = &field.values[span.clone()];
            let clamp = |j: usize, v: f32| {
                let state = levels.keep_zeros.then(|| crate::pw_rel::state_of(vals[j]));
                final_clamp(levels, (vlo, vhi), plane, state, j, v)
            };
            c.fixes =
                crate::spread::encode_fixes(field, span.start, &back.values[span], map, &clamp);
            any |= c.fixes.is_some();
        }
        if any {
            plain = assemble(&header, &predicted, &chunks, &coded, None)?;
            back = decompress_with(&plain, None, &unchecked)?.0;
        }
    }
    let metrics = verify_decoded(field, &back, &opts.bound)?;
    let worst = match opts.bound {
        b if b.is_per_level() => worst_level(&b, &Metrics::per_level(field, &back.values)?),
        Bound::PwRel(r) => crate::pw_rel::worst(field, &back.values, r),
        Bound::Spread(_) => spread.map_or(f64::INFINITY, |(m, _)| {
            crate::spread::worst(field, &back.values, m)
        }),
        _ => 0.0,
    };
    if levels.keep_zeros {
        crate::pw_rel::check_states(field, &back.values)?;
    }
    if worst > 1.0 {
        return Ok((plain, metrics, worst));
    }
    if !matches!(opts.bound, Bound::PwRel(_) | Bound::Spread(_)) && !levels.normalized {
        config.repack = check_repacking(field, &back, &opts.bound, multiple);
    }
    if config.repack.is_some() {
        header.codec_config = toml::to_string(&config)
            .map_err(|e| Error::InvalidInput(format!("cannot serialise the codec config: {e}")))?;
    }
    let checks: Vec<Vec<u8>> = chunks
        .iter()
        .map(|fr| check_payload(&back.values[fr.start * frame_len..fr.end * frame_len]))
        .collect();
    drop(back);
    let bytes = assemble(&header, &predicted, &chunks, &coded, Some(&checks))?;
    progress.inc(1);
    Ok((bytes, metrics, worst))
}

/// The residual coder's target, in normalised units, for a per-level bound
/// (`scale` ≤ 1 tightens it): the bound less the source's own deviation
/// in the narrowest level's units, less a margin for the rounding of
/// normalising and restoring in f32.
fn level_target(
    bound: &Bound,
    levels: &LevelInfo,
    dev: &SourceDeviation,
    scale: f64,
) -> Result<Target> {
    let span = levels.min_span();
    let (t, slack, pointwise) = match *bound {
        Bound::NrmseLevel(t) => (t, dev.rms, false),
        Bound::MaxRelLevel(r) => (r, dev.max, true),
        _ => {
            return Err(Error::InvalidInput(format!(
                "{bound} is not a per-level bound"
            )))
        }
    };
    let slack = if span > 0.0 { slack / span } else { 0.0 };
    let v = t * scale - slack - f64::powi(2.0, -22);
    if v <= 0.0 || !v.is_finite() {
        return Err(Error::BoundViolated(format!(
            "{bound} is finer than the narrowest level's precision in f32"
        )));
    }
    Ok(if pointwise {
        Target::MaxAbs(v)
    } else {
        Target::Rmse(v)
    })
}

/// The largest ratio of a level's error to what a per-level bound allows
/// it (a constant level must come back exact).
fn worst_level(bound: &Bound, per_level: &[Metrics]) -> f64 {
    per_level
        .iter()
        .map(|m| {
            let (got, allowed) = match *bound {
                Bound::NrmseLevel(t) => (m.rmse, t * m.range),
                Bound::MaxRelLevel(r) => (m.max_abs, r * m.range),
                _ => (0.0, 1.0),
            };
            if got == 0.0 {
                0.0
            } else if allowed > 0.0 {
                got / allowed
            } else {
                f64::INFINITY
            }
        })
        .fold(0.0, f64::max)
}

/// Fields more than this share of whose valid values are exactly 0 keep
/// their zeros unless [`CompressOptions::keep_zeros`] is `Some(false)`.
pub const AUTO_KEEP_ZEROS_SHARE: f64 = 0.5;

/// Whether `field` is coded with `keep-zeros`: asked for, or (unless
/// refused) more than [`AUTO_KEEP_ZEROS_SHARE`] zeros; a constant field
/// never (it comes back exact anyway).
fn keeps_zeros(field: &Field, asked: Option<bool>) -> bool {
    if asked == Some(false) {
        return false;
    }
    let (mut zeros, mut valid) = (0usize, 0usize);
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for (i, &v) in field.values.iter().enumerate() {
        if field.is_missing(i) {
            continue;
        }
        valid += 1;
        zeros += usize::from(v == 0.0);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    // No valid values (lo = +inf) or one value throughout: constant.
    let varies = lo < hi;
    varies && (asked == Some(true) || zeros as f64 > AUTO_KEEP_ZEROS_SHARE * valid as f64)
}

/// Where the decoder puts a corrected (fixed) value of a chunk: into its
/// level's range (or the variable's), and with `keep-zeros` onto its coded
/// state. The original lies there, so this only moves towards it.
fn final_clamp(
    levels: &LevelInfo,
    (vlo, vhi): (f32, f32),
    plane: usize,
    state: Option<u8>,
    j: usize,
    v: f32,
) -> f32 {
    let (lo, hi) = if levels.ranges.is_empty() {
        (vlo, vhi)
    } else {
        levels.ranges[(j / plane.max(1)) % levels.ranges.len()]
    };
    let v = v.clamp(lo, hi);
    state.map_or(v, |st| crate::pw_rel::clamp_to_state(st, v))
}

/// One variable to compress with [`compress_many`].
pub struct VariableInput<'a> {
    pub field: &'a Field,
    pub meta: &'a DatasetMeta,
    pub opts: &'a CompressOptions,
}

/// Compresses several variables of one dataset into one archive (format
/// 2.1; one variable gives the same archive as [`compress`]). Each variable
/// is coded and verified on its own, with its own bound, in parallel; the
/// metas must share dims, global attributes and auxiliary variables.
/// Returns the archive and one report per variable (whose
/// `compressed_bytes` is the variable's own archive as if alone).
pub fn compress_many(
    inputs: &[VariableInput],
    progress: &dyn Progress,
) -> Result<(Vec<u8>, Vec<CompressReport>)> {
    // One variable shows the codec's stages; several, a count of variables
    // done (their stages would interleave).
    let parts = if inputs.len() == 1 {
        vec![compress(
            inputs[0].field,
            inputs[0].meta,
            inputs[0].opts,
            progress,
        )?]
    } else {
        progress.stage("variables", inputs.len() as u64);
        inputs
            .par_iter()
            .map(|v| {
                let r = compress(v.field, v.meta, v.opts, &NoProgress);
                progress.inc(1);
                r
            })
            .collect::<Result<Vec<_>>>()?
    };
    let slices: Vec<&[u8]> = parts.iter().map(|(b, _)| b.as_slice()).collect();
    let bytes = crate::format::merge(&slices)?;
    let reports = parts.into_iter().map(|(_, r)| r).collect();
    Ok((bytes, reports))
}

/// Checks a decoded field against the original: the same flagged elements
/// holding the same bits, and the bound on every valid element, measured
/// against the source's own values.
fn verify_decoded(field: &Field, back: &Field, bound: &Bound) -> Result<Metrics> {
    if back.missing != field.missing {
        return Err(Error::BoundViolated(
            "the missing-value mask did not round-trip".into(),
        ));
    }
    if let Some(m) = &field.missing {
        let differs = m
            .iter()
            .zip(field.values.iter().zip(&back.values))
            .any(|(&f, (a, b))| f && a.to_bits() != b.to_bits());
        if differs {
            return Err(Error::BoundViolated(
                "a missing, NaN or infinite element did not come back bit for bit".into(),
            ));
        }
    }
    let metrics = Metrics::against_source(field, &back.values)?;
    // A per-level bound is checked level by level by the caller (and
    // implies the same bound on the whole).
    if !bound.is_per_level() {
        bound.check(&metrics)?;
    }
    Ok(metrics)
}

fn parse_config(header: &Header) -> Result<CodecConfig> {
    let c: CodecConfig = toml::from_str(&header.codec_config)
        .map_err(|e| Error::Corrupt(format!("codec configuration does not parse: {e}")))?;
    if c.chunk_frames == 0
        || !c.value_min.is_finite()
        || !c.value_max.is_finite()
        || c.value_min > c.value_max
    {
        return Err(Error::Corrupt(
            "codec configuration holds impossible values".into(),
        ));
    }
    Ok(c)
}

/// Limits and checks of one decompression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The most memory, in bytes, that decoding may need (the output plus
    /// working buffers, estimated from the declared shape before anything
    /// is allocated). An archive that needs more is refused.
    pub max_memory: u64,
    /// Require a check section (hash of the decoded values) for every chunk
    /// of a format-2 archive, and compare it with what was decoded.
    pub require_checks: bool,
}

/// Decoding may use 8 GiB by default.
pub const DEFAULT_MAX_MEMORY: u64 = 8 << 30;

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_memory: DEFAULT_MAX_MEMORY,
            require_checks: true,
        }
    }
}

/// Working bytes per value of a chunk being decoded (the residual decoders'
/// f64 reconstruction, their indices, the f32 output and the prediction).
const WORK_BYTES_PER_VALUE: u64 = 24;

/// Where a chunk's sections are, by index in the archive.
#[derive(Debug, Clone, Default)]
struct ChunkSlot {
    frames: Range<usize>,
    mask: Option<usize>,
    signs: Option<usize>,
    residual: Option<usize>,
    /// The residual section codes lattice indices.
    indices: bool,
    fixes: Option<usize>,
    check: Option<usize>,
}

/// What a decompression reads: the chunks overlapping the wanted frames and
/// the predictor sections per frame.
struct DecodePlan {
    config: CodecConfig,
    /// Per-level ranges (and normalisation) from the header's extra bytes.
    levels: LevelInfo,
    /// The residual codes `ln|x|` (pointwise relative bound).
    log_coded: bool,
    /// The spread bound: chunks may have a fixes section.
    spread: bool,
    shape: Shape,
    want: Range<usize>,
    chunks: Vec<ChunkSlot>,
    /// Predictor sections, grouped by frame, in frame order.
    pred_sections: Vec<(usize, Vec<usize>)>,
    any_mask: bool,
    major: u16,
}

/// Decompresses an archive, optionally only frames `frames` (the returned
/// field then has `frames.len()` frames, and the metadata is sliced to match).
pub fn decompress(bytes: &[u8], frames: Option<Range<usize>>) -> Result<(Field, DatasetMeta)> {
    decompress_with(bytes, frames, &DecodeOptions::default())
}

/// [`decompress`] with explicit limits and checks.
///
/// A multi-variable archive is refused with the list of its variables:
/// decode one with [`decompress_variable`].
pub fn decompress_with(
    bytes: &[u8],
    frames: Option<Range<usize>>,
    opts: &DecodeOptions,
) -> Result<(Field, DatasetMeta)> {
    let reader = ArchiveReader::open(bytes)?;
    if reader.variable_count() > 1 {
        return Err(Error::InvalidInput(format!(
            "the archive holds {} variables ({}); name the one to decode",
            reader.variable_count(),
            reader.header().variable_names().join(", ")
        )));
    }
    decode_view(&reader.for_variable(0)?, frames, opts)
}

/// The names of the variables an archive holds, in archive order.
pub fn variables(bytes: &[u8]) -> Result<Vec<String>> {
    let reader = ArchiveReader::open(bytes)?;
    Ok(reader
        .header()
        .variable_names()
        .into_iter()
        .map(str::to_string)
        .collect())
}

/// Decompresses variable `name` of an archive (frames `frames` of it, or
/// all), reading only that variable's sections. The metadata is the
/// dataset's, with that variable's description.
pub fn decompress_variable(
    bytes: &[u8],
    name: &str,
    frames: Option<Range<usize>>,
    opts: &DecodeOptions,
) -> Result<(Field, DatasetMeta)> {
    let reader = ArchiveReader::open(bytes)?;
    let k = reader.variable_index(name).ok_or_else(|| {
        Error::InvalidInput(format!(
            "the archive has no variable '{name}'; it holds {}",
            reader.header().variable_names().join(", ")
        ))
    })?;
    decode_view(&reader.for_variable(k)?, frames, opts)
}

/// Decodes a one-variable reader (or a view of one variable).
fn decode_view(
    reader: &ArchiveReader,
    frames: Option<Range<usize>>,
    opts: &DecodeOptions,
) -> Result<(Field, DatasetMeta)> {
    let plan = plan_decode(reader, frames.clone(), opts)?;
    let predictions = decode_predictions(reader, &plan.config, &plan.shape, &plan.pred_sections)?;
    let field = decode_chunks(reader, &plan, &predictions, opts)?;
    let header = reader.header();
    let meta = match frames {
        Some(r) if r != (0..plan.shape.frames) => {
            header.meta.select_frames(r, plan.shape.frames)?
        }
        _ => header.meta.clone(),
    };
    Ok((field, meta))
}

/// Works out which sections decode `frames`, checks that they tile the
/// chunks exactly, and that decoding fits `opts.max_memory` — all before
/// any allocation proportional to the declared shape.
fn plan_decode(
    reader: &ArchiveReader,
    frames: Option<Range<usize>>,
    opts: &DecodeOptions,
) -> Result<DecodePlan> {
    let header = reader.header();
    let config = parse_config(header)?;
    let shape = header.shape;
    shape.checked_len()?;
    // The encoder never writes a shape without values; the decoders' loops
    // are bounded by the element count only when no axis is empty (a
    // 2^35 x 0 x 24 frame passed every size check, then spun).
    if shape.frame_len() == 0 {
        return Err(Error::Corrupt(format!(
            "the archive's frames of {} x {} x {} hold no values",
            shape.levels, shape.lat, shape.lon
        )));
    }
    let want = frames.unwrap_or(0..shape.frames);
    if want.start >= want.end || want.end > shape.frames {
        return Err(Error::InvalidInput(format!(
            "frames {}..{} are not within the archive's {} frames",
            want.start, want.end, shape.frames
        )));
    }
    // Residual chunks are decoded whole, so widen to chunk boundaries.
    let c = config.chunk_frames.min(shape.frames).max(1);
    let first_chunk = want.start / c;
    let wide = first_chunk * c..(want.end.div_ceil(c) * c).min(shape.frames);
    let n_chunks = wide.len().div_ceil(c);
    check_memory(&shape, &want, c, n_chunks, config.predictor, opts)?;

    let mut chunks: Vec<ChunkSlot> = (0..n_chunks)
        .map(|j| {
            let a = wide.start + j * c;
            ChunkSlot {
                frames: a..(a + c).min(shape.frames),
                ..ChunkSlot::default()
            }
        })
        .collect();
    let mut pred = assign_sections(reader, &config, &wide, c, &mut chunks)?;
    let major = reader.version().0;
    for slot in &chunks {
        if slot.residual.is_none() && !config.constant {
            return Err(Error::Corrupt(format!(
                "frames {:?} have no residual section",
                slot.frames
            )));
        }
        if slot.check.is_none() && major >= 2 && opts.require_checks {
            return Err(Error::Corrupt(format!(
                "frames {:?} have no check section",
                slot.frames
            )));
        }
    }
    // Group predictor sections by frame; the sort is stable, so sections
    // keep their archive order within a frame.
    pred.sort_by_key(|&(f, _)| f);
    let mut pred_sections: Vec<(usize, Vec<usize>)> = Vec::new();
    for (f, i) in pred {
        match pred_sections.last_mut() {
            Some((g, v)) if *g == f => v.push(i),
            _ => pred_sections.push((f, vec![i])),
        }
    }
    let any_mask = chunks.iter().any(|s| s.mask.is_some());
    let levels = LevelInfo::decode(
        &header.extra,
        shape.levels,
        config.value_min,
        config.value_max,
    )?;
    let log_coded = matches!(header.bound, Bound::PwRel(_));
    check_announced(&levels, reader.version())?;
    if chunks.iter().any(|s| s.indices) {
        let why = if !levels.newer_chunks && !levels.newest_chunks && !levels.chunks_2_3 {
            Some("the header announces none")
        } else if log_coded || levels.normalized || levels.keep_zeros {
            Some("its bound codes transformed values or signs")
        } else if config.predictor != PredictorKind::None {
            Some("it has a predictor")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::Corrupt(format!(
                "a chunk codes lattice indices, but {why}"
            )));
        }
    }
    let spread = matches!(header.bound, Bound::Spread(_));
    Ok(DecodePlan {
        config,
        levels,
        log_coded,
        spread,
        shape,
        want,
        chunks,
        pred_sections,
        any_mask,
        major,
    })
}

/// Puts each section needed for frames `wide` into its chunk's slot (a
/// section must cover exactly one chunk, and a chunk has at most one section
/// of each kind); returns the predictor sections as (frame, index) pairs.
fn assign_sections(
    reader: &ArchiveReader,
    config: &CodecConfig,
    wide: &Range<usize>,
    c: usize,
    chunks: &mut [ChunkSlot],
) -> Result<Vec<(usize, usize)>> {
    let mut pred: Vec<(usize, usize)> = Vec::new();
    for i in reader.sections_for_frames(wide.start as u32..wide.end as u32)? {
        let s = &reader.sections()[i];
        let fr = s.frames.start as usize..s.frames.end as usize;
        if is_predictor_kind(s.kind) {
            if config.predictor == PredictorKind::None || fr.len() != 1 {
                return Err(Error::Corrupt(format!("unexpected predictor section {i}")));
            }
            pred.push((fr.start, i));
            continue;
        }
        let slot = (fr.start >= wide.start && fr.start % c == 0)
            .then(|| (fr.start - wide.start) / c)
            .and_then(|j| chunks.get_mut(j))
            .filter(|slot| slot.frames == fr)
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "section {i} covers frames {fr:?}, which is not a chunk of {c} frames"
                ))
            })?;
        let place = match s.kind {
            SectionKind::Mask => &mut slot.mask,
            SectionKind::Signs => &mut slot.signs,
            SectionKind::Residual | SectionKind::LatticeResidual => {
                slot.indices = s.kind == SectionKind::LatticeResidual;
                &mut slot.residual
            }
            SectionKind::Fixes => &mut slot.fixes,
            SectionKind::Check => &mut slot.check,
            other => {
                return Err(Error::Unsupported(format!(
                    "section kind '{other}' is not decodable by this build's pipeline"
                )))
            }
        };
        if place.replace(i).is_some() {
            return Err(Error::Corrupt(format!(
                "frames {fr:?} have two {} sections",
                s.kind
            )));
        }
    }
    Ok(pred)
}

/// Refuses a decode whose estimated memory exceeds the limit.
fn check_memory(
    shape: &Shape,
    want: &Range<usize>,
    chunk_frames: usize,
    n_chunks: usize,
    predictor: PredictorKind,
    opts: &DecodeOptions,
) -> Result<()> {
    let frame_len = shape.frame_len() as u64;
    let out_values = want.len() as u64 * frame_len;
    let chunk_values = chunk_frames as u64 * frame_len;
    let parallel = (rayon::current_num_threads().max(1) as u64).min(n_chunks as u64);
    // Predictions of every frame in the decoded chunks are held at once.
    let predictions = match predictor {
        PredictorKind::None => 0,
        _ => n_chunks as u64 * chunk_values * 4,
    };
    let need = [
        out_values.saturating_mul(5),
        parallel
            .saturating_mul(chunk_values)
            .saturating_mul(WORK_BYTES_PER_VALUE),
        (n_chunks as u64).saturating_mul(std::mem::size_of::<ChunkSlot>() as u64),
        predictions,
    ]
    .iter()
    .fold(0u64, |a, &b| a.saturating_add(b));
    if need > opts.max_memory {
        return Err(Error::Unsupported(format!(
            "decoding {} frames of {} x {} x {} values would need about {:.2} GB, above the limit of \
             {:.2} GB (decode fewer frames, or raise the limit)",
            want.len(),
            shape.levels,
            shape.lat,
            shape.lon,
            need as f64 / 1e9,
            opts.max_memory as f64 / 1e9
        )));
    }
    Ok(())
}

/// Decodes the planned chunks, a batch of one per thread at a time, into
/// the output field.
fn decode_chunks(
    reader: &ArchiveReader,
    plan: &DecodePlan,
    predictions: &[(usize, Vec<f32>)],
    opts: &DecodeOptions,
) -> Result<Field> {
    let shape = plan.shape;
    let frame_len = shape.frame_len();
    let want = &plan.want;
    let total = want.len() * frame_len;
    let too_big = |_| {
        Error::Unsupported(format!(
            "the archive declares {total} values, more than this machine can allocate"
        ))
    };
    // Reserved up front (a clear error when it cannot be had), filled in
    // frame order: the chunks tile the wanted frames in order, so each
    // one's values are appended (or, for a chunk that is the whole output,
    // taken as they are) and no value is written twice.
    let mut values: Vec<f32> = Vec::new();
    values.try_reserve_exact(total).map_err(too_big)?;
    let mut missing: Vec<bool> = Vec::new();
    if plan.any_mask {
        missing.try_reserve_exact(total).map_err(too_big)?;
    }
    let batch = rayon::current_num_threads().max(1);
    for group in plan.chunks.chunks(batch) {
        let decoded: Vec<Result<DecodedChunk>> = group
            .par_iter()
            .map(|slot| decode_chunk(reader, plan, slot, predictions, opts))
            .collect();
        for (slot, d) in group.iter().zip(decoded) {
            let (vals, mask) = d?;
            let fr = &slot.frames;
            let lo = fr.start.max(want.start);
            let hi = fr.end.min(want.end);
            let src = (lo - fr.start) * frame_len..(hi - fr.start) * frame_len;
            let dst = (lo - want.start) * frame_len..(hi - want.start) * frame_len;
            append_at(&mut values, total, dst.clone(), vals, src.clone(), f32::NAN);
            match mask {
                Some(m) => append_at(&mut missing, total, dst, m, src, false),
                // A chunk without a mask: none of its elements is missing.
                None if plan.any_mask => missing.resize(dst.end, false),
                None => {}
            }
        }
    }
    // Frames no chunk covered (none in a valid plan) stay NaN / not missing.
    values.resize(total, f32::NAN);
    if plan.any_mask {
        missing.resize(total, false);
    }
    let any_missing = missing.iter().any(|&m| m);
    Ok(Field {
        shape: Shape {
            frames: want.len(),
            ..shape
        },
        values,
        missing: any_missing.then_some(missing),
        packing: None,
    })
}

/// Refuses a variable whose extra fields announce codings newer than the
/// archive's label (`version`): such an archive was altered, or written by
/// a broken writer. Decoders of a whole archive and of a file's excerpts
/// (whose own label is the excerpt writer's) check the same.
pub(crate) fn check_announced(levels: &LevelInfo, version: (u16, u16)) -> Result<()> {
    // Lattice indices: only in 2.1, announced by the header, and only where
    // the encoder offers them (plain bound, no predictor).
    if levels.newer_chunks && version < (2, 1) {
        return Err(Error::Corrupt(
            "a format 2.0 archive announces chunk codings new in 2.1".into(),
        ));
    }
    if levels.newest_chunks && version < (2, 2) {
        return Err(Error::Corrupt(format!(
            "a format {}.{} archive announces chunk codings new in 2.2",
            version.0, version.1
        )));
    }
    if levels.chunks_2_3 && (version < (2, 3) || !levels.newest_chunks) {
        return Err(Error::Corrupt(format!(
            "a format {}.{} archive announces chunk codings new in 2.3",
            version.0, version.1
        )));
    }
    if levels.chunks_2_5 && (version < (2, 5) || !levels.chunks_2_3) {
        return Err(Error::Corrupt(format!(
            "a format {}.{} archive announces chunk codings new in 2.5",
            version.0, version.1
        )));
    }
    if levels.chunks_2_7 && (version < (2, 7) || !levels.newer_chunks) {
        return Err(Error::Corrupt(format!(
            "a format {}.{} archive announces chunk codings new in 2.7",
            version.0, version.1
        )));
    }
    if levels.delta_ranges && version < (2, 6) {
        return Err(Error::Corrupt(format!(
            "a format {}.{} archive has delta-coded per-level ranges, new in 2.6",
            version.0, version.1
        )));
    }
    if !levels.coarse.is_empty() && version < (2, 4) {
        return Err(Error::Corrupt(format!(
            "a format {}.{} archive has coarse per-level ranges, new in 2.4",
            version.0, version.1
        )));
    }
    Ok(())
}

/// Puts `src[range]` at `out[dst]`, where `out` (reserved for `total`
/// values) holds the values before `dst` (any gap filled with `fill`). A
/// chunk that is the whole output is taken as it is, without a copy; only
/// the whole output, since a first chunk taken so would make the next ones
/// grow the vector by doubling, up to twice the output.
fn append_at<T: Copy>(
    out: &mut Vec<T>,
    total: usize,
    dst: Range<usize>,
    src: Vec<T>,
    range: Range<usize>,
    fill: T,
) {
    if out.is_empty() && dst == (0..total) && range == (0..src.len()) {
        *out = src;
        return;
    }
    if out.len() < dst.start {
        out.resize(dst.start, fill);
    }
    out.truncate(dst.start);
    out.extend_from_slice(&src[range]);
}

/// Decodes one chunk: its mask, its residual on top of the prediction, the
/// flagged elements' values; clamps valid values into the variable's range
/// (the originals lie in it, so this only shrinks errors) and compares the
/// result with the chunk's check section.
fn decode_chunk(
    reader: &ArchiveReader,
    plan: &DecodePlan,
    slot: &ChunkSlot,
    predictions: &[(usize, Vec<f32>)],
    opts: &DecodeOptions,
) -> Result<DecodedChunk> {
    let fr = &slot.frames;
    let read = |i: Option<usize>| i.map(|i| reader.read(i)).transpose();
    let pred = match slot.residual {
        Some(_) => prediction_of(&plan.config, &plan.shape, fr, predictions),
        None => None,
    };
    let parts = ChunkParts {
        mask: read(slot.mask)?,
        signs: read(slot.signs)?,
        residual: read(slot.residual)?,
        fixes: read(slot.fixes)?,
        indices: slot.indices,
        preview: None,
    };
    let cx = ChunkContext {
        shape: plan.shape,
        config: &plan.config,
        levels: &plan.levels,
        log_coded: plan.log_coded,
        spread: plan.spread,
        major: plan.major,
        residual_minor: plan.levels.residual_minor(),
    };
    let (vals, mask) = decode_chunk_parts(&cx, fr, &parts, pred.as_deref())?;
    if let Some(i) = slot.check {
        if opts.require_checks {
            verify_check(reader.read(i)?, &vals, fr)?;
        }
    }
    Ok((vals, mask))
}

/// What decoding a chunk needs to know of its variable.
struct ChunkContext<'a> {
    shape: Shape,
    config: &'a CodecConfig,
    levels: &'a LevelInfo,
    log_coded: bool,
    /// The ensemble-spread bound: chunks may carry fixes.
    spread: bool,
    major: u16,
    /// Newest format minor whose residual codings the chunks may use: 2
    /// when the archive is 2.2 or newer and announces them, else 1.
    residual_minor: u16,
}

/// The payloads of a chunk's sections.
struct ChunkParts<'a> {
    mask: Option<&'a [u8]>,
    signs: Option<&'a [u8]>,
    residual: Option<&'a [u8]>,
    fixes: Option<&'a [u8]>,
    /// The residual section is a lattice-residual one.
    indices: bool,
    /// Decode a coarse preview of the residual (wavelet level, keep the
    /// vertical detail): [`residual::decode_preview`] instead of
    /// [`residual::decode`]; only for a chunk without prediction, signs,
    /// lattice or fixes.
    preview: Option<(usize, bool)>,
}

/// Decodes a chunk of frames `fr` from its section payloads (the check is
/// the caller's): mask, signs, residual on top of `pred`, then the
/// clamping and the flagged elements' values.
fn decode_chunk_parts(
    cx: &ChunkContext,
    fr: &Range<usize>,
    parts: &ChunkParts,
    pred: Option<&[f32]>,
) -> Result<DecodedChunk> {
    let shape = cx.shape;
    let config = cx.config;
    let len = fr.len() * shape.frame_len();
    let (mask, specials) = match parts.mask {
        Some(m) if cx.major >= 2 => {
            let (m, s) = crate::mask::decode(m, len)?;
            (Some(m), s)
        }
        Some(m) => (Some(crate::mask::decode_v1(m, len)?), None),
        None => (None, None),
    };
    let signed = cx.log_coded || cx.levels.keep_zeros;
    let states = match (signed, parts.signs) {
        (true, Some(g)) => Some(crate::pw_rel::decode_signs(g, mask.as_deref(), len)?),
        (false, None) => None,
        (true, None) => return Err(Error::Corrupt(format!("frames {fr:?} lack their signs"))),
        (false, Some(_)) => {
            return Err(Error::Corrupt(format!(
                "frames {fr:?} have a signs section their bound does not use"
            )))
        }
    };
    let skip = states
        .as_ref()
        .and_then(|st| crate::pw_rel::skip_mask(st, mask.as_deref()));
    let mut vals = match parts.residual {
        Some(r) => {
            let dims = [fr.len(), shape.levels, shape.lat, shape.lon];
            let skip = if states.is_some() {
                skip.as_deref()
            } else {
                mask.as_deref()
            };
            let (lattice, r) = if parts.indices {
                let (l, rest) = Lattice::read_prefix(r)?;
                (Some(l), rest)
            } else {
                (None, r)
            };
            let mut v = match parts.preview {
                Some((k, vertical)) if pred.is_none() && states.is_none() && lattice.is_none() => {
                    residual::decode_preview(r, &dims, skip, k, vertical)?
                }
                Some(_) => {
                    return Err(Error::InvalidInput(format!(
                        "frames {fr:?}: a preview of a chunk with a prediction, signs or lattice"
                    )))
                }
                None => residual::decode_as(r, pred, &dims, skip, cx.residual_minor)?,
            };
            if let (Some(st), true, true) = (&states, v.len() == len, cx.log_coded) {
                crate::pw_rel::from_log(&mut v, st, mask.as_deref());
            }
            if let (Some(l), true) = (&lattice, v.len() == len) {
                l.restore(&mut v, mask.as_deref());
            }
            v
        }
        None => vec![config.value_min as f32; len],
    };
    if vals.len() != len {
        return Err(Error::Corrupt(format!(
            "frames {fr:?} decoded to {} values, expected {len}",
            vals.len()
        )));
    }
    if cx.levels.ranges.is_empty() {
        let (lo, hi) = (config.value_min as f32, config.value_max as f32);
        for (i, v) in vals.iter_mut().enumerate() {
            if !mask.as_ref().is_some_and(|m| m[i]) {
                *v = v.clamp(lo, hi);
            }
        }
    } else {
        // Each level into its own range (inside the variable's), after
        // undoing the per-level normalisation when there is one.
        cx.levels
            .restore(&mut vals, mask.as_deref(), shape.lat * shape.lon);
    }
    let keep = cx.levels.keep_zeros && !cx.log_coded;
    if let (true, Some(st)) = (keep, &states) {
        for (i, v) in vals.iter_mut().enumerate() {
            if !mask.as_ref().is_some_and(|m| m[i]) {
                *v = crate::pw_rel::clamp_to_state(st[i], *v);
            }
        }
    }
    match (cx.spread, parts.fixes) {
        (true, Some(fixes)) => {
            let range = (config.value_min as f32, config.value_max as f32);
            let plane = shape.lat * shape.lon;
            let clamp = |j: usize, v: f32| {
                let state = states.as_ref().filter(|_| keep).map(|st| st[j]);
                final_clamp(cx.levels, range, plane, state, j, v)
            };
            crate::spread::apply_fixes(fixes, &mut vals, mask.as_deref(), &clamp)?;
        }
        (false, Some(_)) => {
            return Err(Error::Corrupt(format!(
                "frames {fr:?} have a fixes section their bound does not use"
            )))
        }
        _ => {}
    }
    if let Some(m) = &mask {
        crate::mask::apply(&mut vals, m, &specials);
    }
    Ok((vals, mask))
}

/// The prediction of frames `fr`, when the archive has a predictor: frames
/// that FIC left unpredicted (it did not pay) predict 0.
fn prediction_of(
    config: &CodecConfig,
    shape: &Shape,
    fr: &Range<usize>,
    predictions: &[(usize, Vec<f32>)],
) -> Option<Vec<f32>> {
    if config.predictor == PredictorKind::None {
        return None;
    }
    let frame_len = shape.frame_len();
    let mut v = Vec::with_capacity(fr.len() * frame_len);
    for f in fr.clone() {
        // `predictions` is sorted by frame.
        match predictions.binary_search_by_key(&f, |(g, _)| *g) {
            Ok(k) => v.extend_from_slice(&predictions[k].1),
            Err(_) => v.extend(std::iter::repeat_n(0.0f32, frame_len)),
        }
    }
    Some(v)
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

/// What `hiha info` shows about an archive: the summary, and the sections
/// whose checksum fails (each one is read; nothing is decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub text: String,
    /// One line per damaged section.
    pub damaged: Vec<String>,
}

/// Describes an archive for `hiha info`, checking every section's CRC.
pub fn describe(bytes: &[u8]) -> Result<Description> {
    let whole = ArchiveReader::open(bytes)?;
    let mut s = String::new();
    let n = whole.variable_count();
    if n > 1 {
        let l = whole.layout();
        s.push_str(&format!(
            "hiha archive, format {}.{}: {} variables ({}), {} bytes (header {}, payload {}, index {})\n",
            whole.version().0,
            whole.version().1,
            n,
            whole.header().variable_names().join(", "),
            l.total,
            l.header,
            l.payload,
            l.index
        ));
    }
    for k in 0..n {
        let reader = whole.for_variable(k)?;
        if n > 1 {
            s.push_str(&format!(
                "\n== variable {k}: {} ({} payload bytes) ==\n",
                reader.header().meta.var.name,
                reader.layout().payload
            ));
        }
        s.push_str(&reader.summary());
        let h = reader.header();
        let kz = LevelInfo::decode(&h.extra, h.shape.levels, f64::MIN, f64::MAX)
            .is_ok_and(|l| l.keep_zeros);
        if kz {
            s.push_str("keep-zeros: exact zeros stay zero and no value changes sign\n");
        }
        s.push_str("codec configuration:\n");
        for line in reader.header().codec_config.lines() {
            s.push_str("  ");
            s.push_str(line);
            s.push('\n');
        }
        s.push_str("bytes by section kind:\n");
        for (k, b) in reader.bytes_by_kind() {
            s.push_str(&format!("  {k:<16} {b:>12} B\n"));
        }
    }
    let damaged: Vec<String> = (0..whole.sections().len())
        .filter_map(|i| whole.read(i).err().map(|e| e.to_string()))
        .collect();
    if damaged.is_empty() {
        s.push_str("integrity: every section's checksum holds\n");
    } else {
        s.push_str(&format!(
            "integrity: {} of {} sections are DAMAGED\n",
            damaged.len(),
            whole.sections().len()
        ));
    }
    Ok(Description { text: s, damaged })
}

/// What `hiha verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub format: (u16, u16),
    pub sections: usize,
    pub chunks_checked: usize,
    pub values: usize,
    pub variables: usize,
}

/// Checks an archive completely: every section's CRC, then a full decode of
/// every variable in which every chunk is compared with the hash of the
/// values the encoder verified (format 2; format-1 archives carry no hashes
/// and are decoded only). Any damage is an error.
pub fn verify(bytes: &[u8], opts: &DecodeOptions) -> Result<VerifyReport> {
    let reader = ArchiveReader::open(bytes)?;
    for i in 0..reader.sections().len() {
        reader.read(i)?;
    }
    let opts = DecodeOptions {
        require_checks: true,
        ..opts.clone()
    };
    let mut values = 0;
    for k in 0..reader.variable_count() {
        let (field, _) = decode_view(&reader.for_variable(k)?, None, &opts)?;
        values += field.values.len();
    }
    let chunks_checked = reader
        .sections()
        .iter()
        .filter(|s| s.kind == SectionKind::Check)
        .count();
    Ok(VerifyReport {
        format: reader.version(),
        sections: reader.sections().len(),
        chunks_checked,
        values,
        variables: reader.variable_count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long series split in two at bounds of 1e-3 and finer, stay whole at
    /// 1e-2 and under a spread bound (whose budget is only nominal), and
    /// short series never split.
    #[test]
    fn long_series_split_at_fine_bounds_only() {
        let t2m = Shape::new(744, 1, 33, 49);
        let range = 50.0;
        let chunks = |b: Bound, s: &Shape| {
            choose_chunk_frames(&CompressOptions::new(b), s, range).expect("chunking")
        };
        for b in [
            Bound::Nrmse(1e-3),
            Bound::Nrmse(1e-5),
            Bound::MaxRel(1e-3),
            Bound::MaxAbs(1e-3 * range),
        ] {
            assert_eq!(chunks(b, &t2m), 372, "{b:?}");
        }
        for b in [Bound::Nrmse(1e-2), Bound::MaxRel(1e-2), Bound::Spread(0.1)] {
            assert_eq!(chunks(b, &t2m), 744, "{b:?}");
        }
        let ensemble = Shape::new(40, 2, 61, 120);
        assert_eq!(chunks(Bound::Nrmse(1e-5), &ensemble), 40);
    }

    /// The range ends stored as short decimals stand for the same f32s and
    /// lie on the outer side of them (a reader taking them as f64s still
    /// finds every value inside), at no more digits than the exact f64.
    #[test]
    fn short_decimals_keep_the_f32_and_lie_outside() {
        let mut x = 0x2545_f491u32;
        let mut vals: Vec<f32> = vec![
            188.9,
            -363.593,
            0.0,
            1.0,
            -1.0,
            31664.09,
            3.917_646e-7,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-45,
        ];
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = f32::from_bits(x);
            if v.is_finite() {
                vals.push(v);
            }
        }
        for v in vals {
            let v64 = v as f64;
            for upper in [false, true] {
                let d = short_decimal(v64, upper);
                assert_eq!(d as f32, v, "{v:e} upper={upper}: {d:e}");
                assert!(
                    if upper { d >= v64 } else { d <= v64 },
                    "{v:e} upper={upper}: {d:e}"
                );
                assert!(
                    format!("{d}").len() <= format!("{v64}").len(),
                    "{v:e}: {d} vs {v64}"
                );
                // Strictly nearer its f32 than either neighbour (a decimal
                // halfway between two could be read as either).
                for n in [v.next_up(), v.next_down()] {
                    assert!((d - v64).abs() < (d - n as f64).abs(), "{v:e}: {d:e}");
                }
            }
        }
        // Not an f32 value: kept as it is.
        assert_eq!(short_decimal(0.1, false), 0.1);
    }

    #[test]
    fn repack_plan_takes_at_most_the_room() {
        // RMSE: (m·s)²/12 of variance within 10% of the budget.
        let (b, m) = repack_plan(1.0, false, 0.01, 0.1);
        assert!((0.9..1.0).contains(&b));
        assert!(m.is_power_of_two() && m > 1);
        let s = 0.01 * f64::from(m);
        assert!((b * b + s * s / 12.0).sqrt() <= 1.0 + 1e-12);
        // The next coarser lattice would need more room.
        let s2 = 2.0 * s;
        assert!((1.0 - s2 * s2 / 12.0).max(0.0).sqrt() < 0.9);
        // Pointwise, m >= 2: the coder keeps budget − m·s/2.
        let (b, m) = repack_plan(1.0, true, 0.01, 0.1);
        assert_eq!(m, 16);
        assert!((b - (1.0 - 0.08)).abs() < 1e-12);
        // Pointwise, source lattice: a whole number of steps counts one less.
        let (b, m) = repack_plan(0.05, true, 0.01, 0.1);
        assert_eq!(m, 1);
        assert!(b < 0.045 && b > 0.0449);
        // Less than half a step: rounding gives the source value back.
        assert_eq!(repack_plan(0.004, true, 0.01, 0.1), (0.004, 1));
        // No room asked, or too little: the whole budget.
        assert_eq!(repack_plan(1.0, true, 0.01, 0.0), (1.0, 1));
        assert_eq!(repack_plan(0.019, true, 0.01, 0.1), (0.019, 1));
        assert_eq!(repack_plan(1.0, false, f64::NAN, 0.1), (1.0, 1));
    }
}
