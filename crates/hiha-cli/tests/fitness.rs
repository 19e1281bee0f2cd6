//! `--bound spread:F`, `--spread-file` and `--keep-zeros` end to end
//! (issue 13), checked on every element of the decompressed file,
//! independently of the tool's own verification.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hiha_core::field::Field;

mod common;
use common::{repo, s};

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("fitness", name)
}

/// The bundled ERA5 ensemble: 10 members x 4 times x 2 levels x 61 x 120.
fn ensemble() -> PathBuf {
    repo().join("data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc")
}

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

fn assert_ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Compresses `input` with `args`, decompresses, returns (original,
/// reconstruction, archive bytes).
fn round_trip(input: &Path, args: &[&str], tag: &str) -> (Field, Field, u64) {
    let archive = tmp(&format!("{tag}.hiha"));
    let back = tmp(&format!("{tag}.nc"));
    let mut a = vec!["-q", "compress", s(input), "-o", s(&archive), "--force"];
    a.extend_from_slice(args);
    assert_ok(&hiha(&a), "compress");
    let o = hiha(&["-q", "decompress", s(&archive), "-o", s(&back), "--force"]);
    assert_ok(&o, "decompress");
    let x = hiha_io::read_variable(input, None).expect("original").field;
    let y = hiha_io::read_variable(&back, None).expect("back").field;
    assert_eq!(x.shape, y.shape);
    assert_eq!(x.missing, y.missing);
    let size = std::fs::metadata(&archive).expect("archive").len();
    (x, y, size)
}

/// The standard deviation over the 10 members (n − 1) at each point.
fn member_spread(x: &Field) -> Vec<f64> {
    let members = 10;
    let per_member = x.values.len() / members;
    (0..per_member)
        .map(|p| {
            let v: Vec<f64> = (0..members)
                .map(|m| x.values[m * per_member + p] as f64)
                .collect();
            let mean = v.iter().sum::<f64>() / members as f64;
            (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (members - 1) as f64).sqrt()
        })
        .collect()
}

#[test]
fn spread_bound_holds_on_every_element_of_the_ensemble() {
    let input = ensemble();
    let raw = std::fs::metadata(&input).expect("input").len();
    let mut sizes = Vec::new();
    for f in ["1", "0.5"] {
        let bound = format!("spread:{f}");
        let (x, y, size) = round_trip(&input, &["--bound", &bound], &format!("spread-{f}"));
        let spread = member_spread(&x);
        let per_member = spread.len();
        let f: f64 = f.parse().expect("F");
        for (i, (&a, &b)) in x.values.iter().zip(&y.values).enumerate() {
            let allowed = f * spread[i % per_member];
            let err = (a as f64 - b as f64).abs();
            assert!(err <= allowed, "element {i}: {a} -> {b}, above {allowed:e}");
        }
        assert!(size * 4 < raw, "spread:{f}: {size} bytes of {raw}");
        sizes.push(size);
    }
    assert!(sizes[1] > sizes[0], "a tighter F costs bytes: {sizes:?}");
    // `hiha info` names the bound.
    let o = hiha(&["info", s(&tmp("spread-1.hiha"))]);
    let out = assert_ok(&o, "info");
    assert!(out.contains("ensemble spread"), "{out}");
}

#[test]
fn spread_file_gives_the_spread() {
    // The input itself as the "spread" of spread:1e-3: every element within
    // 1e-3 x its own value, read from that file.
    let input = ensemble();
    let (x, y, _) = round_trip(
        &input,
        &["--bound", "spread:1e-3", "--spread-file", s(&input)],
        "spread-file",
    );
    for (i, (&a, &b)) in x.values.iter().zip(&y.values).enumerate() {
        let err = (a as f64 - b as f64).abs();
        assert!(err <= 1e-3 * a as f64, "element {i}: {a} -> {b}");
    }
    // Misuse is a usage error, or a clear one.
    let archive = tmp("misuse.hiha");
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&archive),
        "--force",
        "--nrmse",
        "1e-3",
        "--spread-file",
        s(&input),
    ]);
    assert_eq!(o.status.code(), Some(2), "--spread-file without spread");
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&archive),
        "--force",
        "--bound",
        "spread:1:per-level",
    ]);
    assert_eq!(o.status.code(), Some(2), "spread has no per-level form");
    let gfs = repo().join("data/samples/gfs_t_pl26_2p5deg_global_2011101100_f072.nc");
    let o = hiha(&[
        "compress",
        s(&gfs),
        "-o",
        s(&archive),
        "--force",
        "--bound",
        "spread:1",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ensemble"), "{err}");
}

/// The GFS sample with every value below its 60th percentile set to 0 (a
/// real field thresholded: 60 % zeros).
fn thresholded() -> PathBuf {
    let src = repo().join("data/samples/gfs_t_pl26_2p5deg_global_2011101100_f072.nc");
    let mut v = hiha_io::read_variable(&src, None).expect("gfs");
    let mut sorted = v.field.values.clone();
    sorted.sort_by(f32::total_cmp);
    let cut = sorted[sorted.len() * 6 / 10];
    let lo = sorted[0];
    for x in &mut v.field.values {
        *x = if *x < cut { 0.0 } else { *x - lo };
    }
    let path = tmp("gfs_t_thresholded.nc");
    hiha_io::write_variable(&path, &v.field, &v.meta).expect("writes");
    path
}

#[test]
fn keep_zeros_from_the_flag_the_bound_and_the_config() {
    let input = thresholded();
    let config = tmp("kz.toml");
    std::fs::write(&config, "[bounds]\ndefault = \"nrmse:1e-2:keep-zeros\"\n").expect("config");
    let variants: [(&str, Vec<&str>); 3] = [
        ("flag", vec!["--nrmse", "1e-2", "--keep-zeros"]),
        ("term", vec!["--bound", "t=nrmse:1e-2:per-level:keep-zeros"]),
        ("config", vec!["--config", s(&config)]),
    ];
    for (tag, args) in variants {
        let (x, y, _) = round_trip(&input, &args, &format!("kz-{tag}"));
        let zeros = x.values.iter().filter(|&&a| a == 0.0).count();
        assert!(zeros * 2 > x.values.len(), "{zeros} zeros");
        for (i, (&a, &b)) in x.values.iter().zip(&y.values).enumerate() {
            if a == 0.0 {
                assert_eq!(b, 0.0, "{tag}: zero at {i} came back {b}");
            }
            assert!(b >= 0.0, "{tag}: {a} -> {b} at {i}");
        }
        let o = hiha(&["info", s(&tmp(&format!("kz-{tag}.hiha")))]);
        let out = assert_ok(&o, "info");
        assert!(
            out.contains("signs") && out.contains("keep-zeros"),
            "{tag}: {out}"
        );
    }
    // More than half zeros: kept by default; --no-keep-zeros refuses it,
    // and then zeros are not all kept at this bound.
    let (x, y, _) = round_trip(&input, &["--nrmse", "1e-2"], "kz-default");
    let moved = |x: &Field, y: &Field| {
        x.values
            .iter()
            .zip(&y.values)
            .filter(|(&a, &b)| a == 0.0 && b != 0.0)
            .count()
    };
    assert_eq!(moved(&x, &y), 0, "default on a field of 60 % zeros");
    let (x, y, _) = round_trip(&input, &["--nrmse", "1e-2", "--no-keep-zeros"], "kz-none");
    assert!(
        moved(&x, &y) > 0,
        "plain nrmse kept every zero: the test shows nothing"
    );
    let o = hiha(&["info", s(&tmp("kz-none.hiha"))]);
    assert!(!assert_ok(&o, "info").contains("keep-zeros"));
    // Both at once is a usage error.
    let o = hiha(&[
        "compress",
        s(&input),
        "-o",
        s(&tmp("kz-both.hiha")),
        "--nrmse",
        "1e-2",
        "--keep-zeros",
        "--no-keep-zeros",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // With a predictor too (FIC's prediction comes from its own sections;
    // the residual skips the zeros, which the signs restore).
    let (x, y, _) = round_trip(
        &input,
        &["--nrmse", "1e-2", "--keep-zeros", "--predictor", "fic"],
        "kz-fic",
    );
    assert_eq!(moved(&x, &y), 0, "fic + keep-zeros");
}
