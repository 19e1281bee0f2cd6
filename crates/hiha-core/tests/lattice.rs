//! Sources that were already quantised (issue 12.5): values on a lattice
//! or a small table are coded as indices, losslessly, when the bound asks
//! for an error finer than their spacing; archives that do so are format
//! 2.1 and older readers refuse them instead of decoding indices.

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress, VariableInput};
use hiha_core::error::Error;
use hiha_core::field::{Field, Shape, MISSING};
use hiha_core::format::{self, ArchiveReader, ArchiveWriter, SectionKind};
use hiha_core::meta::DatasetMeta;

mod common;

/// Real GFS temperature (3 levels of 73 x 144), on the lattice that GRIB
/// packing left it on.
fn gfs_t() -> Field {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gfs_t_lev10-12_3x73x144.f32"
    );
    let v: Vec<f32> = std::fs::read(path)
        .expect("fixture")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Field::new(Shape::new(1, 3, 73, 144), v, None).expect("field")
}

fn meta() -> DatasetMeta {
    common::grid_meta("t", [1, 3, 73, 144])
}

fn compress(field: &Field, bound: Bound) -> Vec<u8> {
    let opts = CompressOptions::new(bound);
    codec::compress(field, &meta(), &opts, &NoProgress)
        .expect("compress")
        .0
}

fn lattice_coded(bytes: &[u8]) -> bool {
    let r = ArchiveReader::open(bytes).expect("open");
    let kinds: Vec<SectionKind> = r.sections().iter().map(|s| s.kind).collect();
    assert!(
        !(kinds.contains(&SectionKind::Residual) && kinds.contains(&SectionKind::LatticeResidual)),
        "one chunk kind per variable here"
    );
    kinds.contains(&SectionKind::LatticeResidual)
}

fn assert_bit_identical(field: &Field, bytes: &[u8]) {
    let (back, _) = codec::decompress(bytes, None).expect("decode");
    for (i, (a, b)) in field.values.iter().zip(&back.values).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "element {i}: {a} vs {b}");
    }
}

#[test]
fn a_fine_bound_on_a_lattice_source_is_lossless_and_smaller() {
    let f = gfs_t();
    let fine = compress(&f, Bound::Nrmse(1e-5));
    assert!(lattice_coded(&fine));
    // Format 2.7: the indices are coded losslessly (residual tag 4).
    assert_eq!(ArchiveReader::open(&fine).expect("open").version(), (2, 7));
    assert_bit_identical(&f, &fine);
    // The same field off its lattice (one value in three nudged by 64
    // ulps) is coded as values, and needs more bytes for the same bound.
    let mut off = f.clone();
    for (i, v) in off.values.iter_mut().enumerate() {
        if i % 3 == 0 {
            *v = f32::from_bits(v.to_bits() + 64);
        }
    }
    let lossy = compress(&off, Bound::Nrmse(1e-5));
    assert!(!lattice_coded(&lossy));
    assert!(
        fine.len() * 5 < lossy.len() * 4,
        "lattice {} B against values {} B",
        fine.len(),
        lossy.len()
    );
    // A coarse bound gains nothing from exactness: values (a wavelet
    // stream with primed models, format 2.3; coarse level ranges and the
    // header coding, 2.4; a zero map where a band is all zero, 2.5; level
    // ranges delta coded, 2.6), no lattice.
    let coarse = compress(&f, Bound::Nrmse(1e-2));
    assert!(!lattice_coded(&coarse));
    assert!(
        [(2, 4), (2, 5), (2, 6)].contains(&ArchiveReader::open(&coarse).expect("open").version())
    );
}

#[test]
fn few_uneven_values_are_coded_as_ranks_in_a_table() {
    // Integer "humidity" from the real field, with a few hundredths near
    // the bottom, as GFS relative humidity has: a lattice of 0.01 whose
    // values are mostly a unit apart.
    let mut f = gfs_t();
    let lo = f.value_range().expect("range").0;
    for (i, v) in f.values.iter_mut().enumerate() {
        *v = (*v - lo).round();
        if i % 97 == 0 {
            *v = 0.01 * (i % 7) as f32;
        }
    }
    let bytes = compress(&f, Bound::MaxRel(1e-4));
    assert!(lattice_coded(&bytes));
    assert_bit_identical(&f, &bytes);
    // The section starts with its lattice: form 2, a table.
    let r = ArchiveReader::open(&bytes).expect("open");
    let i = r
        .sections()
        .iter()
        .position(|s| s.kind == SectionKind::LatticeResidual)
        .expect("lattice section");
    assert_eq!(r.read(i).expect("payload")[0], 2, "a table, not a lattice");
}

#[test]
fn missing_nan_and_infinite_elements_keep_their_bits_on_a_lattice() {
    let mut f = gfs_t();
    let mut missing = vec![false; f.values.len()];
    for i in (0..f.values.len()).step_by(41) {
        missing[i] = true;
        f.values[i] = match i % 3 {
            0 => MISSING,
            1 => f32::NAN,
            _ => f32::NEG_INFINITY,
        };
    }
    let f = Field::new(f.shape, f.values, Some(missing)).expect("field");
    let bytes = compress(&f, Bound::Nrmse(1e-5));
    assert!(lattice_coded(&bytes));
    let (back, _) = codec::decompress(&bytes, None).expect("decode");
    assert_eq!(back.missing, f.missing);
    for (i, (a, b)) in f.values.iter().zip(&back.values).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "element {i}: {a} vs {b}");
    }
}

#[test]
fn other_bounds_and_predictors_never_code_indices() {
    let f = gfs_t();
    for bound in [Bound::PwRel(1e-5), Bound::NrmseLevel(1e-5)] {
        assert!(!lattice_coded(&compress(&f, bound)), "{bound}");
    }
    let mut opts = CompressOptions::new(Bound::Nrmse(1e-5));
    opts.predictor = codec::PredictorKind::Fic;
    let (bytes, _) = codec::compress(&f, &meta(), &opts, &NoProgress).expect("fic");
    assert!(!lattice_coded(&bytes));
}

#[test]
fn a_lattice_variable_in_a_multi_variable_archive() {
    let t = gfs_t();
    let mut warm = t.clone();
    // Off any lattice and with too many distinct values for a table.
    for (i, v) in warm.values.iter_mut().enumerate() {
        *v += (i % 17) as f32 * 0.0137 + (i % 5) as f32 * 0.00071;
    }
    let (mt, mut mw) = (meta(), meta());
    mw.var.name = "warm".into();
    let opts = CompressOptions::new(Bound::Nrmse(1e-5));
    let inputs = [
        VariableInput {
            field: &warm,
            meta: &mw,
            opts: &opts,
        },
        VariableInput {
            field: &t,
            meta: &mt,
            opts: &opts,
        },
    ];
    let (bytes, _) = codec::compress_many(&inputs, &NoProgress).expect("two variables");
    let back = codec::decompress_variable(&bytes, "t", None, &Default::default())
        .expect("t")
        .0;
    assert!(t
        .values
        .iter()
        .zip(&back.values)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    let alone = format::extract_variable(&bytes, 1).expect("extract t");
    assert!(lattice_coded(&alone));
    // 2.7: the indices are coded losslessly.
    assert_eq!(ArchiveReader::open(&alone).expect("open").version(), (2, 7));
    assert_bit_identical(&t, &alone);
    let other = format::extract_variable(&bytes, 0).expect("extract warm");
    assert!(!lattice_coded(&other));
    // 2.4 for its header coding, 2.5 where its stream has a zero map, 2.6
    // where its level ranges are delta coded.
    assert!(
        [(2, 4), (2, 5), (2, 6)].contains(&ArchiveReader::open(&other).expect("open").version())
    );
}

/// The archive with its version set to `minor`, the header block stored
/// raw (header coding 0, which every version reads: so that only what the
/// test is about decides) and its CRC redone.
fn with_minor(bytes: &[u8], minor: u16) -> Vec<u8> {
    let (mut len, mut used) = (0usize, 0usize);
    while bytes[12 + used] & 0x80 != 0 {
        len |= ((bytes[12 + used] & 0x7f) as usize) << (7 * used);
        used += 1;
    }
    len |= (bytes[12 + used] as usize) << (7 * used);
    let h0 = 12 + used + 1;
    let mut block = vec![0u8];
    block.extend(format::unsqueeze(&bytes[h0..h0 + len], 1 << 28).expect("header"));
    let mut b = bytes[..10].to_vec();
    b.extend_from_slice(&minor.to_le_bytes());
    let mut n = block.len();
    while n >= 0x80 {
        b.push((n as u8) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    b.extend_from_slice(&block);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b.extend_from_slice(&bytes[h0 + len + 4..]);
    b
}

#[test]
fn a_lattice_archive_labelled_2_0_is_refused() {
    let bytes = compress(&gfs_t(), Bound::Nrmse(1e-5));
    // Its own label, the header stored raw, decodes (2.7: the indices are
    // coded losslessly); labelled 2.6, it is refused (extra field 10).
    let own = ArchiveReader::open(&bytes).expect("open").version().1;
    assert_eq!(own, 7);
    assert!(codec::decompress(&with_minor(&bytes, own), None).is_ok());
    match codec::decompress(&with_minor(&bytes, 6), None) {
        Err(Error::Corrupt(m)) => assert!(m.contains("2.7"), "{m}"),
        other => panic!("expected field 10 refused in 2.6, got {other:?}"),
    }
    let old = with_minor(&bytes, 0);
    match codec::decompress(&old, None) {
        Err(Error::Corrupt(m)) => assert!(m.contains("0x0a"), "{m}"),
        other => panic!("expected the kind refused, got {other:?}"),
    }
    // A 2.0 archive whose header announces lattice chunks (extra field 4),
    // even with plain residual sections, is refused too.
    let plain = compress(&gfs_t(), Bound::Nrmse(1e-2));
    let mut extra = ArchiveReader::open(&plain)
        .expect("open")
        .header()
        .extra
        .clone();
    extra.extend_from_slice(&[4, 0]);
    let announced = with_extra(&plain, extra);
    // 2.4 to 2.6: the residual streams use primed models (2.3) and zero
    // maps where a band is all zero (2.5), the header coarse level ranges
    // (2.4), delta coded where that is shorter (2.6).
    let v = ArchiveReader::open(&announced).expect("open").version();
    assert!([(2, 4), (2, 5), (2, 6)].contains(&v), "{v:?}");
    assert!(
        codec::decompress(&announced, None).is_ok(),
        "{v:?} allows it"
    );
    match codec::decompress(&with_minor(&announced, 0), None) {
        Err(Error::Corrupt(m)) => assert!(m.contains("2.0"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A pointwise bound of a step or more (0.12 K on GFS t's 0.1 K lattice):
/// the indices coded near-losslessly (format 2.7) when that is smaller than
/// the values' stream; every element within the bound either way, and on
/// the lattice when the indices were coded.
#[test]
fn a_bound_of_a_step_codes_the_indices_near_losslessly() {
    let f = gfs_t();
    let e = 0.1216;
    let bytes = compress(&f, Bound::MaxAbs(e));
    assert!(
        lattice_coded(&bytes),
        "near-lossless indices expected on GFS t"
    );
    assert_eq!(ArchiveReader::open(&bytes).expect("open").version(), (2, 7));
    let (back, _) = codec::decompress(&bytes, None).expect("decode");
    let step = 0.1f64;
    for (a, b) in f.values.iter().zip(&back.values) {
        assert!((*a as f64 - *b as f64).abs() <= e, "{a} vs {b}");
        // On the lattice: a whole number of steps from the source value.
        let k = (*a as f64 - *b as f64) / step;
        assert!((k - k.round()).abs() < 1e-3, "{a} vs {b}");
    }
}

/// A 2.7 archive whose header no longer announces its lossless indices
/// (extra field 10 removed, relabelled 2.6) is refused: its tag 4 streams
/// are a coding the announced codings do not include.
#[test]
fn unannounced_lossless_indices_are_refused() {
    let bytes = compress(&gfs_t(), Bound::MaxRel(1e-4));
    let r = ArchiveReader::open(&bytes).expect("open");
    assert_eq!(r.version(), (2, 7));
    let h = r.header();
    // Drop field 10 (u8 tag, varint length, body) from the extra fields.
    let (mut kept, mut at) = (Vec::new(), 0);
    let mut dropped = false;
    while at < h.extra.len() {
        let (tag, len) = (h.extra[at], h.extra[at + 1] as usize);
        assert!(len < 0x80, "short fields only here");
        if tag == 10 {
            dropped = true;
        } else {
            kept.extend_from_slice(&h.extra[at..at + 2 + len]);
        }
        at += 2 + len;
    }
    assert!(dropped, "no field 10 in {:?}", h.extra);
    let stripped = with_extra(&bytes, kept);
    match codec::decompress(&stripped, None) {
        Err(Error::Corrupt(m)) => assert!(m.contains("2.7"), "{m}"),
        other => panic!("expected the stream refused, got {other:?}"),
    }
}

#[test]
fn a_level_profile_makes_the_archive_2_1() {
    // The real field's 3 levels repeated to 24, climbing between levels as
    // geopotential height does: the wavelet coder removes the profile first.
    let t = gfs_t();
    let plane = 73 * 144;
    let values: Vec<f32> = (0..24 * plane)
        .map(|i| {
            let l = (i / plane) as f32;
            t.values[i % (3 * plane)] + 1200.0 * l * (1.0 + 0.04 * l)
        })
        .collect();
    let f = Field::new(Shape::new(1, 24, 73, 144), values, None).expect("field");
    let mut m = meta();
    m.dims[1].len = 24;
    let opts = CompressOptions::new(Bound::Nrmse(1e-3));
    let (bytes, _) = codec::compress(&f, &m, &opts, &NoProgress).expect("compress");
    let r = ArchiveReader::open(&bytes).expect("open");
    let profiled = (0..r.sections().len()).any(|i| {
        r.sections()[i].kind == SectionKind::Residual
            && hiha_core::residual::needs_format_2_1(r.read(i).expect("read"))
    });
    assert!(profiled, "no residual uses the level profile");
    // The profile's means are quantised (wavelet mode 5, new in 2.2), over
    // a stream with primed models (mode 12, new in 2.3) and a zero map
    // (2.5); its 24 close level ranges are delta coded (2.6).
    assert_eq!(r.version(), (2, 6));
    match codec::decompress(&with_minor(&bytes, 0), None) {
        Err(Error::Corrupt(m)) => assert!(m.contains("2.0"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Copies an archive with the header's extra bytes replaced.
fn with_extra(bytes: &[u8], extra: Vec<u8>) -> Vec<u8> {
    let r = ArchiveReader::open(bytes).expect("open");
    let mut h = r.header().clone();
    h.extra = extra;
    let mut w = ArchiveWriter::new(&h).expect("header");
    for (i, s) in r.sections().iter().enumerate() {
        w.add_section(
            s.kind,
            s.frames.clone(),
            s.depends_on,
            r.read(i).expect("read"),
        )
        .expect("copy");
    }
    w.finish().expect("finish")
}

/// The real field's 3 levels over 8 frames that drift smoothly: the frames
/// take a level, so the wavelet coder uses its packet plan (new in 2.2).
fn drifting_frames() -> Field {
    let t = gfs_t();
    let n = 3 * 73 * 144;
    let values: Vec<f32> = (0..8 * n)
        .map(|i| {
            let (fr, j) = ((i / n) as f32, i % n);
            t.values[j] + 0.4 * fr * (1.0 + ((j % 144) as f32 * 0.05).sin())
        })
        .collect();
    Field::new(Shape::new(8, 3, 73, 144), values, None).expect("field")
}

/// Codings new in 2.3 make the archive 2.3 and announce them (extra field
/// 6): at a coarse bound the primed models (wavelet mode 11), at a fine one
/// segmented streams (mode 6). Labelled older, or without the announcement,
/// the archive is refused.
#[test]
fn codings_new_in_2_3_make_the_archive_2_3_and_older_labels_are_refused() {
    let f = drifting_frames();
    for (t, mode) in [(1e-2, 11u8), (1e-5, 6)] {
        let mut opts = CompressOptions::new(Bound::Nrmse(t));
        opts.chunk_frames = Some(8);
        let (bytes, _) = codec::compress(
            &f,
            &common::grid_meta("t", [8, 3, 73, 144]),
            &opts,
            &NoProgress,
        )
        .expect("compress");
        let r = ArchiveReader::open(&bytes).expect("open");
        let modes: Vec<u8> = (0..r.sections().len())
            .filter(|&i| r.sections()[i].kind == SectionKind::Residual)
            .filter_map(|i| hiha_core::residual::wavelet_mode(r.read(i).expect("read")))
            .collect();
        // (With the zero-map flag of 2.5 on the mode byte.)
        assert!(
            modes.iter().any(|&m| m & !0x20 == mode),
            "{t}: modes {modes:?}"
        );
        // 2.5 for the zero maps, 2.6 for the delta-coded level ranges.
        assert_eq!(r.version(), (2, 6));
        assert!(
            hiha_core::format::extra_tags(&r.header().extra).any(|t| t == 9),
            "level ranges delta coded"
        );
        let extra = r.header().extra.clone();
        assert!(extra.windows(2).any(|w| w == [6, 0]), "extra {extra:?}");
        assert!(extra.windows(2).any(|w| w == [8, 0]), "extra {extra:?}");
        // Decodes, within the bound.
        let (g, _) = codec::decompress(&bytes, None).expect("decode");
        let m = hiha_core::metrics::Metrics::compute(&f.values, &g.values, None).expect("metrics");
        assert!(m.nrmse <= t, "nrmse {}", m.nrmse);
        // Read from a file, batch by batch (each batch an excerpt that its
        // own writer labels) or as a coarse preview, the file's label is
        // checked just the same.
        let dir =
            std::env::temp_dir().join(format!("hiha-lattice-label-{}-{t}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (minor, ok) in [(6u16, true), (5, false), (3, false)] {
            let path = dir.join(format!("t{minor}.hiha"));
            std::fs::write(&path, with_minor(&bytes, minor)).expect("write");
            let file = hiha_core::format::ArchiveFile::open(&path).expect("open");
            let opts = codec::DecodeOptions::default();
            let streamed =
                codec::decompress_file_streamed(&file, 0, None, &opts, 1, &mut |_, _| Ok(()));
            assert_eq!(streamed.is_ok(), ok, "2.{minor}: {streamed:?}");
            let popts = codec::preview::PreviewOptions::new(2);
            let preview = codec::preview::preview_variable(&file, 0, &popts);
            assert_eq!(preview.is_ok(), ok, "2.{minor} preview");
        }
        std::fs::remove_dir_all(&dir).ok();
        // Labelled 2.5 … 2.0: the announcement is refused.
        for minor in [0, 1, 2, 3, 4, 5] {
            match codec::decompress(&with_minor(&bytes, minor), None) {
                Err(Error::Corrupt(m)) => assert!(
                    m.contains("2.6")
                        || m.contains("2.5")
                        || m.contains("2.3")
                        || m.contains("2.2"),
                    "{m}"
                ),
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
        // An archive that does not announce its 2.3 codings (field 6) or
        // its zero maps (field 8, 2.5): the stream is refused.
        for (tag, why) in [(6u8, ["2.3", "2.5"]), (8, ["2.5", "2.5"])] {
            let quiet: Vec<u8> = extra
                .chunks(2)
                .filter(|c| *c != [tag, 0])
                .flatten()
                .copied()
                .collect();
            match codec::decompress(&with_extra(&bytes, quiet), None) {
                Err(Error::Corrupt(m)) => {
                    assert!(m.contains(why[0]) || m.contains(why[1]), "{m}")
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }
}
