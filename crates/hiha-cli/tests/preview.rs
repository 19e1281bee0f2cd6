//! `hiha decompress --preview K` (issue 12 item 8): a NetCDF file 2^K times
//! coarser per horizontal axis, from the coarse wavelet subbands, with the
//! bytes read printed; refused, with a clear message, where it cannot work.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hiha_core::meta::{AttrValue, CoordData};

mod common;
use common::{repo, run, s};

fn tmp(name: &str) -> PathBuf {
    common::tmp_in("preview", name)
}

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

fn compress(src: &Path, name: &str, nrmse: &str) -> PathBuf {
    let out = tmp(name);
    run(
        Command::new(env!("CARGO_BIN_EXE_hiha")).args([
            "compress",
            s(src),
            "-o",
            s(&out),
            "--nrmse",
            nrmse,
            "-f",
            "-q",
        ]),
        "compress",
    );
    out
}

/// Every `step`-th value of a 1-D coordinate.
fn every(c: &CoordData, step: usize) -> CoordData {
    match c {
        CoordData::F32(v) => CoordData::F32(v.iter().step_by(step).copied().collect()),
        CoordData::F64(v) => CoordData::F64(v.iter().step_by(step).copied().collect()),
        other => panic!("coordinate type {other:?}"),
    }
}

/// "read N of M archive bytes" from the output.
fn bytes_read(out: &str) -> (u64, u64) {
    let line = out
        .lines()
        .find(|l| l.contains("archive bytes"))
        .unwrap_or_else(|| panic!("no bytes read in:\n{out}"));
    let w: Vec<&str> = line.split_whitespace().collect();
    let at = w.iter().position(|&x| x == "read").expect("read");
    (w[at + 1].parse().expect("N"), w[at + 3].parse().expect("M"))
}

/// A field of 2 levels is coded with the dyadic wavelet plan and read in
/// part (docs/ALGORITHM.md "Progressive preview"); one of 26 levels is
/// coded, at this bound, with the segmented streams of format 2.3
/// (wavelet mode 6), which a preview reads whole and subsamples.
#[test]
fn preview_writes_the_coarse_grid_and_reads_part_of_the_archive() {
    check_preview("gfs_t_pl2_2p5deg_global_cdf1.nc", true, 0.5);
    check_preview("gfs_t_pl26_2p5deg_global_2011101100_f072.nc", false, 1.0);
}

/// `in_part`: read in part, at most `fraction` of the archive.
fn check_preview(file: &str, in_part: bool, fraction: f64) {
    let src = repo().join("data/samples").join(file);
    let archive = compress(&src, &format!("{file}.hiha"), "1e-3");
    let out = tmp(&format!("{file}_preview.nc"));
    let o = run(
        Command::new(env!("CARGO_BIN_EXE_hiha")).args([
            "decompress",
            s(&archive),
            "-o",
            s(&out),
            "--preview",
            "2",
            "-f",
        ]),
        "decompress --preview 2",
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (read, size) = bytes_read(&text);
    assert_eq!(size, std::fs::metadata(&archive).expect("archive").len());
    if in_part {
        assert!((read as f64) < fraction * size as f64, "{text}");
        assert!(text.contains("1 read in part"), "{text}");
    } else {
        assert!(read >= size, "{text}");
        assert!(text.contains("1 read whole"), "{text}");
    }
    assert!(text.contains("decoded in"), "{text}");

    let source = hiha_io::read_variable(&src, Some("t")).expect("source");
    let back = hiha_io::read_variable(&out, Some("t")).expect("preview");
    let (a, b) = (source.field.shape, back.field.shape);
    assert_eq!(
        (b.frames, b.levels, b.lat, b.lon),
        (a.frames, a.levels, a.lat.div_ceil(4), a.lon.div_ceil(4))
    );
    // Coordinates: every 4th, from index 0.
    let (lat, lon) = (
        &source.meta.var.layout.lat_dim,
        &source.meta.var.layout.lon_dim,
    );
    for c in [lat, lon] {
        let want = every(&source.meta.aux(c).expect("coordinate").data, 4);
        assert_eq!(back.meta.aux(c).expect("coordinate").data, want, "{c}");
    }
    // Attributes kept, the preview noted.
    for attr in &source.meta.var.attrs {
        if ["units", "long_name", "standard_name"].contains(&attr.name.as_str()) {
            assert!(back.meta.var.attrs.contains(attr), "{attr:?}");
        }
    }
    let note = back
        .meta
        .global_attrs
        .iter()
        .find(|x| x.name == "hiha_preview")
        .expect("the preview's global attribute");
    assert!(matches!(&note.value, AttrValue::Text(t) if t.contains("level 2")));
    // Near the source subsampled the same way: a smooth field.
    let sub = hiha_core::codec::preview::subsample(
        &source.field.values,
        a.frames * a.levels,
        a.lat,
        a.lon,
        4,
    );
    let m = hiha_core::metrics::Metrics::compute(&sub, &back.field.values, None).expect("metrics");
    let (lo, hi) = source.field.value_range().expect("range");
    let nrmse = m.rmse / (hi - lo) as f64;
    assert!(nrmse > 0.0 && nrmse < 0.02, "preview NRMSE {nrmse}");
}

#[test]
fn preview_of_one_variable_of_several() {
    let src = repo().join("data/samples/era5_z_t_pl500-850_3deg_2members_20170101.grib");
    let archive = compress(&src, "zt.hiha", "1e-3");
    let both = tmp("zt_preview.nc");
    let o = run(
        Command::new(env!("CARGO_BIN_EXE_hiha")).args([
            "decompress",
            s(&archive),
            "-o",
            s(&both),
            "--preview",
            "1",
            "-f",
        ]),
        "preview of both",
    );
    let (read_both, _) = bytes_read(&String::from_utf8_lossy(&o.stdout));
    let one = tmp("t_preview.nc");
    let o = run(
        Command::new(env!("CARGO_BIN_EXE_hiha")).args([
            "decompress",
            s(&archive),
            "-o",
            s(&one),
            "--preview",
            "1",
            "--var",
            "t",
            "-f",
        ]),
        "preview of t",
    );
    let (read_one, _) = bytes_read(&String::from_utf8_lossy(&o.stdout));
    assert!(read_one < read_both, "{read_one} >= {read_both}");
    let vars = hiha_io::list_variables(&one).expect("list");
    let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
    assert!(names.contains(&"t") && !names.contains(&"z"), "{names:?}");
    let z = hiha_io::read_variable(&both, Some("z")).expect("z");
    let t = hiha_io::read_variable(&one, Some("t")).expect("t");
    assert_eq!(z.field.shape, t.field.shape);
}

#[test]
fn preview_is_refused_where_it_cannot_work() {
    let src = repo().join("data/samples/gfs_t_pl2_2p5deg_global_cdf1.nc");
    let archive = compress(&src, "pl2.hiha", "1e-2");
    let out = tmp("refused.nc");
    let cases: [(&[&str], &str); 4] = [
        (&["--preview", "0"], "K must be 1 to 6"),
        (&["--preview", "7"], "K must be 1 to 6"),
        (&["--preview", "2", "--frames", "0..1"], "--frames"),
        (&["--preview-all-axes"], "--preview"),
    ];
    for (extra, says) in cases {
        let mut args = vec!["decompress", s(&archive), "-o", s(&out), "-f"];
        args.extend_from_slice(extra);
        let o = hiha(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?} wrote a file");
    }
}
