//! `hiha verify` and `hiha info` report damage (exit 4), including damage a
//! CRC cannot see; `compress` counts the values it keeps exactly; frames
//! outside the archive are a usage error (exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hiha_core::format::{ArchiveReader, ArchiveWriter, SectionKind};

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn code(o: &Output) -> Option<i32> {
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.status.code()
}

fn archive(dir: &Path) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/samples/gfs_t_pl6_2p5deg_global_nc4_packed.nc");
    let out = dir.join("a.hiha");
    let o = hiha(&[
        "-q",
        "compress",
        s(&sample),
        "-o",
        s(&out),
        "--nrmse",
        "1e-3",
    ]);
    assert_eq!(code(&o), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn verify_passes_a_good_archive_and_fails_damaged_ones() {
    let d = tempfile::tempdir().expect("tmp");
    let a = archive(d.path());
    let o = hiha(&["verify", s(&a)]);
    assert_eq!(code(&o), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("hashes match"), "{text}");

    // A raw flipped bit: the section CRC catches it.
    let bytes = std::fs::read(&a).expect("read");
    let r = ArchiveReader::open(&bytes).expect("open");
    let res = r
        .sections()
        .iter()
        .position(|s| s.kind == SectionKind::Residual)
        .expect("a residual");
    let sec = r.sections()[res].clone();
    let mut bad = bytes.clone();
    bad[(sec.offset + sec.len / 2) as usize] ^= 1;
    let flipped = d.path().join("flipped.hiha");
    std::fs::write(&flipped, &bad).expect("write");
    assert_eq!(code(&hiha(&["verify", s(&flipped)])), Some(4));
    let info = hiha(&["info", s(&flipped)]);
    assert_eq!(code(&info), Some(4), "info must not exit 0 on damage");
    assert!(String::from_utf8_lossy(&info.stdout).contains("DAMAGED"));

    // A rewritten check section with valid CRCs: only the value hash sees it.
    let mut w = ArchiveWriter::new(r.header()).expect("writer");
    for (i, s) in r.sections().iter().enumerate() {
        let mut p = r.read(i).expect("read").to_vec();
        if s.kind == SectionKind::Check {
            let n = p.len();
            p[n - 1] ^= 0x80;
        }
        w.add_section(s.kind, s.frames.clone(), s.depends_on, &p)
            .expect("add");
    }
    let rehashed = d.path().join("rehashed.hiha");
    std::fs::write(&rehashed, w.finish().expect("finish")).expect("write");
    assert_eq!(code(&hiha(&["info", s(&rehashed)])), Some(0));
    let v = hiha(&["verify", s(&rehashed)]);
    assert_eq!(code(&v), Some(4));
    assert!(String::from_utf8_lossy(&v.stderr).contains("hash"));
    let back = d.path().join("back.nc");
    assert_eq!(
        code(&hiha(&["decompress", s(&rehashed), "-o", s(&back)])),
        Some(4)
    );
    assert!(!back.exists());
}

#[test]
fn frames_outside_the_archive_and_bad_limits_are_usage_errors() {
    let d = tempfile::tempdir().expect("tmp");
    let a = archive(d.path());
    let out = d.path().join("x.nc");
    assert_eq!(
        code(&hiha(&[
            "decompress",
            s(&a),
            "-o",
            s(&out),
            "--frames",
            "0..9"
        ])),
        Some(2)
    );
    assert_eq!(
        code(&hiha(&[
            "decompress",
            s(&a),
            "-o",
            s(&out),
            "--max-memory",
            "-1"
        ])),
        Some(2)
    );
    // A limit below what the archive needs is refused before decoding.
    let o = hiha(&["decompress", s(&a), "-o", s(&out), "--max-memory", "0.0001"]);
    assert_eq!(code(&o), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("limit"));
    assert!(!out.exists());
}

#[test]
fn compress_reports_values_kept_exactly_and_the_packed_check() {
    let d = tempfile::tempdir().expect("tmp");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/samples/gfs_t_pl6_2p5deg_global_nc4_packed.nc");
    let out = d.path().join("p.hiha");
    let o = hiha(&["compress", s(&sample), "-o", s(&out), "--max-abs", "0.004"]);
    assert_eq!(code(&o), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    // The sample has a 4 x 10 block of fill values on one level.
    assert!(text.contains("kept exactly     40 missing"), "{text}");
    assert!(text.contains("packed values"), "{text}");
}
