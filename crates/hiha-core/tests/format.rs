//! The `.hiha` container: round trips, random access, versioning, hostile
//! input, and the size of the container itself.

#[path = "format_fixtures.rs"]
mod fixtures;

use fixtures::*;
use hiha_core::format::{
    crc32, ArchiveReader, ArchiveWriter, SectionKind, END_MAGIC, FORMAT_VERSION, MAGIC,
    MIXING_MINOR,
};
use hiha_core::meta::{AttrValue, CoordData};
use hiha_core::Error;

#[test]
fn round_trip_keeps_header_and_sections() {
    let h = small_header();
    let specs = sample_sections();
    let bytes = build(&h, &specs);
    assert_eq!(&bytes[..8], &MAGIC);
    assert_eq!(&bytes[bytes.len() - 4..], &END_MAGIC);
    let r = ArchiveReader::open(&bytes).expect("open");
    // One variable: the oldest minor that holds it, 2.0, or 2.4 when the
    // header codes smaller with header coding 2 (it does here).
    assert_eq!(r.version(), (FORMAT_VERSION.0, MIXING_MINOR));
    assert_eq!(r.header(), &h);
    assert_eq!(r.sections().len(), specs.len());
    let mut offset = r.layout().header;
    for (i, (s, (k, f, d, p))) in r.sections().iter().zip(&specs).enumerate() {
        assert_eq!(s.kind, *k);
        assert_eq!(&s.frames, f);
        assert_eq!(s.depends_on, *d);
        assert_eq!(s.offset, offset, "sections are contiguous");
        assert_eq!(s.len as usize, p.len());
        assert_eq!(s.crc32, crc32(p));
        assert_eq!(r.read(i).expect("read"), &p[..]);
        offset += s.len;
    }
    assert_eq!(r.sections_read(), specs.len());
    let l = r.layout();
    assert_eq!(l.total as usize, bytes.len());
    assert_eq!(
        l.payload as usize,
        specs.iter().map(|s| s.3.len()).sum::<usize>()
    );
    assert_eq!(l.header + l.payload + l.index, l.total);
    assert!(r.read(specs.len()).is_err());
}

#[test]
fn streaming_writer_matches_in_memory_writer() {
    let h = small_header();
    let specs = sample_sections();
    let mut w = ArchiveWriter::to_writer(std::io::Cursor::new(Vec::new()), &h).expect("header");
    let header_bytes = w.bytes_written();
    for (k, f, d, p) in &specs {
        w.add_section(*k, f.clone(), *d, p).expect("section");
    }
    assert_eq!(w.section_count() as usize, specs.len());
    assert_eq!(
        w.bytes_written(),
        header_bytes + specs.iter().map(|s| s.3.len() as u64).sum::<u64>()
    );
    let streamed = w.finish().expect("finish").into_inner();
    assert_eq!(streamed, build(&h, &specs));
}

#[test]
fn frame_ranges_select_only_their_dependency_chains() {
    let bytes = sample_archive();
    let r = ArchiveReader::open(&bytes).expect("open");
    let cases: [(std::ops::Range<u32>, &[usize]); 6] = [
        (0..1, &[0, 1, 2]),
        (1..2, &[0, 1, 2, 3]),
        (2..3, &[0, 1, 2, 3, 4, 6]),
        (3..4, &[0, 1, 5, 6]),
        (0..4, &[0, 1, 2, 3, 4, 5, 6]),
        (2..2, &[]),
    ];
    for (frames, want) in cases {
        assert_eq!(
            r.sections_for_frames(frames.clone()).expect("select"),
            want,
            "{frames:?}"
        );
    }
    assert!(matches!(
        r.sections_for_frames(3..5),
        Err(Error::InvalidInput(_))
    ));
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 3..2;
    assert!(matches!(
        r.sections_for_frames(backwards),
        Err(Error::InvalidInput(_))
    ));

    // Decoding frame 3 reads its chain only.
    assert_eq!(r.sections_read(), 0);
    for i in r.sections_for_frames(3..4).expect("select") {
        r.read(i).expect("read");
    }
    assert_eq!(r.sections_read(), 4);
}

#[test]
fn progressions_are_compact_and_everything_else_is_exact() {
    let mut h = era5_t2m_header(8760);
    let bytes = build(&h, &[]);
    // 1440 lon + 721 lat floats and 8760 times cost a few dozen bytes.
    let mut no_coords = h.clone();
    for v in &mut no_coords.meta.aux_vars {
        v.data = CoordData::I8(vec![]);
    }
    let coord_cost = bytes.len() - build(&no_coords, &[]).len();
    assert!(coord_cost < 64, "coordinates cost {coord_cost} bytes");
    let r = ArchiveReader::open(&bytes).expect("open");
    assert_eq!(r.header(), &h);

    // Near-progressions, signed zeros, NaN payloads and overflowing
    // integer steps must come back bit for bit (stored raw).
    let mut lon: Vec<f32> = (0..1440).map(|i| i as f32 * 0.25).collect();
    lon[700] = f32::from_bits(lon[700].to_bits() + 1);
    let odd = vec![
        CoordData::F32(lon),
        CoordData::F64(vec![0.0, -0.0, 0.0, 0.0]),
        CoordData::F64(vec![f64::from_bits(0x7FF8_0000_0000_0001); 5]),
        CoordData::F32(vec![f32::INFINITY; 6]),
        CoordData::I64(vec![i64::MIN, 0, i64::MAX]),
        CoordData::I64(vec![i64::MAX - 2, i64::MAX - 1, i64::MAX]),
        CoordData::I8(vec![-128, -1, 126]),
        CoordData::U8((0..=255).collect()),
        CoordData::I16(vec![]),
        CoordData::F64(vec![1.0]),
        CoordData::F32((0..100).map(|i| (i as f64 * 0.1) as f32).collect()),
        CoordData::F64((0..100).map(|i| i as f64 * 0.1).collect()),
        CoordData::F64(
            (0..1000)
                .map(|i| -180.0 + i as f64 * (360.0 / 999.0))
                .collect(),
        ),
        // Integer-valued floats go delta-coded; anything inexact stays raw.
        CoordData::F64(vec![
            1000.0,
            975.0,
            950.0,
            700.0,
            10.0,
            1.0,
            -3.0,
            9e15,
            2f64.powi(62),
        ]),
        CoordData::F32(vec![1000.0, 850.0, -0.0, 500.0]),
        CoordData::F32(vec![16_777_217.0, 3e9, -1.0]),
        CoordData::F64(vec![1.0, 2.0, 2f64.powi(63)]),
        CoordData::I32(vec![0, 6, 12, 24, 48, i32::MIN, i32::MAX]),
        CoordData::I64(vec![i64::MIN, i64::MAX, 0]),
    ];
    for (i, d) in odd.into_iter().enumerate() {
        h.meta.aux_vars[0].data = d;
        let bytes = build(&h, &[]);
        let r = ArchiveReader::open(&bytes).expect("open");
        let (a, b) = (&r.header().meta.aux_vars[0].data, &h.meta.aux_vars[0].data);
        assert_eq!(
            format!("{:?}", bits(a)),
            format!("{:?}", bits(b)),
            "case {i}"
        );
    }
}

#[test]
fn integer_valued_levels_are_delta_coded() {
    // GFS's 26 pressure levels as f64: 208 bytes raw.
    let levels = [
        1000.0, 975.0, 950.0, 925.0, 900.0, 850.0, 800.0, 750.0, 700.0, 650.0, 600.0, 550.0, 500.0,
        450.0, 400.0, 350.0, 300.0, 250.0, 200.0, 150.0, 100.0, 70.0, 50.0, 30.0, 20.0, 10.0,
    ];
    let mut h = small_header();
    let size = |h: &hiha_core::format::Header| build(h, &[]).len();
    h.meta.aux_vars[1].data = CoordData::F64(vec![]);
    let empty = size(&h);
    h.meta.aux_vars[1].data = CoordData::F64(levels.to_vec());
    assert!(size(&h) - empty < 40, "{} bytes", size(&h) - empty);
    let bytes = build(&h, &[]);
    assert_eq!(ArchiveReader::open(&bytes).expect("open").header(), &h);
}

/// Bit patterns of a coordinate (so NaN compares equal to itself).
fn bits(d: &CoordData) -> Vec<u64> {
    match d {
        CoordData::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
        CoordData::F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
        CoordData::I64(v) => v.iter().map(|&x| x as u64).collect(),
        CoordData::I32(v) => v.iter().map(|&x| x as u64).collect(),
        CoordData::I16(v) => v.iter().map(|&x| x as u64).collect(),
        CoordData::I8(v) => v.iter().map(|&x| x as u64).collect(),
        CoordData::U8(v) | CoordData::Text(v) => v.iter().map(|&x| x as u64).collect(),
    }
}

#[test]
fn writer_refuses_what_the_format_cannot_say() {
    let h = small_header();
    let mut w = ArchiveWriter::new(&h).expect("header");
    assert!(w
        .add_section(SectionKind::Residual, 0..5, None, b"x")
        .is_err());
    assert!(w
        .add_section(SectionKind::Residual, 0..1, Some(0), b"x")
        .is_err());
    assert!(w
        .add_section(SectionKind::Unknown(11), 0..1, None, b"x")
        .is_err());
    assert!(w
        .add_section(SectionKind::Unknown(0), 0..1, None, b"x")
        .is_err());
    assert_eq!(
        w.add_section(SectionKind::Residual, 0..1, None, b"x")
            .expect("ok"),
        0
    );
    assert_eq!(
        w.add_section(SectionKind::Residual, 1..2, Some(0), b"y")
            .expect("ok"),
        1
    );
    assert!(w
        .add_section(SectionKind::Residual, 1..2, Some(1), b"y")
        .is_ok());
    let mut big = h.clone();
    big.shape.frames = u32::MAX as usize + 1;
    assert!(ArchiveWriter::new(&big).is_err());
}

#[test]
fn newer_major_version_is_unsupported_and_names_both_versions() {
    let mut p = split(&sample_archive());
    p.version = (FORMAT_VERSION.0 + 1, 0);
    match ArchiveReader::open(&join(&p)) {
        Err(Error::Unsupported(m)) => {
            let theirs = format!("{}.0", FORMAT_VERSION.0 + 1);
            let ours = format!("{}.{}", FORMAT_VERSION.0, FORMAT_VERSION.1);
            assert!(m.contains(&theirs) && m.contains(&ours), "{m}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    p.version = (0, 9);
    assert!(matches!(
        ArchiveReader::open(&join(&p)),
        Err(Error::Unsupported(_))
    ));
}

/// Rewrites the kind id of index entry `entry` (index entries start with
/// their kind byte; walks the varints to find it).
fn set_kind(index: &mut [u8], entry: usize, id: u8) {
    let mut pos = 1; // count varint (< 128 entries here)
    for e in 0..=entry {
        if e == entry {
            index[pos] = id;
            return;
        }
        pos += 1;
        // variable, first frame, frame count, dependency, length (format 2)
        for _ in 0..5 {
            while index[pos] & 0x80 != 0 {
                pos += 1;
            }
            pos += 1;
        }
        pos += 4;
    }
}

#[test]
fn newer_minor_versions_add_kinds_and_fields_compatibly() {
    let mut base = split(&sample_archive());
    // As a 2.0 archive (`join` stores the header raw, which 2.0 reads).
    base.version = (FORMAT_VERSION.0, 0);

    // Same version: an unknown kind or trailing header bytes are corruption.
    let mut p = base.clone();
    set_kind(&mut p.index, 6, 0x0A);
    assert!(matches!(
        ArchiveReader::open(&join(&p)),
        Err(Error::Corrupt(_))
    ));
    let mut p = base.clone();
    p.header.extend_from_slice(b"new field");
    assert!(matches!(
        ArchiveReader::open(&join(&p)),
        Err(Error::Corrupt(_))
    ));

    // Newer minor: trailing header bytes are skipped, unknown kinds kept.
    // (From 2.1 on, a field appended after meta.var comes after the
    // variable table, here empty.)
    let mut p = base.clone();
    p.version = (FORMAT_VERSION.0, FORMAT_VERSION.1 + 1);
    p.header.push(0);
    p.header.extend_from_slice(b"new field");
    set_kind(&mut p.index, 6, 0x0B); // critical, trc 2..4
    set_kind(&mut p.index, 0, 0x90); // ancillary, mask 0..4
    let bytes = join(&p);
    let r = ArchiveReader::open(&bytes).expect("newer minor opens");
    assert_eq!(r.header(), &small_header());
    assert_eq!(r.sections()[6].kind, SectionKind::Unknown(11));
    assert_eq!(r.sections()[0].kind, SectionKind::Unknown(0x90));
    // Frames 0..2 need neither the unknown critical section nor the mask.
    assert_eq!(
        r.sections_for_frames(0..2).expect("skips ancillary"),
        vec![1, 2, 3]
    );
    match r.sections_for_frames(3..4) {
        Err(Error::Unsupported(m)) => {
            let theirs = format!("{}.{}", FORMAT_VERSION.0, FORMAT_VERSION.1 + 1);
            let ours = format!("{}.{}", FORMAT_VERSION.0, FORMAT_VERSION.1);
            assert!(m.contains(&theirs) && m.contains(&ours), "{m}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(r.read(6).is_ok(), "raw bytes stay readable");
    assert!(r.summary().contains("unknown-0x0b"));

    // Kind 0 is never valid.
    let mut p = base;
    p.version = (FORMAT_VERSION.0, FORMAT_VERSION.1 + 1);
    set_kind(&mut p.index, 2, 0);
    assert!(matches!(
        ArchiveReader::open(&join(&p)),
        Err(Error::Corrupt(_))
    ));
}

/// Opening must fail with a format error (never panic, never succeed).
fn refused(bytes: &[u8], what: &str) {
    match ArchiveReader::open(bytes) {
        Ok(_) => panic!("{what}: opened"),
        Err(
            Error::Corrupt(_)
            | Error::Truncated(_)
            | Error::Checksum { .. }
            | Error::Unsupported(_),
        ) => {}
        Err(e) => panic!("{what}: unexpected error kind {e:?}"),
    }
}

#[test]
fn hostile_lengths_are_refused_without_allocating() {
    let base = split(&sample_archive());
    let mut huge = Vec::new();
    put_varint(&mut huge, u64::MAX);

    // Header length pointing far beyond the end (CRC cannot even be found).
    let good = join(&base);
    let mut b = good[..12].to_vec();
    b.extend_from_slice(&huge);
    b.extend_from_slice(&good[12..]);
    refused(&b, "huge header length");
    // Index length pointing before the start.
    let mut b = good.clone();
    let n = b.len();
    b[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    refused(&b, "huge index length");

    // With valid CRCs: counts and lengths that the bytes cannot hold.
    let mut p = base.clone();
    p.index = vec![];
    put_varint(&mut p.index, 1 << 60);
    refused(&join(&p), "huge section count");
    let mut p = base.clone();
    p.index = vec![1];
    p.index.extend_from_slice(&[2, 0, 1, 0]); // kind residual, frames 0..1, no dep
    p.index.extend_from_slice(&huge); // length
    p.index.extend_from_slice(&[0; 4]);
    refused(&join(&p), "section length beyond the end");
    let mut p = base.clone();
    p.index = vec![1, 2, 0, 1, 0, 1, 0, 0, 0, 0]; // 1 byte section but payload holds more
    refused(&join(&p), "sections do not fill the payload");
    let mut p = base.clone();
    p.index = vec![1, 2, 0, 9, 0, 1, 0, 0, 0, 0];
    refused(&join(&p), "frames beyond the shape");
    let mut p = base.clone();
    p.index = vec![1, 2, 0, 1, 1, 1, 0, 0, 0, 0];
    refused(&join(&p), "dependency before the first section");

    // Header strings and arrays with huge lengths; progressions that would
    // expand to terabytes.
    let mut p = base.clone();
    p.header = vec![1, 1, 1, 1, 2];
    p.header.extend_from_slice(&0.1f64.to_le_bytes());
    p.header.extend_from_slice(&huge);
    refused(&join(&p), "huge codec config length");
    let with_coord = |coord: &[u8]| {
        let mut h = vec![1, 1, 1, 1, 2]; // shape 1x1x1x1, bound max-abs
        h.extend_from_slice(&0.1f64.to_le_bytes());
        h.extend_from_slice(&[0, 0, 0, 0, 1]); // config, extra, dims, attrs, 1 aux var
        h.extend_from_slice(&[1, b'x', 0, 10, 0]); // name, no dims, dtype f64, no attrs
        h.extend_from_slice(coord);
        // var 'v': no dims, 0 frame dims, no level, lat 'a', lon 'o', f64, no attrs
        h.extend_from_slice(&[1, b'v', 0, 0, 0, 0, 1, b'a', 0, 1, b'o', 10, 0]);
        let mut p = base.clone();
        p.header = h;
        p.index = vec![0];
        p.payload.clear();
        join(&p)
    };
    // The hand-made header is valid with sane coordinates.
    for ok in [
        &[10u8, 0][..],
        &[10 | 0x10, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[7 | 0x20, 1, 4],
    ] {
        ArchiveReader::open(&with_coord(ok)).expect("control header opens");
    }
    let mut c = vec![10 | 0x10]; // f64 progression of 2^40 values
    put_varint(&mut c, 1 << 40);
    c.extend_from_slice(&[0; 16]);
    refused(&with_coord(&c), "progression of 2^40 values");
    let mut c = vec![5 | 0x10]; // i32 progression leaving the i32 range
    put_varint(&mut c, 1000);
    put_varint(&mut c, 0);
    put_varint(&mut c, 1 << 40);
    refused(&with_coord(&c), "i32 progression out of range");
    let mut c = vec![7 | 0x10]; // i64 progression overflowing
    put_varint(&mut c, 1000);
    put_varint(&mut c, 0);
    put_varint(&mut c, u64::MAX - 1);
    refused(&with_coord(&c), "i64 progression overflowing");
    let mut c = vec![10]; // raw f64 array longer than the header
    put_varint(&mut c, 1 << 61);
    refused(&with_coord(&c), "raw array length");
    refused(&with_coord(&[11 | 0x10, 0]), "text progression");
    let mut c = vec![7 | 0x20, 2]; // i64 deltas overflowing
    put_varint(&mut c, u64::MAX - 1);
    put_varint(&mut c, u64::MAX - 1);
    refused(&with_coord(&c), "i64 deltas overflowing");
    let mut c = vec![10 | 0x20, 1]; // f64 delta not exactly representable
    put_varint(&mut c, ((1u64 << 53) + 1) << 1);
    refused(&with_coord(&c), "inexact f64 delta value");
    let mut c = vec![2 | 0x20, 1]; // u8 delta out of range
    put_varint(&mut c, 512);
    refused(&with_coord(&c), "u8 delta value out of range");
    let mut c = vec![3 | 0x20]; // more deltas than bytes
    put_varint(&mut c, 1 << 50);
    refused(&with_coord(&c), "delta count");
    refused(&with_coord(&[11 | 0x20, 0]), "text deltas");
    refused(&with_coord(&[12, 0]), "unknown type code");

    // Non-minimal varints and garbage.
    let mut p = base.clone();
    p.index.insert(0, 0x80 | p.index[0]);
    p.index[1] = 0;
    refused(&join(&p), "non-minimal varint");
    for n in 0..64 {
        refused(&noise(n, n as usize * 7), "noise");
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&noise(n, n as usize * 7));
        refused(&b, "magic then noise");
    }
}

#[test]
fn parsers_never_panic_on_mutated_blocks_with_valid_checksums() {
    // CRCs are recomputed after mutating, so the header and index parsers
    // themselves face the garbage.
    let base = split(&sample_archive());
    let mut seed = 1u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..6000 {
        let mut p = base.clone();
        let block = if round % 2 == 0 {
            &mut p.header
        } else {
            &mut p.index
        };
        for _ in 0..1 + rnd() % 4 {
            let at = (rnd() as usize) % block.len();
            match rnd() % 4 {
                0 => block[at] ^= 1 << (rnd() % 8),
                1 => block[at] = rnd() as u8,
                2 => {
                    block.truncate(at);
                }
                _ => block.insert(at, rnd() as u8),
            }
            if block.is_empty() {
                break;
            }
        }
        let bytes = join(&p);
        if let Ok(r) = ArchiveReader::open(&bytes) {
            for i in 0..r.sections().len() {
                let _ = r.read(i);
            }
            let _ = r.sections_for_frames(0..r.header().shape.frames.min(u32::MAX as usize) as u32);
            let _ = r.summary();
        }
    }
}

#[test]
fn summary_lists_sections_for_hiha_info() {
    let bytes = sample_archive();
    let r = ArchiveReader::open(&bytes).expect("open");
    let s = r.summary();
    assert!(s.contains("format 2.4"), "{s}");
    assert!(s.contains("variable 't'"), "{s}");
    assert!(
        s.contains("residual") && s.contains("3..4") && s.contains("trc"),
        "{s}"
    );
    assert_eq!(s.lines().count(), 3 + 8);
    let by_kind = r.bytes_by_kind();
    assert_eq!(by_kind[0], ("mask".to_string(), 23));
    assert_eq!(
        by_kind.iter().find(|(k, _)| k == "residual").map(|x| x.1),
        Some(150 + 64 + 65 + 140)
    );
    let dbg = format!("{r:?}");
    assert!(
        dbg.contains("ArchiveReader") && dbg.contains("Residual"),
        "{dbg}"
    );
}

#[test]
fn container_overhead_with_a_real_header() {
    // ERA5 t2m, 24 hourly frames at 0.25°: a day in a ~5-10 KB archive.
    let h = era5_t2m_header(24);
    let sections: Vec<Spec> =
        std::iter::once((SectionKind::Predictor, 0..24, None, noise(1, 3000)))
            .chain((0..24).map(|f| {
                (
                    SectionKind::Residual,
                    f..f + 1,
                    Some(0),
                    noise(f as u64 + 2, 250),
                )
            }))
            .collect();
    let bytes = build(&h, &sections);
    let r = ArchiveReader::open(&bytes).expect("open");
    let l = r.layout();
    let empty = build(&h, &[]);
    println!(
        "ERA5 t2m header: {}",
        r.summary().lines().next().unwrap_or("")
    );
    println!(
        "empty archive {} B; with {} sections: header {} B, index+footer {} B ({:.1} B/section), overhead {} B of {} B ({:.2}%)",
        empty.len(),
        sections.len(),
        l.header,
        l.index,
        (l.index - 12) as f64 / sections.len() as f64,
        l.overhead(),
        l.total,
        100.0 * l.overhead() as f64 / l.total as f64
    );
    // Everything but the header block: magic, version, lengths, CRCs,
    // footer, and the index.
    let text: usize = h
        .meta
        .global_attrs
        .iter()
        .chain(&h.meta.var.attrs)
        .chain(h.meta.aux_vars.iter().flat_map(|v| &v.attrs))
        .map(|a| {
            a.name.len()
                + match &a.value {
                    AttrValue::Text(t) => t.len(),
                    _ => 8,
                }
        })
        .sum::<usize>()
        + h.codec_config.len()
        + h.extra.len();
    println!(
        "header {} B of which attribute/config text {text} B",
        l.header
    );
    assert!(
        (l.header as usize) < text + 250,
        "header {} B for {text} B of text",
        l.header
    );
    assert!(
        l.index <= 12 + 2 + 11 * sections.len() as u64,
        "index {} B",
        l.index
    );
}

/// A tiny deterministic generator for the randomised round trip.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n.max(1)) as usize
    }
    fn name(&mut self, pool: &[&str]) -> String {
        if self.below(4) == 0 {
            format!("x{}é", self.below(1000))
        } else {
            pool[self.below(pool.len() as u64)].to_string()
        }
    }
    fn f64(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::from_bits(self.next()),
            1 => self.below(2000) as f64 - 1000.0,
            2 => -0.0,
            _ => (self.next() as i64 as f64) * 1e-15,
        }
    }
}

fn random_coord(r: &mut Rng) -> CoordData {
    let n = r.below(40);
    let start = r.f64();
    let step = [0.25, -0.1, 1.0, 1e-7, 3.0][r.below(5)];
    let pattern = r.below(4); // progression, integer-valued, random, constant
    let f = |i: usize, r: &mut Rng| match pattern {
        0 => start + i as f64 * step,
        1 => (r.below(100_000) as f64 - 50_000.0).trunc(),
        2 => r.f64(),
        _ => start,
    };
    let int = |i: usize, r: &mut Rng| match pattern {
        0 => 17 + i as i64 * 3,
        1 => r.below(200) as i64 - 100,
        2 => r.next() as i64,
        _ => -5,
    };
    match r.below(8) {
        0 => CoordData::F64((0..n).map(|i| f(i, r)).collect()),
        1 => CoordData::F32((0..n).map(|i| f(i, r) as f32).collect()),
        2 => CoordData::I64((0..n).map(|i| int(i, r)).collect()),
        3 => CoordData::I32((0..n).map(|i| int(i, r) as i32).collect()),
        4 => CoordData::I16((0..n).map(|i| int(i, r) as i16).collect()),
        5 => CoordData::I8((0..n).map(|i| int(i, r) as i8).collect()),
        6 => CoordData::U8((0..n).map(|i| int(i, r) as u8).collect()),
        _ => CoordData::Text((0..n).map(|_| r.next() as u8).collect()),
    }
}

fn random_attrs(r: &mut Rng) -> Vec<hiha_core::meta::Attr> {
    (0..r.below(5))
        .map(|_| {
            let n = r.below(4);
            let v = match r.below(11) {
                0 => AttrValue::Text(r.name(&["K", "degrees_north", ""])),
                1 => AttrValue::I8((0..n).map(|_| r.next() as i8).collect()),
                2 => AttrValue::U8((0..n).map(|_| r.next() as u8).collect()),
                3 => AttrValue::I16((0..n).map(|_| r.next() as i16).collect()),
                4 => AttrValue::U16((0..n).map(|_| r.next() as u16).collect()),
                5 => AttrValue::I32((0..n).map(|_| r.next() as i32).collect()),
                6 => AttrValue::U32((0..n).map(|_| r.next() as u32).collect()),
                7 => AttrValue::I64((0..n).map(|_| r.next() as i64).collect()),
                8 => AttrValue::U64((0..n).map(|_| r.next()).collect()),
                9 => AttrValue::F32((0..n).map(|_| r.f64() as f32).collect()),
                _ => AttrValue::F64((0..n).map(|_| r.f64()).collect()),
            };
            hiha_core::meta::Attr::new(r.name(&["units", "long_name", "_FillValue"]), v)
        })
        .collect()
}

#[test]
fn random_headers_round_trip_bit_for_bit() {
    use hiha_core::meta::{AuxVar, DType, Dim};
    let dims_pool = ["time", "lat", "lon", "level", "member"];
    let dtypes = [
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
    ];
    let mut r = Rng(0x5EED);
    for round in 0..400 {
        let mut h = small_header();
        h.shape.frames = r.below(1 << 20);
        h.bound = match r.below(4) {
            0 => hiha_core::bound::Bound::Nrmse(r.f64()),
            1 => hiha_core::bound::Bound::MaxAbs(r.f64()),
            2 => hiha_core::bound::Bound::Rmse(r.f64()),
            _ => hiha_core::bound::Bound::MaxRel(r.f64()),
        };
        h.codec_config = r.name(&["", "a = 1\n"]);
        h.extra = noise(round, r.below(50));
        h.meta.dims = (0..r.below(5))
            .map(|_| Dim {
                name: r.name(&dims_pool),
                len: r.below(1 << 40),
                unlimited: r.below(2) == 1,
            })
            .collect();
        h.meta.global_attrs = random_attrs(&mut r);
        h.meta.aux_vars = (0..r.below(6))
            .map(|_| AuxVar {
                name: r.name(&dims_pool),
                dims: (0..r.below(3)).map(|_| r.name(&dims_pool)).collect(),
                dtype: dtypes[r.below(dtypes.len() as u64)],
                attrs: random_attrs(&mut r),
                data: random_coord(&mut r),
            })
            .collect();
        let l = &mut h.meta.var.layout;
        l.dims = (0..r.below(5)).map(|_| r.name(&dims_pool)).collect();
        l.frame_dims = r.below(3);
        l.level_dim = (r.below(2) == 0).then(|| r.name(&dims_pool));
        l.lat_dim = r.name(&dims_pool);
        l.lon_dim = r.name(&dims_pool);
        h.meta.var.attrs = random_attrs(&mut r);

        let bytes = build(&h, &[]);
        let back = ArchiveReader::open(&bytes).expect("open").header().clone();
        // Compare through Debug of bit patterns: NaN != NaN under PartialEq.
        let coords = |h: &hiha_core::format::Header| {
            h.meta
                .aux_vars
                .iter()
                .map(|v| bits(&v.data))
                .collect::<Vec<_>>()
        };
        assert_eq!(coords(&back), coords(&h), "round {round}");
        let strip = |mut h: hiha_core::format::Header| {
            for v in &mut h.meta.aux_vars {
                v.data = CoordData::I8(vec![]);
            }
            format!("{h:?}")
        };
        assert_eq!(strip(back.clone()), strip(h.clone()), "round {round}");
        assert_eq!(
            build(&back, &[]),
            bytes,
            "re-encoding is stable, round {round}"
        );
    }
}
