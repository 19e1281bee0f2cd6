//! Files written by hiha-io open in Python netCDF4/xarray and agree with
//! their sources. Needs a Python with netCDF4 and xarray: the repository's
//! `.venv` (made by `scripts/setup_python.sh`, which the README's test
//! command runs first) or `HIHA_PYTHON`. Without one the test fails: a
//! missing dependency is an install step, never a reason to skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hiha_core::field::{Field, Shape};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use hiha_io::{read_variable, write_netcdf, write_variable, Existing, OutputFormat, OutputVar};

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HIHA_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import netCDF4, xarray, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/compare.py")
}

fn run(py: &Path, args: &[&Path], var: Option<&str>) {
    let mut c = Command::new(py);
    c.arg(script()).args(args);
    if let Some(v) = var {
        c.arg(v);
    }
    let o = c.output().expect("run python");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    print!("{out}");
    assert!(o.status.success(), "python check failed:\n{out}\n{err}");
}

#[test]
fn python_netcdf4_and_xarray_agree() {
    let py = python().expect(
        "no Python with netCDF4 and xarray: run scripts/setup_python.sh (or set HIHA_PYTHON)",
    );
    let tmp = common::tmp_dir("python");
    let mut files: Vec<(PathBuf, Option<&str>)> = common::nc_files(&common::samples_dir())
        .into_iter()
        .map(|p| (p, None))
        .collect();
    if let Some(d) = common::shared_dir() {
        let packed = d.join("native/eraint_uvz.nc");
        if packed.exists() {
            files.push((packed.clone(), Some("z")));
            files.push((packed, Some("u")));
        }
        let t2m = d.join("era5_t2m_sfc_0p25deg_uk_201903_744h.nc");
        if t2m.exists() {
            files.push((t2m, None));
        }
    }
    for (i, (src, var)) in files.iter().enumerate() {
        let l = read_variable(src, *var).expect("read");
        let out = tmp.join(format!("out{i}.nc"));
        write_variable(&out, &l.field, &l.meta).expect("write");
        run(&py, &[src, &out], Some(&l.meta.var.name));
        // The same as NetCDF-4 (float32, shuffle + zlib).
        let out = tmp.join(format!("out{i}_nc4.nc"));
        write_nc4(&out, &l.field, &l.meta);
        run(&py, &[src, &out], Some(&l.meta.var.name));
    }
    // The synthetic file: record dim, padded i16 record variable, char and
    // byte variables, missing values; in NetCDF-3 and NetCDF-4.
    let out = tmp.join("synthetic.nc");
    let (field, meta) = synthetic();
    write_variable(&out, &field, &meta).expect("write");
    run(&py, &[Path::new("--synthetic"), &out], None);
    let out = tmp.join("synthetic_nc4.nc");
    write_nc4(&out, &field, &meta);
    run(&py, &[Path::new("--synthetic"), &out], None);
    // With unsigned and 64-bit types the file is CDF-5.
    let (field, mut meta) = synthetic();
    let nchar = || vec!["nchar".to_string()];
    meta.aux_vars.push(AuxVar {
        name: "u16".into(),
        dims: nchar(),
        dtype: DType::U16,
        attrs: vec![],
        data: CoordData::I32(vec![0, 1, 65535, 4, 5]),
    });
    meta.aux_vars.push(AuxVar {
        name: "i64".into(),
        dims: nchar(),
        dtype: DType::I64,
        attrs: vec![],
        data: CoordData::I64(vec![i64::MIN, -1, 0, 1, i64::MAX]),
    });
    meta.aux_vars.push(AuxVar {
        name: "u64".into(),
        dims: nchar(),
        dtype: DType::U64,
        attrs: vec![Attr::new("a", AttrValue::U64(vec![u64::MAX]))],
        data: CoordData::I64(vec![-1, 0, 1, 2, 3]),
    });
    let out = tmp.join("cdf5.nc");
    write_variable(&out, &field, &meta).expect("write");
    run(&py, &[Path::new("--cdf5"), &out], None);
    let out = tmp.join("cdf5_nc4.nc");
    write_nc4(&out, &field, &meta);
    run(&py, &[Path::new("--cdf5"), &out], None);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Writes one variable as NetCDF-4, float32.
fn write_nc4(out: &Path, field: &Field, meta: &DatasetMeta) {
    let v = OutputVar {
        field,
        meta,
        repack: None,
    };
    write_netcdf(out, &[v], OutputFormat::Nc4, Existing::Replace)
        .unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}

fn synthetic() -> (Field, DatasetMeta) {
    let text = |s: &str| AttrValue::Text(s.into());
    let aux = vec![
        AuxVar {
            name: "time".into(),
            dims: vec!["time".into()],
            dtype: DType::F64,
            attrs: vec![Attr::new("units", text("hours since 2000-01-01"))],
            data: CoordData::F64(vec![0.0, 6.0, 12.0]),
        },
        AuxVar {
            name: "lat".into(),
            dims: vec!["lat".into()],
            dtype: DType::F32,
            attrs: vec![Attr::new("units", text("degrees_north"))],
            data: CoordData::F32(vec![-30.0, -10.0, 10.0, 30.0]),
        },
        AuxVar {
            name: "lon".into(),
            dims: vec!["lon".into()],
            dtype: DType::F64,
            attrs: vec![Attr::new("units", text("degrees_east"))],
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
            attrs: vec![],
            data: CoordData::Text(b"abc\0\0".to_vec()),
        },
        AuxVar {
            name: "code".into(),
            dims: vec!["nchar".into()],
            dtype: DType::I8,
            attrs: vec![],
            data: CoordData::I8(vec![1, -2, 3, -4, 5]),
        },
    ];
    let meta = DatasetMeta {
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
            Attr::new("s", AttrValue::I16(vec![-300, 2])),
            Attr::new("d", AttrValue::F64(vec![1e300])),
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
            attrs: vec![Attr::new("_FillValue", AttrValue::F32(vec![-999.0]))],
        },
    };
    let mut mask = vec![false; 60];
    for i in [0, 7, 19, 20, 33, 59] {
        mask[i] = true;
    }
    let values = (0..60).map(|i| i as f32 * 0.37 - 5.0).collect();
    (
        Field::new(Shape::new(3, 1, 4, 5), values, Some(mask)).expect("field"),
        meta,
    )
}
