//! read → write → read keeps values, mask, coordinates, attributes and dims
//! exactly.

mod common;

use std::path::Path;

use hiha_core::field::{Field, Shape};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use hiha_io::{cf, read_variable, write_variable, LoadedVariable};

fn assert_same_field(a: &Field, b: &Field, what: &str) {
    assert_eq!(a.shape, b.shape, "{what}: shape");
    assert_eq!(a.missing, b.missing, "{what}: mask");
    for (i, (x, y)) in a.values.iter().zip(&b.values).enumerate() {
        if !a.is_missing(i) {
            assert_eq!(x.to_bits(), y.to_bits(), "{what}: value {i}: {x} vs {y}");
        }
    }
}

/// Equality that treats NaN as equal to NaN (attributes such as
/// `_FillValue = NaN`), with a short message on failure.
fn same<T: std::fmt::Debug>(a: &T, b: &T, what: &str) {
    let (x, y) = (format!("{a:?}"), format!("{b:?}"));
    if x != y {
        let at = x
            .bytes()
            .zip(y.bytes())
            .position(|(p, q)| p != q)
            .unwrap_or(x.len().min(y.len()));
        let lo = at.saturating_sub(80);
        panic!(
            "{what} differ at byte {at}: ...{}... vs ...{}...",
            &x[lo..(at + 80).min(x.len())],
            &y[lo..(at + 80).min(y.len())]
        );
    }
}

fn without_history(attrs: &[Attr]) -> Vec<Attr> {
    attrs
        .iter()
        .filter(|a| a.name != "history")
        .cloned()
        .collect()
}

/// Writes `a` to `out` and reads it back; checks everything that must survive.
fn write_and_check(a: &LoadedVariable, out: &Path) -> LoadedVariable {
    write_variable(out, &a.field, &a.meta)
        .unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    let b = read_variable(out, Some(&a.meta.var.name))
        .unwrap_or_else(|e| panic!("reread {}: {e}", out.display()));
    let what = out.display().to_string();
    assert_same_field(&a.field, &b.field, &what);
    assert_eq!(a.meta.dims, b.meta.dims, "{what}: dims");
    same(
        &a.meta.aux_vars,
        &b.meta.aux_vars,
        &format!("{what}: aux vars"),
    );
    assert_eq!(a.meta.var.layout, b.meta.var.layout, "{what}: layout");
    assert_eq!(a.grid, b.grid, "{what}: grid");
    same(
        &without_history(&a.meta.global_attrs),
        &without_history(&b.meta.global_attrs),
        &format!("{what}: global attrs"),
    );
    let hist = |m: &DatasetMeta| {
        cf::attr_text(&m.global_attrs, "history")
            .unwrap_or("")
            .to_string()
    };
    let (h0, h1) = (hist(&a.meta), hist(&b.meta));
    assert!(
        h1.starts_with(&h0) && h1.len() > h0.len() && h1.contains("hiha"),
        "{what}: history {h1:?}"
    );
    assert_eq!(b.meta.var.dtype, DType::F32);
    if a.meta.var.dtype == DType::F32 {
        same(
            &a.meta.var.attrs,
            &b.meta.var.attrs,
            &format!("{what}: var attrs"),
        );
    } else {
        // Packing attributes go; the rest stays.
        for at in &a.meta.var.attrs {
            let kept = cf::attr(&b.meta.var.attrs, &at.name);
            match at.name.as_str() {
                "scale_factor" | "add_offset" => {
                    assert!(kept.is_none(), "{what}: {} kept", at.name)
                }
                "_FillValue" | "missing_value" => assert!(matches!(kept, Some(AttrValue::F32(_)))),
                _ => same(
                    &kept,
                    &Some(&at.value),
                    &format!("{what}: attr {}", at.name),
                ),
            }
        }
    }
    b
}

fn roundtrip(path: &Path, var: Option<&str>, tmp: &Path) {
    let t = std::time::Instant::now();
    let a = read_variable(path, var).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
    let out1 = tmp.join(format!("{stem}-{}-1.nc", a.meta.var.name));
    let t = std::time::Instant::now();
    let b = write_and_check(&a, &out1);
    let rt_ms = t.elapsed().as_secs_f64() * 1e3;
    // Writing again from the re-read gives the same data again.
    let out2 = tmp.join(format!("{stem}-{}-2.nc", a.meta.var.name));
    let c = write_and_check(&b, &out2);
    same(&b.meta.var.attrs, &c.meta.var.attrs, "second write attrs");
    let (s0, s1) = (
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        std::fs::metadata(&out1).map(|m| m.len()).unwrap_or(0),
    );
    println!(
        "{stem}/{}: read {read_ms:.1} ms, write+reread {rt_ms:.1} ms, {s0} -> {s1} bytes",
        a.meta.var.name
    );
}

#[test]
fn samples_round_trip() {
    let tmp = common::tmp_dir("rt-samples");
    for p in common::nc_files(&common::samples_dir()) {
        roundtrip(&p, None, &tmp);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn shared_files_round_trip() {
    let Some(dir) = common::shared_dir() else {
        return;
    };
    let tmp = common::tmp_dir("rt-shared");
    for p in common::nc_files(&dir) {
        roundtrip(&p, None, &tmp);
    }
    let packed = dir.join("native/eraint_uvz.nc");
    if packed.exists() {
        for v in ["z", "u", "v"] {
            roundtrip(&packed, Some(v), &tmp);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn attr(name: &str, v: AttrValue) -> Attr {
    Attr::new(name, v)
}

/// A small dataset: unlimited time (3 records), an i16 record variable (so
/// records need padding), char and byte variables, all attribute types of
/// NetCDF-3.
fn synthetic(var_attrs: Vec<Attr>, extra: Vec<AuxVar>) -> DatasetMeta {
    let mut aux = vec![
        AuxVar {
            name: "time".into(),
            dims: vec!["time".into()],
            dtype: DType::F64,
            attrs: vec![attr(
                "units",
                AttrValue::Text("hours since 2000-01-01".into()),
            )],
            data: CoordData::F64(vec![0.0, 6.0, 12.0]),
        },
        AuxVar {
            name: "lat".into(),
            dims: vec!["lat".into()],
            dtype: DType::F32,
            attrs: vec![attr("units", AttrValue::Text("degrees_north".into()))],
            data: CoordData::F32(vec![-30.0, -10.0, 10.0, 30.0]),
        },
        AuxVar {
            name: "lon".into(),
            dims: vec!["lon".into()],
            dtype: DType::F64,
            attrs: vec![attr("units", AttrValue::Text("degrees_east".into()))],
            data: CoordData::F64(vec![0.0, 72.0, 144.0, 216.0, 288.0]),
        },
        AuxVar {
            name: "flag".into(),
            dims: vec!["time".into()],
            dtype: DType::I16,
            attrs: vec![],
            data: CoordData::I16(vec![1, -2, 3]),
        },
        AuxVar {
            name: "station".into(),
            dims: vec!["nchar".into()],
            dtype: DType::Char,
            attrs: vec![attr("long_name", AttrValue::Text("name".into()))],
            data: CoordData::Text(b"abc\0\0".to_vec()),
        },
        AuxVar {
            name: "code".into(),
            dims: vec!["nchar".into()],
            dtype: DType::I8,
            attrs: vec![attr("valid", AttrValue::I8(vec![-1, 2]))],
            data: CoordData::I8(vec![1, -2, 3, -4, 5]),
        },
    ];
    aux.extend(extra);
    DatasetMeta {
        dims: vec![
            Dim {
                name: "time".into(),
                len: 3,
                unlimited: true,
            },
            Dim {
                name: "lat".into(),
                len: 4,
                unlimited: false,
            },
            Dim {
                name: "lon".into(),
                len: 5,
                unlimited: false,
            },
            Dim {
                name: "nchar".into(),
                len: 5,
                unlimited: false,
            },
        ],
        global_attrs: vec![
            attr("title", AttrValue::Text("synthetic".into())),
            attr("b", AttrValue::I8(vec![-3])),
            attr("s", AttrValue::I16(vec![-300, 2])),
            attr("i", AttrValue::I32(vec![70000])),
            attr("f", AttrValue::F32(vec![1.5, f32::MAX])),
            attr("d", AttrValue::F64(vec![1e300])),
            attr("empty", AttrValue::Text(String::new())),
        ],
        aux_vars: aux,
        var: VarMeta {
            name: "x".into(),
            layout: VarLayout {
                dims: vec!["time".into(), "lat".into(), "lon".into()],
                frame_dims: 1,
                level_dim: None,
                lat_dim: "lat".into(),
                lon_dim: "lon".into(),
            },
            dtype: DType::F32,
            attrs: var_attrs,
        },
    }
}

fn synthetic_field(missing_at: &[usize]) -> Field {
    let shape = Shape::new(3, 1, 4, 5);
    let mut values: Vec<f32> = (0..60).map(|i| i as f32 * 0.37 - 5.0).collect();
    let mut mask = vec![false; 60];
    for &i in missing_at {
        mask[i] = true;
        values[i] = 12345.0; // must not matter
    }
    Field::new(shape, values, Some(mask)).expect("field")
}

#[test]
fn missing_values_stay_where_they_were() {
    let tmp = common::tmp_dir("missing");
    let holes = [0, 7, 19, 20, 33, 59];
    let cases: Vec<(&str, Vec<Attr>, Option<f32>)> = vec![
        (
            "fill",
            vec![attr("_FillValue", AttrValue::F32(vec![-999.0]))],
            Some(-999.0),
        ),
        (
            "missing_value",
            vec![attr("missing_value", AttrValue::F32(vec![-888.0]))],
            Some(-888.0),
        ),
        (
            "both",
            vec![
                attr("_FillValue", AttrValue::F32(vec![1e20])),
                attr("missing_value", AttrValue::F32(vec![-1.0])),
            ],
            Some(1e20),
        ),
        (
            "nan",
            vec![attr("units", AttrValue::Text("K".into()))],
            None,
        ),
    ];
    for (name, attrs, _fill) in cases {
        let meta = synthetic(attrs, vec![]);
        let f = synthetic_field(&holes);
        let out = tmp.join(format!("{name}.nc"));
        write_variable(&out, &f, &meta).unwrap_or_else(|e| panic!("{name}: {e}"));
        let b = read_variable(&out, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_field(&f, &b.field, name);
        let m = b.field.missing.as_ref().expect("mask");
        let got: Vec<usize> = m
            .iter()
            .enumerate()
            .filter(|(_, &x)| x)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(got, holes, "{name}");
        assert_eq!(meta.aux_vars, b.meta.aux_vars, "{name}: aux");
        assert_eq!(meta.dims, b.meta.dims, "{name}: dims");
        assert_eq!(meta.var.attrs, b.meta.var.attrs, "{name}: attrs");
        assert_eq!(
            without_history(&meta.global_attrs),
            without_history(&b.meta.global_attrs)
        );
        assert_eq!(
            hiha_io::file_format(&out).expect("format"),
            "CDF-2 (64-bit offset)"
        );
    }
    // Unflagged values equal to a missing_value are data: the writer then
    // announces another fill (NetCDF's default), so they read back as data
    // (issue 10: a fill must never capture a reconstructed value). NaN data
    // comes back as NaN, flagged as a special value.
    let meta = synthetic(
        vec![attr("missing_value", AttrValue::F32(vec![-888.0, -777.0]))],
        vec![],
    );
    let mut values: Vec<f32> = (0..60).map(|i| i as f32).collect();
    values[3] = -888.0;
    values[4] = -777.0;
    values[5] = f32::NAN;
    let f = Field {
        shape: Shape::new(3, 1, 4, 5),
        values,
        missing: None,
        packing: None,
    };
    let out = tmp.join("markers.nc");
    write_variable(&out, &f, &meta).expect("write");
    let b = read_variable(&out, None).expect("read");
    let got: Vec<usize> = (0..60).filter(|&i| b.field.is_missing(i)).collect();
    assert_eq!(got, vec![5]);
    assert!(b.field.values[5].is_nan());
    assert_eq!((b.field.values[3], b.field.values[4]), (-888.0, -777.0));
    assert_eq!(
        cf::attr(&b.meta.var.attrs, "missing_value"),
        Some(&AttrValue::F32(vec![hiha_io::NC_FILL_FLOAT]))
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// NetCDF-4 types without a NetCDF-3 equivalent make the output CDF-5.
#[test]
fn netcdf4_types_go_to_cdf5() {
    let tmp = common::tmp_dir("cdf5");
    let extra = vec![
        AuxVar {
            name: "u16".into(),
            dims: vec!["nchar".into()],
            dtype: DType::U16,
            attrs: vec![attr("a", AttrValue::U16(vec![65535]))],
            data: CoordData::I32(vec![0, 1, 65535, 4, 5]),
        },
        AuxVar {
            name: "i64".into(),
            dims: vec!["nchar".into()],
            dtype: DType::I64,
            attrs: vec![attr("a", AttrValue::I64(vec![i64::MIN]))],
            data: CoordData::I64(vec![i64::MIN, -1, 0, 1, i64::MAX]),
        },
        AuxVar {
            name: "u64".into(),
            dims: vec!["nchar".into()],
            dtype: DType::U64,
            attrs: vec![attr("a", AttrValue::U64(vec![u64::MAX]))],
            data: CoordData::I64(vec![-1, 0, 1, 2, 3]),
        },
        AuxVar {
            name: "u32".into(),
            dims: vec!["nchar".into()],
            dtype: DType::U32,
            attrs: vec![],
            data: CoordData::I64(vec![0, 1, 2, 3, 4_000_000_000]),
        },
        AuxVar {
            name: "u8".into(),
            dims: vec!["nchar".into()],
            dtype: DType::U8,
            attrs: vec![attr("a", AttrValue::U8(vec![255]))],
            data: CoordData::U8(vec![0, 1, 2, 3, 255]),
        },
    ];
    let meta = synthetic(
        vec![attr("_FillValue", AttrValue::F32(vec![-999.0]))],
        extra,
    );
    let f = synthetic_field(&[1, 2]);
    let out = tmp.join("cdf5.nc");
    write_variable(&out, &f, &meta).expect("write");
    assert_eq!(
        hiha_io::file_format(&out).expect("format"),
        "CDF-5 (64-bit data)"
    );
    let b = read_variable(&out, None).expect("read");
    assert_same_field(&f, &b.field, "cdf5");
    assert_eq!(meta.aux_vars, b.meta.aux_vars);
    assert_eq!(meta.dims, b.meta.dims);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A fill value that a reconstructed value equals would turn that value
/// into "missing" on reading (issue 10). The writer then announces another
/// fill; and a packed source's fill, which unpacks to a plausible value
/// (here 268.37 K for an int16 temperature), is never used.
#[test]
fn fill_values_cannot_collide_with_data() {
    let tmp = common::tmp_dir("fill_collision");
    let holes = [3, 40];
    // (a) Unpacked source: a valid value equals _FillValue.
    let mut f = synthetic_field(&holes);
    f.values[10] = -999.0;
    let meta = synthetic(
        vec![attr("_FillValue", AttrValue::F32(vec![-999.0]))],
        vec![],
    );
    let out = tmp.join("unpacked.nc");
    write_variable(&out, &f, &meta).expect("write");
    let b = read_variable(&out, None).expect("read");
    assert_same_field(&f, &b.field, "unpacked");
    assert_eq!(
        cf::attr(&b.meta.var.attrs, "_FillValue"),
        Some(&AttrValue::F32(vec![hiha_io::NC_FILL_FLOAT]))
    );
    // Without a collision the source's fill stays.
    let g = synthetic_field(&holes);
    write_variable(&out, &g, &meta).expect("write");
    let b = read_variable(&out, None).expect("read");
    assert_eq!(
        cf::attr(&b.meta.var.attrs, "_FillValue"),
        Some(&AttrValue::F32(vec![-999.0]))
    );

    // (b) Packed int16 source: its fill -32767 unpacks to 268.36658 K.
    let (scale, offset) = (0.001_f64, 301.133_58_f64);
    let unpacked_fill = (-32767.0 * scale + offset) as f32;
    let mut meta = synthetic(
        vec![
            attr("scale_factor", AttrValue::F64(vec![scale])),
            attr("add_offset", AttrValue::F64(vec![offset])),
            attr("_FillValue", AttrValue::I16(vec![-32767])),
        ],
        vec![],
    );
    meta.var.dtype = DType::I16;
    let mut f = synthetic_field(&holes);
    for v in f.values.iter_mut() {
        *v += 280.0;
    }
    f.values[11] = unpacked_fill; // a reconstruction that hits it exactly
    let out = tmp.join("packed.nc");
    write_variable(&out, &f, &meta).expect("write");
    let b = read_variable(&out, None).expect("read");
    assert_same_field(&f, &b.field, "packed");
    assert_eq!(
        cf::attr(&b.meta.var.attrs, "_FillValue"),
        Some(&AttrValue::F32(vec![hiha_io::NC_FILL_FLOAT]))
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
