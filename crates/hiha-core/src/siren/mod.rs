//! SIREN engine: sine-activated MLPs (Sitzmann et al. 2020) trained on the CPU
//! and evaluated by a bit-reproducible kernel.
//!
//! # Network and conventions
//!
//! Input: `in_dim` (1..=4) coordinates per point, typically (x, y, z) on the
//! unit sphere plus a normalised pressure `p ∈ [-1, 1]` (see
//! [`sphere_grid_coords`]). Then `layers` hidden layers of width `hidden` and a
//! linear output layer with `out_dim` channels:
//!
//! ```text
//! h₀ = sin(Ω₀ · (W₀ x + b₀))          W₀: hidden × in_dim
//! hₗ = sin(Ω  · (Wₗ hₗ₋₁ + bₗ))        Wₗ: hidden × hidden, l = 1..layers-1
//! y  = W_L h_{layers-1} + b_L         W_L: out_dim × hidden
//! ```
//!
//! Ω is applied *in the forward pass* (the stored weights are the un-scaled
//! `W`), with SIREN initialisation `W₀ ~ U(±1/in_dim)`, `Wₗ ~ U(±√(6/n)/Ω)`
//! (n = fan-in, also for the output layer) and biases `U(±1/√n)` (PyTorch's
//! default, as in the reference implementation). All parameters live in one
//! flat `f32` vector, layer by layer, each layer as `W` (row-major,
//! `n_out × n_in`) followed by `b` (`n_out`).
//!
//! Point-major layouts everywhere: `coords[i * in_dim + d]`,
//! `targets[i * out_dim + c]`, `out[i * out_dim + c]`.
//!
//! # Reproducibility
//!
//! [`Siren::predict`] is the *reference* evaluation shared by encoder and
//! decoder: a fixed sequence of f32 operations per point (see [`infer`]), the
//! same on AVX-512, AVX2, SSE2, aarch64 and at any thread count. Training
//! ([`train`]) uses a faster GEMM path whose last bits may differ; callers take
//! their final prediction from `predict()`.

mod codec;
pub mod infer;
mod rng;
mod train;
pub mod trig;

#[cfg(test)]
mod tests;

pub use codec::WeightCodec;
pub use rng::SplitMix64;
pub use train::{
    flops_per_point_step, loss_and_grad, train, CpuBackend, Loss, TrainBackend, TrainConfig,
    TrainReport,
};

use crate::error::{Error, Result};

/// Maximum width accepted (bounds allocations when reading weights).
pub const MAX_HIDDEN: usize = 1024;
/// Maximum number of hidden layers accepted.
pub const MAX_LAYERS: usize = 16;
/// Maximum number of output channels accepted.
pub const MAX_OUT: usize = 256;

/// Shape and frequencies of a SIREN.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SirenConfig {
    /// Input coordinates per point, 1..=4.
    pub in_dim: usize,
    /// Width of every hidden layer.
    pub hidden: usize,
    /// Number of hidden (sine) layers, ≥ 1.
    pub layers: usize,
    /// Output channels, ≥ 1.
    pub out_dim: usize,
    /// Ω of the first layer (30 in the SIREN paper).
    pub omega_first: f32,
    /// Ω of the other hidden layers (30 in the SIREN paper).
    pub omega_hidden: f32,
}

impl Default for SirenConfig {
    fn default() -> Self {
        Self {
            in_dim: 3,
            hidden: 64,
            layers: 3,
            out_dim: 1,
            omega_first: 30.0,
            omega_hidden: 30.0,
        }
    }
}

impl SirenConfig {
    /// Checks the ranges documented on the fields.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if !(1..=4).contains(&self.in_dim) {
            return bad(format!("SIREN in_dim must be 1..=4, got {}", self.in_dim));
        }
        if !(1..=MAX_HIDDEN).contains(&self.hidden) {
            return bad(format!(
                "SIREN width must be 1..={MAX_HIDDEN}, got {}",
                self.hidden
            ));
        }
        if !(1..=MAX_LAYERS).contains(&self.layers) {
            return bad(format!(
                "SIREN hidden layers must be 1..={MAX_LAYERS}, got {}",
                self.layers
            ));
        }
        if !(1..=MAX_OUT).contains(&self.out_dim) {
            return bad(format!(
                "SIREN out_dim must be 1..={MAX_OUT}, got {}",
                self.out_dim
            ));
        }
        if !(self.omega_first.is_finite() && self.omega_hidden.is_finite()) {
            return bad("SIREN omegas must be finite".into());
        }
        Ok(())
    }

    /// Number of layers with weights (hidden + output).
    pub fn n_linear(&self) -> usize {
        self.layers + 1
    }

    /// (n_in, n_out) of linear layer `l` (0..=layers).
    pub fn layer_dims(&self, l: usize) -> (usize, usize) {
        let n_in = if l == 0 { self.in_dim } else { self.hidden };
        let n_out = if l == self.layers {
            self.out_dim
        } else {
            self.hidden
        };
        (n_in, n_out)
    }

    /// Ω of hidden layer `l` (unused for the output layer).
    pub fn omega(&self, l: usize) -> f32 {
        if l == 0 {
            self.omega_first
        } else {
            self.omega_hidden
        }
    }

    /// Offset of layer `l`'s `W` in the flat parameter vector; its `b` follows
    /// at `offset + n_out * n_in`.
    pub fn layer_offset(&self, l: usize) -> usize {
        (0..l)
            .map(|k| {
                let (i, o) = self.layer_dims(k);
                o * i + o
            })
            .sum()
    }

    /// Total parameter count.
    pub fn n_params(&self) -> usize {
        self.layer_offset(self.n_linear())
    }

    /// Multiply-adds per point of one forward pass.
    pub fn macs_per_point(&self) -> usize {
        (0..self.n_linear())
            .map(|l| {
                let (i, o) = self.layer_dims(l);
                i * o
            })
            .sum()
    }
}

/// A SIREN: its configuration and flat parameter vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Siren {
    cfg: SirenConfig,
    params: Vec<f32>,
}

impl Siren {
    /// A freshly initialised network (deterministic in `seed`).
    pub fn new(cfg: SirenConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut params = Vec::with_capacity(cfg.n_params());
        for l in 0..cfg.n_linear() {
            let (n_in, n_out) = cfg.layer_dims(l);
            let wa = if l == 0 {
                1.0 / n_in as f64
            } else {
                (6.0 / n_in as f64).sqrt() / cfg.omega_hidden.abs().max(1e-6) as f64
            };
            for _ in 0..n_in * n_out {
                params.push(rng.uniform_sym(wa));
            }
            let ba = 1.0 / (n_in as f64).sqrt();
            for _ in 0..n_out {
                params.push(rng.uniform_sym(ba));
            }
        }
        Ok(Self { cfg, params })
    }

    /// Builds a network from explicit parameters (length must be `cfg.n_params()`).
    pub fn from_params(cfg: SirenConfig, params: Vec<f32>) -> Result<Self> {
        cfg.validate()?;
        if params.len() != cfg.n_params() {
            return Err(Error::InvalidInput(format!(
                "SIREN expects {} parameters, got {}",
                cfg.n_params(),
                params.len()
            )));
        }
        Ok(Self { cfg, params })
    }

    pub fn config(&self) -> &SirenConfig {
        &self.cfg
    }

    /// The flat parameter vector (layout in the module docs).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Mutable access to the parameters (shape is fixed).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// Layer `l`'s weights (`n_out × n_in`, row-major) and biases.
    pub fn layer(&self, l: usize) -> (&[f32], &[f32]) {
        let (n_in, n_out) = self.cfg.layer_dims(l);
        let off = self.cfg.layer_offset(l);
        let (w, rest) = self.params[off..].split_at(n_in * n_out);
        (w, &rest[..n_out])
    }

    fn check_io(&self, coords: &[f32], out: &[f32]) -> Result<usize> {
        let d = self.cfg.in_dim;
        if coords.len() / d * d != coords.len() {
            return Err(Error::InvalidInput(format!(
                "coordinate buffer of {} values is not a multiple of in_dim {d}",
                coords.len()
            )));
        }
        let n = coords.len() / d;
        if out.len() != n * self.cfg.out_dim {
            return Err(Error::InvalidInput(format!(
                "output buffer holds {} values, expected {} points × {} channels",
                out.len(),
                n,
                self.cfg.out_dim
            )));
        }
        Ok(n)
    }

    /// Reference (bit-reproducible) evaluation at `coords` (`n × in_dim`) into
    /// `out` (`n × out_dim`), parallel over points on the current rayon pool.
    /// The same bits on every CPU and thread count.
    pub fn predict(&self, coords: &[f32], out: &mut [f32]) -> Result<()> {
        self.check_io(coords, out)?;
        infer::predict_unchecked(self, coords, out, infer::Isa::detect());
        Ok(())
    }

    /// Convenience: [`Siren::predict`] into a new vector.
    pub fn predict_vec(&self, coords: &[f32]) -> Result<Vec<f32>> {
        let n = coords.len() / self.cfg.in_dim;
        let mut out = vec![0.0; n * self.cfg.out_dim];
        self.predict(coords, &mut out)?;
        Ok(out)
    }

    /// One point at a time, no SIMD, no threads: the plain definition of the
    /// operation order that [`Siren::predict`] reproduces bit for bit. Slow; for
    /// tests and as documentation.
    pub fn predict_scalar(&self, coords: &[f32], out: &mut [f32]) -> Result<()> {
        self.check_io(coords, out)?;
        infer::predict_scalar(self, coords, out);
        Ok(())
    }

    /// Serialises the network with `codec` (see [`WeightCodec`]).
    pub fn to_bytes(&self, codec: WeightCodec) -> Result<Vec<u8>> {
        codec::encode(self, codec)
    }

    /// Reads a network written by [`Siren::to_bytes`]. Damaged bytes give
    /// [`Error::Corrupt`], [`Error::Truncated`] or [`Error::Unsupported`], never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Siren> {
        codec::decode(bytes)
    }

    /// The network the decoder will get from `to_bytes(codec)`: the encoder
    /// must compute its final prediction with this one. Equal bit for bit to
    /// `Siren::from_bytes(&self.to_bytes(codec)?)`.
    pub fn quantized(&self, codec: WeightCodec) -> Result<Siren> {
        codec::decode(&codec::encode(self, codec)?)
    }
}

/// Coordinates of a lat/lon(/level) grid on the unit sphere, point-major in
/// the order level, lat, lon (lon fastest): `x = cosθ cosφ, y = cosθ sinφ,
/// z = sinθ` (θ latitude, φ longitude), plus, when `levels` is given, `p`
/// mapped linearly from [min, max] of `levels` to [-1, 1] (0 for one level).
/// Returns `in_dim` = 3 (no levels) or 4 values per point. Computed in f64,
/// rounded once to f32 (deterministic: `sin`/`cos` of f64 are the platform's,
/// so decoders should ship or recompute these with the same library; the
/// archive stores the grid anyway).
pub fn sphere_grid_coords(lat_deg: &[f64], lon_deg: &[f64], levels: Option<&[f64]>) -> Vec<f32> {
    let one = [0.0f64];
    let levs = levels.unwrap_or(&one);
    let (lo, hi) = levs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let d = if levels.is_some() { 4 } else { 3 };
    let mut out = Vec::with_capacity(levs.len() * lat_deg.len() * lon_deg.len() * d);
    for &lev in levs {
        let p = if hi > lo {
            -1.0 + 2.0 * (lev - lo) / (hi - lo)
        } else {
            0.0
        };
        for &lat in lat_deg {
            let (st, ct) = lat.to_radians().sin_cos();
            for &lon in lon_deg {
                let (sp, cp) = lon.to_radians().sin_cos();
                out.push((ct * cp) as f32);
                out.push((ct * sp) as f32);
                out.push(st as f32);
                if levels.is_some() {
                    out.push(p as f32);
                }
            }
        }
    }
    out
}

/// 2-D coordinates in [-1, 1]² for an `ny × nx` grid (x fastest): `(x, y)` per point.
pub fn plane_grid_coords(ny: usize, nx: usize) -> Vec<f32> {
    let lin = |i: usize, n: usize| {
        if n > 1 {
            -1.0 + 2.0 * i as f64 / (n - 1) as f64
        } else {
            0.0
        }
    };
    let mut out = Vec::with_capacity(ny * nx * 2);
    for j in 0..ny {
        for i in 0..nx {
            out.push(lin(i, nx) as f32);
            out.push(lin(j, ny) as f32);
        }
    }
    out
}
