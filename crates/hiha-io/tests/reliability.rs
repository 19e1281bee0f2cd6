//! Regression tests of issue 9 that need real files: infinities and valid
//! ranges through NetCDF, packed sources checked against their exact
//! values, and format-1 archives written by the previous release.

mod common;

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::is_missing_marker;
use hiha_core::meta::{Attr, AttrValue};
use hiha_core::metrics::Metrics;
use hiha_io::{read_variable, write_variable};

fn sample(name: &str) -> std::path::PathBuf {
    common::samples_dir().join(name)
}

/// Defect 3: three infinities were read as missing values and came back as
/// NaN. They are data: kept exactly, and written back as infinities.
#[test]
fn infinities_are_data_not_missing_values() {
    let tmp = common::tmp_dir("reliability-inf");
    let mut a = read_variable(&sample("gfs_t_pl2_2p5deg_global_cdf1.nc"), None).expect("read");
    a.field.values[10] = f32::INFINITY;
    a.field.values[20] = f32::NEG_INFINITY;
    a.field.values[30] = f32::INFINITY;
    let field =
        hiha_core::field::Field::new(a.field.shape, a.field.values.clone(), None).expect("field");
    let inf_nc = tmp.join("inf.nc");
    write_variable(&inf_nc, &field, &a.meta).expect("write");
    let b = read_variable(&inf_nc, None).expect("reread");
    let c = b.field.special_counts();
    assert_eq!((c.pos_inf, c.neg_inf, c.missing, c.nan), (2, 1, 0, 0));

    let (bytes, report) = codec::compress(
        &b.field,
        &b.meta,
        &CompressOptions::new(Bound::Nrmse(1e-3)),
        &NoProgress,
    )
    .expect("compress");
    assert_eq!(report.metrics.n, b.field.values.len() - 3);
    let (back, meta) = codec::decompress(&bytes, None).expect("decompress");
    let out = tmp.join("back.nc");
    write_variable(&out, &back, &meta).expect("write back");
    let r = read_variable(&out, None).expect("read back");
    assert_eq!(r.field.values[10], f32::INFINITY);
    assert_eq!(r.field.values[20], f32::NEG_INFINITY);
    assert_eq!(r.field.values[30], f32::INFINITY);
    assert_eq!(r.field.special_counts(), c);
}

/// Defect 5: values outside valid_min/valid_max are missing on read (CF),
/// and reconstructions stay inside the range, so a CF reader masks nothing
/// that was valid.
#[test]
fn valid_range_is_honoured_and_never_overshot() {
    let tmp = common::tmp_dir("reliability-valid");
    let a = read_variable(&sample("gfs_t_pl2_2p5deg_global_cdf1.nc"), None).expect("read");
    let (lo, hi) = a.field.value_range().expect("range");
    let mut meta = a.meta.clone();
    // The valid range is exactly the data's range: any overshoot would be
    // masked by netCDF4/xarray.
    meta.var
        .attrs
        .push(Attr::new("valid_min", AttrValue::F32(vec![lo])));
    meta.var
        .attrs
        .push(Attr::new("valid_max", AttrValue::F32(vec![hi])));
    let src = tmp.join("valid.nc");
    write_variable(&src, &a.field, &meta).expect("write");
    let b = read_variable(&src, None).expect("reread");
    assert!(b.field.missing.is_none(), "in-range values read as missing");
    for bound in [Bound::Nrmse(1e-2), Bound::MaxRel(1e-2)] {
        let (bytes, _) =
            codec::compress(&b.field, &b.meta, &CompressOptions::new(bound), &NoProgress)
                .expect("compress");
        let (back, m) = codec::decompress(&bytes, None).expect("decompress");
        let out = tmp.join("valid_back.nc");
        write_variable(&out, &back, &m).expect("write back");
        let r = read_variable(&out, None).expect("read back");
        assert!(
            r.field.missing.is_none(),
            "{bound}: values fell outside the valid range"
        );
    }
    // Values outside the valid range are missing on read.
    let mut meta2 = a.meta.clone();
    let mid = (lo + hi) / 2.0;
    meta2
        .var
        .attrs
        .push(Attr::new("valid_range", AttrValue::F32(vec![lo, mid])));
    let src2 = tmp.join("valid2.nc");
    write_variable(&src2, &a.field, &meta2).expect("write");
    let c = read_variable(&src2, None).expect("reread");
    let above = a.field.values.iter().filter(|&&v| v > mid).count();
    assert_eq!(c.field.special_counts().missing, above);
    assert!(c
        .field
        .values
        .iter()
        .zip(&a.field.values)
        .all(|(&x, &v)| (v > mid) == is_missing_marker(x)));
}

/// Defect 4: on CF-packed int16 input the bound holds against the values
/// as the file defines them (scale_factor · k + add_offset in f64).
#[test]
fn packed_input_meets_max_abs_against_exact_values() {
    let a = read_variable(&sample("gfs_t_pl6_2p5deg_global_nc4_packed.nc"), None).expect("read");
    let p = a.field.packing.expect("the sample is packed");
    // Just below half the 0.01 K step: every f32 rounding matters.
    for e in [0.0049, 0.0030866882675343447] {
        let (bytes, report) = codec::compress(
            &a.field,
            &a.meta,
            &CompressOptions::new(Bound::MaxAbs(e)),
            &NoProgress,
        )
        .expect("compress");
        assert!(report.metrics.max_abs <= e);
        let (back, _) = codec::decompress(&bytes, None).expect("decompress");
        let mut worst = 0.0f64;
        for (i, (&v, &r)) in a.field.values.iter().zip(&back.values).enumerate() {
            if a.field.is_missing(i) {
                continue;
            }
            let x = p.exact(v).expect("identifiable lattice point");
            worst = worst.max((x - r as f64).abs());
        }
        assert!(worst <= e, "worst {worst} > {e}");
    }
}

/// Archives of format 1 (written by the previous release, kept in
/// hiha-core's tests/golden/v1/) keep decoding within their bound, with
/// their missing values where they were.
#[test]
fn format_1_archives_still_decode() {
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hiha-core/tests/golden/v1");
    let cases = [
        (
            "gfs_t_pl6_packed_fill_nrmse1e-3.hiha",
            "gfs_t_pl6_2p5deg_global_nc4_packed.nc",
            Bound::Nrmse(1e-3),
        ),
        (
            "gfs_t_pl2_fic_maxabs0.1.hiha",
            "gfs_t_pl2_2p5deg_global_cdf1.nc",
            Bound::MaxAbs(0.1),
        ),
    ];
    for (archive, original, bound) in cases {
        let bytes = std::fs::read(golden.join(archive)).expect("v1 archive");
        assert_eq!(&bytes[8..12], &[1, 0, 0, 0], "{archive} is format 1.0");
        let (back, _) = codec::decompress(&bytes, None).expect("decodes");
        let a = read_variable(&sample(original), None).expect("original");
        assert_eq!(
            back.missing, a.field.missing,
            "{archive}: missing values moved"
        );
        let m = Metrics::against_source(&a.field, &back.values).expect("metrics");
        bound.check(&m).unwrap_or_else(|e| panic!("{archive}: {e}"));
    }
}
