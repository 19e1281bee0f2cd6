"""Checks a file written by hiha-io against its source with netCDF4 and xarray.

usage: compare.py SOURCE OUTPUT VAR      (exit status 0 when they agree)
       compare.py --synthetic OUTPUT     (checks the synthetic test file)
       compare.py --cdf5 OUTPUT          (the synthetic file with NetCDF-4 types)
"""
import math
import sys

import netCDF4
import numpy as np
import xarray as xr

PACKING = {"scale_factor", "add_offset"}
VALUE_ATTRS = {"_FillValue", "missing_value", "valid_min", "valid_max", "valid_range"}


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def attrs(v):
    return {k: v.getncattr(k) for k in v.ncattrs()}


def fail(msg):
    print("MISMATCH:", msg)
    sys.exit(1)


def compare(src_path, out_path, var):
    src, out = netCDF4.Dataset(src_path), netCDF4.Dataset(out_path)
    if out.data_model not in ("NETCDF3_64BIT_OFFSET", "NETCDF3_64BIT_DATA", "NETCDF4"):
        fail(f"output data model {out.data_model}")
    if list(src.dimensions) != list(out.dimensions):
        fail(f"dim order {list(src.dimensions)} vs {list(out.dimensions)}")
    for name, d in src.dimensions.items():
        o = out.dimensions[name]
        if len(d) != len(o) or d.isunlimited() != o.isunlimited():
            fail(f"dim {name}: {len(d)}/{d.isunlimited()} vs {len(o)}/{o.isunlimited()}")
    ga, gb = attrs(src), attrs(out)
    hist_a, hist_b = ga.pop("history", ""), gb.pop("history", None)
    if gb is None or not str(hist_b).startswith(str(hist_a)) or "hiha" not in str(hist_b):
        fail("history line")
    if ga.keys() != gb.keys() or not all(same(ga[k], gb[k]) for k in ga):
        fail(f"global attrs {ga} vs {gb}")
    if set(src.variables) != set(out.variables):
        fail(f"variables {set(src.variables)} vs {set(out.variables)}")
    for name, v in src.variables.items():
        o = out.variables[name]
        if v.dimensions != o.dimensions:
            fail(f"{name}: dims {v.dimensions} vs {o.dimensions}")
        a, b = attrs(v), attrs(o)
        if name != var:
            if v.dtype != o.dtype:
                fail(f"{name}: dtype {v.dtype} vs {o.dtype}")
            if a.keys() != b.keys() or not all(same(a[k], b[k]) for k in a):
                fail(f"{name}: attrs {a} vs {b}")
            v.set_auto_maskandscale(False)
            o.set_auto_maskandscale(False)
            if not same(v[...], o[...]):
                fail(f"{name}: values differ")
            continue
        if o.dtype != np.float32:
            fail(f"{name}: written as {o.dtype}")
        packed = bool(PACKING & a.keys())
        for k in a:
            if packed and k in PACKING:
                if k in b:
                    fail(f"{name}: {k} kept")
            elif k in ("_FillValue", "missing_value") and packed:
                # A packed fill unpacks to a plausible value: hiha writes
                # NetCDF's default float fill instead (issue 10).
                if not same(np.asarray(b[k]), np.asarray(netCDF4.default_fillvals["f4"], dtype=np.float32)):
                    fail(f"{name}: {k} {a[k]} -> {b[k]}, expected the default float fill")
            elif k in VALUE_ATTRS and (packed or v.dtype != np.float32):
                if not np.allclose(np.asarray(a[k], dtype=np.float64) * a.get("scale_factor", 1.0) + a.get("add_offset", 0.0),
                                   np.asarray(b[k], dtype=np.float64), rtol=1e-6, equal_nan=True):
                    fail(f"{name}: {k} {a[k]} -> {b[k]}")
            elif k not in b or not same(a[k], b[k]):
                fail(f"{name}: attr {k}")
        x, y = v[...], o[...]  # masked, unpacked
        xm, ym = np.ma.getmaskarray(x), np.ma.getmaskarray(y)
        if not np.array_equal(xm, ym):
            fail(f"{name}: masks differ")
        xv = np.ma.filled(x.astype(np.float64), 0.0)
        yv = np.ma.filled(y.astype(np.float64), 0.0)
        if packed:
            ok = np.allclose(xv, yv, rtol=1e-6, atol=0)
        else:
            ok = np.array_equal(xv, yv)
        if not ok:
            fail(f"{name}: values differ, max {np.max(np.abs(xv - yv))}")
    # xarray opens both and sees the same coordinates and data.
    dx, dy = xr.open_dataset(src_path), xr.open_dataset(out_path)
    for c in dx.coords:
        if not dx[c].equals(dy[c]):
            fail(f"xarray coord {c} differs")
    if dx[var].dims != dy[var].dims or dx[var].shape != dy[var].shape:
        fail("xarray dims")
    if not np.array_equal(dx[var].isnull().values, dy[var].isnull().values):
        fail("xarray missing values differ")
    if not np.allclose(dx[var].values, dy[var].values, rtol=1e-6, atol=0, equal_nan=True):
        fail("xarray values differ")
    print(f"ok {out_path}: {len(out.dimensions)} dims, {len(out.variables)} vars, format {out.data_model}")


def synthetic(path):
    d = netCDF4.Dataset(path)
    assert d.dimensions["time"].isunlimited() and len(d.dimensions["time"]) == 3
    assert list(d.dimensions) == ["time", "lat", "lon", "nchar"]
    assert list(d["flag"][:]) == [1, -2, 3], d["flag"][:]
    assert list(d["time"][:]) == [0.0, 6.0, 12.0]
    assert bytes(d["station"][:].data).rstrip(b"\0") == b"abc"
    assert list(d["code"][:]) == [1, -2, 3, -4, 5]
    assert d.getncattr("s").tolist() == [-300, 2] and d.getncattr("d") == 1e300
    x = d["x"][:]
    assert x.dtype == np.float32 and x.shape == (3, 4, 5)
    holes = sorted(np.flatnonzero(np.ma.getmaskarray(x)).tolist())
    assert holes == [0, 7, 19, 20, 33, 59], holes
    expect = (np.arange(60, dtype=np.float32) * np.float32(0.37) - np.float32(5.0)).reshape(3, 4, 5)
    assert np.array_equal(np.ma.filled(x, 0)[~np.ma.getmaskarray(x)], expect[~np.ma.getmaskarray(x)])
    ds = xr.open_dataset(path)
    assert int(ds["x"].isnull().sum()) == 6
    print(f"ok synthetic {path}")


def cdf5(path):
    d = netCDF4.Dataset(path)
    assert d.data_model in ("NETCDF3_64BIT_DATA", "NETCDF4"), d.data_model
    d.set_auto_mask(False)  # 65535 is the default fill of ushort
    assert d["u16"][:].tolist() == [0, 1, 65535, 4, 5] and d["u16"].dtype == np.uint16
    assert d["i64"][:].tolist() == [-(2**63), -1, 0, 1, 2**63 - 1]
    assert d["u64"][:].tolist() == [2**64 - 1, 0, 1, 2, 3] and d["u64"].dtype == np.uint64
    assert d["u64"].getncattr("a") == 2**64 - 1
    d.close()
    synthetic(path)


if __name__ == "__main__":
    if sys.argv[1] == "--synthetic":
        synthetic(sys.argv[2])
    elif sys.argv[1] == "--cdf5":
        cdf5(sys.argv[2])
    else:
        compare(sys.argv[1], sys.argv[2], sys.argv[3])
