//! Weight serialisation: f32, f16, or k-bit quantisation + adaptive binary
//! range coding of the quantised integers.
//!
//! Layout (little-endian):
//!
//! ```text
//! "HSRN" | version u8 = 1 | codec u8 (0 f32, 1 f16, 2 quantised) | bits u8 | flags u8 (bit 0: per-row)
//! in_dim u8 | layers u8 | hidden u16 | out_dim u16 | omega_first f32 | omega_hidden f32
//! f32: n_params × f32      f16: n_params × f16
//! quantised: scales (f32, per group, see below) | u32 byte length | range-coded integers
//! ```
//!
//! Quantisation: each group of values `v` gets `scale = max|v| / (2^(b−1) − 1)`,
//! `q = round(v / scale)` and decodes to `q as f32 * scale` (one f32 product:
//! exact on every platform). Groups: with `per_row`, every row of every `W`
//! plus each layer's bias vector; otherwise each `W` and each bias vector. The
//! first layer and all biases use `b + 4` bits (at most 16): with Ω = 30 their
//! errors are multiplied by Ω before the sine, and they are < 4 % of the
//! parameters. Integers are binarised as bit length (5-bit tree), mantissa bits
//! (context: bit length and position) and sign, each bit coded with an
//! adaptive LZMA-style binary range coder.

use super::{Siren, SirenConfig, MAX_HIDDEN, MAX_LAYERS, MAX_OUT};
use crate::entropy::{BitModel, BitTree, RangeDecoder, RangeEncoder};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"HSRN";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 4 + 6 + 8;

/// How [`Siren::to_bytes`] stores the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WeightCodec {
    /// Exact f32.
    F32,
    /// IEEE half precision (round to nearest even); weights must fit f16's range.
    F16,
    /// `bits`-bit (2..=16) symmetric quantisation with one f32 scale per row
    /// (`per_row`) or per matrix, then entropy coding.
    Quantized { bits: u8, per_row: bool },
}

fn corrupt(m: &str) -> Error {
    Error::Corrupt(format!("SIREN weights: {m}"))
}

fn truncated(m: &str) -> Error {
    Error::Truncated(format!("SIREN weights: {m}"))
}

/// Quantisation groups: (start, len, bits) over the flat parameter vector.
fn groups(cfg: &SirenConfig, bits: u8, per_row: bool) -> Vec<(usize, usize, u8)> {
    let hi = (bits + 4).min(16);
    let mut g = Vec::new();
    for l in 0..cfg.n_linear() {
        let (n_in, n_out) = cfg.layer_dims(l);
        let off = cfg.layer_offset(l);
        let wb = if l == 0 { hi } else { bits };
        if per_row {
            for r in 0..n_out {
                g.push((off + r * n_in, n_in, wb));
            }
        } else {
            g.push((off, n_in * n_out, wb));
        }
        g.push((off + n_in * n_out, n_out, hi));
    }
    g
}

fn qmax(bits: u8) -> i32 {
    (1i32 << (bits - 1)) - 1
}

pub(super) fn encode(net: &Siren, codec: WeightCodec) -> Result<Vec<u8>> {
    let cfg = net.config();
    let mut out = Vec::with_capacity(HEADER + 4 * net.n_params());
    out.extend_from_slice(MAGIC);
    let (id, bits, flags) = match codec {
        WeightCodec::F32 => (0u8, 0u8, 0u8),
        WeightCodec::F16 => (1, 0, 0),
        WeightCodec::Quantized { bits, per_row } => {
            if !(2..=16).contains(&bits) {
                return Err(Error::InvalidInput(format!(
                    "quantisation bits must be 2..=16, got {bits}"
                )));
            }
            (2, bits, per_row as u8)
        }
    };
    out.extend_from_slice(&[VERSION, id, bits, flags, cfg.in_dim as u8, cfg.layers as u8]);
    out.extend_from_slice(&(cfg.hidden as u16).to_le_bytes());
    out.extend_from_slice(&(cfg.out_dim as u16).to_le_bytes());
    out.extend_from_slice(&cfg.omega_first.to_le_bytes());
    out.extend_from_slice(&cfg.omega_hidden.to_le_bytes());
    let p = net.params();
    if p.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidInput("SIREN has non-finite weights".into()));
    }
    match codec {
        WeightCodec::F32 => p
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        WeightCodec::F16 => {
            for &v in p {
                let h = half::f16::from_f32(v);
                if !h.is_finite() {
                    return Err(Error::InvalidInput(format!(
                        "weight {v} exceeds the f16 range"
                    )));
                }
                out.extend_from_slice(&h.to_bits().to_le_bytes());
            }
        }
        WeightCodec::Quantized { bits, per_row } => {
            let gs = groups(cfg, bits, per_row);
            let mut enc = RangeEncoder::new();
            let mut model = IntModel::new();
            let mut scales = Vec::with_capacity(gs.len());
            for &(start, len, b) in &gs {
                let vals = &p[start..start + len];
                let qm = qmax(b);
                let amax = vals.iter().fold(0.0f32, |a, v| a.max(v.abs()));
                let scale = (amax as f64 / qm as f64) as f32;
                scales.push(scale);
                for &v in vals {
                    let q = if scale > 0.0 {
                        ((v as f64 / scale as f64).round() as i32).clamp(-qm, qm)
                    } else {
                        0
                    };
                    model.encode(&mut enc, q);
                }
            }
            scales
                .iter()
                .for_each(|s| out.extend_from_slice(&s.to_le_bytes()));
            let coded = enc.finish();
            out.extend_from_slice(&(coded.len() as u32).to_le_bytes());
            out.extend_from_slice(&coded);
        }
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| truncated(what))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        let s = self.take(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_bits(self.u32(what)?))
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<Siren> {
    let mut r = Reader { b: bytes, pos: 0 };
    if r.take(4, "magic")? != MAGIC {
        return Err(corrupt("bad magic"));
    }
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(Error::Unsupported(format!(
            "SIREN weights version {version}"
        )));
    }
    let id = r.u8("codec")?;
    let bits = r.u8("bits")?;
    let flags = r.u8("flags")?;
    let cfg = SirenConfig {
        in_dim: r.u8("in_dim")? as usize,
        layers: r.u8("layers")? as usize,
        hidden: r.u16("hidden")? as usize,
        out_dim: r.u16("out_dim")? as usize,
        omega_first: r.f32("omega")?,
        omega_hidden: r.f32("omega")?,
    };
    if !(1..=4).contains(&cfg.in_dim)
        || !(1..=MAX_LAYERS).contains(&cfg.layers)
        || !(1..=MAX_HIDDEN).contains(&cfg.hidden)
        || !(1..=MAX_OUT).contains(&cfg.out_dim)
        || !cfg.omega_first.is_finite()
        || !cfg.omega_hidden.is_finite()
    {
        return Err(corrupt("impossible network shape"));
    }
    let n = cfg.n_params();
    let mut params = Vec::with_capacity(n);
    match id {
        0 | 1 => {
            if bits != 0 || flags != 0 {
                return Err(corrupt("bad flags"));
            }
            let w = if id == 0 { 4 } else { 2 };
            let raw = r.take(n * w, "parameters")?;
            for c in raw.chunks_exact(w) {
                let v = if id == 0 {
                    f32::from_le_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32()
                };
                if !v.is_finite() {
                    return Err(corrupt("non-finite parameter"));
                }
                params.push(v);
            }
        }
        2 => {
            if !(2..=16).contains(&bits) || flags > 1 {
                return Err(corrupt("bad quantisation header"));
            }
            let gs = groups(&cfg, bits, flags == 1);
            let mut scales = Vec::with_capacity(gs.len());
            for _ in 0..gs.len() {
                let s = r.f32("scales")?;
                if !(s.is_finite() && s >= 0.0) {
                    return Err(corrupt("bad scale"));
                }
                scales.push(s);
            }
            let len = r.u32("coded length")? as usize;
            let coded = r.take(len, "coded integers")?;
            if coded.len() < 5 {
                return Err(truncated("coded integers end early"));
            }
            let mut dec = RangeDecoder::new(coded);
            let mut model = IntModel::new();
            for (&(_, glen, b), &scale) in gs.iter().zip(&scales) {
                let qm = qmax(b);
                for _ in 0..glen {
                    let q = model.decode(&mut dec, b)?;
                    if q.abs() > qm {
                        return Err(corrupt("quantised value out of range"));
                    }
                    params.push(q as f32 * scale);
                }
            }
            if dec.overrun() {
                return Err(truncated("coded integers end early"));
            }
        }
        _ => return Err(Error::Unsupported(format!("SIREN weight codec {id}"))),
    }
    if r.pos != bytes.len() {
        return Err(corrupt("trailing bytes"));
    }
    Siren::from_params(cfg, params).map_err(|e| corrupt(&e.to_string()))
}

/// Contexts for signed integers |q| < 2^16: the bit length through a
/// 5-bit tree, every mantissa bit with its own model per length, then the sign.
struct IntModel {
    len_tree: BitTree,
    mant: [[BitModel; 16]; 17],
    sign: BitModel,
}

impl IntModel {
    fn new() -> Self {
        Self {
            len_tree: BitTree::new(5),
            mant: [[BitModel::new(); 16]; 17],
            sign: BitModel::new(),
        }
    }

    fn encode(&mut self, e: &mut RangeEncoder, q: i32) {
        let m = q.unsigned_abs();
        let nb = 32 - m.leading_zeros(); // 0..=16
        self.len_tree.encode(e, nb);
        if nb >= 2 {
            for i in (0..nb - 1).rev() {
                e.encode_bit(&mut self.mant[nb as usize][i as usize], (m >> i) & 1 == 1);
            }
        }
        if m != 0 {
            e.encode_bit(&mut self.sign, q < 0);
        }
    }

    fn decode(&mut self, d: &mut RangeDecoder, max_bits: u8) -> Result<i32> {
        let nb = self.len_tree.decode(d);
        if nb > max_bits as u32 {
            return Err(corrupt("quantised value too long"));
        }
        let mut m: u32 = if nb == 0 { 0 } else { 1 };
        if nb >= 2 {
            for i in (0..nb - 1).rev() {
                m = (m << 1) | d.decode_bit(&mut self.mant[nb as usize][i as usize]) as u32;
            }
        }
        let mut q = m as i32;
        if m != 0 && d.decode_bit(&mut self.sign) {
            q = -q;
        }
        Ok(q)
    }
}
