//! Damage to an archive is always an error: every single-bit flip anywhere,
//! every truncation, and junk around the archive. Never a panic, never `Ok`
//! with different data.

#[path = "format_fixtures.rs"]
mod fixtures;

use fixtures::*;
use hiha_core::format::ArchiveReader;
use hiha_core::Error;

/// Opens `bytes` and reads every section; `Ok` only if all of it verified.
fn open_and_read_all(bytes: &[u8]) -> Result<(), Error> {
    let r = ArchiveReader::open(bytes)?;
    for i in 0..r.sections().len() {
        r.read(i)?;
    }
    r.sections_for_frames(0..r.header().shape.frames as u32)?;
    Ok(())
}

fn assert_format_error(res: Result<(), Error>, what: &str) {
    match res {
        Ok(()) => panic!("{what}: damaged archive read without error"),
        Err(
            Error::Corrupt(_)
            | Error::Truncated(_)
            | Error::Checksum { .. }
            | Error::Unsupported(_),
        ) => {}
        Err(e) => panic!("{what}: unexpected error kind: {e}"),
    }
}

#[test]
fn every_bit_flip_is_detected() {
    let good = sample_archive();
    assert!(open_and_read_all(&good).is_ok());
    let mut bad = good.clone();
    let mut checksum_errors = 0;
    for at in 0..good.len() {
        for bit in 0..8 {
            bad[at] ^= 1 << bit;
            let res = open_and_read_all(&bad);
            checksum_errors += matches!(res, Err(Error::Checksum { .. })) as usize;
            assert_format_error(res, &format!("bit {bit} of byte {at}"));
            bad[at] ^= 1 << bit;
        }
    }
    // Most flips are caught by a CRC (the rest by magic and structure checks).
    assert!(
        checksum_errors > good.len() * 8 * 9 / 10,
        "{checksum_errors}"
    );
}

#[test]
fn flips_inside_a_section_name_that_section_only() {
    let good = sample_archive();
    let r = ArchiveReader::open(&good).expect("open");
    let sections = r.sections().to_vec();
    for (i, s) in sections.iter().enumerate().filter(|(_, s)| s.len > 0) {
        let (o, n) = (s.offset as usize, s.len as usize);
        for at in [o, o + n / 2, o + n - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            let r = ArchiveReader::open(&bad).expect("header and index are intact");
            for j in 0..sections.len() {
                match (r.read(j), j == i) {
                    (Err(Error::Checksum { section }), true) => {
                        assert!(section.starts_with(&format!("#{i} ")), "{section}")
                    }
                    (Ok(_), false) => {}
                    (res, _) => panic!("flip at {at} in section {i}: section {j} gave {res:?}"),
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let good = sample_archive();
    for len in 0..good.len() {
        assert_format_error(
            open_and_read_all(&good[..len]),
            &format!("truncated to {len} bytes"),
        );
    }
    // Cutting at a section boundary says so plainly.
    let r = ArchiveReader::open(&good).expect("open");
    for s in r.sections() {
        let res = ArchiveReader::open(&good[..s.offset as usize]).map(|_| ());
        assert!(
            matches!(res, Err(Error::Truncated(_))),
            "cut at {}: {res:?}",
            s.offset
        );
    }
}

#[test]
fn junk_before_or_after_the_archive_is_refused() {
    let good = sample_archive();
    let mut b = good.clone();
    b.push(0);
    assert_format_error(open_and_read_all(&b), "one byte appended");
    let mut b = good.clone();
    b.extend_from_slice(&good);
    assert_format_error(open_and_read_all(&b), "archive appended to itself");
    let mut b = vec![0u8];
    b.extend_from_slice(&good);
    assert_format_error(open_and_read_all(&b), "one byte prepended");
    assert_format_error(open_and_read_all(&[]), "empty");
}
