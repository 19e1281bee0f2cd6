//! Coarse previews (`hiha decompress --preview K`, issue 12 item 8): only
//! the coarse wavelet subbands of each chunk are read from the archive file,
//! the output is every 2^K-th point of lat and lon; chunks coded otherwise
//! are read whole and subsampled; damaged files give errors, not panics.

use hiha_core::bound::Bound;
use hiha_core::codec::preview::{self, PreviewOptions, PREVIEW_ATTR};
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Shape};
use hiha_core::format::{ArchiveFile, ArchiveReader, SectionKind};
use hiha_core::meta::{AuxVar, CoordData, DType, DatasetMeta};
use hiha_core::metrics::Metrics;
use std::path::PathBuf;

mod common;

/// A real ERA5 ensemble temperature series, 4 × 2 × 61 × 120.
fn era5_t() -> Field {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/era5_t_4x2x61x120.f32"
    );
    let bytes = std::fs::read(path).expect("fixture");
    let v: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Field::new(Shape::new(4, 2, 61, 120), v, None).expect("field")
}

/// Metadata with latitude and longitude coordinates and an attribute.
fn meta_for(s: Shape) -> DatasetMeta {
    let mut m = common::grid_meta("t", [s.frames, s.levels, s.lat, s.lon]);
    let coord = |name: &str, v: Vec<f64>| AuxVar {
        name: name.into(),
        dims: vec![name.into()],
        dtype: DType::F64,
        attrs: vec![],
        data: CoordData::F64(v),
    };
    m.aux_vars.push(coord(
        "latitude",
        (0..s.lat).map(|i| 90.0 - 3.0 * i as f64).collect(),
    ));
    m.aux_vars.push(coord(
        "longitude",
        (0..s.lon).map(|i| 3.0 * i as f64).collect(),
    ));
    m.global_attrs.push(hiha_core::meta::Attr::new(
        "title",
        hiha_core::meta::AttrValue::Text("fixture".into()),
    ));
    m
}

fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hiha-preview-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    let p = d.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn compress(field: &Field, bound: Bound) -> Vec<u8> {
    codec::compress(
        field,
        &meta_for(field.shape),
        &CompressOptions::new(bound),
        &NoProgress,
    )
    .expect("compress")
    .0
}

fn sub<T: Copy>(v: &[T], s: Shape, step: usize) -> Vec<T> {
    preview::subsample(v, s.frames * s.levels, s.lat, s.lon, step)
}

#[test]
fn a_preview_reads_part_of_the_archive_and_is_the_coarse_field() {
    let f = era5_t();
    let archive = compress(&f, Bound::Nrmse(1e-3));
    let path = write_tmp("t.hiha", &archive);
    let (full, _) = codec::decompress(&archive, None).expect("decompress");
    for vertical in [true, false] {
        let file = ArchiveFile::open(&path).expect("open");
        let opts = PreviewOptions {
            vertical,
            ..PreviewOptions::new(2)
        };
        let (p, meta, stats) = preview::preview_variable(&file, 0, &opts).expect("preview");
        assert_eq!(p.shape, Shape::new(4, 2, 16, 30));
        assert_eq!(p.values.len(), 4 * 2 * 16 * 30);
        assert!(stats.partial_chunks >= 1, "{stats:?}");
        assert_eq!(stats.whole_chunks, 0);
        assert!(
            file.bytes_read() < archive.len() as u64 * 3 / 4,
            "read {} of {} bytes",
            file.bytes_read(),
            archive.len()
        );
        // Coordinates strided from index 0, attributes kept, the preview noted.
        assert_eq!(meta.dim("latitude").map(|d| d.len), Some(16));
        assert_eq!(meta.dim("longitude").map(|d| d.len), Some(30));
        let lat = &meta.aux("latitude").expect("lat").data;
        assert_eq!(
            lat,
            &CoordData::F64((0..16).map(|i| 90.0 - 12.0 * i as f64).collect())
        );
        assert!(meta.global_attrs.iter().any(|a| a.name == "title"));
        assert!(meta.global_attrs.iter().any(|a| a.name == PREVIEW_ATTR));
        // Close to the full decode subsampled the same way (a smooth
        // field), but not equal to it: the fine bands are left out.
        let want = sub(&full.values, f.shape, 4);
        let m = Metrics::compute(&want, &p.values, None).expect("metrics");
        let range = m.range;
        assert!(m.rmse > 0.0, "the preview is the full decode");
        assert!(m.rmse < 0.02 * range, "rmse {} of range {range}", m.rmse);
    }
}

#[test]
fn missing_values_stay_missing_at_their_subsampled_positions() {
    let f = era5_t();
    let s = f.shape;
    // A block of missing values and a scatter of them.
    let missing: Vec<bool> = (0..f.values.len())
        .map(|i| {
            let (lat, lon) = ((i / s.lon) % s.lat, i % s.lon);
            (10..30).contains(&lat) && (40..70).contains(&lon) || i % 37 == 0
        })
        .collect();
    let values: Vec<f32> = f
        .values
        .iter()
        .zip(&missing)
        .map(|(&v, &m)| if m { f32::NAN } else { v })
        .collect();
    let g = Field::new(s, values, Some(missing.clone())).expect("field");
    let archive = compress(&g, Bound::Nrmse(1e-3));
    let path = write_tmp("masked.hiha", &archive);
    let file = ArchiveFile::open(&path).expect("open");
    let (p, _, stats) =
        preview::preview_variable(&file, 0, &PreviewOptions::new(2)).expect("preview");
    assert!(stats.partial_chunks >= 1);
    let want = sub(&missing, s, 4);
    assert!(want.iter().any(|&m| m) && want.iter().any(|&m| !m));
    assert_eq!(p.missing.as_deref(), Some(want.as_slice()));
    for (v, &m) in p.values.iter().zip(&want) {
        assert_eq!(v.is_nan(), m, "{v} at a point missing: {m}");
    }
}

#[test]
fn chunks_that_are_not_wavelet_coded_are_read_whole_and_exact() {
    // A pointwise relative bound codes signs and logarithms, and a
    // constant field has no residual: every chunk is decoded whole, so the
    // preview is the full decode subsampled.
    let t = era5_t();
    let constant = Field::new(t.shape, vec![273.5; t.values.len()], None).expect("field");
    for (f, bound) in [(&t, Bound::PwRel(1e-3)), (&constant, Bound::Nrmse(1e-3))] {
        let archive = compress(f, bound);
        let path = write_tmp("whole.hiha", &archive);
        let file = ArchiveFile::open(&path).expect("open");
        let (p, _, stats) =
            preview::preview_variable(&file, 0, &PreviewOptions::new(2)).expect("preview");
        let (full, _) = codec::decompress(&archive, None).expect("decompress");
        assert_eq!(stats.partial_chunks, 0, "{bound:?}");
        assert!(stats.whole_chunks >= 1);
        let want = sub(&full.values, f.shape, 4);
        assert!(
            p.values
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{bound:?}"
        );
        // Every section of the variable was read.
        let sections: u64 = file.sections().iter().map(|s| s.len).sum();
        assert!(file.bytes_read() >= sections);
    }
}

#[test]
fn a_predictor_archive_is_decoded_whole_then_subsampled() {
    let f = era5_t();
    let mut opts = CompressOptions::new(Bound::Nrmse(1e-3));
    opts.predictor = codec::PredictorKind::Fic;
    let (archive, _) =
        codec::compress(&f, &meta_for(f.shape), &opts, &NoProgress).expect("compress");
    let path = write_tmp("fic.hiha", &archive);
    let file = ArchiveFile::open(&path).expect("open");
    let (p, _, stats) =
        preview::preview_variable(&file, 0, &PreviewOptions::new(2)).expect("preview");
    assert_eq!(stats.partial_chunks, 0);
    let (full, _) = codec::decompress(&archive, None).expect("decompress");
    let want = sub(&full.values, f.shape, 4);
    assert!(p
        .values
        .iter()
        .zip(&want)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn bad_levels_and_small_grids_are_refused() {
    let f = era5_t();
    let archive = compress(&f, Bound::Nrmse(1e-2));
    let path = write_tmp("levels.hiha", &archive);
    let file = ArchiveFile::open(&path).expect("open");
    for k in [0, 7, 6] {
        // 6: every 64th point of 61 latitudes leaves one.
        let e = preview::preview_variable(&file, 0, &PreviewOptions::new(k));
        assert!(e.is_err(), "level {k}");
    }
    // 5: every 32nd point leaves two of 61 latitudes.
    let (p, _, _) = preview::preview_variable(&file, 0, &PreviewOptions::new(5)).expect("5");
    assert_eq!(p.shape, Shape::new(4, 2, 2, 4));
    assert!(preview::preview_variable(&file, 1, &PreviewOptions::new(2)).is_err());
}

#[test]
fn damaged_archives_give_errors_not_panics() {
    let f = era5_t();
    let archive = compress(&f, Bound::Nrmse(1e-3));
    let reader = ArchiveReader::open(&archive).expect("open");
    let res = reader
        .sections()
        .iter()
        .find(|s| s.kind == SectionKind::Residual)
        .expect("a residual section")
        .clone();
    let (start, len) = (res.offset as usize, res.len as usize);
    drop(reader);
    let mut errors = 0;
    // Every byte of the residual's first 64 (tag, CRC, lengths, wavelet
    // header), then a sample of the rest: flipped, the preview is an
    // error or some values, never a panic.
    let positions: Vec<usize> = (0..64.min(len)).chain((64..len).step_by(97)).collect();
    for (n, &i) in positions.iter().enumerate() {
        let mut bad = archive.clone();
        bad[start + i] ^= if n % 2 == 0 { 0xff } else { 0x10 };
        let path = write_tmp("bad.hiha", &bad);
        let file = ArchiveFile::open(&path).expect("the index is intact");
        if preview::preview_variable(&file, 0, &PreviewOptions::new(2)).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0, "no damaged header was noticed");
    // A truncated file.
    for cut in [archive.len() / 2, archive.len() - 1, 10] {
        let path = write_tmp("cut.hiha", &archive[..cut]);
        let r = ArchiveFile::open(&path)
            .and_then(|file| preview::preview_variable(&file, 0, &PreviewOptions::new(2)));
        assert!(r.is_err(), "cut at {cut}");
    }
}

#[test]
fn format_1_archives_are_refused_with_a_reason() {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/v1/sample.hiha"
    ));
    let file = ArchiveFile::open(&path).expect("open");
    let e = preview::preview_variable(&file, 0, &PreviewOptions::new(1))
        .expect_err("format 1")
        .to_string();
    assert!(e.contains("format 1"), "{e}");
}
