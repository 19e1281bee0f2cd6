//! Coarse previews: `hiha decompress --preview K`.
//!
//! The wavelet residual coder writes its subbands coarsest first (the
//! approximation band and the small subbands in one shared stream, then one
//! stream per big subband, then the outliers), with every stream's length in
//! its header. A preview at level `K` reads, of each wavelet-coded residual
//! section, only the headers, the shared stream and the streams of the bands
//! it keeps, decodes those bands with the finer ones taken as zero, inverts
//! the transform and keeps every `2^K`-th point along the two horizontal
//! axes (from index 0). Everything else about a chunk is decoded as usual:
//! its mask (missing values stay NaN at their subsampled positions), the
//! clamping into the variable's (or each level's) range, the per-level
//! normalisation.
//!
//! What is read whole and decoded exactly, then subsampled:
//! - chunks whose residual is not wavelet-coded (the SZ-style path, lattice
//!   indices, a raw or constant wavelet block);
//! - every chunk of a variable with a predictor (FIC/HiHa: the prediction
//!   needs every predictor section), or whose bound codes signs or
//!   transformed values (pointwise relative, keep-zeros) or adds fixes
//!   (ensemble spread).
//!
//! A preview is approximate: the wavelet outliers (exact corrections) are
//! skipped and no bound holds for it. Sections read in part are **not**
//! checked against their CRC (it covers the whole payload); sections read
//! whole are, and a chunk decoded whole is compared with its check
//! section. Damaged bytes give an error, never a panic; `hiha verify`
//! remains the integrity check.

use std::ops::Range;

use rayon::prelude::*;

use super::{
    decode_chunk_parts, decode_view, plan_decode, verify_check, ChunkContext, ChunkParts,
    DecodeOptions, PredictorKind,
};
use crate::bound::Bound;
use crate::error::{Error, Result};
use crate::field::{Field, Shape};
use crate::format::{ArchiveFile, ArchiveReader, SectionKind};
use crate::meta::{Attr, AttrValue, DatasetMeta};
use crate::residual;

/// The coarsest preview level: 2^6 = 64 times coarser per axis.
pub const MAX_PREVIEW_LEVEL: u32 = 6;

/// The global attribute a preview's metadata carries.
pub const PREVIEW_ATTR: &str = "hiha_preview";

/// What to preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewOptions {
    /// `K`: the output is `2^K` times coarser per horizontal axis (1 to
    /// [`MAX_PREVIEW_LEVEL`]).
    pub level: u32,
    /// Keep the finer wavelet bands that are high-pass along neither
    /// horizontal axis (detail along time and levels only), so that each
    /// frame and level of the preview is that frame and level, not a blend
    /// of its neighbours (the default). `false` reads fewer bytes.
    pub vertical: bool,
    /// Memory limit and checks, as for a full decode.
    pub decode: DecodeOptions,
}

impl PreviewOptions {
    /// A preview at level `level`, the default band choice (time and
    /// levels kept sharp).
    pub fn new(level: u32) -> Self {
        Self {
            level,
            vertical: true,
            decode: DecodeOptions::default(),
        }
    }
}

/// What a preview read and decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewStats {
    /// Bytes read from the archive file by this preview (not counting the
    /// header and index read when the file was opened).
    pub bytes_read: u64,
    /// Chunks decoded from part of their residual section.
    pub partial_chunks: usize,
    /// Chunks read and decoded whole, then subsampled.
    pub whole_chunks: usize,
}

/// Checks a preview level against a grid: `1..=`[`MAX_PREVIEW_LEVEL`], and
/// at least two points per horizontal axis left.
pub fn check_preview_level(level: u32, shape: &Shape) -> Result<()> {
    if !(1..=MAX_PREVIEW_LEVEL).contains(&level) {
        return Err(Error::InvalidInput(format!(
            "a preview level must be 1 to {MAX_PREVIEW_LEVEL}, got {level}"
        )));
    }
    let step = 1usize << level;
    if shape.lat <= step || shape.lon <= step {
        return Err(Error::InvalidInput(format!(
            "a grid of {} x {} is too small for a preview at level {level} ({} \
             point): each horizontal axis needs more than {step} points",
            shape.lat,
            shape.lon,
            every(step)
        )));
    }
    Ok(())
}

/// "every 2nd", "every 4th", ...: how a preview at `step` samples.
pub fn every(step: usize) -> String {
    match step {
        1 => "every".into(),
        2 => "every 2nd".into(),
        3 => "every 3rd".into(),
        s => format!("every {s}th"),
    }
}

/// Every `step`-th point, from index 0, along the last two axes of a
/// `frames × levels × lat × lon` block.
pub fn subsample<T: Copy>(
    values: &[T],
    outer: usize,
    lat: usize,
    lon: usize,
    step: usize,
) -> Vec<T> {
    crate::residual::wavelet::subsample(values, outer, lat, lon, step)
}

/// The preview's metadata: the horizontal coordinates strided to match,
/// every attribute kept, and a global attribute saying what it is.
fn preview_meta(meta: &DatasetMeta, level: u32) -> Result<DatasetMeta> {
    let step = 1usize << level;
    let mut m = meta.stride_horizontal(step)?;
    m.global_attrs.retain(|a| a.name != PREVIEW_ATTR);
    m.global_attrs.push(Attr::new(
        PREVIEW_ATTR,
        AttrValue::Text(format!(
            "coarse preview at level {level}: {} point along {} and {} from index 0, \
             from the wavelet subbands coarser than 2^{level} (approximate: no error bound holds)",
            every(step),
            meta.var.layout.lat_dim,
            meta.var.layout.lon_dim
        )),
    ));
    Ok(m)
}

/// Subsamples a decoded field (every frame) to the preview grid.
fn subsample_field(field: &Field, step: usize) -> Field {
    let s = field.shape;
    let outer = s.frames * s.levels;
    Field {
        shape: Shape {
            lat: s.lat.div_ceil(step),
            lon: s.lon.div_ceil(step),
            ..s
        },
        values: subsample(&field.values, outer, s.lat, s.lon, step),
        missing: field
            .missing
            .as_ref()
            .map(|m| subsample(m, outer, s.lat, s.lon, step)),
        packing: field.packing,
    }
}

/// A coarse preview of variable `k` of an archive file, `2^level` times
/// coarser per horizontal axis, every frame. See the module docs for what
/// is read and what is exact.
pub fn preview_variable(
    file: &ArchiveFile,
    k: usize,
    opts: &PreviewOptions,
) -> Result<(Field, DatasetMeta, PreviewStats)> {
    let header = file.header().variable(k).ok_or_else(|| {
        Error::InvalidInput(format!(
            "no variable {k}: the archive has {}",
            file.header().variable_count()
        ))
    })?;
    let (major, _) = file.version();
    if major != crate::format::FORMAT_VERSION.0 {
        return Err(Error::Unsupported(format!(
            "a preview reads format {} archives; this one is format {major}: decompress it whole",
            crate::format::FORMAT_VERSION.0
        )));
    }
    let shape = header.shape;
    check_preview_level(opts.level, &shape)?;
    let step = 1usize << opts.level;
    let level = opts.level as usize;
    let start = file.bytes_read();
    let all_frames = 0..shape.frames;
    let config = super::parse_config(&header)?;
    let levels = crate::levels::LevelInfo::decode(
        &header.extra,
        shape.levels,
        config.value_min,
        config.value_max,
    )?;
    super::check_announced(&levels, file.version())?;
    let plain = config.predictor == PredictorKind::None
        && !matches!(header.bound, Bound::PwRel(_) | Bound::Spread(_))
        && !levels.keep_zeros;
    // The variable's sections in archive order: excerpt index j is global
    // index mine[j].
    let mine: Vec<usize> = (0..file.sections().len())
        .filter(|&i| file.sections()[i].variable as usize == k)
        .collect();
    let partial =
        |_: usize, s: &crate::format::SectionInfo| plain && s.kind == SectionKind::Residual;
    let excerpt = file.excerpt_except(k, all_frames.clone(), partial)?;
    let reader = ArchiveReader::open(&excerpt)?;
    let reader = reader.for_variable(0)?;
    let meta = preview_meta(&reader.header().meta, opts.level)?;
    let plan = plan_decode(&reader, None, &opts.decode)?;
    if !plain {
        // Decode whole (every section of the variable was read and
        // checked), then subsample.
        let (field, _) = decode_view(&reader, None, &opts.decode)?;
        let stats = PreviewStats {
            bytes_read: file.bytes_read() - start,
            partial_chunks: 0,
            whole_chunks: plan.chunks.len(),
        };
        return Ok((subsample_field(&field, step), meta, stats));
    }
    let cx = ChunkContext {
        shape,
        config: &plan.config,
        levels: &plan.levels,
        log_coded: plan.log_coded,
        spread: plan.spread,
        major: plan.major,
        residual_minor: plan.levels.residual_minor(),
    };
    let (lat2, lon2) = (shape.lat.div_ceil(step), shape.lon.div_ceil(step));
    let frame_out = shape.levels * lat2 * lon2;
    let total = shape.frames * frame_out;
    let mut values: Vec<f32> = Vec::new();
    values
        .try_reserve_exact(total)
        .map_err(|_| Error::Unsupported(format!("cannot allocate a preview of {total} values")))?;
    values.resize(total, f32::NAN);
    let mut missing = vec![false; if plan.any_mask { total } else { 0 }];
    let mut stats = PreviewStats::default();
    let batch = rayon::current_num_threads().max(1);
    for group in plan.chunks.chunks(batch) {
        // Read (one file, in order), then decode the batch in parallel.
        let mut inputs: Vec<(Option<Vec<u8>>, bool)> = Vec::with_capacity(group.len());
        for slot in group {
            let dims = [slot.frames.len(), shape.levels, shape.lat, shape.lon];
            match slot.residual {
                Some(j) if !slot.indices => {
                    let g = *mine
                        .get(j)
                        .ok_or_else(|| Error::Corrupt(format!("no section {j}")))?;
                    let (bytes, part) = read_residual(file, g, &dims, level, opts.vertical)?;
                    inputs.push((Some(bytes), part));
                }
                // Lattice indices (read whole into the excerpt) or no
                // residual at all: decoded whole.
                _ => inputs.push((None, false)),
            }
        }
        let decoded: Vec<Result<super::DecodedChunk>> = group
            .par_iter()
            .zip(&inputs)
            .map(|(slot, (bytes, part))| {
                let read = |i: Option<usize>| i.map(|i| reader.read(i)).transpose();
                let residual = match bytes {
                    Some(b) => Some(b.as_slice()),
                    None => read(slot.residual)?,
                };
                let parts = ChunkParts {
                    mask: read(slot.mask)?,
                    signs: read(slot.signs)?,
                    residual,
                    fixes: read(slot.fixes)?,
                    indices: slot.indices,
                    preview: part.then_some((level, opts.vertical)),
                };
                let (vals, mask) = decode_chunk_parts(&cx, &slot.frames, &parts, None)?;
                if let (false, Some(i), true) = (*part, slot.check, opts.decode.require_checks) {
                    verify_check(reader.read(i)?, &vals, &slot.frames)?;
                }
                Ok((vals, mask))
            })
            .collect();
        for ((slot, d), (_, part)) in group.iter().zip(decoded).zip(&inputs) {
            let (vals, mask) = d?;
            if *part {
                stats.partial_chunks += 1;
            } else {
                stats.whole_chunks += 1;
            }
            let outer = slot.frames.len() * shape.levels;
            let dst = slot.frames.start * frame_out..slot.frames.end * frame_out;
            values[dst.clone()]
                .copy_from_slice(&subsample(&vals, outer, shape.lat, shape.lon, step));
            if let Some(m) = mask {
                missing[dst].copy_from_slice(&subsample(&m, outer, shape.lat, shape.lon, step));
            }
        }
    }
    stats.bytes_read = file.bytes_read() - start;
    let any_missing = missing.iter().any(|&m| m);
    let field = Field {
        shape: Shape {
            lat: lat2,
            lon: lon2,
            ..shape
        },
        values,
        missing: any_missing.then_some(missing),
        packing: None,
    };
    Ok((field, meta, stats))
}

/// Reads what a preview needs of residual section `g` (global index): its
/// header, then the byte ranges the wavelet stream's header names, into a
/// buffer of the section's length (the bytes not read are zero). `true`
/// when read in part; `false` when the stream is not progressive and was
/// read whole (and checked against its CRC).
fn read_residual(
    file: &ArchiveFile,
    g: usize,
    dims: &[usize],
    level: usize,
    vertical: bool,
) -> Result<(Vec<u8>, bool)> {
    let total = file
        .sections()
        .get(g)
        .and_then(|s| usize::try_from(s.len).ok())
        .ok_or_else(|| Error::Corrupt(format!("section {g} is too large")))?;
    let want = residual::preview_header_len(dims)?.min(total);
    let head = file.read_section_range(g, 0..want)?;
    let Some(plan) = residual::preview_plan(&head, total, dims, level, vertical)? else {
        return Ok((file.read_section(g)?, false));
    };
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(total)
        .map_err(|_| Error::Unsupported(format!("cannot allocate {total} bytes")))?;
    buf.resize(total, 0);
    buf[..head.len()].copy_from_slice(&head);
    // What the head did not cover of a range.
    let fill = |buf: &mut [u8], r: Range<usize>| -> Result<()> {
        let from = r.start.max(head.len());
        if from < r.end {
            let part = from..r.end;
            let bytes = file.read_section_range(g, part.clone())?;
            buf[part].copy_from_slice(&bytes);
        }
        Ok(())
    };
    fill(&mut buf, plan.header.clone())?;
    for r in &plan.own {
        fill(&mut buf, r.clone())?;
    }
    // A prefix of the shared stream, longer until it holds what the
    // preview decodes from it (or is all of it).
    let shared = plan.shared.clone();
    let mut have = 0usize;
    let mut want = plan.shared_guess.min(shared.len());
    loop {
        fill(&mut buf, shared.start + have..shared.start + want)?;
        have = want;
        if have >= shared.len() || residual::preview_shared_ok(&buf, dims, level, vertical, have)? {
            break;
        }
        want = have.saturating_mul(2).max(64).min(shared.len());
    }
    Ok((buf, true))
}
