//! IDM, iterative decomposition of what low + high leave (mostly the mid
//! band).
//!
//! The frame's index box (level, lat, lon) is the root of an octree. A node
//! whose remaining error (data units, valid elements) meets the target is a
//! leaf without a network. Otherwise it gets a SIREN (4 layers, Ω = 22) on
//! block-local coordinates, trained with half of the step budget on the
//! remaining signal; if that does not converge, the node's signal is
//! harmonically re-decomposed with the second-pass thresholds (Ω = 22,
//! n_c = 128), the network spends the other half of its budget on the
//! smooth (low + mid) part only, and the rest is passed on to the node's
//! children (each axis of at least `2·min_block` samples is halved), down
//! to `max_depth`. A network is trained only when even a perfect fit would pay for its
//! bytes, and kept only when it does ([`crate::predictor::fit::pays`]). Nodes with more than `max_points` elements are
//! split without a network (training cost).
//!
//! Structure coding: pre-order, per node a `has_net` bit and, when the node
//! can be split, a `split` bit, each with an adaptive binary model per depth
//! (range coder, [`crate::entropy`]); then the networks in pre-order, each
//! length-prefixed.
//!
//! Section layout: `version u8 | max_depth u8 | min_block u16 | structure
//! length (LEB128) | structure | nets`.

use super::fit::{
    block_in_dim, box_points, check_storable, keeps, net_bytes_estimate, pays, put_blob, read_net,
    read_net_header, train_net, NetSpec, Reader,
};
use crate::entropy::{BitModel, RangeDecoder, RangeEncoder};
use crate::error::{Error, Result};
use crate::predictor::spectral::{band_thresholds, block_axes, split, BandThresholds};
use crate::siren::{Siren, WeightCodec};

/// Deepest octree a section may describe (the limit `FicConfig` accepts).
pub const MAX_DEPTH: usize = 16;

/// Floor of [`max_section_params`]: 4 Mi parameters (16 MiB of `f32`). The
/// default octree (depth 3, networks of 4 × 16) holds at most 585 networks
/// of under 900 parameters, 0.53 M even if every node had one; the encoder
/// keeps a network only where it pays for its bytes, so real sections hold
/// a few dozen.
pub const MAX_SECTION_PARAMS_FLOOR: usize = 1 << 22;

/// Most network parameters an IDM section may hold for a frame of `n`
/// points: [`MAX_SECTION_PARAMS_FLOOR`], or 4 per frame point on frames
/// of over a million points. Checked from the networks' headers before any
/// weight is read: memory stays a small multiple of the frame, whatever
/// the section says.
pub fn max_section_params(n: usize) -> usize {
    MAX_SECTION_PARAMS_FLOOR.max(n.saturating_mul(4))
}

/// An index box: `[start, end)` per axis (level, lat, lon).
pub type Box3 = [(usize, usize); 3];

/// One node of the octree.
#[derive(Debug, Clone, PartialEq)]
pub struct OctNode {
    pub bx: Box3,
    pub net: Option<Siren>,
    /// Empty for a leaf.
    pub children: Vec<OctNode>,
}

/// Octree limits (stored in the section).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdmParams {
    pub max_depth: usize,
    pub min_block: usize,
}

/// The children boxes of `bx`: every axis of at least `2·min_block`
/// samples is halved. Empty when no axis can be cut.
pub fn split_box(bx: &Box3, min_block: usize) -> Vec<Box3> {
    let pieces = |(a, b): (usize, usize)| -> Vec<(usize, usize)> {
        if b - a >= 2 * min_block.max(1) {
            let m = a + (b - a) / 2;
            vec![(a, m), (m, b)]
        } else {
            vec![(a, b)]
        }
    };
    let (x, y, z) = (pieces(bx[0]), pieces(bx[1]), pieces(bx[2]));
    if x.len() * y.len() * z.len() == 1 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &a in &x {
        for &b in &y {
            for &c in &z {
                out.push([a, b, c]);
            }
        }
    }
    out
}

fn can_split(bx: &Box3, depth: usize, p: &IdmParams) -> bool {
    depth < p.max_depth && !split_box(bx, p.min_block).is_empty()
}

/// The whole octree of a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Octree {
    pub params: IdmParams,
    pub root: OctNode,
}

fn box_dims(bx: &Box3) -> [usize; 3] {
    [bx[0].1 - bx[0].0, bx[1].1 - bx[1].0, bx[2].1 - bx[2].0]
}

impl Octree {
    /// Serialises structure and networks.
    pub fn to_bytes(&self, codec: WeightCodec) -> Result<Vec<u8>> {
        if self.params.max_depth > MAX_DEPTH
            || !(1..=u16::MAX as usize).contains(&self.params.min_block)
        {
            return Err(Error::InvalidInput(format!(
                "octree limits cannot be stored: {:?}",
                self.params
            )));
        }
        let mut out = vec![1u8, self.params.max_depth as u8];
        out.extend_from_slice(&(self.params.min_block as u16).to_le_bytes());
        let mut enc = RangeEncoder::new();
        let mut models = vec![[BitModel::new(), BitModel::new()]; self.params.max_depth + 1];
        let mut nets = Vec::new();
        fn walk<'a>(
            n: &'a OctNode,
            depth: usize,
            p: &IdmParams,
            enc: &mut RangeEncoder,
            m: &mut [[BitModel; 2]],
            nets: &mut Vec<&'a Siren>,
        ) {
            enc.encode_bit(&mut m[depth][0], n.net.is_some());
            if let Some(net) = &n.net {
                nets.push(net);
            }
            if can_split(&n.bx, depth, p) {
                enc.encode_bit(&mut m[depth][1], !n.children.is_empty());
                for c in &n.children {
                    walk(c, depth + 1, p, enc, m, nets);
                }
            }
        }
        walk(
            &self.root,
            0,
            &self.params,
            &mut enc,
            &mut models,
            &mut nets,
        );
        put_blob(&mut out, &enc.finish());
        for net in nets {
            check_storable(net)?;
            put_blob(&mut out, &net.to_bytes(codec)?);
        }
        Ok(out)
    }

    /// Reads an octree for a frame of `dims`. Bounded by the frame, whatever
    /// the bytes say: the boxes come from `dims` (children partition their
    /// parent, so there are fewer than 2 × points nodes and at most
    /// [`MAX_DEPTH`] + 1 levels, and the networks' inference work is at most
    /// (depth + 1) × points × [`crate::predictor::fit::MAX_NET_MACS`]); every network
    /// must take the frame's inputs and have a predictor-sized shape, and
    /// together at most [`max_section_params`] parameters, all checked from
    /// the headers before any weights are read.
    pub fn from_bytes(bytes: &[u8], dims: [usize; 3]) -> Result<Self> {
        let n = dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::InvalidInput(format!("bad frame dims {dims:?}")))?;
        let mut r = Reader { b: bytes, pos: 0 };
        if r.u8()? != 1 {
            return Err(Error::Unsupported("IDM section version".into()));
        }
        let max_depth = r.u8()? as usize;
        let min_block = r.u16()? as usize;
        if max_depth > MAX_DEPTH || min_block == 0 {
            return Err(Error::Corrupt("IDM octree limits".into()));
        }
        let params = IdmParams {
            max_depth,
            min_block,
        };
        let structure = r.blob()?;
        let mut dec = RangeDecoder::new(structure);
        // children partition their parent into at least two non-empty boxes
        let max_nodes = n.saturating_mul(2) - 1;
        struct Walk<'d, 'b> {
            p: IdmParams,
            dec: &'d mut RangeDecoder<'b>,
            m: Vec<[BitModel; 2]>,
            has_net: Vec<bool>,
            max_nodes: usize,
        }
        fn walk(bx: Box3, depth: usize, w: &mut Walk<'_, '_>) -> Result<OctNode> {
            if w.dec.overrun() {
                return Err(Error::Truncated("IDM octree structure".into()));
            }
            if w.has_net.len() >= w.max_nodes {
                return Err(Error::Corrupt(
                    "IDM octree has more nodes than the frame".into(),
                ));
            }
            let net = w.dec.decode_bit(&mut w.m[depth][0]);
            w.has_net.push(net);
            let mut children = Vec::new();
            if can_split(&bx, depth, &w.p) && w.dec.decode_bit(&mut w.m[depth][1]) {
                let kids = split_box(&bx, w.p.min_block);
                children.reserve_exact(kids.len());
                for c in kids {
                    children.push(walk(c, depth + 1, w)?);
                }
            }
            if w.dec.overrun() {
                return Err(Error::Truncated("IDM octree structure".into()));
            }
            Ok(OctNode {
                bx,
                net: None,
                children,
            })
        }
        let root_box = [(0, dims[0]), (0, dims[1]), (0, dims[2])];
        let mut w = Walk {
            p: params,
            dec: &mut dec,
            m: vec![[BitModel::new(), BitModel::new()]; max_depth + 1],
            has_net: Vec::new(),
            max_nodes,
        };
        let mut root = walk(root_box, 0, &mut w)?;
        let has_net = w.has_net;
        // the networks' blobs and headers first: shapes and the parameter
        // budget are checked before any weights are read
        let d = block_in_dim(dims);
        let budget = max_section_params(n);
        let mut blobs = Vec::new();
        let mut total = 0usize;
        for _ in has_net.iter().filter(|&&h| h) {
            let b = r.blob()?;
            let cfg = read_net_header(b, Some(d))?;
            total = total.saturating_add(cfg.n_params());
            if total > budget {
                return Err(Error::Corrupt(format!(
                    "IDM networks hold more than {budget} parameters"
                )));
            }
            blobs.push(b);
        }
        if r.pos != bytes.len() {
            return Err(Error::Corrupt("trailing bytes in IDM section".into()));
        }
        let mut k = 0;
        let mut nets = blobs.into_iter();
        fn fill<'b>(
            n: &mut OctNode,
            has: &[bool],
            k: &mut usize,
            nets: &mut impl Iterator<Item = &'b [u8]>,
            d: usize,
        ) -> Result<()> {
            if has[*k] {
                let b = nets
                    .next()
                    .ok_or_else(|| Error::Corrupt("IDM network missing".into()))?;
                n.net = Some(read_net(b, Some(d))?);
            }
            *k += 1;
            for c in n.children.iter_mut() {
                fill(c, has, k, nets, d)?;
            }
            Ok(())
        }
        fill(&mut root, &has_net, &mut k, &mut nets, d)?;
        Ok(Self { params, root })
    }

    /// Number of nodes and of networks.
    pub fn counts(&self) -> (usize, usize) {
        fn c(n: &OctNode) -> (usize, usize) {
            n.children
                .iter()
                .fold((1, n.net.is_some() as usize), |(a, b), ch| {
                    let (x, y) = c(ch);
                    (a + x, b + y)
                })
        }
        c(&self.root)
    }

    /// Adds every node's network output to `out` (pre-order, f64).
    pub fn add_prediction(&self, dims: [usize; 3], out: &mut [f64]) -> Result<()> {
        if dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(out.len()) {
            return Err(Error::InvalidInput(
                "IDM output length does not match dims".into(),
            ));
        }
        fn walk(n: &OctNode, dims: [usize; 3], out: &mut [f64]) -> Result<()> {
            if let Some(net) = &n.net {
                let (idx, co, d) = box_points(dims, &n.bx);
                if net.config().in_dim != d || net.config().out_dim != 1 {
                    return Err(Error::Corrupt("IDM network input size".into()));
                }
                let y = net.predict_vec(&co)?;
                for (k, &i) in idx.iter().enumerate() {
                    out[i] += y[k] as f64;
                }
            }
            for c in &n.children {
                walk(c, dims, out)?;
            }
            Ok(())
        }
        walk(&self.root, dims, out)
    }
}

/// What [`fit`] needs besides the signal.
#[derive(Debug, Clone)]
pub struct IdmFit<'a> {
    pub dims: [usize; 3],
    pub valid: &'a [bool],
    /// Per-element scale to data units.
    pub w: &'a [f64],
    /// Data-unit RMSE a node must reach.
    pub target: f64,
    pub spec: &'a NetSpec,
    pub codec: WeightCodec,
    pub params: IdmParams,
    /// Nodes with more elements are split without a network.
    pub max_points: usize,
    /// Re-decomposition thresholds (None: no re-decomposition).
    pub redecompose: Option<BandThresholds>,
    pub seed: u64,
    /// See `FicConfig::rd_check`.
    pub rd_check: bool,
}

/// Builds the octree for the remaining signal `t` (normalised units), which
/// is updated in place to what the octree leaves.
pub fn fit(t: &mut [f64], f: &IdmFit<'_>) -> Result<Octree> {
    let root_box = [(0, f.dims[0]), (0, f.dims[1]), (0, f.dims[2])];
    let mut counter = 0u64;
    let root = build(root_box, 0, t, f, &mut counter)?;
    Ok(Octree {
        params: f.params,
        root,
    })
}

fn build(
    bx: Box3,
    depth: usize,
    t: &mut [f64],
    f: &IdmFit<'_>,
    counter: &mut u64,
) -> Result<OctNode> {
    let (idx, co, d) = box_points(f.dims, &bx);
    let mut node = OctNode {
        bx,
        net: None,
        children: Vec::new(),
    };
    let sse_of = |t: &[f64]| {
        let (mut s, mut c, mut ws) = (0.0, 0usize, 0.0);
        for &i in &idx {
            if f.valid[i] {
                s += t[i] * t[i] * f.w[i] * f.w[i];
                ws += f.w[i] * f.w[i];
                c += 1;
            }
        }
        (s, c, ws)
    };
    let (sse, cnt, ws) = sse_of(t);
    if cnt == 0 || (sse / cnt as f64).sqrt() <= f.target {
        return Ok(node);
    }
    let splittable = can_split(&bx, depth, &f.params);
    if cnt > f.max_points && splittable {
        for c in split_box(&bx, f.params.min_block) {
            node.children.push(build(c, depth + 1, t, f, counter)?);
        }
        return Ok(node);
    }
    let est = net_bytes_estimate(f.spec, d, super::fit::codec_bits(f.codec));
    if f.spec.steps > 0 && (!f.rd_check || pays(sse, 0.0, cnt, f.target, est)) {
        let mut vco = Vec::with_capacity(cnt * d);
        let mut vt = Vec::with_capacity(cnt);
        for (k, &i) in idx.iter().enumerate() {
            if f.valid[i] {
                vco.extend_from_slice(&co[k * d..(k + 1) * d]);
                vt.push(t[i] as f32);
            }
        }
        let tmse = (f.target * f.target / (ws / cnt as f64)) as f32;
        *counter += 1;
        let seed = f.seed.wrapping_add(*counter);
        let half = NetSpec {
            steps: if f.redecompose.is_some() && splittable {
                f.spec.steps.div_ceil(2)
            } else {
                f.spec.steps
            },
            ..f.spec.clone()
        };
        let (mut net, met) = train_net(&half, d, &vco, &vt, tmse, seed, None)?;
        if let (false, Some(th), true) = (met, f.redecompose, splittable) {
            // re-decompose the node's signal; the network keeps to the smooth part
            let bd = box_dims(&bx);
            let local: Vec<f64> = idx.iter().map(|&i| t[i]).collect();
            let bands = split(&local, block_axes(bd), th)?;
            let mut st = Vec::with_capacity(cnt);
            for (k, &i) in idx.iter().enumerate() {
                if f.valid[i] {
                    st.push((bands.low[k] + bands.mid[k]) as f32);
                }
            }
            let rest = NetSpec {
                steps: f.spec.steps - half.steps,
                ..f.spec.clone()
            };
            net = train_net(&rest, d, &vco, &st, tmse, seed, Some(net))?.0;
        }
        let q = net.quantized(f.codec)?;
        let y = q.predict_vec(&co)?;
        let mut sse2 = 0.0;
        for (k, &i) in idx.iter().enumerate() {
            if f.valid[i] {
                let e = (t[i] - y[k] as f64) * f.w[i];
                sse2 += e * e;
            }
        }
        if keeps(
            f.rd_check,
            sse,
            sse2,
            cnt,
            f.target,
            q.to_bytes(f.codec)?.len(),
        ) {
            for (k, &i) in idx.iter().enumerate() {
                t[i] -= y[k] as f64;
            }
            node.net = Some(q);
            if (sse2 / cnt as f64).sqrt() <= f.target {
                return Ok(node);
            }
        }
    }
    if splittable {
        for c in split_box(&bx, f.params.min_block) {
            node.children.push(build(c, depth + 1, t, f, counter)?);
        }
    }
    Ok(node)
}

/// Second-pass thresholds with the paper's values: (Ω = 22, n_c = 128).
pub fn redecompose_thresholds(omega: f64, n_c: usize, scale: f64) -> BandThresholds {
    band_thresholds(omega, n_c, scale)
}
