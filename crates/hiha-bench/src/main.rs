//! `hiha-bench`: hiha's rows of the benchmark (GitHub issue 5).
//!
//! For each variable and NRMSE target it runs `hiha_core::codec::compress` and
//! `decompress` (median of `--runs` runs each), measures achieved NRMSE, PSNR,
//! RMSE, max abs error, ratio, bits/value and MB/s (float32 bytes / time), and
//! writes the same JSON schema as `scripts/bench/baselines.py`. A codec error
//! (for example the pipeline or a predictor not implemented yet) is recorded as
//! status "n/a" with its message, so the bench runs before the codec lands.
//! Each hiha-residual record also holds `preview` and `preview_all_axes`:
//! `hiha decompress --preview 2` of its archive (bytes read from the file,
//! their fraction of the archive, decode time, MB/s of the full-resolution
//! float32 field, NRMSE against the original and the full decode, both
//! subsampled the same way).
//!
//! ```text
//! hiha-bench [--targets 1e-2,1e-3,1e-4,1e-5] [--max-abs 1e-2,1e-3,1e-4] [--runs 3]
//!            [--variants residual,fic,hiha]
//!            [--raw-dir DIR] [--dump-frame DIR] [--dump-target 1e-3]
//!            --out hiha.json FILE.nc[:VAR] ...
//! ```
//!
//! `--max-abs F,...`: also (or, with `--targets ''`, only) a pointwise bound
//! `Bound::MaxAbs(F × (max − min))` over valid values, the same e as
//! `baselines.py --max-abs`; every element is checked (`abs_violations`) and the
//! record carries `target_max_abs_frac` instead of `target_nrmse`.
//!
//! Input: with the `io` feature, `hiha_io::read_variable(path, var)`. Without it
//! (or with `--raw-dir`), the raw f32 + JSON sidecar written by
//! `baselines.py --dump-raw DIR` for that file and variable.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress, PredictorKind};
use hiha_core::field::{Field, Shape};
use hiha_core::meta::{DType, DatasetMeta, Dim, VarLayout, VarMeta};
use hiha_core::metrics::Metrics;
use serde_json::{json, Map, Value};

struct Args {
    targets: Vec<f64>,
    /// Max-abs targets as fractions of each field's value range.
    max_abs: Vec<f64>,
    runs: usize,
    variants: Vec<(String, PredictorKind)>,
    raw_dir: Option<PathBuf>,
    dump_frame: Option<PathBuf>,
    dump_target: f64,
    /// A compress slower than this (seconds) is not repeated for the median.
    slow_s: f64,
    /// Once a variant has spent this long (seconds) on one field, its remaining
    /// targets there are skipped and recorded as n/a.
    budget_s: f64,
    out: PathBuf,
    inputs: Vec<(PathBuf, Option<String>)>,
}

const USAGE: &str = "usage: hiha-bench [--targets 1e-2,1e-3,1e-4,1e-5] [--runs 3] \
[--max-abs 1e-2,1e-3,1e-4] [--variants residual,fic,hiha] [--raw-dir DIR] [--dump-frame DIR] [--dump-target 1e-3] \
[--slow-s 30] [--budget-s 600] \
--out FILE.json INPUT.nc[:VAR] ...";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        targets: vec![1e-2, 1e-3, 1e-4, 1e-5],
        max_abs: vec![],
        runs: 3,
        variants: vec![
            ("hiha-residual".into(), PredictorKind::None),
            ("hiha-fic".into(), PredictorKind::Fic),
        ],
        raw_dir: None,
        dump_frame: None,
        dump_target: 1e-3,
        slow_s: 30.0,
        budget_s: 600.0,
        out: PathBuf::new(),
        inputs: vec![],
    };
    let mut it = std::env::args().skip(1);
    let mut out = None;
    while let Some(arg) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.into()),
            "--targets" => {
                a.targets = val("--targets")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<f64>().map_err(|e| format!("bad target {s}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--max-abs" => {
                a.max_abs = val("--max-abs")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<f64>()
                            .map_err(|e| format!("bad max-abs {s}: {e}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--runs" => a.runs = val("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--variants" => {
                a.variants = val("--variants")?
                    .split(',')
                    .map(|s| match s {
                        "residual" | "none" | "hiha-residual" => {
                            Ok(("hiha-residual".to_string(), PredictorKind::None))
                        }
                        "fic" | "hiha-fic" => Ok(("hiha-fic".to_string(), PredictorKind::Fic)),
                        "hiha" | "full" | "hiha-full" => {
                            Ok(("hiha-full".to_string(), PredictorKind::Hiha))
                        }
                        _ => Err(format!("unknown variant {s} (residual, fic, hiha)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--raw-dir" => a.raw_dir = Some(val("--raw-dir")?.into()),
            "--dump-frame" => a.dump_frame = Some(val("--dump-frame")?.into()),
            "--dump-target" => {
                a.dump_target = val("--dump-target")?
                    .parse()
                    .map_err(|e| format!("--dump-target: {e}"))?
            }
            "--slow-s" => {
                a.slow_s = val("--slow-s")?
                    .parse()
                    .map_err(|e| format!("--slow-s: {e}"))?
            }
            "--budget-s" => {
                a.budget_s = val("--budget-s")?
                    .parse()
                    .map_err(|e| format!("--budget-s: {e}"))?
            }
            "--out" => out = Some(PathBuf::from(val("--out")?)),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s => {
                // FILE:VAR, unless the whole string is an existing path.
                let (p, v) = match s.rsplit_once(':') {
                    Some((p, v)) if !Path::new(s).exists() && !v.is_empty() => {
                        (p, Some(v.to_string()))
                    }
                    _ => (s, None),
                };
                a.inputs.push((PathBuf::from(p), v));
            }
        }
    }
    a.out = out.ok_or_else(|| format!("--out is required\n{USAGE}"))?;
    if a.inputs.is_empty() {
        return Err(format!("no input\n{USAGE}"));
    }
    a.runs = a.runs.max(1);
    Ok(a)
}

/// One variable as the bench needs it.
struct Loaded {
    field: Field,
    meta: DatasetMeta,
    var: String,
    /// Shape and dims of the variable in the source file.
    file_shape: Vec<usize>,
    file_dims: Vec<String>,
    source: &'static str,
}

#[cfg(feature = "io")]
fn load_io(path: &Path, var: Option<&str>) -> Result<Loaded, String> {
    let lv = hiha_io::read_variable(path, var).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut meta = lv.meta;
    // The other data variables of a multi-variable file (eraint_uvz.nc: u and v
    // beside z) would travel losslessly in the archive's metadata; the baselines
    // store only the variable, so keep only coordinates (at most 1-D) here.
    meta.aux_vars.retain(|v| v.dims.len() <= 1);
    let file_dims = meta.var.layout.dims.clone();
    let file_shape = file_dims
        .iter()
        .map(|d| meta.dim(d).map_or(0, |x| x.len))
        .collect();
    Ok(Loaded {
        var: meta.var.name.clone(),
        field: lv.field,
        meta,
        file_shape,
        file_dims,
        source: "hiha_io",
    })
}

/// Reads `<stem>__<var>.f32` + `.json` written by `baselines.py --dump-raw`.
fn load_raw(dir: &Path, path: &Path, var: Option<&str>) -> Result<Loaded, String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let side = match var {
        Some(v) => dir.join(format!("{stem}__{v}.json")),
        None => {
            let prefix = format!("{stem}__");
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "json")
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect();
            if found.len() != 1 {
                return Err(format!(
                    "{}: {} raw sidecars in {}; name the variable",
                    path.display(),
                    found.len(),
                    dir.display()
                ));
            }
            found.remove(0)
        }
    };
    let text = std::fs::read_to_string(&side).map_err(|e| format!("{}: {e}", side.display()))?;
    let j: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", side.display()))?;
    let var = j["var"].as_str().ok_or("sidecar without var")?.to_string();
    let usizes = |k: &str| -> Result<Vec<usize>, String> {
        j[k].as_array()
            .ok_or(format!("sidecar without {k}"))?
            .iter()
            .map(|x| x.as_u64().map(|v| v as usize).ok_or(format!("bad {k}")))
            .collect()
    };
    let file_shape = usizes("shape")?;
    let hs = usizes("hiha_shape")?;
    let file_dims: Vec<String> = j["dims"]
        .as_array()
        .ok_or("sidecar without dims")?
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect();
    let raw = side.with_file_name(j["raw"].as_str().ok_or("sidecar without raw")?);
    let bytes = std::fs::read(&raw).map_err(|e| format!("{}: {e}", raw.display()))?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let shape = Shape::new(hs[0], hs[1], hs[2], hs[3]);
    let field = Field::new(shape, values, None).map_err(|e| format!("{}: {e}", raw.display()))?;
    let nd = file_dims.len();
    if nd < 2 {
        return Err(format!(
            "{}: variable has fewer than 2 dims",
            side.display()
        ));
    }
    let level_dim = j["level_dim"].as_str().map(str::to_string);
    let frame_dims = nd - 2 - usize::from(level_dim.is_some());
    let meta = DatasetMeta {
        dims: file_dims
            .iter()
            .zip(&file_shape)
            .map(|(n, &l)| Dim {
                name: n.clone(),
                len: l,
                unlimited: false,
            })
            .collect(),
        global_attrs: vec![],
        aux_vars: vec![],
        var: VarMeta {
            name: var.clone(),
            layout: VarLayout {
                dims: file_dims.clone(),
                frame_dims,
                level_dim,
                lat_dim: file_dims[nd - 2].clone(),
                lon_dim: file_dims[nd - 1].clone(),
            },
            dtype: DType::F32,
            attrs: vec![],
        },
    };
    Ok(Loaded {
        field,
        meta,
        var,
        file_shape,
        file_dims,
        source: "raw-sidecar",
    })
}

fn load(args: &Args, path: &Path, var: Option<&str>) -> Result<Loaded, String> {
    if let Some(dir) = &args.raw_dir {
        return load_raw(dir, path, var);
    }
    #[cfg(feature = "io")]
    {
        load_io(path, var)
    }
    #[cfg(not(feature = "io"))]
    {
        Err(format!(
            "{}: built without the `io` feature; pass --raw-dir DIR (from baselines.py --dump-raw DIR)",
            path.display()
        ))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn num(x: f64) -> Value {
    // JSON has no Infinity/NaN; the Python side reads null as "not finite".
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':').map(|x| x.1.trim().to_string()))
        })
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let loadavg: Vec<f64> = std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            s.split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    json!({"nproc": nproc, "cpu": cpu, "rayon_threads": rayon_threads(), "loadavg": loadavg})
}

fn rayon_threads() -> Value {
    std::env::var("RAYON_NUM_THREADS").map_or(Value::Null, Value::String)
}

fn bench_one(args: &Args, path: &Path, var: Option<&str>, records: &mut Vec<Value>) {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let file = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let lv = match load(args, path, var) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            for (name, _) in &args.variants {
                for (t, is_abs) in target_jobs(args) {
                    let key = if is_abs {
                        "target_max_abs_frac"
                    } else {
                        "target_nrmse"
                    };
                    records.push(json!({
                        "tool": "hiha-bench", "file": file, "path": repo_relative(path),
                        "var": var, "field": format!("{stem}/{}", var.unwrap_or("?")),
                        "compressor": name, key: t, "status": "n/a",
                        "error": format!("load: {e}"),
                    }));
                }
            }
            return;
        }
    };
    let f = &lv.field;
    let n = f.values.len();
    let (lo, hi) = f
        .value_range()
        .map_or((f64::NAN, f64::NAN), |(a, b)| (a as f64, b as f64));
    let label = format!("{stem}/{}", lv.var);
    eprintln!(
        "{label}: {:?} via {}, range {:.6}",
        f.shape,
        lv.source,
        hi - lo
    );
    let base = json!({
        "tool": "hiha-bench", "file": file, "path": repo_relative(path), "var": lv.var,
        "field": label, "shape": lv.file_shape, "dims": lv.file_dims, "n": n,
        "n_valid": f.valid_count(), "range": num(hi - lo), "min": num(lo), "max": num(hi),
        "original_bytes": n * 4,
        "shape_used": [f.shape.frames, f.shape.levels, f.shape.lat, f.shape.lon],
        "input": lv.source,
    });
    let mb = n as f64 * 4.0 / 1e6;
    for (name, pred) in &args.variants {
        let spent = Instant::now();
        for (t, is_abs) in target_jobs(args) {
            let mut rec: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
            rec.insert("compressor".into(), json!(name));
            // max-abs: e = t × (max − min) over valid values, as in baselines.py
            let abs_e = (hi - lo) * t;
            if is_abs {
                rec.insert("target_max_abs_frac".into(), json!(t));
                rec.insert("abs_bound".into(), num(abs_e));
            } else {
                rec.insert("target_nrmse".into(), json!(t));
            }
            if spent.elapsed().as_secs_f64() > args.budget_s {
                let e = format!(
                    "skipped: {name} used its {} s budget on this field",
                    args.budget_s
                );
                eprintln!("  {name:14} {t:.0e}: n/a ({e})");
                rec.insert("status".into(), json!("n/a"));
                rec.insert("error".into(), json!(e));
                records.push(Value::Object(rec));
                continue;
            }
            let bound = if is_abs {
                Bound::MaxAbs(abs_e)
            } else {
                Bound::Nrmse(t)
            };
            let mut opts = CompressOptions::new(bound);
            opts.predictor = *pred;
            rec.insert(
                "param".into(),
                if is_abs {
                    json!({"bound": "max-abs", "max_abs": abs_e, "max_abs_frac": t,
                           "predictor": format!("{pred:?}")})
                } else {
                    json!({"bound": "nrmse", "nrmse": t, "predictor": format!("{pred:?}")})
                },
            );
            let fail = |rec: &mut Map<String, Value>, stage: &str, e: String| {
                eprintln!("  {name:14} {t:.0e}: n/a ({stage}: {e})");
                rec.insert("status".into(), json!("n/a"));
                rec.insert("error".into(), json!(format!("{stage}: {e}")));
            };
            // compress, `runs` times; the archive of the first run is kept
            let mut tc = Vec::with_capacity(args.runs);
            let mut first = None;
            let mut err = None;
            for _ in 0..args.runs {
                let t0 = Instant::now();
                let r = codec::compress(f, &lv.meta, &opts, &NoProgress);
                let dt = t0.elapsed().as_secs_f64();
                tc.push(dt);
                match r {
                    Ok(x) => {
                        if first.is_none() {
                            first = Some(x);
                        }
                        if dt > args.slow_s {
                            break;
                        }
                    }
                    Err(e) => {
                        err = Some(e.to_string());
                        break;
                    }
                }
            }
            let (bytes, report) = match (err, first) {
                (Some(e), _) => {
                    fail(&mut rec, "compress", e);
                    records.push(Value::Object(rec));
                    continue;
                }
                (None, Some(x)) => x,
                (None, None) => unreachable!("runs >= 1"),
            };
            let mut td = Vec::with_capacity(args.runs);
            let mut recon = None;
            let mut derr = None;
            for _ in 0..args.runs {
                let t0 = Instant::now();
                let r = codec::decompress(&bytes, None);
                td.push(t0.elapsed().as_secs_f64());
                match r {
                    Ok((g, _)) => {
                        if recon.is_none() {
                            recon = Some(g);
                        }
                    }
                    Err(e) => {
                        derr = Some(e.to_string());
                        break;
                    }
                }
            }
            let g = match (derr, recon) {
                (Some(e), _) => {
                    fail(&mut rec, "decompress", e);
                    rec.insert("compressed_bytes".into(), json!(bytes.len()));
                    records.push(Value::Object(rec));
                    continue;
                }
                (None, Some(g)) => g,
                (None, None) => unreachable!("runs >= 1"),
            };
            let m = match Metrics::compute(&f.values, &g.values, f.missing.as_deref()) {
                Ok(m) if g.shape == f.shape => m,
                Ok(_) => {
                    fail(
                        &mut rec,
                        "metrics",
                        format!("shape {:?} came back as {:?}", f.shape, g.shape),
                    );
                    records.push(Value::Object(rec));
                    continue;
                }
                Err(e) => {
                    fail(&mut rec, "metrics", e.to_string());
                    records.push(Value::Object(rec));
                    continue;
                }
            };
            let n_runs = tc.len();
            let (c_s, d_s) = (median(tc), median(td));
            let cb = bytes.len();
            let ok = if is_abs {
                // every valid element, in f64: |x − x̂| ≤ e (a NaN where the source
                // has a number counts as a violation)
                let viol = f
                    .values
                    .iter()
                    .zip(&g.values)
                    .enumerate()
                    .filter(|&(i, (&x, &y))| {
                        let d = (x as f64 - y as f64).abs();
                        let skip = f.missing.as_ref().is_some_and(|mk| mk[i])
                            || (x.is_nan() && y.is_nan());
                        !skip && (d.is_nan() || d > abs_e)
                    })
                    .count();
                rec.insert("abs_violations".into(), json!(viol));
                rec.insert("abs_bound_ok".into(), json!(viol == 0));
                rec.insert("max_abs_over_bound".into(), num(m.max_abs / abs_e));
                viol == 0
            } else {
                m.nrmse <= t
            };
            rec.insert(
                "status".into(),
                json!(if ok { "ok" } else { "bound-violated" }),
            );
            rec.insert("compressed_bytes".into(), json!(cb));
            rec.insert("ratio".into(), num(n as f64 * 4.0 / cb.max(1) as f64));
            rec.insert("bits_per_value".into(), num(8.0 * cb as f64 / n as f64));
            rec.insert("nrmse".into(), num(m.nrmse));
            rec.insert("psnr".into(), num(m.psnr));
            rec.insert("rmse".into(), num(m.rmse));
            rec.insert("max_abs_error".into(), num(m.max_abs));
            rec.insert("compress_s".into(), num(c_s));
            rec.insert("decompress_s".into(), num(d_s));
            rec.insert("runs".into(), json!(n_runs));
            rec.insert("compress_mbps".into(), num(mb / c_s));
            rec.insert("decompress_mbps".into(), num(mb / d_s));
            rec.insert("report_ratio".into(), num(report.ratio()));
            rec.insert(
                "section_bytes".into(),
                Value::Object(
                    report
                        .section_bytes
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect(),
                ),
            );
            eprintln!(
                "  {name:14} {}{t:.0e}: ratio {:8.2} ({:.2} b/v) nrmse {:.3e} max err {:.3e}{} c {:.1} MB/s d {:.1} MB/s",
                if is_abs { "max-abs " } else { "" },
                n as f64 * 4.0 / cb.max(1) as f64,
                8.0 * cb as f64 / n as f64,
                m.nrmse,
                m.max_abs,
                if ok { "" } else { " BOUND VIOLATED" },
                mb / c_s,
                mb / d_s
            );
            if *pred == PredictorKind::None && !is_abs {
                for (key, vertical) in [("preview", true), ("preview_all_axes", false)] {
                    match preview(args.runs, &bytes, f, &g, PREVIEW_LEVEL, vertical, hi - lo) {
                        Ok(p) => {
                            if vertical {
                                eprintln!(
                                    "  {:14} K={PREVIEW_LEVEL}: read {:.1} % of the archive, {:.1} MB/s, \
                                     nrmse {:.3e} vs the original, {:.3e} vs the full decode",
                                    "preview",
                                    100.0 * p["bytes_read_fraction"].as_f64().unwrap_or(f64::NAN),
                                    p["mbps"].as_f64().unwrap_or(f64::NAN),
                                    p["nrmse"].as_f64().unwrap_or(f64::NAN),
                                    p["nrmse_vs_full_decode"].as_f64().unwrap_or(f64::NAN),
                                );
                            }
                            rec.insert(key.into(), p);
                        }
                        Err(e) => {
                            eprintln!("  {key}: n/a ({e})");
                            rec.insert(key.into(), json!({"status": "n/a", "error": e}));
                        }
                    }
                }
            }
            if let Some(dir) = &args.dump_frame {
                if !is_abs && (t - args.dump_target).abs() <= 1e-12 * t.max(args.dump_target) {
                    if let Err(e) = dump_frame(dir, &stem, &lv.var, name, t, &g) {
                        eprintln!("  dump-frame: {e}");
                    } else {
                        rec.insert(
                            "frame_dump".into(),
                            json!(format!("{stem}__{}__{name}__{t:e}.f32", lv.var)),
                        );
                    }
                }
            }
            records.push(Value::Object(rec));
        }
    }
}

/// The preview level the bench measures (`hiha decompress --preview 2`).
const PREVIEW_LEVEL: u32 = 2;

/// A coarse preview of `archive` (written to a temporary file, since a
/// preview reads part of a file), `runs` times: bytes read (header and
/// index included) against the archive's size, the median time, MB/s of
/// the **full-resolution float32 field** per second, and the NRMSE (RMSE
/// over the full field's range `range`) against the original and against
/// the full decode `full`, both subsampled the same way.
fn preview(
    runs: usize,
    archive: &[u8],
    orig: &Field,
    full: &Field,
    level: u32,
    vertical: bool,
    range: f64,
) -> Result<Value, String> {
    use hiha_core::codec::preview::{self, PreviewOptions};
    let s = orig.shape;
    preview::check_preview_level(level, &s).map_err(|e| e.to_string())?;
    let path = std::env::temp_dir().join(format!(
        "hiha-bench-preview-{}-{}.hiha",
        std::process::id(),
        archive.len()
    ));
    std::fs::write(&path, archive).map_err(|e| e.to_string())?;
    let opts = PreviewOptions {
        vertical,
        ..PreviewOptions::new(level)
    };
    let mut times = Vec::with_capacity(runs);
    let mut out = None;
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let r = hiha_core::format::ArchiveFile::open(&path).and_then(|file| {
            let (field, _, stats) = preview::preview_variable(&file, 0, &opts)?;
            Ok((field, stats, file.bytes_read()))
        });
        times.push(t0.elapsed().as_secs_f64());
        match r {
            Ok(x) => out = Some(x),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e.to_string());
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    let (field, stats, read) = out.ok_or("no run")?;
    let step = 1usize << level;
    let outer = s.frames * s.levels;
    let sub = |v: &[f32]| preview::subsample(v, outer, s.lat, s.lon, step);
    let mask = orig
        .missing
        .as_deref()
        .map(|m| preview::subsample(m, outer, s.lat, s.lon, step));
    let vs_orig = Metrics::compute(&sub(&orig.values), &field.values, mask.as_deref())
        .map_err(|e| e.to_string())?;
    let vs_full = Metrics::compute(&sub(&full.values), &field.values, mask.as_deref())
        .map_err(|e| e.to_string())?;
    let t = median(times);
    let mb = orig.values.len() as f64 * 4.0 / 1e6;
    Ok(json!({
        "status": "ok",
        "level": level,
        "all_axes": !vertical,
        "shape": [field.shape.frames, field.shape.levels, field.shape.lat, field.shape.lon],
        "bytes_read": read,
        "archive_bytes": archive.len(),
        "bytes_read_fraction": num(read as f64 / archive.len().max(1) as f64),
        "partial_chunks": stats.partial_chunks,
        "whole_chunks": stats.whole_chunks,
        "decode_s": num(t),
        "mbps": num(mb / t),
        "mbps_of": "MB of the full-resolution float32 field per second",
        "nrmse": num(vs_orig.rmse / range),
        "max_abs_error": num(vs_orig.max_abs),
        "nrmse_vs_full_decode": num(vs_full.rmse / range),
    }))
}

/// The targets of one variant: the NRMSE targets (`false`), then the max-abs
/// fractions of the range (`true`).
fn target_jobs(args: &Args) -> Vec<(f64, bool)> {
    args.targets
        .iter()
        .map(|&t| (t, false))
        .chain(args.max_abs.iter().map(|&t| (t, true)))
        .collect()
}

/// Writes frame 0 (levels × lat × lon) of the reconstruction as raw little-endian f32.
fn dump_frame(
    dir: &Path,
    stem: &str,
    var: &str,
    name: &str,
    t: f64,
    g: &Field,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let fr = g.frame(0);
    let mut buf = Vec::with_capacity(fr.len() * 4);
    for v in fr {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    let base = format!("{stem}__{var}__{name}__{t:e}");
    std::fs::write(dir.join(format!("{base}.f32")), buf)?;
    let side = json!({"frame": 0, "frame_shape": [g.shape.levels, g.shape.lat, g.shape.lon],
                      "field_shape": [g.shape.frames, g.shape.levels, g.shape.lat, g.shape.lon]});
    std::fs::write(dir.join(format!("{base}.json")), side.to_string())
}

fn main() {
    // As the hiha CLI does, so that the bench times what users run.
    hiha_malloc::tune();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let t0 = Instant::now();
    let mut records = Vec::new();
    for (p, v) in &args.inputs {
        bench_one(&args, p, v.as_deref(), &mut records);
    }
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let out = json!({
        "tool": "hiha-bench", "date": date, "machine": machine(),
        "versions": {"hiha": env!("CARGO_PKG_VERSION"), "io_feature": cfg!(feature = "io"),
                     "revision": std::env::var("HIHA_BENCH_REVISION").ok()},
        "targets": args.targets, "max_abs_targets": args.max_abs, "runs": args.runs, "elapsed_s": t0.elapsed().as_secs_f64(),
        "records": records,
    });
    if let Some(dir) = args.out.parent() {
        if !dir.as_os_str().is_empty() {
            let _ = std::fs::create_dir_all(dir);
        }
    }
    let text = match serde_json::to_string_pretty(&out) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("serialising results: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(&args.out, text) {
        eprintln!("{}: {e}", args.out.display());
        std::process::exit(1);
    }
    eprintln!("wrote {} records to {}", records.len(), args.out.display());
}

/// `path` as the records keep it: relative to the repository root (the
/// bench runs there) when it lies beside it, so that no machine path is
/// committed; otherwise as given.
fn repo_relative(path: &std::path::Path) -> String {
    let parent = std::env::current_dir()
        .ok()
        .and_then(|c| c.parent().map(std::path::Path::to_path_buf));
    match parent.and_then(|p| path.strip_prefix(&p).ok().map(|r| r.to_path_buf())) {
        Some(rest) => std::path::Path::new("..").join(rest).display().to_string(),
        None => path.display().to_string(),
    }
}
