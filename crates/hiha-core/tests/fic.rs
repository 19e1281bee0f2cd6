//! FIC predictor tests: band partition, OI upsampler, octree coding,
//! bit-identical encode/decode on a real field, damaged sections.
#![allow(clippy::unwrap_used)]

use hiha_core::format::SectionKind;
use hiha_core::predictor::fic::{decode_frame, encode_frame, FicConfig, FicGrid, NetSpec};
use hiha_core::predictor::idm::{split_box, IdmParams, OctNode, Octree};
use hiha_core::predictor::mim::{knots, upsample, Interp, OiParams};
use hiha_core::predictor::spectral::{band_thresholds, frame_axes, split};
use hiha_core::siren::{Siren, SirenConfig, WeightCodec};

/// 3 levels (GFS levels 10..13) × 73 × 144 temperature, NCEP GFS (public domain).
fn fixture() -> (Vec<f32>, [usize; 3], FicGrid) {
    let bytes = include_bytes!("data/gfs_t_lev10-12_3x73x144.f32");
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let grid = FicGrid {
        lat_deg: (0..73).map(|j| 90.0 - 2.5 * j as f64).collect(),
        lon_deg: (0..144).map(|i| 2.5 * i as f64).collect(),
        levels: None,
    };
    (v, [3, 73, 144], grid)
}

fn small_cfg() -> FicConfig {
    FicConfig {
        mim_net: NetSpec {
            layers: 3,
            hidden: 16,
            omega: 14.0,
            steps: 40,
            lr: 3e-3,
        },
        mim_res_net: NetSpec {
            layers: 2,
            hidden: 8,
            omega: 15.0,
            steps: 15,
            lr: 3e-3,
        },
        idm_net: NetSpec {
            layers: 4,
            hidden: 8,
            omega: 22.0,
            steps: 16,
            lr: 3e-3,
        },
        idm_max_depth: 2,
        idm_min_block: 8,
        idm_max_points: 8000,
        gain_check: false,
        ..FicConfig::default()
    }
}

#[test]
fn fic_band_partition_is_exact() {
    let (x, dims, grid) = fixture();
    let xf: Vec<f64> = x.iter().map(|&v| v as f64 - 250.0).collect();
    let axes = frame_axes(dims, &grid.lat_deg, &grid.lon_deg, true);
    let th = band_thresholds(14.0, 256, 3.0);
    let b = split(&xf, axes, th).unwrap();
    let mut worst = 0.0f64;
    let mut e = [0.0f64; 3];
    for (i, &xv) in xf.iter().enumerate() {
        let s = b.low[i] + b.mid[i] + b.high[i];
        worst = worst.max((s - xv).abs());
        e[0] += b.low[i] * b.low[i];
        e[1] += b.mid[i] * b.mid[i];
        e[2] += b.high[i] * b.high[i];
    }
    assert!(worst <= 1e-12, "partition off by {worst}");
    // every band holds something, and the low band the most
    assert!(e.iter().all(|&v| v > 0.0), "{e:?}");
    assert!(e[0] > e[1] && e[0] > e[2], "{e:?}");
    // a pure low wavenumber stays in the low band (mirror extension, no leakage)
    let s: Vec<f64> = (0..xf.len())
        .map(|i| {
            let (j, k) = ((i / 144) % 73, i % 144);
            (2.0 * (k as f64 * 2.5).to_radians()).cos()
                * (std::f64::consts::PI * 2.0 * (j as f64 + 0.5) / 73.0).cos()
        })
        .collect();
    let b = split(&s, axes, th).unwrap();
    let hi: f64 = b.high.iter().chain(&b.mid).map(|v| v * v).sum();
    let lo: f64 = b.low.iter().map(|v| v * v).sum();
    assert!(hi < 1e-6 * lo, "leakage {hi} vs {lo}");
}

fn smooth(l: usize, j: usize, i: usize) -> f64 {
    let (x, y) = (i as f64 / 60.0, j as f64 / 40.0);
    let tau = 2.0 * std::f64::consts::PI;
    (tau * x).sin() * (3.0 * y).cos() + 0.3 * (2.0 * tau * x + 2.0 * y + l as f64).sin()
}

#[test]
fn fic_oi_reproduces_observations_and_beats_trilinear() {
    let dims = [1, 40, 60];
    let kn = [knots(1, 1, false), knots(40, 3, false), knots(60, 3, true)];
    let mut obs = Vec::new();
    for &a in &kn[0] {
        for &b in &kn[1] {
            for &c in &kn[2] {
                obs.push(smooth(a, b, c));
            }
        }
    }
    let per = [false, false, true];
    let oi = OiParams::default();
    let xo = upsample(&obs, dims, &kn, per, Interp::Oi, oi).unwrap();
    let xl = upsample(&obs, dims, &kn, per, Interp::Trilinear, oi).unwrap();
    let xc = upsample(&obs, dims, &kn, per, Interp::Cubic, oi).unwrap();
    // observations reproduced within the observation error
    let mut k = 0;
    let mut worst = 0.0f64;
    for &b in &kn[1] {
        for &c in &kn[2] {
            worst = worst.max((xo[b * 60 + c] - obs[k]).abs());
            k += 1;
        }
    }
    assert!(worst < 0.02, "OI misses its observations by {worst}");
    let rmse = |x: &[f64]| {
        let mut s = 0.0;
        for j in 0..40 {
            for i in 0..60 {
                let e = x[j * 60 + i] - smooth(0, j, i);
                s += e * e;
            }
        }
        (s / 2400.0).sqrt()
    };
    let (ro, rl, rc) = (rmse(&xo), rmse(&xl), rmse(&xc));
    eprintln!("OI {ro:e}  cubic {rc:e}  trilinear {rl:e}");
    assert!(ro < 0.5 * rl, "OI {ro} vs trilinear {rl}");
}

#[test]
fn fic_octree_round_trips() {
    let dims = [3, 40, 64];
    let params = IdmParams {
        max_depth: 3,
        min_block: 4,
    };
    let codec = WeightCodec::Quantized {
        bits: 8,
        per_row: true,
    };
    let cfg = SirenConfig {
        in_dim: 3,
        hidden: 8,
        layers: 2,
        out_dim: 1,
        omega_first: 22.0,
        omega_hidden: 22.0,
    };
    let mut seed = 0;
    let mut net = || {
        seed += 1;
        Some(Siren::new(cfg, seed).unwrap().quantized(codec).unwrap())
    };
    let root_box = [(0, 3), (0, 40), (0, 64)];
    let kids = split_box(&root_box, 4);
    assert_eq!(kids.len(), 4); // 3 levels cannot be halved with min_block 4
    let mut children = Vec::new();
    for (k, bx) in kids.iter().enumerate() {
        let mut node = OctNode {
            bx: *bx,
            net: if k % 2 == 0 { net() } else { None },
            children: Vec::new(),
        };
        if k == 1 {
            for g in split_box(bx, 4) {
                node.children.push(OctNode {
                    bx: g,
                    net: net(),
                    children: Vec::new(),
                });
            }
        }
        children.push(node);
    }
    let tree = Octree {
        params,
        root: OctNode {
            bx: root_box,
            net: None,
            children,
        },
    };
    let bytes = tree.to_bytes(codec).unwrap();
    let back = Octree::from_bytes(&bytes, dims).unwrap();
    assert_eq!(back, tree);
    assert_eq!(back.counts(), tree.counts());
    for cut in [0, 1, 3, 5, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Octree::from_bytes(&bytes[..cut], dims).is_err(),
            "cut {cut}"
        );
    }
}

#[test]
fn fic_encode_decode_bit_identical() {
    let (x, dims, grid) = fixture();
    // without the rate-distortion test, so that every stage has networks
    let cfg = FicConfig {
        rd_check: false,
        ..small_cfg()
    };
    let range = 281.2 - 219.4;
    let f = encode_frame(&x, None, dims, &grid, &cfg, 1e-3 * range).unwrap();
    let kinds: Vec<SectionKind> = f.sections.iter().map(|s| s.0).collect();
    assert_eq!(
        kinds,
        [
            SectionKind::Predictor,
            SectionKind::Ssm,
            SectionKind::Mim,
            SectionKind::Idm
        ]
    );
    let refs: Vec<(SectionKind, &[u8])> =
        f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect();
    let p = decode_frame(&refs, dims, &grid, &cfg).unwrap();
    assert_eq!(p.len(), x.len());
    assert!(p
        .iter()
        .zip(&f.prediction)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    // it predicts: the error is well below the field's spread
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / x.len() as f64;
    let mse = x
        .iter()
        .zip(&p)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    eprintln!("stats {:?} rmse {} std {}", f.stats, mse.sqrt(), var.sqrt());
    assert!(
        f.stats.mim_block_nets > 0 && f.stats.idm_nets > 0,
        "{:?}",
        f.stats
    );
    assert!(mse < 0.05 * var, "mse {mse} var {var}");
}

#[test]
fn fic_missing_values_and_single_level() {
    let (x, _, grid) = fixture();
    let x = x[73 * 144..2 * 73 * 144].to_vec();
    let dims = [1, 73, 144];
    let mut missing = vec![false; x.len()];
    let mut xm = x.clone();
    for i in (0..x.len()).step_by(37) {
        missing[i] = true;
        xm[i] = f32::NAN;
    }
    let cfg = small_cfg();
    let f = encode_frame(&xm, Some(&missing), dims, &grid, &cfg, 0.05).unwrap();
    let refs: Vec<(SectionKind, &[u8])> =
        f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect();
    let p = decode_frame(&refs, dims, &grid, &cfg).unwrap();
    assert!(p
        .iter()
        .zip(&f.prediction)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(p.iter().all(|v| v.is_finite()));
}

#[test]
fn fic_damaged_sections_are_errors() {
    let (x, _, grid) = fixture();
    let x = x[..73 * 144].to_vec();
    let dims = [1, 73, 144];
    let cfg = small_cfg();
    let f = encode_frame(&x, None, dims, &grid, &cfg, 0.05).unwrap();
    for s in 0..f.sections.len() {
        let b = &f.sections[s].1;
        for cut in [
            0,
            1,
            2,
            5,
            b.len() / 3,
            b.len() / 2,
            b.len().saturating_sub(1),
        ] {
            if cut >= b.len() {
                continue;
            }
            let mut refs: Vec<(SectionKind, &[u8])> =
                f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect();
            refs[s].1 = &b[..cut];
            let r = decode_frame(&refs, dims, &grid, &cfg);
            // a cut inside a range-coded tail may still decode; it must never panic,
            // and structural cuts must be reported
            if cut <= 2 {
                assert!(r.is_err(), "section {s} cut at {cut} decoded");
            }
        }
        // flipped bytes: never a panic
        for pos in (0..b.len()).step_by((b.len() / 17).max(1)) {
            let mut bad = b.clone();
            bad[pos] ^= 0xA5;
            let mut refs: Vec<(SectionKind, &[u8])> =
                f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect();
            refs[s].1 = &bad;
            let _ = decode_frame(&refs, dims, &grid, &cfg);
        }
    }
    // a duplicated or orphan section is refused
    let mut refs: Vec<(SectionKind, &[u8])> =
        f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect();
    refs.push(refs[1]);
    assert!(decode_frame(&refs, dims, &grid, &cfg).is_err());
    let refs: Vec<(SectionKind, &[u8])> = f.sections[1..]
        .iter()
        .map(|(k, b)| (*k, b.as_slice()))
        .collect();
    assert!(decode_frame(&refs, dims, &grid, &cfg).is_err());
    // no sections: zeros
    assert!(decode_frame(&[], dims, &grid, &cfg)
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
}

#[test]
fn fic_config_toml_round_trips() {
    let c = FicConfig::default();
    let s = toml::to_string(&c).unwrap();
    let back: FicConfig = toml::from_str(&s).unwrap();
    assert_eq!(back, c);
    let partial: FicConfig = toml::from_str("idm = false\n").unwrap();
    assert!(!partial.idm && partial.mim);
}

#[test]
fn fic_gain_check_never_loses() {
    use hiha_core::residual::{encode, Target};
    let (x, dims, grid) = fixture();
    let range = 281.2 - 219.4;
    for ceiling in [true, false] {
        let cfg = FicConfig {
            gain_check: true,
            ceiling_check: ceiling,
            ..small_cfg()
        };
        let r = 1e-2 * range;
        let f = encode_frame(&x, None, dims, &grid, &cfg, r).unwrap();
        let refs: Vec<(SectionKind, &[u8])> =
            f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect();
        let p = decode_frame(&refs, dims, &grid, &cfg).unwrap();
        assert!(p
            .iter()
            .zip(&f.prediction)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let fic: usize = f.sections.iter().map(|s| s.1.len()).sum();
        let with = encode(&x, Some(&f.prediction), &dims, None, Target::Rmse(r))
            .unwrap()
            .len();
        let alone = encode(&x, None, &dims, None, Target::Rmse(r))
            .unwrap()
            .len();
        eprintln!(
            "ceiling {ceiling}: {:?}; {fic} + {with} vs {alone}",
            f.stats.chosen
        );
        assert!(fic + with <= alone, "{fic} + {with} > {alone}");
    }
}
