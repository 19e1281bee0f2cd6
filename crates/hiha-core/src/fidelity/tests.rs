use super::*;
use crate::field::Shape;

/// A smooth temperature-like field: a zonal mean falling towards the
/// poles, a few planetary waves, and a level offset.
fn smooth(frames: usize, levels: usize, nlat: usize, nlon: usize) -> (Field, Vec<f64>, Vec<f64>) {
    let lat: Vec<f64> = (0..nlat)
        .map(|r| 90.0 - 180.0 * r as f64 / (nlat.max(2) - 1) as f64)
        .collect();
    let lon: Vec<f64> = (0..nlon).map(|j| 360.0 * j as f64 / nlon as f64).collect();
    let mut v = Vec::new();
    for f in 0..frames {
        for l in 0..levels {
            for &la in &lat {
                for &lo in &lon {
                    let (p, q) = (la.to_radians(), lo.to_radians());
                    v.push(
                        (220.0
                            + 10.0 * l as f64
                            + 40.0 * p.cos().powi(2)
                            + 5.0 * (2.0 * q + 0.3 * f as f64).sin() * p.cos()
                            + 3.0 * (3.0 * q).cos() * (2.0 * p).sin()
                            + 1.0 * (5.0 * q).sin() * p.cos()
                            + 4.0 * (q - 0.1 * l as f64).cos() * p.cos())
                            as f32,
                    );
                }
            }
        }
    }
    let f = Field::new(Shape::new(frames, levels, nlat, nlon), v, None).expect("field");
    (f, lat, lon)
}

/// Seeded Gaussian noise (xorshift64* + Box–Muller).
struct Noise(u64);
impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (a, b) = (self.uniform(), self.uniform());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}

fn run(f: &Field, recon: &[f32], lat: &[f64], lon: &[f64], opts: Options) -> Fidelity {
    report(
        &Input {
            field: f,
            recon,
            lat,
            lon,
        },
        &opts,
    )
    .expect("report")
}

fn no_nan(r: &impl std::fmt::Debug) {
    let s = format!("{r:?}");
    assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
}

#[test]
fn identical_inputs_are_perfect() {
    let (f, lat, lon) = smooth(2, 3, 37, 72);
    let opts = Options {
        geopotential_factor: Some(1.0),
        ensemble: Some(Ensemble {
            members: 2,
            stride: 1,
        }),
    };
    let r = run(&f, &f.values, &lat, &lon, opts);
    assert_eq!(r.n, f.values.len());
    assert_eq!(r.bias, Some(0.0));
    assert_eq!(r.r2, Some(1.0));
    assert_eq!(r.signs, SignChanges::default());
    for l in &r.levels {
        assert_eq!(
            (l.rmse, l.max_abs, l.nrmse, l.median_rel),
            (0.0, 0.0, Some(0.0), Some(0.0))
        );
    }
    let d = r.dssim.expect("dssim");
    assert_eq!((d.dssim, d.slices, d.skipped), (0.0, 6, 0));
    let s = r.spectra.expect("spectra");
    assert_eq!(s.bands.len(), 6); // 1, 2-3, 4-7, 8-15, 16-31, 32-36
    assert_eq!((s.bands[5].k_lo, s.bands[5].k_hi), (32, 36));
    for b in &s.bands {
        assert_eq!((b.ratio, b.error_ratio), (Some(1.0), Some(0.0)));
    }
    assert!(s.ratio_per_k.iter().all(|&q| q == Some(1.0)));
    // No error: no structure to correlate.
    assert_eq!(r.autocorrelation, Autocorrelation::default());
    let g = r.geostrophic_wind.expect("geostrophic");
    assert_eq!(g.rmse, 0.0);
    assert!(g.reference_rms > 0.0);
    let e = r.spread_ratio.expect("spread");
    assert_eq!((e.median, e.p99), (0.0, 0.0));
}

#[test]
fn gaussian_noise_gives_its_bias_rmse_and_a_white_spectrum() {
    let (f, lat, lon) = smooth(2, 3, 37, 72);
    let (mu, sigma) = (0.2, 0.5);
    let mut g = Noise(0x9E37_79B9_7F4A_7C15);
    let recon: Vec<f32> = f
        .values
        .iter()
        .map(|&x| (x as f64 + mu + sigma * g.gauss()) as f32)
        .collect();
    let r = run(&f, &recon, &lat, &lon, Options::default());
    let n = r.n as f64;
    let bias = r.bias.expect("bias");
    assert!((bias - mu).abs() < 4.0 * sigma / n.sqrt(), "bias {bias}");
    let rmse = (r
        .levels
        .iter()
        .map(|l| l.rmse * l.rmse * l.n as f64)
        .sum::<f64>()
        / n)
        .sqrt();
    let want = (mu * mu + sigma * sigma).sqrt();
    assert!((rmse / want - 1.0).abs() < 0.02, "rmse {rmse} want {want}");
    for l in &r.levels {
        assert!((l.max_abs - 4.0 * sigma).abs() < 2.0 * sigma, "{l:?}");
        let m = l.median_rel.expect("median");
        assert!(m > 0.0 && m < 0.01, "{m}");
    }
    let r2 = r.r2.expect("r2");
    assert!(r2 > 0.99 && r2 < 1.0, "{r2}");
    let a = r.autocorrelation;
    assert!(a.lon.expect("lon").abs() < 0.05, "{a:?}");
    assert!(a.lat.expect("lat").abs() < 0.05, "{a:?}");
    let s = r.spectra.clone().expect("spectra");
    let low = s.bands[0].ratio.expect("k=1");
    assert!((low - 1.0).abs() < 0.01, "k=1 ratio {low}");
    let high = s.bands.last().and_then(|b| b.ratio).expect("high");
    assert!(high > 10.0, "high-k ratio {high}");
    // The error spectrum is flat: white noise has N σ² per wavenumber.
    let per_k = 72.0 * sigma * sigma;
    let last = s.bands.last().expect("band");
    let e = last.error_ratio.expect("error") * last.original_power;
    assert!(
        (e / per_k - 1.0).abs() < 0.15,
        "error power {e} want {per_k}"
    );
    let d = r.dssim.expect("dssim").dssim;
    assert!(d > 0.0 && d < 0.1, "{d}");
    assert_eq!(r.signs.flipped, 0.0);
    no_nan(&r);
}

#[test]
fn smooth_error_is_autocorrelated() {
    let (f, lat, lon) = smooth(1, 2, 37, 72);
    let recon: Vec<f32> = f
        .values
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let (r, j) = ((i / 72) % 37, i % 72);
            let (p, q) = (lat[r].to_radians(), lon[j].to_radians());
            (x as f64 + 0.5 * q.sin() * p.cos() + 0.3 * (2.0 * p).sin()) as f32
        })
        .collect();
    let r = run(&f, &recon, &lat, &lon, Options::default());
    let a = r.autocorrelation;
    assert!(a.lon.expect("lon") > 0.9, "{a:?}");
    assert!(a.lat.expect("lat") > 0.9, "{a:?}");
    // A large-scale error shows at low wavenumbers, not at high ones.
    let s = r.spectra.expect("spectra");
    let power = |b: &SpectralBand| b.error_ratio.expect("ratio") * b.original_power;
    let last = s.bands.last().expect("band");
    assert!(power(&s.bands[0]) > 1e6 * power(last), "{s:?}");
}

#[test]
fn signs_and_constant_and_odd_shapes() {
    // Sign changes: x = [1, -1, 0, 2, 0], x̂ = [-1, -1, 0, 0, 3].
    let f =
        Field::new(Shape::new(1, 1, 1, 5), vec![1.0, -1.0, 0.0, 2.0, 0.0], None).expect("field");
    let r = run(
        &f,
        &[-1.0, -1.0, 0.0, 0.0, 3.0],
        &[45.0],
        &[0.0, 1.0, 2.0, 3.0, 4.0],
        Options::default(),
    );
    assert_eq!(r.signs.flipped, 0.2);
    assert_eq!(r.signs.to_zero, 0.2);
    assert_eq!(r.signs.from_zero, 0.2);
    assert_eq!(r.signs.new_negative, 0.2);
    // |e|/|x| over x ≠ 0: 2, 0, 1 → median 1.
    assert_eq!(r.levels[0].median_rel, Some(1.0));
    no_nan(&r);

    // Constant field: exact is perfect, inexact is None, never NaN.
    let c = Field::new(Shape::new(1, 1, 4, 8), vec![5.0; 32], None).expect("field");
    let lat = [30.0, 20.0, 10.0, 0.0];
    let lon: Vec<f64> = (0..8).map(|j| 45.0 * j as f64).collect();
    let same = run(&c, &c.values, &lat, &lon, Options::default());
    assert_eq!((same.r2, same.levels[0].nrmse), (Some(1.0), Some(0.0)));
    assert!(same.dssim.is_none());
    no_nan(&same);
    let off = run(&c, &[5.5; 32], &lat, &lon, Options::default());
    assert_eq!((off.r2, off.levels[0].nrmse), (None, None));
    assert_eq!(off.bias, Some(0.5));
    no_nan(&off);

    // One longitude, one latitude, all missing: no panic, no NaN.
    let (f1, lat1, lon1) = smooth(2, 1, 10, 1);
    let opts = Options {
        geopotential_factor: Some(super::dynamics::G0),
        ensemble: Some(Ensemble {
            members: 2,
            stride: 1,
        }),
    };
    let r1 = run(&f1, &f1.values, &lat1, &lon1, opts);
    assert!(r1.spectra.is_none() && r1.geostrophic_wind.is_none());
    assert_eq!(r1.dssim.expect("dssim").window, [7, 1]);
    no_nan(&r1);
    let (f2, lat2, lon2) = smooth(1, 1, 1, 16);
    no_nan(&run(&f2, &f2.values, &lat2, &lon2, opts_no_ens(opts)));
    let m = Field::new(
        Shape::new(1, 1, 2, 2),
        vec![f32::NAN; 4],
        Some(vec![true; 4]),
    )
    .expect("field");
    let rm = run(&m, &[0.0; 4], &[1.0, 2.0], &[0.0, 1.0], opts_no_ens(opts));
    assert_eq!((rm.n, rm.bias, rm.r2), (0, None, None));
    assert!(rm.spectra.is_none() && rm.dssim.is_none() && rm.levels[0].nrmse.is_none());
    no_nan(&rm);
}

fn opts_no_ens(o: Options) -> Options {
    Options {
        ensemble: None,
        ..o
    }
}

#[test]
fn sizes_are_checked() {
    let (f, lat, lon) = smooth(1, 1, 5, 8);
    let inp = |recon: &'static [f32], lat: &[f64], lon: &[f64]| {
        report(
            &Input {
                field: &f,
                recon,
                lat,
                lon,
            },
            &Options::default(),
        )
        .is_err()
    };
    assert!(inp(&[0.0; 3], &lat, &lon));
    let ok: &'static [f32] = Box::leak(f.values.clone().into_boxed_slice());
    assert!(inp(ok, &lat[..4], &lon));
    assert!(!inp(ok, &lat, &lon));
    let bad = run_err(&f, &lat, &lon);
    assert!(bad);
    // Members that do not divide the frames.
    let e = report(
        &Input {
            field: &f,
            recon: &f.values,
            lat: &lat,
            lon: &lon,
        },
        &Options {
            geopotential_factor: None,
            ensemble: Some(Ensemble {
                members: 3,
                stride: 1,
            }),
        },
    );
    assert!(e.is_err());
}

fn run_err(f: &Field, lat: &[f64], lon: &[f64]) -> bool {
    let mut recon = f.values.clone();
    recon[3] = f32::INFINITY;
    report(
        &Input {
            field: f,
            recon: &recon,
            lat,
            lon,
        },
        &Options::default(),
    )
    .is_err()
}

#[test]
fn geostrophic_wind_of_a_zonal_error_matches_the_formula() {
    // Φ' = A sin φ: v_g = 0, u_g = −A cos φ / (a · 2Ω sin φ).
    let (f, lat, lon) = smooth(1, 1, 73, 144);
    let amp = 100.0;
    let recon: Vec<f32> = (0..f.values.len())
        .map(|i| (f.values[i] as f64 + amp * lat[i / 144].to_radians().sin()) as f32)
        .collect();
    let opts = Options {
        geopotential_factor: Some(1.0),
        ensemble: None,
    };
    let r = run(&f, &recon, &lat, &lon, opts);
    let g = r.geostrophic_wind.expect("wind");
    let (mut s, mut n) = (0.0, 0usize);
    for &la in &lat[1..72] {
        if la.abs() < 10.0 || 90.0 - la.abs() < 0.1 {
            continue;
        }
        let p = la.to_radians();
        let u = amp * p.cos() / (6_371_000.0 * 2.0 * 7.292_115e-5 * p.sin());
        s += u * u * 144.0;
        n += 144;
    }
    let want = (s / n as f64).sqrt();
    assert_eq!(g.n, n);
    // f32 rounding of a 100 m² s⁻² signal on a ~250 field adds a little.
    assert!((g.rmse / want - 1.0).abs() < 0.05, "{} vs {want}", g.rmse);
}

#[test]
fn solid_body_rotation_has_the_known_vorticity_and_no_divergence() {
    let (zero, lat, lon) = {
        let (f, lat, lon) = smooth(1, 2, 73, 144);
        let z = Field::new(f.shape, vec![0.0; f.values.len()], None).expect("field");
        (z, lat, lon)
    };
    let u0 = 10.0;
    let u: Vec<f32> = (0..zero.values.len())
        .map(|i| (u0 * lat[(i / 144) % 73].to_radians().cos()) as f32)
        .collect();
    let v = vec![0.0f32; u.len()];
    let w = wind_error(
        &Input {
            field: &zero,
            recon: &u,
            lat: &lat,
            lon: &lon,
        },
        &Input {
            field: &zero,
            recon: &v,
            lat: &lat,
            lon: &lon,
        },
    )
    .expect("ok")
    .expect("points");
    let (mut s, mut n) = (0.0, 0usize);
    for &la in &lat[1..72] {
        let z = 2.0 * u0 * la.to_radians().sin() / 6_371_000.0;
        s += z * z * 144.0 * 2.0;
        n += 144 * 2;
    }
    let want = (s / n as f64).sqrt();
    assert_eq!(w.vorticity.n, n);
    assert!((w.vorticity.rmse / want - 1.0).abs() < 1e-3, "{w:?} {want}");
    assert!(w.divergence.rmse < 1e-9 * want.max(1e-12) + 1e-12, "{w:?}");
    assert_eq!(w.vorticity.reference_rms, 0.0);
}

#[test]
fn spread_ratio_against_known_members() {
    // 4 members x = base + m (sample std √(5/3)), error 0.1·std everywhere.
    let (base, lat, lon) = smooth(1, 1, 5, 8);
    let sd = (5.0f64 / 3.0).sqrt();
    let mut x = Vec::new();
    for m in 0..4 {
        x.extend(base.values.iter().map(|&v| v + m as f32));
    }
    let f = Field::new(Shape::new(4, 1, 5, 8), x, None).expect("field");
    let recon: Vec<f32> = f
        .values
        .iter()
        .map(|&v| (v as f64 + 0.1 * sd) as f32)
        .collect();
    let r = run(
        &f,
        &recon,
        &lat,
        &lon,
        Options {
            geopotential_factor: None,
            ensemble: Some(Ensemble {
                members: 4,
                stride: 1,
            }),
        },
    );
    let e = r.spread_ratio.expect("ratio");
    assert_eq!((e.n, e.zero_spread), (160, 0));
    assert!(
        (e.median - 0.1).abs() < 1e-3 && (e.p99 - 0.1).abs() < 1e-3,
        "{e:?}"
    );
}

#[test]
fn quantiles_are_nearest_rank() {
    let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0];
    assert_eq!(quantile(&mut v, 0.5), Some(3.0));
    assert_eq!(quantile(&mut v, 0.99), Some(5.0));
    assert_eq!(quantile(&mut v, 0.0), Some(1.0));
    assert_eq!(quantile(&mut [], 0.5), None);
}
