//! Golden archives: one per format version, so that an accidental change of
//! the byte layout fails a test.
//!
//! `tests/golden/vN/sample.hiha` is [`fixtures::small_header`] with
//! [`fixtures::sample_sections`]. The test (a) decodes the stored file and
//! checks its content, and (b) encodes the same input again and asserts byte
//! equality. After an *intended* format change, bump the version in
//! `docs/FORMAT.md`, add a new `golden/vN/` and regenerate with
//!
//! ```sh
//! HIHA_BLESS=1 cargo test -p hiha-core --test format_golden
//! ```
//!
//! Blessing writes only golden files that do not exist yet: an existing
//! version's file is never rewritten to make a test pass, since readers of
//! that version must keep reading it.

mod common;
#[path = "format_fixtures.rs"]
mod fixtures;

use std::path::PathBuf;

use fixtures::*;
use hiha_core::format::{
    crc32, squeeze_v1, unsqueeze, ArchiveReader, ArchiveWriter, SectionKind, FORMAT_VERSION,
    MIXING_MINOR,
};

/// `bytes` (an archive this build wrote) with its header block coded as
/// formats before 2.4 code it (codings 0 and 1) and labelled `minor`: what
/// this build's writer wrote before header coding 2, byte for byte.
fn with_v1_header_coding(bytes: &[u8], minor: u16) -> Vec<u8> {
    let (mut len, mut shift, mut pos) = (0usize, 0, 12);
    loop {
        let b = bytes[pos];
        len |= ((b & 0x7F) as usize) << shift;
        shift += 7;
        pos += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let raw = unsqueeze(&bytes[pos..pos + len], 1 << 28).expect("header block");
    let block = squeeze_v1(&raw);
    let mut out = bytes[..10].to_vec();
    out.extend_from_slice(&minor.to_le_bytes());
    let mut n = block.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&block);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&bytes[pos + len + 4..]);
    out
}

/// Whether to write the golden file at `path`: with `HIHA_BLESS=1`, and
/// only when it does not exist. An existing golden file is never rewritten
/// (readers of its version must keep reading it); to re-make the file of a
/// version that never left the repository, delete it first.
fn bless(path: &std::path::Path) -> bool {
    let asked = std::env::var_os("HIHA_BLESS").is_some_and(|v| v == "1");
    if asked && path.exists() {
        eprintln!("{}: exists, not rewritten", path.display());
    }
    asked && !path.exists()
}

fn golden_path(major: u16) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/v{major}/sample.hiha"))
}

/// Checks that a stored golden file decodes to the fixture.
fn check_golden(golden: &[u8], major: u16) -> ArchiveReader<'_> {
    let r = ArchiveReader::open(golden).expect("golden opens");
    assert_eq!(r.version(), (major, 0));
    assert_eq!(r.header(), &small_header());
    let specs = sample_sections();
    assert_eq!(r.sections().len(), specs.len());
    for (i, (k, f, d, p)) in specs.iter().enumerate() {
        let s = &r.sections()[i];
        assert_eq!(
            (s.kind, &s.frames, s.depends_on, s.variable),
            (*k, f, *d, 0),
            "section {i}"
        );
        assert_eq!(r.read(i).expect("read"), &p[..], "section {i}");
    }
    assert_eq!(
        r.sections_for_frames(3..4).expect("select"),
        vec![0, 1, 5, 6]
    );
    r
}

/// Format 1 archives keep decoding (this build no longer writes them).
#[test]
fn golden_v1_still_decodes() {
    let path = golden_path(1);
    let golden = std::fs::read(&path).expect("golden v1 file");
    let r = check_golden(&golden, 1);
    let summary = std::fs::read_to_string(path.with_extension("txt")).expect("summary file");
    // The summary format is this build's; only the version line is v1's own.
    assert!(summary.starts_with("hiha archive, format 1.0"));
    assert!(r.summary().starts_with("hiha archive, format 1.0"));
}

#[test]
fn golden_v2_decodes_and_re_encodes_byte_for_byte() {
    let built = sample_archive();
    let path = golden_path(2);
    if bless(&path) {
        assert_eq!(
            FORMAT_VERSION.0, 2,
            "bless a new golden/vN/ for a new major version"
        );
        std::fs::create_dir_all(path.parent().expect("dir")).expect("golden dir");
        std::fs::write(&path, &built).expect("write golden");
        std::fs::write(
            path.with_extension("txt"),
            ArchiveReader::open(&built).expect("open").summary(),
        )
        .expect("write summary");
    }
    let golden = std::fs::read(&path).expect("golden file (bless with HIHA_BLESS=1)");

    // (a) The stored file decodes to the fixture.
    let r = check_golden(&golden, 2);
    let summary = std::fs::read_to_string(path.with_extension("txt")).expect("summary file");
    assert_eq!(r.summary(), summary);

    // (b) Encoding the same input gives the same bytes (with the header
    // coded as 2.0 coded it; the 2.4 golden below covers header coding 2).
    let built = with_v1_header_coding(&built, 0);
    if built != golden {
        let at = built.iter().zip(&golden).position(|(a, b)| a != b);
        panic!(
            "the v2 encoding changed (first difference at byte {at:?}, {} vs {} bytes); \
             if intended, this is a new format version: see the module docs",
            built.len(),
            golden.len()
        );
    }
}

/// Format 2.1: a two-variable archive. Readers see each variable as a
/// one-variable archive; the writer reproduces the file byte for byte.
#[test]
fn golden_v2_multi_variable_decodes_and_re_encodes_byte_for_byte() {
    let built = multi_archive();
    let path = golden_path(2).with_file_name("multi.hiha");
    if bless(&path) {
        std::fs::write(&path, &built).expect("write golden");
    }
    let golden = std::fs::read(&path).expect("golden file (bless with HIHA_BLESS=1)");
    let r = ArchiveReader::open(&golden).expect("opens");
    assert_eq!(r.version(), (2, 1));
    assert_eq!(r.header(), &multi_header());
    assert_eq!(r.variable_count(), 2);
    assert_eq!(r.variable_index("sp"), Some(1));
    // Variable 0 is the one-variable sample, section for section.
    let v0 = r.for_variable(0).expect("variable 0");
    assert_eq!(v0.header(), &small_header());
    assert_eq!(v0.sections().len(), sample_sections().len());
    assert_eq!(
        v0.sections_for_frames(3..4).expect("select"),
        vec![0, 1, 5, 6]
    );
    // Variable 1: its own header, its two sections, the dependency renumbered.
    let v1 = r.for_variable(1).expect("variable 1");
    assert_eq!(v1.header().meta.var.name, "sp");
    assert_eq!(v1.header().shape.levels, 1);
    assert_eq!(v1.header().meta.aux_vars, small_header().meta.aux_vars);
    assert_eq!(v1.sections().len(), 2);
    assert_eq!(v1.sections()[1].depends_on, Some(0));
    assert_eq!(v1.sections_for_frames(0..1).expect("select"), vec![0, 1]);
    let specs = multi_sections();
    assert_eq!(v1.read(1).expect("read"), &specs[9].1 .3[..]);
    assert!(r.for_variable(2).is_err());
    if with_v1_header_coding(&built, 1) != golden {
        panic!("the v2.1 encoding changed; if intended, this is a new format version");
    }
    // Taking variable 0 out gives the one-variable golden file itself.
    let alone = hiha_core::format::extract_variable(&golden, 0).expect("extract");
    assert_eq!(
        with_v1_header_coding(&alone, 0),
        std::fs::read(golden_path(2)).expect("v2 sample")
    );
    assert_eq!(
        alone,
        std::fs::read(golden_path(2).with_file_name("sample24.hiha")).expect("v2.4 sample")
    );
}

/// Format 2.4: the one-variable sample as this build writes it, its header
/// block in header coding 2 (context mixing over a primer).
#[test]
fn golden_v2_4_header_coding_decodes_and_re_encodes_byte_for_byte() {
    let built = sample_archive();
    let path = golden_path(2).with_file_name("sample24.hiha");
    if bless(&path) {
        std::fs::write(&path, &built).expect("write golden");
    }
    let golden = std::fs::read(&path).expect("golden file (bless with HIHA_BLESS=1)");
    let r = ArchiveReader::open(&golden).expect("opens");
    assert_eq!(r.version(), (2, MIXING_MINOR));
    assert_eq!(r.header(), &small_header());
    assert_eq!(r.layout().header, 487, "the coded header's size");
    let v1 = std::fs::read(golden_path(2)).expect("v2 sample");
    assert!(
        golden.len() + 300 < v1.len(),
        "{} vs {} bytes",
        golden.len(),
        v1.len()
    );
    if built != golden {
        let at = built.iter().zip(&golden).position(|(a, b)| a != b);
        panic!(
            "the v2.4 encoding changed (first difference at byte {at:?}); if intended, this \
             is a new format version: see the module docs"
        );
    }
    // Labelled older (its checksum redone), the header coding is refused.
    let mut old = golden.clone();
    old[10..12].copy_from_slice(&3u16.to_le_bytes());
    let h1 = r.layout().header as usize - 4;
    let crc = crc32(&old[..h1]);
    old[h1..h1 + 4].copy_from_slice(&crc.to_le_bytes());
    match ArchiveReader::open(&old) {
        Err(hiha_core::Error::Corrupt(m)) => assert!(m.contains("new in 2.4"), "{m}"),
        other => panic!("expected Corrupt, got {:?}", other.map(|r| r.version())),
    }
}

/// Sections may not reach across variables, and variable ids must exist.
#[test]
fn multi_variable_writer_refuses_cross_variable_dependencies() {
    let mut w = ArchiveWriter::new(&multi_header()).expect("header");
    let first = w
        .add_variable_section(0, SectionKind::Mask, 0..4, None, b"x")
        .expect("section");
    assert!(w
        .add_variable_section(1, SectionKind::Residual, 0..4, Some(first), b"y")
        .is_err());
    assert!(w
        .add_variable_section(2, SectionKind::Residual, 0..4, None, b"y")
        .is_err());
    // Variable 1 has 4 frames, like variable 0; 0..5 is out.
    assert!(w
        .add_variable_section(1, SectionKind::Residual, 0..5, None, b"y")
        .is_err());
}

/// Format 2.2: real codec streams (wavelet packet plan, mode 4) of the ERA5
/// u fixture, at an RMSE and a pointwise bound. The stored archives must
/// keep decoding to the same values, bit for bit (their CRC32 is stored
/// beside them), within their bounds. Bless new files with `HIHA_BLESS=1`
/// only for a new format version.
#[test]
fn golden_v2_2_codec_streams_decode_to_the_same_values() {
    use hiha_core::bound::Bound;
    use hiha_core::field::{Field, Shape};

    let u: Vec<f32> = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/era5_u_6x2x41x41.f32"
    ))
    .expect("fixture")
    .chunks_exact(4)
    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    .collect();
    let field = Field::new(Shape::new(6, 2, 41, 41), u, None).expect("field");
    let meta = common_meta();
    for (name, bound) in [
        ("codec_u_nrmse.hiha", Bound::Nrmse(1e-3)),
        ("codec_u_maxabs.hiha", Bound::MaxAbs(0.05)),
    ] {
        // A packet-plan archive is 2.2. Blessing would now write 2.3: these
        // files are never blessed again.
        check_codec_golden(name, &field, &meta, bound, (2, 2));
    }
}

/// Format 2.3: real codec streams with primed models (ERA5 u at an RMSE
/// bound, mode 11), max-abs corrections (ERA5 u, pointwise), and segmented
/// streams (mode 6: the GFS t fixture over 8 frames that drift smoothly, as
/// in `tests/lattice.rs`, at NRMSE 1e-4). The stored archives must keep
/// decoding to the same values, bit for bit, within their bounds. Bless new
/// files with `HIHA_BLESS=1` only for a new format version.
#[test]
fn golden_v2_3_codec_streams_decode_to_the_same_values() {
    use hiha_core::bound::Bound;

    let (u, t8) = codec_fixtures();
    let cases = [
        ("codec23_u_nrmse.hiha", &u, "u", Bound::Nrmse(1e-3)),
        ("codec23_u_maxabs.hiha", &u, "u", Bound::MaxAbs(0.05)),
        ("codec23_t_seg.hiha", &t8, "t", Bound::Nrmse(1e-4)),
    ];
    for (name, field, var, bound) in cases {
        let s = field.shape;
        let meta = common::grid_meta(var, [s.frames, s.levels, s.lat, s.lon]);
        check_codec_golden(name, field, &meta, bound, (2, 3));
    }
    // The wavelet modes the files hold: primed packet (11), segmented (6).
    assert!(golden_modes("codec23_u_nrmse.hiha").contains(&11));
    assert!(golden_modes("codec23_t_seg.hiha").contains(&6));
}

/// Format 2.5: real codec streams with zero maps of the detail bands (the
/// ZERO_MAP flag 0x20 on the wavelet mode byte): ERA5 u at NRMSE 1e-2
/// (primed packet plan, mode 11), where the finest bands are all zero, and
/// the drifting GFS t at NRMSE 1e-4 (segmented, mode 6). They must keep
/// decoding to the same values, bit for bit, within their bounds. Bless new
/// files with `HIHA_BLESS=1` only for a new format version.
#[test]
fn golden_v2_5_codec_streams_decode_to_the_same_values() {
    use hiha_core::bound::Bound;

    let (u, t8) = codec_fixtures();
    let cases = [
        ("codec25_u_coarse.hiha", &u, "u", Bound::Nrmse(1e-2)),
        ("codec25_t_seg.hiha", &t8, "t", Bound::Nrmse(1e-4)),
    ];
    for (name, field, var, bound) in cases {
        let s = field.shape;
        let meta = common::grid_meta(var, [s.frames, s.levels, s.lat, s.lon]);
        check_codec_golden(name, field, &meta, bound, (2, 5));
    }
    assert!(golden_modes("codec25_u_coarse.hiha").contains(&(11 | 0x20)));
    assert!(golden_modes("codec25_t_seg.hiha").contains(&(6 | 0x20)));
}

/// Format 2.6: per-level ranges delta coded (extra field 9), on the
/// drifting GFS t (3 levels over 8 frames) at NRMSE 1e-3. The archive must
/// keep decoding to the same values, bit for bit, within its bound, and
/// field 9 must give the ranges it gave when written. Bless new files with
/// `HIHA_BLESS=1` only for a new format version.
#[test]
fn golden_v2_6_delta_coded_level_ranges_decode_to_the_same_values() {
    use hiha_core::bound::Bound;

    let (_, t8) = codec_fixtures();
    let s = t8.shape;
    let meta = common::grid_meta("t", [s.frames, s.levels, s.lat, s.lon]);
    let name = "codec26_t_ranges.hiha";
    check_codec_golden(name, &t8, &meta, Bound::Nrmse(1e-3), (2, 6));
    let golden = std::fs::read(golden_path(2).with_file_name(name)).expect("golden");
    let r = ArchiveReader::open(&golden).expect("opens");
    let extra = &r.header().extra;
    assert!(
        hiha_core::format::extra_tags(extra).any(|t| t == 9),
        "extra {extra:?}"
    );
    assert!(!hiha_core::format::extra_tags(extra).any(|t| t == 7 || t == 1));
}

/// Format 2.7: lattice indices coded losslessly (residual tag 4, extra
/// field 10), on the real GFS t fixture (3 levels, on its GRIB lattice) at
/// max-abs 0.01 K, finer than half its step. The archive must keep
/// decoding to the source's values, bit for bit. Bless new files with
/// `HIHA_BLESS=1` only for a new format version.
#[test]
fn golden_v2_7_lossless_lattice_indices_decode_to_the_same_values() {
    use hiha_core::bound::Bound;

    let t = gfs_t_fixture();
    let s = t.shape;
    let meta = common::grid_meta("t", [s.frames, s.levels, s.lat, s.lon]);
    let name = "codec27_t_lossless.hiha";
    check_codec_golden(name, &t, &meta, Bound::MaxAbs(0.01), (2, 7));
    let golden = std::fs::read(golden_path(2).with_file_name(name)).expect("golden");
    let r = ArchiveReader::open(&golden).expect("opens");
    assert!(hiha_core::format::extra_tags(&r.header().extra).any(|t| t == 10));
    let (g, _) = hiha_core::codec::decompress(&golden, None).expect("decodes");
    for (i, (a, b)) in t.values.iter().zip(&g.values).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "element {i}");
    }
}

/// The real GFS t fixture: 3 levels of 73 × 144, on its GRIB lattice.
fn gfs_t_fixture() -> hiha_core::field::Field {
    use hiha_core::field::{Field, Shape};
    let t: Vec<f32> = std::fs::read(format!(
        "{}/tests/data/gfs_t_lev10-12_3x73x144.f32",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
    .chunks_exact(4)
    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    .collect();
    Field::new(Shape::new(1, 3, 73, 144), t, None).expect("field")
}

/// The codec goldens' fields: the ERA5 u fixture (6 × 2 × 41 × 41), and
/// the GFS t fixture's 3 levels over 8 frames that drift smoothly, as in
/// `tests/lattice.rs`.
fn codec_fixtures() -> (hiha_core::field::Field, hiha_core::field::Field) {
    use hiha_core::field::{Field, Shape};
    let read = |name: &str| -> Vec<f32> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
            .expect("fixture")
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let u = read("era5_u_6x2x41x41.f32");
    let u = Field::new(Shape::new(6, 2, 41, 41), u, None).expect("field");
    let t = read("gfs_t_lev10-12_3x73x144.f32");
    let n = t.len();
    let drift: Vec<f32> = (0..8 * n)
        .map(|i| {
            let (fr, j) = ((i / n) as f32, i % n);
            t[j] + 0.4 * fr * (1.0 + ((j % 144) as f32 * 0.05).sin())
        })
        .collect();
    let t8 = Field::new(Shape::new(8, 3, 73, 144), drift, None).expect("field");
    (u, t8)
}

/// The wavelet mode bytes of the residual sections of golden file `name`.
fn golden_modes(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(golden_path(2).with_file_name(name)).expect("golden");
    let r = ArchiveReader::open(&bytes).expect("opens");
    (0..r.sections().len())
        .filter(|&i| r.sections()[i].kind == hiha_core::format::SectionKind::Residual)
        .filter_map(|i| hiha_core::residual::wavelet_mode(r.read(i).expect("read")))
        .collect()
}

/// Compresses `field` (with `HIHA_BLESS=1`) or reads the golden archive
/// `name`, and checks its version, that it decodes to the stored CRC32 of
/// values, and its bound on every element.
fn check_codec_golden(
    name: &str,
    field: &hiha_core::field::Field,
    meta: &hiha_core::meta::DatasetMeta,
    bound: hiha_core::bound::Bound,
    version: (u16, u16),
) {
    use hiha_core::bound::Bound;
    use hiha_core::codec::{self, CompressOptions, NoProgress};
    let path = golden_path(2).with_file_name(name);
    let sums = path.with_extension("crc32");
    if bless(&path) {
        let (bytes, _) = codec::compress(field, meta, &CompressOptions::new(bound), &NoProgress)
            .expect("compress");
        let (g, _) = codec::decompress(&bytes, None).expect("decode");
        std::fs::write(&path, &bytes).expect("write golden");
        std::fs::write(&sums, format!("{:08x}\n", values_crc(&g.values))).expect("write crc");
    }
    let golden = std::fs::read(&path).expect("golden file (bless with HIHA_BLESS=1)");
    let r = ArchiveReader::open(&golden).expect("opens");
    assert_eq!(r.version(), version, "{name}");
    let (g, _) = codec::decompress(&golden, None).expect("decodes");
    let want = std::fs::read_to_string(&sums).expect("crc file");
    assert_eq!(
        format!("{:08x}", values_crc(&g.values)),
        want.trim(),
        "{name}: the decoded values changed"
    );
    let x = &field.values;
    let range =
        x.iter().fold(f32::MIN, |a, &b| a.max(b)) - x.iter().fold(f32::MAX, |a, &b| a.min(b));
    let mut sse = 0.0f64;
    let mut worst = 0.0f64;
    for (a, b) in x.iter().zip(&g.values) {
        let d = (*a as f64 - *b as f64).abs();
        sse += d * d;
        worst = worst.max(d);
    }
    match bound {
        Bound::Nrmse(t) => assert!((sse / x.len() as f64).sqrt() / range as f64 <= t, "{name}"),
        Bound::MaxAbs(e) => assert!(worst <= e, "{name}: {worst}"),
        _ => unreachable!(),
    }
}

/// CRC32 of the values' bits.
fn values_crc(v: &[f32]) -> u32 {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
    crc32fast::hash(&bytes)
}

fn common_meta() -> hiha_core::meta::DatasetMeta {
    common::grid_meta("u", [6, 2, 41, 41])
}
