//! NetCDF-4 output and re-packing: a decompressed packed variable is written
//! in its source's integer type on the lattice the encoder verified, reads
//! back within the bound, and is no larger than its source; where
//! re-packing is impossible the variable is float32 and the reason is said.

mod common;

use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, NoProgress};
use hiha_core::field::{Field, Packing, Shape};
use hiha_core::format::ArchiveReader;
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use hiha_core::metrics::Metrics;
use hiha_io::{
    cf, file_format, read_variable, write_netcdf, Existing, OutputFormat, OutputVar, VarEncoding,
};

const SCALE: f64 = 0.01;
const OFFSET: f64 = 250.0;

/// An int16-packed variable (t, lat, lon) with two missing points and
/// values on the lattice `SCALE · k + OFFSET`.
fn packed(extra_attrs: Vec<Attr>) -> (Field, DatasetMeta) {
    let shape = Shape {
        frames: 2,
        levels: 1,
        lat: 4,
        lon: 6,
    };
    // The scale as the file holds it: an f32 attribute, exactly.
    let scale = SCALE as f32 as f64;
    let values: Vec<f32> = (0..shape.len())
        .map(|i| {
            let k = (i as f64 * 37.0).sin() * 3000.0;
            (k.round() * scale + OFFSET) as f32
        })
        .collect();
    let mut mask = vec![false; shape.len()];
    mask[3] = true;
    mask[40] = true;
    let mut field = Field::new(shape, values, Some(mask)).expect("field");
    field.packing = Some(Packing {
        scale,
        offset: OFFSET,
    });
    let coord = |name: &str, vals: Vec<f64>| AuxVar {
        name: name.into(),
        dims: vec![name.into()],
        dtype: DType::F64,
        attrs: vec![],
        data: CoordData::F64(vals),
    };
    let mut attrs = vec![
        Attr::new("units", AttrValue::Text("K".into())),
        Attr::new("scale_factor", AttrValue::F32(vec![SCALE as f32])),
        Attr::new("add_offset", AttrValue::F64(vec![OFFSET])),
        Attr::new("_FillValue", AttrValue::I16(vec![-32767])),
    ];
    attrs.extend(extra_attrs);
    let meta = DatasetMeta {
        dims: vec![
            Dim {
                name: "time".into(),
                len: 2,
                unlimited: true,
            },
            Dim {
                name: "lat".into(),
                len: 4,
                unlimited: false,
            },
            Dim {
                name: "lon".into(),
                len: 6,
                unlimited: false,
            },
        ],
        global_attrs: vec![Attr::new("title", AttrValue::Text("packed".into()))],
        aux_vars: vec![
            coord("time", vec![0.0, 6.0]),
            coord("lat", vec![-45.0, -15.0, 15.0, 45.0]),
            coord("lon", vec![0.0, 60.0, 120.0, 180.0, 240.0, 300.0]),
        ],
        var: VarMeta {
            name: "t".into(),
            layout: VarLayout {
                dims: vec!["time".into(), "lat".into(), "lon".into()],
                frame_dims: 1,
                level_dim: None,
                lat_dim: "lat".into(),
                lon_dim: "lon".into(),
            },
            dtype: DType::I16,
            attrs,
        },
    };
    (field, meta)
}

fn lattice(m: f64) -> Packing {
    Packing {
        scale: SCALE as f32 as f64 * m,
        offset: OFFSET,
    }
}

fn write(
    name: &str,
    field: &Field,
    meta: &DatasetMeta,
    repack: Option<Packing>,
    format: OutputFormat,
) -> (std::path::PathBuf, VarEncoding) {
    let out = common::tmp_dir("nc4_output").join(name);
    let w = write_netcdf(
        &out,
        &[OutputVar {
            field,
            meta,
            repack,
        }],
        format,
        Existing::Replace,
    )
    .unwrap_or_else(|e| panic!("write {name}: {e}"));
    assert_eq!(w.bytes, std::fs::metadata(&out).expect("written").len());
    (out, w.vars[0].1.clone())
}

#[test]
fn packed_on_a_coarser_lattice_in_both_formats() {
    let (field, meta) = packed(vec![]);
    for (format, name, model) in [
        (OutputFormat::Nc4, "p4.nc", "NetCDF-4"),
        (OutputFormat::Nc3, "p3.nc", "CDF-2 (64-bit offset)"),
    ] {
        let (out, enc) = write(name, &field, &meta, Some(lattice(4.0)), format);
        assert_eq!(
            enc,
            VarEncoding::Packed {
                dtype: DType::I16,
                multiple: 4
            }
        );
        assert_eq!(file_format(&out).expect("format"), model);
        let back = read_variable(&out, Some("t")).expect("read back");
        assert_eq!(back.meta.var.dtype, DType::I16);
        let p = cf::packing(&back.meta.var.attrs).expect("packing");
        assert_eq!(
            p.scale,
            lattice(4.0).scale,
            "an f32 scale times 4 stays f32"
        );
        assert!(matches!(
            cf::attr(&back.meta.var.attrs, "scale_factor"),
            Some(AttrValue::F32(_))
        ));
        assert_eq!(
            cf::attr(&back.meta.var.attrs, "_FillValue"),
            Some(&AttrValue::I16(vec![-32767]))
        );
        assert_eq!(back.field.missing, field.missing, "missing points kept");
        let l = lattice(4.0);
        for (i, (&a, &b)) in field.values.iter().zip(&back.field.values).enumerate() {
            if field.is_missing(i) {
                continue;
            }
            let want = l.value(l.index(a).expect("index")) as f32;
            assert_eq!(b, want, "element {i}");
            assert!((f64::from(a) - f64::from(b)).abs() <= 2.0 * l.scale / 2.0 + 1e-4);
        }
        // Coordinates and the record dim survive.
        assert_eq!(back.meta.dims, meta.dims);
        assert_eq!(back.meta.aux("lat"), meta.aux("lat"));
    }
}

#[test]
fn what_cannot_be_re_packed_is_float32_with_a_reason() {
    let reason = |enc: VarEncoding| match enc {
        VarEncoding::Float32 { reason: Some(r) } => r,
        e => panic!("expected float32 with a reason, got {e:?}"),
    };
    let (field, meta) = packed(vec![]);
    // Not a power-of-two multiple of the declared scale.
    let (_, enc) = write(
        "x3.nc",
        &field,
        &meta,
        Some(lattice(3.0)),
        OutputFormat::Nc4,
    );
    assert!(reason(enc).contains("not one the variable's attributes declare"));
    // Another offset.
    let other = Packing {
        scale: lattice(1.0).scale,
        offset: OFFSET + 1.0,
    };
    let (_, enc) = write("off.nc", &field, &meta, Some(other), OutputFormat::Nc4);
    assert!(reason(enc).contains("declare"));
    // NaN as data has no integer.
    let mut nan = field.clone();
    nan.values[5] = f32::NAN;
    nan.missing.as_mut().expect("mask")[5] = true;
    let (out, enc) = write("nan.nc", &nan, &meta, Some(lattice(1.0)), OutputFormat::Nc4);
    assert!(reason(enc).contains("NaN"));
    let back = read_variable(&out, Some("t")).expect("read back");
    assert_eq!(back.meta.var.dtype, DType::F32);
    assert!(back.field.values[5].is_nan());
    // A value that would be packed onto the fill value.
    let (field, meta) = packed(vec![Attr::new("missing_value", AttrValue::I16(vec![0]))]);
    let mut hit = field.clone();
    hit.values[6] = OFFSET as f32;
    let (_, enc) = write("hit.nc", &hit, &meta, Some(lattice(1.0)), OutputFormat::Nc4);
    assert!(reason(enc).contains("fill value"));
    // Without a verified lattice: float32, no reason needed.
    let (_, enc) = write("none.nc", &field, &meta, None, OutputFormat::Nc4);
    assert_eq!(enc, VarEncoding::Float32 { reason: None });
}

#[test]
fn valid_range_and_unsigned_follow_the_lattice() {
    let (field, meta) = packed(vec![Attr::new(
        "valid_range",
        AttrValue::I16(vec![-32001, 32001]),
    )]);
    let (out, enc) = write(
        "vr.nc",
        &field,
        &meta,
        Some(lattice(4.0)),
        OutputFormat::Nc4,
    );
    assert!(matches!(enc, VarEncoding::Packed { multiple: 4, .. }));
    let back = read_variable(&out, Some("t")).expect("read back");
    // Narrowed to whole values of the new unit: never admits more.
    assert_eq!(
        cf::attr(&back.meta.var.attrs, "valid_range"),
        Some(&AttrValue::I16(vec![-8000, 8000]))
    );
    assert_eq!(back.field.missing, field.missing);

    // _Unsigned int16: lattice indices above 32767 are stored wrapped.
    let (mut field, mut meta) =
        packed(vec![Attr::new("_Unsigned", AttrValue::Text("true".into()))]);
    for a in &mut meta.var.attrs {
        if a.name == "add_offset" {
            a.value = AttrValue::F64(vec![OFFSET - 400.0]);
        }
        if a.name == "_FillValue" {
            a.value = AttrValue::I16(vec![-1]);
        }
    }
    let l = Packing {
        scale: lattice(1.0).scale,
        offset: OFFSET - 400.0,
    };
    field.packing = Some(l);
    // Values on this lattice, with indices above 32767 (about 40000).
    for (i, v) in field.values.iter_mut().enumerate() {
        if !(i == 3 || i == 40) {
            let k = l.index(*v).expect("index");
            assert!(k > 32767.0 && k < 65535.0);
            *v = l.value(k) as f32;
        }
    }
    let (out, enc) = write("u.nc", &field, &meta, Some(l), OutputFormat::Nc4);
    assert!(
        matches!(enc, VarEncoding::Packed { multiple: 1, .. }),
        "{enc:?}"
    );
    let back = read_variable(&out, Some("t")).expect("read back");
    assert_eq!(back.field.missing, field.missing);
    for (i, (&a, &b)) in field.values.iter().zip(&back.field.values).enumerate() {
        if !field.is_missing(i) {
            assert_eq!(
                a, b,
                "element {i}: the source lattice gives the values back"
            );
        }
    }
}

/// The bundled int16 NetCDF-4 sample, through the codec and back: packed,
/// within the bound on every element against the source file's own values,
/// and no larger than the source.
#[test]
fn a_decompressed_packed_sample_is_no_larger_than_its_source() {
    let src = common::samples_dir().join("gfs_t_pl6_2p5deg_global_nc4_packed.nc");
    let l = read_variable(&src, Some("t")).expect("read");
    for bound in [Bound::Nrmse(1e-4), Bound::Nrmse(1e-3), Bound::MaxAbs(0.05)] {
        let (bytes, _) =
            codec::compress(&l.field, &l.meta, &CompressOptions::new(bound), &NoProgress)
                .expect("compress");
        let header = ArchiveReader::open(&bytes).expect("open").header().clone();
        let r = codec::repacking(&header)
            .expect("config")
            .unwrap_or_else(|| panic!("{bound}: the default room should allow re-packing"));
        let (field, meta) = codec::decompress(&bytes, None).expect("decode");
        let (out, enc) = write(
            "gfs.nc",
            &field,
            &meta,
            Some(r.packing()),
            OutputFormat::Nc4,
        );
        assert!(
            matches!(
                enc,
                VarEncoding::Packed {
                    dtype: DType::I16,
                    ..
                }
            ),
            "{enc:?}"
        );
        let (a, b) = (
            std::fs::metadata(&src).expect("src").len(),
            std::fs::metadata(&out).expect("out").len(),
        );
        println!(
            "{bound}: source {a} bytes, archive {}, output {b}",
            bytes.len()
        );
        assert!(b <= a, "{bound}: output {b} bytes > source {a}");
        let back = read_variable(&out, Some("t")).expect("read back");
        assert_eq!(back.field.missing, l.field.missing);
        let m = Metrics::against_source(&l.field, &back.field.values).expect("metrics");
        // The f32 copy of each re-packed value is within half an ulp of it.
        let slack = 310.0f64 * f64::from(f32::EPSILON);
        match bound {
            Bound::MaxAbs(e) => assert!(m.max_abs <= e + slack, "{m:?}"),
            Bound::Nrmse(t) => assert!(m.rmse <= t * m.range + slack, "{m:?}"),
            _ => unreachable!(),
        }
    }
}
