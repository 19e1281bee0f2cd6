//! Tests of the SIREN engine.

use super::infer::{self, Isa};
use super::*;
use crate::metrics::Metrics;

fn cfg(in_dim: usize, hidden: usize, layers: usize, out_dim: usize) -> SirenConfig {
    SirenConfig {
        in_dim,
        hidden,
        layers,
        out_dim,
        omega_first: 30.0,
        omega_hidden: 30.0,
    }
}

fn random_coords(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = SplitMix64::new(seed);
    (0..n * d).map(|_| r.uniform_sym(1.0)).collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

const SHAPES: [(usize, usize, usize, usize); 6] = [
    (1, 8, 1, 1),
    (2, 16, 2, 2),
    (3, 32, 3, 1),
    (4, 20, 2, 3),
    (3, 64, 3, 1),
    (4, 37, 4, 2),
];

/// f64 reference forward of one point (same math, f64 and libm sin).
fn forward_f64(c: &SirenConfig, p: &[f64], x: &[f64]) -> Vec<f64> {
    let mut h: Vec<f64> = x.to_vec();
    for l in 0..c.n_linear() {
        let (n_in, n_out) = c.layer_dims(l);
        let off = c.layer_offset(l);
        let mut nh = vec![0.0; n_out];
        for i in 0..n_out {
            let mut a = p[off + n_out * n_in + i];
            for j in 0..n_in {
                a += p[off + i * n_in + j] * h[j];
            }
            nh[i] = if l < c.layers {
                (c.omega(l) as f64 * a).sin()
            } else {
                a
            };
        }
        h = nh;
    }
    h
}

fn loss_f64(c: &SirenConfig, p: &[f64], x: &[f32], t: &[f32], loss: Loss) -> f64 {
    let (d, od) = (c.in_dim, c.out_dim);
    let n = x.len() / d;
    let mut s = 0.0;
    for i in 0..n {
        let xi: Vec<f64> = x[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
        let y = forward_f64(c, p, &xi);
        for k in 0..od {
            let e = y[k] - t[i * od + k] as f64;
            s += match loss {
                Loss::L2 => e * e,
                Loss::L1 => e.abs(),
            };
        }
    }
    s / (n * od) as f64
}

#[test]
fn siren_gradient_matches_f64_finite_differences() {
    for (si, &(d, h, l, o)) in SHAPES.iter().enumerate() {
        let c = cfg(d, h, l, o);
        let net = Siren::new(c, 100 + si as u64).expect("net");
        let n = 700; // two blocks, the second partial
        let x = random_coords(n, d, 7 + si as u64);
        let t = random_coords(n, o, 9 + si as u64);
        for loss in [Loss::L2, Loss::L1] {
            if loss == Loss::L1 && si % 2 == 1 {
                continue;
            }
            let (lv, g) = loss_and_grad(&net, &x, &t, loss).expect("grad");
            let p64: Vec<f64> = net.params().iter().map(|&v| v as f64).collect();
            let l64 = loss_f64(&c, &p64, &x, &t, loss);
            assert!(
                (lv - l64).abs() <= 1e-4 * l64.abs().max(1e-3),
                "loss {lv} vs {l64}"
            );
            // Sample parameters from every layer (weights and biases).
            let mut rng = SplitMix64::new(55);
            let mut idx = Vec::new();
            for k in 0..c.n_linear() {
                let (ni, no) = c.layer_dims(k);
                let off = c.layer_offset(k);
                for _ in 0..6 {
                    idx.push(off + rng.below(ni * no));
                }
                idx.push(off + ni * no + rng.below(no));
            }
            let gmax = g.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64;
            let (mut num, mut den) = (0.0f64, 0.0f64);
            for &i in &idx {
                let eps = 1e-6 * p64[i].abs().max(1e-2);
                let mut pp = p64.clone();
                pp[i] += eps;
                let lp = loss_f64(&c, &pp, &x, &t, loss);
                pp[i] -= 2.0 * eps;
                let lm = loss_f64(&c, &pp, &x, &t, loss);
                let fd = (lp - lm) / (2.0 * eps);
                let diff = (g[i] as f64 - fd).abs();
                assert!(
                    diff <= 2e-3 * fd.abs() + 1e-4 * gmax + 1e-7,
                    "shape {:?} {:?} param {i}: f32 backward {} vs f64 FD {fd}",
                    (d, h, l, o),
                    loss,
                    g[i]
                );
                num += diff * diff;
                den += fd * fd;
            }
            assert!(
                num.sqrt() <= 1e-3 * den.sqrt() + 1e-9,
                "shape {:?}: relative error {}",
                (d, h, l, o),
                (num / den).sqrt()
            );
        }
    }
}

#[test]
fn siren_predict_is_bit_reproducible() {
    for (si, &(d, h, l, o)) in SHAPES.iter().enumerate() {
        let mut c = cfg(d, h, l, o);
        c.omega_hidden = 20.0 + si as f32;
        let net = Siren::new(c, 3 + si as u64).expect("net");
        let n = 1000 + 7 * si;
        let x = random_coords(n, d, 11 + si as u64);
        let mut reference = vec![0.0; n * o];
        net.predict_scalar(&x, &mut reference).expect("scalar");
        for isa in Isa::available() {
            for threads in [1, 2, 3] {
                let mut out = vec![0.0; n * o];
                pool(threads)
                    .install(|| infer::predict(&net, &x, &mut out, isa))
                    .expect("predict");
                assert_eq!(
                    bits(&out),
                    bits(&reference),
                    "{isa:?} with {threads} threads differs from scalar"
                );
            }
        }
        let out = pool(2).install(|| net.predict_vec(&x)).expect("predict");
        assert_eq!(bits(&out), bits(&reference));
    }
}

/// Golden value: the same hash must come out on every platform (x86-64 with
/// any ISA, aarch64, ...). If this fails on a new platform, reproducibility is broken.
#[test]
fn siren_predict_golden_hash() {
    let net = Siren::new(cfg(4, 32, 3, 2), 2024).expect("net");
    let x = random_coords(333, 4, 77);
    let y = net.predict_vec(&x).expect("predict");
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for v in &y {
        for b in v.to_le_bytes() {
            hash = (hash ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    assert_eq!(hash, GOLDEN_HASH, "got {hash:#x}");
}
const GOLDEN_HASH: u64 = 0x4a27_3482_0d33_01b2;

#[test]
fn siren_init_is_deterministic_and_in_range() {
    let c = cfg(3, 64, 3, 1);
    let a = Siren::new(c, 1).expect("net");
    let b = Siren::new(c, 1).expect("net");
    assert_eq!(bits(a.params()), bits(b.params()));
    assert_ne!(
        bits(a.params()),
        bits(Siren::new(c, 2).expect("net").params())
    );
    assert_eq!(a.n_params(), 3 * 64 + 64 + 2 * (64 * 64 + 64) + 64 + 1);
    let (w0, _) = a.layer(0);
    assert!(w0.iter().all(|v| v.abs() <= 1.0 / 3.0));
    let (w1, _) = a.layer(1);
    let lim = (6.0f32 / 64.0).sqrt() / 30.0;
    assert!(w1.iter().all(|v| v.abs() <= lim));
    assert!(Siren::new(cfg(5, 8, 1, 1), 0).is_err());
    assert!(Siren::new(cfg(3, 8, 0, 1), 0).is_err());
}

#[test]
fn siren_training_is_deterministic_across_thread_counts() {
    let c = cfg(3, 32, 2, 2);
    let x = random_coords(3000, 3, 1);
    let t: Vec<f32> = x
        .chunks(3)
        .flat_map(|p| [(3.0 * p[0]).sin() * p[1], p[2] * p[2]])
        .collect();
    for batch in [None, Some(1000)] {
        let tc = TrainConfig {
            steps: 30,
            batch,
            lr: 1e-3,
            ..Default::default()
        };
        let mut runs = Vec::new();
        for threads in [1, 2, 2, 3] {
            let mut net = Siren::new(c, 5).expect("net");
            let rep = pool(threads)
                .install(|| train(&mut net, &x, &t, &tc))
                .expect("train");
            assert_eq!(rep.steps, 30);
            runs.push(bits(net.params()));
        }
        assert!(
            runs.iter().all(|r| *r == runs[0]),
            "batch {batch:?}: runs differ"
        );
    }
}

#[test]
fn siren_early_stop_and_bad_input() {
    let c = cfg(2, 16, 1, 1);
    let x = random_coords(500, 2, 1);
    let t: Vec<f32> = x.chunks(2).map(|p| 0.1 * p[0]).collect();
    let mut net = Siren::new(c, 5).expect("net");
    let tc = TrainConfig {
        steps: 5000,
        lr: 1e-3,
        target_mse: Some(1e-4),
        ..Default::default()
    };
    let rep = train(&mut net, &x, &t, &tc).expect("train");
    assert!(rep.stopped_early && rep.steps < 5000, "{rep:?}");
    assert!(rep.mse <= 1.1e-4, "{rep:?}");
    let tc = TrainConfig {
        steps: 5000,
        lr: 1e-3,
        target_max_abs: Some(2e-2),
        batch: Some(128),
        check_every: 10,
        ..Default::default()
    };
    let mut net = Siren::new(c, 5).expect("net");
    let rep = train(&mut net, &x, &t, &tc).expect("train");
    assert!(rep.stopped_early && rep.target_met, "{rep:?}");
    assert!(train(&mut net, &x, &t[1..], &tc).is_err());
    assert!(net.predict(&x[1..], &mut [0.0; 250]).is_err());
}

fn load_fixture() -> (Vec<f32>, Vec<f32>) {
    let raw = include_bytes!("testdata/gfs_t_2011101100_f072_lev12_73x144.f32");
    let field: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(field.len(), 73 * 144);
    let lat: Vec<f64> = (0..73).map(|j| 90.0 - 2.5 * j as f64).collect();
    let lon: Vec<f64> = (0..144).map(|i| 2.5 * i as f64).collect();
    (sphere_grid_coords(&lat, &lon, None), field)
}

/// Trains on a real field (GFS temperature, one level, 73 × 144) and checks
/// the PSNR reached and the cost of each weight codec.
#[test]
fn siren_fits_real_field_and_quantisation_cost() {
    let (x, field) = load_fixture();
    let (lo, hi) = field
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
    let t: Vec<f32> = field.iter().map(|v| (v - mid) / half).collect();
    let c = SirenConfig {
        in_dim: 3,
        hidden: 64,
        layers: 3,
        out_dim: 1,
        omega_first: FIELD_OMEGA,
        omega_hidden: 30.0,
    };
    let mut net = Siren::new(c, 1).expect("net");
    // PSNR = 20 log10(range / RMSE) with range 2 (targets in [-1, 1]).
    let target_mse = (2.0 / 10f64.powf(FIELD_PSNR / 20.0)).powi(2) as f32;
    let tc = TrainConfig {
        steps: FIELD_STEPS,
        lr: 1e-3,
        lr_min: 1e-5,
        target_mse: Some(target_mse),
        ..Default::default()
    };
    let rep = train(&mut net, &x, &t, &tc).expect("train");
    let psnr_of = |n: &Siren| {
        let y = n.predict_vec(&x).expect("predict");
        Metrics::compute(&t, &y, None).expect("metrics").psnr
    };
    let psnr = psnr_of(&net);
    eprintln!(
        "SIREN on GFS T: {} steps in {:.2} s, PSNR {psnr:.2} dB, report {rep:?}",
        rep.steps, rep.seconds
    );
    assert!(
        rep.target_met && psnr >= FIELD_PSNR,
        "PSNR {psnr:.2} dB below {FIELD_PSNR} after {} steps",
        rep.steps
    );
    for (codec, max_drop) in QUANT_LIMITS {
        let bytes = net.to_bytes(codec).expect("encode");
        let q = net.quantized(codec).expect("quantise");
        let back = Siren::from_bytes(&bytes).expect("decode");
        assert_eq!(
            bits(q.params()),
            bits(back.params()),
            "{codec:?}: reload not bit-exact"
        );
        let p = psnr_of(&back);
        eprintln!(
            "  {codec:?}: {} bytes, PSNR {p:.2} dB (drop {:.2} dB)",
            bytes.len(),
            psnr - p
        );
        assert!(
            psnr - p <= max_drop,
            "{codec:?}: PSNR drop {:.2} dB > {max_drop}",
            psnr - p
        );
    }
}

const FIELD_OMEGA: f32 = 30.0;
/// Step budget and PSNR (dB) the 3→64→64→64→1 SIREN must reach on the GFS
/// temperature level (reached after about 300 steps).
const FIELD_STEPS: usize = 1000;
const FIELD_PSNR: f64 = 44.0;
/// Codecs and the largest PSNR drop (dB) each may cost on that network.
const QUANT_LIMITS: [(WeightCodec, f64); 7] = [
    (WeightCodec::F32, 0.0),
    (WeightCodec::F16, 0.1),
    (
        WeightCodec::Quantized {
            bits: 12,
            per_row: true,
        },
        0.1,
    ),
    (
        WeightCodec::Quantized {
            bits: 10,
            per_row: true,
        },
        0.1,
    ),
    (
        WeightCodec::Quantized {
            bits: 8,
            per_row: true,
        },
        0.5,
    ),
    (
        WeightCodec::Quantized {
            bits: 6,
            per_row: true,
        },
        3.0,
    ),
    (
        WeightCodec::Quantized {
            bits: 6,
            per_row: false,
        },
        5.0,
    ),
];

#[test]
fn siren_weights_roundtrip_bit_exact() {
    for (si, &(d, h, l, o)) in SHAPES.iter().enumerate() {
        let net = Siren::new(cfg(d, h, l, o), si as u64).expect("net");
        let x = random_coords(100, d, 1);
        let f = Siren::from_bytes(&net.to_bytes(WeightCodec::F32).expect("enc")).expect("dec");
        assert_eq!(bits(f.params()), bits(net.params()));
        assert_eq!(f.config(), net.config());
        for codec in [
            WeightCodec::F16,
            WeightCodec::Quantized {
                bits: 6,
                per_row: false,
            },
            WeightCodec::Quantized {
                bits: 9,
                per_row: true,
            },
            WeightCodec::Quantized {
                bits: 12,
                per_row: true,
            },
            WeightCodec::Quantized {
                bits: 16,
                per_row: false,
            },
        ] {
            let bytes = net.to_bytes(codec).expect("enc");
            let back = Siren::from_bytes(&bytes).expect("dec");
            let q = net.quantized(codec).expect("q");
            assert_eq!(bits(back.params()), bits(q.params()));
            assert_eq!(
                bits(&back.predict_vec(&x).expect("p")),
                bits(&q.predict_vec(&x).expect("p"))
            );
            // Re-encoding the decoded network decodes to the same network.
            let again = Siren::from_bytes(&back.to_bytes(codec).expect("enc")).expect("dec");
            let err = again
                .params()
                .iter()
                .zip(back.params())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err <= 1e-3, "{codec:?}: requantisation drift {err}");
        }
    }
    assert!(Siren::new(cfg(3, 8, 1, 1), 0)
        .expect("net")
        .to_bytes(WeightCodec::Quantized {
            bits: 1,
            per_row: true
        })
        .is_err());
}

#[test]
fn siren_corrupt_weights_give_errors_not_panics() {
    let net = Siren::new(cfg(3, 16, 2, 2), 9).expect("net");
    let mut rng = SplitMix64::new(4);
    for codec in [
        WeightCodec::F32,
        WeightCodec::F16,
        WeightCodec::Quantized {
            bits: 8,
            per_row: true,
        },
    ] {
        let good = net.to_bytes(codec).expect("enc");
        for cut in 0..good.len() {
            match Siren::from_bytes(&good[..cut]) {
                Err(crate::Error::Truncated(_)) | Err(crate::Error::Corrupt(_)) => {}
                other => panic!("{codec:?} cut at {cut}: {other:?}"),
            }
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(Siren::from_bytes(&extra).is_err());
        for _ in 0..3000 {
            let mut b = good.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            if let Ok(n) = Siren::from_bytes(&b) {
                assert!(n.params().iter().all(|v| v.is_finite()));
            }
        }
        for _ in 0..300 {
            let b: Vec<u8> = (0..rng.below(200)).map(|_| rng.next_u64() as u8).collect();
            let _ = Siren::from_bytes(&b);
        }
    }
}

#[test]
fn siren_grid_coords() {
    let x = sphere_grid_coords(&[90.0, 0.0], &[0.0, 90.0], Some(&[1000.0, 500.0, 250.0]));
    assert_eq!(x.len(), 3 * 2 * 2 * 4);
    // level 0 (p = 1), lat 0, lon 90 → (0, 1, 0)
    let i = 3 * 4;
    assert!(
        (x[i]).abs() < 1e-7
            && (x[i + 1] - 1.0).abs() < 1e-7
            && x[i + 2].abs() < 1e-7
            && x[i + 3] == 1.0
    );
    assert_eq!(x[2 * 4 * 4 + 3], -1.0);
    for p in x.chunks(4) {
        assert!((p[0] * p[0] + p[1] * p[1] + p[2] * p[2] - 1.0).abs() < 1e-6);
    }
    assert_eq!(
        plane_grid_coords(2, 3),
        vec![-1.0, -1.0, 0.0, -1.0, 1.0, -1.0, -1.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    );
}
