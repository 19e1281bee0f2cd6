#!/usr/bin/env bash
# Sets up <repo>/.venv for the tests: the Python dependencies of the Rust
# tests' cross-checks (numpy, netCDF4, xarray, eccodes for GRIB) and of the Python package's
# tests (pytest, numcodecs, zarr 3, dask.distributed, maturin), then builds
# the extension (crates/hiha-py) and installs the `hiha` package into it.
# Part of the README's test command: if it cannot install something it
# fails, because tests must not skip a missing dependency. With --deps-only
# it stops after the dependencies.
#
# The extension is built with cargo's dev profile (opt-level 2, which the
# test profile inherits; see Cargo.toml), so the crates that
# `cargo test --workspace` compiled (hiha-core and its dependencies) are
# reused instead of being built a second time in release mode. Users get a
# release build from `pip install ./python`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HIHA_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PKGS=(
    "numpy>=1.26,<3"
    "netCDF4>=1.6"
    "xarray>=2024.1"
    "numcodecs>=0.13"
    "zarr>=3,<4"
    "dask[distributed]>=2024.1"
    "pytest>=8"
    "maturin>=1.9,<2"
    "psutil>=5"
    "eccodes>=2.37"
)
if ! "$VENV/bin/python" -c "import numpy, netCDF4, xarray, numcodecs, zarr, dask.distributed, pytest, maturin, psutil, eccodes" 2>/dev/null; then
    echo "setup_python: installing the Python test dependencies into $VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PKGS[@]}"
    "$VENV/bin/python" -c "import numpy, netCDF4, xarray, numcodecs, zarr, dask.distributed, pytest, maturin, psutil, eccodes"
fi

[ "${1:-}" = "--deps-only" ] && exit 0

# Build the extension wheel (cargo skips the work when nothing changed) and
# install it with its entry points (numcodecs, zarr, xarray).
WHEELS="$ROOT/target/wheels/ci"
LOG="$ROOT/target/wheels/build.log"
rm -rf "$WHEELS"
mkdir -p "$WHEELS"
if ! (
    cd "$ROOT/python"
    VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" \
        "$VENV/bin/maturin" build --profile dev --strip --interpreter "$VENV/bin/python" -o "$WHEELS"
) >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "setup_python: building the extension failed" >&2
    exit 1
fi
if grep -q "Compiling hiha-core" "$LOG" && [ -n "${HIHA_EXPECT_REUSE:-}" ]; then
    echo "setup_python: note: hiha-core was compiled again for the extension instead of" \
        "reusing the test build (a dependency's features differ; see crates/hiha-py/Cargo.toml)" >&2
fi
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$WHEELS"/hiha-*.whl
"$VENV/bin/python" -c "import hiha, numcodecs; numcodecs.get_codec({'id': 'hiha', 'nrmse': 1e-4})"
