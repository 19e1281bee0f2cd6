//! Ratio and speed of the residual coder on the shared real fields.
//!
//! Ignored by default: it needs raw dumps of the shared data (`../shared/data/*.nc`) made with
//! a few lines of Python (netCDF4): for each file `NAME.f32` (little-endian
//! float32, leading axes of 5-D variables merged) and `NAME.dims` (the shape,
//! space separated) in `$HIHA_RESIDUAL_DATA` (default /tmp/hiha_res). Run:
//! `cargo test -p hiha-core --release --test residual_measure -- --ignored --nocapture`.
//! Optional: `HIHA_RESIDUAL_FILTER=substring`, `HIHA_RESIDUAL_MODE=maxabs`.

use hiha_core::residual::{decode, encode, Target};

/// CPU seconds used by the process so far (user + system), from /proc; the
/// shared machine is too loaded for wall-clock timings to mean anything.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

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
    println!("Cells: ratio (bits/value) method (S = SZ path, W = wavelet path).");
    println!("Speeds: MB of f32 per CPU-second, over the four targets; dec S/W per method.");
    println!("| field | target | 1e-2 | 1e-3 | 1e-4 | 1e-5 | enc | dec S | dec W |");
    println!("|---|---|---|---|---|---|---|---|---|");
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
        let mut te = 0.0;
        let mut td = [0.0f64; 3];
        let mut nd = [0usize; 3];
        for nrmse in [1e-2, 1e-3, 1e-4, 1e-5] {
            let t = if maxabs {
                Target::MaxAbs(nrmse * range)
            } else {
                Target::Rmse(nrmse * range)
            };
            let t0 = cpu_seconds();
            let c = encode(&x, None, &dims, None, t).expect("encode");
            te += cpu_seconds() - t0;
            let method = (c[0] as usize).min(2);
            let reps = 5;
            let t1 = cpu_seconds();
            let mut y = Vec::new();
            for _ in 0..reps {
                y = decode(&c, None, &dims, None).expect("decode");
            }
            td[method] += (cpu_seconds() - t1) / reps as f64;
            nd[method] += 1;
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
            let m = ["E", "S", "W"][method];
            cells.push(format!(
                "{ratio:.1} ({:.2}) {m}",
                c.len() as f64 * 8.0 / x.len() as f64
            ));
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dec = |k: usize| {
            if nd[k] == 0 {
                "-".to_string()
            } else {
                format!("{:.0}", nd[k] as f64 * mb / td[k].max(1e-3))
            }
        };
        println!(
            "| {name} {dims:?} | {} | {} | {:.1} | {} | {} |",
            if maxabs { "maxabs" } else { "rmse" },
            cells.join(" | "),
            4.0 * mb / te.max(1e-3),
            dec(1),
            dec(2)
        );
    }
}
