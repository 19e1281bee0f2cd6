//! Every real file reads with the right shape, range, layout and grid.

mod common;

use std::path::Path;

use hiha_core::field::Shape;
use hiha_io::{read_variable, LatOrder, LonConvention};

/// (file, variable, frames, levels, lat, lon, level dim?, min range, max range)
type Expect = (
    &'static str,
    &'static str,
    [usize; 4],
    bool,
    (f32, f32),
    (f32, f32),
);

const EXPECT: &[Expect] = &[
    (
        "era5_enda10_z_pl500-850_3deg_global_20170101-02_4t.nc",
        "z",
        [40, 2, 61, 120],
        true,
        (8000.0, 12000.0),
        (50000.0, 60000.0),
    ),
    (
        "era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc",
        "t",
        [40, 2, 61, 120],
        true,
        (200.0, 240.0),
        (290.0, 320.0),
    ),
    (
        "eraint_z_pl200-500-850_0p75deg_global_janjul.nc",
        "z",
        [2, 3, 241, 480],
        true,
        (9000.0, 12000.0),
        (110000.0, 130000.0),
    ),
    (
        "eraint_u_pl200-500-850_0p75deg_global_janjul.nc",
        "u",
        [2, 3, 241, 480],
        true,
        (-60.0, -5.0),
        (30.0, 120.0),
    ),
    (
        "eraint_v_pl200-500-850_0p75deg_global_janjul.nc",
        "v",
        [2, 3, 241, 480],
        true,
        (-60.0, -5.0),
        (5.0, 60.0),
    ),
    (
        "era5_q_pl100-1000_0p25deg_westeurope_20200101_24h.nc",
        "q",
        [24, 20, 41, 41],
        true,
        (0.0, 1e-5),
        (1e-3, 0.03),
    ),
    (
        "era5_u_pl100-1000_0p25deg_westeurope_20200101_24h.nc",
        "u",
        [24, 20, 41, 41],
        true,
        (-80.0, 0.0),
        (10.0, 120.0),
    ),
    (
        "era5_v_pl100-1000_0p25deg_westeurope_20200101_24h.nc",
        "v",
        [24, 20, 41, 41],
        true,
        (-80.0, 0.0),
        (5.0, 120.0),
    ),
    (
        "era5_t2m_sfc_0p25deg_uk_201903_744h.nc",
        "t2m",
        [744, 1, 33, 49],
        false,
        (240.0, 275.0),
        (280.0, 300.0),
    ),
    (
        "gfs_t_pl26_2p5deg_global_2011101100_f072.nc",
        "t",
        [1, 26, 73, 144],
        true,
        (170.0, 210.0),
        (300.0, 320.0),
    ),
    (
        "gfs_u_pl26_2p5deg_global_2011101100_f072.nc",
        "u",
        [1, 26, 73, 144],
        true,
        (-100.0, -10.0),
        (30.0, 150.0),
    ),
    (
        "gfs_v_pl26_2p5deg_global_2011101100_f072.nc",
        "v",
        [1, 26, 73, 144],
        true,
        (-100.0, -10.0),
        (10.0, 150.0),
    ),
    (
        "gfs_gh_pl26_2p5deg_global_2011101100_f072.nc",
        "gh",
        [1, 26, 73, 144],
        true,
        (-1000.0, 500.0),
        (30000.0, 33000.0),
    ),
    (
        "gfs_r_pl25_2p5deg_global_2011101100_f072.nc",
        "r",
        [1, 25, 73, 144],
        true,
        (0.0, 5.0),
        (90.0, 100.5),
    ),
    (
        "reanalysis_gh_500hPa_2p5deg_global_21t.nc",
        "gh",
        [21, 1, 73, 144],
        true,
        (4500.0, 5200.0),
        (5600.0, 6000.0),
    ),
];

fn check(path: &Path, e: &Expect) {
    let (_, var, [f, l, y, x], has_level, lo, hi) = *e;
    let got = read_variable(path, None).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert_eq!(got.meta.var.name, var, "{}", path.display());
    assert_eq!(
        got.field.shape,
        Shape::new(f, l, y, x),
        "{}",
        path.display()
    );
    assert_eq!(got.meta.var.layout.level_dim.is_some(), has_level);
    assert_eq!(got.meta.var.layout.lat_dim, "latitude");
    assert_eq!(got.meta.var.layout.lon_dim, "longitude");
    assert_eq!(
        got.meta.var.layout.frame_dims + 2 + usize::from(has_level),
        got.meta.var.layout.dims.len()
    );
    assert_eq!(got.grid.lat.len(), y);
    assert_eq!(got.grid.lon.len(), x);
    assert_eq!(
        got.grid.levels.as_ref().map(Vec::len),
        has_level.then_some(l)
    );
    let (min, max) = got.field.value_range().expect("some valid values");
    assert!(
        min >= lo.0 && min <= lo.1,
        "{}: min {min} not in {lo:?}",
        path.display()
    );
    assert!(
        max >= hi.0 && max <= hi.1,
        "{}: max {max} not in {hi:?}",
        path.display()
    );
    assert_eq!(
        got.field.valid_count(),
        got.field.values.len(),
        "no missing values expected"
    );
    // Every other variable is kept.
    let n_aux = got.meta.aux_vars.len();
    // Every dim of these files has a coordinate variable, and nothing else is there.
    assert_eq!(
        n_aux,
        got.meta.var.layout.dims.len(),
        "{}: aux vars {n_aux}",
        path.display()
    );
    for a in &got.meta.aux_vars {
        assert!(
            !a.attrs.is_empty(),
            "aux var {} lost its attributes",
            a.name
        );
    }
    assert!(got
        .meta
        .global_attrs
        .iter()
        .any(|a| a.name == "Conventions"));
    // Grid facts.
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let global = name.contains("global");
    assert_eq!(got.grid.global_lon, global, "{name}");
    if name.starts_with("reanalysis") {
        assert_eq!(got.grid.lat_order, LatOrder::SouthToNorth);
    } else {
        assert_eq!(got.grid.lat_order, LatOrder::NorthToSouth);
    }
    let conv = if name.starts_with("eraint") || name.contains("_uk_") {
        LonConvention::Minus180To180
    } else if global {
        LonConvention::ZeroTo360
    } else {
        LonConvention::Regional
    };
    assert_eq!(got.grid.lon_convention, conv, "{name}");
}

#[test]
fn bundled_samples_read() {
    let dir = common::samples_dir();
    let mut seen = 0;
    for e in EXPECT {
        let p = dir.join(e.0);
        if p.exists() {
            check(&p, e);
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "both bundled NetCDF-3 samples must be present");
    let t = read_variable(&dir.join(EXPECT[1].0), Some("t")).expect("named read");
    assert_eq!(t.grid.levels, Some(vec![850.0, 500.0]));
    assert_eq!(t.grid.lat[0], 90.0);
    assert_eq!(t.grid.lat_step(), -3.0);
    assert_eq!(t.grid.lon_step(), 3.0);
    assert_eq!(t.meta.var.layout.frame_dims, 2);
    assert_eq!(t.meta.dim("number").map(|d| d.len), Some(10));
}

#[test]
fn every_shared_file_reads() {
    let Some(dir) = common::shared_dir() else {
        return;
    };
    let files = common::nc_files(&dir);
    assert!(!files.is_empty(), "no .nc files in {}", dir.display());
    for p in files {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let t = std::time::Instant::now();
        match EXPECT.iter().find(|e| e.0 == name) {
            Some(e) => check(&p, e),
            None => {
                // A file added later: it must at least read.
                let got = read_variable(&p, None).unwrap_or_else(|err| panic!("{name}: {err}"));
                assert!(got.field.value_range().is_some());
            }
        }
        println!("read {name} in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
}

/// The packed int16 file unpacks to the float32 copies within one packing step.
#[test]
fn packed_int16_matches_float32_copies() {
    let Some(dir) = common::shared_dir() else {
        return;
    };
    let packed = dir.join("native/eraint_uvz.nc");
    if !packed.exists() {
        println!("note: {} absent, skipped", packed.display());
        return;
    }
    // Without a name the file is ambiguous: three data variables.
    match read_variable(&packed, None) {
        Err(hiha_io::IoError::NotFound {
            var: None,
            candidates,
        }) => {
            assert_eq!(candidates, vec!["z", "u", "v"]);
        }
        other => panic!("expected NotFound with candidates, got {other:?}"),
    }
    for var in ["z", "u", "v"] {
        let p = read_variable(&packed, Some(var)).expect("packed read");
        assert_eq!(p.meta.var.dtype, hiha_core::meta::DType::I16);
        let scale = hiha_io::cf::packing(&p.meta.var.attrs)
            .expect("packed")
            .scale
            .abs();
        let f = read_variable(
            &dir.join(format!(
                "eraint_{var}_pl200-500-850_0p75deg_global_janjul.nc"
            )),
            None,
        )
        .expect("float read");
        assert_eq!(p.field.shape, f.field.shape);
        assert_eq!(p.grid.lat, f.grid.lat);
        assert_eq!(p.grid.lon, f.grid.lon);
        assert_eq!(p.grid.levels, f.grid.levels);
        let mut worst = 0f64;
        for (a, b) in p.field.values.iter().zip(&f.field.values) {
            worst = worst.max((*a as f64 - *b as f64).abs());
        }
        println!("{var}: packing step {scale:e}, max |packed - float32| = {worst:e}");
        assert!(worst <= scale, "{var}: {worst} > one step {scale}");
    }
}

/// A NetCDF-4 (HDF5, zlib, int16-packed, unlimited time, _FillValue) file
/// reads, and matches the NetCDF-3 sample it was made from.
#[test]
fn netcdf4_sample_reads() {
    let dir = common::samples_dir();
    let nc4 = dir.join("gfs_t_pl6_2p5deg_global_nc4_packed.nc");
    if !cfg!(feature = "netcdf4") {
        let e = read_variable(&nc4, None).expect_err("NetCDF-4 off");
        assert!(
            matches!(e, hiha_io::IoError::UnsupportedFormat(ref m) if m.contains("NetCDF-4 not supported in this build")),
            "{e}"
        );
        return;
    }
    assert_eq!(hiha_io::file_format(&nc4).expect("format"), "NetCDF-4");
    let got = read_variable(&nc4, None).expect("NetCDF-4 read");
    assert_eq!(got.field.shape, Shape::new(1, 6, 73, 144));
    assert_eq!(got.grid.lat_order, LatOrder::SouthToNorth);
    assert!(got.meta.dim("time").is_some_and(|d| d.unlimited));
    let mask = got.field.missing.as_ref().expect("a block of fill values");
    assert_eq!(mask.iter().filter(|&&m| m).count(), 40);
    let src = read_variable(
        &dir.join("gfs_t_pl26_2p5deg_global_2011101100_f072.nc"),
        None,
    )
    .expect("nc3");
    let (ny, nx) = (73, 144);
    let mut worst = 0f32;
    for l in 0..6 {
        for y in 0..ny {
            for x in 0..nx {
                let i = (l * ny + y) * nx + x;
                let j = (l * ny + (ny - 1 - y)) * nx + x; // latitudes flipped
                let missing = l == 2 && (10..14).contains(&y) && (20..30).contains(&x);
                assert_eq!(got.field.is_missing(i), missing, "mask at l{l} y{y} x{x}");
                if !missing {
                    worst = worst.max((got.field.values[i] - src.field.values[j]).abs());
                }
            }
        }
    }
    assert!(
        worst <= 0.0051,
        "max diff {worst} above half a packing step"
    );
}

/// A classic CDF-1 file with a record (unlimited) dim, written by netCDF-C.
#[test]
fn cdf1_sample_reads() {
    let dir = common::samples_dir();
    let p = dir.join("gfs_t_pl2_2p5deg_global_cdf1.nc");
    assert_eq!(hiha_io::file_format(&p).expect("format"), "CDF-1 (classic)");
    let got = read_variable(&p, None).expect("CDF-1 read");
    assert_eq!(got.field.shape, Shape::new(1, 2, 73, 144));
    assert!(got
        .meta
        .dim("time")
        .is_some_and(|d| d.unlimited && d.len == 1));
    assert_eq!(got.grid.levels, Some(vec![1000.0, 500.0]));
    let src = read_variable(
        &dir.join("gfs_t_pl26_2p5deg_global_2011101100_f072.nc"),
        None,
    )
    .expect("nc3");
    let n = 73 * 144;
    assert_eq!(got.field.values[..n], src.field.values[..n]);
    assert_eq!(got.field.values[n..], src.field.values[12 * n..13 * n]);
}
