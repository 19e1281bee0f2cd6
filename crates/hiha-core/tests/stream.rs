//! Streaming compression and decompression (issue 10, item 6): the archive
//! a streaming run writes, chunk by chunk from a frame source, is byte for
//! byte the archive the in-memory encoder writes for the same field and
//! options (every bound mode, missing values, packed sources, several
//! variables); the source is read a chunk at a time; streamed decoding
//! gives the in-memory decoder's values.

use std::io::Cursor;
use std::ops::Range;

use hiha_core::bound::Bound;
use hiha_core::codec::{
    self, CompressOptions, DecodeOptions, FieldFrames, FrameSource, NoProgress, PredictorKind,
    StreamOptions, VariableInput,
};
use hiha_core::field::{Field, Packing, Shape, MISSING};
use hiha_core::format::ArchiveReader;
use hiha_core::meta::{Attr, AttrValue, DType, DatasetMeta, Dim, VarLayout, VarMeta};

/// The real ERA5 u series of the fixtures: 6 frames × 2 levels × 41 × 41.
fn era5_u() -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/era5_u_6x2x41x41.f32"
    );
    std::fs::read(path)
        .expect("fixture")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn meta(name: &str, frames: usize, levels: usize, dtype: DType, attrs: Vec<Attr>) -> DatasetMeta {
    let dim = |name: &str, len: usize| Dim {
        name: name.into(),
        len,
        unlimited: name == "time",
    };
    DatasetMeta {
        dims: vec![
            dim("time", frames),
            dim("level", levels),
            dim("latitude", 41),
            dim("longitude", 41),
        ],
        global_attrs: vec![Attr::new("title", AttrValue::Text("stream test".into()))],
        aux_vars: vec![],
        var: VarMeta {
            name: name.into(),
            layout: VarLayout {
                dims: ["time", "level", "latitude", "longitude"]
                    .map(String::from)
                    .to_vec(),
                frame_dims: 1,
                level_dim: Some("level".into()),
                lat_dim: "latitude".into(),
                lon_dim: "longitude".into(),
            },
            dtype,
            attrs,
        },
    }
}

fn u_field() -> (Field, DatasetMeta) {
    let f = Field::new(Shape::new(6, 2, 41, 41), era5_u(), None).expect("field");
    (f, meta("u", 6, 2, DType::F32, vec![]))
}

/// The u field with missing values, NaN and infinities here and there (not
/// in every chunk).
fn u_with_specials() -> (Field, DatasetMeta) {
    let mut v = era5_u();
    let mut mask = vec![false; v.len()];
    for i in (0..v.len()).step_by(97) {
        if (i / (2 * 41 * 41)) % 3 != 1 {
            mask[i] = true;
        }
    }
    v[5] = f32::INFINITY;
    v[700] = f32::NEG_INFINITY;
    v[9000] = f32::from_bits(0x7FC0_0123);
    let f = Field::new(Shape::new(6, 2, 41, 41), v, Some(mask)).expect("field");
    assert!(f.values.iter().any(|v| v.to_bits() == MISSING.to_bits()));
    (f, meta("u", 6, 2, DType::F32, vec![]))
}

/// The u field packed as int16 would hold it (values on `scale · k + offset`).
fn u_packed() -> (Field, DatasetMeta) {
    let (scale, offset) = (0.0015, 2.5);
    let v: Vec<f32> = era5_u()
        .iter()
        .map(|&x| {
            let k = ((x as f64 - offset) / scale).round();
            (k * scale + offset) as f32
        })
        .collect();
    let mut f = Field::new(Shape::new(6, 2, 41, 41), v, None).expect("field");
    f.packing = Some(Packing { scale, offset });
    let attrs = vec![
        Attr::new("scale_factor", AttrValue::F64(vec![scale])),
        Attr::new("add_offset", AttrValue::F64(vec![offset])),
    ];
    (f, meta("u", 6, 2, DType::I16, attrs))
}

/// Streams `field` and writes the archive to memory.
fn streamed(
    field: &Field,
    meta: &DatasetMeta,
    opts: &CompressOptions,
    in_flight: usize,
) -> Vec<u8> {
    let mut src = FieldFrames::new(field);
    let stream = StreamOptions { in_flight };
    let v = codec::compress_streamed(
        &mut src,
        meta,
        opts,
        &stream,
        Cursor::new(Vec::new()),
        &NoProgress,
    )
    .expect("streamed compress");
    let report = v.report.clone();
    let (out, len) = codec::write_archive(&mut [v], Vec::new()).expect("write");
    assert_eq!(len as usize, out.len());
    assert_eq!(report.compressed_bytes, out.len());
    out
}

fn assert_same_archive(field: &Field, meta: &DatasetMeta, opts: &CompressOptions, what: &str) {
    let (mem, report) = codec::compress(field, meta, opts, &NoProgress).expect("compress");
    for in_flight in [1, 2, 3] {
        let s = streamed(field, meta, opts, in_flight);
        assert!(
            s == mem,
            "{what}, {in_flight} in flight: streamed archive ({} B) differs from the in-memory one ({} B)",
            s.len(),
            mem.len()
        );
    }
    // The report too (metrics measured in the same order).
    let mut src = FieldFrames::new(field);
    let v = codec::compress_streamed(
        &mut src,
        meta,
        opts,
        &StreamOptions::default(),
        Cursor::new(Vec::new()),
        &NoProgress,
    )
    .expect("streamed");
    assert_eq!(v.report, report, "{what}: report");
}

#[test]
fn streamed_archives_are_the_in_memory_archives_for_every_bound() {
    let (f, m) = u_field();
    let bounds = [
        Bound::Nrmse(1e-3),
        Bound::Nrmse(1e-5),
        Bound::MaxAbs(0.05),
        Bound::Rmse(0.02),
        Bound::MaxRel(1e-3),
        Bound::NrmseLevel(1e-3),
        Bound::MaxRelLevel(1e-3),
        Bound::PwRel(1e-2),
    ];
    for b in bounds {
        for chunk in [None, Some(1), Some(2), Some(4)] {
            let mut opts = CompressOptions::new(b);
            opts.chunk_frames = chunk;
            assert_same_archive(&f, &m, &opts, &format!("{b}, chunk {chunk:?}"));
        }
    }
}

#[test]
fn streamed_archives_keep_zeros_as_in_memory() {
    // Asked for on u, and by default on a field more than half zeros.
    let (f, m) = u_field();
    let mut half = f.clone();
    for v in half.values.iter_mut() {
        if *v < 2.0 {
            *v = 0.0;
        }
    }
    for b in [
        Bound::Nrmse(1e-3),
        Bound::MaxAbs(0.05),
        Bound::NrmseLevel(1e-3),
    ] {
        for chunk in [None, Some(2)] {
            let mut opts = CompressOptions::new(b);
            opts.chunk_frames = chunk;
            opts.keep_zeros = Some(true);
            assert_same_archive(&f, &m, &opts, &format!("keep-zeros {b}, chunk {chunk:?}"));
            opts.keep_zeros = None;
            assert_same_archive(
                &half,
                &m,
                &opts,
                &format!("half zeros {b}, chunk {chunk:?}"),
            );
        }
    }
}

/// Regression (review of format 2.7): an integer field more than half
/// zeros gets keep-zeros, which turns the lattice path off, and at a
/// pointwise bound below ½ its chunks go to the integer coder all the
/// same. The archive must announce field 4 with field 10 and decode, in
/// memory and streamed, to the exact values.
#[test]
fn integer_fields_with_keep_zeros_decode_in_memory_and_streamed() {
    let (f, m) = u_field();
    let mut ints = f.clone();
    for v in ints.values.iter_mut() {
        *v = if *v < 2.0 { 0.0 } else { (*v * 10.0).round() };
    }
    for chunk in [None, Some(2)] {
        let mut opts = CompressOptions::new(Bound::MaxAbs(0.1));
        opts.chunk_frames = chunk;
        let (mem, _) = codec::compress(&ints, &m, &opts, &NoProgress).expect("compress");
        assert_eq!(
            hiha_core::format::ArchiveReader::open(&mem)
                .expect("open")
                .version(),
            (2, 7)
        );
        for bytes in [mem.clone(), streamed(&ints, &m, &opts, 2)] {
            let (back, _) = codec::decompress(&bytes, None).expect("decodes");
            assert!(ints.values.iter().zip(&back.values).all(|(a, b)| a == b));
        }
        assert_same_archive(&ints, &m, &opts, &format!("integers, chunk {chunk:?}"));
    }
}

#[test]
fn the_spread_bound_is_not_streamed() {
    let (f, m) = u_field();
    let mut src = FieldFrames::new(&f);
    let err = codec::compress_streamed(
        &mut src,
        &m,
        &CompressOptions::new(Bound::Spread(1.0)),
        &StreamOptions::default(),
        Cursor::new(Vec::new()),
        &NoProgress,
    );
    assert!(err.is_err());
}

#[test]
fn streamed_archives_code_lattice_chunks_as_in_memory() {
    // ERA5 u rounded to 0.01 m/s (as GRIB's decimal scaling leaves it),
    // with its flagged elements: fine bounds code lattice indices per chunk.
    let (mut f, m) = u_with_specials();
    for (i, v) in f.values.iter_mut().enumerate() {
        if !f.missing.as_ref().is_some_and(|mm| mm[i]) {
            *v = ((*v as f64 * 100.0).round() / 100.0) as f32;
        }
    }
    for chunk in [None, Some(1), Some(4)] {
        let mut opts = CompressOptions::new(Bound::Nrmse(1e-5));
        opts.chunk_frames = chunk;
        assert_same_archive(&f, &m, &opts, &format!("lattice, chunk {chunk:?}"));
        let (mem, _) = codec::compress(&f, &m, &opts, &NoProgress).expect("compress");
        let r = hiha_core::format::ArchiveReader::open(&mem).expect("open");
        assert!(
            r.sections()
                .iter()
                .any(|s| s.kind == hiha_core::format::SectionKind::LatticeResidual),
            "chunk {chunk:?}: no lattice chunk"
        );
    }
}

#[test]
fn streamed_archives_keep_flagged_elements_and_packed_sources_as_in_memory() {
    let (f, m) = u_with_specials();
    for b in [Bound::Nrmse(1e-3), Bound::MaxAbs(0.01), Bound::PwRel(1e-3)] {
        let mut opts = CompressOptions::new(b);
        opts.chunk_frames = Some(2);
        assert_same_archive(&f, &m, &opts, &format!("specials, {b}"));
    }
    let (f, m) = u_packed();
    // Re-packing found a lattice (checked over every chunk), or none holds.
    for (b, lattice) in [
        (Bound::Nrmse(1e-3), true),
        (Bound::MaxAbs(0.05), true),
        (Bound::MaxAbs(0.001), false),
    ] {
        let mut opts = CompressOptions::new(b);
        opts.chunk_frames = Some(2);
        let (mem, _) = codec::compress(&f, &m, &opts, &NoProgress).expect("compress");
        let r = ArchiveReader::open(&mem).expect("open");
        let found = codec::repacking(r.header()).expect("config").is_some();
        assert_eq!(found, lattice, "{b}");
        assert_same_archive(&f, &m, &opts, &format!("packed, {b}"));
    }
}

#[test]
fn streamed_multi_variable_archives_are_compress_many_archives() {
    let (u, mu) = u_field();
    let (p, mut mp) = u_packed();
    mp.var.name = "up".into();
    let o1 = CompressOptions {
        chunk_frames: Some(2),
        ..CompressOptions::new(Bound::Nrmse(1e-3))
    };
    let o2 = CompressOptions::new(Bound::MaxAbs(0.05));
    let inputs = [
        VariableInput {
            field: &u,
            meta: &mu,
            opts: &o1,
        },
        VariableInput {
            field: &p,
            meta: &mp,
            opts: &o2,
        },
    ];
    let (mem, reports) = codec::compress_many(&inputs, &NoProgress).expect("many");
    let mut parts = Vec::new();
    for v in &inputs {
        let mut src = FieldFrames::new(v.field);
        parts.push(
            codec::compress_streamed(
                &mut src,
                v.meta,
                v.opts,
                &StreamOptions::default(),
                Cursor::new(Vec::new()),
                &NoProgress,
            )
            .expect("streamed"),
        );
    }
    for (p, r) in parts.iter().zip(&reports) {
        assert_eq!(&p.report, r);
    }
    let (out, _) = codec::write_archive(&mut parts, Vec::new()).expect("write");
    assert!(out == mem, "multi-variable archives differ");
}

/// A source that records what it was asked for.
struct Counting<'a> {
    inner: FieldFrames<'a>,
    requests: Vec<Range<usize>>,
}

impl FrameSource for Counting<'_> {
    fn shape(&self) -> Shape {
        self.inner.shape()
    }
    fn packing(&self) -> Option<Packing> {
        self.inner.packing()
    }
    fn read_frames(&mut self, frames: Range<usize>) -> hiha_core::Result<Field> {
        self.requests.push(frames.clone());
        self.inner.read_frames(frames)
    }
}

#[test]
fn the_source_is_read_a_chunk_at_a_time_in_two_passes() {
    let (f, m) = u_field();
    for (b, passes) in [(Bound::Nrmse(1e-3), 2), (Bound::MaxAbs(0.05), 2)] {
        let opts = CompressOptions {
            chunk_frames: Some(2),
            ..CompressOptions::new(b)
        };
        let mut src = Counting {
            inner: FieldFrames::new(&f),
            requests: Vec::new(),
        };
        codec::compress_streamed(
            &mut src,
            &m,
            &opts,
            &StreamOptions { in_flight: 1 },
            Cursor::new(Vec::new()),
            &NoProgress,
        )
        .expect("streamed");
        assert!(
            src.requests.iter().all(|r| r.len() <= 2),
            "{:?}",
            src.requests
        );
        let frames: usize = src.requests.iter().map(|r| r.len()).sum();
        assert_eq!(frames, passes * 6, "{b}: {:?}", src.requests);
    }
}

#[test]
fn predictors_that_need_the_whole_field_are_refused_clearly() {
    let (f, m) = u_field();
    let mut opts = CompressOptions::new(Bound::Nrmse(1e-3));
    opts.predictor = PredictorKind::Fic;
    let mut src = FieldFrames::new(&f);
    let err = codec::compress_streamed(
        &mut src,
        &m,
        &opts,
        &StreamOptions::default(),
        Cursor::new(Vec::new()),
        &NoProgress,
    )
    .expect_err("refused");
    assert!(err.to_string().contains("predictor none"), "{err}");
}

#[test]
fn streamed_decoding_gives_the_in_memory_values() {
    let (f, m) = u_with_specials();
    let opts = CompressOptions {
        chunk_frames: Some(2),
        ..CompressOptions::new(Bound::Nrmse(1e-3))
    };
    let (bytes, _) = codec::compress(&f, &m, &opts, &NoProgress).expect("compress");
    let reader = ArchiveReader::open(&bytes).expect("open");
    let view = reader.for_variable(0).expect("view");
    let dopts = DecodeOptions::default();
    for (frames, batch) in [(None, 1), (None, 2), (Some(1..5), 1), (Some(3..4), 3)] {
        let (want, want_meta) =
            codec::decompress_with(&bytes, frames.clone(), &dopts).expect("decode");
        let mut values = Vec::new();
        let mut missing = Vec::new();
        let mut next = frames.clone().map_or(0, |r| r.start);
        codec::decompress_streamed(&view, frames.clone(), &dopts, batch, &mut |r, piece| {
            assert_eq!(r.start, next, "batches in order");
            assert!(r.len() <= 2 * batch, "batch {r:?}");
            next = r.end;
            assert_eq!(piece.shape.frames, r.len());
            let n = piece.values.len();
            values.extend_from_slice(&piece.values);
            missing.extend(piece.missing.unwrap_or_else(|| vec![false; n]));
            Ok(())
        })
        .expect("streamed decode");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&want.values), "{frames:?}");
        let want_missing = want.missing.unwrap_or_else(|| vec![false; values.len()]);
        assert_eq!(missing, want_missing);
        assert_eq!(
            codec::variable_meta(view.header(), frames).expect("meta"),
            want_meta
        );
    }
}

/// A path of this test's own under the system's temp dir.
fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("hiha-core-stream-{}-{name}", std::process::id()))
}

#[test]
fn decoding_from_a_file_reads_only_each_batchs_sections() {
    let (u, mu) = u_with_specials();
    let (p, mut mp) = u_packed();
    mp.var.name = "up".into();
    let o1 = CompressOptions {
        chunk_frames: Some(2),
        ..CompressOptions::new(Bound::Nrmse(1e-3))
    };
    let o2 = CompressOptions {
        chunk_frames: Some(1),
        ..CompressOptions::new(Bound::MaxAbs(0.05))
    };
    let inputs = [
        VariableInput {
            field: &u,
            meta: &mu,
            opts: &o1,
        },
        VariableInput {
            field: &p,
            meta: &mp,
            opts: &o2,
        },
    ];
    let (bytes, _) = codec::compress_many(&inputs, &NoProgress).expect("many");
    let path = temp_path("two.hiha");
    std::fs::write(&path, &bytes).expect("write");
    let file = hiha_core::format::ArchiveFile::open(&path).expect("open");
    assert_eq!(
        file.sections().len(),
        ArchiveReader::open(&bytes).expect("open").sections().len()
    );
    let dopts = DecodeOptions::default();
    for (k, name) in ["u", "up"].iter().enumerate() {
        for (frames, batch) in [(None, 1), (Some(1..5), 2), (Some(5..6), 1)] {
            let (want, _) =
                codec::decompress_variable(&bytes, name, frames.clone(), &dopts).expect("decode");
            let mut got = Vec::new();
            codec::decompress_file_streamed(
                &file,
                k,
                frames.clone(),
                &dopts,
                batch,
                &mut |_, f| {
                    got.extend(f.values.iter().map(|x| x.to_bits()));
                    Ok(())
                },
            )
            .expect("streamed");
            let want: Vec<u32> = want.values.iter().map(|x| x.to_bits()).collect();
            assert!(got == want, "{name} {frames:?}");
        }
    }
    // Damage in the last section of variable "u": batches that do not need
    // it decode, the one that does is refused.
    let r = ArchiveReader::open(&bytes).expect("open");
    let (i, s) = r
        .sections()
        .iter()
        .enumerate()
        .rfind(|(_, s)| s.variable == 0 && s.len > 0)
        .expect("a section");
    let mut bad = bytes.clone();
    bad[s.offset as usize] ^= 0x40;
    let bad_path = temp_path("bad.hiha");
    std::fs::write(&bad_path, &bad).expect("write");
    let file = hiha_core::format::ArchiveFile::open(&bad_path).expect("open");
    let early = s.frames.start as usize;
    codec::decompress_file_streamed(&file, 0, Some(0..early), &dopts, 1, &mut |_, _| Ok(()))
        .expect("frames before the damage");
    let err = codec::decompress_file_streamed(&file, 0, None, &dopts, 1, &mut |_, _| Ok(()))
        .expect_err("damage found");
    assert!(
        matches!(err, hiha_core::Error::Checksum { .. }),
        "section {i}: {err}"
    );
    // A truncated file does not open.
    std::fs::write(&bad_path, &bytes[..bytes.len() - 5]).expect("write");
    assert!(hiha_core::format::ArchiveFile::open(&bad_path).is_err());
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(&bad_path).ok();
}
