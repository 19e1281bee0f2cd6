//! Zarr stores without Python: what hiha-io writes it reads back exactly
//! (values, missing points, coordinates, attributes, strings, a scalar),
//! packed variables stay packed, and damaged or hostile stores are errors,
//! never a panic or an unbounded allocation.

mod common;

use hiha_core::field::{Field, Shape};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use hiha_io::{zarr, Existing, IoError, OutputVar, VarEncoding};

fn dataset() -> (Field, DatasetMeta) {
    let shape = Shape::new(3, 2, 5, 8);
    let values: Vec<f32> = (0..shape.len())
        .map(|i| 250.0 + (i as f32 * 0.37).sin() * 20.0)
        .collect();
    let mut mask = vec![false; shape.len()];
    mask[7] = true;
    mask[200] = true;
    let field = Field::new(shape, values, Some(mask)).expect("field");
    let dim = |name: &str, len: usize| Dim {
        name: name.into(),
        len,
        unlimited: false,
    };
    let coord = |name: &str, data: CoordData, dtype: DType, attrs: Vec<Attr>| AuxVar {
        name: name.into(),
        dims: vec![name.into()],
        dtype,
        attrs,
        data,
    };
    let text = |s: &str| AttrValue::Text(s.into());
    let meta = DatasetMeta {
        dims: vec![
            dim("time", 3),
            dim("level", 2),
            dim("lat", 5),
            dim("lon", 8),
            dim("expver_strlen", 4),
        ],
        global_attrs: vec![
            Attr::new("Conventions", text("CF-1.8")),
            Attr::new("history", text("made by a test")),
        ],
        aux_vars: vec![
            coord(
                "time",
                CoordData::I64(vec![0, 3600, 7200]),
                DType::I64,
                vec![Attr::new("units", text("seconds since 1970-01-01"))],
            ),
            coord(
                "level",
                CoordData::F64(vec![500.0, 850.0]),
                DType::F64,
                vec![Attr::new("units", text("hPa"))],
            ),
            coord(
                "lat",
                CoordData::F64((0..5).map(|i| -40.0 + 20.0 * f64::from(i)).collect()),
                DType::F64,
                vec![Attr::new("units", text("degrees_north"))],
            ),
            coord(
                "lon",
                CoordData::F32((0..8).map(|i| 45.0 * i as f32).collect()),
                DType::F32,
                vec![Attr::new("units", text("degrees_east"))],
            ),
            AuxVar {
                name: "expver".into(),
                dims: vec!["time".into(), "expver_strlen".into()],
                dtype: DType::Char,
                attrs: vec![Attr::new("_Encoding", text("utf-8"))],
                data: CoordData::Text(b"0001000105\0\0".to_vec()),
            },
            AuxVar {
                name: "number".into(),
                dims: vec![],
                dtype: DType::I64,
                attrs: vec![Attr::new("long_name", text("member"))],
                data: CoordData::I64(vec![7]),
            },
        ],
        var: VarMeta {
            name: "t".into(),
            layout: VarLayout {
                dims: ["time", "level", "lat", "lon"].map(String::from).to_vec(),
                frame_dims: 1,
                level_dim: Some("level".into()),
                lat_dim: "lat".into(),
                lon_dim: "lon".into(),
            },
            dtype: DType::F32,
            attrs: vec![
                Attr::new("units", text("K")),
                Attr::new("_FillValue", AttrValue::F32(vec![-999.0])),
            ],
        },
    };
    (field, meta)
}

#[test]
fn what_is_written_reads_back() {
    let (field, meta) = dataset();
    let out = common::tmp_dir("zarr").join("a.zarr");
    let w = zarr::write_store(
        &out,
        &[OutputVar {
            field: &field,
            meta: &meta,
            repack: None,
        }],
        Existing::Refuse,
    )
    .expect("write");
    assert_eq!(w.vars[0].1, VarEncoding::Float32 { reason: None });
    assert!(zarr::is_store(&out));
    assert_eq!(w.bytes, zarr::store_bytes(&out));
    let back = zarr::read_dataset(&out, None).expect("read back");
    assert_eq!(back.variables.len(), 1);
    let v = &back.variables[0];
    assert_eq!(v.field.shape, field.shape);
    assert_eq!(v.field.missing, field.missing);
    for (i, (a, b)) in field.values.iter().zip(&v.field.values).enumerate() {
        if !field.is_missing(i) {
            assert_eq!(a.to_bits(), b.to_bits(), "element {i}");
        }
    }
    let m = &v.meta;
    for name in ["time", "level", "lat", "lon", "number"] {
        assert_eq!(
            m.aux(name).map(|a| &a.data),
            meta.aux(name).map(|a| &a.data),
            "{name}"
        );
    }
    // Strings come back as strings (a char array of the longest width).
    let ex = m.aux("expver").expect("expver");
    assert_eq!(ex.data, CoordData::Text(b"0001000105\0\0".to_vec()));
    assert!(m.global_attrs.iter().any(|a| a.name == "Conventions"));
    assert!(m
        .var
        .attrs
        .iter()
        .any(|a| a.name == "units" && a.value == AttrValue::Text("K".into())));

    // Not replaced without Replace; a directory that is not a store never.
    let again = zarr::write_store(
        &out,
        &[OutputVar {
            field: &field,
            meta: &meta,
            repack: None,
        }],
        Existing::Refuse,
    );
    assert!(matches!(again, Err(IoError::Exists { .. })), "{again:?}");
    let other = common::tmp_dir("zarr").join("other");
    std::fs::create_dir_all(&other).expect("dir");
    std::fs::write(other.join("mine.txt"), "x").expect("file");
    let r = zarr::write_store(
        &other,
        &[OutputVar {
            field: &field,
            meta: &meta,
            repack: None,
        }],
        Existing::Replace,
    );
    assert!(r.is_err());
    assert!(other.join("mine.txt").exists());
}

#[test]
fn damaged_and_hostile_stores_are_errors() {
    let (field, meta) = dataset();
    let dir = common::tmp_dir("zarr_bad");
    let good = dir.join("good.zarr");
    zarr::write_store(
        &good,
        &[OutputVar {
            field: &field,
            meta: &meta,
            repack: None,
        }],
        Existing::Replace,
    )
    .expect("write");
    let copy = |name: &str| {
        let to = dir.join(name);
        let _ = std::fs::remove_dir_all(&to);
        let status = std::process::Command::new("cp")
            .args(["-r"])
            .arg(&good)
            .arg(&to)
            .status()
            .expect("cp");
        assert!(status.success());
        to
    };
    // A truncated chunk.
    let s = copy("truncated.zarr");
    let chunk = std::fs::read_dir(s.join("t/c/0/0/0"))
        .expect("chunks")
        .flatten()
        .next()
        .expect("a chunk")
        .path();
    let bytes = std::fs::read(&chunk).expect("chunk");
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).expect("truncate");
    let e = zarr::read_dataset(&s, None).expect_err("truncated");
    assert!(matches!(e, IoError::Corrupt { .. }), "{e}");
    // A shape far beyond memory: refused before allocating.
    let s = copy("huge.zarr");
    let doc = std::fs::read_to_string(s.join("t/zarr.json")).expect("meta");
    let doc = doc.replacen(
        "\"shape\": [\n    3,",
        "\"shape\": [\n    3000000000000,",
        1,
    );
    std::fs::write(s.join("t/zarr.json"), doc).expect("edit");
    let e = zarr::read_dataset(&s, None).expect_err("huge");
    assert!(
        e.to_string().contains("too large") || e.to_string().contains("length"),
        "{e}"
    );
    // A consistent store whose array would need 40 TB: refused before
    // anything is allocated.
    let s = dir.join("vast.zarr");
    let _ = std::fs::remove_dir_all(&s);
    std::fs::create_dir_all(s.join("x")).expect("dir");
    std::fs::write(
        s.join("zarr.json"),
        r#"{"zarr_format": 3, "node_type": "group", "attributes": {}}"#,
    )
    .expect("group");
    std::fs::write(
        s.join("x/zarr.json"),
        r#"{"zarr_format": 3, "node_type": "array", "shape": [1000000, 10000000],
            "data_type": "float32", "fill_value": 0.0, "dimension_names": ["lat", "lon"],
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1000, 1000]}},
            "chunk_key_encoding": {"name": "default"},
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}"#,
    )
    .expect("array");
    let e = zarr::read_dataset(&s, None).expect_err("vast");
    assert!(e.to_string().contains("too large"), "{e}");
    // An unknown codec is named.
    let s = copy("codec.zarr");
    let doc = std::fs::read_to_string(s.join("t/zarr.json")).expect("meta");
    std::fs::write(
        s.join("t/zarr.json"),
        doc.replace("\"blosc\"", "\"snappy9\""),
    )
    .expect("edit");
    let e = zarr::read_dataset(&s, None).expect_err("codec");
    assert!(e.to_string().contains("snappy9"), "{e}");
    // Not JSON.
    let s = copy("json.zarr");
    std::fs::write(s.join("t/zarr.json"), "{not json").expect("edit");
    assert!(zarr::read_dataset(&s, None).is_err());
    // A directory that is no store.
    let e = zarr::read_dataset(&dir, None).expect_err("not a store");
    assert!(e.to_string().contains("not a Zarr store"), "{e}");
}

/// Every file of a store damaged one byte at a time, 300 times: reading
/// gives a value or an error, never a panic.
#[test]
fn byte_flips_never_panic() {
    let (field, meta) = dataset();
    let dir = common::tmp_dir("zarr_flips");
    let good = dir.join("good.zarr");
    zarr::write_store(
        &good,
        &[OutputVar {
            field: &field,
            meta: &meta,
            repack: None,
        }],
        Existing::Replace,
    )
    .expect("write");
    let mut files = Vec::new();
    let mut stack = vec![good.clone()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).expect("list").flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let f = &files[(next() % files.len() as u64) as usize];
        let orig = std::fs::read(f).expect("file");
        if orig.is_empty() {
            continue;
        }
        let mut bad = orig.clone();
        let at = (next() % bad.len() as u64) as usize;
        bad[at] ^= 1 << (next() % 8);
        std::fs::write(f, &bad).expect("damage");
        let _ = zarr::read_dataset(&good, None);
        std::fs::write(f, &orig).expect("restore");
    }
}
