//! TRC tests on a real hourly series: bit-identical predictions, chain
//! lengths, `reset`, damaged sections.
#![allow(clippy::unwrap_used)]

use hiha_core::format::SectionKind;
use hiha_core::predictor::fic::{FicConfig, FicGrid, NetSpec};
use hiha_core::predictor::trc::{FrameKind, TrcConfig, TrcDecoder, TrcEncoder, TrcFrame};

const DIMS: [usize; 3] = [2, 41, 41];

/// 6 hourly frames × (500, 850 hPa) × 41 × 41 of ERA5 u (m/s), 0.25°,
/// 55N–45N, 0E–10E (see `data/trc_fixture.md`). Contains modified
/// Copernicus Climate Change Service information.
fn fixture() -> (Vec<Vec<f32>>, FicGrid) {
    let bytes = include_bytes!("data/era5_u_6x2x41x41.f32");
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = DIMS.iter().product::<usize>();
    let frames = v.chunks_exact(n).map(|c| c.to_vec()).collect();
    let grid = FicGrid {
        lat_deg: (0..41).map(|j| 55.0 - 0.25 * j as f64).collect(),
        lon_deg: (0..41).map(|i| 0.25 * i as f64).collect(),
        levels: None,
    };
    (frames, grid)
}

fn small_fic() -> FicConfig {
    FicConfig {
        mim_net: NetSpec {
            layers: 3,
            hidden: 12,
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
            steps: 12,
            lr: 3e-3,
        },
        idm_max_depth: 1,
        idm_min_block: 8,
        gain_check: false,
        ..FicConfig::default()
    }
}

fn small_trc(max_chain: usize) -> TrcConfig {
    TrcConfig {
        max_chain,
        // accept every delta: the tests check chain mechanics, not quality
        drift_limit: 1e9,
        cost_check: false,
        rate_check: false,
        residual_check: false,
        finetune_steps: 10,
        finetune_block_steps: 5,
        mid_net: NetSpec {
            layers: 3,
            hidden: 12,
            omega: 15.0,
            steps: 50,
            lr: 3e-3,
        },
        mid_res_net: NetSpec {
            layers: 2,
            hidden: 8,
            omega: 16.0,
            steps: 8,
            lr: 3e-3,
        },
        ..TrcConfig::default()
    }
}

fn target(frame: &[f32]) -> f64 {
    let (lo, hi) = frame
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    1e-3 * (hi - lo) as f64
}

fn refs(f: &TrcFrame) -> Vec<(SectionKind, &[u8])> {
    f.sections.iter().map(|(k, b)| (*k, b.as_slice())).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn trc_round_trip_is_bit_identical_and_chains_are_bounded() {
    let (frames, grid) = fixture();
    let (fic, trc) = (small_fic(), small_trc(3));
    let mut enc = TrcEncoder::new(DIMS, grid.clone(), fic.clone(), trc.clone()).unwrap();
    let mut dec = TrcDecoder::new(DIMS, grid, fic, trc).unwrap();
    let mut kinds = Vec::new();
    let mut nets = [0usize; 3];
    for (t, x) in frames.iter().enumerate() {
        // a tight target: networks pay for themselves (rate criterion)
        let f = enc.encode_next(x, None, 1e-3 * target(x)).unwrap();
        for (a, b) in nets.iter_mut().zip(f.stats.nets) {
            *a += b;
        }
        match f.kind {
            FrameKind::Key => assert!(f.sections.iter().all(|(k, _)| *k != SectionKind::Trc)),
            FrameKind::Delta => {
                assert_eq!(f.sections.len(), 1);
                assert_eq!(f.sections[0].0, SectionKind::Trc);
            }
        }
        let p = dec.decode_next(f.kind, &refs(&f)).unwrap();
        assert_eq!(bits(&p), bits(&f.prediction), "frame {t} ({:?})", f.kind);
        // the prediction is a real prediction of the frame
        let rmse = (x
            .iter()
            .zip(&p)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            / x.len() as f64)
            .sqrt();
        assert!((rmse - f.stats.rmse).abs() <= 1e-9 * rmse.max(1.0), "{t}");
        assert!(rmse < 0.5 * target(x) * 1e3, "frame {t}: rmse {rmse}");
        kinds.push(f.kind);
    }
    assert_eq!(kinds[0], FrameKind::Key);
    assert!(kinds.contains(&FrameKind::Delta), "{kinds:?}");
    // weight differences and new networks were both exercised
    assert!(
        nets[0] > 0 && nets[1] > 0,
        "nets (delta, full, carried): {nets:?}"
    );
    // a keyframe at least every max_chain frames
    for w in kinds.windows(3) {
        assert!(w.contains(&FrameKind::Key), "{kinds:?}");
    }
}

#[test]
fn trc_reset_breaks_the_chain() {
    let (frames, grid) = fixture();
    let trc = TrcConfig {
        residual_check: true,
        ..small_trc(4)
    };
    let fic = small_fic();
    let mut enc = TrcEncoder::new(DIMS, grid.clone(), fic.clone(), trc.clone()).unwrap();
    let mut dec = TrcDecoder::new(DIMS, grid, fic, trc).unwrap();
    let mut kinds = Vec::new();
    for (t, x) in frames[..4].iter().enumerate() {
        if t == 2 {
            enc.reset();
            dec.reset();
        }
        let f = enc.encode_next(x, None, target(x)).unwrap();
        let p = dec.decode_next(f.kind, &refs(&f)).unwrap();
        assert_eq!(bits(&p), bits(&f.prediction), "frame {t}");
        kinds.push(f.kind);
    }
    use FrameKind::{Delta, Key};
    assert_eq!(kinds, vec![Key, Delta, Key, Delta]);
    // a decoder that was reset cannot decode a delta
    let mut enc = TrcEncoder::new(DIMS, fixture().1, small_fic(), small_trc(4)).unwrap();
    let f0 = enc
        .encode_next(&frames[0], None, target(&frames[0]))
        .unwrap();
    let f1 = enc
        .encode_next(&frames[1], None, target(&frames[1]))
        .unwrap();
    assert_eq!(f1.kind, Delta);
    let mut dec = TrcDecoder::new(DIMS, fixture().1, small_fic(), small_trc(4)).unwrap();
    dec.decode_next(Key, &refs(&f0)).unwrap();
    dec.reset();
    assert!(dec.decode_next(Delta, &refs(&f1)).is_err());
}

#[test]
fn trc_max_chain_one_is_fic_per_frame() {
    let (frames, grid) = fixture();
    let mut enc = TrcEncoder::new(DIMS, grid, small_fic(), small_trc(1)).unwrap();
    for x in &frames[..2] {
        assert_eq!(
            enc.encode_next(x, None, target(x)).unwrap().kind,
            FrameKind::Key
        );
    }
}

#[test]
fn trc_damaged_sections_give_errors() {
    let (frames, grid) = fixture();
    let (fic, trc) = (small_fic(), small_trc(4));
    let mut enc = TrcEncoder::new(DIMS, grid.clone(), fic.clone(), trc.clone()).unwrap();
    let f0 = enc
        .encode_next(&frames[0], None, target(&frames[0]))
        .unwrap();
    let f1 = enc
        .encode_next(&frames[1], None, target(&frames[1]))
        .unwrap();
    assert_eq!(f1.kind, FrameKind::Delta);
    let mut dec = TrcDecoder::new(DIMS, grid, fic, trc).unwrap();
    dec.decode_next(FrameKind::Key, &refs(&f0)).unwrap();
    let good = f1.sections[0].1.clone();
    let try_bytes = |b: &[u8]| {
        let mut d = dec.clone();
        d.decode_next(FrameKind::Delta, &[(SectionKind::Trc, b)])
    };
    // every truncation is an error
    for len in 0..good.len() {
        assert!(try_bytes(&good[..len]).is_err(), "truncated to {len}");
    }
    // trailing bytes, bad version, bad flags
    let mut b = good.clone();
    b.push(0);
    assert!(try_bytes(&b).is_err());
    let mut b = good.clone();
    b[0] = 9;
    assert!(try_bytes(&b).is_err());
    let mut b = good.clone();
    b[1] = 0xF0;
    assert!(try_bytes(&b).is_err());
    // no TRC section, or an extra one
    let mut d = dec.clone();
    assert!(d.decode_next(FrameKind::Delta, &[]).is_err());
    assert!(d
        .decode_next(
            FrameKind::Delta,
            &[(SectionKind::Trc, &good), (SectionKind::Trc, &good)]
        )
        .is_err());
    // flipped bits never panic (the container's CRC catches them in practice)
    for k in 0..48 {
        let mut b = good.clone();
        let i = (k * 7919) % b.len();
        b[i] ^= 1 << (k % 8);
        let _ = try_bytes(&b);
    }
    // the undamaged section still decodes to the encoder's prediction
    let p = try_bytes(&good).unwrap();
    assert_eq!(bits(&p), bits(&f1.prediction));
}

#[test]
fn trc_config_is_toml_serialisable() {
    let c = TrcConfig::default();
    let s = toml::to_string(&c).unwrap();
    let back: TrcConfig = toml::from_str(&s).unwrap();
    assert_eq!(c, back);
    let partial: TrcConfig = toml::from_str("max_chain = 2").unwrap();
    assert_eq!(partial.max_chain, 2);
    assert_eq!(partial.drift_limit, c.drift_limit);
}

#[test]
fn trc_missing_values_are_never_read() {
    let (frames, grid) = fixture();
    let (fic, trc) = (small_fic(), small_trc(3));
    let mut enc = TrcEncoder::new(DIMS, grid.clone(), fic.clone(), trc.clone()).unwrap();
    let mut dec = TrcDecoder::new(DIMS, grid, fic, trc).unwrap();
    for (t, x) in frames[..3].iter().enumerate() {
        // a mask that moves from frame to frame; NaN under it
        let miss: Vec<bool> = (0..x.len()).map(|i| (i + 3 * t) % 11 == 0).collect();
        let y: Vec<f32> = x
            .iter()
            .zip(&miss)
            .map(|(&v, &m)| if m { f32::NAN } else { v })
            .collect();
        let f = enc.encode_next(&y, Some(&miss), target(x)).unwrap();
        assert_eq!(
            f.kind,
            [FrameKind::Key, FrameKind::Delta, FrameKind::Delta][t]
        );
        assert!(f.stats.rmse.is_finite());
        let p = dec.decode_next(f.kind, &refs(&f)).unwrap();
        assert_eq!(bits(&p), bits(&f.prediction), "frame {t}");
        assert!(p.iter().all(|v| v.is_finite()));
    }
}
