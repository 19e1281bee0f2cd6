//! The end-to-end pipeline with every predictor, on a real hourly ERA5
//! series (6 frames of u at 500/850 hPa, 0.25°; see tests/data/trc_fixture.md):
//! the bound holds on every element, decoding is bit-exact against the full
//! decode, and decoding one frame reads only its chain.

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress, PredictorKind};
use hiha_core::field::{Field, Shape};
use hiha_core::format::{ArchiveReader, SectionKind};
use hiha_core::meta::{AuxVar, CoordData, DType, DatasetMeta, Dim};
use hiha_core::metrics::Metrics;

mod common;

fn fixture() -> (Field, DatasetMeta) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/era5_u_6x2x41x41.f32"
    );
    let bytes = std::fs::read(path).expect("fixture");
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let shape = Shape::new(6, 2, 41, 41);
    let field = Field::new(shape, values, None).expect("field");
    let coord = |name: &str, v: Vec<f64>| AuxVar {
        name: name.into(),
        dims: vec![name.into()],
        dtype: DType::F64,
        attrs: vec![],
        data: CoordData::F64(v),
    };
    let dim = |name: &str, len: usize| Dim {
        name: name.into(),
        len,
        unlimited: false,
    };
    let meta = DatasetMeta {
        dims: vec![
            dim("time", 6),
            dim("level", 2),
            dim("latitude", 41),
            dim("longitude", 41),
        ],
        global_attrs: vec![],
        aux_vars: vec![
            coord("time", (0..6).map(|h| h as f64).collect()),
            coord("level", vec![500.0, 850.0]),
            coord(
                "latitude",
                (0..41).map(|i| 55.0 - 0.25 * i as f64).collect(),
            ),
            coord("longitude", (0..41).map(|i| 0.25 * i as f64).collect()),
        ],
        var: common::grid_var("u"),
    };
    (field, meta)
}

/// Options that make FIC and TRC store networks even where they do not pay,
/// so that the predictor paths are exercised.
fn forced(bound: Bound, predictor: PredictorKind) -> CompressOptions {
    let mut o = CompressOptions::new(bound);
    o.predictor = predictor;
    o.chunk_frames = Some(1);
    o.fic.gain_check = false;
    o.fic.ceiling_check = false;
    o.fic.rd_check = false;
    o.trc.cost_check = false;
    o.trc.rate_check = false;
    o.trc.residual_check = false;
    o.trc.drift_limit = 1e9;
    o
}

fn check(field: &Field, bytes: &[u8], bound: Bound) -> Field {
    let (back, _) = codec::decompress(bytes, None).expect("decodes");
    let m = Metrics::compute(&field.values, &back.values, None).expect("metrics");
    bound.check(&m).expect("bound holds on every element");
    back
}

#[test]
fn every_predictor_meets_the_bound_and_frames_decode_alone() {
    let (field, meta) = fixture();
    let range = {
        let (lo, hi) = field.value_range().expect("values");
        (hi - lo) as f64
    };
    for predictor in [PredictorKind::None, PredictorKind::Fic, PredictorKind::Hiha] {
        for bound in [Bound::Nrmse(1e-3), Bound::MaxAbs(1e-3 * range)] {
            let opts = forced(bound, predictor);
            let (bytes, rep) = codec::compress(&field, &meta, &opts, &NoProgress)
                .unwrap_or_else(|e| panic!("{predictor:?} {bound}: {e}"));
            assert!(bound.check(&rep.metrics).is_ok());
            let full = check(&field, &bytes, bound);
            // Each frame alone decodes to the same bits as the full decode.
            let n = field.shape.frame_len();
            for f in [0, 3, 5] {
                let (one, m) = codec::decompress(&bytes, Some(f..f + 1)).expect("one frame");
                assert_eq!(m.dim("time").expect("time").len, 1);
                assert!(
                    one.values
                        .iter()
                        .zip(&full.values[f * n..(f + 1) * n])
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{predictor:?}: frame {f} alone differs from the full decode"
                );
            }
            let reader = ArchiveReader::open(&bytes).expect("opens");
            let kinds: Vec<SectionKind> = reader.sections().iter().map(|s| s.kind).collect();
            match predictor {
                PredictorKind::None => assert!(kinds
                    .iter()
                    .all(|k| matches!(k, SectionKind::Residual | SectionKind::Check))),
                PredictorKind::Fic => assert!(kinds.contains(&SectionKind::Mim), "{kinds:?}"),
                PredictorKind::Hiha => assert!(kinds.contains(&SectionKind::Trc), "{kinds:?}"),
            }
        }
    }
}

#[test]
fn one_frame_of_a_trc_chain_reads_only_its_chain() {
    let (field, meta) = fixture();
    let opts = forced(Bound::Nrmse(1e-3), PredictorKind::Hiha);
    let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).expect("compresses");
    let reader = ArchiveReader::open(&bytes).expect("opens");
    let total = reader.sections().len();
    // Frame 5 sits in the second chain (max_chain 4): its sections plus its
    // keyframe's and the deltas between, never frames 0..4.
    let need = reader.sections_for_frames(5..6).expect("index");
    assert!(need.len() < total, "random access reads everything");
    for &i in &need {
        let s = &reader.sections()[i];
        assert!(
            s.frames.start >= 4,
            "frame 5 pulled in section {i} of frames {:?}",
            s.frames
        );
    }
    // Frame 1 needs frame 0's keyframe sections.
    let need = reader.sections_for_frames(1..2).expect("index");
    assert!(need.iter().any(|&i| reader.sections()[i].frames == (0..1)));
}

#[test]
fn damaged_predictor_sections_are_errors_not_wrong_data() {
    let (field, meta) = fixture();
    let opts = forced(Bound::Nrmse(1e-3), PredictorKind::Hiha);
    let (bytes, _) = codec::compress(&field, &meta, &opts, &NoProgress).expect("compresses");
    let reader = ArchiveReader::open(&bytes).expect("opens");
    let targets: Vec<(u64, u64)> = reader
        .sections()
        .iter()
        .filter(|s| s.kind != SectionKind::Residual && s.len > 0)
        .map(|s| (s.offset, s.len))
        .collect();
    assert!(!targets.is_empty());
    for (off, len) in targets {
        let mut bad = bytes.clone();
        bad[(off + len / 2) as usize] ^= 0x10;
        assert!(
            codec::decompress(&bad, None).is_err(),
            "a flipped byte went unnoticed"
        );
    }
}

/// Edge cases a user meets: a constant field, a field that is entirely
/// missing, and a land/sea-style mask with NaN, in every mode.
#[test]
fn constant_all_missing_and_masked_fields_round_trip() {
    let (field, meta) = fixture();
    let n = field.values.len();
    let constant = Field::new(field.shape, vec![273.15; n], None).expect("field");
    let all_missing = Field::new(field.shape, vec![f32::NAN; n], None).expect("field");
    let mut masked_values = field.values.clone();
    for (i, v) in masked_values.iter_mut().enumerate() {
        if (i / 41) % 5 == 0 || i % 97 == 0 {
            *v = f32::NAN;
        }
    }
    let masked = Field::new(field.shape, masked_values, None).expect("field");
    for f in [&constant, &all_missing, &masked] {
        for bound in [
            Bound::Nrmse(1e-4),
            Bound::MaxAbs(0.01),
            Bound::MaxRel(1e-3),
            Bound::Rmse(0.01),
        ] {
            let (bytes, _) = codec::compress(f, &meta, &CompressOptions::new(bound), &NoProgress)
                .unwrap_or_else(|e| panic!("{bound}: {e}"));
            let (back, _) = codec::decompress(&bytes, None).expect("decodes");
            assert_eq!(back.missing, f.missing, "missing values moved");
            let m = Metrics::compute(&f.values, &back.values, f.missing.as_deref()).expect("m");
            bound.check(&m).expect("bound");
            if f.missing.is_none() && f.values.iter().all(|&v| v == 273.15) {
                assert!(
                    back.values.iter().all(|&v| v == 273.15),
                    "constant field not exact"
                );
            }
        }
    }
}

/// The absolute RMSE mode: the header keeps it, the RMSE against the input
/// is within it, and it codes like the NRMSE mode with the same budget
/// (`Rmse(t × range)` is `Nrmse(t)` for a whole variable).
#[test]
fn absolute_rmse_bound_holds_and_spends_the_nrmse_budget() {
    let (field, meta) = fixture();
    let (lo, hi) = field.value_range().expect("range");
    let range = (hi - lo) as f64;
    for t in [1e-2, 1e-4] {
        let e = t * range;
        let (bytes, report) = codec::compress(
            &field,
            &meta,
            &CompressOptions::new(Bound::Rmse(e)),
            &NoProgress,
        )
        .expect("compress");
        assert!(report.metrics.rmse <= e, "{} > {e}", report.metrics.rmse);
        let reader = ArchiveReader::open(&bytes).expect("open");
        assert_eq!(reader.header().bound, Bound::Rmse(e));
        let (back, _) = codec::decompress(&bytes, None).expect("decodes");
        let m = Metrics::compute(&field.values, &back.values, None).expect("m");
        assert!(m.rmse <= e, "decoded RMSE {} > {e}", m.rmse);
        // The budget is used, not wasted: at least a tenth of it is spent.
        assert!(m.rmse > e / 10.0, "RMSE {} far below {e}", m.rmse);
        let (nb, _) = codec::compress(
            &field,
            &meta,
            &CompressOptions::new(Bound::Nrmse(t)),
            &NoProgress,
        )
        .expect("compress nrmse");
        let diff = (nb.len() as i64 - bytes.len() as i64).abs();
        // Within 1 %, or a few bytes of header (the coded header is small).
        assert!(
            diff * 100 <= nb.len() as i64 || diff <= 16,
            "rmse {} B vs nrmse {} B",
            bytes.len(),
            nb.len()
        );
    }
}

/// An archive that declares more values than memory can hold is refused with
/// an error (the shape is read from the file), not an abort.
#[test]
fn an_absurd_declared_shape_is_an_error() {
    use hiha_core::format::{ArchiveWriter, Header};
    let (_, meta) = fixture();
    let header = Header {
        meta,
        shape: Shape::new(1 << 30, 1 << 10, 1 << 10, 1 << 10),
        bound: Bound::Nrmse(1e-3),
        codec_config: "predictor = \"none\"\nchunk_frames = 1\nvalue_min = 1.0\nvalue_max = 1.0\nconstant = true\n"
            .into(),
        extra: vec![],
        variables: vec![],
    };
    let bytes = ArchiveWriter::new(&header)
        .expect("writer")
        .finish()
        .expect("bytes");
    match codec::decompress(&bytes, None) {
        Err(hiha_core::Error::Unsupported(m)) => assert!(m.contains("limit"), "{m}"),
        other => panic!(
            "expected Unsupported, got {:?}",
            other.map(|(f, _)| f.shape)
        ),
    }
}
