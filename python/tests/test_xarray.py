"""xarray: the hiha backend (lazy, selective reads), to_hiha, and
zarr_encoding giving the NRMSE over every whole variable on chunked data."""

from __future__ import annotations

import subprocess

import dask  # noqa: F401  (chunked datasets)
import numpy as np
import pytest
import xarray as xr
from conftest import ERA5, GFS_PACKED, GOLDEN, HIHA_CLI, check_bound

import hiha
import hiha.xarray as hx


def time_series(era5: xr.Dataset, frames: int = 8) -> xr.Dataset:
    """time x level x lat x lon: 8 times from the members of the real field."""
    t = era5["t"].isel(time=0).drop_vars("time").rename(number="time")[:frames]
    t = t.assign_coords(
        time=np.datetime64("2017-01-01T00") + np.arange(frames) * np.timedelta64(6, "h")
    )
    t.time.encoding["units"] = "hours since 2017-01-01"
    ds = t.to_dataset(name="t")
    ds.attrs = dict(era5.attrs)
    return ds


def test_to_hiha_then_open_dataset_gives_coords_attrs_and_values_back(tmp_path, era5):
    path = tmp_path / "t.hiha"
    n = hx.to_hiha(era5, path, nrmse=1e-4)
    assert n == path.stat().st_size
    ds = xr.open_dataset(path, engine="hiha")
    assert list(ds.data_vars) == ["t"]
    assert ds["t"].dims == era5["t"].dims
    for c in era5.coords:
        assert ds[c].dtype == era5[c].dtype, c
        np.testing.assert_array_equal(ds[c].values, era5[c].values)
        assert ds[c].attrs == era5[c].attrs, c
    assert ds.attrs == era5.attrs
    assert ds["t"].attrs == era5["t"].attrs
    check_bound(era5["t"].values, ds["t"].values, "nrmse", 1e-4)
    # Without engine= the backend recognises the file.
    assert xr.open_dataset(path)["t"].shape == era5["t"].shape


def test_open_dataset_is_lazy_and_reads_only_the_selected_frames(tmp_path, era5):
    ds0 = time_series(era5)
    path = tmp_path / "series.hiha"
    hx.to_hiha(ds0, path, max_abs=0.05, chunk_frames=1)
    blob = path.read_bytes()
    sections = len(hiha.header(blob)["sections"])
    needed = hiha.sections_for_frames(blob, 3, 5)
    hiha.reset_io_stats()
    ds = xr.open_dataset(path, engine="hiha")
    assert hiha.io_stats() == (0, 0), "opening read section payloads"
    part = ds.isel(time=slice(3, 5)).load()
    loaded, nbytes = hiha.io_stats()
    # Exactly the sections of frames 3 and 4 (their residuals and checks),
    # a quarter of the archive's sections, and fewer bytes than the file.
    assert loaded == len(needed) == sections // 4
    assert nbytes < len(blob) // 3
    check_bound(ds0["t"].values[3:5], part["t"].values, "max_abs", 0.05)
    np.testing.assert_array_equal(part.time.values, ds0.time.values[3:5])
    # A single frame with a negative step and a point: still frame-selective.
    hiha.reset_io_stats()
    one = ds["t"].isel(time=6, level=slice(None, None, -1)).values
    assert hiha.io_stats()[0] == len(hiha.sections_for_frames(blob, 6, 7))
    check_bound(ds0["t"].values[6, ::-1], one, "max_abs", 0.05)
    assert ds["t"].encoding["preferred_chunks"] == {"time": 1}


def test_backend_opens_with_dask_chunks(tmp_path, era5):
    ds0 = time_series(era5)
    path = tmp_path / "series.hiha"
    hx.to_hiha(ds0, path, rmse=0.01, chunk_frames=2)
    ds = xr.open_dataset(path, engine="hiha", chunks={})
    assert ds["t"].chunks[0] == (2, 2, 2, 2)
    check_bound(ds0["t"].values, ds["t"].compute().values, "rmse", 0.01)


def test_packed_netcdf_round_trip_keeps_the_packing_as_encoding(tmp_path):
    src = xr.open_dataset(GFS_PACKED)
    assert np.isnan(src["t"].values).any()
    path = tmp_path / "p.hiha"
    hx.to_hiha(src, path, max_abs=0.01)
    ds = xr.open_dataset(path, engine="hiha")
    check_bound(src["t"].values, ds["t"].values, "max_abs", 0.01)
    ds.to_netcdf(tmp_path / "back.nc")
    assert xr.open_dataset(tmp_path / "back.nc")["t"].shape == src["t"].shape


def test_opens_the_golden_archive_lazily():
    """The format-2 golden fixture (written by the core's container code, with
    NetCDF-like dims, coordinates and packing attributes) opens lazily: its
    metadata comes from the header alone."""
    with pytest.warns(UserWarning, match="left out"):
        # The fixture holds auxiliary variables whose values do not fit their
        # dims (scalars with several values): they are left out, with a warning.
        ds = xr.open_dataset(GOLDEN, engine="hiha")
    h = hiha.header(GOLDEN.read_bytes())
    assert ds["t"].shape == (4, 3, 16, 32)
    np.testing.assert_array_equal(ds["latitude"].values, h["aux_vars"][2]["data"])
    assert ds["lat_edges"].shape == (17,)
    # Packed on disk: the packing is encoding, the values are unpacked floats.
    assert ds["t"].encoding["scale_factor"] == pytest.approx(0.00191721, rel=1e-5)
    assert "scale_factor" not in ds["t"].attrs and ds["t"].dtype == np.float32


@pytest.mark.parametrize("sample,bound", [(ERA5, ("nrmse", 1e-4)), (GFS_PACKED, ("max_abs", 0.02))])
def test_opens_what_the_cli_wrote(tmp_path, sample, bound):
    """An archive written by `hiha compress` from NetCDF opens with the
    source's coordinates and attributes, within the bound of the source."""
    out = tmp_path / "cli.hiha"
    flag = "--" + bound[0].replace("_", "-")
    subprocess.run(
        [str(HIHA_CLI), "compress", str(sample), "-o", str(out), flag, str(bound[1]), "--quiet"],
        check=True,
    )
    src = xr.open_dataset(sample)
    ds = xr.open_dataset(out, engine="hiha")
    for c in src.coords:
        np.testing.assert_array_equal(ds[c].values, src[c].values)
        assert ds[c].attrs == src[c].attrs, c
    assert ds["t"].dims == src["t"].dims
    assert {k: v for k, v in ds["t"].attrs.items()} == {
        k: v for k, v in src["t"].attrs.items()
    }
    check_bound(src["t"].values, ds["t"].values, *bound)
    if sample == GFS_PACKED:
        assert ds["t"].encoding["dtype"] == np.int16
        assert "scale_factor" in ds["t"].encoding


def test_to_hiha_selects_variables_and_refuses_missing_bounds(tmp_path, era5):
    two = era5.assign(t2=era5["t"] * 2)
    hx.to_hiha(two, tmp_path / "x.hiha", nrmse=1e-3, var="t2")
    opened = xr.open_dataset(tmp_path / "x.hiha")
    assert list(opened.data_vars) == ["t2"]
    assert opened["t2"].shape == era5["t"].shape
    with pytest.raises(ValueError, match="choose an accuracy"):
        hx.to_hiha(era5, tmp_path / "y.hiha")
    with pytest.raises(ValueError, match="no data variable"):
        hx.to_hiha(era5, tmp_path / "y.hiha", nrmse=1e-3, var="nope")
    assert not (tmp_path / "y.hiha").exists()


def chunked_dataset(era5: xr.Dataset) -> xr.Dataset:
    ds = era5.copy()
    ds["t64"] = (era5["t"] * 0.5 - 100.0).astype("f8")
    ds["u"] = era5["t"] - era5["t"].mean("longitude")  # another range
    ds["u"] = ds["u"].where(ds.latitude < 80)  # NaN over the pole
    return ds.chunk({"number": 3, "time": 2, "latitude": 20, "longitude": 60})


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_encoding_gives_the_nrmse_over_every_variable(tmp_path, era5, zarr_format):
    ds = chunked_dataset(era5)
    t = 1e-4
    enc = hx.zarr_encoding(ds, nrmse=t, zarr_format=zarr_format)
    assert set(enc) == {"t", "t64", "u"}
    store = tmp_path / "d.zarr"
    ds.to_zarr(store, encoding=enc, zarr_format=zarr_format)
    back = xr.open_zarr(store)
    for v in ds.data_vars:
        a = ds[v].values
        b = back[v].values
        assert b.dtype == a.dtype
        check_bound(a, b, "nrmse", t)
        # The budget is spent over the whole variable, not per chunk's range.
        rng = np.nanmax(a) - np.nanmin(a)
        assert np.sqrt(np.nanmean((a - b) ** 2)) > 0.3 * t * rng, v


def test_zarr_encoding_defaults_to_the_installed_zarr_format(tmp_path, era5):
    ds = chunked_dataset(era5)[["t"]]
    enc = hx.zarr_encoding(ds, max_abs={"t": 0.05})
    assert "serializer" in enc["t"]  # zarr-python 3 writes v3 by default
    ds.to_zarr(tmp_path / "d.zarr", encoding=enc)
    check_bound(ds["t"].values, xr.open_zarr(tmp_path / "d.zarr")["t"].values, "max_abs", 0.05)


def test_zarr_encoding_validates_its_arguments(era5):
    with pytest.raises(ValueError, match="exactly one bound"):
        hx.zarr_encoding(era5, nrmse=1e-4, max_abs=1.0)
    with pytest.raises(ValueError, match="no float data variables"):
        hx.zarr_encoding(era5, max_abs={"nope": 1.0})
    with pytest.raises(ValueError, match="nrmse"):
        hx.zarr_encoding(era5, nrmse=5.0)

