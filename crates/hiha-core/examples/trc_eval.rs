//! TRC evaluation: HiHa with TRC against HiHa without it (FIC on every
//! frame), on a raw time series (docs/ALGORITHM.md, "TRC").
//!
//! ```text
//! python crates/hiha-core/tests/data/trc_extract.py SRC.nc VAR /tmp/trc/NAME.f32 [--frames a:b]
//! cargo run --release -p hiha-core --example trc_eval -- /tmp/trc/NAME.f32 \
//!     NF NL NY NX LAT0 DLAT LON0 DLON [--frames K] [--reset-every M] [--nrmse 1e-3,1e-4] \
//!     [--trc key=value,...] [--fic key=value,...] [--no-baseline]
//! ```
//!
//! `--reset-every M` breaks the chain every M frames (ensemble members);
//! `--trc`/`--fic` override configuration keys (TOML values). For every
//! target NRMSE (relative to each frame's range) it prints per frame the
//! kind, predictor bytes, seconds and residual bytes
//! ([`hiha_core::residual::encode`] against the prediction), and totals.
#![allow(clippy::unwrap_used)]

use hiha_core::predictor::fic::{encode_frame, FicConfig, FicGrid};
use hiha_core::predictor::trc::{FrameKind, TrcConfig, TrcEncoder};
use hiha_core::residual::{self, Target};
use std::time::Instant;

fn overrides<T: serde::de::DeserializeOwned + serde::Serialize>(base: T, kv: &str) -> T {
    if kv.is_empty() {
        return base;
    }
    let mut v: toml::Value = toml::Value::try_from(&base).unwrap();
    let t = v.as_table_mut().unwrap();
    for item in kv.split(',') {
        let (k, val) = item.split_once('=').unwrap();
        let parsed: toml::Value =
            toml::from_str::<toml::Table>(&format!("x = {val}")).unwrap()["x"].clone();
        t.insert(k.to_string(), parsed);
    }
    v.try_into().unwrap()
}

#[derive(Default, Clone, Copy)]
struct Tot {
    pred: usize,
    res: usize,
    secs: f64,
    keys: usize,
    retrain: usize,
    rmse: f64,
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> f64 { a[i].parse().unwrap() };
    let path = &a[0];
    let [nf, nl, ny, nx] = [num(1), num(2), num(3), num(4)].map(|v| v as usize);
    let grid = FicGrid {
        lat_deg: (0..ny).map(|j| num(5) + num(6) * j as f64).collect(),
        lon_deg: (0..nx).map(|i| num(7) + num(8) * i as f64).collect(),
        levels: None,
    };
    let mut frames_used = nf;
    let mut reset_every = usize::MAX;
    let mut targets = vec![1e-3, 1e-4];
    let (mut trc_kv, mut fic_kv) = (String::new(), String::new());
    let mut baseline = true;
    let mut i = 9;
    while i < a.len() {
        match a[i].as_str() {
            "--frames" => frames_used = a[i + 1].parse().unwrap(),
            "--reset-every" => reset_every = a[i + 1].parse().unwrap(),
            "--nrmse" => targets = a[i + 1].split(',').map(|t| t.parse().unwrap()).collect(),
            "--trc" => trc_kv = a[i + 1].clone(),
            "--fic" => fic_kv = a[i + 1].clone(),
            "--no-baseline" => {
                baseline = false;
                i += 1;
                continue;
            }
            o => panic!("unknown option {o}"),
        }
        i += 2;
    }
    let bytes = std::fs::read(path).unwrap();
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let dims = [nl, ny, nx];
    let n = nl * ny * nx;
    assert_eq!(v.len(), nf * n);
    let fic = overrides(FicConfig::default(), &fic_kv);
    let trc = overrides(TrcConfig::default(), &trc_kv);
    println!("# {path}: {frames_used} frames of {dims:?}, reset every {reset_every}");
    println!(
        "# TRC: {}",
        toml::to_string(&trc).unwrap().replace('\n', "; ")
    );
    for &nr in &targets {
        let mut t_trc = Tot::default();
        let mut t_fic = Tot::default();
        let mut alone = 0usize;
        let mut enc = TrcEncoder::new(dims, grid.clone(), fic.clone(), trc.clone()).unwrap();
        println!("\n## NRMSE {nr:e}\nframe | TRC kind | TRC pred B | TRC s | TRC res B | TRC rmse | FIC pred B | FIC s | FIC res B | FIC rmse");
        for t in 0..frames_used {
            if t > 0 && t % reset_every == 0 {
                enc.reset();
            }
            let x = &v[t * n..(t + 1) * n];
            let (lo, hi) = x.iter().fold((f64::MAX, f64::MIN), |(p, q), &u| {
                (p.min(u as f64), q.max(u as f64))
            });
            let target = nr * (hi - lo);
            let res = |p: &[f32]| {
                residual::encode(x, Some(p), &dims, None, Target::Rmse(target))
                    .unwrap()
                    .len()
            };
            alone += residual::encode(x, None, &dims, None, Target::Rmse(target))
                .unwrap()
                .len();
            let t0 = Instant::now();
            let f = enc.encode_next(x, None, target).unwrap();
            let s = t0.elapsed().as_secs_f64();
            let pb: usize = f.sections.iter().map(|(_, b)| b.len()).sum();
            let rb = res(&f.prediction);
            t_trc.pred += pb;
            t_trc.res += rb;
            t_trc.secs += s;
            t_trc.keys += (f.kind == FrameKind::Key) as usize;
            t_trc.retrain += f.stats.retrained as usize;
            t_trc.rmse += f.stats.rmse / (hi - lo);
            let kind = match (f.kind, f.stats.retrained) {
                (FrameKind::Key, true) => "key (retrain)".to_string(),
                (FrameKind::Key, false) => "key".to_string(),
                (FrameKind::Delta, _) => format!(
                    "delta {} [ssm {} low {} rest {}; nets d/f/c {:?}]",
                    f.stats.chain_pos,
                    f.stats.delta_bytes[0],
                    f.stats.delta_bytes[1],
                    f.stats.delta_bytes[2],
                    f.stats.nets
                ),
            };
            let fic_cols = if baseline {
                let t0 = Instant::now();
                let g = encode_frame(x, None, dims, &grid, &fic, target).unwrap();
                let s2 = t0.elapsed().as_secs_f64();
                let pb2: usize = g.sections.iter().map(|(_, b)| b.len()).sum();
                let rb2 = res(&g.prediction);
                let e2 = (x
                    .iter()
                    .zip(&g.prediction)
                    .map(|(&u, &p)| (u as f64 - p as f64).powi(2))
                    .sum::<f64>()
                    / n as f64)
                    .sqrt();
                t_fic.pred += pb2;
                t_fic.res += rb2;
                t_fic.secs += s2;
                t_fic.rmse += e2 / (hi - lo);
                format!(
                    "{pb2} | {s2:.2} | {rb2} | {:.2e} ({})",
                    e2 / (hi - lo),
                    g.stats.chosen
                )
            } else {
                "- | - | - | -".into()
            };
            println!(
                "{t} | {kind} | {pb} | {s:.2} | {rb} | {:.2e} | {fic_cols}",
                f.stats.rmse / (hi - lo)
            );
        }
        let raw = frames_used * n * 4;
        let line = |name: &str, t: &Tot| {
            println!(
                "**{name}**: predictor {} B, residual {} B, total {} B ({:.1}×), {:.1} s ({:.2} s/frame), mean pred NRMSE {:.2e}, keyframes {}, retrained {}",
                t.pred,
                t.res,
                t.pred + t.res,
                raw as f64 / (t.pred + t.res) as f64,
                t.secs,
                t.secs / frames_used as f64,
                t.rmse / frames_used as f64,
                t.keys,
                t.retrain
            )
        };
        line("TRC", &t_trc);
        if baseline {
            line("FIC per frame", &t_fic);
        }
        println!(
            "**residual coder alone**: {alone} B ({:.1}×)",
            raw as f64 / alone as f64
        );
    }
}
