//! The ensemble-spread bound (`spread:F`) and `keep-zeros` (issue 13),
//! checked on every element, independently of the codec.

use std::sync::Arc;

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Shape, MISSING};
use hiha_core::format::{self, ArchiveReader, SectionKind};
use hiha_core::meta::{DType, DatasetMeta, Dim, VarLayout, VarMeta};

/// Real ERA5 u, 6 frames x 2 levels x 41 x 41.
fn u_values() -> Vec<f32> {
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

const MEMBERS: usize = 3;
const TIMES: usize = 2;
const FLEN: usize = 2 * 41 * 41;

/// The 6 frames as `number` (3 members) x `time` (2), or as 6 times.
fn meta(ensemble: bool) -> DatasetMeta {
    let dim = |name: &str, len: usize| Dim {
        name: name.into(),
        len,
        unlimited: false,
    };
    let (dims, frame_dims): (Vec<Dim>, usize) = if ensemble {
        (vec![dim("number", MEMBERS), dim("time", TIMES)], 2)
    } else {
        (vec![dim("time", 6)], 1)
    };
    let mut all = dims.clone();
    all.extend([dim("level", 2), dim("latitude", 41), dim("longitude", 41)]);
    let mut names: Vec<String> = dims.iter().map(|d| d.name.clone()).collect();
    names.extend(["level", "latitude", "longitude"].map(String::from));
    DatasetMeta {
        dims: all,
        global_attrs: vec![],
        aux_vars: vec![],
        var: VarMeta {
            name: "u".into(),
            layout: VarLayout {
                dims: names,
                frame_dims,
                level_dim: Some("level".into()),
                lat_dim: "latitude".into(),
                lon_dim: "longitude".into(),
            },
            dtype: DType::F32,
            attrs: vec![],
        },
    }
}

/// The members' sample standard deviation at each (time, point), computed
/// here on its own (member-major frames).
fn spread_of(field: &Field) -> Vec<f64> {
    let mut s = vec![0.0; TIMES * FLEN];
    for t in 0..TIMES {
        for p in 0..FLEN {
            let idx: Vec<usize> = (0..MEMBERS)
                .map(|m| (m * TIMES + t) * FLEN + p)
                .filter(|&i| !field.is_missing(i))
                .collect();
            if idx.len() < 2 {
                continue;
            }
            let xs: Vec<f64> = idx.iter().map(|&i| field.values[i] as f64).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let ss: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
            s[t * FLEN + p] = (ss / (xs.len() - 1) as f64).sqrt();
        }
    }
    s
}

fn spread_at(s: &[f64], i: usize) -> f64 {
    let (fr, p) = (i / FLEN, i % FLEN);
    s[(fr % TIMES) * FLEN + p]
}

/// A field with points where every member agrees (spread 0) and missing
/// values.
fn ensemble_field() -> Field {
    let mut v = u_values();
    let mut missing = vec![false; v.len()];
    for t in 0..TIMES {
        for p in (0..FLEN).step_by(53) {
            let x = v[t * FLEN + p];
            for m in 0..MEMBERS {
                v[(m * TIMES + t) * FLEN + p] = x;
            }
        }
    }
    for i in (7..v.len()).step_by(211) {
        v[i] = MISSING;
        missing[i] = true;
    }
    Field::new(Shape::new(6, 2, 41, 41), v, Some(missing)).expect("field")
}

fn assert_within_spread(orig: &Field, back: &Field, s: &[f64], f: f64) -> usize {
    assert_eq!(orig.missing, back.missing);
    let mut exact_zero_spread = 0;
    for (i, (&x, &y)) in orig.values.iter().zip(&back.values).enumerate() {
        if orig.is_missing(i) {
            assert_eq!(x.to_bits(), y.to_bits(), "flagged element {i}");
            continue;
        }
        let b = f * spread_at(s, i);
        let e = (x as f64 - y as f64).abs();
        assert!(e <= b, "element {i}: {x} -> {y}, error {e:e} above {b:e}");
        if b == 0.0 {
            assert_eq!(x.to_bits(), y.to_bits(), "zero spread at {i} must be exact");
            exact_zero_spread += 1;
        }
    }
    exact_zero_spread
}

#[test]
fn spread_bound_holds_on_every_element() {
    let field = ensemble_field();
    let s = spread_of(&field);
    let meta = meta(true);
    for f in [1.0, 0.1] {
        let opts = CompressOptions::new(Bound::Spread(f));
        let (bytes, report) = codec::compress(&field, &meta, &opts, &NoProgress).expect("compress");
        let (back, _) = codec::decompress(&bytes, None).expect("decode");
        let exact = assert_within_spread(&field, &back, &s, f);
        assert!(exact > 50, "{exact} zero-spread elements");
        assert!(report.ratio() > 1.5, "F = {f}: ratio {}", report.ratio());
        let r = ArchiveReader::open(&bytes).expect("open");
        assert!([(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6)].contains(&r.version())); // 2.2 where a chunk uses the packet plan, 2.3 its primed models, 2.4 its header coding, 2.5 its zero maps, 2.6 delta-coded level ranges
        assert_eq!(r.header().bound, Bound::Spread(f));
        // Frames decode on their own too.
        let (part, _) = codec::decompress(&bytes, Some(2..4)).expect("frames");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&part.values) == bits(&back.values[2 * FLEN..4 * FLEN]));
    }
}

#[test]
fn spread_given_per_point_or_per_element() {
    let field = ensemble_field();
    let s = spread_of(&field);
    // Per point (without the member dim), halved: a tighter bound.
    let half: Vec<f32> = s.iter().map(|&x| (x * 0.5) as f32).collect();
    let mut opts = CompressOptions::new(Bound::Spread(1.0));
    opts.spread = Some(Arc::from(half.clone()));
    let (bytes, _) = codec::compress(&field, &meta(true), &opts, &NoProgress).expect("compress");
    let (back, _) = codec::decompress(&bytes, None).expect("decode");
    let given: Vec<f64> = half.iter().map(|&x| x as f64).collect();
    assert_within_spread(&field, &back, &given, 1.0);
    // Per element, without any ensemble dim.
    let per_elem: Vec<f32> = (0..field.values.len())
        .map(|i| spread_at(&given, i) as f32)
        .collect();
    opts.spread = Some(Arc::from(per_elem));
    let (bytes, _) = codec::compress(&field, &meta(false), &opts, &NoProgress).expect("compress");
    let (back, _) = codec::decompress(&bytes, None).expect("decode");
    assert_within_spread(&field, &back, &given, 1.0);
    // No ensemble and no spread; a spread of the wrong size; a negative one.
    opts.spread = None;
    let e = codec::compress(&field, &meta(false), &opts, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("ensemble"), "{e}");
    opts.spread = Some(Arc::from(vec![1.0f32; 5]));
    assert!(codec::compress(&field, &meta(true), &opts, &NoProgress).is_err());
    let mut neg = half;
    neg[3] = -1.0;
    opts.spread = Some(Arc::from(neg));
    assert!(codec::compress(&field, &meta(true), &opts, &NoProgress).is_err());
}

fn assert_zeros_and_signs(orig: &Field, back: &Field) {
    for (i, (&x, &y)) in orig.values.iter().zip(&back.values).enumerate() {
        if orig.is_missing(i) {
            continue;
        }
        if x == 0.0 {
            assert_eq!(y, 0.0, "zero at {i} came back {y}");
        }
        assert!(
            (x as f64) * (y as f64) >= 0.0,
            "sign flip at {i}: {x} -> {y}"
        );
    }
}

#[test]
fn keep_zeros_keeps_every_zero_and_sign_within_the_bound() {
    let u = u_values();
    let shape = Shape::new(6, 2, 41, 41);
    // Half zeros (rain-like), and u itself (both signs, few zeros).
    let rain: Vec<f32> = u.iter().map(|&x| (x - 4.0).max(0.0) * 1e-4).collect();
    let fields = [
        Field::new(shape, rain, None).expect("rain"),
        Field::new(shape, u, None).expect("u"),
    ];
    assert!(fields[0].values.iter().filter(|&&x| x == 0.0).count() > fields[0].values.len() / 2);
    let meta = meta(false);
    let mut autos = 0;
    for field in &fields {
        let (lo, hi) = field.value_range().expect("range");
        let range = (hi - lo) as f64;
        for bound in [
            Bound::Nrmse(1e-2),
            Bound::MaxAbs(1e-2 * range),
            Bound::NrmseLevel(1e-2),
        ] {
            let mut opts = CompressOptions::new(bound);
            let (plain, _) = codec::compress(field, &meta, &opts, &NoProgress).expect("plain");
            opts.keep_zeros = Some(true);
            let (bytes, report) = codec::compress(field, &meta, &opts, &NoProgress).expect("kz");
            let (back, _) = codec::decompress(&bytes, None).expect("decode");
            assert_zeros_and_signs(field, &back);
            // The bound on every element (max-abs) or over the whole.
            if let Bound::MaxAbs(e) = bound {
                for (x, y) in field.values.iter().zip(&back.values) {
                    assert!((x - y).abs() as f64 <= e);
                }
            }
            if let Bound::Nrmse(t) = bound {
                assert!(
                    report.metrics.nrmse <= t,
                    "{bound}: {}",
                    report.metrics.nrmse
                );
            }
            let r = ArchiveReader::open(&bytes).expect("open");
            assert!(
                [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6)].contains(&r.version()),
                "{bound}"
            ); // 2.2 where a chunk uses the packet plan, 2.3 its primed models, 2.4 its header coding, 2.5 its zero maps, 2.6 delta-coded level ranges
            assert!(r.sections().iter().any(|s| s.kind == SectionKind::Signs));
            // Joining and extracting keep the version the signs need.
            assert_eq!(format::merge(&[&bytes[..]]).expect("merge"), bytes);
            // Without the flag the archive is as before (no signs), unless
            // more than half the values are zeros: then zeros are kept
            // anyway.
            let p = ArchiveReader::open(&plain).expect("open");
            let zeros = field.values.iter().filter(|&&x| x == 0.0).count();
            let auto = zeros * 2 > field.values.len();
            autos += usize::from(auto);
            assert_eq!(
                p.sections().iter().any(|s| s.kind == SectionKind::Signs),
                auto
            );
            if auto {
                let (back, _) = codec::decompress(&plain, None).expect("decode");
                assert_zeros_and_signs(field, &back);
                // Refused, it is not applied.
                let mut o = CompressOptions::new(bound);
                o.keep_zeros = Some(false);
                let (off, _) = codec::compress(field, &meta, &o, &NoProgress).expect("off");
                let r = ArchiveReader::open(&off).expect("open");
                assert!(!r.sections().iter().any(|s| s.kind == SectionKind::Signs));
            }
            // A writer whose header was written as 2.0 refuses a signs
            // section; one started with the kinds it will hold is 2.1.
            if p.version() == (2, 0) {
                let mut w = format::ArchiveWriter::new(p.header()).expect("writer");
                assert!(w.add_section(SectionKind::Signs, 0..1, None, b"x").is_err());
                let mut w = format::ArchiveWriter::new_with(p.header(), &[SectionKind::Signs])
                    .expect("writer");
                assert!(w.add_section(SectionKind::Signs, 0..1, None, b"x").is_ok());
                let out = w.finish().expect("finish");
                assert!([(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6)]
                    .contains(&ArchiveReader::open(&out).expect("open").version()));
                // 2.2 where a chunk uses the packet plan, 2.3 its primed models, 2.4 its header coding, 2.5 its zero maps, 2.6 delta-coded level ranges
            }
        }
    }
    assert_eq!(
        autos, 3,
        "the rain field (over half zeros) keeps zeros by default"
    );
}

#[test]
fn keep_zeros_with_the_spread_bound() {
    let mut field = ensemble_field();
    // Zero out a block of every member (spread 0 there, so exact anyway),
    // and scattered single zeros in one member (spread > 0).
    for i in (0..field.values.len()).step_by(17) {
        if !field.is_missing(i) {
            field.values[i] = 0.0;
        }
    }
    let s = spread_of(&field);
    let mut opts = CompressOptions::new(Bound::Spread(1.0));
    opts.keep_zeros = Some(true);
    let (bytes, _) = codec::compress(&field, &meta(true), &opts, &NoProgress).expect("compress");
    let (back, _) = codec::decompress(&bytes, None).expect("decode");
    assert_within_spread(&field, &back, &s, 1.0);
    assert_zeros_and_signs(&field, &back);
}
