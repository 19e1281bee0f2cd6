//! Regression tests for the reliability defects of issue 9 that live in the
//! core: special values, hostile archives (bounded time and memory),
//! checked sizes, and the per-chunk hash of the decoded values.
//!
//! Each test names the defect it pins; each failed on the code before the fix.

use std::time::Instant;

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, DecodeOptions, NoProgress, PredictorKind};
use hiha_core::field::{is_missing_marker, Field, Packing, Shape, MISSING};
use hiha_core::format::{ArchiveReader, ArchiveWriter, SectionKind};
use hiha_core::meta::{DType, DatasetMeta, Dim, VarLayout, VarMeta};
use hiha_core::metrics::Metrics;
use hiha_core::Error;

fn meta(frames: usize, levels: usize, lat: usize, lon: usize) -> DatasetMeta {
    let dim = |name: &str, len: usize| Dim {
        name: name.into(),
        len,
        unlimited: false,
    };
    DatasetMeta {
        dims: vec![
            dim("time", frames),
            dim("level", levels),
            dim("lat", lat),
            dim("lon", lon),
        ],
        global_attrs: vec![],
        aux_vars: vec![],
        var: VarMeta {
            name: "x".into(),
            layout: VarLayout {
                dims: ["time", "level", "lat", "lon"].map(String::from).to_vec(),
                frame_dims: 1,
                level_dim: Some("level".into()),
                lat_dim: "lat".into(),
                lon_dim: "lon".into(),
            },
            dtype: DType::F32,
            attrs: vec![],
        },
    }
}

/// A smooth field with some structure, `frames × 2 × 24 × 36`.
fn smooth(frames: usize) -> (Field, DatasetMeta) {
    let shape = Shape::new(frames, 2, 24, 36);
    let values: Vec<f32> = (0..shape.len())
        .map(|i| {
            let x = (i % 36) as f32;
            let y = ((i / 36) % 24) as f32;
            let t = (i / (36 * 24 * 2)) as f32;
            250.0 + 20.0 * (x * 0.17 + t * 0.3).sin() * (y * 0.13).cos() + 0.01 * (i % 7) as f32
        })
        .collect();
    (
        Field::new(shape, values, None).expect("field"),
        meta(frames, 2, 24, 36),
    )
}

/// Copies every section of `bytes` into a new archive, letting `edit`
/// change payloads; CRCs are recomputed, as an attacker would.
fn rebuild(bytes: &[u8], mut edit: impl FnMut(usize, SectionKind, &mut Vec<u8>)) -> Vec<u8> {
    let r = ArchiveReader::open(bytes).expect("opens");
    let mut w = ArchiveWriter::new(r.header()).expect("writer");
    for (i, s) in r.sections().iter().enumerate() {
        let mut p = r.read(i).expect("read").to_vec();
        edit(i, s.kind, &mut p);
        w.add_section(s.kind, s.frames.clone(), s.depends_on, &p)
            .expect("add");
    }
    w.finish().expect("finish")
}

/// Defect 3: +inf, -inf and NaN became missing values and came back as NaN.
#[test]
fn infinities_and_nan_come_back_bit_for_bit_and_are_counted() {
    let (mut field, meta) = smooth(2);
    let odd_nan = f32::from_bits(0x7FC0_1234);
    let specials = [
        (5, f32::INFINITY),
        (77, f32::NEG_INFINITY),
        (901, f32::INFINITY),
        (1500, f32::NAN),
        (2000, odd_nan),
    ];
    for &(i, v) in &specials {
        field.values[i] = v;
    }
    let mut missing = vec![false; field.values.len()];
    missing[3000] = true;
    let field = Field::new(field.shape, field.values, Some(missing)).expect("field");
    let c = field.special_counts();
    assert_eq!((c.missing, c.nan, c.pos_inf, c.neg_inf), (1, 2, 2, 1));
    for bound in [Bound::Nrmse(1e-3), Bound::MaxAbs(0.01)] {
        let (bytes, report) =
            codec::compress(&field, &meta, &CompressOptions::new(bound), &NoProgress)
                .expect("compresses");
        assert_eq!(report.metrics.n, field.values.len() - 6);
        let (back, _) = codec::decompress(&bytes, None).expect("decodes");
        assert_eq!(back.missing, field.missing);
        for &(i, v) in &specials {
            assert_eq!(back.values[i].to_bits(), v.to_bits(), "element {i}");
        }
        assert!(is_missing_marker(back.values[3000]));
        assert_eq!(back.special_counts(), c);
    }
}

/// Defect 4: `--max-abs` was verified on the f32 copy of packed values, so
/// the source's own values (scale·k + offset in f64) missed the bound.
#[test]
fn packed_sources_meet_max_abs_against_their_exact_values() {
    let p = Packing {
        scale: 0.0017516854,
        offset: 268.36658,
    };
    let shape = Shape::new(1, 1, 101, 246);
    let ks: Vec<f64> = (0..shape.len())
        .map(|i| (((i as f64) * 0.37).sin() * 20000.0 + (i % 13) as f64).round())
        .collect();
    let values: Vec<f32> = ks
        .iter()
        .map(|&k| (k * p.scale + p.offset) as f32)
        .collect();
    let mut field = Field::new(shape, values, None).expect("field");
    field.packing = Some(p);
    let e = 0.0030866882675343447;
    let (bytes, report) = codec::compress(
        &field,
        &meta(1, 1, 101, 246),
        &CompressOptions::new(Bound::MaxAbs(e)),
        &NoProgress,
    )
    .expect("compresses");
    assert!(report.metrics.max_abs <= e);
    let (back, _) = codec::decompress(&bytes, None).expect("decodes");
    let worst = ks
        .iter()
        .zip(&back.values)
        .map(|(&k, &r)| (k * p.scale + p.offset - r as f64).abs())
        .fold(0.0f64, f64::max);
    assert!(
        worst <= e,
        "worst error {worst} against the exact values, bound {e}"
    );
}

/// Defect 5: reconstructions overshot the input's range (and so its
/// valid_min/valid_max). Decoded values now stay within [min, max].
#[test]
fn reconstructions_stay_within_the_input_range() {
    let (field, meta) = smooth(3);
    let (lo, hi) = field.value_range().expect("range");
    for bound in [Bound::Nrmse(1e-2), Bound::MaxRel(1e-2), Bound::MaxAbs(2.0)] {
        let (bytes, _) = codec::compress(&field, &meta, &CompressOptions::new(bound), &NoProgress)
            .expect("compresses");
        let (back, _) = codec::decompress(&bytes, None).expect("decodes");
        assert!(
            back.values.iter().all(|&v| (lo..=hi).contains(&v)),
            "{bound}: a value outside [{lo}, {hi}]"
        );
        let m = Metrics::compute(&field.values, &back.values, None).expect("metrics");
        bound.check(&m).expect("bound");
    }
}

/// Defect 6: chunk bookkeeping was quadratic in the number of chunks
/// (160 k one-frame chunks took 17.6 s).
#[test]
fn many_single_frame_chunks_decode_in_linear_time() {
    let frames = 20_000;
    let shape = Shape::new(frames, 1, 2, 2);
    let values: Vec<f32> = (0..shape.len()).map(|i| (i % 17) as f32).collect();
    let field = Field::new(shape, values, None).expect("field");
    let mut opts = CompressOptions::new(Bound::MaxAbs(0.5));
    opts.chunk_frames = Some(1);
    let (bytes, _) =
        codec::compress(&field, &meta(frames, 1, 2, 2), &opts, &NoProgress).expect("compresses");
    let t = Instant::now();
    let (back, _) = codec::decompress(&bytes, None).expect("decodes");
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(back.values.len(), field.values.len());
    // Quadratic bookkeeping took ~0.3 s at 20 k chunks and grows 4x per
    // doubling; linear decoding takes a few ms here.
    assert!(dt < 5.0, "{dt} s for {frames} chunks");
}

/// Defect 7: 257 mask sections over frame 0 wrapped a u8 counter and were
/// accepted (a dev build panicked). Two sections of one kind for one chunk
/// are corrupt.
#[test]
fn repeated_sections_for_one_chunk_are_corrupt() {
    let (field, meta) = smooth(2);
    let mut opts = CompressOptions::new(Bound::Nrmse(1e-3));
    opts.chunk_frames = Some(1);
    let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).expect("compresses");
    let r = ArchiveReader::open(&bytes).expect("opens");
    let mut w = ArchiveWriter::new(r.header()).expect("writer");
    for _ in 0..257 {
        w.add_section(
            SectionKind::Mask,
            0..1,
            None,
            &hiha_core::mask::encode(&[false; 1728], &[0.0; 1728]),
        )
        .expect("add");
    }
    for (i, s) in r.sections().iter().enumerate() {
        w.add_section(s.kind, s.frames.clone(), None, r.read(i).expect("read"))
            .expect("add");
    }
    let bad = w.finish().expect("finish");
    assert!(matches!(
        codec::decompress(&bad, None),
        Err(Error::Corrupt(_))
    ));
}

/// Defect 8: a flipped bit in a predictor section, with its CRC recomputed,
/// decoded with exit 0 to values far off. The chunk hash catches it.
#[test]
fn damaged_sections_with_valid_crcs_are_caught_by_the_value_hash() {
    let (field, meta) = smooth(4);
    let mut opts = CompressOptions::new(Bound::Nrmse(1e-3));
    opts.predictor = PredictorKind::Fic;
    opts.chunk_frames = Some(2);
    opts.fic.gain_check = false;
    opts.fic.ceiling_check = false;
    opts.fic.rd_check = false;
    let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).expect("compresses");
    let (good, _) = codec::decompress(&bytes, None).expect("decodes");
    let r = ArchiveReader::open(&bytes).expect("opens");
    let n = r.sections().len();
    let mut caught = 0;
    for target in 0..n {
        let kind = r.sections()[target].kind;
        let len = r.sections()[target].len as usize;
        if len == 0 || kind == SectionKind::Check {
            continue;
        }
        for at in [len / 2, len - 1, 0] {
            let bad = rebuild(&bytes, |i, _, p| {
                if i == target {
                    p[at] ^= 0x04;
                }
            });
            match codec::decompress(&bad, None) {
                Err(_) => caught += 1,
                Ok((back, _)) => assert!(
                    back.values
                        .iter()
                        .zip(&good.values)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "section {target} ({kind}) byte {at}: decoded wrong values without an error"
                ),
            }
        }
    }
    assert!(caught > 0);
    // `verify` reports a damaged archive; a clean one passes.
    assert!(codec::verify(&bytes, &DecodeOptions::default()).is_ok());
}

/// Defect 6: a header claiming 2^28 raw bytes cost 267 MB and 12 s. The raw
/// length must be justified by the coded bytes.
#[test]
fn a_header_bomb_is_refused_at_once() {
    let mut block = vec![1u8];
    // varint 2^28
    block.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x01]);
    block.extend(std::iter::repeat_n(0u8, 1 << 20));
    let t = Instant::now();
    assert!(matches!(
        hiha_core::format::unsqueeze(&block, 1 << 28),
        Err(Error::Corrupt(_))
    ));
    assert!(t.elapsed().as_secs_f64() < 1.0);
}

/// Defect 6: a 257-byte archive declaring 3e8 values reached 3.47 GB and
/// aborted. The declared output is checked against a limit before any
/// allocation.
#[test]
fn a_huge_declared_shape_is_refused_before_allocation() {
    let (field, meta) = smooth(1);
    let (bytes, _) = codec::compress(
        &field,
        &meta,
        &CompressOptions::new(Bound::Nrmse(1e-3)),
        &NoProgress,
    )
    .expect("compresses");
    let r = ArchiveReader::open(&bytes).expect("opens");
    let mut h = r.header().clone();
    h.shape = Shape::new(1, 1, 17_320, 17_320); // 3e8 values
    let bad = ArchiveWriter::new(&h).expect("w").finish().expect("bytes");
    assert!(bad.len() < 4096);
    let small = DecodeOptions {
        max_memory: 256 << 20,
        ..DecodeOptions::default()
    };
    match codec::decompress_with(&bad, None, &small) {
        Err(Error::Unsupported(m)) => assert!(m.contains("limit"), "{m}"),
        other => panic!("expected a refusal, got {:?}", other.map(|(f, _)| f.shape)),
    }
}

/// An archive without check sections (format 2 requires one per chunk) is
/// corrupt; the missing hash cannot silently disable the check.
#[test]
fn format_2_chunks_need_their_check_section() {
    let (field, meta) = smooth(2);
    let (bytes, _) = codec::compress(
        &field,
        &meta,
        &CompressOptions::new(Bound::Nrmse(1e-3)),
        &NoProgress,
    )
    .expect("compresses");
    let r = ArchiveReader::open(&bytes).expect("opens");
    let mut w = ArchiveWriter::new(r.header()).expect("writer");
    for (i, s) in r.sections().iter().enumerate() {
        if s.kind != SectionKind::Check {
            w.add_section(s.kind, s.frames.clone(), None, r.read(i).expect("read"))
                .expect("add");
        }
    }
    let stripped = w.finish().expect("finish");
    assert!(matches!(
        codec::decompress(&stripped, None),
        Err(Error::Corrupt(_))
    ));
    assert!(MISSING.is_nan());
}
