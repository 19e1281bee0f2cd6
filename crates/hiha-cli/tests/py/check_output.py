"""Checks a file written by `hiha decompress` against its source.

usage: check_output.py SOURCE OUTPUT MODEL VAR=MODE:VALUE[:DTYPE] ...   (exit 0 when it holds)

MODEL is the netCDF4 data model the output must have (NETCDF4,
NETCDF3_64BIT_OFFSET, ...). For every VAR: the missing points are the
same, and every element is within the bound (MODE nrmse, rmse, max-abs or
max-rel) against the source's values as the file defines them, computed in
float64 from the stored integers and the scale_factor/add_offset of each
file (no float32 rounding); DTYPE, when given, is the type the output must
store (int16 for a re-packed variable, float32 otherwise). xarray must open
the output with the source's coordinates, and agree with the float64 values.
"""
import sys

import netCDF4
import numpy as np
import xarray as xr


def values(ds, name):
    """The variable's values in float64 as CF defines them, NaN where missing."""
    v = ds[name]
    v.set_auto_maskandscale(False)
    raw = np.asarray(v[...])
    x = raw.astype(np.float64)
    attrs = {k: v.getncattr(k) for k in v.ncattrs()}
    miss = np.zeros(x.shape, dtype=bool)
    for k in ("_FillValue", "missing_value"):
        if k in attrs:
            for f in np.atleast_1d(attrs[k]):
                miss |= raw == f
    if np.issubdtype(raw.dtype, np.floating):
        miss |= np.isnan(raw)
    x = x * float(attrs.get("scale_factor", 1.0)) + float(attrs.get("add_offset", 0.0))
    x[miss] = np.nan
    return x, v.dtype


def main(src_path, out_path, model, specs):
    a, b = netCDF4.Dataset(src_path), netCDF4.Dataset(out_path)
    assert b.data_model == model, f"data model {b.data_model}, expected {model}"
    for spec in specs:
        name, rest = spec.split("=", 1)
        parts = rest.split(":")
        mode, value = parts[0], float(parts[1])
        want_dtype = parts[2] if len(parts) > 2 else None
        x, _ = values(a, name)
        y, dtype = values(b, name)
        if want_dtype is not None:
            assert str(dtype) == want_dtype, f"{name}: stored as {dtype}, expected {want_dtype}"
        assert x.shape == y.shape, name
        miss = np.isnan(x)
        assert np.array_equal(miss, np.isnan(y)), f"{name}: missing points moved"
        e = np.abs(x[~miss] - y[~miss])
        rng = x[~miss].max() - x[~miss].min()
        got = {
            "nrmse": lambda: np.sqrt(np.mean(e**2)) / rng,
            "rmse": lambda: np.sqrt(np.mean(e**2)),
            "max-abs": lambda: e.max(),
            "max-rel": lambda: e.max() / rng,
        }[mode]()
        # Values are compared in float64 as the files define them; allow
        # only float64 rounding of scale * k + offset.
        slack = 8 * np.finfo(np.float64).eps * np.abs(x[~miss]).max()
        if mode in ("nrmse", "max-rel"):
            slack /= rng
        assert got <= value + slack, f"{name}: {mode} {got!r} > {value!r}"
        print(f"{name}: {mode} {got:.4e} <= {value:.4e}, stored as {dtype}")
    da, db = xr.open_dataset(src_path), xr.open_dataset(out_path)
    for c in da.coords:
        assert np.array_equal(da[c].values, db[c].values), f"coordinate {c} differs"
    for spec in specs:
        name = spec.split("=", 1)[0]
        y, _ = values(b, name)
        xv = db[name].values.astype(np.float64)
        assert np.allclose(xv, y, rtol=1e-6, atol=0, equal_nan=True), f"{name}: xarray disagrees"
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
