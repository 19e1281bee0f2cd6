#!/usr/bin/env python3
"""Dump one frame of a variable as raw little-endian f32 (levels, lat, lon)
plus a sidecar `.grid` text file (line 1: dims; line 2: latitudes; line 3:
longitudes, degrees), for the
FIC tests and the ablation example (crates/hiha-core/examples/fic_ablation.rs).

Usage: python fic_extract.py SRC.nc VAR OUT_PREFIX [--frame F] [--levels a:b]
Leading axes (time, ensemble member) are indexed by --frame (flat index).
Needs numpy + netCDF4 (the repository's .venv has them).
"""
import argparse
import netCDF4
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("var")
    ap.add_argument("out")
    ap.add_argument("--frame", type=int, default=0)
    ap.add_argument("--levels", default=None)
    a = ap.parse_args()
    ds = netCDF4.Dataset(a.src)
    v = ds.variables[a.var]
    v.set_auto_maskandscale(True)
    arr = np.ma.filled(v[:].astype("f8"), np.nan)
    lat = np.asarray(ds.variables["latitude"][:], dtype="f8")
    lon = np.asarray(ds.variables["longitude"][:], dtype="f8")
    ny, nx = len(lat), len(lon)
    arr = arr.reshape(-1, ny, nx)
    nl = 1
    names = v.dimensions
    for d in names[:-2]:
        if d in ("level", "isobaricInhPa", "plev", "lev"):
            nl = len(ds.dimensions[d])
    arr = arr.reshape(-1, nl, ny, nx)[a.frame]
    if a.levels:
        lo, hi = (int(x) for x in a.levels.split(":"))
        arr = arr[lo:hi]
    arr.astype("<f4").tofile(a.out + ".f32")
    with open(a.out + ".grid", "w") as f:
        f.write(" ".join(str(d) for d in arr.shape) + "\n")
        f.write(" ".join(repr(float(v)) for v in lat) + "\n")
        f.write(" ".join(repr(float(v)) for v in lon) + "\n")
    print(a.out, arr.shape, float(np.nanmin(arr)), float(np.nanmax(arr)))


if __name__ == "__main__":
    main()
