//! Streaming (issue 10, item 6): `hiha compress` streams a NetCDF input
//! chunk by chunk and `hiha decompress --format nc3` writes frames as they
//! are decoded, with memory bounded by a few chunks (measured by
//! scripts/stream_rss.sh, docs/memory.md). What they write must be exactly
//! what the in-memory paths (`--no-stream`) write: the archive byte for
//! byte, the NetCDF-3 output byte for byte but for the `history` time
//! stamp. Checked on every bundled NetCDF sample (NetCDF-3 classic and
//! 64-bit offset, NetCDF-4 with int16 packing and missing values, an
//! ensemble with two frame dims), several bounds, frame selections, and a
//! file of two variables.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A directory of this test's own (tests run in parallel).
fn tmp(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hiha-stream-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
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

fn samples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("data/samples"))
        .expect("samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nc"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "the bundled NetCDF samples: {v:?}");
    v
}

/// The bytes of a NetCDF file with the time stamp of its history line
/// blanked (it is the only part that depends on when the file was written).
fn without_time_stamp(path: &Path) -> Vec<u8> {
    let mut b = std::fs::read(path).expect("output");
    let tag = b": hiha-io ";
    let mut i = 0;
    while i + tag.len() <= b.len() {
        if &b[i..i + tag.len()] == tag && i >= 20 {
            // "YYYY-MM-DDTHH:MM:SSZ" just before the tag.
            for x in &mut b[i - 20..i] {
                *x = b'#';
            }
        }
        i += 1;
    }
    b
}

fn compress_both(input: &Path, dir: &Path, args: &[&str]) -> Vec<u8> {
    let s = dir.join("s.hiha");
    let m = dir.join("m.hiha");
    let input = input.to_str().expect("path");
    let mut a = vec![
        "compress",
        "-q",
        "-f",
        input,
        "-o",
        s.to_str().expect("path"),
    ];
    a.extend_from_slice(args);
    hiha(&a);
    let mut b = vec![
        "compress",
        "-q",
        "-f",
        "--no-stream",
        input,
        "-o",
        m.to_str().expect("path"),
    ];
    b.extend_from_slice(args);
    hiha(&b);
    let (x, y) = (std::fs::read(&s).expect("s"), std::fs::read(&m).expect("m"));
    assert!(
        x == y,
        "{input} {args:?}: the streamed archive ({} B) differs from the in-memory one ({} B)",
        x.len(),
        y.len()
    );
    x
}

fn decompress_both(archive: &Path, dir: &Path, args: &[&str]) {
    let s = dir.join("s.nc");
    let m = dir.join("m.nc");
    let ar = archive.to_str().expect("path");
    let mut a = vec![
        "decompress",
        "-f",
        ar,
        "-o",
        s.to_str().expect("path"),
        "--format",
        "nc3",
    ];
    a.extend_from_slice(args);
    let out = hiha(&a);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("streamed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut b = vec![
        "decompress",
        "-q",
        "-f",
        "--no-stream",
        ar,
        "-o",
        m.to_str().expect("path"),
        "--format",
        "nc3",
    ];
    b.extend_from_slice(args);
    hiha(&b);
    assert!(
        without_time_stamp(&s) == without_time_stamp(&m),
        "{ar} {args:?}: the streamed NetCDF-3 output differs from the in-memory one"
    );
}

#[test]
fn streamed_compression_writes_the_in_memory_archive_for_every_sample() {
    let dir = tmp("compress");
    for input in samples() {
        for args in [
            &["--nrmse", "1e-4"][..],
            &["--max-abs", "0.01", "--chunk-frames", "1"],
            &["--nrmse", "1e-3", "--per-level"],
            &["--pw-rel", "1e-3"],
        ] {
            compress_both(&input, &dir, args);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn streamed_decompression_writes_the_in_memory_file_for_every_sample() {
    let dir = tmp("decompress");
    for input in samples() {
        let bytes = compress_both(&input, &dir, &["--nrmse", "1e-4", "--chunk-frames", "2"]);
        let archive = dir.join("a.hiha");
        std::fs::write(&archive, &bytes).expect("archive");
        decompress_both(&archive, &dir, &[]);
        // A frame selection (the ensemble sample has 4 frames per member).
        let frames = hiha_core::format::ArchiveReader::open(&bytes)
            .expect("open")
            .header()
            .shape
            .frames;
        if frames >= 8 {
            decompress_both(&archive, &dir, &["--frames", "4..8"]);
        }
        // Re-packed int16 output too, and float32 by request.
        decompress_both(&archive, &dir, &["--float32"]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_file_of_two_variables_streams_like_it_reads_in_memory() {
    let dir = tmp("multi");
    let src = repo().join("data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc");
    let t = hiha_io::read_variable(&src, None).expect("read");
    // A second variable on the same grid: the same field in other units.
    let mut f2 = t.field.clone();
    for v in &mut f2.values {
        *v = (*v - 273.15) * 1.8 + 32.0;
    }
    let mut m2 = t.meta.clone();
    m2.var.name = "t_fahrenheit".into();
    let two = dir.join("two.nc");
    hiha_io::write_dataset_with(
        &two,
        &[(&t.field, &t.meta), (&f2, &m2)],
        hiha_io::Existing::Replace,
    )
    .expect("write");
    let bytes = compress_both(
        &two,
        &dir,
        &[
            "--bound",
            "t=nrmse:1e-4",
            "--bound",
            "t_fahrenheit=max-abs:0.05",
        ],
    );
    assert_eq!(
        hiha_core::codec::variables(&bytes).expect("names"),
        vec!["t", "t_fahrenheit"]
    );
    let archive = dir.join("a.hiha");
    std::fs::write(&archive, &bytes).expect("archive");
    decompress_both(&archive, &dir, &[]);
    decompress_both(
        &archive,
        &dir,
        &["--var", "t_fahrenheit", "--frames", "4..12"],
    );
    std::fs::remove_dir_all(&dir).ok();
}
