//! TRC, temporal residual compression: frames `T → T+1` of a time series
//! coded against the previous frame's predictor state.
//!
//! A chain is one keyframe, coded from scratch by FIC ([`crate::predictor::fic`]), and
//! up to `max_chain − 1` delta frames. The chain shares the keyframe's
//! normalisation (per-level offset/scale and zonal climatology), so every
//! frame of a chain lives in the same normalised units. A delta frame
//! `T+1` is coded as (HIHA.md §5):
//!
//! ```text
//! a(T+1) = normalise with the keyframe's parameters ─ spectral split ─┬ high ─ SSM (sparse, as FIC)
//!                                                                     ├ low  ─ MIM of T, SIRENs fine-tuned from T's (weight deltas)
//!                                                                     └ rest = a − low^ − ssm^ − rest^(T) ─ Laplacian pyramid
//!                                                                        (thumbnail SIREN + OI upscale + block SIRENs)
//! rest^(T+1) = rest^(T) + pyramid,   prediction = denormalise(low^ + rest^(T+1) + ssm^)
//! ```
//!
//! `rest^` is the part of the prediction that is neither the low band nor
//! the sparse store: the IDM octree's output on a keyframe, then
//! accumulated delta by delta (closed loop: every delta is fitted against
//! the *decoded* state, so quantisation errors do not accumulate).
//!
//! **Retraining judgment.** A delta frame whose predictor RMSE (data units)
//! exceeds `max(key_rmse · (1 + drift_limit), target_rmse)` is thrown away
//! and the frame is coded as a keyframe; so is the frame after `max_chain − 1`
//! deltas, and any frame that follows a keyframe without a MIM stage
//! (FIC's gain check dropped it) or a [`TrcEncoder::reset`]. With
//! `cost_check`, a delta is also rejected when its estimated predictor +
//! residual bytes exceed the keyframe's.
//!
//! **Rate criterion.** Every network a delta frame stores (a fine-tuned
//! weight difference, a new block network, the rest pyramid) must pay for
//! itself: its bytes must be below the residual bytes it saves, estimated
//! as `½·log2` of the cut in squared error per element, down to the
//! caller's target. A network that does not pay is carried over (or
//! dropped); low-band blocks get no new networks (the keyframe decided).
//!
//! **Determinism.** The encoder computes its prediction and its next state
//! by decoding its own section bytes with the decoder's code
//! ([`TrcDecoder`] and [`TrcEncoder`] share `apply_delta`); networks are
//! evaluated only by [`Siren::predict`] on dequantised stored weights, a
//! delta weight is applied as one f32 addition, everything else is
//! sequential f64 code.
//!
//! # Delta section layout (`SectionKind::Trc`, one per delta frame)
//!
//! ```text
//! version u8 = 1 | flags u8 (bit 0 SSM, bit 1 rest pyramid)
//! [SSM blob]                    LEB128 length + SparseStore bytes
//! low pyramid  (reference: the previous frame's low model; params inherited)
//! [rest pyramid] (no reference) interp u8 | factors 3×u8 | oi_sigma f32 | oi_r f32 | oi_max_iter u16 | pyramid
//! pyramid = thumb mode u8 | [thumb blob] | block count u8 | 2-bit block modes (packed, LSB first) | block blobs
//! mode: 0 none, 1 carry (the reference's network), 2 delta (reference + dequantised difference), 3 full
//! ```
//!
//! See `docs/ALGORITHM.md`, "TRC", for the decisions and measurements.

use crate::error::{Error, Result};
use crate::format::SectionKind;
use crate::predictor::fic::{self, FicConfig, FicGrid, NetSpec};
use crate::predictor::idm::Octree;
use crate::predictor::mim::{
    block_in_dim, blocks3, box_points, default_factors, knots, put_blob, read_net_header, Interp,
    MimModel, MimParams, OiParams, Reader, MAX_OI_ITER, MAX_OI_SIGMA,
};
use crate::predictor::preprocess::{FrameGeom, NormParams};
use crate::predictor::spectral::{band_thresholds, frame_axes, split};
use crate::predictor::ssm::SparseStore;
use crate::residual::{self, Target};
use crate::siren::{Siren, SirenConfig, WeightCodec};

/// TRC settings (TOML-serialisable; missing keys take the defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrcConfig {
    /// Frames per chain, keyframe included (paper: error accumulation
    /// crosses the threshold after about 4 steps). 1 disables TRC.
    pub max_chain: usize,
    /// A delta frame whose predictor RMSE exceeds the keyframe's by more
    /// than this fraction (and the caller's target) is re-coded as a keyframe.
    pub drift_limit: f64,
    /// Adam steps when fine-tuning the low band's thumbnail SIREN from the
    /// previous frame's.
    pub finetune_steps: usize,
    /// Adam steps when fine-tuning a low-band block SIREN.
    pub finetune_block_steps: usize,
    /// Peak learning rate of the fine-tuning (cosine-annealed).
    pub finetune_lr: f32,
    /// Store fine-tuned networks as their quantised difference from the
    /// previous frame's (true) or as full quantised weights (false).
    pub delta_weights: bool,
    /// Bits per weight difference (first layer and biases +4).
    pub delta_bits: u8,
    /// One quantisation scale per row (true) or per matrix (false) for the
    /// differences.
    pub delta_per_row: bool,
    /// Code the change of the non-low part with the Laplacian pyramid.
    pub mid: bool,
    /// The pyramid's thumbnail SIREN (paper, TRC step 5: 3 layers, Ω = 15).
    pub mid_net: NetSpec,
    /// The pyramid's block SIRENs (paper, TRC step 7: 2 layers, Ω = 16).
    pub mid_res_net: NetSpec,
    /// Sparse storage of each delta frame's high band (FIC's settings).
    pub ssm: bool,
    /// Reject a delta frame whose estimated predictor + residual bytes
    /// exceed the keyframe's.
    pub cost_check: bool,
    /// Keep a network only when it pays for itself (the rate criterion);
    /// false: when it cuts the squared error by 20 % (FIC's rule).
    pub rate_check: bool,
    /// Keep the rest pyramid only when the residual coder, run at the
    /// caller's target with and without it, says it pays (two residual
    /// encodes per delta frame).
    pub residual_check: bool,
}

impl Default for TrcConfig {
    fn default() -> Self {
        Self {
            max_chain: 4,
            drift_limit: 0.5,
            finetune_steps: 60,
            finetune_block_steps: 30,
            finetune_lr: 5e-4,
            delta_weights: true,
            delta_bits: 4,
            delta_per_row: false,
            mid: true,
            mid_net: NetSpec {
                layers: 3,
                hidden: 16,
                omega: 15.0,
                steps: 120,
                lr: 2e-3,
            },
            mid_res_net: NetSpec {
                layers: 2,
                hidden: 12,
                omega: 16.0,
                steps: 60,
                lr: 2e-3,
            },
            ssm: true,
            cost_check: true,
            rate_check: true,
            residual_check: true,
        }
    }
}

impl TrcConfig {
    fn validate(&self) -> Result<()> {
        let ok = self.max_chain >= 1
            && self.drift_limit >= 0.0
            && self.finetune_lr.is_finite()
            && self.finetune_lr > 0.0
            && (2..=16).contains(&self.delta_bits);
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidInput("TRC configuration out of range".into()))
        }
    }

    fn delta_codec(&self) -> WeightCodec {
        WeightCodec::Quantized {
            bits: self.delta_bits,
            per_row: self.delta_per_row,
        }
    }
}

/// How a frame was coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FrameKind {
    /// From scratch by FIC (FIC's section kinds); starts a chain.
    Key,
    /// Against the previous frame (one `SectionKind::Trc` section).
    Delta,
}

/// Encoder statistics of one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrcStats {
    /// Predictor RMSE of the frame (data units, valid elements).
    pub rmse: f64,
    /// Position in the chain (0 for a keyframe).
    pub chain_pos: usize,
    /// A delta was tried and rejected by the retraining judgment.
    pub retrained: bool,
    /// Predictor bytes (all sections).
    pub bytes: usize,
    /// Delta frames: bytes of the SSM, the low pyramid and the rest pyramid.
    pub delta_bytes: [usize; 3],
    /// Delta frames: networks stored as (delta, full, carried).
    pub nets: [usize; 3],
    /// Wall time of the frame, delta attempt included.
    pub seconds: f64,
    /// Wall time spent on the delta attempt.
    pub delta_seconds: f64,
}

/// The coded predictor of one frame and its prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct TrcFrame {
    pub kind: FrameKind,
    pub sections: Vec<(SectionKind, Vec<u8>)>,
    /// What [`TrcDecoder::decode_next`] returns for these sections, bit for bit.
    pub prediction: Vec<f32>,
    pub stats: TrcStats,
}

/// What encoder and decoder know after a frame of a chain.
#[derive(Debug, Clone)]
struct ChainState {
    norm: NormParams,
    low: MimModel,
    /// Normalised prediction less the low band and the sparse store.
    rest: Vec<f64>,
    /// Frames in the chain so far (keyframe included).
    len: usize,
}

/// Shared context of encoder and decoder.
#[derive(Debug, Clone)]
struct Ctx {
    dims: [usize; 3],
    grid: FicGrid,
    geom: FrameGeom,
    fic: FicConfig,
    trc: TrcConfig,
}

impl Ctx {
    fn new(dims: [usize; 3], grid: FicGrid, fic: FicConfig, trc: TrcConfig) -> Result<Self> {
        trc.validate()?;
        let geom = FrameGeom::new(dims, &grid.lat_deg, &grid.lon_deg)?;
        Ok(Self {
            dims,
            grid,
            geom,
            fic,
            trc,
        })
    }

    fn n(&self) -> usize {
        self.dims.iter().product()
    }

    /// The chain state after a keyframe, or `None` when the keyframe has no
    /// MIM stage (the next frame must be a keyframe too).
    fn key_state(&self, sections: &[(SectionKind, &[u8])]) -> Result<Option<ChainState>> {
        let one = |k: SectionKind| sections.iter().find(|(kk, _)| *kk == k).map(|(_, b)| *b);
        let (Some(pb), Some(mb)) = (one(SectionKind::Predictor), one(SectionKind::Mim)) else {
            return Ok(None);
        };
        if pb.is_empty() {
            return Err(Error::Truncated("FIC predictor section".into()));
        }
        let norm = NormParams::from_bytes(&pb[1..], self.dims)?;
        let low = MimModel::from_bytes_for(mb, &self.geom)?;
        if low.thumb.config().in_dim != self.geom.in_dim
            || low.blocks.len() != blocks3(self.dims).len()
        {
            return Err(Error::Corrupt("MIM model does not match the frame".into()));
        }
        let mut rest = vec![0.0f64; self.n()];
        if let Some(ib) = one(SectionKind::Idm) {
            Octree::from_bytes(ib, self.dims)?.add_prediction(self.dims, &mut rest)?;
        }
        Ok(Some(ChainState {
            norm,
            low,
            rest,
            len: 1,
        }))
    }

    /// Decodes a delta section against `st`: the prediction and the next state.
    fn apply_delta(&self, st: &ChainState, bytes: &[u8]) -> Result<(Vec<f32>, ChainState)> {
        let n = self.n();
        let mut r = Reader { b: bytes, pos: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(Error::Unsupported(format!("TRC section version {version}")));
        }
        let flags = r.u8()?;
        if flags > 3 {
            return Err(Error::Corrupt(format!("TRC flags {flags:#x}")));
        }
        let ssm = if flags & 1 != 0 {
            Some(SparseStore::from_bytes(
                r.blob()?,
                self.dims[0] * self.dims[1],
                self.dims[2],
            )?)
        } else {
            None
        };
        let low = read_pyramid(&mut r, Some(&st.low), st.low.params, &self.geom)?;
        let re = if flags & 2 != 0 {
            let params = read_params(&mut r)?;
            MimModel::check_frame(&params, &self.geom)?;
            Some(read_pyramid(&mut r, None, params, &self.geom)?)
        } else {
            None
        };
        if r.pos != bytes.len() {
            return Err(Error::Corrupt("trailing bytes in TRC section".into()));
        }
        check_model(&low, &self.geom)?;
        let low_hat = low.predict(&self.geom)?;
        let mut rest = st.rest.clone();
        if let Some(m) = &re {
            check_model(m, &self.geom)?;
            let y = m.predict(&self.geom)?;
            for (v, d) in rest.iter_mut().zip(&y) {
                *v += *d;
            }
        }
        let mut pn: Vec<f32> = (0..n).map(|i| (low_hat[i] + rest[i]) as f32).collect();
        if let Some(s) = &ssm {
            s.add_to(&mut pn);
        }
        let pred = st.norm.denormalize(&pn, None)?;
        Ok((
            pred,
            ChainState {
                norm: st.norm.clone(),
                low,
                rest,
                len: st.len + 1,
            },
        ))
    }
}

const VERSION: u8 = 1;

const MODE_NONE: u8 = 0;
const MODE_CARRY: u8 = 1;
const MODE_DELTA: u8 = 2;
const MODE_FULL: u8 = 3;

fn check_model(m: &MimModel, geom: &FrameGeom) -> Result<()> {
    let c = m.thumb.config();
    if c.in_dim != geom.in_dim || c.out_dim != 1 {
        return Err(Error::Corrupt("TRC thumbnail network input size".into()));
    }
    if m.params.factors.iter().any(|&f| f == 0 || f > 255) {
        return Err(Error::Corrupt("TRC thinning factors".into()));
    }
    if m.blocks.len() != blocks3(geom.dims).len() {
        return Err(Error::Corrupt(
            "TRC block count does not match the frame".into(),
        ));
    }
    MimModel::check_frame(&m.params, geom)
}

fn write_params(out: &mut Vec<u8>, p: &MimParams) {
    out.push(match p.interp {
        Interp::Oi => 0,
        Interp::Cubic => 1,
        Interp::Trilinear => 2,
    });
    for f in p.factors {
        out.push(f as u8);
    }
    out.extend_from_slice(&(p.oi.sigma as f32).to_le_bytes());
    out.extend_from_slice(&(p.oi.r as f32).to_le_bytes());
    out.extend_from_slice(&(p.oi.max_iter.min(u16::MAX as usize) as u16).to_le_bytes());
}

fn read_params(r: &mut Reader<'_>) -> Result<MimParams> {
    let interp = match r.u8()? {
        0 => Interp::Oi,
        1 => Interp::Cubic,
        2 => Interp::Trilinear,
        t => return Err(Error::Corrupt(format!("TRC interpolation kind {t}"))),
    };
    let mut factors = [0usize; 3];
    for f in factors.iter_mut() {
        *f = r.u8()? as usize;
        if *f == 0 {
            return Err(Error::Corrupt("TRC thinning factor 0".into()));
        }
    }
    let sigma = r.f32()? as f64;
    let rr = r.f32()? as f64;
    let max_iter = r.u16()? as usize;
    if !(sigma.is_finite()
        && (0.0..=MAX_OI_SIGMA).contains(&sigma)
        && rr.is_finite()
        && rr >= 0.0
        && max_iter <= MAX_OI_ITER)
    {
        return Err(Error::Corrupt("TRC OI parameters".into()));
    }
    Ok(MimParams {
        interp,
        factors,
        oi: OiParams {
            sigma,
            r: rr,
            max_iter,
        },
    })
}

/// `reference + delta`, one f32 addition per parameter.
fn add_delta(reference: &Siren, delta: &Siren) -> Result<Siren> {
    if reference.config() != delta.config() {
        return Err(Error::Corrupt(
            "TRC weight difference does not match the previous network".into(),
        ));
    }
    let p: Vec<f32> = reference
        .params()
        .iter()
        .zip(delta.params())
        .map(|(&a, &d)| a + d)
        .collect();
    if p.iter().any(|v| !v.is_finite()) {
        return Err(Error::Corrupt("TRC weights overflow".into()));
    }
    Siren::from_params(*reference.config(), p)
}

/// Reads a stored network after checking its shape from its header (one
/// output, at most [`crate::predictor::fit::MAX_NET_MACS`], `in_dim` inputs; `expect`:
/// the shape a weight difference must have) before reading its weights.
fn read_siren(blob: &[u8], in_dim: usize, expect: Option<&SirenConfig>) -> Result<Siren> {
    let cfg = read_net_header(blob, Some(in_dim))?;
    if expect.is_some_and(|e| *e != cfg) {
        return Err(Error::Corrupt(
            "TRC weight difference does not match the previous network".into(),
        ));
    }
    let net = Siren::from_bytes(blob)?;
    if *net.config() != cfg {
        return Err(Error::Corrupt("TRC network header".into()));
    }
    Ok(net)
}

/// Reads one network of a pyramid (with `in_dim` inputs) given its mode
/// and reference.
fn read_net(
    r: &mut Reader<'_>,
    mode: u8,
    reference: Option<&Siren>,
    in_dim: usize,
) -> Result<Option<Siren>> {
    match mode {
        MODE_NONE => Ok(None),
        MODE_CARRY => reference
            .cloned()
            .map(Some)
            .ok_or_else(|| Error::Corrupt("TRC carries a network that does not exist".into())),
        MODE_DELTA => {
            let reference = reference.ok_or_else(|| {
                Error::Corrupt("TRC weight difference without a previous network".into())
            })?;
            let d = read_siren(r.blob()?, in_dim, Some(reference.config()))?;
            add_delta(reference, &d).map(Some)
        }
        MODE_FULL => Ok(Some(read_siren(r.blob()?, in_dim, None)?)),
        m => Err(Error::Corrupt(format!("TRC network mode {m}"))),
    }
}

/// Reads a pyramid for a frame of `geom`: its block count must be the
/// frame's (and the reference's) before any block is read, and every
/// network is checked from its header before its weights are read; so a
/// pyramid holds at most 28 networks of bounded shape.
fn read_pyramid(
    r: &mut Reader<'_>,
    reference: Option<&MimModel>,
    params: MimParams,
    geom: &FrameGeom,
) -> Result<MimModel> {
    let tm = r.u8()?;
    let thumb = read_net(r, tm, reference.map(|m| &m.thumb), geom.in_dim)?
        .ok_or_else(|| Error::Corrupt("TRC pyramid without a thumbnail network".into()))?;
    let nb = r.u8()? as usize;
    if nb != blocks3(geom.dims).len() {
        return Err(Error::Corrupt(format!(
            "TRC pyramid with {nb} blocks for a frame of {}",
            blocks3(geom.dims).len()
        )));
    }
    if let Some(m) = reference {
        if m.blocks.len() != nb {
            return Err(Error::Corrupt("TRC block count changed".into()));
        }
    }
    let bd = block_in_dim(geom.dims);
    let modes = r.take(nb.div_ceil(4))?;
    let mut blocks = Vec::with_capacity(nb);
    for i in 0..nb {
        let mode = (modes[i / 4] >> (2 * (i % 4))) & 3;
        let rb = reference.and_then(|m| m.blocks[i].as_ref());
        blocks.push(read_net(r, mode, rb, bd)?);
    }
    Ok(MimModel {
        params,
        thumb,
        blocks,
    })
}

/// What fitting a pyramid needs besides the signal.
struct PyramidFit<'a> {
    geom: &'a FrameGeom,
    valid: &'a [bool],
    w: &'a [f64],
    /// Data-unit RMSE a block must reach.
    target: f64,
    /// Data-unit RMSE below which a smaller error saves no residual bytes
    /// (the caller's target).
    floor: f64,
    /// Valid elements of the frame.
    n_valid: usize,
    /// Blocks without a reference network may get a new one.
    fresh_blocks: bool,
    full_codec: WeightCodec,
    delta_codec: WeightCodec,
    delta_weights: bool,
    seed: u64,
}

/// Encoder side of one network: stores it as a difference from
/// `reference` or in full; returns (mode, bytes, decoded network).
fn code_net(
    net: &Siren,
    reference: Option<&Siren>,
    f: &PyramidFit<'_>,
) -> Result<(u8, Vec<u8>, Siren)> {
    super::fit::check_storable(net)?;
    if let (Some(rn), true) = (reference, f.delta_weights) {
        let d: Vec<f32> = net
            .params()
            .iter()
            .zip(rn.params())
            .map(|(&a, &b)| a - b)
            .collect();
        let bytes = Siren::from_params(*net.config(), d)?.to_bytes(f.delta_codec)?;
        let dq = Siren::from_bytes(&bytes)?;
        Ok((MODE_DELTA, bytes, add_delta(rn, &dq)?))
    } else {
        let bytes = net.to_bytes(f.full_codec)?;
        let q = Siren::from_bytes(&bytes)?;
        Ok((MODE_FULL, bytes, q))
    }
}

/// The rate criterion: a network of `bytes` pays when the residual bytes
/// it saves exceed its own. The residual coder spends about
/// `½·log2(mse / floor²)` bits per element above its target, so cutting
/// the squared error of `cnt` elements from `sse0` to `sse1` saves
/// `½·cnt·log2(max(sse0, cnt·floor²) / max(sse1, cnt·floor²))` bits.
fn pays(bytes: usize, cnt: usize, sse0: f64, sse1: f64, floor: f64) -> bool {
    if floor < 0.0 {
        return sse1 < 0.8 * sse0;
    }
    let f = floor * floor * cnt as f64;
    let (a, b) = (sse0.max(f), sse1.max(f));
    b > 0.0 && ((8 * bytes) as f64) < 0.5 * cnt as f64 * (a / b).log2()
}

/// Estimated predictor + residual bytes of a frame of `n` elements whose
/// prediction has RMSE `rmse`, for a residual target `floor`.
fn est_total(bytes: usize, n: usize, rmse: f64, floor: f64) -> f64 {
    bytes as f64 + n as f64 * 0.5 * (rmse.max(floor) / floor.max(1e-300)).log2().max(0.0) / 8.0
}

/// Statistics of a pyramid fit: (delta, full, carried) networks.
type NetCounts = [usize; 3];

fn count(c: &mut NetCounts, mode: u8) {
    match mode {
        MODE_DELTA => c[0] += 1,
        MODE_FULL => c[1] += 1,
        MODE_CARRY => c[2] += 1,
        _ => {}
    }
}

/// Fits a pyramid (thumbnail at the knots, upscaled by `params.interp`,
/// block networks where the target is missed) to `sig`, warm-started from
/// `reference` when given (`specs.2` = (thumb, block) fine-tuning steps and
/// learning rate). Appends its bytes to `out`; returns the decoded model and
/// its output on the valid elements.
fn fit_pyramid(
    sig: &[f64],
    reference: Option<&MimModel>,
    params: MimParams,
    specs: (&NetSpec, &NetSpec, (usize, usize, f32)),
    f: &PyramidFit<'_>,
    out: &mut Vec<u8>,
    counts: &mut NetCounts,
) -> Result<(MimModel, Vec<f64>)> {
    let geom = f.geom;
    let (thumb_spec, block_spec, (ft_thumb, ft_block, ft_lr)) = specs;
    let p = geom.periodic();
    let kn = [
        knots(geom.dims[0], params.factors[0], p[0]),
        knots(geom.dims[1], params.factors[1], p[1]),
        knots(geom.dims[2], params.factors[2], p[2]),
    ];
    let d = geom.in_dim;
    let mut tc = Vec::new();
    let mut tt = Vec::new();
    let mut ws = 0.0;
    for &a in &kn[0] {
        for &b in &kn[1] {
            for &c in &kn[2] {
                let i = (a * geom.dims[1] + b) * geom.dims[2] + c;
                if f.valid[i] {
                    tc.extend_from_slice(&geom.coords[i * d..(i + 1) * d]);
                    tt.push(sig[i] as f32);
                    ws += f.w[i] * f.w[i];
                }
            }
        }
    }
    let mean_w2 = if tt.is_empty() {
        1.0
    } else {
        ws / tt.len() as f64
    };
    let tmse = (f.target * f.target / mean_w2) as f32;
    let mse_of = |net: &Siren| -> Result<f64> {
        let y = net.predict_vec(&tc)?;
        Ok(y.iter()
            .zip(&tt)
            .map(|(&a, &b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            / tt.len().max(1) as f64)
    };
    let (tmode, tbytes, thumb) = match reference {
        Some(rm) => {
            let carry_mse = mse_of(&rm.thumb)?;
            if carry_mse <= tmse as f64 || ft_thumb == 0 {
                (MODE_CARRY, Vec::new(), rm.thumb.clone())
            } else {
                let spec = NetSpec {
                    steps: ft_thumb,
                    lr: ft_lr,
                    ..thumb_spec.clone()
                };
                let (net, _) =
                    fic::train_net(&spec, d, &tc, &tt, tmse, f.seed, Some(rm.thumb.clone()))?;
                let (m, b, q) = code_net(&net, Some(&rm.thumb), f)?;
                let floor_n = f.floor * f.floor / mean_w2;
                let nv = f.n_valid as f64;
                let tuned = mse_of(&q)?;
                if pays(
                    b.len() + 2,
                    f.n_valid,
                    carry_mse * nv,
                    tuned * nv,
                    if f.floor < 0.0 { -1.0 } else { floor_n.sqrt() },
                ) {
                    (m, b, q)
                } else {
                    (MODE_CARRY, Vec::new(), rm.thumb.clone())
                }
            }
        }
        None => {
            let (net, _) = fic::train_net(thumb_spec, d, &tc, &tt, tmse, f.seed, None)?;
            code_net(&net, None, f)?
        }
    };
    count(counts, tmode);
    out.push(tmode);
    if tmode == MODE_DELTA || tmode == MODE_FULL {
        put_blob(out, &tbytes);
    }
    let mut model = MimModel {
        params,
        thumb,
        blocks: Vec::new(),
    };
    let base = model.base(geom)?;
    // the model's output on the valid elements (the encoder's working copy)
    let mut pred = base.clone();
    let boxes = blocks3(geom.dims);
    let mut modes = vec![0u8; boxes.len().div_ceil(4)];
    let mut blobs = Vec::new();
    for (bi, bx) in boxes.iter().enumerate() {
        let (idx, bco, bd) = box_points(geom.dims, bx);
        let (mut co2, mut t2, mut w2) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &i) in idx.iter().enumerate() {
            if f.valid[i] {
                co2.extend_from_slice(&bco[k * bd..(k + 1) * bd]);
                t2.push((sig[i] - base[i]) as f32);
                w2.push(f.w[i]);
            }
        }
        let cnt = t2.len();
        let sse_of = |y: Option<&[f32]>| -> f64 {
            t2.iter()
                .enumerate()
                .map(|(k, &t)| {
                    let e = (t - y.map_or(0.0, |y| y[k])) as f64 * w2[k];
                    e * e
                })
                .sum()
        };
        let rb = reference.and_then(|m| m.blocks.get(bi).and_then(|b| b.as_ref()));
        // the free options first: nothing, or the previous frame's network
        let mut best: (u8, Option<Siren>, Vec<u8>, f64) =
            (MODE_NONE, None, Vec::new(), sse_of(None));
        if let Some(rn) = rb {
            let s = sse_of(Some(&rn.predict_vec(&co2)?));
            if s < best.3 {
                best = (MODE_CARRY, Some(rn.clone()), Vec::new(), s);
            }
        }
        let misses = cnt > 0 && (best.3 / cnt as f64).sqrt() > f.target;
        let steps = if rb.is_some() {
            ft_block
        } else {
            block_spec.steps
        };
        if misses && steps > 0 && (rb.is_some() || f.fresh_blocks) {
            let ws2: f64 = w2.iter().map(|v| v * v).sum::<f64>() / cnt as f64;
            let btmse = (f.target * f.target / ws2) as f32;
            let seed = f.seed.wrapping_add(1 + bi as u64);
            let net = match rb {
                Some(rn) => {
                    let spec = NetSpec {
                        steps: ft_block,
                        lr: ft_lr,
                        ..block_spec.clone()
                    };
                    fic::train_net(&spec, bd, &co2, &t2, btmse, seed, Some(rn.clone()))?.0
                }
                None => fic::train_net(block_spec, bd, &co2, &t2, btmse, seed, None)?.0,
            };
            let (m, b, q) = code_net(&net, rb, f)?;
            let s = sse_of(Some(&q.predict_vec(&co2)?));
            if pays(b.len() + 2, cnt, best.3, s, f.floor) {
                best = (m, Some(q), b, s);
            }
        }
        modes[bi / 4] |= best.0 << (2 * (bi % 4));
        count(counts, best.0);
        if best.0 == MODE_DELTA || best.0 == MODE_FULL {
            blobs.push(best.2);
        }
        if let Some(net) = &best.1 {
            let y = net.predict_vec(&co2)?;
            for (k, &i) in idx.iter().filter(|&&i| f.valid[i]).enumerate() {
                pred[i] += y[k] as f64;
            }
        }
        model.blocks.push(best.1);
    }
    out.push(boxes.len() as u8);
    out.extend_from_slice(&modes);
    for b in &blobs {
        put_blob(out, b);
    }
    Ok((model, pred))
}

/// The TRC encoder of one series of frames (one variable, one chunk).
#[derive(Debug, Clone)]
pub struct TrcEncoder {
    ctx: Ctx,
    state: Option<ChainState>,
    key_rmse: f64,
    key_bytes: usize,
    frames: u64,
}

impl TrcEncoder {
    /// An encoder for frames of `dims` (levels, lat, lon) on `grid`.
    pub fn new(dims: [usize; 3], grid: FicGrid, fic: FicConfig, trc: TrcConfig) -> Result<Self> {
        Ok(Self {
            ctx: Ctx::new(dims, grid, fic, trc)?,
            state: None,
            key_rmse: 0.0,
            key_bytes: 0,
            frames: 0,
        })
    }

    /// Breaks the chain: the next frame is a keyframe (e.g. the next
    /// ensemble member, or a chunk boundary).
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// Codes the next frame (levels × lat × lon, row-major). `target_rmse`
    /// is the caller's RMSE target in data units, as for
    /// [`fic::encode_frame`].
    pub fn encode_next(
        &mut self,
        frame: &[f32],
        missing: Option<&[bool]>,
        target_rmse: f64,
    ) -> Result<TrcFrame> {
        let t0 = std::time::Instant::now();
        let n = self.ctx.n();
        if frame.len() != n || missing.is_some_and(|m| m.len() != n) {
            return Err(Error::InvalidInput(
                "TRC frame/mask length does not match dims".into(),
            ));
        }
        if !(target_rmse.is_finite() && target_rmse >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "TRC target RMSE {target_rmse}"
            )));
        }
        let valid: Vec<bool> = (0..n)
            .map(|i| !missing.is_some_and(|m| m[i]) && frame[i].is_finite())
            .collect();
        let seed = self.ctx.fic.seed ^ self.frames.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.frames += 1;
        let mut retrained = false;
        let mut delta_seconds = 0.0;
        if let Some(st) = self.state.take() {
            if st.len < self.ctx.trc.max_chain {
                let td = std::time::Instant::now();
                let (bytes, stats) = self.encode_delta(&st, frame, &valid, target_rmse, seed)?;
                let (pred, next) = self.ctx.apply_delta(&st, &bytes)?;
                let rmse = rmse(frame, &pred, &valid);
                delta_seconds = td.elapsed().as_secs_f64();
                let limit = (self.key_rmse * (1.0 + self.ctx.trc.drift_limit)).max(target_rmse);
                let nv = valid.iter().filter(|&&v| v).count();
                let cheaper = est_total(bytes.len(), nv, rmse, target_rmse)
                    <= est_total(self.key_bytes, nv, self.key_rmse, target_rmse);
                if rmse <= limit && (cheaper || !self.ctx.trc.cost_check) {
                    let mut stats = stats;
                    stats.rmse = rmse;
                    stats.chain_pos = st.len;
                    stats.bytes = bytes.len();
                    stats.delta_seconds = delta_seconds;
                    stats.seconds = t0.elapsed().as_secs_f64();
                    self.state = Some(next);
                    return Ok(TrcFrame {
                        kind: FrameKind::Delta,
                        sections: vec![(SectionKind::Trc, bytes)],
                        prediction: pred,
                        stats,
                    });
                }
                retrained = true;
            }
        }
        let f = fic::encode_frame(
            frame,
            missing,
            self.ctx.dims,
            &self.ctx.grid,
            &self.ctx.fic,
            target_rmse,
        )?;
        let refs: Vec<(SectionKind, &[u8])> =
            f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect();
        self.state = self.ctx.key_state(&refs)?;
        self.key_rmse = rmse(frame, &f.prediction, &valid);
        self.key_bytes = f.sections.iter().map(|(_, b)| b.len()).sum();
        let stats = TrcStats {
            rmse: self.key_rmse,
            chain_pos: 0,
            retrained,
            bytes: f.sections.iter().map(|(_, b)| b.len()).sum(),
            delta_seconds,
            seconds: t0.elapsed().as_secs_f64(),
            ..TrcStats::default()
        };
        Ok(TrcFrame {
            kind: FrameKind::Key,
            sections: f.sections,
            prediction: f.prediction,
            stats,
        })
    }

    fn encode_delta(
        &self,
        st: &ChainState,
        frame: &[f32],
        valid: &[bool],
        target_rmse: f64,
        seed: u64,
    ) -> Result<(Vec<u8>, TrcStats)> {
        let ctx = &self.ctx;
        let (fc, tc) = (&ctx.fic, &ctx.trc);
        let n = ctx.n();
        let dims = ctx.dims;
        let plane = dims[1] * dims[2];
        let mut stats = TrcStats::default();
        // normalise with the chain's parameters
        let a: Vec<f64> = (0..n)
            .map(|i| {
                if valid[i] {
                    let l = i / plane;
                    (frame[i] as f64 - st.norm.clim_value(i, None) - st.norm.offset[l] as f64)
                        / st.norm.scale[l] as f64
                } else {
                    0.0
                }
            })
            .collect();
        let w = st.norm.element_scale();
        let (lo, hi) = (0..n)
            .filter(|&i| valid[i])
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(p, q), i| {
                (p.min(frame[i] as f64), q.max(frame[i] as f64))
            });
        let range = if hi > lo { hi - lo } else { 0.0 };
        let target = target_rmse.max(fc.min_nrmse * range);
        let nvalid = valid.iter().filter(|&&v| v).count().max(1);
        let mean_w = ((0..n)
            .filter(|&i| valid[i])
            .map(|i| w[i] * w[i])
            .sum::<f64>()
            / nvalid as f64)
            .sqrt();
        let target_n = if mean_w > 0.0 {
            target / mean_w
        } else {
            target
        };
        let axes = frame_axes(
            dims,
            &ctx.grid.lat_deg,
            &ctx.grid.lon_deg,
            ctx.geom.lon_periodic,
        );
        let bands = split(&a, axes, band_thresholds(fc.omega, fc.n_c, fc.band_scale))?;

        let mut out = vec![VERSION, 0u8];
        // high band: sparse storage, as FIC does it
        let mut ssm_vals = vec![0.0f32; n];
        if tc.ssm && fc.ssm {
            let mut vh: Vec<f64> = (0..n)
                .filter(|&i| valid[i])
                .map(|i| bands.high[i].abs())
                .collect();
            let rms = (vh.iter().map(|v| v * v).sum::<f64>() / vh.len().max(1) as f64).sqrt();
            let mut thr = (fc.ssm_threshold * rms).max(3.0 * target_n);
            let keep = ((vh.len() as f64) * fc.ssm_max_fraction) as usize;
            let k = vh.len() - keep.min(vh.len());
            if k < vh.len() {
                vh.select_nth_unstable_by(k, |x, y| x.total_cmp(y));
                thr = thr.max(vh[k]);
            } else {
                thr = f64::INFINITY;
            }
            let miss: Vec<bool> = valid.iter().map(|&v| !v).collect();
            let store = SparseStore::select(&bands.high, dims[2], Some(&miss), thr, 2.0 * target_n);
            if !store.is_empty() {
                let bytes = store.to_bytes();
                SparseStore::from_bytes(&bytes, dims[0] * dims[1], dims[2])?.add_to(&mut ssm_vals);
                stats.delta_bytes[0] = bytes.len();
                out[1] |= 1;
                put_blob(&mut out, &bytes);
            }
        }
        let fit = PyramidFit {
            geom: &ctx.geom,
            valid,
            w: &w,
            target,
            floor: if tc.rate_check { target_rmse } else { -1.0 },
            n_valid: nvalid,
            fresh_blocks: false,
            full_codec: fc.codec(),
            delta_codec: tc.delta_codec(),
            delta_weights: tc.delta_weights,
            seed,
        };
        // low band: the previous frame's networks, fine-tuned
        let l0 = out.len();
        let (_, low_hat) = fit_pyramid(
            &bands.low,
            Some(&st.low),
            st.low.params,
            (
                &fc.mim_net,
                &fc.mim_res_net,
                (tc.finetune_steps, tc.finetune_block_steps, tc.finetune_lr),
            ),
            &fit,
            &mut out,
            &mut stats.nets,
        )?;
        stats.delta_bytes[1] = out.len() - l0;
        // the rest: its change since the previous frame, by the pyramid
        if tc.mid {
            let re: Vec<f64> = (0..n)
                .map(|i| {
                    if valid[i] {
                        a[i] - low_hat[i] - ssm_vals[i] as f64 - st.rest[i]
                    } else {
                        0.0
                    }
                })
                .collect();
            let params = MimParams {
                interp: fc.interp,
                factors: default_factors(dims, fc.mim_factor),
                oi: OiParams {
                    sigma: fc.oi_sigma as f32 as f64,
                    r: fc.oi_r as f32 as f64,
                    ..OiParams::default()
                },
            };
            let mut mb = Vec::new();
            write_params(&mut mb, &params);
            let mut counts = [0; 3];
            let fit2 = PyramidFit {
                seed: seed ^ 0x7E57,
                fresh_blocks: true,
                ..fit
            };
            let (_, y) = fit_pyramid(
                &re,
                None,
                params,
                (&tc.mid_net, &tc.mid_res_net, (0, 0, tc.finetune_lr)),
                &fit2,
                &mut mb,
                &mut counts,
            )?;
            // keep it only when it helps (weighted squared error)
            let (mut s0, mut s1) = (0.0, 0.0);
            for i in (0..n).filter(|&i| valid[i]) {
                s0 += (re[i] * w[i]).powi(2);
                s1 += ((re[i] - y[i]) * w[i]).powi(2);
            }
            let keep = if tc.residual_check && target_rmse > 0.0 && s1 < s0 {
                // measure: residual bytes without and with the pyramid
                let miss: Vec<bool> = valid.iter().map(|&v| !v).collect();
                let mask = valid.iter().any(|&v| !v).then_some(miss.as_slice());
                let cost = |with: bool| -> Result<usize> {
                    let pn: Vec<f32> = (0..n)
                        .map(|i| {
                            let r = if with { st.rest[i] + y[i] } else { st.rest[i] };
                            (low_hat[i] + r) as f32 + ssm_vals[i]
                        })
                        .collect();
                    let p = st.norm.denormalize(&pn, None)?;
                    Ok(
                        residual::encode(frame, Some(&p), &dims, mask, Target::Rmse(target_rmse))?
                            .len(),
                    )
                };
                cost(true)? + mb.len() < cost(false)?
            } else {
                pays(mb.len(), nvalid, s0, s1, fit2.floor)
            };
            if keep {
                out[1] |= 2;
                stats.delta_bytes[2] = mb.len();
                out.extend_from_slice(&mb);
                for (a, b) in stats.nets.iter_mut().zip(counts) {
                    *a += b;
                }
            }
        }
        Ok((out, stats))
    }
}

fn rmse(frame: &[f32], pred: &[f32], valid: &[bool]) -> f64 {
    let (mut s, mut c) = (0.0f64, 0usize);
    for i in 0..frame.len() {
        if valid[i] {
            let e = frame[i] as f64 - pred[i] as f64;
            s += e * e;
            c += 1;
        }
    }
    (s / c.max(1) as f64).sqrt()
}

/// The TRC decoder of one series of frames.
#[derive(Debug, Clone)]
pub struct TrcDecoder {
    ctx: Ctx,
    state: Option<ChainState>,
}

impl TrcDecoder {
    /// A decoder with the encoder's dims, grid and configurations.
    pub fn new(dims: [usize; 3], grid: FicGrid, fic: FicConfig, trc: TrcConfig) -> Result<Self> {
        Ok(Self {
            ctx: Ctx::new(dims, grid, fic, trc)?,
            state: None,
        })
    }

    /// Breaks the chain (as [`TrcEncoder::reset`]).
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// The prediction of the next frame, bit-identical to the encoder's.
    /// A delta frame needs the frames of its chain decoded before it
    /// (else [`Error::Corrupt`]); damaged sections give
    /// [`Error::Corrupt`] / [`Error::Truncated`] / [`Error::Unsupported`].
    pub fn decode_next(
        &mut self,
        kind: FrameKind,
        sections: &[(SectionKind, &[u8])],
    ) -> Result<Vec<f32>> {
        match kind {
            FrameKind::Key => {
                self.state = None;
                let pred =
                    fic::decode_frame(sections, self.ctx.dims, &self.ctx.grid, &self.ctx.fic)?;
                self.state = self.ctx.key_state(sections)?;
                Ok(pred)
            }
            FrameKind::Delta => {
                let mut it = sections.iter().filter(|(k, _)| *k == SectionKind::Trc);
                let (Some((_, bytes)), None) = (it.next(), it.next()) else {
                    return Err(Error::Corrupt(
                        "a TRC delta frame needs exactly one TRC section".into(),
                    ));
                };
                if sections.len() != 1 {
                    return Err(Error::Corrupt(
                        "unexpected sections in a TRC delta frame".into(),
                    ));
                }
                let st = self
                    .state
                    .as_ref()
                    .ok_or_else(|| Error::Corrupt("TRC delta frame without its keyframe".into()))?;
                let (pred, next) = self.ctx.apply_delta(st, bytes)?;
                self.state = Some(next);
                Ok(pred)
            }
        }
    }
}
