"""Zarr stores written by zarr-python (through xarray) for hiha's tests, and
the check of what hiha writes back.

usage: zarr_stores.py make SOURCE.nc OUTDIR        (prints the stores made, one a line)
       zarr_stores.py check SOURCE OUTPUT VAR=MODE:VALUE ...   (exit 0 when it holds)

`make` writes the dataset of SOURCE.nc as Zarr stores with the codecs and
layouts zarr-python uses: v2 with its defaults under xarray (Blosc LZ4,
byte shuffle), v2 with zstd / zlib / gzip / Blosc zstd without shuffle, v2
with '/' chunk keys; v3 with its defaults (zstd), v3 with gzip + crc32c,
and v3 with small chunks (edge chunks, and chunks left out because they
hold only the fill value).

`check` opens SOURCE and OUTPUT (Zarr stores or NetCDF files) with xarray
and checks: the same variables, sizes and coordinates; the attributes of
every variable (but packing, fill and the strings' _Encoding) and of the
dataset (but history); the missing points; and every listed VAR within its
bound on every element, in float64.
"""
import os
import sys
import warnings

import numcodecs
import numpy as np
import xarray as xr
import zarr

warnings.filterwarnings("ignore")


def make(src, outdir):
    ds = xr.open_dataset(src)
    made = []

    def v2(name, compressor, **kw):
        path = os.path.join(outdir, name)
        enc = {v: {"compressors": [compressor]} for v in ds.variables}
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=False, encoding=enc, **kw)
        made.append(path)

    def v3(name, compressors, chunks=None, data=None):
        path = os.path.join(outdir, name)
        d = ds if data is None else data
        enc = {}
        for v in d.variables:
            e = {"compressors": compressors}
            if chunks and v in d.data_vars:
                e["chunks"] = tuple(min(chunks.get(k, n), n) for k, n in zip(d[v].dims, d[v].shape))
            enc[v] = e
        d.to_zarr(path, mode="w", zarr_format=3, consolidated=False, encoding=enc)
        made.append(path)

    path = os.path.join(outdir, "v2_default.zarr")
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    made.append(path)
    v2("v2_zstd.zarr", numcodecs.Zstd(level=3))
    v2("v2_zlib.zarr", numcodecs.Zlib(level=5))
    v2("v2_gzip.zarr", numcodecs.GZip(level=5))
    v2("v2_blosc_zstd.zarr", numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.NOSHUFFLE))
    path = os.path.join(outdir, "v3_default.zarr")
    ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False)
    made.append(path)
    v3("v3_gzip_crc.zarr", [zarr.codecs.GzipCodec(level=5), zarr.codecs.Crc32cCodec()])
    # Small chunks, with edge chunks, and one chunk of t2m all missing,
    # which zarr-python does not write (it holds only the fill value).
    holes = ds.load().copy(deep=True)
    holes["t2m"][0:3, 0:25, 0:50] = np.nan
    v3("v3_small_chunks.zarr", [zarr.codecs.ZstdCodec(level=1)],
       chunks={"valid_time": 3, "latitude": 25, "longitude": 50}, data=holes)
    for p in made:
        print(p)


def check(src, out, bounds):
    def open_(p):
        return xr.open_zarr(p) if os.path.isdir(p) else xr.open_dataset(p)

    a, b = open_(src), open_(out)
    assert set(a.variables) == set(b.variables), (sorted(a.variables), sorted(b.variables))
    assert dict(a.sizes) == dict(b.sizes), (dict(a.sizes), dict(b.sizes))
    for c in a.coords:
        assert np.array_equal(a[c].values, b[c].values), c
    for k, v in a.attrs.items():
        if k != "history":
            assert b.attrs.get(k) == v, k
    skip = {"scale_factor", "add_offset", "_FillValue", "missing_value", "_Encoding", "dtype"}
    for name in a.variables:
        for k, v in a[name].attrs.items():
            if k not in skip:
                w = b[name].attrs.get(k)
                assert np.array_equal(np.asarray(w), np.asarray(v)), (name, k, v, w)
    for spec in bounds:
        name, rest = spec.split("=", 1)
        mode, value = rest.split(":")
        value = float(value)
        x = a[name].values.astype(np.float64)
        y = b[name].values.astype(np.float64)
        miss = np.isnan(x)
        assert np.array_equal(miss, np.isnan(y)), f"{name}: missing points moved"
        e = np.abs(x[~miss] - y[~miss])
        rng = x[~miss].max() - x[~miss].min()
        got = {"nrmse": lambda: np.sqrt(np.mean(e**2)) / rng, "max-abs": lambda: e.max(),
               "max-rel": lambda: e.max() / rng}[mode]()
        slack = 8 * np.finfo(np.float64).eps * np.abs(x[~miss]).max() / (rng if mode != "max-abs" else 1)
        assert got <= value + slack, f"{name}: {mode} {got!r} > {value!r}"
        print(f"{name}: {mode} {got:.4e} <= {value:.4e}")
    print("ok")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4:])
