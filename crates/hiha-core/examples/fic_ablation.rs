//! FIC ablation and "does the predictor pay?" measurement (docs/ablation.md).
//!
//! ```text
//! python crates/hiha-core/tests/data/fic_extract.py SRC.nc VAR /tmp/fic/NAME   # per field
//! cargo run --release -p hiha-core --example fic_ablation -- /tmp/fic/NAME ...
//! ```
//!
//! Each NAME.f32 (levels × lat × lon, little-endian f32) comes with NAME.grid
//! (dims; latitudes; longitudes). Prints markdown tables:
//! 1. Table 3 of the paper: the prediction's PSNR/RMSE, predictor bytes and
//!    time for full FIC and with SSM, MIM or IDM removed (FIC target NRMSE
//!    1e-3, no gain check);
//! 2. the MIM upsampler alone (OI, cubic, trilinear);
//! 3. FIC bytes + residual bytes against the residual coder alone at NRMSE
//!    1e-2 … 1e-5.
//!
//! With `--oracle` first, only prints the residual bytes after *free, exact*
//! predictions (climatology + the FFT low band, or low + mid), which bound
//! what any network fitted to those bands could achieve.
#![allow(clippy::unwrap_used)]

use hiha_core::predictor::fic::{encode_frame, FicConfig, FicGrid};
use hiha_core::predictor::mim::Interp;
use hiha_core::residual::{self, Target};
use std::time::Instant;

fn load(prefix: &str) -> (Vec<f32>, [usize; 3], FicGrid) {
    let bytes = std::fs::read(format!("{prefix}.f32")).unwrap();
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let text = std::fs::read_to_string(format!("{prefix}.grid")).unwrap();
    let mut lines = text.lines();
    let nums = |l: &str| -> Vec<f64> { l.split_whitespace().map(|t| t.parse().unwrap()).collect() };
    let d = nums(lines.next().unwrap());
    let lat = nums(lines.next().unwrap());
    let lon = nums(lines.next().unwrap());
    let dims = [d[0] as usize, d[1] as usize, d[2] as usize];
    assert_eq!(v.len(), dims.iter().product::<usize>());
    (
        v,
        dims,
        FicGrid {
            lat_deg: lat,
            lon_deg: lon,
            levels: None,
        },
    )
}

fn err(x: &[f32], p: &[f32], range: f64) -> (f64, f64) {
    let mse = x
        .iter()
        .zip(p)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    let rmse = mse.sqrt();
    (rmse, 20.0 * (range / rmse).log10())
}

fn oracle(fields: &[String]) {
    use hiha_core::predictor::preprocess::{lon_is_global, normalize};
    use hiha_core::predictor::spectral::{band_thresholds, frame_axes, split};
    println!("| field | NRMSE | alone B | clim B | clim+low B | clim+low+mid B |");
    println!("|---|---|---|---|---|---|");
    for name in fields {
        let (x, dims, grid) = load(name);
        let (lo, hi) = x
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v as f64), b.max(v as f64))
            });
        let range = hi - lo;
        let (a, norm) = normalize(&x, None, dims, None, true, 10).unwrap();
        let af: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let axes = frame_axes(
            dims,
            &grid.lat_deg,
            &grid.lon_deg,
            lon_is_global(&grid.lon_deg),
        );
        let b = split(&af, axes, band_thresholds(14.0, 256, 3.0)).unwrap();
        let zero = vec![0.0f32; x.len()];
        let low: Vec<f32> = b.low.iter().map(|&v| v as f32).collect();
        let lm: Vec<f32> = b
            .low
            .iter()
            .zip(&b.mid)
            .map(|(&l, &m)| (l + m) as f32)
            .collect();
        let preds = [
            norm.denormalize(&zero, None).unwrap(),
            norm.denormalize(&low, None).unwrap(),
            norm.denormalize(&lm, None).unwrap(),
        ];
        for nrmse in [1e-2, 1e-3, 1e-4, 1e-5] {
            let t = Target::Rmse(nrmse * range);
            let alone = residual::encode(&x, None, &dims, None, t).unwrap().len();
            let r: Vec<usize> = preds
                .iter()
                .map(|p| residual::encode(&x, Some(p), &dims, None, t).unwrap().len())
                .collect();
            println!(
                "| {name} | {nrmse:.0e} | {alone} | {} | {} | {} |",
                r[0], r[1], r[2]
            );
        }
    }
}

fn main() {
    let mut fields: Vec<String> = std::env::args().skip(1).collect();
    if fields.first().map(String::as_str) == Some("--oracle") {
        oracle(&fields[1..]);
        return;
    }
    fields.retain(|f| !f.starts_with("--"));
    let base = FicConfig {
        gain_check: false,
        ..FicConfig::default()
    };
    println!(
        "FIC defaults: {}",
        toml::to_string(&base).unwrap().replace('\n', "; ")
    );
    for name in &fields {
        let (x, dims, grid) = load(name);
        let (lo, hi) = x
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v as f64), b.max(v as f64))
            });
        let range = hi - lo;
        let raw = x.len() * 4;
        println!("\n## {name} {dims:?}, range {range:.4}, {raw} bytes\n");
        println!("| variant | PSNR dB | RMSE | NRMSE | predictor bytes (pred/ssm/mim/idm) | time s | notes |");
        println!("|---|---|---|---|---|---|---|");
        let variants: [(&str, FicConfig); 5] = [
            ("FIC (full)", base.clone()),
            (
                "w/o SSM",
                FicConfig {
                    ssm: false,
                    ..base.clone()
                },
            ),
            (
                "w/o MIM",
                FicConfig {
                    mim: false,
                    ..base.clone()
                },
            ),
            (
                "w/o IDM",
                FicConfig {
                    idm: false,
                    ..base.clone()
                },
            ),
            (
                "climatology only",
                FicConfig {
                    ssm: false,
                    mim: false,
                    idm: false,
                    ..base.clone()
                },
            ),
        ];
        let mut full = None;
        for (label, cfg) in variants {
            let t = Instant::now();
            let f = encode_frame(&x, None, dims, &grid, &cfg, 1e-3 * range).unwrap();
            let secs = t.elapsed().as_secs_f64();
            let (rmse, psnr) = err(&x, &f.prediction, range);
            let b = f.stats.bytes;
            println!(
                "| {label} | {psnr:.2} | {rmse:.4e} | {:.2e} | {} ({}/{}/{}/{}) | {secs:.1} | ssm pts {}, mim block nets {}, idm nodes/nets {}/{} |",
                rmse / range,
                b.iter().sum::<usize>(),
                b[0],
                b[1],
                b[2],
                b[3],
                f.stats.ssm_points,
                f.stats.mim_block_nets,
                f.stats.idm_nodes,
                f.stats.idm_nets
            );
            if label == "FIC (full)" {
                full = Some(f);
            }
        }
        println!("\nMIM upsampler (MIM only, no residual block nets):\n");
        println!("| upsampler | PSNR dB | RMSE | time s |");
        println!("|---|---|---|---|");
        for interp in [Interp::Oi, Interp::Cubic, Interp::Trilinear] {
            let mut cfg = FicConfig {
                ssm: false,
                idm: false,
                interp,
                ..base.clone()
            };
            cfg.mim_res_net.steps = 0;
            let t = Instant::now();
            let f = encode_frame(&x, None, dims, &grid, &cfg, 1e-3 * range).unwrap();
            let (rmse, psnr) = err(&x, &f.prediction, range);
            println!(
                "| {interp:?} | {psnr:.2} | {rmse:.4e} | {:.1} |",
                t.elapsed().as_secs_f64()
            );
        }
        println!(
            "\nFIC + residual against the residual coder alone (ratio = raw bytes / total):\n"
        );
        println!("| NRMSE | residual alone B (ratio) | FIC B + residual B = total (ratio) | total / alone | FIC time s | gain-check choice |");
        println!("|---|---|---|---|---|---|");
        let full = full.unwrap();
        for nrmse in [1e-2, 1e-3, 1e-4, 1e-5] {
            let r = nrmse * range;
            let t = Instant::now();
            let alone = residual::encode(&x, None, &dims, None, Target::Rmse(r))
                .unwrap()
                .len();
            let t_alone = t.elapsed().as_secs_f64();
            let (f, secs) = if nrmse >= 1e-2 {
                let t = Instant::now();
                let f = encode_frame(&x, None, dims, &grid, &base, r).unwrap();
                (f, t.elapsed().as_secs_f64())
            } else {
                (full.clone(), full.stats.seconds)
            };
            let fb: usize = f.sections.iter().map(|s| s.1.len()).sum();
            let res = residual::encode(&x, Some(&f.prediction), &dims, None, Target::Rmse(r))
                .unwrap()
                .len();
            let gc = FicConfig {
                gain_check: true,
                ..base.clone()
            };
            let g = encode_frame(&x, None, dims, &grid, &gc, r).unwrap();
            println!(
                "| {nrmse:.0e} | {alone} ({:.1}×, {t_alone:.2} s) | {fb} + {res} = {} ({:.1}×) | {:.3} | {secs:.1} | {} |",
                raw as f64 / alone as f64,
                fb + res,
                raw as f64 / (fb + res) as f64,
                (fb + res) as f64 / alone as f64,
                g.stats.chosen
            );
        }
    }
}
