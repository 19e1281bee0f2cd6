//! `hiha compare --json --plots` on known fields: the bundled GFS
//! temperature against itself and with a seeded Gaussian noise added, and
//! the ERA5 ensemble (error ÷ spread).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{repo, s};

fn gfs() -> PathBuf {
    repo().join("data/samples/gfs_t_pl26_2p5deg_global_2011101100_f072.nc")
}

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

fn json(args: &[&str]) -> Value {
    let o = hiha(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("stdout is one JSON object")
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
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

#[test]
fn identical_files_are_perfect_in_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let plots = dir.path().join("plots");
    let v = json(&[
        "compare",
        s(&gfs()),
        s(&gfs()),
        "--json",
        "--plots",
        s(&plots),
    ]);
    let var = &v["variables"][0];
    assert_eq!(var["name"], "t");
    assert_eq!(num(&var["metrics"]["rmse"]), 0.0);
    let f = &var["fidelity"];
    for key in [
        "n",
        "levels",
        "bias",
        "r2",
        "signs",
        "autocorrelation",
        "spectra",
        "dssim",
        "geostrophic_wind",
        "spread_ratio",
    ] {
        assert!(f.get(key).is_some(), "missing key {key}: {f}");
    }
    assert_eq!(num(&f["bias"]), 0.0);
    assert_eq!(num(&f["r2"]), 1.0);
    assert_eq!(num(&f["dssim"]["dssim"]), 0.0);
    let bands = f["spectra"]["bands"].as_array().expect("bands");
    assert_eq!(bands.len(), 7); // 1, 2-3, ..., 32-63, 64-72
    for b in bands {
        assert_eq!(num(&b["ratio"]), 1.0, "{b}");
    }
    let levels = f["levels"].as_array().expect("levels");
    assert_eq!(levels.len(), 26);
    for l in levels {
        assert_eq!(num(&l["nrmse"]), 0.0);
        assert_eq!(num(&l["max_abs"]), 0.0);
    }
    // Temperature: neither geopotential nor an ensemble.
    assert!(f["geostrophic_wind"].is_null() && f["spread_ratio"].is_null());
    let written = v["plots"].as_array().expect("plots");
    assert_eq!(written.len(), 26 + 2);
    for p in written {
        let p = PathBuf::from(p.as_str().expect("path"));
        let bytes = std::fs::read(&p).expect("plot exists");
        assert!(bytes.len() > 1000 && bytes.starts_with(b"\x89PNG"), "{p:?}");
    }
}

#[test]
fn added_noise_has_its_bias_rmse_and_spectrum() {
    let dir = tempfile::tempdir().expect("tmp");
    let noisy = dir.path().join("noisy.nc");
    let mut v = hiha_io::read_variable(&gfs(), None).expect("sample");
    let (mu, sigma) = (0.05, 0.2);
    let mut g = Noise(42);
    for x in &mut v.field.values {
        *x = (*x as f64 + mu + sigma * g.gauss()) as f32;
    }
    hiha_io::write_variable(&noisy, &v.field, &v.meta).expect("write");
    let out = json(&["compare", s(&gfs()), s(&noisy), "--json"]);
    let var = &out["variables"][0];
    let n = num(&var["metrics"]["n"]);
    let f = &var["fidelity"];
    let bias = num(&f["bias"]);
    assert!((bias - mu).abs() < 4.0 * sigma / n.sqrt(), "bias {bias}");
    let rmse = num(&var["metrics"]["rmse"]);
    let want = (mu * mu + sigma * sigma).sqrt();
    assert!((rmse / want - 1.0).abs() < 0.02, "rmse {rmse}, want {want}");
    for k in ["lon", "lat"] {
        let r = num(&f["autocorrelation"][k]);
        assert!(r.abs() < 0.05, "autocorrelation {k} {r}");
    }
    let bands = f["spectra"]["bands"].as_array().expect("bands");
    let first = num(&bands[0]["ratio"]);
    assert!((first - 1.0).abs() < 0.02, "k=1 ratio {first}");
    let last = num(&bands[bands.len() - 1]["ratio"]);
    assert!(last > 1.1, "high-k ratio {last}");
    // White noise: N σ² of error power at every wavenumber (N = 144 longitudes).
    let hb = &bands[bands.len() - 1];
    let e = num(&hb["error_ratio"]) * num(&hb["original_power"]);
    assert!(
        (e / (144.0 * sigma * sigma) - 1.0).abs() < 0.1,
        "error power {e}"
    );
    assert!(num(&f["dssim"]["dssim"]) > 0.0);
    let text = hiha(&["compare", s(&gfs()), s(&noisy)]);
    let text = String::from_utf8_lossy(&text.stdout);
    for line in [
        "NRMSE",
        "bias",
        "DSSIM",
        "zonal spectra",
        "per level",
        "sign flipped",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

#[test]
fn ensemble_spread_ratio_of_a_reconstruction() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = repo().join("data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc");
    let (a, b) = (dir.path().join("e.hiha"), dir.path().join("e.nc"));
    let ok = |o: Output| assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ok(hiha(&[
        "-q",
        "compress",
        s(&e),
        "-o",
        s(&a),
        "--nrmse",
        "1e-3",
    ]));
    ok(hiha(&["-q", "decompress", s(&a), "-o", s(&b)]));
    let v = json(&["compare", s(&e), s(&b), "--json"]);
    let r = &v["variables"][0]["fidelity"]["spread_ratio"];
    assert_eq!(num(&r["members"]), 10.0);
    let (median, p99) = (num(&r["median"]), num(&r["p99"]));
    assert!(median > 0.0 && median <= p99, "{r}");
}
