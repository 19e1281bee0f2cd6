"""Shared fixtures. Every dependency is imported at module level: a missing
one is a collection error (a failure), never a skip."""

from __future__ import annotations

import os
from pathlib import Path

import netCDF4  # noqa: F401  (xarray's NetCDF engine for the samples)
import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
ERA5 = SAMPLES / "era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc"
GFS_PACKED = SAMPLES / "gfs_t_pl6_2p5deg_global_nc4_packed.nc"
GOLDEN = ROOT / "crates" / "hiha-core" / "tests" / "golden" / "v2" / "sample.hiha"
# The CLI as `cargo test --workspace` builds it (scripts/test.sh runs that
# first); HIHA_CLI overrides. A missing binary fails the tests that use it.
HIHA_CLI = Path(os.environ.get("HIHA_CLI", ROOT / "target" / "debug" / "hiha"))


def check_bound(orig: np.ndarray, back: np.ndarray, kind: str, value: float) -> None:
    """Asserts the bound on every element (in float64, against what was
    passed), and that non-finite values came back where they were."""
    a = np.asarray(orig, dtype=np.float64)
    b = np.asarray(back, dtype=np.float64)
    assert a.shape == b.shape
    special = ~np.isfinite(a)
    assert np.array_equal(np.isnan(a), np.isnan(b)), "NaN moved"
    assert np.array_equal(a[np.isinf(a)], b[np.isinf(a)]), "infinity changed"
    valid = ~special
    assert np.isfinite(b[valid]).all()
    err = np.abs(a[valid] - b[valid])
    rng = float(a[valid].max() - a[valid].min()) if valid.any() else 0.0
    rmse = float(np.sqrt(np.mean(err**2))) if valid.any() else 0.0
    if kind == "max_abs":
        assert err.max(initial=0.0) <= value, (err.max(), value)
    elif kind == "max_rel":
        assert err.max(initial=0.0) <= value * rng, (err.max(), value * rng)
    elif kind == "rmse":
        assert rmse <= value, (rmse, value)
    elif kind == "nrmse":
        assert rmse <= value * rng, (rmse / rng, value)
    else:
        raise AssertionError(kind)


@pytest.fixture(scope="session")
def era5() -> xr.Dataset:
    """ERA5 ensemble temperature, number x time x level x lat x lon (real data)."""
    with xr.open_dataset(ERA5) as ds:
        return ds.load()


@pytest.fixture(scope="session")
def field(era5: xr.Dataset) -> np.ndarray:
    """The ERA5 values as a float32 array, 10 x 4 x 2 x 61 x 120."""
    return np.ascontiguousarray(era5["t"].values.astype(np.float32))
