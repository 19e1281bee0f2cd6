//! End-to-end tests of the `hiha` binary on the bundled real samples:
//! the bound holds on every element in every mode, the output file reads
//! back with the same structure, and bad input gives the documented exit
//! codes and plain messages, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hiha_core::metrics::Metrics;

mod common;
use common::repo;

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("cli", name)
}

fn samples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("data/samples"))
        .expect("data/samples exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nc"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no bundled samples");
    v
}

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Compresses, decompresses, and checks the bound independently of the
/// tool's own verification.
fn round_trip(sample: &Path, mode: &str, value: f64, tag: &str) -> (Metrics, u64) {
    let archive = tmp(&format!("{tag}.hiha"));
    let back = tmp(&format!("{tag}.nc"));
    let v = format!("{value:e}");
    let o = hiha(&[
        "-q",
        "compress",
        sample.to_str().expect("utf-8 path"),
        "-o",
        archive.to_str().expect("utf-8 path"),
        mode,
        &v,
        "--force",
    ]);
    assert_ok(&o, "compress");
    let o = hiha(&[
        "-q",
        "decompress",
        archive.to_str().expect("utf-8 path"),
        "-o",
        back.to_str().expect("utf-8 path"),
        "--force",
    ]);
    assert_ok(&o, "decompress");
    let a = hiha_io::read_variable(sample, None).expect("reads original");
    let b = hiha_io::read_variable(&back, None).expect("reads reconstruction");
    assert_eq!(a.field.shape, b.field.shape);
    assert_eq!(a.field.missing, b.field.missing, "missing values moved");
    assert_eq!(a.meta.dims, b.meta.dims, "dims changed");
    assert_eq!(a.meta.aux_vars, b.meta.aux_vars, "coordinates changed");
    let m = Metrics::compute(&a.field.values, &b.field.values, a.field.missing.as_deref())
        .expect("comparable");
    let size = std::fs::metadata(&archive).expect("archive").len();
    (m, size)
}

#[test]
fn nrmse_bound_holds_on_every_sample_at_every_target() {
    for s in samples() {
        let mut last_size = 0;
        for (k, t) in [1e-2, 1e-3, 1e-4, 1e-5].into_iter().enumerate() {
            let (m, size) = round_trip(&s, "--nrmse", t, &format!("nrmse{k}"));
            assert!(m.nrmse <= t, "{}: NRMSE {} > {t}", s.display(), m.nrmse);
            // Tighter targets cost more bytes.
            assert!(
                size >= last_size,
                "{}: archive shrank at a tighter bound",
                s.display()
            );
            last_size = size;
        }
    }
}

#[test]
fn pointwise_bounds_hold_on_every_element() {
    for s in samples() {
        let a = hiha_io::read_variable(&s, None).expect("reads");
        let (lo, hi) = a.field.value_range().expect("has values");
        let range = (hi - lo) as f64;
        for (k, rel) in [1e-2, 1e-4].into_iter().enumerate() {
            let e = rel * range;
            let (m, _) = round_trip(&s, "--max-abs", e, &format!("abs{k}"));
            assert!(
                m.max_abs <= e,
                "{}: max abs {} > {e}",
                s.display(),
                m.max_abs
            );
            let (m, _) = round_trip(&s, "--max-rel", rel, &format!("rel{k}"));
            assert!(
                m.max_abs <= rel * m.range,
                "{}: max rel violated",
                s.display()
            );
        }
    }
}

#[test]
fn frames_subset_matches_the_full_decode() {
    let s = &samples()[0];
    let archive = tmp("sub.hiha");
    let full = tmp("sub_full.nc");
    let part = tmp("sub_part.nc");
    assert_ok(
        &hiha(&[
            "-q",
            "compress",
            s.to_str().expect("utf-8 path"),
            "-o",
            archive.to_str().expect("utf-8 path"),
            "--nrmse",
            "1e-3",
        ]),
        "compress",
    );
    assert_ok(
        &hiha(&[
            "-q",
            "decompress",
            archive.to_str().expect("utf-8 path"),
            "-o",
            full.to_str().expect("utf-8 path"),
        ]),
        "full",
    );
    let a = hiha_io::read_variable(&full, None).expect("full");
    let frames = a.field.shape.frames;
    // Pick the frames of the first index of the first frame dim.
    let first_dim = a.meta.var.layout.dims[0].clone();
    let outer = a.meta.dim(&first_dim).expect("dim").len;
    let inner = frames / outer;
    assert!(
        outer >= 2,
        "the first sample should have several indices on its first frame dim"
    );
    let range = format!("{inner}..{}", 2 * inner);
    let o = hiha(&[
        "-q",
        "decompress",
        archive.to_str().expect("utf-8 path"),
        "-o",
        part.to_str().expect("utf-8 path"),
        "--frames",
        &range,
    ]);
    assert_ok(&o, "partial decompress");
    let b = hiha_io::read_variable(&part, None).expect("part");
    let n = a.field.shape.frame_len();
    assert_eq!(b.field.shape.frames, inner);
    let want = &a.field.values[inner * n..2 * inner * n];
    assert!(
        want.iter()
            .zip(&b.field.values)
            .all(|(x, y)| x.to_bits() == y.to_bits()),
        "partial decode differs from the full decode"
    );
}

#[test]
fn bad_input_gives_clear_errors_and_exit_codes() {
    let s = samples()[0].to_str().expect("utf-8 path").to_string();
    let out = tmp("bad.hiha");
    let out = out.to_str().expect("utf-8 path");
    // No accuracy mode: usage error.
    let o = hiha(&["compress", &s, "-o", out]);
    assert_eq!(o.status.code(), Some(2));
    // Two modes.
    let o = hiha(&[
        "compress",
        &s,
        "-o",
        out,
        "--nrmse",
        "1e-3",
        "--max-abs",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Nonsense tolerance: a bad command line.
    let o = hiha(&["compress", &s, "-o", out, "--nrmse", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--nrmse"));
    // Unknown variable.
    let o = hiha(&[
        "compress", &s, "-o", out, "--nrmse", "1e-3", "--var", "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    // Missing file.
    let o = hiha(&[
        "compress",
        "/nonexistent/x.nc",
        "-o",
        out,
        "--nrmse",
        "1e-3",
    ]);
    // An operating-system error: the file does not exist.
    assert_eq!(o.status.code(), Some(5));
    // A corrupt archive: flip bytes in the middle.
    assert_ok(
        &hiha(&["-q", "compress", &s, "-o", out, "--nrmse", "1e-3"]),
        "compress",
    );
    let mut bytes = std::fs::read(out).expect("archive");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let bad = tmp("corrupt.hiha");
    std::fs::write(&bad, &bytes).expect("write");
    let o = hiha(&[
        "decompress",
        bad.to_str().expect("utf-8 path"),
        "-o",
        tmp("corrupt.nc").to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    // A truncated archive.
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).expect("write");
    let o = hiha(&["info", bad.to_str().expect("utf-8 path")]);
    assert_eq!(o.status.code(), Some(4));
    // Not an archive at all.
    let o = hiha(&["info", &s]);
    assert_eq!(o.status.code(), Some(4));
}

#[test]
fn info_and_compare_report() {
    let s = samples()[0].to_str().expect("utf-8 path").to_string();
    let archive = tmp("info.hiha");
    let back = tmp("info.nc");
    assert_ok(
        &hiha(&[
            "-q",
            "compress",
            &s,
            "-o",
            archive.to_str().expect("utf-8 path"),
            "--nrmse",
            "1e-4",
        ]),
        "c",
    );
    let o = hiha(&["info", archive.to_str().expect("utf-8 path")]);
    assert_ok(&o, "info");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("residual"), "{text}");
    assert_ok(
        &hiha(&[
            "-q",
            "decompress",
            archive.to_str().expect("utf-8 path"),
            "-o",
            back.to_str().expect("utf-8 path"),
        ]),
        "d",
    );
    let o = hiha(&["compare", &s, back.to_str().expect("utf-8 path")]);
    assert_ok(&o, "compare");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("NRMSE") && text.contains("PSNR"), "{text}");
}
