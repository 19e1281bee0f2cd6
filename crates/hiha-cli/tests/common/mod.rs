//! Helpers the CLI's integration tests share: the repository root, the
//! Python of the test environment, per-process temp paths, and running a
//! command that must succeed. (Each test binary uses a part of them.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python that imports `modules` (e.g. `"netCDF4, xarray, numpy"`):
/// `$HIHA_PYTHON`, else the repository's `.venv`. Panics when there is
/// none: a missing dependency fails the test, it never skips it.
pub fn python_with(modules: &str) -> PathBuf {
    let candidates = [
        std::env::var_os("HIHA_PYTHON").map(PathBuf::from),
        Some(repo().join(".venv/bin/python")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| {
            Command::new(p)
                .args(["-c", &format!("import {modules}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("no Python with {modules}: run scripts/setup_python.sh (or set HIHA_PYTHON)")
        })
}

/// `name` in a temp folder of this test binary (`suite`) and process, so
/// that test binaries and runs never share paths.
pub fn tmp_in(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hiha-{suite}-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d.join(name)
}

/// Runs `c`, which must succeed; its output.
pub fn run(c: &mut Command, what: &str) -> Output {
    let o = c.output().expect("runs");
    assert!(
        o.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
