//! Zarr (issue 10): v2 and v3 stores written by zarr-python (through
//! xarray, with its default codecs and others, small and edge chunks, a
//! chunk left out because it holds only the fill value) round-trip through
//! `hiha compress` / `hiha decompress`, and xarray reads what hiha writes
//! (a Zarr v3 store or NetCDF-4) with the same variables, coordinates and
//! attributes, every variable within its bound on every element. Needs the
//! repository's `.venv` (made by `scripts/setup_python.sh`, part of the
//! README's test command: xarray, zarr 3, numcodecs) or `HIHA_PYTHON`;
//! without it the test fails, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{repo, s};

fn python() -> PathBuf {
    common::python_with("netCDF4, xarray, numpy, zarr, numcodecs")
}

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("zarr", name)
}

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

fn ok(o: Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{text}",
        o.status.code()
    );
    text
}

fn py(py: &Path, args: &[&str], what: &str) -> String {
    let o = Command::new(py)
        .arg(repo().join("crates/hiha-cli/tests/py/zarr_stores.py"))
        .args(args)
        .output()
        .expect("runs python");
    let text = ok(o, what);
    print!("{text}");
    text
}

const BOUNDS: [&str; 6] = [
    "--nrmse",
    "1e-3",
    "--bound",
    "q=max-rel:1e-3",
    "--bound",
    "t2m=max-abs:0.05",
];
const SPECS: [&str; 3] = ["t=nrmse:1e-3", "q=max-rel:1e-3", "t2m=max-abs:0.05"];

/// The CDS-like NetCDF-4 file (int16, fills, expver strings, scalar number).
fn cds(py: &Path) -> PathBuf {
    let out = tmp("cds.nc");
    let sample = repo().join("data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc");
    let o = Command::new(py)
        .arg(repo().join("crates/hiha-cli/tests/py/cds_like.py"))
        .args(["make", s(&sample), s(&out)])
        .output()
        .expect("runs python");
    ok(o, "building the CDS-like file");
    out
}

#[test]
fn zarr_python_stores_round_trip_and_xarray_reads_the_result() {
    let py_bin = python();
    let src = cds(&py_bin);
    let dir = tmp("stores");
    std::fs::create_dir_all(&dir).expect("dir");
    let made = py(&py_bin, &["make", s(&src), s(&dir)], "writing the stores");
    let stores: Vec<PathBuf> = made.lines().map(PathBuf::from).collect();
    assert_eq!(stores.len(), 8, "{made}");
    for store in &stores {
        let name = store.file_name().and_then(|n| n.to_str()).expect("name");
        let archive = tmp(&format!("{name}.hiha"));
        let mut args = vec!["compress", s(store), "-o", s(&archive)];
        args.extend_from_slice(&BOUNDS);
        let text = ok(hiha(&args), &format!("compress {name}"));
        assert!(
            text.contains("variable 't2m'") && text.contains("file ratio"),
            "{text}"
        );
        // Back as a Zarr store (chosen by the name) ...
        let out = tmp(&format!("{name}.out.zarr"));
        ok(
            hiha(&["decompress", s(&archive), "-o", s(&out)]),
            "decompress",
        );
        let mut args = vec!["check", s(store), s(&out)];
        args.extend_from_slice(&SPECS);
        py(&py_bin, &args, &format!("the xarray check of {name}"));
        // ... and as NetCDF-4.
        if name.ends_with("default.zarr") {
            let nc = tmp(&format!("{name}.out.nc"));
            ok(
                hiha(&["decompress", s(&archive), "-o", s(&nc)]),
                "decompress",
            );
            let mut args = vec!["check", s(store), s(&nc)];
            args.extend_from_slice(&SPECS);
            py(
                &py_bin,
                &args,
                &format!("the xarray check of {name} as NetCDF"),
            );
        }
    }

    // A NetCDF source, a Zarr output (--format zarr on any name).
    let archive = tmp("cds.hiha");
    let mut args = vec!["compress", s(&src), "-o", s(&archive)];
    args.extend_from_slice(&BOUNDS);
    ok(hiha(&args), "compress the NetCDF file");
    let out = tmp("cds_out");
    ok(
        hiha(&["decompress", s(&archive), "-o", s(&out), "--format", "zarr"]),
        "decompress to Zarr",
    );
    let mut args = vec!["check", s(&src), s(&out)];
    args.extend_from_slice(&SPECS);
    py(&py_bin, &args, "the xarray check of NetCDF -> Zarr");

    // An existing store is replaced only with --force; a directory that is
    // not a store never.
    let o = hiha(&["decompress", s(&archive), "-o", s(&out), "--format", "zarr"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ok(
        hiha(&[
            "decompress",
            s(&archive),
            "-o",
            s(&out),
            "--format",
            "zarr",
            "-f",
        ]),
        "replace a store",
    );
    let plain = tmp("not_a_store.zarr");
    std::fs::create_dir_all(&plain).expect("dir");
    std::fs::write(plain.join("keep.txt"), "mine").expect("file");
    let o = hiha(&["decompress", s(&archive), "-o", s(&plain), "-f"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(plain.join("keep.txt")).expect("kept"),
        "mine"
    );
    // No partial directories are left behind.
    let left: Vec<_> = std::fs::read_dir(tmp(""))
        .expect("list")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("hiha-"))
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
