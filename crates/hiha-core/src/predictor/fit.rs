//! What the predictor stages (MIM, IDM, TRC) share: fitting a SIREN to
//! points, judging whether its bytes pay for the error it removes, the
//! shape limits every stored network obeys, and the blob I/O of their
//! sections. One floor below `mim`, `idm`, `fic` and `trc`, which all use it.

use super::preprocess::level_coord;
use crate::error::{Error, Result};
use crate::siren::{self, Siren, SirenConfig, TrainConfig, WeightCodec};

/// A SIREN's shape and training budget.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetSpec {
    pub layers: usize,
    pub hidden: usize,
    /// Ω of every sine layer.
    pub omega: f32,
    /// Adam steps (full batch).
    pub steps: usize,
    /// Peak learning rate (cosine-annealed to lr/100).
    pub lr: f32,
}

/// Trains a SIREN of `spec` on `coords` → `targets` (one channel), from
/// `init` or a fresh network; stops once the MSE reaches `target_mse`.
/// Returns the (unquantised) network and whether the target was met.
pub fn train_net(
    spec: &NetSpec,
    in_dim: usize,
    coords: &[f32],
    targets: &[f32],
    target_mse: f32,
    seed: u64,
    init: Option<Siren>,
) -> Result<(Siren, bool)> {
    let cfg = SirenConfig {
        in_dim,
        hidden: spec.hidden,
        layers: spec.layers,
        out_dim: 1,
        omega_first: spec.omega,
        omega_hidden: spec.omega,
    };
    let mut net = match init {
        Some(n) => n,
        None => Siren::new(cfg, seed)?,
    };
    let tc = TrainConfig {
        steps: spec.steps,
        lr: spec.lr,
        lr_min: spec.lr * 0.01,
        target_mse: Some(target_mse),
        seed,
        ..TrainConfig::default()
    };
    if targets.is_empty() || spec.steps == 0 {
        return Ok((net, targets.is_empty()));
    }
    let rep = siren::train(&mut net, coords, targets, &tc)?;
    Ok((net, rep.target_met))
}

/// [`train_net`] from scratch, returning the network as the decoder will
/// see it (quantised with `codec`).
pub fn fit_net(
    spec: &NetSpec,
    codec: WeightCodec,
    in_dim: usize,
    coords: &[f32],
    targets: &[f32],
    target_mse: f32,
    seed: u64,
) -> Result<Siren> {
    let (net, _) = train_net(spec, in_dim, coords, targets, target_mse, seed, None)?;
    net.quantized(codec)
}

/// Rate–distortion test for one network: the residual coder spends about
/// `½·log2(σ²/Δ²)` bits per element on an error of variance `σ²` at a
/// quantisation error `Δ` (the target), so cutting the squared error of
/// `count` elements from `sse_before` to `sse_after` saves about
/// `½·count·log2(max(sse_before/count, Δ²) / max(sse_after/count, Δ²))`
/// bits. The network pays when that exceeds its own size in bits.
pub fn pays(sse_before: f64, sse_after: f64, count: usize, target: f64, net_bytes: usize) -> bool {
    count > 0 && rd_gain_bits(sse_before, sse_after, count, target) > 8.0 * net_bytes as f64
}

/// [`pays`] when `rd` is set, else "cuts the squared error by 20 %".
pub fn keeps(
    rd: bool,
    sse_before: f64,
    sse_after: f64,
    count: usize,
    target: f64,
    net_bytes: usize,
) -> bool {
    if rd {
        pays(sse_before, sse_after, count, target, net_bytes)
    } else {
        sse_after < 0.8 * sse_before
    }
}

/// The bits saved by [`pays`]'s model (0 when nothing is gained).
pub fn rd_gain_bits(sse_before: f64, sse_after: f64, count: usize, target: f64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let t2 = (target * target).max(f64::MIN_POSITIVE);
    let b = (sse_before / count as f64).max(t2);
    let a = (sse_after / count as f64).max(t2);
    if a >= b {
        0.0
    } else {
        0.5 * count as f64 * (b / a).log2()
    }
}

/// Stored size of a network of `spec` (quantised weights, ≈ `bits` per
/// parameter after entropy coding, plus the per-row scales).
pub fn net_bytes_estimate(spec: &NetSpec, in_dim: usize, bits: u8) -> usize {
    let cfg = SirenConfig {
        in_dim,
        hidden: spec.hidden,
        layers: spec.layers,
        out_dim: 1,
        omega_first: spec.omega,
        omega_hidden: spec.omega,
    };
    let rows = spec.hidden * spec.layers + 1;
    (cfg.n_params() * bits as usize).div_ceil(8) + 4 * rows + 24
}

/// Largest network a predictor section (MIM, IDM, TRC) may hold, in
/// multiply-adds per point (so at most about 66 k parameters, 0.26 MB). hiha's
/// default networks need 2.2 k (MIM thumbnail: 3 × 32, 4 inputs) or less;
/// this allows e.g. 4 hidden layers of 128 or 16 of 64. Decoding a
/// predictor costs parameters × points, so this bounds the decoder's work
/// per frame point; the readers refuse a larger shape from its header,
/// before its weights are read, and the writers refuse to store one.
pub const MAX_NET_MACS: usize = 1 << 16;

/// Number of inputs of a block network (the frame axes longer than 1, at
/// least 1; see [`box_points`]).
pub fn block_in_dim(dims: [usize; 3]) -> usize {
    dims.iter().filter(|&&n| n > 1).count().max(1)
}

/// Why a network cannot sit in a predictor section (see [`check_net_shape`]).
fn shape_problem(cfg: &SirenConfig, in_dim: Option<usize>) -> Option<String> {
    if cfg.out_dim != 1 {
        return Some(format!("predictor network with {} outputs", cfg.out_dim));
    }
    if let Some(d) = in_dim.filter(|&d| d != cfg.in_dim) {
        return Some(format!(
            "predictor network with {} inputs where the frame needs {d}",
            cfg.in_dim
        ));
    }
    let macs = cfg.macs_per_point();
    (macs > MAX_NET_MACS).then(|| {
        format!(
            "predictor network of {} layers × {} costs {macs} multiply-adds per point, above the limit of {MAX_NET_MACS}",
            cfg.layers, cfg.hidden
        )
    })
}

/// Checks the shape of a network stored in a predictor section: one output,
/// at most [`MAX_NET_MACS`], and `in_dim` inputs when given
/// ([`Error::Corrupt`] otherwise).
pub fn check_net_shape(cfg: &SirenConfig, in_dim: Option<usize>) -> Result<()> {
    match shape_problem(cfg, in_dim) {
        Some(m) => Err(Error::Corrupt(m)),
        None => Ok(()),
    }
}

/// The shape of a stored predictor network, read and checked
/// ([`check_net_shape`]) from its header only.
pub fn read_net_header(blob: &[u8], in_dim: Option<usize>) -> Result<SirenConfig> {
    let (_, cfg) = WeightCodec::read_header(blob)?;
    check_net_shape(&cfg, in_dim)?;
    Ok(cfg)
}

/// Reads a stored predictor network after checking its header
/// ([`read_net_header`]).
pub fn read_net(blob: &[u8], in_dim: Option<usize>) -> Result<Siren> {
    let cfg = read_net_header(blob, in_dim)?;
    let net = Siren::from_bytes(blob)?;
    if *net.config() != cfg {
        return Err(Error::Corrupt("predictor network header".into()));
    }
    Ok(net)
}

/// The writers' side of [`check_net_shape`]: a network the readers would
/// refuse is [`Error::InvalidInput`].
pub(crate) fn check_storable(net: &Siren) -> Result<()> {
    match shape_problem(net.config(), None) {
        Some(m) => Err(Error::InvalidInput(format!("cannot store {m}"))),
        None => Ok(()),
    }
}

/// Flat indices and block-local coordinates (`in_dim` = number of frame
/// axes longer than 1, at least 1) of a box.
pub fn box_points(dims: [usize; 3], bx: &[(usize, usize); 3]) -> (Vec<usize>, Vec<f32>, usize) {
    let axes: Vec<usize> = (0..3).filter(|&a| dims[a] > 1).collect();
    let axes = if axes.is_empty() { vec![2] } else { axes };
    let d = axes.len();
    let mut idx = Vec::new();
    let mut co = Vec::new();
    for a in bx[0].0..bx[0].1 {
        for b in bx[1].0..bx[1].1 {
            for c in bx[2].0..bx[2].1 {
                idx.push((a * dims[1] + b) * dims[2] + c);
                let ijk = [a, b, c];
                for &ax in &axes {
                    let len = bx[ax].1 - bx[ax].0;
                    co.push(level_coord(ijk[ax] - bx[ax].0, len) as f32);
                }
            }
        }
    }
    (idx, co, d)
}

/// Bits per weight of a codec (for size estimates).
pub fn codec_bits(codec: crate::siren::WeightCodec) -> u8 {
    match codec {
        crate::siren::WeightCodec::F32 => 32,
        crate::siren::WeightCodec::F16 => 16,
        crate::siren::WeightCodec::Quantized { bits, .. } => bits,
    }
}

/// Appends a LEB128 length and the bytes.
pub fn put_blob(out: &mut Vec<u8>, b: &[u8]) {
    let mut v = b.len() as u64;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(b);
}

/// A bounds-checked reader of section bytes.
pub struct Reader<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() - self.pos < n {
            return Err(Error::Truncated("FIC section".into()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    pub fn f32(&mut self) -> Result<f32> {
        let s = self.take(4)?;
        Ok(f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub fn leb(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(Error::Corrupt("FIC length overflows".into()));
            }
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Corrupt("FIC length too long".into()))
    }
    pub fn blob(&mut self) -> Result<&'a [u8]> {
        let n = self.leb()?;
        if n > (self.b.len() - self.pos) as u64 {
            return Err(Error::Truncated("FIC blob".into()));
        }
        self.take(n as usize)
    }
}
