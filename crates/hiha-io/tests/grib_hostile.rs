//! Hostile GRIB input: truncated, garbled and lying files give an error,
//! never a panic or an allocation that the file's bytes do not justify.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use hiha_io::{grib, IoError};

fn samples() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(common::samples_dir())
        .expect("samples")
        .flatten()
    {
        let p = e.path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "grib" | "grb2") {
            v.push((
                p.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string(),
                std::fs::read(&p).expect("read"),
            ));
        }
    }
    v.sort();
    assert!(v.len() >= 4, "GRIB samples missing");
    v
}

/// Reads `bytes` as a GRIB file; panics are caught and reported as failures.
fn read(what: &str, bytes: &[u8]) -> Result<usize, IoError> {
    match catch_unwind(AssertUnwindSafe(|| {
        grib::read_grib_bytes(what, bytes, None)
    })) {
        Ok(r) => r.map(|d| d.variables.len()),
        Err(_) => panic!("{what}: the reader panicked"),
    }
}

/// A tiny deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_truncation_is_an_error_or_a_shorter_file() {
    for (name, bytes) in samples() {
        let step = (bytes.len() / 400).max(1);
        let mut errors = 0;
        for len in (0..bytes.len())
            .step_by(step)
            .chain(bytes.len() - 8..bytes.len())
        {
            match read(&format!("{name} cut at {len}"), &bytes[..len]) {
                Ok(_) => {}
                Err(e) => {
                    errors += 1;
                    let s = e.to_string();
                    assert!(!s.is_empty());
                }
            }
        }
        assert!(errors > 0, "{name}: no truncation was refused");
    }
}

#[test]
fn garbled_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, bytes) in samples() {
        for k in 0..300 {
            let mut b = bytes.clone();
            // 1 to 4 bytes changed, biased toward the headers (the first
            // 200 bytes of each message hold every length and key).
            for _ in 0..1 + rng.next() % 4 {
                let pos = if rng.next().is_multiple_of(2) {
                    (rng.next() % 200) as usize
                } else {
                    (rng.next() % b.len() as u64) as usize
                };
                b[pos] = rng.next() as u8;
            }
            let _ = read(&format!("{name} garbled #{k}"), &b);
        }
    }
}

/// Offsets of the sections of the first GRIB2 message of `b`: (number, start).
fn grib2_sections(b: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut pos = 16;
    while pos + 5 <= b.len() && &b[pos..pos + 4] != b"7777" {
        let len = u32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]) as usize;
        out.push((b[pos + 4], pos));
        pos += len;
    }
    out
}

#[test]
fn lying_sizes_are_refused_before_allocating() {
    let path = common::samples_dir().join("gfs_repacked_simple_complex_ccsds.grb2");
    let bytes = std::fs::read(path).expect("sample");
    let total = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
    let first = bytes[..total].to_vec();
    let secs = grib2_sections(&first);
    let s3 = secs.iter().find(|s| s.0 == 3).expect("section 3").1;
    let s5 = secs.iter().find(|s| s.0 == 5).expect("section 5").1;

    // A grid of 65535 × 65535 points (4.3 billion values) in a 15 kB message.
    let mut b = first.clone();
    b[s3 + 6..s3 + 10].copy_from_slice(&u32::MAX.to_be_bytes());
    b[s3 + 30..s3 + 34].copy_from_slice(&65535u32.to_be_bytes());
    b[s3 + 34..s3 + 38].copy_from_slice(&65535u32.to_be_bytes());
    let e = read("huge grid", &b).expect_err("refused");
    assert!(matches!(e, IoError::Corrupt { .. }), "{e}");

    // The same grid with a constant field (0 bits per value, no data at
    // all): legitimate in form, refused by the size bound.
    let mut b = first.clone();
    let points = 30_000u32 * 30_000;
    b[s3 + 6..s3 + 10].copy_from_slice(&points.to_be_bytes());
    b[s3 + 30..s3 + 34].copy_from_slice(&30_000u32.to_be_bytes());
    b[s3 + 34..s3 + 38].copy_from_slice(&30_000u32.to_be_bytes());
    b[s5 + 5..s5 + 9].copy_from_slice(&points.to_be_bytes());
    b[s5 + 19] = 0;
    let e = read("huge constant field", &b).expect_err("refused");
    assert!(e.to_string().contains("implausible"), "{e}");

    // More coded values than the data section holds.
    let mut b = first.clone();
    b[s5 + 19] = 32;
    let e = read("short data", &b).expect_err("refused");
    assert!(matches!(e, IoError::Corrupt { .. }), "{e}");

    // A message that announces more bytes than the file has.
    let mut b = first.clone();
    b[8..16].copy_from_slice(&(u64::MAX / 2).to_be_bytes());
    let e = read("long message", &b).expect_err("refused");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn other_grids_are_named() {
    let path = common::samples_dir().join("gfs_repacked_simple_complex_ccsds.grb2");
    let bytes = std::fs::read(path).expect("sample");
    let total = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
    let first = bytes[..total].to_vec();
    let s3 = grib2_sections(&first)
        .into_iter()
        .find(|s| s.0 == 3)
        .expect("section 3")
        .1;
    for (template, name) in [
        (40u16, "regular_gg"),
        (1, "rotated_ll"),
        (30, "lambert"),
        (50, "sh"),
    ] {
        let mut b = first.clone();
        b[s3 + 12..s3 + 14].copy_from_slice(&template.to_be_bytes());
        let e = read(name, &b).expect_err("refused");
        assert!(
            matches!(e, IoError::NotRegularGrid(_)) && e.to_string().contains(name),
            "{name}: {e}"
        );
    }
}
