//! The archive and the decoded values do not depend on the number of
//! threads (issue 12: "decoding stays bit-identical across thread counts").
//! The encoder runs its two residual paths, the wavelet subbands with their
//! own streams and the chunks in parallel; the decoder decodes subbands and
//! chunks in parallel. Every thread count must give the same bytes and the
//! same values, bit for bit.

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Shape};
use hiha_core::meta::DatasetMeta;

mod common;

/// The real ERA5 u series of the fixtures (6 frames × 2 levels × 41 × 41),
/// tiled 16 times along time with a small drift per tile: 96 frames, large
/// enough that the finest wavelet subbands get streams of their own.
fn tiled_u() -> (Field, DatasetMeta) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/era5_u_6x2x41x41.f32"
    );
    let u: Vec<f32> = std::fs::read(path)
        .expect("fixture")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let tiles = 16;
    let mut values = Vec::with_capacity(u.len() * tiles);
    for t in 0..tiles {
        values.extend(u.iter().map(|&v| v + 0.37 * t as f32));
    }
    let frames = 6 * tiles;
    let meta = common::grid_meta("u", [frames, 2, 41, 41]);
    let field = Field::new(Shape::new(frames, 2, 41, 41), values, None).expect("field");
    (field, meta)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn bits(f: &Field) -> Vec<u32> {
    f.values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn archives_and_values_do_not_depend_on_the_thread_count() {
    let (field, meta) = tiled_u();
    // The same values on a lattice of 1/64 m/s, so that the finest bound
    // takes the lattice path.
    let lattice = Field::new(
        field.shape,
        field
            .values
            .iter()
            .map(|v| (v * 64.0).round() / 64.0)
            .collect(),
        None,
    )
    .expect("field");
    let cases: Vec<(&Field, Bound, Option<usize>)> = vec![
        (&field, Bound::Nrmse(1e-2), None),
        (&field, Bound::Nrmse(1e-5), None),
        (&field, Bound::Nrmse(1e-4), Some(24)),
        (&field, Bound::MaxAbs(0.01), None),
        (&field, Bound::PwRel(1e-2), Some(48)),
        (&lattice, Bound::Nrmse(1e-6), None),
    ];
    for (f, bound, chunk) in cases {
        let what = format!("{bound}, chunk {chunk:?}");
        let mut opts = CompressOptions::new(bound);
        opts.chunk_frames = chunk;
        let compress = || {
            codec::compress(f, &meta, &opts, &NoProgress)
                .expect("compress")
                .0
        };
        let reference = pool(1).install(compress);
        let decoded = pool(1).install(|| codec::decompress(&reference, None).expect("decode").0);
        let want = bits(&decoded);
        for threads in [2, 4] {
            let bytes = pool(threads).install(compress);
            assert!(
                bytes == reference,
                "{what}: the archive differs with {threads} threads"
            );
            let got = pool(threads).install(|| codec::decompress(&bytes, None).expect("decode").0);
            assert!(
                bits(&got) == want,
                "{what}: the values differ with {threads} threads"
            );
        }
    }
}
