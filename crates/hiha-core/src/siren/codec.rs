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

/// Most parameters a stored network may have (4 MiB of `f32`). The shape
/// limits of [`SirenConfig::validate`] alone allow 15.7 M parameters (width
/// 1024, 16 layers), which the quantised codec can announce in under 20 KB
/// of zeros; this cap bounds what one blob can make the reader allocate.
/// It is far above anything hiha trains (its largest default network, the
/// MIM thumbnail, has about 2.3 k parameters; a width-256 network with 15
/// hidden layers still fits), and [`Siren::to_bytes`] refuses what
/// [`Siren::from_bytes`] would refuse.
const MAX_STORED_PARAMS: usize = 1 << 20;

/// Most parameters one byte of range-coded integers can hold. Every
/// quantised parameter costs at least the five decisions of its bit-length
/// tree, and an adaptive [`BitModel`] never predicts a decision with more
/// than `65465 / 65536` (its two estimates saturate at 65521 and 65409), so
/// each decision shrinks the range by at least `-log2(65465/65536)` =
/// 0.00156 bits: at least 0.0078 bits per parameter. A stream of `L` bytes
/// that decodes without reading past its end (5 bytes of start-up, then one
/// byte per 8 bits of range) therefore holds fewer than `1023.2 · L`
/// parameters, and a header that announces more is refused before
/// anything is allocated. This cannot reject what the encoder wrote.
const MAX_PARAMS_PER_CODED_BYTE: usize = 1024;

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

impl WeightCodec {
    /// Most parameters a stored network may have (see the module source for
    /// the reasoning): [`Siren::to_bytes`] refuses larger networks with
    /// [`Error::InvalidInput`], [`Siren::from_bytes`] with [`Error::Corrupt`].
    pub const MAX_STORED_PARAMS: usize = MAX_STORED_PARAMS;

    /// Most parameters one byte of the quantised codec's range-coded
    /// integers can hold; a blob announcing more is [`Error::Corrupt`].
    pub const MAX_PARAMS_PER_CODED_BYTE: usize = MAX_PARAMS_PER_CODED_BYTE;

    /// Reads the header of a network written by [`Siren::to_bytes`]: its
    /// codec and shape, checked as [`Siren::from_bytes`] checks them, without
    /// reading (or allocating) the parameters. Lets a reader refuse a shape
    /// before paying for its weights.
    pub fn read_header(bytes: &[u8]) -> Result<(WeightCodec, SirenConfig)> {
        let mut r = Reader { b: bytes, pos: 0 };
        read_header(&mut r)
    }
}

/// Parameter count of a shape the reader accepts, or why it is refused.
fn checked_params(cfg: &SirenConfig) -> std::result::Result<usize, String> {
    if !(1..=4).contains(&cfg.in_dim)
        || !(1..=MAX_LAYERS).contains(&cfg.layers)
        || !(1..=MAX_HIDDEN).contains(&cfg.hidden)
        || !(1..=MAX_OUT).contains(&cfg.out_dim)
        || !cfg.omega_first.is_finite()
        || !cfg.omega_hidden.is_finite()
    {
        return Err("impossible network shape".into());
    }
    // validated shapes are small enough for this to be exact, but count
    // with checked arithmetic anyway
    let mut n = 0usize;
    for l in 0..cfg.n_linear() {
        let (i, o) = cfg.layer_dims(l);
        n = i
            .checked_add(1)
            .and_then(|i1| i1.checked_mul(o))
            .and_then(|p| n.checked_add(p))
            .ok_or_else(|| "parameter count overflows".to_string())?;
    }
    if n > MAX_STORED_PARAMS {
        return Err(format!(
            "{n} parameters, above the limit of {MAX_STORED_PARAMS}"
        ));
    }
    Ok(n)
}

/// Number of quantisation groups of [`groups`], without building them.
fn group_count(cfg: &SirenConfig, per_row: bool) -> usize {
    (0..cfg.n_linear())
        .map(|l| if per_row { cfg.layer_dims(l).1 + 1 } else { 2 })
        .sum()
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
    checked_params(cfg).map_err(|m| Error::InvalidInput(format!("SIREN cannot be stored: {m}")))?;
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

fn read_header(r: &mut Reader<'_>) -> Result<(WeightCodec, SirenConfig)> {
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
    checked_params(&cfg).map_err(|m| corrupt(&m))?;
    let codec = match id {
        0 | 1 => {
            if bits != 0 || flags != 0 {
                return Err(corrupt("bad flags"));
            }
            if id == 0 {
                WeightCodec::F32
            } else {
                WeightCodec::F16
            }
        }
        2 => {
            if !(2..=16).contains(&bits) || flags > 1 {
                return Err(corrupt("bad quantisation header"));
            }
            WeightCodec::Quantized {
                bits,
                per_row: flags == 1,
            }
        }
        _ => return Err(Error::Unsupported(format!("SIREN weight codec {id}"))),
    };
    Ok((codec, cfg))
}

/// Reads a network. Every size is checked against the bytes that are left
/// before anything is allocated: the raw codecs need all their bytes, the
/// quantised one its scales and at least `n / MAX_PARAMS_PER_CODED_BYTE`
/// coded bytes.
pub(super) fn decode(bytes: &[u8]) -> Result<Siren> {
    let mut r = Reader { b: bytes, pos: 0 };
    let (codec, cfg) = read_header(&mut r)?;
    let n = checked_params(&cfg).map_err(|m| corrupt(&m))?;
    let params = match codec {
        WeightCodec::F32 | WeightCodec::F16 => {
            let w = if codec == WeightCodec::F32 { 4 } else { 2 };
            let len = n.checked_mul(w).ok_or_else(|| corrupt("size overflows"))?;
            let raw = r.take(len, "parameters")?;
            let mut params = Vec::with_capacity(n);
            for c in raw.chunks_exact(w) {
                let v = if w == 4 {
                    f32::from_le_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32()
                };
                if !v.is_finite() {
                    return Err(corrupt("non-finite parameter"));
                }
                params.push(v);
            }
            params
        }
        WeightCodec::Quantized { bits, per_row } => {
            let ng = group_count(&cfg, per_row);
            // the scales must be there before the group table is built
            let scale_bytes = ng.checked_mul(4).ok_or_else(|| corrupt("size overflows"))?;
            let raw_scales = r.take(scale_bytes, "scales")?;
            let len = r.u32("coded length")? as usize;
            let coded = r.take(len, "coded integers")?;
            if coded.len() < 5 {
                return Err(truncated("coded integers end early"));
            }
            if n > MAX_PARAMS_PER_CODED_BYTE.saturating_mul(coded.len()) {
                return Err(corrupt(&format!(
                    "{n} parameters cannot fit in {} coded bytes",
                    coded.len()
                )));
            }
            let mut scales = Vec::with_capacity(ng);
            for c in raw_scales.chunks_exact(4) {
                let s = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if !(s.is_finite() && s >= 0.0) {
                    return Err(corrupt("bad scale"));
                }
                scales.push(s);
            }
            let gs = groups(&cfg, bits, per_row);
            if gs.len() != ng {
                return Err(corrupt("quantisation groups"));
            }
            let mut params = Vec::with_capacity(n);
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
                if dec.overrun() {
                    return Err(truncated("coded integers end early"));
                }
            }
            params
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(in_dim: usize, hidden: usize, layers: usize) -> SirenConfig {
        SirenConfig {
            in_dim,
            hidden,
            layers,
            out_dim: 1,
            omega_first: 30.0,
            omega_hidden: 30.0,
        }
    }

    /// The cheapest stream the encoder can write (every parameter zero, so
    /// every decision maximally predictable) stays within
    /// `MAX_PARAMS_PER_CODED_BYTE`: the bound never refuses a real network.
    #[test]
    fn cheapest_quantised_stream_respects_the_bytes_bound() {
        for (c, per_row) in [(cfg(4, 512, 4), false), (cfg(3, 256, 8), true)] {
            let n = c.n_params();
            let net = Siren::from_params(c, vec![0.0; n]).expect("net");
            let codec = WeightCodec::Quantized { bits: 2, per_row };
            let bytes = encode(&net, codec).expect("enc");
            let off = HEADER + 4 * group_count(&c, per_row);
            let coded =
                u32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]])
                    as usize;
            assert_eq!(off + 4 + coded, bytes.len());
            let ratio = n as f64 / coded as f64;
            assert!(
                ratio < MAX_PARAMS_PER_CODED_BYTE as f64,
                "{n} zeros in {coded} bytes: {ratio:.1} per byte"
            );
            // and close to it: the bound is not needlessly loose
            assert!(ratio > 0.5 * MAX_PARAMS_PER_CODED_BYTE as f64, "{ratio}");
            assert_eq!(decode(&bytes).expect("dec"), net);
        }
    }

    #[test]
    fn oversized_networks_are_refused_both_ways() {
        // 1 + 512·512… : above MAX_STORED_PARAMS with width 1024 and two layers
        let c = cfg(4, 1024, 2);
        assert!(c.n_params() > MAX_STORED_PARAMS);
        let net = Siren::from_params(c, vec![0.0; c.n_params()]).expect("net");
        for codec in [
            WeightCodec::F32,
            WeightCodec::Quantized {
                bits: 8,
                per_row: true,
            },
        ] {
            assert!(matches!(encode(&net, codec), Err(Error::InvalidInput(_))));
        }
        // the header alone is refused by the reader
        let mut b = encode(
            &Siren::from_params(cfg(4, 8, 2), vec![0.0; cfg(4, 8, 2).n_params()]).expect("n"),
            WeightCodec::F32,
        )
        .expect("enc");
        b[10..12].copy_from_slice(&1024u16.to_le_bytes());
        assert!(matches!(
            WeightCodec::read_header(&b),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(decode(&b), Err(Error::Corrupt(_))));
    }
}
