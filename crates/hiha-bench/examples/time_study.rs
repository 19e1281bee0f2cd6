//! Usage: `cargo run --release -p hiha-bench --example time_study -- [--targets 1e-2,1e-3,1e-4,1e-5] FILE.nc[:VAR] ...`
//!
//! Issue 12.6 ("Time"), a measurement study: does predicting a frame from the
//! previous *reconstructed* frame beat coding the time axis inside today's
//! 3-D/4-D residual blocks? For each field and NRMSE target (the same RMSE
//! budget `r = target × value range` for every approach) it prints one
//! markdown row per approach with total coded bytes, ratio, bytes against
//! (a), encode and decode seconds (single stream: approaches are run one
//! chunk/frame after the other; inside `residual::encode` the SZ and wavelet
//! paths still run side by side), and the achieved NRMSE.
//!
//! - `a-codec`: `codec::compress` with default options (whole archive);
//! - `b-T<n>`: `residual::encode` on chunks of `n` frames (4-D blocks,
//!   `[n, levels, lat, lon]` as the codec forms them), no prediction;
//! - `c-prev`: closed loop, frame 0 alone, frame t with prediction x̂(t−1);
//! - `d-shift`: as c, x̂(t−1) shifted by the encoder's best integer
//!   (dx, dy) in −2..2 (least squares against x(t)), 1 byte per frame;
//! - `d-tiles`: as c, one best shift per 16 × 16 tile and level, 5 bits
//!   per tile;
//! - `e-extrap`: as c, prediction 2·x̂(t−1) − x̂(t−2) (x̂(0) for frame 1);
//! - `e-mean`: as c, prediction (x̂(t−1) + extrapolation) / 2 =
//!   1.5·x̂(t−1) − 0.5·x̂(t−2), a damped extrapolation;
//! - `f-best`: per frame the smallest stream of intra (no prediction),
//!   `c-prev` and `e-mean`, chosen by coding all three, 2 bits a frame.
//!
//! Every closed-loop approach decodes each frame at encode time (that is
//! the reconstruction the decoder will have) and its decode pass checks
//! that it reproduces the encoder's reconstruction bit for bit.

use std::path::PathBuf;
use std::time::Instant;

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::Field;
use hiha_core::residual::{self, Target};

/// What one approach produced: bytes, seconds, reconstruction.
struct Run {
    name: String,
    bytes: usize,
    enc_s: f64,
    dec_s: f64,
    recon: Vec<f32>,
}

fn rmse(x: &[f32], y: &[f32], missing: Option<&[bool]>) -> f64 {
    let (mut ss, mut n) = (0.0f64, 0usize);
    for i in 0..x.len() {
        if missing.is_some_and(|m| m[i]) {
            continue;
        }
        let d = x[i] as f64 - y[i] as f64;
        ss += d * d;
        n += 1;
    }
    (ss / n.max(1) as f64).sqrt()
}

/// The codec's default frames per chunk (codec.rs, `default_chunk_frames`,
/// copied so that the study can name it).
fn codec_chunk_frames(f: &Field, rel: f64) -> usize {
    let frames = f.shape.frames.max(1);
    let mut c = ((1usize << 22) / f.shape.frame_len().max(1)).clamp(1, frames);
    if rel <= 1.2e-3 && f.shape.len() >= 1 << 19 && frames >= 2 * 64 {
        c = c.min(frames.div_ceil(2));
    }
    c
}

fn run_codec(f: &Field, meta: &hiha_core::meta::DatasetMeta, t: f64) -> Run {
    let opts = CompressOptions::new(Bound::Nrmse(t));
    let t0 = Instant::now();
    let (bytes, _) = codec::compress(f, meta, &opts, &NoProgress).expect("codec::compress");
    let enc_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let (g, _) = codec::decompress(&bytes, None).expect("codec::decompress");
    let dec_s = t0.elapsed().as_secs_f64();
    Run {
        name: "a-codec".into(),
        bytes: bytes.len(),
        enc_s,
        dec_s,
        recon: g.values,
    }
}

/// (b): chunks of `c` frames, each one residual block, no prediction.
fn run_chunks(f: &Field, r: f64, c: usize, name: String) -> Run {
    let s = f.shape;
    let fl = s.frame_len();
    let mut streams = Vec::new();
    let t0 = Instant::now();
    for a in (0..s.frames).step_by(c) {
        let b = (a + c).min(s.frames);
        let dims = [b - a, s.levels, s.lat, s.lon];
        let mask = f.missing.as_ref().map(|m| &m[a * fl..b * fl]);
        let bytes = residual::encode(
            &f.values[a * fl..b * fl],
            None,
            &dims,
            mask,
            Target::Rmse(r),
        )
        .expect("residual::encode");
        streams.push((a, b, bytes));
    }
    let enc_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut recon = Vec::with_capacity(f.values.len());
    for (a, b, bytes) in &streams {
        let dims = [b - a, s.levels, s.lat, s.lon];
        let mask = f.missing.as_ref().map(|m| &m[a * fl..b * fl]);
        recon.extend(residual::decode(bytes, None, &dims, mask).expect("residual::decode"));
    }
    let dec_s = t0.elapsed().as_secs_f64();
    Run {
        name,
        bytes: streams.iter().map(|x| x.2.len()).sum(),
        enc_s,
        dec_s,
        recon,
    }
}

/// How a closed-loop approach predicts frame t from the earlier reconstructions.
#[derive(Clone, Copy)]
enum Pred {
    Prev,
    Shift,
    Tiles,
    Extrap,
    Mean,
    /// Per frame the smallest of intra, `Prev` and `Mean` (2 bits a frame).
    Best,
}

const TILE: usize = 16;
const MAXS: isize = 2;

/// `prev` (levels × lat × lon) moved by (dy, dx) on the rectangle
/// [y0, y1) × [x0, x1) of every level in `lv`, edges clamped.
#[allow(clippy::too_many_arguments)]
fn shift_into(
    out: &mut [f32],
    prev: &[f32],
    lat: usize,
    lon: usize,
    lv: usize,
    (y0, y1, x0, x1): (usize, usize, usize, usize),
    dy: isize,
    dx: isize,
) {
    let base = lv * lat * lon;
    for y in y0..y1 {
        let sy = (y as isize - dy).clamp(0, lat as isize - 1) as usize;
        for x in x0..x1 {
            let sx = (x as isize - dx).clamp(0, lon as isize - 1) as usize;
            out[base + y * lon + x] = prev[base + sy * lon + sx];
        }
    }
}

fn sse_rect(
    a: &[f32],
    b: &[f32],
    lat: usize,
    lon: usize,
    lv: usize,
    (y0, y1, x0, x1): (usize, usize, usize, usize),
) -> f64 {
    let base = lv * lat * lon;
    let mut s = 0.0f64;
    for y in y0..y1 {
        for x in x0..x1 {
            let i = base + y * lon + x;
            if a[i].is_finite() && b[i].is_finite() {
                let d = a[i] as f64 - b[i] as f64;
                s += d * d;
            }
        }
    }
    s
}

fn shifts() -> Vec<(isize, isize)> {
    (-MAXS..=MAXS)
        .flat_map(|dy| (-MAXS..=MAXS).map(move |dx| (dy, dx)))
        .collect()
}

/// The rectangles (one per tile and level, or one per level) a shift applies to.
fn rects(how: Pred, levels: usize, lat: usize, lon: usize) -> Vec<(usize, Rect)> {
    let mut v = Vec::new();
    for lv in 0..levels {
        match how {
            Pred::Tiles => {
                for y0 in (0..lat).step_by(TILE) {
                    for x0 in (0..lon).step_by(TILE) {
                        v.push((lv, (y0, (y0 + TILE).min(lat), x0, (x0 + TILE).min(lon))));
                    }
                }
            }
            _ => v.push((lv, (0, lat, 0, lon))),
        }
    }
    v
}

type Rect = (usize, usize, usize, usize);

/// The encoder's choice of shifts for frame `x` (least squares against the
/// shifted previous reconstruction `p1`): one for the whole frame
/// (`Shift`), one per tile and level (`Tiles`), none for the others.
fn choose(
    how: Pred,
    x: &[f32],
    p1: &[f32],
    levels: usize,
    lat: usize,
    lon: usize,
) -> Vec<(isize, isize)> {
    let cands = shifts();
    let mut tmp = vec![0.0f32; p1.len()];
    match how {
        Pred::Shift => {
            let all = (0, lat, 0, lon);
            let mut best = (f64::INFINITY, (0, 0));
            for &(dy, dx) in &cands {
                let mut s = 0.0;
                for lv in 0..levels {
                    shift_into(&mut tmp, p1, lat, lon, lv, all, dy, dx);
                    s += sse_rect(&tmp, x, lat, lon, lv, all);
                }
                if s < best.0 {
                    best = (s, (dy, dx));
                }
            }
            vec![best.1]
        }
        Pred::Tiles => rects(how, levels, lat, lon)
            .into_iter()
            .map(|(lv, rect)| {
                let mut best = (f64::INFINITY, (0, 0));
                for &(dy, dx) in &cands {
                    shift_into(&mut tmp, p1, lat, lon, lv, rect, dy, dx);
                    let s = sse_rect(&tmp, x, lat, lon, lv, rect);
                    if s < best.0 {
                        best = (s, (dy, dx));
                    }
                }
                best.1
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Bytes the shift parameters take: 1 per frame for `Shift`, 5 bits per
/// tile (25 choices) for `Tiles`.
fn side_bytes(how: Pred, params: &[(isize, isize)]) -> usize {
    match how {
        Pred::Shift => 1,
        Pred::Tiles => (params.len() * 5).div_ceil(8),
        _ => 0,
    }
}

/// The prediction of a frame (levels × lat × lon) from the previous
/// reconstructions `p1` = x̂(t−1), `p2` = x̂(t−2) and the shifts `params`;
/// what the decoder computes too.
fn apply(
    how: Pred,
    params: &[(isize, isize)],
    p1: &[f32],
    p2: Option<&[f32]>,
    levels: usize,
    lat: usize,
    lon: usize,
) -> Vec<f32> {
    match how {
        Pred::Prev | Pred::Best => p1.to_vec(),
        Pred::Extrap | Pred::Mean => match p2 {
            None => p1.to_vec(),
            Some(p2) => {
                let (w1, w2) = match how {
                    Pred::Extrap => (2.0, -1.0),
                    _ => (1.5, -0.5),
                };
                p1.iter()
                    .zip(p2)
                    .map(|(&a, &b)| (w1 * a as f64 + w2 * b as f64) as f32)
                    .collect()
            }
        },
        Pred::Shift | Pred::Tiles => {
            let mut out = vec![0.0f32; p1.len()];
            let rs = rects(how, levels, lat, lon);
            for (i, (lv, rect)) in rs.into_iter().enumerate() {
                let (dy, dx) = match how {
                    Pred::Shift => params[0],
                    _ => params[i],
                };
                shift_into(&mut out, p1, lat, lon, lv, rect, dy, dx);
            }
            out
        }
    }
}

/// (c)–(e): frame by frame, frame t predicted from the reconstructions of
/// the frames before it. Side bytes (shift parameters) are counted in.
fn run_closed(f: &Field, r: f64, how: Pred, name: &str) -> Run {
    let s = f.shape;
    let fl = s.frame_len();
    let dims = [1, s.levels, s.lat, s.lon];
    let mut recon: Vec<f32> = Vec::with_capacity(f.values.len());
    let mut streams: Vec<Vec<u8>> = Vec::with_capacity(s.frames);
    let mut side = 0usize;
    // Per frame: the predictor used (none for intra) and its shifts.
    type Choice = (Option<Pred>, Vec<(isize, isize)>);
    let mut chosen: Vec<Choice> = Vec::with_capacity(s.frames);
    let kinds: Vec<Option<Pred>> = match how {
        Pred::Best => vec![None, Some(Pred::Prev), Some(Pred::Mean)],
        k => vec![Some(k)],
    };
    let t0 = Instant::now();
    for t in 0..s.frames {
        let x = &f.values[t * fl..(t + 1) * fl];
        let mask = f.missing.as_ref().map(|m| &m[t * fl..(t + 1) * fl]);
        let mut best: Option<(Vec<u8>, Vec<f32>, Choice)> = None;
        for &kind in if t == 0 { &[None][..] } else { &kinds[..] } {
            let (pred, params) = match kind {
                None => (None, Vec::new()),
                Some(k) => {
                    let p1 = &recon[(t - 1) * fl..t * fl];
                    let p2 = (t > 1).then(|| &recon[(t - 2) * fl..(t - 1) * fl]);
                    let params = choose(k, x, p1, s.levels, s.lat, s.lon);
                    let p = apply(k, &params, p1, p2, s.levels, s.lat, s.lon);
                    (Some(p), params)
                }
            };
            let bytes = residual::encode(x, pred.as_deref(), &dims, mask, Target::Rmse(r))
                .expect("residual::encode");
            if best.as_ref().is_none_or(|b| bytes.len() < b.0.len()) {
                let back = residual::decode(&bytes, pred.as_deref(), &dims, mask).expect("decode");
                best = Some((bytes, back, (kind, params)));
            }
        }
        let (bytes, back, choice) = best.expect("one candidate at least");
        if let Some(k) = choice.0 {
            side += side_bytes(k, &choice.1);
        }
        recon.extend_from_slice(&back);
        streams.push(bytes);
        chosen.push(choice);
    }
    if matches!(how, Pred::Best) {
        // 2 bits per frame: which of the three.
        side += (2 * s.frames).div_ceil(8);
    }
    let enc_s = t0.elapsed().as_secs_f64();
    // The decoder: the same predictions from its own reconstructions and
    // the shifts it reads.
    let t0 = Instant::now();
    let mut out: Vec<f32> = Vec::with_capacity(f.values.len());
    for (t, bytes) in streams.iter().enumerate() {
        let mask = f.missing.as_ref().map(|m| &m[t * fl..(t + 1) * fl]);
        let pred = (t > 0)
            .then(|| {
                let p1 = &out[(t - 1) * fl..t * fl];
                let p2 = (t > 1).then(|| &out[(t - 2) * fl..(t - 1) * fl]);
                let (kind, params) = &chosen[t];
                kind.map(|k| apply(k, params, p1, p2, s.levels, s.lat, s.lon))
            })
            .flatten();
        out.extend(residual::decode(bytes, pred.as_deref(), &dims, mask).expect("decode"));
    }
    let dec_s = t0.elapsed().as_secs_f64();
    assert!(
        out.iter()
            .zip(&recon)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "{name}: decoder disagrees with the encoder's reconstruction"
    );
    Run {
        name: name.into(),
        bytes: streams.iter().map(Vec::len).sum::<usize>() + side,
        enc_s,
        dec_s,
        recon,
    }
}

fn main() {
    let mut targets = vec![1e-2, 1e-3, 1e-4, 1e-5];
    let mut inputs: Vec<(PathBuf, Option<String>)> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--targets" {
            let v = it.next().expect("--targets needs a value");
            targets = v.split(',').map(|s| s.parse().expect("target")).collect();
        } else {
            match a.rsplit_once(':') {
                Some((p, v)) if !std::path::Path::new(&a).exists() => {
                    inputs.push((p.into(), Some(v.into())))
                }
                _ => inputs.push((a.into(), None)),
            }
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());
    println!(
        "| field | NRMSE | approach | bytes | ratio | bytes vs a | enc s | dec s | NRMSE got |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (path, var) in &inputs {
        let lv = hiha_io::read_variable(path, var.as_deref()).expect("read_variable");
        let f = &lv.field;
        let (lo, hi) = f.value_range().expect("values");
        let range = hi as f64 - lo as f64;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        let short = stem.split('_').take(2).collect::<Vec<_>>().join("_");
        let n = f.values.len();
        eprintln!(
            "{stem}: {:?}, range {range}, packing {:?}",
            f.shape,
            f.packing.is_some()
        );
        for &t in &targets {
            let r = t * range;
            let dflt = codec_chunk_frames(f, t);
            let mut runs = vec![run_codec(f, &lv.meta, t)];
            let mut ts = vec![1, 4, 24, dflt];
            ts.dedup();
            ts.sort_unstable();
            ts.dedup();
            for c in ts {
                let tag = if c == dflt {
                    format!("b-T{c} (codec's)")
                } else {
                    format!("b-T{c}")
                };
                runs.push(run_chunks(f, r, c, tag));
            }
            for (how, name) in [
                (Pred::Prev, "c-prev"),
                (Pred::Shift, "d-shift"),
                (Pred::Tiles, "d-tiles"),
                (Pred::Extrap, "e-extrap"),
                (Pred::Mean, "e-mean"),
                (Pred::Best, "f-best"),
            ] {
                runs.push(run_closed(f, r, how, name));
            }
            let a = runs[0].bytes as f64;
            for run in &runs {
                let got = rmse(&f.values, &run.recon, f.missing.as_deref()) / range;
                let ok = if got <= t { "" } else { " VIOLATED" };
                println!(
                    "| {short} | {t:.0e} | {} | {} | {:.2} | {:+.1} % | {:.2} | {:.2} | {got:.3e}{ok} |",
                    run.name,
                    run.bytes,
                    n as f64 * 4.0 / run.bytes as f64,
                    100.0 * (run.bytes as f64 / a - 1.0),
                    run.enc_s,
                    run.dec_s,
                );
            }
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at end: {}", load.trim());
}
