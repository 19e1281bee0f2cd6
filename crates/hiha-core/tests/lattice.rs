//! Sources that were already quantised (issue 12.5): values on a lattice
//! or a small table are coded as indices, losslessly, when the bound asks
//! for an error finer than their spacing; archives that do so are format
//! 2.1 and older readers refuse them instead of decoding indices.

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Shape};
use hiha_core::format::{ArchiveReader, SectionKind};
use hiha_core::meta::{DType, DatasetMeta, Dim, VarLayout, VarMeta};

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
    let dim = |name: &str, len: usize| Dim {
        name: name.into(),
        len,
        unlimited: false,
    };
    DatasetMeta {
        dims: vec![
            dim("time", 1),
            dim("level", 3),
            dim("latitude", 73),
            dim("longitude", 144),
        ],
        global_attrs: vec![],
        aux_vars: vec![],
        var: VarMeta {
            name: "t".into(),
            layout: VarLayout {
                dims: ["time", "level", "latitude", "longitude"]
                    .map(String::from)
                    .to_vec(),
                frame_dims: 1,
                level_dim: Some("level".into()),
                lat_dim: "latitude".into(),
                lon_dim: "longitude".into(),
            },
            dtype: DType::F32,
            attrs: vec![],
        },
    }
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
    assert_eq!(ArchiveReader::open(&fine).expect("open").version(), (2, 1));
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
    // A coarse bound gains nothing from exactness: values, format 2.0.
    let coarse = compress(&f, Bound::Nrmse(1e-2));
    assert!(!lattice_coded(&coarse));
    assert_eq!(
        ArchiveReader::open(&coarse).expect("open").version(),
        (2, 0)
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
}

/// The archive with its version set to `minor`, the header CRC redone.
fn with_minor(bytes: &[u8], minor: u16) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[10..12].copy_from_slice(&minor.to_le_bytes());
    let (mut len, mut used) = (0usize, 0usize);
    while b[12 + used] & 0x80 != 0 {
        len |= ((b[12 + used] & 0x7f) as usize) << (7 * used);
        used += 1;
    }
    len |= (b[12 + used] as usize) << (7 * used);
    let h1 = 12 + used + 1 + len;
    let crc = crc32fast::hash(&b[..h1]);
    b[h1..h1 + 4].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn a_lattice_archive_labelled_2_0_is_refused() {
    let bytes = compress(&gfs_t(), Bound::Nrmse(1e-5));
    assert!(codec::decompress(&with_minor(&bytes, 1), None).is_ok());
    let old = with_minor(&bytes, 0);
    let err = codec::decompress(&old, None).expect_err("2.0 has no lattices");
    assert!(!err.to_string().is_empty());
}
