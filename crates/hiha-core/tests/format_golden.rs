//! Golden archives: one per format version, so that an accidental change of
//! the byte layout fails a test.
//!
//! `tests/golden/v1/sample.hiha` is [`fixtures::small_header`] with
//! [`fixtures::sample_sections`]. The test (a) decodes the stored file and
//! checks its content, and (b) encodes the same input again and asserts byte
//! equality. After an *intended* format change, bump the version in
//! `docs/FORMAT.md`, add a new `golden/vN/` and regenerate with
//!
//! ```sh
//! HIHA_BLESS=1 cargo test -p hiha-core --test format_golden
//! ```
//!
//! Never re-bless an existing version's file to make a test pass: readers of
//! that version must keep reading it.

#[path = "format_fixtures.rs"]
mod fixtures;

use std::path::PathBuf;

use fixtures::*;
use hiha_core::format::{ArchiveReader, FORMAT_VERSION};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1/sample.hiha")
}

#[test]
fn golden_v1_decodes_and_re_encodes_byte_for_byte() {
    let built = sample_archive();
    let path = golden_path();
    if std::env::var_os("HIHA_BLESS").is_some_and(|v| v == "1") {
        assert_eq!(
            FORMAT_VERSION.0, 1,
            "bless a new golden/vN/ for a new major version"
        );
        std::fs::write(&path, &built).expect("write golden");
        std::fs::write(
            path.with_extension("txt"),
            ArchiveReader::open(&built).expect("open").summary(),
        )
        .expect("write summary");
    }
    let golden = std::fs::read(&path).expect("golden file (bless with HIHA_BLESS=1)");

    // (a) The stored file decodes to the fixture.
    let r = ArchiveReader::open(&golden).expect("golden opens");
    assert_eq!(r.version(), (1, 0));
    assert_eq!(r.header(), &small_header());
    let specs = sample_sections();
    assert_eq!(r.sections().len(), specs.len());
    for (i, (k, f, d, p)) in specs.iter().enumerate() {
        let s = &r.sections()[i];
        assert_eq!(
            (s.kind, &s.frames, s.depends_on),
            (*k, f, *d),
            "section {i}"
        );
        assert_eq!(r.read(i).expect("read"), &p[..], "section {i}");
    }
    assert_eq!(
        r.sections_for_frames(3..4).expect("select"),
        vec![0, 1, 5, 6]
    );
    let summary = std::fs::read_to_string(path.with_extension("txt")).expect("summary file");
    assert_eq!(r.summary(), summary);

    // (b) Encoding the same input gives the same bytes.
    if built != golden {
        let at = built.iter().zip(&golden).position(|(a, b)| a != b);
        panic!(
            "the v1 encoding changed (first difference at byte {at:?}, {} vs {} bytes); \
             if intended, this is a new format version: see the module docs",
            built.len(),
            golden.len()
        );
    }
}
