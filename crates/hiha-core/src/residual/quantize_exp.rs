//! Entropy-modelling experiments on the SZ-style path (issue 12, item 2;
//! docs/ALGORITHM.md, "Entropy modelling experiments on the SZ path").
//!
//! Ignored measurement test. It takes the quantisation indices the SZ path
//! produces for a field (the production configuration choice), records them
//! with their positions, and codes that trace again with variants of the
//! context model ([`V`]), on the production range coder with explicit
//! probabilities (the baseline variant reproduces the production stream byte
//! for byte, which the test asserts). Every variant is also decoded from its
//! bytes and compared with the trace.
//!
//! Data: raw little-endian f32 dumps `NAME.f32` with `NAME.dims` (four axes,
//! `frames levels lat lon`; made with a few lines around
//! `hiha_io::read_any_variable`: `field.values` and `field.shape`) in
//! `$HIHA_SZX_DATA` (default /tmp/szx_raw). Run:
//! `cargo test -p hiha-core --release --lib szx_measure -- --ignored --nocapture`.
//! Options: `HIHA_SZX_FILTER=substring`; `HIHA_SZX_FULL=1` also runs the full
//! residual coder to say which path it keeps per cell; `HIHA_SZX_TIME=1`
//! times the replay decoders of the baseline and of the mixing variant
//! (CPU seconds, 3 runs) and the production SZ decoder; `MIXS=n` sets the
//! mixer's learning shift (default 11), `MIXSEL=1` selects the mixer
//! weights by (class, bucket) instead of class.

#![allow(clippy::needless_range_loop)]

use super::*;
use crate::residual::interp::{traverse, Grid, Visitor};
use crate::residual::Target;

/// One coded element of the trace.
#[derive(Clone, Copy)]
struct Ev {
    idx: u32,
    na: u32,
    nb: u32,
    /// Interpolation support points (±s along the pass axis; Lorenzo: the
    /// previous level and frame), `u32::MAX` when absent.
    sl: u32,
    sr: u32,
    level: u8,
    /// Pass axis (0..4) and number of odd coordinates on the earlier axes.
    d: u8,
    par: u8,
    lat: u8,
    lev: u8,
    esc: bool,
    q: i32,
}

const NO: u32 = u32::MAX;

struct RecSink {
    syms: Vec<(bool, i32)>,
}
impl Sink for RecSink {
    fn put(&mut self, _: usize, q: i32) {
        self.syms.push((false, q));
    }
    fn escape(&mut self, _: usize, bits: u32) {
        self.syms.push((true, bits as i32));
    }
    const CODES: bool = true;
}

struct Rec<'a> {
    inner: EncVisitor<'a, RecSink>,
    ev: Vec<Ev>,
    grid: Grid,
    lorenzo: bool,
}

impl Visitor for Rec<'_> {
    fn visit(&mut self, idx: usize, pred: f64, na: usize, nb: usize, level: u32) -> f64 {
        let r = self.inner.visit(idx, pred, na, nb, level);
        let g = &self.grid;
        let c: [usize; 4] = std::array::from_fn(|a| (idx / g.stride[a]) % g.n[a]);
        let cv = |v: usize| if v == NONE { NO } else { v as u32 };
        let (mut d, mut par, mut sl, mut sr) = (0u8, 0u8, NO, NO);
        if self.lorenzo {
            if c[1] > 0 {
                sl = (idx - g.stride[1]) as u32;
            }
            if c[0] > 0 {
                sr = (idx - g.stride[0]) as u32;
            }
        } else {
            let sh = level - 1;
            if let Some(a) = (0..4).rev().find(|&a| (c[a] >> sh) & 1 == 1) {
                d = a as u8;
                par = (0..a).filter(|&b| (c[b] >> sh) & 1 == 1).count() as u8;
                let o = (1usize << sh) * g.stride[a];
                sl = (idx - o) as u32;
                if c[a] + (1 << sh) < g.n[a] {
                    sr = (idx + o) as u32;
                }
            }
        }
        let lat = ((2 * c[2]).abs_diff(g.n[2] - 1) * 3 / g.n[2]).min(2) as u8;
        let lev = (c[1] * 3 / g.n[1]).min(2) as u8;
        let &(esc, q) = self.inner.sink.syms.last().expect("one symbol per visit");
        self.ev.push(Ev {
            idx: idx as u32,
            na: cv(na),
            nb: cv(nb),
            sl,
            sr,
            level: level as u8,
            d,
            par,
            lat,
            lev,
            esc,
            q,
        });
        r
    }
}

fn record(b: &Block, params: &Params, accept: Accept) -> Vec<Ev> {
    let n = b.grid.len;
    let inv = params
        .steps
        .iter()
        .map(|&s| if s > 0.0 { 1.0 / s } else { 0.0 })
        .collect();
    let mut v = Rec {
        inner: EncVisitor {
            x: b.x,
            p: b.p,
            mask: b.mask,
            steps: &params.steps,
            inv,
            accept,
            mags: vec![0; n],
            out: vec![0.0; n],
            sse: 0.0,
            sink: RecSink { syms: Vec::new() },
        },
        ev: Vec::new(),
        grid: *b.grid,
        lorenzo: params.predictor == Predictor::Lorenzo,
    };
    let mut recon = vec![0.0f64; n];
    traverse(b.grid, params.predictor, &mut recon, &mut v);
    v.ev
}

// ---------------------------------------------------------------- coder

/// The production range coder with explicit probabilities (p0 in 2^-16):
/// [`RangeEncoder::encode_with_p0`] and [`RangeDecoder::decode_with_p0`].
trait Io {
    const DEC: bool;
    fn bit(&mut self, p0: u32, bit: bool) -> bool;
    fn direct(&mut self, v: u32, n: u32) -> u32;
}
impl Io for RangeEncoder {
    const DEC: bool = false;
    #[inline(always)]
    fn bit(&mut self, p0: u32, bit: bool) -> bool {
        self.encode_with_p0(p0, bit);
        bit
    }
    fn direct(&mut self, v: u32, n: u32) -> u32 {
        self.encode_direct(v, n);
        v
    }
}
impl Io for RangeDecoder<'_> {
    const DEC: bool = true;
    #[inline(always)]
    fn bit(&mut self, p0: u32, _: bool) -> bool {
        self.decode_with_p0(p0)
    }
    fn direct(&mut self, _: u32, n: u32) -> u32 {
        self.decode_direct(n)
    }
}

/// The production [`BitModel`]: two adaptation rates, averaged.
#[derive(Clone, Copy)]
struct Bm(u16, u16);
impl Bm {
    const NEW: Bm = Bm(32768, 32768);
    #[inline(always)]
    fn p0(self) -> u32 {
        (self.0 as u32 + self.1 as u32) >> 1
    }
    #[inline(always)]
    fn up(&mut self, bit: bool) {
        if bit {
            self.0 -= self.0 >> 4;
            self.1 -= self.1 >> 7;
        } else {
            self.0 += ((65536 - self.0 as u32) >> 4) as u16;
            self.1 += ((65536 - self.1 as u32) >> 7) as u16;
        }
    }
    #[inline(always)]
    fn code<I: Io>(&mut self, io: &mut I, bit: bool) -> bool {
        let b = io.bit(self.p0(), bit);
        self.up(b);
        b
    }
}

// ---------------------------------------------------------- logistic mixing

/// paq-style squash: 4096 / (1 + e^-d/256), integer interpolation of a
/// 33-entry table; d in [-2047, 2047].
fn squash(d: i32) -> i32 {
    const T: [i32; 33] = [
        1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994,
        3348, 3607, 3785, 3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
    ];
    if d > 2047 {
        return 4095;
    }
    if d < -2047 {
        return 1;
    }
    let w = d & 127;
    let i = ((d >> 7) + 16) as usize;
    (T[i] * (128 - w) + T[i + 1] * w + 64) >> 7
}

struct Tables {
    stretch: Vec<i16>,
    squash: Vec<i16>,
}
impl Tables {
    fn new() -> Self {
        // stretch = inverse of squash, by integer search.
        let mut stretch = vec![0i16; 4096];
        let mut pi = 0usize;
        for x in -2047..=2047 {
            let v = squash(x) as usize;
            for s in stretch.iter_mut().take(v + 1).skip(pi) {
                *s = x as i16;
            }
            pi = v + 1;
        }
        for s in stretch.iter_mut().skip(pi) {
            *s = 2047;
        }
        let squash = (0..4095).map(|i| squash(i - 2047) as i16).collect();
        Self { stretch, squash }
    }
    #[inline(always)]
    fn sq(&self, d: i32) -> i32 {
        self.squash[(d.clamp(-2047, 2047) + 2047) as usize] as i32
    }
}

const NIN: usize = 5;

/// Mixes `NIN` stretched probabilities (of a one) with online-learned
/// integer weights (16.16), one weight set per selector.
struct Mixer {
    w: Vec<[i32; NIN]>,
}
impl Mixer {
    fn new(sets: usize) -> Self {
        Self {
            w: vec![
                [
                    (1 << 16) / 4,
                    (1 << 16) / 4,
                    (1 << 16) / 4,
                    (1 << 16) / 4,
                    0
                ];
                sets
            ],
        }
    }
}

#[inline(always)]
fn st12(t: &Tables, p0: u32) -> i32 {
    t.stretch[((65536 - p0) >> 4).clamp(1, 4095) as usize] as i32
}

/// Codes one decision with the mixture of the base model's two rates and
/// the models `ms` (plus a bias input).
#[inline(always)]
fn mix_bit<I: Io>(
    io: &mut I,
    t: &Tables,
    mx: &mut Mixer,
    set: usize,
    ms: [&mut Bm; 3],
    bit: bool,
    shift: i32,
) -> bool {
    let st = [
        st12(t, ms[0].0 as u32),
        st12(t, ms[0].1 as u32),
        st12(t, ms[1].p0()),
        st12(t, ms[2].p0()),
        256,
    ];
    let w = &mut mx.w[set];
    let dot: i64 = (0..NIN).map(|k| st[k] as i64 * w[k] as i64).sum();
    let p1 = t.sq((dot >> 16) as i32).clamp(1, 4095);
    let p0 = ((4096 - p1) as u32) << 4;
    let b = io.bit(p0, bit);
    let err = ((b as i32) << 12) - p1;
    for k in 0..NIN {
        w[k] += (st[k] * err) >> shift;
    }
    for m in ms {
        m.up(b);
    }
    b
}

// ------------------------------------------------------------- variants

/// The variants: context extended by the pass axis, the parity class, both,
/// the latitude band, the level class, both, the magnitudes of the two
/// support points (Sup); the least-squares magnitude and sign predictor
/// (Ls); logistic mixing (Mix); the axis or the latitude band on the zero
/// flag only (AxisZ, LatZ); the two neighbours' and half the two support
/// points' magnitudes in one bucket (Sum4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum V {
    Base,
    Axis,
    Parity,
    AxisParity,
    Lat,
    Lev,
    LatLev,
    Sup,
    Ls,
    Mix,
    AxisZ,
    LatZ,
    Sum4,
}
const VARIANTS: [V; 13] = [
    V::Base,
    V::Axis,
    V::Parity,
    V::AxisParity,
    V::Lat,
    V::Lev,
    V::LatLev,
    V::Sup,
    V::Ls,
    V::Mix,
    V::AxisZ,
    V::LatZ,
    V::Sum4,
];

const NX: usize = 16;

#[inline(always)]
fn bucket(s: u32) -> usize {
    ((32 - s.leading_zeros()) as usize).min(NMAG - 1)
}

/// Least-squares weights (Q8) of |q| on the magnitudes of na, nb, sl, sr,
/// and of q on their signed values (for the sign), fitted by the encoder
/// on the block and stored (8 bytes).
#[derive(Clone, Copy, Default)]
struct LsW {
    mag: [i32; 4],
    sgn: [i32; 4],
}

fn feats(mags: &[u16], e: &Ev) -> [u32; 4] {
    let f = |i: u32| {
        if i == NO {
            0
        } else {
            (mags[i as usize] >> 1) as u32
        }
    };
    [f(e.na), f(e.nb), f(e.sl), f(e.sr)]
}
fn sfeats(mags: &[u16], e: &Ev) -> [i32; 4] {
    let f = |i: u32| {
        if i == NO {
            0
        } else {
            let m = mags[i as usize];
            let a = (m >> 1).min(64) as i32;
            if m & 1 == 1 {
                -a
            } else {
                a
            }
        }
    };
    [f(e.na), f(e.nb), f(e.sl), f(e.sr)]
}

fn solve4(a: &mut [[f64; 5]; 4]) -> [f64; 4] {
    for i in 0..4 {
        a[i][i] += 1e-6 * (1.0 + a[i][i]);
    }
    for c in 0..4 {
        let p = (c..4)
            .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
            .unwrap();
        a.swap(c, p);
        if a[c][c].abs() < 1e-12 {
            continue;
        }
        for r in 0..4 {
            if r != c {
                let f = a[r][c] / a[c][c];
                for k in c..5 {
                    a[r][k] -= f * a[c][k];
                }
            }
        }
    }
    std::array::from_fn(|i| {
        if a[i][i].abs() < 1e-12 {
            0.0
        } else {
            a[i][4] / a[i][i]
        }
    })
}

fn fit_ls(ev: &[Ev], n: usize) -> LsW {
    let mut mags = vec![0u16; n];
    let mut am = [[0.0f64; 5]; 4];
    let mut asg = [[0.0f64; 5]; 4];
    for e in ev {
        let f = feats(&mags, e).map(|v| v.min(4096) as f64);
        let sf = sfeats(&mags, e).map(|v| v as f64);
        let (m, sq) = if e.esc {
            (4096.0, 0.0)
        } else {
            (
                e.q.unsigned_abs().min(4096) as f64,
                e.q.clamp(-64, 64) as f64,
            )
        };
        for i in 0..4 {
            for j in 0..4 {
                am[i][j] += f[i] * f[j];
                asg[i][j] += sf[i] * sf[j];
            }
            am[i][4] += f[i] * m;
            asg[i][4] += sf[i] * sq;
        }
        mags[e.idx as usize] = if e.esc { MAG_ESC } else { mag_of(e.q) };
    }
    let q8 = |w: [f64; 4]| w.map(|v| (v * 256.0).round().clamp(-127.0, 127.0) as i32);
    LsW {
        mag: q8(solve4(&mut am)),
        sgn: q8(solve4(&mut asg)),
    }
}

struct Models {
    zero: Vec<Bm>,
    sign: Vec<Bm>,
    len: Vec<Bm>,
    mant: Vec<Bm>,
    // Mixing: the two extra context sets, and the mixers.
    zero2: Vec<Bm>,
    len2: Vec<Bm>,
    zero3: Vec<Bm>,
    len3: Vec<Bm>,
    mx: Mixer,
    t: Tables,
    shift: i32,
    sel: bool,
}

impl Models {
    fn new() -> Self {
        let n = NX * NCTX;
        Self {
            zero: vec![Bm::NEW; n],
            sign: vec![Bm::NEW; NCLASS * 27],
            len: vec![Bm::NEW; n * 32],
            mant: vec![Bm::NEW; NCLASS * 32 * 4],
            zero2: vec![Bm::NEW; n],
            len2: vec![Bm::NEW; n * 32],
            zero3: vec![Bm::NEW; n],
            len3: vec![Bm::NEW; n * 32],
            mx: Mixer::new(NCTX * 33),
            t: Tables::new(),
            shift: std::env::var("MIXS").map_or(11, |v| v.parse().unwrap()),
            sel: std::env::var("MIXSEL").is_ok(),
        }
    }
}

/// Codes (or decodes) the trace with variant `v`; returns the stream, or
/// checks the decoded symbols against the trace.
fn run_variant<I: Io>(io: &mut I, v: V, ev: &[Ev], n: usize, ls: &LsW) -> bool {
    let mut m = Models::new();
    let mut mags = vec![0u16; n];
    let mut ok = true;
    for e in ev {
        let a = if e.na != NO { mags[e.na as usize] } else { 0 };
        let b = if e.nb != NO { mags[e.nb as usize] } else { 0 };
        let s = (a >> 1) as u32 + (b >> 1) as u32;
        let sg = |m: u16| if m >> 1 == 0 { 0 } else { 1 + (m & 1) as usize };
        let class = class_of(e.level as u32);
        let mut bk = bucket(s);
        let mut sctx = class * 27 + 3 * sg(a) + sg(b);
        let sup = || {
            let f = feats(&mags, e);
            match f[2] + f[3] {
                0 => 0,
                1..=2 => 1,
                3..=6 => 2,
                _ => 3,
            }
        };
        let x = match v {
            V::Base | V::Mix => 0,
            V::Axis | V::AxisZ => e.d as usize,
            V::LatZ => e.lat as usize,
            V::Sum4 => {
                let f = feats(&mags, e);
                bk = bucket(s + ((f[2] + f[3]) >> 1));
                0
            }
            V::Parity => e.par as usize,
            V::AxisParity => e.d as usize * 4 + e.par as usize,
            V::Lat => e.lat as usize,
            V::Lev => e.lev as usize,
            V::LatLev => e.lat as usize * 3 + e.lev as usize,
            V::Sup => sup(),
            V::Ls => {
                let f = feats(&mags, e);
                let p: i64 = (0..4).map(|k| ls.mag[k] as i64 * f[k] as i64).sum();
                bk = bucket((p.max(0) >> 7).min(u32::MAX as i64) as u32);
                let sf = sfeats(&mags, e);
                let ps: i64 = (0..4).map(|k| ls.sgn[k] as i64 * sf[k] as i64).sum();
                let sc = if ps > 64 {
                    1
                } else if ps < -64 {
                    2
                } else {
                    0
                };
                sctx = class * 27 + 9 * sc + 3 * sg(a) + sg(b);
                0
            }
        };
        let ctx = x * NCTX + class * NMAG + bk;
        let mset = if m.sel { class * NMAG + bk } else { class };
        let lctx = if matches!(v, V::AxisZ | V::LatZ) {
            class * NMAG + bk
        } else {
            ctx
        };
        let (esc, q) = if I::DEC { (false, 0) } else { (e.esc, e.q) };
        // Zero flag.
        let nz = if v == V::Mix {
            let c2 = (e.d as usize * 3 + e.lat as usize) * NCTX + class * NMAG + bk;
            let c3 = sup() * NCTX + class * NMAG + bucket(s + feats(&mags, e)[2]);
            let [z1, z2, z3] = [&mut m.zero[ctx], &mut m.zero2[c2], &mut m.zero3[c3]];
            mix_bit(
                io,
                &m.t,
                &mut m.mx,
                mset * 33,
                [z1, z2, z3],
                esc || q != 0,
                m.shift,
            )
        } else {
            m.zero[ctx].code(io, esc || q != 0)
        };
        let got: (bool, i32);
        if !nz {
            got = (false, 0);
        } else {
            let neg = m.sign[sctx].code(io, !esc && q < 0);
            let mm = if esc {
                0
            } else {
                q.unsigned_abs().wrapping_sub(1)
            };
            let len = if esc {
                ESC_LEN
            } else {
                32 - mm.leading_zeros()
            };
            let mut node = 1usize;
            for i in (0..5).rev() {
                let bit = (len >> i) & 1 == 1;
                let bit = if v == V::Mix {
                    let c2 = (e.d as usize * 3 + e.lat as usize) * NCTX + class * NMAG + bk;
                    let c3 = sup() * NCTX + class * NMAG + bucket(s + feats(&mags, e)[2]);
                    let [l1, l2, l3] = [
                        &mut m.len[lctx * 32 + node],
                        &mut m.len2[c2 * 32 + node],
                        &mut m.len3[c3 * 32 + node],
                    ];
                    mix_bit(
                        io,
                        &m.t,
                        &mut m.mx,
                        mset * 33 + node,
                        [l1, l2, l3],
                        bit,
                        m.shift,
                    )
                } else {
                    m.len[lctx * 32 + node].code(io, bit)
                };
                node = (node << 1) | bit as usize;
            }
            let len = (node - 32) as u32;
            if len == ESC_LEN {
                let bits = io.direct(q as u32, 32);
                got = (true, bits as i32);
            } else {
                let mv = if len <= 1 {
                    len
                } else {
                    let below = len - 1;
                    let k = below.min(2);
                    let base = (class * 32 + len as usize) * 4;
                    let mut node = 1usize;
                    for j in 0..k {
                        let bit = (mm >> (below - 1 - j)) & 1 == 1;
                        let bit = m.mant[base + node].code(io, bit);
                        node = (node << 1) | bit as usize;
                    }
                    let high = (node - (1 << k)) as u32;
                    let raw = below - k;
                    let low = if raw > 0 {
                        io.direct(mm & ((1u32 << raw) - 1), raw)
                    } else {
                        0
                    };
                    (1u32 << below) | (high << raw) | low
                };
                let a = (mv + 1) as i32;
                got = (false, if neg { -a } else { a });
            }
        }
        if I::DEC && got != (e.esc, e.q) {
            ok = false;
        }
        mags[e.idx as usize] = if got.0 { MAG_ESC } else { mag_of(got.1) };
    }
    ok
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

#[test]
#[ignore]
fn szx_measure() {
    let dir = std::env::var("HIHA_SZX_DATA").unwrap_or_else(|_| "/tmp/szx_raw".into());
    let filter = std::env::var("HIHA_SZX_FILTER").unwrap_or_default();
    let timing = std::env::var("HIHA_SZX_TIME").is_ok();
    let full = std::env::var("HIHA_SZX_FULL").is_ok();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "f32"))
        .filter(|p| p.to_string_lossy().contains(&filter))
        .collect();
    names.sort();
    let head: Vec<String> = VARIANTS.iter().map(|v| format!("{v:?}")).collect();
    println!("| field | target | pred | full | {} |", head.join(" | "));
    for path in names {
        let bytes = std::fs::read(&path).expect("read");
        let x: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let dims: Vec<usize> = std::fs::read_to_string(path.with_extension("dims"))
            .expect("dims")
            .split_whitespace()
            .map(|s| s.parse().expect("dim"))
            .collect();
        let (lo, hi) = x.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| {
            (a.min(v as f64), b.max(v as f64))
        });
        let range = hi - lo;
        let grid = Grid::new(&dims);
        let blk = Block {
            grid: &grid,
            x: &x,
            p: None,
            mask: None,
            nvalid: x.len(),
        };
        let name: String = path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .chars()
            .take(22)
            .collect();
        for (label, t) in [
            ("r1e-3", Target::Rmse(1e-3 * range)),
            ("r1e-4", Target::Rmse(1e-4 * range)),
            ("r1e-5", Target::Rmse(1e-5 * range)),
            ("m1e-3", Target::MaxAbs(1e-3 * range)),
            ("m1e-4", Target::MaxAbs(1e-4 * range)),
        ] {
            let (payload, accept) = match t {
                Target::Rmse(r) => (
                    encode_candidates(&blk, &candidates_rmse(&blk, r, &CONFIGS)).0,
                    Accept::Rmse,
                ),
                Target::MaxAbs(e) => (
                    encode_candidates(&blk, &candidates_max_abs(&blk, e, &CONFIGS)).0,
                    Accept::MaxAbs(e),
                ),
            };
            let pred = Predictor::from_u8(payload[0]).unwrap();
            let k = payload[1] as usize;
            let steps: Vec<f64> = payload[2..2 + 8 * k]
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let params = Params {
                predictor: pred,
                steps,
            };
            let ev = record(&blk, &params, accept);
            let ls = fit_ls(&ev, x.len());
            // Which path the full coder keeps for this cell.
            let fullpath = if full {
                let s = crate::residual::encode(&x, None, &dims, None, t).unwrap();
                ["E", "S", "W"][(s[0] as usize).min(2)].to_string() + &format!(" {}", s.len())
            } else {
                "-".into()
            };
            let mut cells = Vec::new();
            let mut base_len = 0usize;
            for &v in &VARIANTS {
                let mut enc = RangeEncoder::new();
                run_variant(&mut enc, v, &ev, x.len(), &ls);
                let coded = enc.finish();
                let extra = if v == V::Ls { 8 } else { 0 };
                let len = coded.len() + extra + 2 + 8 * k;
                let mut dec = RangeDecoder::new(&coded);
                assert!(run_variant(&mut dec, v, &ev, x.len(), &ls), "{v:?} decode");
                if v == V::Base {
                    assert_eq!(len, payload.len(), "baseline replay = production");
                    assert_eq!(&coded[..], &payload[2 + 8 * k..]);
                    base_len = len;
                    cells.push(format!("{len}"));
                } else {
                    cells.push(format!(
                        "{:+.2}%",
                        100.0 * (len as f64 - base_len as f64) / base_len as f64
                    ));
                }
                if timing && matches!(v, V::Base | V::Mix) {
                    let reps = 3;
                    let t0 = cpu_seconds();
                    for _ in 0..reps {
                        let mut dec = RangeDecoder::new(&coded);
                        run_variant(&mut dec, v, &ev, x.len(), &ls);
                    }
                    let dt = (cpu_seconds() - t0) / reps as f64;
                    let t1 = cpu_seconds();
                    for _ in 0..reps {
                        let _ = decode(&payload, &grid, None, None).unwrap();
                    }
                    let df = (cpu_seconds() - t1) / reps as f64;
                    cells.push(format!("[{v:?} replay {dt:.3}s, full SZ decode {df:.3}s]"));
                }
            }
            println!(
                "| {name} | {label} | {pred:?} | {fullpath} | {} |",
                cells.join(" | ")
            );
        }
    }
}
