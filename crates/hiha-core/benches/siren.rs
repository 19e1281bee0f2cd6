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

/// CPU time (user + system) of this process so far, from /proc (Linux;
/// assumes 100 clock ticks per second). Lets the table also show what each
/// core did while it ran, which the load of other processes disturbs less.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

/// Best wall time of `reps` runs of `f`, and the mean CPU seconds per run
/// (over as many further runs as needed for at least 1 s of CPU time, since
/// the clock ticks are 10 ms).
fn best<F: FnMut()>(reps: usize, mut f: F) -> (f64, f64) {
    f();
    let b = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let Some(c0) = cpu_seconds() else {
        return (b, f64::NAN);
    };
    let mut runs = 0;
    loop {
        f();
        runs += 1;
        let c = cpu_seconds().unwrap_or(f64::NAN) - c0;
        if c.is_nan() || c >= 1.0 || runs >= 1000 {
            return (b, c / runs as f64);
        }
    }
}

/// GFLOP/s of C (m×n) = A (m×k) · B (k×n), rows of A split into `parts`
/// rayon tasks, each a faer `Par::Seq` GEMM (the training layout): by wall
/// time, and per CPU-second × threads.
fn gemm_gflops(m: usize, n: usize, k: usize, parts: usize, threads: usize) -> (f64, f64) {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let rows = m.div_ceil(parts);
    let (s, cpu) = best(5, || {
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
    let f = 2.0 * (m * n * k) as f64 / 1e9;
    (f / s, f / cpu * threads as f64)
}

fn main() {
    let n: usize = std::env::var("SIREN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(262_144);
    let threads = rayon::current_num_threads();
    println!("SIREN engine benchmark: N = {n}, rayon threads = {threads}");
    println!("(cpu: flops per CPU-second of this process x threads, i.e. the rate if the cores were not shared)");
    println!(
        "{:<58} {:>10} {:>10} {:>10}",
        "measure", "wall", "cpu", "unit"
    );
    let row = |name: &str, w: f64, c: f64, unit: &str| {
        println!("{name:<58} {w:>10.2} {c:>10.2} {unit:>10}")
    };

    let (cube_w, cube_c) = gemm_gflops(1024, 1024, 1024, threads, threads);
    row(
        "faer f32 GEMM 1024^3 (rows split over threads)",
        cube_w,
        cube_c,
        "GFLOP/s",
    );
    let (tall_w, tall_c) = gemm_gflops(n, 64, 64, n.div_ceil(512), threads);
    row(
        &format!("faer f32 GEMM {n}x64x64 (512-row tasks)"),
        tall_w,
        tall_c,
        "GFLOP/s",
    );
    let (peak_w, peak_c) = (cube_w.max(tall_w), cube_c.max(tall_c));

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
    let c0 = cpu_seconds().unwrap_or(f64::NAN);
    let rep = train(&mut net, &coords, &targets, &tc).expect("train");
    // The CPU time includes the final predict() of the report; subtract its share below.
    let c_train = cpu_seconds().unwrap_or(f64::NAN) - c0;
    let mut out = vec![0.0f32; n];
    let (s_pred, c_pred) = best(3, || net.predict(&coords, &mut out).expect("predict"));
    let c_train = c_train - c_pred;
    let ps = rep.point_steps as f64 / rep.seconds;
    let ps_c = rep.point_steps as f64 / c_train * threads as f64;
    let gf = rep.flops / rep.seconds / 1e9;
    let gf_c = rep.flops / c_train * threads as f64 / 1e9;
    row(
        &format!("train 3-64-64-64-1, full batch, {steps} steps"),
        ps / 1e6,
        ps_c / 1e6,
        "Mpt-step/s",
    );
    row(
        &format!("  GEMM flops ({:.0}/pt-step)", flops_per_point_step(&cfg)),
        gf,
        gf_c,
        "GFLOP/s",
    );
    row(
        "  % of faer GEMM peak (best of the two shapes above)",
        100.0 * gf / peak_w,
        100.0 * gf_c / peak_c,
        "%",
    );
    row(
        "  time per step",
        1e3 * rep.seconds / steps as f64,
        1e3 * c_train / steps as f64 / threads as f64,
        "ms",
    );
    let macs = cfg.macs_per_point() as f64 * n as f64;
    row(
        &format!("predict (reproducible kernel), {threads} threads"),
        n as f64 / s_pred / 1e6,
        n as f64 / c_pred * threads as f64 / 1e6,
        "Mpoints/s",
    );
    row(
        "  flops (2 per MAC, sin not counted)",
        2.0 * macs / s_pred / 1e9,
        2.0 * macs / c_pred * threads as f64 / 1e9,
        "GFLOP/s",
    );
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let (s1, c1) = one.install(|| best(3, || net.predict(&coords, &mut out).expect("predict")));
    row(
        "predict (reproducible kernel), 1 thread",
        n as f64 / s1 / 1e6,
        n as f64 / c1 / 1e6,
        "Mpoints/s",
    );
}
