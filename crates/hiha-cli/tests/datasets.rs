//! Whole datasets, as users get them (issue 10): a NetCDF-4 file laid out
//! like today's CDS ERA5 downloads (built by `tests/py/cds_like.py` from the
//! bundled real ERA5 sample) compresses in one command into one archive,
//! with a bound per variable, and decompresses to a file that xarray opens
//! with the same variables, coordinates and attributes, every variable
//! within its bound on every element (checked in Python, independently of
//! hiha's own verification). Needs the repository's `.venv` (made by
//! `scripts/setup_python.sh`, part of the README's test command) or
//! `HIHA_PYTHON`; without it the test fails, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{repo, run, s};

fn python() -> PathBuf {
    common::python_with("netCDF4, xarray, numpy")
}

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("datasets", name)
}

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

/// Builds the CDS-like file as `name` (one per test: tests run in
/// parallel, and HDF5 refuses a file another process is writing).
fn cds_file(py: &Path, name: &str) -> PathBuf {
    let out = tmp(name);
    let sample = repo().join("data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc");
    run(
        Command::new(py)
            .arg(repo().join("crates/hiha-cli/tests/py/cds_like.py"))
            .args(["make", s(&sample), s(&out)]),
        "building the CDS-like file",
    );
    out
}

#[test]
fn a_cds_netcdf4_file_round_trips_whole_with_a_bound_per_variable() {
    let py = python();
    let input = cds_file(&py, "cds_round_trip.nc");
    let archive = tmp("cds.hiha");
    let back = tmp("cds_back.nc");
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&archive),
        "--nrmse",
        "1e-3",
        "--bound",
        "q=max-rel:1e-3",
        "--bound",
        "t2m=max-abs:0.05",
    ]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "compress failed:\n{out}\n{err}");
    for v in ["'t'", "'q'", "'t2m'"] {
        assert!(out.contains(&format!("variable {v}")), "{out}");
    }
    assert!(out.contains("file ratio"), "{out}");

    let o = hiha(&["info", s(&archive)]);
    let info = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{info}");
    assert!(info.contains("3 variables (t, q, t2m)"), "{info}");

    let o = hiha(&["decompress", s(&archive), "-o", s(&back)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(
        Command::new(&py)
            .arg(repo().join("crates/hiha-cli/tests/py/cds_like.py"))
            .args([
                "check",
                s(&input),
                s(&back),
                "t=nrmse:1e-3",
                "q=max-rel:1e-3",
                "t2m=max-abs:0.05",
            ]),
        "the xarray check",
    );
    print!("{}", String::from_utf8_lossy(&o.stdout));

    // One variable back, reading only its sections.
    let one = tmp("cds_q.nc");
    let o = hiha(&["decompress", s(&archive), "-o", s(&one), "--var", "q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = hiha(&[
        "decompress",
        s(&archive),
        "-o",
        s(&tmp("x.nc")),
        "--var",
        "z",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("t, q, t2m"));

    // --var selects; the others are named in a note, not stored.
    let sel = tmp("cds_t.hiha");
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&sel),
        "--var",
        "t",
        "--nrmse",
        "1e-3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("q, t2m not selected"));
    let o = hiha(&["info", s(&sel)]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("variables ("));
}

#[test]
fn bounds_are_checked_before_any_work() {
    let py = python();
    let input = cds_file(&py, "cds_bounds.nc");
    let out = tmp("b.hiha");
    // A per-variable bound naming no variable is a typo, not ignored.
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&out),
        "--nrmse",
        "1e-3",
        "--bound",
        "qq=nrmse:1e-3",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("qq"));
    // A variable without a bound.
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&out),
        "--bound",
        "t=nrmse:1e-3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no bound for variable 'q'"));
    // Two defaults.
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&out),
        "--nrmse",
        "1e-3",
        "--bound",
        "max-abs:1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Bad grammar.
    let o = hiha(&["compress", s(&input), "-o", s(&out), "--bound", "t=psnr:40"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown mode 'psnr'"));
    // The config file's [bounds] table, the same grammar.
    let cfg = tmp("bounds.toml");
    std::fs::write(
        &cfg,
        "[bounds]\ndefault = \"nrmse:1e-3\"\nq = \"max-rel:1e-3\"\n",
    )
    .expect("cfg");
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&out),
        "--config",
        s(&cfg),
        "-f",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.with_extension("hiha.partial").exists());
    assert!(std::fs::metadata(&out).is_ok());
}
