//! Output that is not larger than the input (issue 10): `hiha decompress`
//! writes NetCDF-4 with shuffle + zlib, and a variable whose source was
//! int16-packed comes back packed, so that the decompressed file of an
//! int16 packed NetCDF-4 source is no larger than that source. Every file
//! is checked in Python (netCDF4 and xarray, on every element, against the
//! source's own values), independently of hiha's own verification. Needs
//! the repository's `.venv` (made by `scripts/setup_python.sh`, part of the
//! README's test command) or `HIHA_PYTHON`; without it the test fails, it
//! never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{repo, s};

fn python() -> PathBuf {
    common::python_with("netCDF4, xarray, numpy")
}

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("output", name)
}

fn hiha(args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha");
    assert!(
        o.status.success(),
        "hiha {args:?} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn check(py: &Path, src: &Path, out: &Path, model: &str, specs: &[&str]) {
    let o = Command::new(py)
        .arg(repo().join("crates/hiha-cli/tests/py/check_output.py"))
        .args([s(src), s(out), model])
        .args(specs)
        .output()
        .expect("runs python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    print!("{text}");
    assert!(o.status.success(), "the Python check failed:\n{text}");
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).expect("exists").len()
}

/// Compresses `src` with `bound` (several flags), decompresses with
/// `decompress` flags; returns the archive's and the output's paths.
fn round_trip(name: &str, src: &Path, bound: &[&str], decompress: &[&str]) -> (PathBuf, PathBuf) {
    let archive = tmp(&format!("{name}.hiha"));
    let out = tmp(&format!("{name}.nc"));
    let mut args = vec!["compress", s(src), "-o", s(&archive), "-f"];
    args.extend_from_slice(bound);
    hiha(&args);
    let mut args = vec!["decompress", s(&archive), "-o", s(&out), "-f"];
    args.extend_from_slice(decompress);
    let o = hiha(&args);
    print!("{}", String::from_utf8_lossy(&o.stdout));
    println!(
        "{name}: source {} bytes, archive {} bytes, output {} bytes",
        size(src),
        size(&archive),
        size(&out)
    );
    (archive, out)
}

#[test]
fn a_decompressed_int16_netcdf4_file_is_no_larger_than_its_source() {
    let py = python();
    let gfs = repo().join("data/samples/gfs_t_pl6_2p5deg_global_nc4_packed.nc");
    for (i, (flag, value, spec)) in [
        ("--nrmse", "1e-4", "t=nrmse:1e-4:int16"),
        ("--nrmse", "1e-3", "t=nrmse:1e-3:int16"),
        ("--max-abs", "0.05", "t=max-abs:0.05:int16"),
        ("--max-rel", "1e-3", "t=max-rel:1e-3:int16"),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, out) = round_trip(&format!("gfs{i}"), &gfs, &[flag, value], &[]);
        assert!(
            size(&out) <= size(&gfs),
            "{flag} {value}: output {} > source {}",
            size(&out),
            size(&gfs)
        );
        check(&py, &gfs, &out, "NETCDF4", &[spec]);
    }

    // A file laid out like today's CDS downloads (int16, zlib, fills,
    // expver, number), built from the bundled ERA5 sample.
    let cds = tmp("cds_source.nc");
    let sample = repo().join("data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc");
    let o = Command::new(&py)
        .arg(repo().join("crates/hiha-cli/tests/py/cds_like.py"))
        .args(["make", s(&sample), s(&cds)])
        .output()
        .expect("runs python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, out) = round_trip(
        "cds",
        &cds,
        &[
            "--nrmse",
            "1e-3",
            "--bound",
            "q=max-rel:1e-3",
            "--bound",
            "t2m=max-abs:0.05",
        ],
        &[],
    );
    assert!(
        size(&out) <= size(&cds),
        "output {} > source {}",
        size(&out),
        size(&cds)
    );
    check(
        &py,
        &cds,
        &out,
        "NETCDF4",
        &[
            "t=nrmse:1e-3:int16",
            "q=max-rel:1e-3:int16",
            "t2m=max-abs:0.05:int16",
        ],
    );
}

#[test]
fn format_and_float32_choices() {
    let py = python();
    let gfs = repo().join("data/samples/gfs_t_pl6_2p5deg_global_nc4_packed.nc");
    // NetCDF-3, still packed.
    let (archive, out) = round_trip("nc3", &gfs, &["--nrmse", "1e-3"], &["--format", "nc3"]);
    check(
        &py,
        &gfs,
        &out,
        "NETCDF3_64BIT_OFFSET",
        &["t=nrmse:1e-3:int16"],
    );
    // float32 on request, NetCDF-4.
    let f32_out = tmp("f32.nc");
    let o = hiha(&["decompress", s(&archive), "-o", s(&f32_out), "--float32"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("float32"));
    check(&py, &gfs, &f32_out, "NETCDF4", &["t=nrmse:1e-3:float32"]);
    // No room for re-packing: the source's own lattice is checked, and at
    // a bound close to its step it does not hold: float32, and said so.
    let (_, out) = round_trip(
        "noroom",
        &gfs,
        &["--nrmse", "5e-4", "--repack-room", "0"],
        &[],
    );
    check(&py, &gfs, &out, "NETCDF4", &["t=nrmse:5e-4:float32"]);
    // Finer still, below the 0.1 K the values were rounded to, the coder
    // codes the source's lattice indices losslessly, so the values re-pack
    // exactly: int16 again.
    let (_, out) = round_trip(
        "lattice",
        &gfs,
        &["--nrmse", "1e-4", "--repack-room", "0"],
        &[],
    );
    check(&py, &gfs, &out, "NETCDF4", &["t=nrmse:1e-4:int16"]);
    // A bad share is a usage error, before any work.
    let o = Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args([
            "compress",
            s(&gfs),
            "-o",
            s(&tmp("bad.hiha")),
            "--nrmse",
            "1e-3",
            "--repack-room",
            "1",
        ])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--repack-room"));
}
