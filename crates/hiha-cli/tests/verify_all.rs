//! The bound on every shared real file, every variable, every mode.
//!
//! Ignored by default (it takes minutes); `scripts/verify_all.sh` runs it in
//! release mode. The data directory is `$HIHA_DATA`, or `../shared/data`
//! next to the repository.

use std::path::{Path, PathBuf};

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::metrics::Metrics;

fn data_dir() -> Option<PathBuf> {
    let d = std::env::var_os("HIHA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    d.is_dir().then_some(d)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nc"))
        .collect();
    let native = dir.join("native/eraint_uvz.nc");
    if native.is_file() {
        v.push(native);
    }
    v.sort();
    v
}

#[test]
#[ignore = "minutes on all shared data; run scripts/verify_all.sh"]
fn every_shared_file_meets_every_mode() {
    // A missing data directory is a failure, never a silent pass.
    let dir = data_dir().expect("no shared data directory: set HIHA_DATA");
    let mut checked = 0;
    for path in files(&dir) {
        let vars: Vec<String> = hiha_io::list_variables(&path)
            .expect("lists variables")
            .into_iter()
            .filter(|v| v.is_data)
            .map(|v| v.name)
            .collect();
        for var in vars {
            let lv = hiha_io::read_variable(&path, Some(&var)).expect("reads");
            let (lo, hi) = lv.field.value_range().expect("values");
            let range = (hi - lo) as f64;
            let mut bounds: Vec<Bound> = [1e-2, 1e-3, 1e-4, 1e-5]
                .into_iter()
                .map(Bound::Nrmse)
                .collect();
            bounds.push(Bound::MaxAbs(1e-2 * range));
            bounds.push(Bound::MaxAbs(1e-4 * range));
            bounds.push(Bound::MaxRel(1e-3));
            bounds.push(Bound::NrmseLevel(1e-3));
            bounds.push(Bound::MaxRelLevel(1e-3));
            bounds.push(Bound::PwRel(1e-2));
            // (bound, keep-zeros): every mode above as is, then keep-zeros
            // with three of them, and the spread bound on an ensemble.
            let mut modes: Vec<(Bound, bool)> = bounds.into_iter().map(|b| (b, false)).collect();
            for b in [
                Bound::Nrmse(1e-3),
                Bound::MaxAbs(1e-3 * range),
                Bound::NrmseLevel(1e-3),
            ] {
                modes.push((b, true));
            }
            let ensemble =
                hiha_core::fidelity::Ensemble::from_meta(&lv.meta, lv.field.shape.frames);
            if ensemble.is_some() {
                modes.push((Bound::Spread(1.0), false));
                modes.push((Bound::Spread(0.1), false));
                modes.push((Bound::Spread(1.0), true));
            }
            for (b, keep_zeros) in modes {
                let t = std::time::Instant::now();
                let mut opts = CompressOptions::new(b);
                opts.keep_zeros = keep_zeros.then_some(true);
                let (bytes, rep) = codec::compress(&lv.field, &lv.meta, &opts, &NoProgress)
                    .unwrap_or_else(|e| panic!("{} {var} {b}: {e}", path.display()));
                let (back, _) = codec::decompress(&bytes, None).expect("decodes");
                let m =
                    Metrics::compute(&lv.field.values, &back.values, lv.field.missing.as_deref())
                        .expect("comparable");
                b.check(&m)
                    .unwrap_or_else(|e| panic!("{} {var}: {e}", path.display()));
                assert_eq!(back.missing, lv.field.missing);
                check_levels(&lv.field, &back.values, b)
                    .unwrap_or_else(|e| panic!("{} {var} {b}: {e}", path.display()));
                if keep_zeros {
                    check_zeros_and_signs(&lv.field, &back.values)
                        .unwrap_or_else(|e| panic!("{} {var} {b} keep-zeros: {e}", path.display()));
                }
                if let (Bound::Spread(f), Some(e)) = (b, ensemble) {
                    check_spread(&lv.field, &back.values, e, f)
                        .unwrap_or_else(|e| panic!("{} {var} {b}: {e}", path.display()));
                }
                println!(
                    "{:<60} {var:>4} {:<28} ratio {:>8.2} NRMSE {:.3e} max {:.3e} ({:.2}s)",
                    path.file_name().and_then(|f| f.to_str()).unwrap_or("?"),
                    if keep_zeros {
                        format!("{b}, keep-zeros")
                    } else {
                        b.to_string()
                    },
                    rep.ratio(),
                    m.nrmse,
                    m.max_abs,
                    t.elapsed().as_secs_f64()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no files checked in {}", dir.display());
}

/// keep-zeros, on every element: each zero comes back exactly zero and no
/// value changes sign.
fn check_zeros_and_signs(field: &hiha_core::field::Field, back: &[f32]) -> Result<(), String> {
    for (i, (&x, &y)) in field.values.iter().zip(back).enumerate() {
        if field.is_missing(i) {
            continue;
        }
        if (x == 0.0 && y != 0.0) || (x as f64) * (y as f64) < 0.0 {
            return Err(format!("element {i}: {x} -> {y}"));
        }
    }
    Ok(())
}

/// spread:F, on every element: |x − x̂| ≤ F × the members' standard
/// deviation (n − 1) at its point, computed here on its own; exact where
/// the spread is 0.
fn check_spread(
    field: &hiha_core::field::Field,
    back: &[f32],
    e: hiha_core::fidelity::Ensemble,
    f: f64,
) -> Result<(), String> {
    let flen = field.shape.frame_len();
    let group = e.members * e.stride;
    for outer in 0..field.shape.frames / group {
        for inner in 0..e.stride {
            for p in 0..flen {
                let idx: Vec<usize> = (0..e.members)
                    .map(|m| ((outer * e.members + m) * e.stride + inner) * flen + p)
                    .filter(|&i| !field.is_missing(i))
                    .collect();
                let xs: Vec<f64> = idx.iter().map(|&i| field.values[i] as f64).collect();
                let s = if xs.len() >= 2 {
                    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
                    let ss: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
                    (ss / (xs.len() - 1) as f64).sqrt()
                } else {
                    0.0
                };
                for &i in &idx {
                    let err = (field.values[i] as f64 - back[i] as f64).abs();
                    if err > f * s {
                        return Err(format!(
                            "element {i}: error {err:e} above {f} x spread {s:e}"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Issue 13, checked on every element, independently of the codec: each
/// level's reconstruction stays inside that level's [min, max] (within
/// 2^-7 of its ends for the plain bounds, whose ranges the archive rounds
/// outwards to 16-bit floats; so a non-negative level stays non-negative),
/// and a per-level bound holds on every level against its own range.
fn check_levels(field: &hiha_core::field::Field, back: &[f32], b: Bound) -> Result<(), String> {
    let s = field.shape;
    let plane = s.lat * s.lon;
    for l in 0..s.levels {
        let idx: Vec<usize> = (0..s.frames)
            .flat_map(|f| {
                let start = (f * s.levels + l) * plane;
                start..start + plane
            })
            .filter(|&i| !field.is_missing(i))
            .collect();
        if idx.is_empty() {
            continue;
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut sse, mut max) = (0.0f64, 0.0f64);
        for &i in &idx {
            let (x, y) = (field.values[i] as f64, back[i] as f64);
            lo = lo.min(x);
            hi = hi.max(x);
            sse += (x - y) * (x - y);
            max = max.max((x - y).abs());
        }
        // The archive stores each level's range with its ends rounded
        // outwards to 16-bit floats (format 2.4), within 2^-7 of their
        // magnitude; exact for per-level bounds. Never across zero.
        let (lo, hi) = if b.is_per_level() {
            (lo, hi)
        } else {
            (lo - lo.abs() / 128.0, hi + hi.abs() / 128.0)
        };
        for &i in &idx {
            let y = back[i] as f64;
            if y < lo || y > hi {
                return Err(format!("level {l}: {y} outside the level's [{lo}, {hi}]"));
            }
        }
        let rmse = (sse / idx.len() as f64).sqrt();
        if let Bound::PwRel(r) = b {
            for &i in &idx {
                let (x, y) = (field.values[i] as f64, back[i] as f64);
                if (x - y).abs() > r * x.abs() || x * y < 0.0 {
                    return Err(format!("element {i}: {x} -> {y} breaks pw-rel {r:e}"));
                }
            }
        }
        let ok = match b {
            Bound::NrmseLevel(t) => rmse <= t * (hi - lo),
            Bound::MaxRelLevel(r) => max <= r * (hi - lo),
            _ => true,
        };
        if !ok {
            return Err(format!(
                "level {l}: RMSE {rmse:.3e}, max {max:.3e}, level range {:.3e}",
                hi - lo
            ));
        }
    }
    Ok(())
}
