//! Bad inputs give the right error kind, never a panic.

mod common;

use std::path::{Path, PathBuf};

use hiha_core::field::{Field, Shape};
use hiha_core::meta::{
    Attr, AttrValue, AuxVar, CoordData, DType, DatasetMeta, Dim, VarLayout, VarMeta,
};
use hiha_io::{list_variables, read_variable, write_variable, IoError};

fn sample() -> PathBuf {
    common::samples_dir().join("gfs_t_pl26_2p5deg_global_2011101100_f072.nc")
}

#[test]
fn garbage_empty_and_missing_files() {
    let tmp = common::tmp_dir("garbage");
    let g = tmp.join("garbage.nc");
    let bytes: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&g, &bytes).expect("write");
    let e = read_variable(&g, None).expect_err("must be refused");
    assert!(matches!(e, IoError::Open { .. }), "{e}");
    assert!(e.to_string().contains("garbage.nc"), "{e}");
    assert!(matches!(list_variables(&g), Err(IoError::Open { .. })));
    let empty = tmp.join("empty.nc");
    std::fs::write(&empty, b"").expect("write");
    assert!(matches!(
        read_variable(&empty, None),
        Err(IoError::Open { .. })
    ));
    // A CDF magic followed by garbage.
    let mut fake = b"CDF\x02".to_vec();
    fake.extend_from_slice(&bytes[..200]);
    std::fs::write(&g, &fake).expect("write");
    assert!(matches!(
        read_variable(&g, None),
        Err(IoError::Open { .. } | IoError::Corrupt { .. })
    ));
    // An HDF5 magic followed by garbage.
    let mut fake = b"\x89HDF\r\n\x1a\n".to_vec();
    fake.extend_from_slice(&bytes[..600]);
    std::fs::write(&g, &fake).expect("write");
    assert!(matches!(
        read_variable(&g, None),
        Err(IoError::Open { .. } | IoError::Corrupt { .. } | IoError::UnsupportedFormat(_))
    ));
    // An operating-system error, not a statement about the contents.
    let e = read_variable(Path::new("/nonexistent/dir/x.nc"), None).expect_err("must be refused");
    assert!(
        matches!(
            e,
            IoError::Read {
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ),
        "{e}"
    );
    // A GRIB file is named as such.
    let mut grib = b"GRIB".to_vec();
    grib.extend_from_slice(&bytes[..300]);
    std::fs::write(&g, &grib).expect("write");
    let e = read_variable(&g, None).expect_err("must be refused");
    assert!(
        matches!(e, IoError::Open { .. }) && e.to_string().contains("GRIB"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn truncated_files_are_refused() {
    let tmp = common::tmp_dir("trunc");
    let mut sources = vec![sample()];
    if cfg!(feature = "netcdf4") {
        sources.push(common::samples_dir().join("gfs_t_pl6_2p5deg_global_nc4_packed.nc"));
    }
    for src in sources {
        let bytes = std::fs::read(&src).expect("sample");
        let n = bytes.len();
        for cut in [
            0,
            3,
            4,
            10,
            64,
            300,
            700,
            2000,
            n / 3,
            n / 2,
            n - 1000,
            n - 4,
            n - 1,
        ] {
            let p = tmp.join(format!("cut{cut}.nc"));
            std::fs::write(&p, &bytes[..cut]).expect("write");
            match read_variable(&p, None) {
                Err(IoError::Open { .. } | IoError::Corrupt { .. }) => {}
                other => panic!(
                    "{} cut at {cut} of {n}: expected Open/Corrupt, got {:?}",
                    src.display(),
                    other.map(|l| l.field.shape)
                ),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Damaged headers: any byte of the header changed gives an error or a
/// read, never a panic (and never a huge allocation).
#[test]
fn damaged_headers_never_panic() {
    let tmp = common::tmp_dir("fuzz");
    let bytes = std::fs::read(sample()).expect("sample");
    let p = tmp.join("fuzz.nc");
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    for round in 0..300 {
        let mut b = bytes.clone();
        let k = 1 + round % 3;
        for _ in 0..k {
            let pos = (next() % 1200) as usize;
            b[pos] = match next() % 4 {
                0 => 0xFF,
                1 => 0,
                2 => b[pos] ^ (1 << (next() % 8)),
                _ => next() as u8,
            };
        }
        std::fs::write(&p, &b).expect("write");
        if read_variable(&p, None).is_err() {
            errors += 1;
        }
        let _ = list_variables(&p);
    }
    println!("damaged headers: {errors} of 300 refused, the rest still readable");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn unknown_variable_lists_candidates() {
    let e = read_variable(&sample(), Some("temperature")).expect_err("must be refused");
    match &e {
        IoError::NotFound { var, candidates } => {
            assert_eq!(var.as_deref(), Some("temperature"));
            assert_eq!(candidates, &vec!["t".to_string()]);
        }
        other => panic!("expected NotFound, got {other}"),
    }
    assert!(e.to_string().contains("'temperature'") && e.to_string().contains('t'));
    // A coordinate variable is not a field.
    assert!(matches!(
        read_variable(&sample(), Some("level")),
        Err(IoError::BadShape(_))
    ));
}

fn coord(name: &str, units: &str, v: Vec<f64>) -> AuxVar {
    AuxVar {
        name: name.into(),
        dims: vec![name.into()],
        dtype: DType::F64,
        attrs: vec![Attr::new("units", AttrValue::Text(units.into()))],
        data: CoordData::F64(v),
    }
}

fn lin(a: f64, step: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| a + step * i as f64).collect()
}

/// A file with `x(time, <ydim>, <xdim>)` and the given aux vars.
fn write_grid(path: &Path, ydim: (&str, usize), xdim: (&str, usize), aux: Vec<AuxVar>) {
    let meta = DatasetMeta {
        dims: vec![
            Dim {
                name: "time".into(),
                len: 2,
                unlimited: false,
            },
            Dim {
                name: ydim.0.into(),
                len: ydim.1,
                unlimited: false,
            },
            Dim {
                name: xdim.0.into(),
                len: xdim.1,
                unlimited: false,
            },
        ],
        global_attrs: vec![],
        aux_vars: aux,
        var: VarMeta {
            name: "x".into(),
            layout: VarLayout {
                dims: vec!["time".into(), ydim.0.into(), xdim.0.into()],
                frame_dims: 1,
                level_dim: None,
                lat_dim: ydim.0.into(),
                lon_dim: xdim.0.into(),
            },
            dtype: DType::F32,
            attrs: vec![],
        },
    };
    let n = 2 * ydim.1 * xdim.1;
    let field = Field::new(
        Shape::new(2, 1, ydim.1, xdim.1),
        (0..n).map(|i| i as f32).collect(),
        None,
    )
    .expect("field");
    write_variable(path, &field, &meta).expect("write test file");
}

fn grid_error(path: &Path) -> String {
    match read_variable(path, None) {
        Err(IoError::NotRegularGrid(m)) => m,
        other => panic!("expected NotRegularGrid, got {:?}", other.map(|l| l.grid)),
    }
}

#[test]
fn irregular_grids_are_refused_with_a_reason() {
    let tmp = common::tmp_dir("grids");
    let p = tmp.join("g.nc");
    let lon = || coord("lon", "degrees_east", lin(0.0, 10.0, 36));
    // Regular: reads.
    write_grid(
        &p,
        ("lat", 19),
        ("lon", 36),
        vec![coord("lat", "degrees_north", lin(-90.0, 10.0, 19)), lon()],
    );
    let ok = read_variable(&p, None).expect("regular grid");
    assert!(ok.grid.global_lon);
    // Irregular latitude spacing.
    let mut lat = lin(-90.0, 10.0, 19);
    lat[5] += 0.2;
    write_grid(
        &p,
        ("lat", 19),
        ("lon", 36),
        vec![coord("lat", "degrees_north", lat), lon()],
    );
    let m = grid_error(&p);
    assert!(m.contains("uniformly spaced") && m.contains("'lat'"), "{m}");
    // Tiny deviation (f32 rounding) is accepted.
    let mut lat = lin(-90.0, 10.0, 19);
    lat[5] += 1e-5;
    write_grid(
        &p,
        ("lat", 19),
        ("lon", 36),
        vec![coord("lat", "degrees_north", lat), lon()],
    );
    assert!(read_variable(&p, None).is_ok());
    // Non-monotonic longitude.
    let mut lo = lin(0.0, 10.0, 36);
    lo.swap(7, 8);
    write_grid(
        &p,
        ("lat", 19),
        ("lon", 36),
        vec![
            coord("lat", "degrees_north", lin(-90.0, 10.0, 19)),
            coord("lon", "degrees_east", lo),
        ],
    );
    assert!(grid_error(&p).contains("monotonic"));
    // Gaussian latitudes (N32: 64 rows, first 87.8638 degrees).
    let gauss = gaussian(64);
    write_grid(
        &p,
        ("lat", 64),
        ("lon", 36),
        vec![coord("lat", "degrees_north", gauss), lon()],
    );
    let m = grid_error(&p);
    assert!(m.contains("Gaussian"), "{m}");
    // No coordinate variable for latitude.
    write_grid(&p, ("lat", 19), ("lon", 36), vec![lon()]);
    let m = grid_error(&p);
    assert!(
        m.contains("no 1-D coordinate") && m.contains("'lat'"),
        "{m}"
    );
    // Curvilinear: 2-D latitude and longitude on (y, x).
    let two_d = |name: &str, units: &str| AuxVar {
        name: name.into(),
        dims: vec!["y".into(), "x".into()],
        dtype: DType::F64,
        attrs: vec![
            Attr::new("units", AttrValue::Text(units.into())),
            Attr::new("standard_name", AttrValue::Text(name.into())),
        ],
        data: CoordData::F64((0..12).map(|i| i as f64).collect()),
    };
    write_grid(
        &p,
        ("y", 3),
        ("x", 4),
        vec![
            two_d("latitude", "degrees_north"),
            two_d("longitude", "degrees_east"),
        ],
    );
    let m = grid_error(&p);
    assert!(m.contains("curvilinear") && m.contains("2-D"), "{m}");
    // Longitude before latitude.
    write_grid(
        &p,
        ("lon", 36),
        ("lat", 19),
        vec![coord("lat", "degrees_north", lin(-90.0, 10.0, 19)), lon()],
    );
    assert!(
        matches!(read_variable(&p, None), Err(IoError::BadShape(m)) if m.contains("longitude before latitude"))
    );
    // Unrecognised dims.
    write_grid(&p, ("a", 3), ("b", 4), vec![]);
    assert!(
        matches!(read_variable(&p, None), Err(IoError::BadShape(m)) if m.contains("not recognised"))
    );
    // Latitude beyond the pole.
    write_grid(
        &p,
        ("lat", 19),
        ("lon", 36),
        vec![coord("lat", "degrees_north", lin(-95.0, 10.0, 19)), lon()],
    );
    assert!(grid_error(&p).contains("outside [-90, 90]"));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Gaussian latitudes by bisection on the Legendre polynomial, independent
/// of the implementation under test.
fn gaussian(n: usize) -> Vec<f64> {
    let p = |x: f64| {
        let (mut p0, mut p1) = (1.0, x);
        for k in 2..=n {
            let k = k as f64;
            let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
            p0 = p1;
            p1 = p2;
        }
        p1
    };
    let mut roots = Vec::new();
    let steps = 20000;
    for i in 0..steps {
        let (a, b) = (
            1.0 - 2.0 * i as f64 / steps as f64,
            1.0 - 2.0 * (i + 1) as f64 / steps as f64,
        );
        if p(a) * p(b) < 0.0 {
            let (mut lo, mut hi) = (a, b);
            for _ in 0..100 {
                let m = 0.5 * (lo + hi);
                if p(lo) * p(m) <= 0.0 {
                    hi = m;
                } else {
                    lo = m;
                }
            }
            roots.push((0.5 * (lo + hi)).asin().to_degrees());
        }
    }
    assert_eq!(roots.len(), n);
    roots
}

#[test]
fn writing_a_mismatched_field_is_refused() {
    let l = read_variable(&sample(), None).expect("sample");
    let s = l.field.shape;
    let wrong = Field::new(
        Shape::new(s.frames, s.levels - 1, s.lat, s.lon),
        vec![0.0; s.frames * (s.levels - 1) * s.lat * s.lon],
        None,
    )
    .expect("field");
    let tmp = common::tmp_dir("mismatch");
    let out = tmp.join("o.nc");
    assert!(matches!(
        write_variable(&out, &wrong, &l.meta),
        Err(IoError::BadShape(_))
    ));
    assert!(!out.exists(), "no file is left behind");
    let mut meta = l.meta.clone();
    meta.dims.retain(|d| d.name != "time");
    assert!(matches!(
        write_variable(&out, &l.field, &meta),
        Err(IoError::BadShape(_))
    ));
    // A write into a missing directory is a Write error.
    let e = write_variable(Path::new("/nonexistent/dir/o.nc"), &l.field, &l.meta)
        .expect_err("must be refused");
    assert!(matches!(e, IoError::Write { .. }), "{e}");
    let _ = std::fs::remove_dir_all(&tmp);
}
