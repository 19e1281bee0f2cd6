//! The residual coder: hiha's guarantee stage.
//!
//! Given the data `x` and an optional prediction `p` (from FIC, or none), it
//! codes `x − p` so that the decoded reconstruction, *as f32*, meets the
//! target on every element. With no prediction it is a complete
//! error-bounded compressor on its own.
//!
//! API contract:
//! - [`encode`] / [`decode`] work on an N-D block (`dims`, row-major, up to 4
//!   axes, axes of length 1 allowed), with an optional missing mask: masked
//!   elements are never read (their values may be NaN) and decode leaves NaN
//!   there.
//! - `decode(encode(x, p, ...), p, ...)` gives a reconstruction `x̂` with
//!   `|x − x̂| ≤ e` on every valid element for [`Target::MaxAbs`] and
//!   `rmse(x, x̂) ≤ r` for [`Target::Rmse`], computed in f64 on the f32 values.
//! - The decoder must receive bit-identical `prediction` values.
//!
//! Methods (the first byte of the stream):
//! - `0`: no valid element; nothing follows but the checksum;
//! - `1`: SZ-style path ([`quantize`]): multilevel linear/cubic interpolation
//!   or Lorenzo prediction on reconstructed values, uniform quantisation,
//!   context-modelled range coding of the indices;
//! - `2`: the wavelet path ([`wavelet`], SPERR-like CDF 9/7), which codes the
//!   residual `x − p` in f64; the final value is `f32(p + r̂)`;
//! - `3`: the wavelet path with its corrections as a significance map;
//! - `4` (format 2.7): integers coded losslessly ([`integer`]), for blocks
//!   of integers with no prediction and a pointwise bound below ½ (lattice
//!   indices); nothing follows its payload.
//!
//! Encode runs both paths (in parallel) and keeps the smaller stream.
//! Stream: `tag u8 | crc32(rest) u32 LE | payload length (LEB128) | payload |
//! outliers` where the outliers ([`outliers`]) are exact corrections of any
//! element that misses the bound after the method's own f32 reconstruction
//! (empty, zero bytes, for the SZ path in practice). Encode verifies the
//! final reconstruction against the target before returning.

mod integer;
mod interp;
mod outliers;
mod quantize;
mod search;
pub mod wavelet;

use crate::error::{Error, Result};
use interp::Grid;
use std::ops::Range;

/// What the residual coder must achieve on its block.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Target {
    /// Pointwise bound, in the data's units.
    MaxAbs(f64),
    /// Root-mean-square error bound over the block's valid elements.
    Rmse(f64),
}

/// The SZ-style path is coded only when its estimated payload is below this
/// factor times the wavelet stream's size: the estimate is within about 1 %
/// of the coded size (docs/ALGORITHM.md, "Speed of the entropy coder and of
/// the step search"), so a path estimated this far behind cannot win.
const SZ_CODED_BELOW: f64 = 1.06;

const TAG_EMPTY: u8 = 0;
const TAG_SZ: u8 = 1;
const TAG_WAVELET: u8 = 2;
/// Format 2.3: the wavelet path, its max-abs corrections coded as a
/// significance map (see `wavelet::uses_map`); otherwise as tag 2.
const TAG_WAVELET_MAP: u8 = 3;
/// Format 2.7: integers coded losslessly ([`integer`]).
const TAG_INTEGER: u8 = 4;

fn is_wavelet(tag: u8) -> bool {
    tag == TAG_WAVELET || tag == TAG_WAVELET_MAP
}

fn check_shape(
    n: usize,
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
    what: &str,
) -> Result<()> {
    if dims.is_empty() || dims.len() > 4 {
        return Err(Error::InvalidInput(format!(
            "residual block needs 1 to 4 axes, got {}",
            dims.len()
        )));
    }
    let len = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::InvalidInput(format!("residual block dims {dims:?} overflow")))?;
    if len != n {
        return Err(Error::InvalidInput(format!(
            "residual block dims {dims:?} hold {len} elements, {what} has {n}"
        )));
    }
    if let Some(p) = prediction {
        if p.len() != n {
            return Err(Error::InvalidInput(format!(
                "prediction has {} values, block has {n}",
                p.len()
            )));
        }
    }
    if let Some(m) = missing {
        if m.len() != n {
            return Err(Error::InvalidInput(format!(
                "missing mask has {} entries, block has {n}",
                m.len()
            )));
        }
    }
    Ok(())
}

fn valid_count(n: usize, missing: Option<&[bool]>) -> usize {
    missing.map_or(n, |m| m.iter().filter(|&&b| !b).count())
}

fn put_leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_leb128(bytes: &[u8]) -> Result<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let part = (b & 0x7f) as u64;
        if i == 9 && part > 1 {
            return Err(Error::Corrupt("residual length field overflows".into()));
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    if bytes.len() < 10 {
        Err(Error::Truncated("residual length field".into()))
    } else {
        Err(Error::Corrupt("residual length field too long".into()))
    }
}

fn frame(tag: u8, payload: &[u8], outliers: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + outliers.len() + 10);
    if tag != TAG_EMPTY {
        put_leb128(&mut body, payload.len() as u64);
        body.extend_from_slice(payload);
        body.extend_from_slice(outliers);
    }
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Checks the final reconstruction against the target; a miss is a bug.
fn verify(
    x: &[f32],
    recon: &[f32],
    missing: Option<&[bool]>,
    target: Target,
    nvalid: usize,
) -> Result<()> {
    let mut sse = 0.0f64;
    let mut worst = 0.0f64;
    for i in 0..x.len() {
        if missing.is_some_and(|m| m[i]) {
            continue;
        }
        if x[i].to_bits() == recon[i].to_bits() {
            continue;
        }
        let d = (x[i] as f64 - recon[i] as f64).abs();
        if !d.is_finite() {
            return Err(Error::BoundViolated(format!(
                "residual coder reconstructed element {i} as {} for {}",
                recon[i], x[i]
            )));
        }
        sse += d * d;
        worst = worst.max(d);
    }
    match target {
        Target::MaxAbs(e) if worst > e => Err(Error::BoundViolated(format!(
            "residual coder max abs error {worst:e} above {e:e}"
        ))),
        Target::Rmse(r) if nvalid > 0 && (sse / nvalid as f64).sqrt() > r => {
            Err(Error::BoundViolated(format!(
                "residual coder RMSE {:e} above {r:e}",
                (sse / nvalid as f64).sqrt()
            )))
        }
        _ => Ok(()),
    }
}

/// Whether a residual stream uses a coding that format 2.0 readers do not
/// know (the wavelet coder's level profile, new in 2.1, or a coding new in
/// 2.2), so that the archive holding it must be labelled 2.1 or newer.
pub fn needs_format_2_1(stream: &[u8]) -> bool {
    format_minor(stream) >= 1
}

/// The wavelet mode byte of a residual stream (`None` for other methods;
/// for diagnostics and tests).
pub fn wavelet_mode(stream: &[u8]) -> Option<u8> {
    if !stream.first().is_some_and(|&t| is_wavelet(t)) {
        return None;
    }
    let body = &stream[5.min(stream.len())..];
    let (_, used) = get_leb128(body).ok()?;
    body.get(used).copied()
}

/// The oldest minor of format 2 that defines the coding of a residual
/// stream: 7 for integers coded losslessly (tag 4), 5 for the wavelet coder's zero maps (new in 2.5), 3 for the
/// wavelet coder's primed models, its segmented streams
/// and max-abs corrections as a significance map (tag 3; all new in 2.3), 2
/// for its packet plan and quantised level profile (new in 2.2), 1 for its
/// level profile (2.1), else 0.
pub fn format_minor(stream: &[u8]) -> u16 {
    if stream.first() == Some(&TAG_INTEGER) {
        return 7;
    }
    let byte = wavelet_mode(stream);
    if byte.is_some_and(|b| b & wavelet::ZERO_MAP != 0) {
        return 5;
    }
    let mode = match byte {
        Some(
            wavelet::MODE_WAVELET_P
            | wavelet::MODE_PACKET_P
            | wavelet::MODE_PROFILE_QP
            | wavelet::MODE_SEG
            | wavelet::MODE_PROFILE_Q_SEG,
        ) => 3,
        Some(wavelet::MODE_PACKET | wavelet::MODE_PROFILE_Q) => 2,
        Some(wavelet::MODE_PROFILE) => 1,
        _ => 0,
    };
    if stream.first() == Some(&TAG_WAVELET_MAP) {
        mode.max(3)
    } else {
        mode
    }
}

/// Encodes `data` (minus `prediction`, when given) to meet `target`.
pub fn encode(
    data: &[f32],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
    target: Target,
) -> Result<Vec<u8>> {
    encode_with(data, prediction, dims, missing, target, true)
}

/// [`encode`], with `self_check` choosing whether the wavelet stream is
/// decoded again and dropped (for the SZ-style one) unless the decoder
/// reproduces the encoder's reconstruction bit for bit. A caller that
/// decodes and verifies the stream itself (`codec::compress` verifies every
/// element of the archive) may skip it: that decode costs 10–20 % of an
/// encode at fine bounds.
pub fn encode_with(
    data: &[f32],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
    target: Target,
    self_check: bool,
) -> Result<Vec<u8>> {
    check_shape(data.len(), prediction, dims, missing, "data")?;
    let t = match target {
        Target::MaxAbs(v) | Target::Rmse(v) => v,
    };
    if !t.is_finite() || t < 0.0 {
        return Err(Error::InvalidInput(format!(
            "residual target must be a finite number at or above 0, got {t}"
        )));
    }
    let nvalid = valid_count(data.len(), missing);
    if nvalid == 0 {
        return Ok(frame(TAG_EMPTY, &[], &[]));
    }
    // Integers that must come back exactly (lattice indices): coded
    // losslessly in one pass, smaller than the lossy paths' streams on
    // every shared field (docs/ALGORITHM.md, "Lossless lattice indices").
    if let Target::MaxAbs(e) = target {
        if prediction.is_none() && integer::applies(data, missing, e) {
            let payload = integer::encode(data, dims, missing, 0);
            // Checked when asked; a stream that fails its check (never
            // seen) gives way to the lossy paths rather than an error.
            let ok = !self_check
                || integer::decode(&payload, dims, missing)
                    .is_ok_and(|back| verify(data, &back, missing, target, nvalid).is_ok());
            if ok {
                return Ok(frame(TAG_INTEGER, &payload, &[]));
            }
        }
    }
    encode_lossy(data, prediction, dims, missing, target, self_check, nvalid)
}

#[allow(clippy::too_many_arguments)]
fn encode_lossy(
    data: &[f32],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
    target: Target,
    self_check: bool,
    nvalid: usize,
) -> Result<Vec<u8>> {
    let grid = Grid::new(dims);
    let block = quantize::Block {
        grid: &grid,
        x: data,
        p: prediction,
        mask: missing,
        nvalid,
    };
    // Both paths run in parallel, the SZ path up to its size estimates
    // only: it is coded when its best estimate comes near the wavelet
    // stream (it rarely wins), so most blocks never pay for its coding.
    let (candidates, wv) = rayon::join(
        || match target {
            Target::MaxAbs(e) => quantize::candidates_max_abs(&block, e, &quantize::CONFIGS),
            Target::Rmse(r) => quantize::candidates_rmse(&block, r, &quantize::CONFIGS),
        },
        || encode_wavelet(data, prediction, dims, missing, target, nvalid, self_check),
    );
    let best = quantize::best_estimate(&candidates);
    match wv {
        Some(w) if best > w.len() as f64 * SZ_CODED_BELOW => Ok(w),
        wv => {
            let (payload, pass) = quantize::encode_candidates(&block, &candidates);
            let sz = guarantee(TAG_SZ, &payload, pass.recon, data, missing, target, nvalid)?;
            Ok(match wv {
                Some(w) if w.len() < sz.len() => w,
                _ => sz,
            })
        }
    }
}

/// Integers (every valid value an integer of magnitude at most 2^24) coded
/// near-losslessly: every decoded value within `near` (≥ 1) of its own
/// (format 2.7, residual tag 4). For lattice indices at a pointwise bound of
/// `near` steps or more, beside the lossy paths on the values.
pub fn encode_integer_near(
    data: &[f32],
    dims: &[usize],
    missing: Option<&[bool]>,
    near: u32,
) -> Result<Vec<u8>> {
    check_shape(data.len(), None, dims, missing, "data")?;
    if near == 0 || !integer::applies(data, missing, 0.0) {
        return Err(Error::InvalidInput(
            "near-lossless coding needs integers and a bound of at least 1".into(),
        ));
    }
    Ok(frame(
        TAG_INTEGER,
        &integer::encode(data, dims, missing, near),
        &[],
    ))
}

/// Corrects any element of the method's final reconstruction `recon` that
/// misses the target with an exact outlier, verifies, and frames the stream.
fn guarantee(
    tag: u8,
    payload: &[u8],
    mut recon: Vec<f32>,
    data: &[f32],
    missing: Option<&[bool]>,
    target: Target,
    nvalid: usize,
) -> Result<Vec<u8>> {
    let list = match target {
        Target::MaxAbs(e) => outliers::fix_max_abs(data, &mut recon, missing, e),
        Target::Rmse(r) => outliers::fix_rmse(data, &mut recon, missing, r, nvalid),
    };
    verify(data, &recon, missing, target, nvalid)?;
    Ok(frame(tag, payload, &outliers::encode(&list)))
}

/// The wavelet path, or `None` when it does not apply (non-finite values in
/// valid slots) or fails in any way (the SZ path then stands alone).
fn encode_wavelet(
    data: &[f32],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
    target: Target,
    nvalid: usize,
    self_check: bool,
) -> Option<Vec<u8>> {
    let n = data.len();
    let is_missing = |i: usize| missing.is_some_and(|m| m[i]);
    let mut values = vec![0.0f64; n];
    for (i, v) in values.iter_mut().enumerate() {
        if is_missing(i) {
            continue;
        }
        let r = data[i] as f64 - prediction.map_or(0.0, |p| p[i] as f64);
        if !r.is_finite() {
            return None;
        }
        *v = r;
    }
    let valid: Option<Vec<bool>> = missing.map(|m| m.iter().map(|&b| !b).collect());
    let (payload, rec) = wavelet::encode(&values, valid.as_deref(), dims, target).ok()?;
    if rec.len() != n {
        return None;
    }
    // The decoder must reproduce the reconstruction bit for bit; check it
    // (unless the caller verifies the decoded stream itself).
    if self_check {
        let again = wavelet_decode(&payload, dims).ok()?;
        if again.len() != n
            || again
                .iter()
                .zip(&rec)
                .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            return None;
        }
    }
    let recon = final_values(&rec, prediction, missing);
    let tag = if wavelet::uses_map(&payload, dims).ok()? {
        TAG_WAVELET_MAP
    } else {
        TAG_WAVELET
    };
    guarantee(tag, &payload, recon, data, missing, target, nvalid).ok()
}

/// [`wavelet::decode`], with any panic on a malformed (but checksummed)
/// stream turned into [`Error::Corrupt`]: the residual coder never panics on
/// bad bytes, whatever its sub-coders do.
fn wavelet_decode(payload: &[u8], dims: &[usize]) -> Result<Vec<f64>> {
    std::panic::catch_unwind(|| wavelet::decode(payload, dims))
        .unwrap_or_else(|_| Err(Error::Corrupt("malformed wavelet residual stream".into())))
}

/// `f32(p + r̂)` on valid elements, NaN on missing ones.
fn final_values(rec: &[f64], prediction: Option<&[f32]>, missing: Option<&[bool]>) -> Vec<f32> {
    rec.iter()
        .enumerate()
        .map(|(i, &r)| {
            if missing.is_some_and(|m| m[i]) {
                f32::NAN
            } else {
                (prediction.map_or(0.0, |p| p[i] as f64) + r) as f32
            }
        })
        .collect()
}

/// How many first bytes of a residual stream for `dims` [`preview_plan`]
/// needs to see (the stream may be shorter).
pub fn preview_header_len(dims: &[usize]) -> Result<usize> {
    // Tag, CRC, the payload length, then the wavelet headers.
    wavelet::preview_header_len(dims)?
        .checked_add(15)
        .ok_or_else(|| Error::InvalidInput("block too large".into()))
}

/// What a coarse preview at level `k` reads of a residual stream of
/// `total` bytes whose first bytes are `head` (at least
/// [`preview_header_len`] of them, or all): offsets from the stream's first
/// byte. The headers and the kept bands' own streams are read whole; of the
/// shared stream, a prefix long enough for [`preview_shared_ok`]. `None`
/// when the stream is not progressive (the SZ path, a raw or constant
/// wavelet block, no valid element): it is to be read and decoded whole.
pub fn preview_plan(
    head: &[u8],
    total: usize,
    dims: &[usize],
    k: usize,
    vertical: bool,
) -> Result<Option<PreviewPlan>> {
    let (start, end) = match payload_span(head, total)? {
        Some(x) => x,
        None => return Ok(None),
    };
    let payload_head = &head[start.min(head.len())..end.min(head.len())];
    let shift = |r: Range<usize>| r.start + start..r.end + start;
    Ok(
        wavelet::preview_plan(payload_head, dims, end - start, k, vertical)?.map(|p| PreviewPlan {
            header: 0..p.header.end + start,
            shared: shift(p.shared),
            shared_guess: p.shared_guess,
            own: p.own.into_iter().map(shift).collect(),
        }),
    )
}

/// What a preview reads of a residual stream: see [`preview_plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewPlan {
    /// The stream's headers, from byte 0.
    pub header: Range<usize>,
    /// The wavelet coder's shared stream, of which a prefix is needed.
    pub shared: Range<usize>,
    /// A first guess of that prefix's length.
    pub shared_guess: usize,
    /// The kept bands' own streams.
    pub own: Vec<Range<usize>>,
}

/// The payload's span in a wavelet residual stream (`None`: not one).
fn payload_span(head: &[u8], total: usize) -> Result<Option<(usize, usize)>> {
    if head.len() < 5 || total < 5 {
        return Err(Error::Truncated("residual stream header".into()));
    }
    if !is_wavelet(head[0]) {
        return Ok(None);
    }
    let (len, used) = get_leb128(&head[5..])?;
    let start = 5 + used;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(start))
        .filter(|&e| e <= total)
        .ok_or_else(|| Error::Truncated("residual payload".into()))?;
    Ok(Some((start, end)))
}

/// Whether a residual stream `bytes` (full length; the plan's header and
/// the first `prefix` bytes of its shared stream read) holds all that a
/// preview at level `k` decodes from the shared stream. Never panics on
/// damaged bytes.
pub fn preview_shared_ok(
    bytes: &[u8],
    dims: &[usize],
    k: usize,
    vertical: bool,
    prefix: usize,
) -> Result<bool> {
    let Some((start, end)) = payload_span(bytes, bytes.len())? else {
        return Ok(true);
    };
    let payload = &bytes[start..end];
    std::panic::catch_unwind(|| wavelet::preview_shared_ok(payload, dims, k, vertical, prefix))
        .unwrap_or_else(|_| Err(Error::Corrupt("malformed wavelet residual stream".into())))
}

/// A coarse preview of a wavelet-coded residual stream without prediction:
/// the wavelet bands of level ≥ `k` (and with `vertical` the finer bands
/// that are high-pass along neither of the last two axes), the finer ones
/// taken as zero; outliers are skipped. Only the bytes [`preview_plan`]
/// names are read (`bytes` has the stream's full length; the rest may hold
/// anything), so the stream's checksum is **not** verified. Returns the
/// full-size block with values at the preview grid's points only (every
/// 2^k-th of the last two axes, from index 0) and NaN elsewhere and on
/// missing elements, for the caller to subsample. Never panics on damaged
/// bytes.
pub fn decode_preview(
    bytes: &[u8],
    dims: &[usize],
    missing: Option<&[bool]>,
    k: usize,
    vertical: bool,
) -> Result<Vec<f32>> {
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    check_shape(n, None, dims, missing, "the product")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if bytes.len() < 5 {
        return Err(Error::Truncated("residual stream header".into()));
    }
    if !is_wavelet(bytes[0]) {
        return Err(Error::InvalidInput(
            "only a wavelet residual stream has a preview".into(),
        ));
    }
    let (len, used) = get_leb128(&bytes[5..])?;
    let rest = &bytes[5 + used..];
    if len > rest.len() as u64 {
        return Err(Error::Truncated("residual payload".into()));
    }
    let payload = &rest[..len as usize];
    let rec = std::panic::catch_unwind(|| wavelet::decode_preview(payload, dims, k, vertical))
        .unwrap_or_else(|_| Err(Error::Corrupt("malformed wavelet residual stream".into())))?;
    // The points of the preview grid, in the full block; NaN elsewhere.
    let (outer, lat, lon) = wavelet::horizontal_split(dims)?;
    let step = 1usize << k.min(16);
    let (lat2, lon2) = (lat.div_ceil(step), lon.div_ceil(step));
    if rec.len() != outer * lat2 * lon2 {
        return Err(Error::Corrupt("wavelet block has the wrong size".into()));
    }
    let mut out = vec![f32::NAN; n];
    let mut it = rec.iter();
    for o in 0..outer {
        for i in (0..lat).step_by(step) {
            for j in (0..lon).step_by(step) {
                let at = (o * lat + i) * lon + j;
                let r = *it.next().unwrap_or(&f64::NAN);
                if !missing.is_some_and(|m| m[at]) {
                    out[at] = r as f32;
                }
            }
        }
    }
    Ok(out)
}

/// Decodes what [`encode`] produced, given the same prediction, dims and mask.
pub fn decode(
    bytes: &[u8],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
) -> Result<Vec<f32>> {
    decode_as(
        bytes,
        prediction,
        dims,
        missing,
        crate::format::FORMAT_VERSION.1,
    )
}

/// [`decode`] of a stream from an archive whose codings stop at format
/// minor `minor` (see [`format_minor`]): a stream using a newer coding is
/// refused as corrupt.
pub fn decode_as(
    bytes: &[u8],
    prediction: Option<&[f32]>,
    dims: &[usize],
    missing: Option<&[bool]>,
    minor: u16,
) -> Result<Vec<f32>> {
    if format_minor(bytes) > minor {
        return Err(Error::Corrupt(format!(
            "residual stream uses a coding new in format 2.{}, in an archive whose \
             codings stop at 2.{minor}",
            format_minor(bytes)
        )));
    }
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    check_shape(n, prediction, dims, missing, "the product")?;
    if n == 0 {
        // Nothing to decode; the coders are not run, since their loops over
        // the other axes would not be bounded by the (zero) element count.
        return Ok(Vec::new());
    }
    if bytes.len() < 5 {
        return Err(Error::Truncated("residual stream header".into()));
    }
    let tag = bytes[0];
    let crc = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let body = &bytes[5..];
    if crc32fast::hash(body) != crc {
        return Err(Error::Checksum {
            section: "residual".into(),
        });
    }
    let nvalid = valid_count(n, missing);
    match tag {
        TAG_EMPTY => {
            if nvalid != 0 || !body.is_empty() {
                return Err(Error::Corrupt(
                    "empty residual stream for a block with valid elements".into(),
                ));
            }
            Ok(vec![f32::NAN; n])
        }
        TAG_INTEGER => {
            let (len, used) = get_leb128(body)?;
            let rest = &body[used..];
            if len != rest.len() as u64 {
                return Err(Error::Corrupt("integer residual payload length".into()));
            }
            integer::decode(rest, dims, missing)
        }
        TAG_SZ | TAG_WAVELET | TAG_WAVELET_MAP => {
            let (len, used) = get_leb128(body)?;
            let rest = &body[used..];
            if len > rest.len() as u64 {
                return Err(Error::Truncated("residual payload".into()));
            }
            let (payload, outl) = rest.split_at(len as usize);
            let mut out = if tag == TAG_SZ {
                let grid = Grid::new(dims);
                quantize::decode(payload, &grid, prediction, missing)?
            } else {
                let rec = wavelet_decode(payload, dims)?;
                // A map only under tag 3, and tag 3 only with a map.
                if (tag == TAG_WAVELET_MAP) != wavelet::uses_map(payload, dims).unwrap_or(false) {
                    return Err(Error::Corrupt(format!(
                        "residual tag {tag} and its wavelet corrections disagree"
                    )));
                }
                if rec.len() != n {
                    return Err(Error::Corrupt("wavelet block has the wrong size".into()));
                }
                final_values(&rec, prediction, missing)
            };
            for (i, bits) in outliers::decode(outl, n)? {
                if missing.is_some_and(|m| m[i]) {
                    return Err(Error::Corrupt("outlier on a missing element".into()));
                }
                out[i] = f32::from_bits(bits);
            }
            Ok(out)
        }
        t => Err(Error::Unsupported(format!("residual method {t}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Format 2.3: a wavelet stream whose corrections are a significance map
    /// is framed with tag 3 and decodes only for 2.3 (masked, bound on every
    /// valid element); tag 2 around a map is refused.
    #[test]
    fn map_streams_need_format_2_3() {
        let dims = [6usize, 20, 30];
        let n = 3600;
        let data: Vec<f32> = (0..n)
            .map(|i| {
                let (a, b, c) = ((i / 600) as f32, ((i / 30) % 20) as f32, (i % 30) as f32);
                280.0
                    + 5.0 * (0.3 * b).sin() * (0.2 * c).cos()
                    + a
                    + (i * 7919 % 101) as f32 * 0.001
            })
            .collect();
        let mask: Vec<bool> = (0..n).map(|i| i % 37 == 5).collect();
        let values: Vec<f64> = data
            .iter()
            .zip(&mask)
            .map(|(&v, &m)| if m { 0.0 } else { v as f64 })
            .collect();
        let valid: Vec<bool> = mask.iter().map(|&m| !m).collect();
        // The first bound whose stream codes its corrections as a map (the
        // encoder keeps a map only where it is smaller than the gap list).
        let (e, payload, rec) = [
            0.01, 0.003, 0.03, 0.001, 0.1, 0.3, 0.02, 0.05, 0.005, 0.0003,
        ]
        .into_iter()
        .find_map(|e| {
            let (p, r) =
                wavelet::encode_opts(&values, Some(&valid), &dims, Target::MaxAbs(e), true)
                    .expect("encode");
            wavelet::uses_map(&p, &dims)
                .expect("parts")
                .then_some((e, p, r))
        })
        .expect("some bound codes its corrections as a map");
        let t = Target::MaxAbs(e);
        let recon = final_values(&rec, None, Some(&mask));
        let nvalid = valid_count(n, Some(&mask));
        let s = guarantee(
            TAG_WAVELET_MAP,
            &payload,
            recon,
            &data,
            Some(&mask),
            t,
            nvalid,
        )
        .expect("frame");
        // The map is new in 2.3; the stream around it also has the zero
        // map of 2.5.
        assert_eq!(format_minor(&s), 5);
        assert!(decode_as(&s, None, &dims, Some(&mask), 4).is_err());
        let out = decode_as(&s, None, &dims, Some(&mask), 5).expect("2.5");
        for i in 0..n {
            if mask[i] {
                assert!(out[i].is_nan());
            } else {
                assert!((out[i] as f64 - data[i] as f64).abs() <= e, "at {i}");
            }
        }
        assert!(decode_as(&s, None, &dims, Some(&mask), 2).is_err());
        // The same body under tag 2: refused.
        let mut relabelled = vec![TAG_WAVELET];
        relabelled.extend_from_slice(&crc32fast::hash(&s[5..]).to_le_bytes());
        relabelled.extend_from_slice(&s[5..]);
        assert!(decode_as(&relabelled, None, &dims, Some(&mask), 3).is_err());
        // A stream without a map under tag 3: refused.
        let (plain, _) =
            wavelet::encode_opts(&values, Some(&valid), &dims, t, false).expect("encode");
        let framed = frame(TAG_WAVELET_MAP, &plain, &[]);
        assert!(decode_as(&framed, None, &dims, Some(&mask), 3).is_err());
    }
}
