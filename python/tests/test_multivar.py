"""Multi-variable archives (format 2.1) in Python: made by the CLI from a
bundled sample and by hiha.xarray.to_hiha from a Dataset; variables,
header, decode(variable=...), and the lazy backend reading only the
sections of the variable and frames selected."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import xarray as xr
from conftest import HIHA_CLI, SAMPLES, check_bound

import hiha
import hiha.xarray as hx

GRIB_ZT = SAMPLES / "era5_z_t_pl500-850_3deg_2members_20170101.grib"


def three_vars(era5: xr.Dataset) -> xr.Dataset:
    """t (5-D), u (NaN over the pole, another range) and t64 (float64), plus
    a surface-like 4-D variable without the level dim."""
    ds = era5.copy()
    ds["u"] = (era5["t"] - era5["t"].mean("longitude")).where(era5.latitude < 80)
    ds["u"].attrs = {"units": "K", "long_name": "zonal anomaly"}
    ds["t64"] = (era5["t"] * 0.5 - 100.0).astype("f8")
    ds["sfc"] = era5["t"].isel(level=0, drop=True)
    return ds


def test_to_hiha_writes_one_archive_with_every_variable(tmp_path, era5):
    ds = three_vars(era5)
    path = tmp_path / "multi.hiha"
    hx.to_hiha(
        ds,
        path,
        bound=["nrmse:1e-4", "u=max-abs:0.05"],
        bounds={"t64": "rmse:0.01", "sfc": "max-rel:1e-3"},
        chunk_frames=4,
    )
    blob = path.read_bytes()
    names = ["t", "u", "t64", "sfc"]
    assert hiha.variables(blob) == names
    h = hiha.header(blob)
    assert h["version"] in ((2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6))  # 2.2 when a chunk uses the packet plan, 2.3 its primed models, 2.4 its header coding, 2.5 its zero maps, 2.6 delta-coded level ranges
    assert [v["name"] for v in h["variables"]] == names
    specs = {v["name"]: v["bound_spec"] for v in h["variables"]}
    # t64 is float64: its archive bound is tightened by the rounding to float32.
    assert specs["t"] == "nrmse:0.0001" and specs["u"] == "max-abs:0.05"
    assert specs["sfc"] == "max-rel:0.001" and specs["t64"].startswith("rmse:")
    sfc = h["variables"][3]
    assert sfc["dims"] == ["number", "time", "latitude", "longitude"]
    assert sfc["level_dim"] is None and sfc["dtype"] == "f32"
    assert h["variables"][2]["dtype"] == "f64"
    # The variables' sections partition the archive's.
    owned = sorted(i for v in h["variables"] for i in v["sections"])
    assert owned == list(range(len(h["sections"])))

    bounds = {"t": ("nrmse", 1e-4), "u": ("max_abs", 0.05), "t64": ("rmse", 0.01),
              "sfc": ("max_rel", 1e-3)}
    for n in names:
        back = hiha.decode(blob, variable=n)
        assert back.shape == ds[n].shape and back.dtype == ds[n].dtype, n
        check_bound(ds[n].values, back, *bounds[n])
    with pytest.raises(ValueError, match="holds 4 variables.*t, u, t64, sfc"):
        hiha.decode(blob)
    with pytest.raises(ValueError, match="no variable 'nope'"):
        hiha.decode(blob, variable="nope")

    opened = xr.open_dataset(path, engine="hiha")
    assert list(opened.data_vars) == names
    for n in names:
        assert opened[n].dims == ds[n].dims and opened[n].attrs == ds[n].attrs, n
        check_bound(ds[n].values, opened[n].values, *bounds[n])
    for c in era5.coords:
        np.testing.assert_array_equal(opened[c].values, era5[c].values)


def test_selecting_frames_of_one_variable_reads_only_its_sections(tmp_path, era5):
    ds = three_vars(era5)
    path = tmp_path / "multi.hiha"
    hx.to_hiha(ds, path, bound="max-abs:0.05", chunk_frames=2)
    blob = path.read_bytes()
    h = hiha.header(blob)
    u_sections = set(h["variables"][1]["sections"])
    # number x time = 40 frames; members 3 and 4 are frames 12..20.
    needed = hiha.sections_for_frames(blob, 12, 20, variable="u")
    assert set(needed) <= u_sections and 0 < len(needed) < len(u_sections)
    hiha.reset_io_stats()
    opened = xr.open_dataset(path, engine="hiha")
    assert hiha.io_stats() == (0, 0), "opening read section payloads"
    part = opened["u"].isel(number=slice(3, 5)).values
    loaded, nbytes = hiha.io_stats()
    assert loaded == len(needed)
    assert nbytes == sum(h["sections"][i][3] for i in needed)
    check_bound(ds["u"].values[3:5], part, "max_abs", 0.05)
    # Another variable's frames: only its own sections again.
    hiha.reset_io_stats()
    opened["sfc"].isel(number=0).values
    assert hiha.io_stats()[0] == len(hiha.sections_for_frames(blob, 0, 4, variable="sfc"))


def test_to_hiha_bound_errors_are_value_errors(tmp_path, era5):
    ds = three_vars(era5)
    p = tmp_path / "x.hiha"
    with pytest.raises(ValueError, match="not among the variables written"):
        hx.to_hiha(ds, p, bound=["nrmse:1e-4", "q=max-abs:1e-7"])
    with pytest.raises(ValueError, match="no bound for variable 'u'"):
        hx.to_hiha(ds, p, bounds={"t": "nrmse:1e-4", "t64": "rmse:1", "sfc": "rmse:1"})
    with pytest.raises(ValueError, match="two bounds for every variable"):
        hx.to_hiha(ds, p, bound="nrmse:1e-4", nrmse=1e-3)
    with pytest.raises(ValueError, match="choose an accuracy"):
        hx.to_hiha(ds, p)
    with pytest.raises(ValueError, match="float32"):
        hx.to_hiha(ds, p, bound="pw-rel:1e-3")  # t64 is float64
    assert not p.exists()
    # var= picks some; a keyword is the default, bounds= overrides it.
    hx.to_hiha(ds, p, var=["u", "t"], nrmse=1e-4, bounds={"u": "max-abs:0.05"})
    assert hiha.variables(p.read_bytes()) == ["u", "t"]


def test_opens_a_multi_variable_archive_the_cli_wrote_from_grib(tmp_path):
    """`hiha compress` of the bundled GRIB sample (z and t, 2 members, 2
    times, 2 levels) writes one archive; Python lists, describes and decodes
    every variable, the same values as the CLI's own decompression."""
    out = tmp_path / "zt.hiha"
    subprocess.run(
        [str(HIHA_CLI), "compress", str(GRIB_ZT), "-o", str(out), "--bound", "nrmse:1e-4",
         "--bound", "t=max-abs:0.05", "--quiet"],
        check=True,
    )
    blob = out.read_bytes()
    names = hiha.variables(blob)
    assert sorted(names) == ["t", "z"]
    h = hiha.header(blob)
    assert h["version"] in ((2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6))  # 2.2 when a chunk uses the packet plan, 2.3 its primed models, 2.4 its header coding, 2.5 its zero maps, 2.6 delta-coded level ranges
    specs = {v["name"]: v["bound_spec"] for v in h["variables"]}
    assert specs == {"z": "nrmse:0.0001", "t": "max-abs:0.05"}
    nc = tmp_path / "zt.nc"
    subprocess.run(
        [str(HIHA_CLI), "decompress", str(out), "-o", str(nc), "--quiet"], check=True
    )
    ref = xr.open_dataset(nc)
    opened = xr.open_dataset(out, engine="hiha")
    assert sorted(opened.data_vars) == ["t", "z"]
    for n in names:
        direct = hiha.decode(blob, variable=n)
        np.testing.assert_array_equal(direct, opened[n].values)
        np.testing.assert_allclose(opened[n].values, ref[n].values, rtol=0, atol=0)
        assert opened[n].dims == ref[n].dims
    for c in ref.coords:
        np.testing.assert_array_equal(opened[c].values, ref[c].values)


def test_cli_multi_variable_archive_of_a_netcdf_is_within_its_bounds(tmp_path, era5):
    """From a two-variable NetCDF: each variable within its own bound against
    the source, read lazily through the backend."""
    src = tmp_path / "two.nc"
    ds = era5.copy()
    ds["u"] = era5["t"] - era5["t"].mean("longitude")
    ds.to_netcdf(src)
    out = tmp_path / "two.hiha"
    subprocess.run(
        [str(HIHA_CLI), "compress", str(src), "-o", str(out), "--bound", "nrmse:1e-4",
         "--bound", "u=max-abs:0.02", "--quiet"],
        check=True,
    )
    opened = xr.open_dataset(out, engine="hiha")
    check_bound(ds["t"].values, opened["t"].values, "nrmse", 1e-4)
    check_bound(ds["u"].values, opened["u"].values, "max_abs", 0.02)
    assert hiha.variables(out.read_bytes()) == ["t", "u"]


def test_non_float_data_variables_are_kept_exactly(tmp_path, era5):
    """An integer data variable (a land-sea mask) is not coded but kept
    exactly in the archive, next to the coded float variables."""
    ds = era5.copy()
    ds["lsm"] = (("latitude", "longitude"), (np.arange(61 * 120).reshape(61, 120) % 3).astype("i1"))
    path = tmp_path / "lsm.hiha"
    hx.to_hiha(ds, path, bound="nrmse:1e-4")
    assert hiha.variables(path.read_bytes()) == ["t"]
    opened = xr.open_dataset(path, engine="hiha")
    assert opened["lsm"].dtype == np.int8
    np.testing.assert_array_equal(opened["lsm"].values, ds["lsm"].values)
    check_bound(ds["t"].values, opened["t"].values, "nrmse", 1e-4)
