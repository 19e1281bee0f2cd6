//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The bundled samples (always present).
pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/samples")
}

/// The shared data directory, or None (with a printed note) when absent.
pub fn shared_dir() -> Option<PathBuf> {
    let p = std::env::var_os("HIHA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if p.join("README.md").exists() || p.is_dir() {
        Some(p)
    } else {
        println!(
            "note: {} is absent; tests on the shared data are skipped",
            p.display()
        );
        None
    }
}

/// True for the bundled NetCDF-4 sample(s).
pub fn is_nc4(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("_nc4"))
}

/// NetCDF files in a directory, sorted (NetCDF-4 ones only when the
/// `netcdf4` feature is on).
pub fn nc_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "nc"))
                .collect()
        })
        .unwrap_or_default();
    v.retain(|p| cfg!(feature = "netcdf4") || !is_nc4(p));
    v.sort();
    v
}

/// A fresh temporary directory for one call: named by the process, the
/// test and a per-process counter, so that tests running side by side
/// under one name never remove each other's directory (nc4_output's tests
/// did: "cannot write …/hit.nc: No such file or directory").
pub fn tmp_dir(test: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("hiha-io-test-{}-{test}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}
