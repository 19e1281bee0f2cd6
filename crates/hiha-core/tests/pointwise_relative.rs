//! The pointwise relative bound (issue 12): |x − x̂| ≤ R·|x| on every
//! element of real fields with negative values, zeros, tiny magnitudes and
//! missing values; zeros come back exactly zero and no sign flips.

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Shape, MISSING};
use hiha_core::format::{ArchiveReader, SectionKind};
use hiha_core::meta::DatasetMeta;

mod common;

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

fn meta() -> DatasetMeta {
    common::grid_meta("x", [6, 2, 41, 41])
}

/// Checks every element against the original, independently of the codec.
fn check(orig: &Field, back: &Field, r: f64) {
    assert_eq!(orig.missing, back.missing);
    for (i, (&x, &y)) in orig.values.iter().zip(&back.values).enumerate() {
        if orig.is_missing(i) {
            assert_eq!(x.to_bits(), y.to_bits(), "flagged element {i}");
            continue;
        }
        let (x, y) = (x as f64, y as f64);
        assert!(
            (x - y).abs() <= r * x.abs(),
            "element {i}: {x} -> {y} (R = {r})"
        );
        if x == 0.0 {
            assert_eq!(y, 0.0, "zero at {i}");
        }
        assert!(x * y >= 0.0, "sign flip at {i}: {x} -> {y}");
    }
}

#[test]
fn every_element_within_r_times_its_magnitude() {
    let u = u_values();
    // Negative values (u itself); half zeros (a rain-like field); tiny
    // magnitudes; missing values.
    let rain: Vec<f32> = u.iter().map(|&x| x.max(0.0) * 1e-4).collect();
    let mut mixed = u.clone();
    for (i, v) in mixed.iter_mut().enumerate() {
        match i % 97 {
            0 => *v = 0.0,
            1 => *v = 1e-30,
            2 => *v = -3e-20,
            3 => *v = MISSING,
            _ => {}
        }
    }
    let missing: Vec<bool> = (0..mixed.len()).map(|i| i % 97 == 3).collect();
    let shape = Shape::new(6, 2, 41, 41);
    let fields = [
        Field::new(shape, u, None).expect("u"),
        Field::new(shape, rain, None).expect("rain"),
        Field::new(shape, mixed, Some(missing)).expect("mixed"),
    ];
    let zeros = fields[1].values.iter().filter(|&&x| x == 0.0).count();
    assert!(
        zeros > fields[1].values.len() / 4,
        "the rain-like field has many zeros"
    );
    for f in &fields {
        for r in [1e-2, 1e-4] {
            let opts = CompressOptions::new(Bound::PwRel(r));
            let (bytes, rep) = codec::compress(f, &meta(), &opts, &NoProgress).expect("compress");
            let reader = ArchiveReader::open(&bytes).expect("open");
            assert!([(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6)].contains(&reader.version())); // 2.2 where a chunk uses the packet plan, 2.3 its primed models, 2.4 its header coding, 2.5 its zero maps, 2.6 delta-coded level ranges
            assert!(reader
                .sections()
                .iter()
                .any(|s| s.kind == SectionKind::Signs));
            let (back, _) = codec::decompress(&bytes, None).expect("decode");
            check(f, &back, r);
            assert!(rep.ratio() > 1.0);
            // Frames alone decode to the same values.
            let (part, _) = codec::decompress(&bytes, Some(2..4)).expect("frames");
            let n = 2 * 41 * 41;
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&part.values), bits(&back.values[2 * n..4 * n]));
        }
    }
    // The grammar and the CLI's shorthand name the same bound.
    assert_eq!(
        Bound::parse("pw-rel:1e-3").expect("parse"),
        Bound::PwRel(1e-3)
    );
    assert!(Bound::parse("pw-rel:1.5").is_err());
    // With a predictor it is refused, not silently weakened.
    let mut o = CompressOptions::new(Bound::PwRel(1e-2));
    o.predictor = codec::PredictorKind::Fic;
    assert!(codec::compress(&fields[0], &meta(), &o, &NoProgress).is_err());
}
