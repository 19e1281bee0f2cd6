//! SIREN engine benchmark: training throughput vs the machine's faer f32 GEMM
//! peak, and inference throughput of the reproducible kernel.
//!
//! Run: `cargo bench -p hiha-core --bench siren` (prints a table). Set
//! `SIREN_BENCH_N` to change the number of points (default 262144).

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use hiha_core::siren::{flops_per_point_step, train, Siren, SirenConfig, SplitMix64, TrainConfig};
use rayon::prelude::*;
use std::time::Instant;

/// Best of `reps` timings of `f`, in seconds.
fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// GFLOP/s of C (m×n) = A (m×k) · B (k×n), rows of A split into `parts`
/// rayon tasks, each a faer `Par::Seq` GEMM (the training layout).
fn gemm_gflops(m: usize, n: usize, k: usize, parts: usize) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let rows = m.div_ceil(parts);
    let s = best(5, || {
        c.par_chunks_mut(rows * n)
            .zip(a.par_chunks(rows * k))
            .for_each(|(cc, aa)| {
                let r = aa.len() / k;
                matmul(
                    MatMut::from_row_major_slice_mut(cc, r, n),
                    Accum::Replace,
                    MatRef::from_row_major_slice(aa, r, k),
                    MatRef::from_row_major_slice(&b, k, n),
                    1.0f32,
                    Par::Seq,
                );
            })
    });
    2.0 * (m * n * k) as f64 / s / 1e9
}

fn main() {
    let n: usize = std::env::var("SIREN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(262_144);
    let threads = rayon::current_num_threads();
    println!("SIREN engine benchmark: N = {n}, rayon threads = {threads}");
    println!("{:<58} {:>14} {:>10}", "measure", "value", "unit");

    let peak_cube = gemm_gflops(1024, 1024, 1024, threads);
    println!(
        "{:<58} {:>14.1} {:>10}",
        "faer f32 GEMM 1024^3 (rows split over threads)", peak_cube, "GFLOP/s"
    );
    let peak_tall = gemm_gflops(n, 64, 64, n.div_ceil(512));
    println!(
        "{:<58} {:>14.1} {:>10}",
        format!("faer f32 GEMM {n}x64x64 (512-row tasks)"),
        peak_tall,
        "GFLOP/s"
    );
    let peak = peak_cube.max(peak_tall);

    let cfg = SirenConfig {
        in_dim: 3,
        hidden: 64,
        layers: 3,
        out_dim: 1,
        omega_first: 30.0,
        omega_hidden: 30.0,
    };
    let mut rng = SplitMix64::new(1);
    let coords: Vec<f32> = (0..n)
        .flat_map(|_| {
            let lat = (rng.next_f64() * 2.0 - 1.0).asin();
            let lon = rng.next_f64() * std::f64::consts::TAU;
            [
                (lat.cos() * lon.cos()) as f32,
                (lat.cos() * lon.sin()) as f32,
                lat.sin() as f32,
            ]
        })
        .collect();
    let targets: Vec<f32> = coords
        .chunks(3)
        .map(|p| (4.0 * p[0]).sin() * p[1] + p[2] * p[2])
        .collect();
    let mut net = Siren::new(cfg, 1).expect("net");
    // Warm-up (allocations, page faults), then the timed run.
    let warm = TrainConfig {
        steps: 2,
        ..Default::default()
    };
    train(&mut net, &coords, &targets, &warm).expect("train");
    let steps = 10;
    let tc = TrainConfig {
        steps,
        ..Default::default()
    };
    let rep = train(&mut net, &coords, &targets, &tc).expect("train");
    let ps = rep.point_steps as f64 / rep.seconds;
    let gf = rep.flops / rep.seconds / 1e9;
    println!(
        "{:<58} {:>14.3e} {:>10}",
        format!("train 3-64-64-64-1, full batch, {steps} steps"),
        ps,
        "pt-step/s"
    );
    println!(
        "{:<58} {:>14.1} {:>10}",
        format!("  GEMM flops ({:.0}/pt-step)", flops_per_point_step(&cfg)),
        gf,
        "GFLOP/s"
    );
    println!(
        "{:<58} {:>14.1} {:>10}",
        "  of faer GEMM peak (best of the two shapes above)",
        100.0 * gf / peak,
        "%"
    );
    println!(
        "{:<58} {:>14.1} {:>10}",
        "  time per step",
        1e3 * rep.seconds / steps as f64,
        "ms"
    );

    let mut out = vec![0.0f32; n];
    let s = best(3, || net.predict(&coords, &mut out).expect("predict"));
    println!(
        "{:<58} {:>14.3e} {:>10}",
        format!("predict (reproducible kernel), {threads} threads"),
        n as f64 / s,
        "points/s"
    );
    println!(
        "{:<58} {:>14.1} {:>10}",
        "  flops (2 per MAC, sin not counted)",
        2.0 * cfg.macs_per_point() as f64 * n as f64 / s / 1e9,
        "GFLOP/s"
    );
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let s1 = one.install(|| best(3, || net.predict(&coords, &mut out).expect("predict")));
    println!(
        "{:<58} {:>14.3e} {:>10}",
        "predict (reproducible kernel), 1 thread",
        n as f64 / s1,
        "points/s"
    );
}
