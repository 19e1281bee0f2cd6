#!/usr/bin/env python3
"""Raw little-endian f32 time series for the TRC tests and the TRC
evaluation (crates/hiha-core/examples/trc_eval.rs).

Usage: python trc_extract.py SRC.nc VAR OUT.f32 [--frames a:b] [--levels i,j,...]
Writes (frames, levels, lat, lon), leading axes (member × time) flattened,
and prints the shape and the lat/lon axes' first value and step.
Needs numpy + netCDF4 (the repository's .venv has them).

The test fixture era5_u_6x2x41x41.f32 is
`python trc_extract.py era5_u_pl100-1000_0p25deg_westeurope_20200101_24h.nc u
era5_u_6x2x41x41.f32 --frames 0:6 --levels 4,13` (500 and 850 hPa).
"""
import argparse

import netCDF4
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("var")
    ap.add_argument("out")
    ap.add_argument("--frames", default=None)
    ap.add_argument("--levels", default=None)
    a = ap.parse_args()
    ds = netCDF4.Dataset(a.src)
    v = ds.variables[a.var]
    v.set_auto_maskandscale(True)
    arr = np.ma.filled(v[:].astype("f8"), np.nan)
    lat = np.asarray(ds.variables["latitude"][:], dtype="f8")
    lon = np.asarray(ds.variables["longitude"][:], dtype="f8")
    ny, nx = len(lat), len(lon)
    nl = len(ds.dimensions["level"]) if "level" in v.dimensions else 1
    arr = arr.reshape(-1, nl, ny, nx)
    if a.frames:
        lo, hi = (int(x) for x in a.frames.split(":"))
        arr = arr[lo:hi]
    if a.levels:
        arr = arr[:, [int(x) for x in a.levels.split(",")]]
    arr.astype("<f4").tofile(a.out)
    print(a.out, arr.shape, "lat0", lat[0], "dlat", lat[1] - lat[0], "lon0", lon[0],
          "dlon", lon[1] - lon[0])


if __name__ == "__main__":
    main()
