//! Streaming compression and decompression: memory bounded by a few
//! chunks, not by the field.
//!
//! [`compress_streamed`] reads the field from a [`FrameSource`] twice:
//! once, frame block by frame block, for the statistics the header and the
//! residual target need (value range, per-level ranges, the packed
//! source's deviation, the largest `|ln|x||` of a pointwise relative
//! bound); then chunk by chunk, a few chunks at a time
//! ([`StreamOptions::in_flight`], coded in parallel): each chunk is coded,
//! decoded again at once and verified on every element, its check hash
//! taken, and its sections appended to a *spill* (any `Read + Write +
//! Seek`, a temporary file in the CLI). The whole-field measures (RMSE,
//! per-level errors, the re-packing check) are accumulated in element
//! order, so they are bit for bit those of the in-memory [`compress`](super::compress); a
//! missed per-level or pointwise-relative bound streams the field again
//! with a tighter target, as [`compress`](super::compress) retries. [`write_archive`] then
//! writes the header (known only now: the re-packing is decided at the
//! end), copies the sections from the spills and writes the index. The
//! archive is byte for byte the one [`compress`](super::compress) /
//! [`compress_many`](super::compress_many)
//! write for the same input and options.
//!
//! Only the residual coder alone (predictor `none`, the default) streams:
//! the FIC and HiHa predictors fit networks over the whole field.
//!
//! [`decompress_streamed`] decodes a variable a few chunks at a time and
//! hands each batch of frames to a sink, so a writer can put them on disk
//! before the next batch is decoded.

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;

use rayon::prelude::*;

use super::{
    check_payload, choose_chunk_frames, chunk_ranges, code_chunks, decode_chunk_parts,
    decode_chunks, decode_predictions, level_target, parse_config, plan_decode, residual_target,
    worst_level, ChunkContext, ChunkParts, CodecConfig, CodedChunk, CompressOptions,
    CompressReport, DecodeOptions, PredictorKind, Progress, Repacking, SourceDeviation,
    DEFAULT_CHUNK_ELEMENTS,
};
use crate::bound::Bound;
use crate::error::{Error, Result};
use crate::field::{Field, Packing, Shape};
use crate::format::{ArchiveFile, ArchiveReader, ArchiveWriter, Header, SectionKind};
use crate::levels::LevelInfo;
use crate::meta::DatasetMeta;
use crate::metrics::{Metrics, PieceMetrics};
use crate::residual::Target;

/// Where a streaming encoder reads a field from, a run of whole frames at a
/// time.
pub trait FrameSource {
    /// The shape of the whole field.
    fn shape(&self) -> Shape;
    /// How the source packed its values ([`Field::packing`]).
    fn packing(&self) -> Option<Packing>;
    /// Frames `frames` (within the shape, non-empty) as a field of
    /// `frames.len()` frames, built as [`Field::new`] builds one: missing
    /// elements flagged and holding [`crate::field::MISSING`], NaN and
    /// infinities flagged with their own bits. The packing of the returned
    /// field is ignored ([`FrameSource::packing`] holds for every frame).
    fn read_frames(&mut self, frames: Range<usize>) -> Result<Field>;
}

/// A field already in memory, as a [`FrameSource`] (tests, and inputs whose
/// reader reads whole variables).
pub struct FieldFrames<'a> {
    field: &'a Field,
}

impl<'a> FieldFrames<'a> {
    pub fn new(field: &'a Field) -> Self {
        Self { field }
    }
}

impl FrameSource for FieldFrames<'_> {
    fn shape(&self) -> Shape {
        self.field.shape
    }
    fn packing(&self) -> Option<Packing> {
        self.field.packing
    }
    fn read_frames(&mut self, frames: Range<usize>) -> Result<Field> {
        let s = self.field.shape;
        if frames.start >= frames.end || frames.end > s.frames {
            return Err(Error::InvalidInput(format!(
                "frames {frames:?} are not within the field's {} frames",
                s.frames
            )));
        }
        let n = s.frame_len();
        let span = frames.start * n..frames.end * n;
        let missing = self
            .field
            .missing
            .as_ref()
            .map(|m| &m[span.clone()])
            .filter(|m| m.iter().any(|&x| x))
            .map(<[bool]>::to_vec);
        Ok(Field {
            shape: Shape {
                frames: frames.len(),
                ..s
            },
            values: self.field.values[span].to_vec(),
            missing,
            packing: self.field.packing,
        })
    }
}

/// How a streaming run uses memory and cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Chunks read, coded and verified at once (in parallel); memory grows
    /// with it. At least 1.
    pub in_flight: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            in_flight: rayon::current_num_threads().clamp(1, DEFAULT_IN_FLIGHT),
        }
    }
}

/// Chunks in flight by default (at most; fewer on fewer cores): at the
/// default chunk of 16 MiB of f32 two chunks keep a 2-core machine busy and
/// peak memory well under 1 GB (docs/memory.md).
pub const DEFAULT_IN_FLIGHT: usize = 2;

/// One section written to a spill.
#[derive(Debug, Clone)]
struct Spilled {
    kind: SectionKind,
    frames: Range<u32>,
    len: usize,
}

/// A variable coded by [`compress_streamed`]: its header, its sections in
/// the spill, and the report. [`write_archive`] turns one or more of them
/// into an archive.
#[derive(Debug)]
pub struct StreamedVariable<S> {
    header: Header,
    spill: S,
    sections: Vec<Spilled>,
    /// What the run achieved; `compressed_bytes` is the variable's own
    /// archive, as if alone.
    pub report: CompressReport,
}

impl<S> StreamedVariable<S> {
    /// The variable's one-variable header.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

/// Statistics of the first pass over a source.
struct Scan {
    shape: Shape,
    packing: Option<Packing>,
    /// Valid values' range, `None` when every element is flagged.
    range: Option<(f32, f32)>,
    levels: LevelInfo,
    dev: SourceDeviation,
    /// Largest `|ln|x||` (pointwise relative bound), as the in-memory
    /// encoder measures it on `pw_rel::to_log`.
    max_log: f64,
    /// Valid values, and those exactly zero (for keep-zeros).
    valid: usize,
    zeros: usize,
}

/// Checks that a piece read from a source is the frames asked for.
fn checked_piece(
    piece: Field,
    shape: &Shape,
    frames: &Range<usize>,
    p: Option<Packing>,
) -> Result<Field> {
    let want = Shape {
        frames: frames.len(),
        ..*shape
    };
    let n = want.checked_len()?;
    if piece.shape != want
        || piece.values.len() != n
        || piece.missing.as_ref().is_some_and(|m| m.len() != n)
    {
        return Err(Error::InvalidInput(format!(
            "the source gave {:?} with {} values for frames {frames:?} of {shape:?}",
            piece.shape,
            piece.values.len()
        )));
    }
    Ok(Field {
        packing: p,
        ..piece
    })
}

/// Frames per block of the first pass: the chunk the caller asked for,
/// else about one default chunk.
fn scan_block(shape: &Shape, opts: &CompressOptions) -> usize {
    opts.chunk_frames
        .unwrap_or(DEFAULT_CHUNK_ELEMENTS / shape.frame_len().max(1))
        .max(1)
}

fn scan(
    src: &mut dyn FrameSource,
    opts: &CompressOptions,
    progress: &dyn Progress,
) -> Result<Scan> {
    let shape = src.shape();
    let n = shape.checked_len()?;
    if n == 0 {
        return Err(Error::InvalidInput(format!(
            "field of shape {shape:?} is empty"
        )));
    }
    let packing = src.packing();
    let per_level = opts.bound.is_per_level();
    let levels = shape.levels.max(1);
    let want_levels = levels > 1 || per_level;
    let plane = (shape.lat * shape.lon).max(1);
    let pw_rel = matches!(opts.bound, Bound::PwRel(_));
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); if want_levels { levels } else { 0 }];
    let (mut dmax, mut dss, mut dn) = (0.0f64, 0.0f64, 0usize);
    let (mut llo, mut lhi) = (f32::INFINITY, f32::NEG_INFINITY);
    let (mut valid, mut zeros) = (0usize, 0usize);
    progress.stage("scan", shape.frames as u64);
    let block = scan_block(&shape, opts);
    for a in (0..shape.frames).step_by(block) {
        let fr = a..(a + block).min(shape.frames);
        let piece = checked_piece(src.read_frames(fr.clone())?, &shape, &fr, packing)?;
        for (i, &v) in piece.values.iter().enumerate() {
            if piece.is_missing(i) {
                continue;
            }
            lo = lo.min(v);
            hi = hi.max(v);
            valid += 1;
            zeros += usize::from(v == 0.0);
            if want_levels {
                let r = &mut ranges[(i / plane) % levels];
                r.0 = r.0.min(v);
                r.1 = r.1.max(v);
            }
            if packing.is_some() {
                let (x, slack) = piece.source_value(i);
                let d = (x - v as f64).abs() + slack;
                dmax = dmax.max(d);
                dss += d * d;
                dn += 1;
            }
            if pw_rel {
                let l = if v == 0.0 {
                    0.0
                } else {
                    (v.abs() as f64).ln() as f32
                };
                llo = llo.min(l);
                lhi = lhi.max(l);
            }
        }
        progress.inc(fr.len() as u64);
    }
    let range = (lo <= hi).then_some((lo, hi));
    let whole = range.unwrap_or((0.0, 0.0));
    for r in &mut ranges {
        if r.0 > r.1 {
            *r = whole;
        }
    }
    let dev = if packing.is_some() {
        SourceDeviation {
            max: dmax,
            rms: if dn > 0 {
                (dss / dn as f64).sqrt()
            } else {
                0.0
            },
        }
    } else {
        SourceDeviation::default()
    };
    let max_log = if llo <= lhi {
        llo.abs().max(lhi.abs()) as f64
    } else {
        0.0
    };
    let mut levels = LevelInfo {
        ranges,
        normalized: per_level,
        // As `keeps_zeros` decides on the whole field; the pointwise
        // relative bound keeps zeros already.
        keep_zeros: !pw_rel
            && opts.keep_zeros != Some(false)
            && lo < hi
            && (opts.keep_zeros == Some(true)
                || zeros as f64 > super::AUTO_KEEP_ZEROS_SHARE * valid as f64),
        newer_chunks: false,
        newest_chunks: false,
        chunks_2_3: false,
        chunks_2_5: false,
        chunks_2_7: false,
        coarse: Vec::new(),
        delta_ranges: false,
    };
    if let Some((lo, hi)) = range {
        levels.coarsen(lo as f64, hi as f64);
    }
    Ok(Scan {
        shape,
        packing,
        range,
        levels,
        dev,
        max_log,
        valid,
        zeros,
    })
}

/// Compresses the field `src` delivers, holding a few chunks in memory
/// (see the module documentation); the sections go to `spill`. Only the
/// residual coder alone (predictor `none`) streams. The result, written
/// with [`write_archive`], is the archive [`compress`](super::compress) writes.
pub fn compress_streamed<S: Read + Write + Seek>(
    src: &mut dyn FrameSource,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    stream: &StreamOptions,
    mut spill: S,
    progress: &dyn Progress,
) -> Result<StreamedVariable<S>> {
    opts.bound.validate()?;
    if opts.predictor != PredictorKind::None {
        return Err(Error::InvalidInput(format!(
            "streaming compression works with the residual coder alone (predictor none); the \
             {:?} predictor fits networks over the whole field, so it needs the whole variable \
             in memory",
            opts.predictor
        )));
    }
    if let Bound::Spread(_) = opts.bound {
        return Err(Error::InvalidInput(format!(
            "streaming compression does not take {}: the spread bound searches over the whole \
             field's spread map, so it needs the whole variable in memory",
            opts.bound
        )));
    }
    if !(opts.repack_room.is_finite() && (0.0..1.0).contains(&opts.repack_room)) {
        return Err(Error::InvalidInput(format!(
            "the re-packing room is a share of the bound in [0, 1), got {}",
            opts.repack_room
        )));
    }
    if opts.chunk_frames == Some(0) {
        return Err(Error::InvalidInput(
            "chunk size must be at least 1 frame".into(),
        ));
    }
    let scan = scan(src, opts, progress)?;
    // Chunks of one huge frame each: fewer at once (memory before speed).
    let frame_len = scan.shape.frame_len().max(1);
    let fit = (DEFAULT_IN_FLIGHT * DEFAULT_CHUNK_ELEMENTS / frame_len).max(1);
    let in_flight = stream.in_flight.clamp(1, fit);
    let n = scan.shape.checked_len()?;
    let mut scale = 1.0f64;
    for attempt in 1..=4 {
        let pass = encode_pass(
            src, meta, opts, &scan, scale, in_flight, &mut spill, progress,
        )?;
        if pass.worst <= 1.0 {
            let compressed_bytes = archive_len(&pass.header, &pass.sections)?;
            let report = CompressReport {
                metrics: pass.metrics,
                original_bytes: n * 4,
                compressed_bytes,
                section_bytes: bytes_by_kind(&pass.sections),
            };
            return Ok(StreamedVariable {
                header: pass.header,
                spill,
                sections: pass.sections,
                report,
            });
        }
        if attempt == 4 {
            return Err(Error::BoundViolated(format!(
                "asked for {}, a level still reached {:.3} x its bound after {attempt} tries",
                opts.bound, pass.worst
            )));
        }
        scale *= 0.97 / pass.worst;
    }
    unreachable!("the loop returns on its last try")
}

/// What one pass over the source gave.
struct Pass {
    header: Header,
    sections: Vec<Spilled>,
    metrics: Metrics,
    worst: f64,
}

/// A re-packing lattice being checked: its multiple of the source's step
/// and the comparison so far (`None` once an element failed).
struct RepackCandidate {
    lattice: Packing,
    acc: Option<PieceMetrics>,
}

/// Codes the field once with the residual target scaled by `scale`,
/// verifying each chunk as it goes (see [`compress_streamed`]).
#[allow(clippy::too_many_arguments)]
fn encode_pass<S: Write + Seek>(
    src: &mut dyn FrameSource,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    scan: &Scan,
    scale: f64,
    in_flight: usize,
    spill: &mut S,
    progress: &dyn Progress,
) -> Result<Pass> {
    let shape = scan.shape;
    let (lo, hi) = scan.range.unwrap_or((0.0, 0.0));
    let (lo, hi) = (lo as f64, hi as f64);
    let range = hi - lo;
    let chunk_frames = choose_chunk_frames(opts, &shape, range)?;
    let levels = &scan.levels;
    let mut config = CodecConfig {
        predictor: opts.predictor,
        chunk_frames,
        value_min: super::stored_end(lo, range, false),
        value_max: super::stored_end(hi, range, true),
        constant: range == 0.0,
        fic: toml::Table::new(),
        trc: toml::Table::new(),
        repack: None,
    };
    let to_toml = |c: &CodecConfig| {
        toml::to_string(c)
            .map_err(|e| Error::InvalidInput(format!("cannot serialise the codec config: {e}")))
    };
    let mut header = Header {
        meta: meta.clone(),
        shape,
        bound: opts.bound,
        codec_config: to_toml(&config)?,
        extra: levels.encode(),
        variables: Vec::new(),
    };
    let pw_rel = match opts.bound {
        Bound::PwRel(r) => Some(r),
        _ => None,
    };
    let (target, multiple) = match opts.bound {
        Bound::PwRel(r) => (
            Target::MaxAbs(crate::pw_rel::log_target(r, scan.max_log, scale)?),
            0,
        ),
        _ if levels.normalized => (level_target(&opts.bound, levels, &scan.dev, scale)?, 0),
        _ => residual_target(
            &opts.bound,
            range,
            &scan.dev,
            scan.packing,
            opts.repack_room,
        )?,
    };
    // keep-zeros: the RMSE target is spent on the non-zeros alone, as the
    // in-memory encoder does (counts from the first pass).
    let target = match target {
        Target::Rmse(t) if levels.keep_zeros && !levels.normalized => {
            let coded = scan.valid - scan.zeros;
            if coded > 0 && scan.valid > coded {
                Target::Rmse(t * (scan.valid as f64 / coded as f64).sqrt())
            } else {
                Target::Rmse(t)
            }
        }
        t => t,
    };
    // Decode with exactly what a reader of the archive sees.
    let decoded_config = parse_config(&header)?;
    let decoded_levels = LevelInfo::decode(
        &header.extra,
        shape.levels,
        decoded_config.value_min,
        decoded_config.value_max,
    )?;
    let cx = ChunkContext {
        shape,
        config: &decoded_config,
        levels: &decoded_levels,
        log_coded: pw_rel.is_some(),
        spread: false,
        major: crate::format::FORMAT_VERSION.0,
        residual_minor: crate::format::FORMAT_VERSION.1,
    };

    let per_level = opts.bound.is_per_level();
    let mut acc = PieceMetrics::new(if per_level { shape.levels.max(1) } else { 0 });
    let mut worst = 0.0f64;
    let mut candidates: Vec<RepackCandidate> = Vec::new();
    if let (None, false, Some(p)) = (pw_rel, levels.normalized, scan.packing) {
        let mut m = multiple.max(1);
        loop {
            candidates.push(RepackCandidate {
                lattice: Packing {
                    scale: p.scale * f64::from(m),
                    offset: p.offset,
                },
                acc: Some(PieceMetrics::new(0)),
            });
            if m == 1 {
                break;
            }
            m /= 2;
        }
    }

    // Chunks on a lattice finer than the bound code its indices, decided
    // per chunk exactly as the in-memory encoder decides (lattice.rs).
    let keep_zeros = levels.keep_zeros;
    let lattice = pw_rel.is_none()
        && !keep_zeros
        && !levels.normalized
        && opts.predictor == PredictorKind::None;
    let mut any_newer = false;
    let mut any_newest = false;
    let mut any_2_3 = false;
    let mut any_2_5 = false;
    let mut any_2_7 = false;
    spill.seek(SeekFrom::Start(0))?;
    let mut sections: Vec<Spilled> = Vec::new();
    let chunks = chunk_ranges(shape.frames, chunk_frames);
    progress.stage("residual", shape.frames as u64);
    for group in chunks.chunks(in_flight) {
        let pieces = group
            .iter()
            .map(|fr| checked_piece(src.read_frames(fr.clone())?, &shape, fr, scan.packing))
            .collect::<Result<Vec<_>>>()?;
        let done: Vec<Result<(CodedChunk, super::DecodedChunk)>> = group
            .par_iter()
            .zip(&pieces)
            .map(|(fr, piece)| {
                code_and_decode(
                    piece,
                    fr,
                    levels,
                    pw_rel.is_some(),
                    target,
                    config.constant,
                    keep_zeros,
                    lattice,
                    &cx,
                )
            })
            .collect();
        for ((fr, piece), d) in group.iter().zip(&pieces).zip(done) {
            let (coded, (vals, mask)) = d?;
            verify_piece(piece, &vals, mask.as_deref())?;
            if keep_zeros {
                crate::pw_rel::check_states(piece, &vals)?;
            }
            acc.add(piece, &vals)?;
            if let Some(r) = pw_rel {
                worst = worst.max(crate::pw_rel::worst(piece, &vals, r));
            }
            for c in &mut candidates {
                if let Some(a) = &mut c.acc {
                    if a.add_repacked(piece, &vals, c.lattice).is_err() {
                        c.acc = None;
                    }
                }
            }
            let frames = fr.start as u32..fr.end as u32;
            let check = check_payload(&vals);
            any_newer |= coded.newer;
            any_newest |= coded.newest;
            any_2_3 |= coded.v2_3;
            any_2_5 |= coded.v2_5;
            any_2_7 |= coded.v2_7;
            let residual_kind = if coded.indices {
                SectionKind::LatticeResidual
            } else {
                SectionKind::Residual
            };
            let parts = [
                (SectionKind::Mask, coded.mask.as_deref()),
                (SectionKind::Signs, coded.signs.as_deref()),
                (residual_kind, coded.residual.as_deref()),
                (SectionKind::Check, Some(check.as_slice())),
            ];
            for (kind, bytes) in parts {
                if let Some(b) = bytes {
                    spill.write_all(b)?;
                    sections.push(Spilled {
                        kind,
                        frames: frames.clone(),
                        len: b.len(),
                    });
                }
            }
            progress.inc(fr.len() as u64);
        }
    }
    spill.flush()?;
    if any_newer || any_newest || any_2_3 || any_2_5 || any_2_7 {
        let mut with = levels.clone();
        with.newer_chunks = any_newer;
        with.newest_chunks = any_newest;
        with.chunks_2_3 = any_2_3;
        with.chunks_2_5 = any_2_5;
        with.chunks_2_7 = any_2_7;
        header.extra = with.encode();
    }
    let metrics = acc.finish();
    if !per_level {
        opts.bound.check(&metrics)?;
    } else {
        worst = worst_level(&opts.bound, &acc.finish_levels());
    }
    if worst <= 1.0 {
        config.repack = candidates.iter().find_map(|c| {
            let m = c.acc.as_ref()?.finish();
            opts.bound.check(&m).is_ok().then_some(Repacking {
                scale: c.lattice.scale,
                offset: c.lattice.offset,
                max_abs: m.max_abs,
                rmse: m.rmse,
            })
        });
        if config.repack.is_some() {
            header.codec_config = to_toml(&config)?;
        }
    }
    Ok(Pass {
        header,
        sections,
        metrics,
        worst,
    })
}

/// Codes one chunk as the in-memory encoder does, and decodes it again.
#[allow(clippy::too_many_arguments)] // the chunk and each choice the in-memory encoder makes
fn code_and_decode(
    piece: &Field,
    fr: &Range<usize>,
    levels: &LevelInfo,
    pw_rel: bool,
    target: Target,
    constant: bool,
    keep_zeros: bool,
    lattice: bool,
    cx: &ChunkContext,
) -> Result<(CodedChunk, super::DecodedChunk)> {
    let logs = pw_rel.then(|| {
        (
            crate::pw_rel::to_log(piece),
            crate::pw_rel::zero_mask(piece),
        )
    });
    let zero_skip = keep_zeros.then(|| crate::pw_rel::zero_mask(piece));
    let normalized = levels.normalized.then(|| levels.normalize(piece));
    let coded_field = match (&logs, &normalized) {
        (Some((l, _)), _) => l,
        (None, Some(n)) => n,
        (None, None) => piece,
    };
    let whole = 0..fr.len();
    let whole = std::slice::from_ref(&whole);
    let mut coded = code_chunks(
        coded_field,
        whole,
        &[],
        target,
        constant,
        logs.as_ref()
            .map(|(_, skip)| (piece, skip.as_slice()))
            .or(zero_skip.as_ref().map(|skip| (piece, skip.as_slice()))),
        lattice,
        true,
        &super::NoProgress,
    )?;
    drop(logs);
    drop(normalized);
    let coded = coded
        .pop()
        .ok_or_else(|| Error::InvalidInput("a chunk coded to nothing".into()))?;
    let parts = ChunkParts {
        mask: coded.mask.as_deref(),
        signs: coded.signs.as_deref(),
        residual: coded.residual.as_deref(),
        fixes: None,
        indices: coded.indices,
        preview: None,
    };
    let decoded = decode_chunk_parts(cx, fr, &parts, None)?;
    Ok((coded, decoded))
}

/// The checks [`compress`](super::compress) makes on the whole decoded field, on one piece:
/// the same flagged elements, holding the same bits.
fn verify_piece(piece: &Field, back: &[f32], mask: Option<&[bool]>) -> Result<()> {
    fn any(m: Option<&[bool]>) -> Option<&[bool]> {
        m.filter(|m| m.iter().any(|&x| x))
    }
    if any(mask) != any(piece.missing.as_deref()) {
        return Err(Error::BoundViolated(
            "the missing-value mask did not round-trip".into(),
        ));
    }
    if let Some(m) = &piece.missing {
        let differs = m
            .iter()
            .zip(piece.values.iter().zip(back))
            .any(|(&f, (a, b))| f && a.to_bits() != b.to_bits());
        if differs {
            return Err(Error::BoundViolated(
                "a missing, NaN or infinite element did not come back bit for bit".into(),
            ));
        }
    }
    Ok(())
}

/// Payload bytes per section kind, in order of first appearance (as
/// [`ArchiveReader::bytes_by_kind`]).
fn bytes_by_kind(sections: &[Spilled]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for s in sections {
        let name = s.kind.name();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, b)) => *b += s.len,
            None => out.push((name, s.len)),
        }
    }
    out
}

/// A writer that counts the bytes it passes on.
struct Counted<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The length of the one-variable archive of `header` and `sections`
/// (the payloads' contents do not change it).
fn archive_len(header: &Header, sections: &[Spilled]) -> Result<usize> {
    let sink = Counted {
        inner: std::io::sink(),
        n: 0,
    };
    let kinds: Vec<SectionKind> = sections.iter().map(|s| s.kind).collect();
    let mut w = ArchiveWriter::to_writer_with(sink, header, &kinds)?;
    let mut zeros = Vec::new();
    for s in sections {
        zeros.resize(s.len, 0u8);
        w.add_section(s.kind, s.frames.clone(), None, &zeros)?;
    }
    let n = w.finish()?.n;
    usize::try_from(n).map_err(|_| Error::InvalidInput("archive exceeds the address space".into()))
}

/// Writes the archive whose variable `k` is `vars[k]` to `out` (one
/// variable: the archive [`compress`](super::compress) writes; several: the one
/// [`compress_many`](super::compress_many) writes), copying each section from its spill, one at a
/// time. Returns `out` and the archive's length.
pub fn write_archive<S: Read + Seek, W: Write>(
    vars: &mut [StreamedVariable<S>],
    out: W,
) -> Result<(W, u64)> {
    let headers: Vec<&Header> = vars.iter().map(|v| &v.header).collect();
    let header = crate::format::merged_header(&headers)?;
    let out = Counted { inner: out, n: 0 };
    let kinds: Vec<SectionKind> = vars
        .iter()
        .flat_map(|v| v.sections.iter().map(|s| s.kind))
        .collect();
    let mut w = ArchiveWriter::to_writer_with(out, &header, &kinds)?;
    let mut buf = Vec::new();
    for (k, v) in vars.iter_mut().enumerate() {
        let k = u32::try_from(k).map_err(|_| Error::InvalidInput("too many variables".into()))?;
        v.spill.seek(SeekFrom::Start(0))?;
        for s in &v.sections {
            buf.resize(s.len, 0u8);
            v.spill.read_exact(&mut buf)?;
            w.add_variable_section(k, s.kind, s.frames.clone(), None, &buf)?;
        }
    }
    let out = w.finish()?;
    Ok((out.inner, out.n))
}

/// Decodes variable view `reader` (frames `frames`, or all) a batch of
/// `batch_chunks` chunks at a time, calling `sink` with each batch's frame
/// range (within the whole variable) and values, in frame order. Memory is
/// bounded by the batch, not by the variable; the checks are those of
/// [`super::decompress_with`].
pub fn decompress_streamed(
    reader: &ArchiveReader,
    frames: Option<Range<usize>>,
    opts: &DecodeOptions,
    batch_chunks: usize,
    sink: &mut dyn FnMut(Range<usize>, Field) -> Result<()>,
) -> Result<()> {
    for b in batches(reader.header(), frames, batch_chunks)? {
        decode_batch(reader, b, opts, sink)?;
    }
    Ok(())
}

/// [`decompress_streamed`] of variable `k` of an archive file: each batch
/// reads only its own sections ([`ArchiveFile::excerpt`]), so memory is
/// bounded by the batch, not by the archive either.
pub fn decompress_file_streamed(
    file: &ArchiveFile,
    k: usize,
    frames: Option<Range<usize>>,
    opts: &DecodeOptions,
    batch_chunks: usize,
    sink: &mut dyn FnMut(Range<usize>, Field) -> Result<()>,
) -> Result<()> {
    let header = file.header().variable(k).ok_or_else(|| {
        Error::InvalidInput(format!(
            "no variable {k}: the archive has {}",
            file.header().variable_count()
        ))
    })?;
    // An excerpt is labelled by its own writer: the file's label is
    // checked against what the variable announces here.
    let config = parse_config(&header)?;
    let levels = LevelInfo::decode(
        &header.extra,
        header.shape.levels,
        config.value_min,
        config.value_max,
    )?;
    super::check_announced(&levels, file.version())?;
    for b in batches(&header, frames, batch_chunks)? {
        let bytes = file.excerpt(k, b.clone())?;
        let reader = ArchiveReader::open(&bytes)?;
        decode_batch(&reader, b, opts, sink)?;
    }
    Ok(())
}

/// The frame ranges of the batches of [`decompress_streamed`]: `frames`
/// (or all) cut at every `batch_chunks`-th chunk boundary, so that no chunk
/// is decoded twice.
fn batches(
    header: &Header,
    frames: Option<Range<usize>>,
    batch_chunks: usize,
) -> Result<Vec<Range<usize>>> {
    let config = parse_config(header)?;
    let shape = header.shape;
    let want = frames.unwrap_or(0..shape.frames);
    if want.start >= want.end || want.end > shape.frames {
        return Err(Error::InvalidInput(format!(
            "frames {}..{} are not within the archive's {} frames",
            want.start, want.end, shape.frames
        )));
    }
    let c = config.chunk_frames.min(shape.frames).max(1);
    let step = c.saturating_mul(batch_chunks.max(1));
    let mut out = Vec::new();
    let mut a = want.start;
    while a < want.end {
        let b = ((a / c) * c).saturating_add(step).min(want.end);
        out.push(a..b);
        a = b;
    }
    Ok(out)
}

fn decode_batch(
    reader: &ArchiveReader,
    b: Range<usize>,
    opts: &DecodeOptions,
    sink: &mut dyn FnMut(Range<usize>, Field) -> Result<()>,
) -> Result<()> {
    let plan = plan_decode(reader, Some(b.clone()), opts)?;
    let predictions = decode_predictions(reader, &plan.config, &plan.shape, &plan.pred_sections)?;
    let field = decode_chunks(reader, &plan, &predictions, opts)?;
    sink(b, field)
}

/// The metadata of frames `frames` of the variable `header` describes
/// (what [`super::decompress_variable`] returns with the field).
pub fn variable_meta(header: &Header, frames: Option<Range<usize>>) -> Result<DatasetMeta> {
    let total = header.shape.frames;
    match frames {
        Some(r) if r != (0..total) => header.meta.select_frames(r, total),
        _ => Ok(header.meta.clone()),
    }
}

/// The interval every valid decoded value of the variable `header`
/// describes lies in (decoders clamp into it): its `value_min`,
/// `value_max`. A writer that must decide before decoding (a fill value, a
/// re-packing) decides from it.
pub fn value_range(header: &Header) -> Result<(f64, f64)> {
    let c = parse_config(header)?;
    Ok((c.value_min, c.value_max))
}
