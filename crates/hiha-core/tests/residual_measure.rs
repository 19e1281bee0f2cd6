//! Ratio and speed of the residual coder on the shared real fields.
//!
//! Ignored by default: it needs raw dumps of /work/shared/data/*.nc made with
//! a few lines of Python (netCDF4): for each file `NAME.f32` (little-endian
//! float32, leading axes of 5-D variables merged) and `NAME.dims` (the shape,
//! space separated) in `$HIHA_RESIDUAL_DATA` (default /tmp/hiha_res). Run:
//! `cargo test -p hiha-core --release --test residual_measure -- --ignored --nocapture`.
//! Optional: `HIHA_RESIDUAL_FILTER=substring`, `HIHA_RESIDUAL_MODE=maxabs`.

use hiha_core::residual::{decode, encode, Target};
use std::time::Instant;

#[test]
#[ignore]
fn residual_measure_shared_fields() {
    let dir = std::env::var("HIHA_RESIDUAL_DATA").unwrap_or_else(|_| "/tmp/hiha_res".into());
    let filter = std::env::var("HIHA_RESIDUAL_FILTER").unwrap_or_default();
    let maxabs = std::env::var("HIHA_RESIDUAL_MODE").is_ok_and(|m| m == "maxabs");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "f32"))
        .filter(|p| p.to_string_lossy().contains(&filter))
        .collect();
    names.sort();
    println!("| field | target | 1e-2 | 1e-3 | 1e-4 | 1e-5 | enc MB/s | dec MB/s |");
    println!("|---|---|---|---|---|---|---|---|");
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
        let mb = x.len() as f64 * 4.0 / 1e6;
        let mut cells = Vec::new();
        let (mut te, mut td) = (0.0, 0.0);
        for nrmse in [1e-2, 1e-3, 1e-4, 1e-5] {
            let t = if maxabs {
                Target::MaxAbs(nrmse * range)
            } else {
                Target::Rmse(nrmse * range)
            };
            let t0 = Instant::now();
            let c = encode(&x, None, &dims, None, t).expect("encode");
            te += t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let y = decode(&c, None, &dims, None).expect("decode");
            td += t1.elapsed().as_secs_f64();
            let sse: f64 = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum();
            let rmse = (sse / x.len() as f64).sqrt();
            let worst = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| (a as f64 - b as f64).abs())
                .fold(0.0, f64::max);
            match t {
                Target::Rmse(r) => assert!(rmse <= r),
                Target::MaxAbs(e) => assert!(worst <= e),
            }
            let ratio = x.len() as f64 * 4.0 / c.len() as f64;
            cells.push(format!(
                "{ratio:.1} ({:.2})",
                c.len() as f64 * 8.0 / x.len() as f64
            ));
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "| {name} {dims:?} | {} | {} | {:.1} | {:.1} |",
            if maxabs { "maxabs" } else { "rmse" },
            cells.join(" | "),
            4.0 * mb / te,
            4.0 * mb / td
        );
    }
}
