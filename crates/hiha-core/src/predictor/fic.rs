//! FIC, frequency-based hierarchical compression of one frame: hiha's
//! predictor.
//!
//! ```text
//! frame ─ preprocess (climatology, per-level [-1,1]) ─ spectral split ─┬ high ─ SSM (sparse)
//!                                                                      ├ low  ─ MIM (thumbnail SIREN + OI, residual SIRENs)
//!                                                                      └ rest ─ IDM (octree of SIRENs) on a − MIM − SSM
//! prediction = denormalise(MIM + IDM + SSM)
//! ```
//!
//! The prediction is computed by [`decode_frame`] from the section bytes,
//! also inside [`encode_frame`], so encoder and decoder agree bit for bit:
//! networks are evaluated only by [`Siren::predict`] on the dequantised
//! stored weights, everything else is sequential f64 code.
//!
//! With `gain_check` the encoder also codes the residual (with
//! [`crate::residual::encode`] at the caller's target) for the full
//! predictor, the predictor without IDM, the climatology alone, and no
//! predictor, and keeps the cheapest total (with `ceiling_check`, it first
//! tries the exact low + mid bands as a free prediction and skips all
//! training when even they cannot pay for one network); "no predictor" is an empty
//! section list and an all-zero prediction (the residual of `x − 0` is `x`).
//! See `docs/ALGORITHM.md`, "FIC wiring", and `docs/ablation.md`.

pub use super::fit::{fit_net, keeps, net_bytes_estimate, pays, rd_gain_bits, train_net, NetSpec};
use crate::error::{Error, Result};
use crate::format::SectionKind;
use crate::predictor::idm::{self, IdmFit, IdmParams, Octree};
use crate::predictor::mim::{Interp, MimModel, MimParams, OiParams};
use crate::predictor::preprocess::{normalize, FrameGeom, NormParams};
use crate::predictor::spectral::{band_thresholds, frame_axes, split};
use crate::predictor::ssm::SparseStore;
use crate::residual::{self, Target};
use crate::siren::WeightCodec;

/// The grid of a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FicGrid {
    pub lat_deg: Vec<f64>,
    pub lon_deg: Vec<f64>,
    pub levels: Option<Vec<f64>>,
}

/// The coded predictor of one frame and the prediction it decodes to.
#[derive(Debug, Clone, PartialEq)]
pub struct FicFrame {
    pub sections: Vec<(SectionKind, Vec<u8>)>,
    /// `decode_frame(sections)`, bit for bit; all zeros when `sections` is
    /// empty (FIC did not pay for itself).
    pub prediction: Vec<f32>,
    /// What the encoder did (for logs and the ablation).
    pub stats: FicStats,
}

/// Encoder statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FicStats {
    /// Bytes per section kind: predictor, ssm, mim, idm.
    pub bytes: [usize; 4],
    pub ssm_points: usize,
    pub mim_block_nets: usize,
    pub idm_nodes: usize,
    pub idm_nets: usize,
    /// Which candidate the gain check kept: "full", "no-idm", "climatology",
    /// "none", or "none (ceiling)" when the ceiling check skipped training.
    pub chosen: &'static str,
    /// Residual bytes of each candidate tried (same order), 0 when not tried.
    pub residual_bytes: [usize; 4],
    pub seconds: f64,
}

/// FIC settings; paper values where the paper gives them, small networks
/// and tight budgets by default (2 CPU cores; see `docs/ablation.md`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FicConfig {
    /// Store and subtract the zonal mean per (level, lat) when no
    /// climatology array is given.
    pub zonal_climatology: bool,
    /// Zonal-mean quantisation step: level range / 2^bits.
    pub clim_bits: u8,
    /// First-pass Ω and n_c of the band thresholds (paper: 14, 256).
    pub omega: f64,
    pub n_c: usize,
    /// Calibration `s` of `κ_low = s·Ω·√(6/n_c)` on the globe.
    pub band_scale: f64,
    /// Re-decomposition Ω and n_c (paper: 22, 128) and their `s` (block-local coordinates).
    pub omega_re: f64,
    pub n_c_re: usize,
    pub redecompose_scale: f64,
    /// Sparse storage of the high band.
    pub ssm: bool,
    /// Keep high-band values above this many RMS of the high band...
    pub ssm_threshold: f64,
    /// ...but at most this fraction of the elements.
    pub ssm_max_fraction: f64,
    /// Multi-scale INR of the low band.
    pub mim: bool,
    pub mim_factor: usize,
    pub interp: Interp,
    /// OI background correlation length (knot spacings) and relative obs error.
    pub oi_sigma: f64,
    pub oi_r: f64,
    pub mim_net: NetSpec,
    pub mim_res_net: NetSpec,
    /// Octree of SIRENs on what low + high leave.
    pub idm: bool,
    pub idm_net: NetSpec,
    pub idm_max_depth: usize,
    pub idm_min_block: usize,
    pub idm_max_points: usize,
    /// Bits per weight (per-row scale, entropy coded; first layer and biases +4).
    pub weight_bits: u8,
    /// FIC does not refine below this NRMSE (the residual coder is cheaper there).
    pub min_nrmse: f64,
    /// Train and keep a network only when it pays for its bytes
    /// ([`pays`]); off: keep any network that cuts its block's squared
    /// error by 20 % (the behaviour before the test; for ablations and tests).
    pub rd_check: bool,
    /// With `gain_check`: first code the residual after the *exact* low + mid
    /// bands (a free prediction no network can beat) and skip all training
    /// when even that does not save the price of the smallest network.
    pub ceiling_check: bool,
    /// Keep the cheapest of full / no-IDM / climatology / nothing, measured
    /// with the residual coder at the caller's target.
    pub gain_check: bool,
    pub seed: u64,
}

impl Default for FicConfig {
    fn default() -> Self {
        Self {
            zonal_climatology: true,
            clim_bits: 10,
            omega: 14.0,
            n_c: 256,
            band_scale: 3.0,
            omega_re: 22.0,
            n_c_re: 128,
            redecompose_scale: 1.0,
            ssm: true,
            ssm_threshold: 4.0,
            ssm_max_fraction: 0.002,
            mim: true,
            mim_factor: 3,
            interp: Interp::Cubic,
            oi_sigma: 1.0,
            oi_r: 1e-3,
            mim_net: NetSpec {
                layers: 3,
                hidden: 32,
                omega: 14.0,
                steps: 300,
                lr: 2e-3,
            },
            mim_res_net: NetSpec {
                layers: 2,
                hidden: 16,
                omega: 15.0,
                steps: 100,
                lr: 2e-3,
            },
            idm: true,
            idm_net: NetSpec {
                layers: 4,
                hidden: 16,
                omega: 22.0,
                steps: 120,
                lr: 2e-3,
            },
            idm_max_depth: 3,
            idm_min_block: 6,
            idm_max_points: 40_000,
            weight_bits: 8,
            min_nrmse: 1e-3,
            rd_check: true,
            ceiling_check: true,
            gain_check: true,
            seed: 0x4869_4861,
        }
    }
}

impl FicConfig {
    /// The weight codec of every network.
    pub fn codec(&self) -> WeightCodec {
        WeightCodec::Quantized {
            bits: self.weight_bits.clamp(2, 16),
            per_row: true,
        }
    }

    fn validate(&self) -> Result<()> {
        let ok = self.omega > 0.0
            && self.n_c > 0
            && self.band_scale > 0.0
            && self.omega_re > 0.0
            && self.n_c_re > 0
            && self.redecompose_scale > 0.0
            && self.mim_factor >= 1
            && self.mim_factor <= 255
            && self.oi_sigma >= 0.0
            && self.oi_sigma <= 64.0
            && self.oi_r >= 0.0
            && self.idm_max_depth <= 16
            && self.idm_min_block >= 1
            && self.idm_min_block <= u16::MAX as usize
            && self.min_nrmse >= 0.0
            && self.ssm_threshold >= 0.0
            && (0.0..=1.0).contains(&self.ssm_max_fraction);
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidInput("FIC configuration out of range".into()))
        }
    }
}

const PREDICTOR_VERSION: u8 = 1;

/// [`encode_frame_with_climatology`] without a climatology array.
pub fn encode_frame(
    frame: &[f32],
    missing: Option<&[bool]>,
    dims: [usize; 3],
    grid: &FicGrid,
    cfg: &FicConfig,
    target_rmse: f64,
) -> Result<FicFrame> {
    encode_frame_with_climatology(
        frame,
        missing,
        dims,
        grid,
        cfg,
        Target::Rmse(target_rmse),
        None,
    )
}

/// Fits the FIC predictor to one frame (levels × lat × lon, row-major).
/// `target` is what the residual coder will be asked for (data units): FIC
/// refines down to `max(t, min_nrmse · range)` (t the RMSE, or the max-abs
/// bound), and the gain and ceiling checks measure the residual at exactly
/// `target`. `climatology`: one value per element, or none (zonal mean
/// stand-in when `zonal_climatology`).
pub fn encode_frame_with_climatology(
    frame: &[f32],
    missing: Option<&[bool]>,
    dims: [usize; 3],
    grid: &FicGrid,
    cfg: &FicConfig,
    target: Target,
    climatology: Option<&[f32]>,
) -> Result<FicFrame> {
    let t0 = std::time::Instant::now();
    cfg.validate()?;
    let res_target = target;
    let target_rmse = match target {
        Target::Rmse(v) | Target::MaxAbs(v) => v,
    };
    if !(target_rmse.is_finite() && target_rmse >= 0.0) {
        return Err(Error::InvalidInput(format!("FIC target {target_rmse}")));
    }
    let geom = FrameGeom::new(dims, &grid.lat_deg, &grid.lon_deg)?;
    let n = frame.len();
    let valid: Vec<bool> = (0..n)
        .map(|i| !missing.is_some_and(|m| m[i]) && frame[i].is_finite())
        .collect();
    let (a, norm) = normalize(
        frame,
        missing,
        dims,
        climatology,
        cfg.zonal_climatology,
        cfg.clim_bits,
    )?;
    let w = norm.element_scale();
    let (lo, hi) = (0..n)
        .filter(|&i| valid[i])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(p, q), i| {
            (p.min(frame[i] as f64), q.max(frame[i] as f64))
        });
    let range = if hi > lo { hi - lo } else { 0.0 };
    let target = target_rmse.max(cfg.min_nrmse * range);
    let mean_w = {
        let s: f64 = (0..n).filter(|&i| valid[i]).map(|i| w[i] * w[i]).sum();
        (s / valid.iter().filter(|&&v| v).count().max(1) as f64).sqrt()
    };
    let target_n = if mean_w > 0.0 {
        target / mean_w
    } else {
        target
    };
    let codec = cfg.codec();
    let mut stats = FicStats::default();

    let mut pred_sections = vec![PREDICTOR_VERSION];
    pred_sections.extend_from_slice(&norm.to_bytes());
    let mut sections: Vec<(SectionKind, Vec<u8>)> = vec![(SectionKind::Predictor, pred_sections)];

    let af: Vec<f64> = a.iter().map(|&v| v as f64).collect();
    let axes = frame_axes(dims, &grid.lat_deg, &grid.lon_deg, geom.lon_periodic);
    let bands = split(
        &af,
        axes,
        band_thresholds(cfg.omega, cfg.n_c, cfg.band_scale),
    )?;

    if cfg.gain_check && cfg.ceiling_check && range > 0.0 && (cfg.mim || cfg.idm) {
        // The best any network fitted to low + mid could do: the exact bands
        // as a free prediction. If even that does not save the price of the
        // smallest network, skip the training.
        let mask: Option<Vec<bool>> = missing.map(|_| valid.iter().map(|&v| !v).collect());
        let lm: Vec<f32> = (0..n)
            .map(|i| (bands.low[i] + bands.mid[i]) as f32)
            .collect();
        let oracle = norm.denormalize(&lm, climatology)?;
        let t = res_target;
        let alone = residual::encode(frame, None, &dims, mask.as_deref(), t)?.len();
        let best = residual::encode(frame, Some(&oracle), &dims, mask.as_deref(), t)?.len();
        let bits = crate::predictor::mim::codec_bits(codec);
        let smallest = [(cfg.mim, &cfg.mim_net), (cfg.idm, &cfg.idm_net)]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, spec)| net_bytes_estimate(spec, geom.in_dim, bits))
            .min()
            .unwrap_or(0);
        stats.residual_bytes[3] = alone;
        if best + smallest + sections[0].1.len() >= alone {
            stats.chosen = "none (ceiling)";
            stats.seconds = t0.elapsed().as_secs_f64();
            return Ok(FicFrame {
                sections: Vec::new(),
                prediction: vec![0.0; n],
                stats,
            });
        }
    }

    let mut ssm_vals = vec![0.0f32; n];
    if cfg.ssm {
        let vh: Vec<f64> = (0..n)
            .filter(|&i| valid[i])
            .map(|i| bands.high[i].abs())
            .collect();
        let rms = (vh.iter().map(|v| v * v).sum::<f64>() / vh.len().max(1) as f64).sqrt();
        let mut thr = (cfg.ssm_threshold * rms).max(3.0 * target_n);
        if !vh.is_empty() {
            let mut s = vh.clone();
            let keep = ((s.len() as f64) * cfg.ssm_max_fraction) as usize;
            let k = s.len() - keep.min(s.len());
            if k < s.len() {
                s.select_nth_unstable_by(k, |x, y| x.total_cmp(y));
                thr = thr.max(s[k]);
            } else {
                thr = f64::INFINITY;
            }
        }
        let valid_mask: Vec<bool> = valid.iter().map(|&v| !v).collect();
        let store =
            SparseStore::select(&bands.high, dims[2], Some(&valid_mask), thr, 2.0 * target_n);
        stats.ssm_points = store.len();
        let bytes = store.to_bytes();
        let dec = SparseStore::from_bytes(&bytes, dims[0] * dims[1], dims[2])?;
        dec.add_to(&mut ssm_vals);
        sections.push((SectionKind::Ssm, bytes));
    }

    let mut low_hat = vec![0.0f64; n];
    if cfg.mim {
        let params = MimParams {
            interp: cfg.interp,
            factors: crate::predictor::mim::default_factors(dims, cfg.mim_factor),
            oi: OiParams {
                sigma: cfg.oi_sigma as f32 as f64,
                r: cfg.oi_r as f32 as f64,
                ..OiParams::default()
            },
        };
        let m = MimModel::fit(
            &bands.low,
            &valid,
            &w,
            &geom,
            params,
            (&cfg.mim_net, &cfg.mim_res_net, codec, cfg.rd_check),
            target,
            cfg.seed,
        )?;
        let bytes = m.to_bytes(codec)?;
        let m = MimModel::from_bytes(&bytes)?;
        stats.mim_block_nets = m.blocks.iter().filter(|b| b.is_some()).count();
        low_hat = m.predict(&geom)?;
        sections.push((SectionKind::Mim, bytes));
    }

    if cfg.idm {
        let mut t: Vec<f64> = (0..n)
            .map(|i| {
                if valid[i] {
                    af[i] - low_hat[i] - ssm_vals[i] as f64
                } else {
                    0.0
                }
            })
            .collect();
        let fit = IdmFit {
            dims,
            valid: &valid,
            w: &w,
            target,
            spec: &cfg.idm_net,
            codec,
            params: IdmParams {
                max_depth: cfg.idm_max_depth,
                min_block: cfg.idm_min_block,
            },
            max_points: cfg.idm_max_points,
            redecompose: Some(idm::redecompose_thresholds(
                cfg.omega_re,
                cfg.n_c_re,
                cfg.redecompose_scale,
            )),
            seed: cfg.seed ^ 0x1D,
            rd_check: cfg.rd_check,
        };
        let tree = idm::fit(&mut t, &fit)?;
        let (nodes, nets) = tree.counts();
        stats.idm_nodes = nodes;
        stats.idm_nets = nets;
        sections.push((SectionKind::Idm, tree.to_bytes(codec)?));
    }

    for (k, b) in &sections {
        let slot = match k {
            SectionKind::Predictor => 0,
            SectionKind::Ssm => 1,
            SectionKind::Mim => 2,
            _ => 3,
        };
        stats.bytes[slot] += b.len();
    }
    let decode = |s: &[(SectionKind, Vec<u8>)]| {
        let refs: Vec<(SectionKind, &[u8])> = s.iter().map(|(k, b)| (*k, b.as_slice())).collect();
        decode_frame_with_climatology(&refs, dims, grid, cfg, climatology)
    };
    let mut prediction = decode(&sections)?;
    stats.chosen = "full";
    if cfg.gain_check && range > 0.0 {
        let mask: Option<Vec<bool>> = missing.map(|_| valid.iter().map(|&v| !v).collect());
        let rdims = [dims[0], dims[1], dims[2]];
        let cost = |p: Option<&[f32]>, s: &[(SectionKind, Vec<u8>)]| -> Result<usize> {
            let r = residual::encode(frame, p, &rdims, mask.as_deref(), res_target)?;
            Ok(r.len() + s.iter().map(|(_, b)| b.len()).sum::<usize>())
        };
        let mut best = cost(Some(&prediction), &sections)?;
        stats.residual_bytes[0] = best;
        let mut choice = 0;
        // Cheaper candidates: without the octree, then the normalisation
        // and climatology alone. Each filters what the previous kept.
        type Keep = fn(SectionKind) -> bool;
        let candidates: [(bool, Keep); 2] = [
            (cfg.idm, |k| k != SectionKind::Idm),
            (true, |k| k == SectionKind::Predictor),
        ];
        for (slot, (enabled, keep)) in candidates.into_iter().enumerate() {
            if !enabled || sections.len() <= 1 {
                continue;
            }
            let s: Vec<_> = sections.iter().filter(|(k, _)| keep(*k)).cloned().collect();
            let p = decode(&s)?;
            let c = cost(Some(&p), &s)?;
            stats.residual_bytes[slot + 1] = c;
            if c < best {
                best = c;
                choice = slot + 1;
                sections = s;
                prediction = p;
            }
        }
        let c = cost(None, &[])?;
        stats.residual_bytes[3] = c;
        if c <= best {
            choice = 3;
            sections.clear();
            prediction = vec![0.0; n];
        }
        stats.chosen = ["full", "no-idm", "climatology", "none"][choice];
    }
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok(FicFrame {
        sections,
        prediction,
        stats,
    })
}

/// [`decode_frame_with_climatology`] without a climatology array.
pub fn decode_frame(
    sections: &[(SectionKind, &[u8])],
    dims: [usize; 3],
    grid: &FicGrid,
    cfg: &FicConfig,
) -> Result<Vec<f32>> {
    decode_frame_with_climatology(sections, dims, grid, cfg, None)
}

/// The prediction coded by `sections` (bit-identical to what the encoder
/// returned). No sections: all zeros. Damaged sections give
/// [`Error::Corrupt`] / [`Error::Truncated`] / [`Error::Unsupported`].
pub fn decode_frame_with_climatology(
    sections: &[(SectionKind, &[u8])],
    dims: [usize; 3],
    grid: &FicGrid,
    _cfg: &FicConfig,
    climatology: Option<&[f32]>,
) -> Result<Vec<f32>> {
    let geom = FrameGeom::new(dims, &grid.lat_deg, &grid.lon_deg)?;
    let n = dims.iter().product::<usize>();
    let find = |k: SectionKind| -> Result<Option<&[u8]>> {
        let mut it = sections.iter().filter(|(kk, _)| *kk == k);
        let first = it.next().map(|(_, b)| *b);
        if it.next().is_some() {
            return Err(Error::Corrupt(format!(
                "two FIC {k} sections for one frame"
            )));
        }
        Ok(first)
    };
    let Some(pb) = find(SectionKind::Predictor)? else {
        if sections.is_empty() {
            return Ok(vec![0.0; n]);
        }
        return Err(Error::Corrupt(
            "FIC sections without the predictor section".into(),
        ));
    };
    if pb.first() != Some(&PREDICTOR_VERSION) {
        return Err(if pb.is_empty() {
            Error::Truncated("FIC predictor section".into())
        } else {
            Error::Unsupported(format!("FIC predictor section version {}", pb[0]))
        });
    }
    let norm = NormParams::from_bytes(&pb[1..], dims)?;
    let mut acc = vec![0.0f64; n];
    if let Some(b) = find(SectionKind::Mim)? {
        // block count, network shapes and upscale cost checked against the
        // frame before any weights are read
        let m = MimModel::from_bytes_for(b, &geom)?;
        if m.thumb.config().in_dim != geom.in_dim || m.thumb.config().out_dim != 1 {
            return Err(Error::Corrupt("MIM thumbnail network input size".into()));
        }
        acc = m.predict(&geom)?;
    }
    if let Some(b) = find(SectionKind::Idm)? {
        let tree = Octree::from_bytes(b, dims)?;
        tree.add_prediction(dims, &mut acc)?;
    }
    let mut pn: Vec<f32> = acc.iter().map(|&v| v as f32).collect();
    if let Some(b) = find(SectionKind::Ssm)? {
        let s = SparseStore::from_bytes(b, dims[0] * dims[1], dims[2])?;
        s.add_to(&mut pn);
    }
    norm.denormalize(&pn, climatology)
}
