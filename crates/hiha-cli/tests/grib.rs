//! GRIB input end to end (issue 10): `hiha compress x.grib -o a.hiha
//! --nrmse 1e-4`, then `hiha decompress a.hiha -o back.nc`, and every
//! element of `back.nc` is checked in Python against ecCodes' values of
//! `x.grib` (`tests/py/grib_check.py`: hiha's bound against its float32
//! input, and the same bound against ecCodes' float64 values plus the
//! float32 rounding), missing points (bitmaps) included. Also with
//! `--max-rel`, a bound on every single element.
//!
//! Needs the repository's `.venv` with `eccodes` and `netCDF4` (made by
//! `scripts/setup_python.sh`, part of the README's test command) or
//! `HIHA_PYTHON`; without it the test fails, it never skips. The bundled
//! samples are always used, the shared data's GRIB files when present.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{repo, run};

fn python() -> PathBuf {
    common::python_with("eccodes, netCDF4, numpy")
}

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("grib", name)
}

fn hiha() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
}

fn grib_inputs(all: bool) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut add = |dir: PathBuf| {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                if matches!(ext, "grib" | "grb" | "grb2") {
                    v.push(p);
                }
            }
        }
    };
    add(repo().join("data/samples"));
    if all {
        let shared = std::env::var_os("HIHA_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("../shared/data"));
        add(shared.join("native"));
    }
    v.sort();
    v
}

fn round_trip(input: &Path, mode: &str, bound: &str) {
    let stem = input
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("x")
        .to_string();
    let archive = tmp(&format!("{stem}.{mode}.hiha"));
    let back = tmp(&format!("{stem}.{mode}.nc"));
    let o = run(
        hiha()
            .arg("compress")
            .arg(input)
            .arg("-o")
            .arg(&archive)
            .arg(format!("--{mode}"))
            .arg(bound)
            .arg("-f"),
        &format!("compress {}", input.display()),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("verified on every element"), "{out}");
    run(
        hiha()
            .arg("decompress")
            .arg(&archive)
            .arg("-o")
            .arg(&back)
            .arg("-f"),
        "decompress",
    );
    let o = run(
        Command::new(python())
            .arg(repo().join("crates/hiha-cli/tests/py/grib_check.py"))
            .arg(input)
            .arg(&back)
            .arg(mode)
            .arg(bound),
        &format!("grib_check.py on {}", input.display()),
    );
    println!(
        "{} ({mode} {bound}):\n{}",
        input.display(),
        String::from_utf8_lossy(&o.stdout)
    );
    let _ = std::fs::remove_file(&archive);
    let _ = std::fs::remove_file(&back);
}

#[test]
fn grib_files_compress_and_decompress_within_the_bound_of_ecc_values() {
    let inputs = grib_inputs(true);
    assert!(
        inputs.len() >= 4,
        "bundled GRIB samples missing: {inputs:?}"
    );
    for input in &inputs {
        round_trip(input, "nrmse", "1e-4");
    }
}

#[test]
fn every_element_within_a_max_rel_bound() {
    for input in grib_inputs(false) {
        round_trip(&input, "max-rel", "1e-3");
    }
}

#[test]
fn a_garbled_grib_file_is_an_error_naming_it() {
    let good = repo().join("data/samples/gfs_repacked_simple_complex_ccsds.grb2");
    let bytes = std::fs::read(&good).expect("sample");
    let bad = tmp("garbled.grb2");
    let mut b = bytes.clone();
    b.truncate(bytes.len() / 2);
    std::fs::write(&bad, &b).expect("write");
    let o = hiha()
        .arg("compress")
        .arg(&bad)
        .arg("-o")
        .arg(tmp("garbled.hiha"))
        .args(["--nrmse", "1e-4", "-f"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("garbled.grb2") && err.contains("GRIB"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
