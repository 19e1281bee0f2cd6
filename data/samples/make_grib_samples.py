#!/usr/bin/env python3
"""Makes the bundled GRIB samples from the shared data's native GRIB files.

usage: .venv/bin/python data/samples/make_grib_samples.py [SHARED_DATA_DIR]

A GRIB file is a concatenation of messages, so the two subsets are byte
ranges of the originals, copied unchanged (chosen with ecCodes' keys):

- era5_z_t_pl500-850_3deg_2members_20170101.grib: GRIB1 simple packing,
  16 messages of native/era5-levels-members.grib (z and t, ensemble
  members 0 and 1, 2017-01-01 00 and 12 UTC, 500 and 850 hPa).
- gfs_subset_2p5deg_2011100800_f072.grb2: GRIB2 complex packing with
  spatial differencing, 21 messages of native/gfs.grb (24 fields: u and v
  share a message): t and u/v at 850, 500, 250 hPa, soil moisture and
  temperature on 4 soil layers and pressure at ±2 PVU (bitmaps), the 2 m
  maximum temperature (statistical processing) and relative humidity on 4
  sigma layers (two layers share a top).

Two derived files cover what the originals do not, re-encoded by ecCodes
(values re-quantised, still real fields):

- gfs_repacked_simple_complex_ccsds.grb2: t at 850/500/250 hPa packed
  simple (5.0), complex (5.2) and CCSDS (5.42); soil moisture's 4 layers
  (bitmaps) packed simple, CCSDS, complex and left as it was.
- era5_t_grib1_bitmap_south_to_north.grib: GRIB1 t at 500 hPa (member 0)
  with a 10 x 20 block of missing values (a GRIB1 bitmap), and z at 500 hPa
  with its rows stored south to north (jScansPositively = 1).
"""
import os
import sys

import eccodes
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../shared/data")
NATIVE = os.path.join(SHARED, "native")


def messages(path):
    """(offset, length, handle) of every message (not field) of a file."""
    out = []
    with open(path, "rb") as f:
        while True:
            h = eccodes.codes_grib_new_from_file(f)
            if h is None:
                break
            out.append((eccodes.codes_get_long(h, "offset"), eccodes.codes_get_long(h, "totalLength"), h))
    return out


def subset(src, dst, keep):
    data = open(src, "rb").read()
    n = 0
    with open(dst, "wb") as out:
        for off, length, h in messages(src):
            if keep(h):
                out.write(data[off : off + length])
                n += 1
            eccodes.codes_release(h)
    print(f"{dst}: {n} messages, {os.path.getsize(dst)} bytes", file=sys.stderr)


def g(h, k):
    return eccodes.codes_get(h, k)


def main():
    era5 = os.path.join(NATIVE, "era5-levels-members.grib")
    gfs = os.path.join(NATIVE, "gfs.grb")
    e_out = os.path.join(HERE, "era5_z_t_pl500-850_3deg_2members_20170101.grib")
    subset(era5, e_out, lambda h: g(h, "number") in (0, 1) and g(h, "dataDate") == 20170101)

    def keep_gfs(h):
        name, tl, lev = g(h, "shortName"), g(h, "typeOfLevel"), g(h, "level")
        return (
            (name in ("t", "u") and tl == "isobaricInhPa" and lev in (850, 500, 250))
            or (name in ("soilw", "t") and tl == "depthBelowLandLayer")
            or (name == "pres" and tl == "potentialVorticity")
            or (name == "tmax" and tl == "heightAboveGround")
            or (name == "r" and tl == "sigmaLayer")
        )

    g_out = os.path.join(HERE, "gfs_subset_2p5deg_2011100800_f072.grb2")
    subset(gfs, g_out, keep_gfs)

    # Derived: GRIB2 repacked.
    eccodes.codes_grib_multi_support_off()
    r_out = os.path.join(HERE, "gfs_repacked_simple_complex_ccsds.grb2")
    packing_t = {850: "grid_simple", 500: "grid_complex", 250: "grid_ccsds"}
    soil = ["grid_simple", "grid_ccsds", "grid_complex", None]
    with open(r_out, "wb") as out:
        k = 0
        for _, _, h in messages(g_out):
            name, tl, lev = g(h, "shortName"), g(h, "typeOfLevel"), g(h, "level")
            target = None
            if name == "t" and tl == "isobaricInhPa":
                target = packing_t[lev]
            elif name == "soilw":
                target = soil[k]
                k += 1
                if target is None:
                    out.write(eccodes.codes_get_message(h))
            if target is not None:
                # Values first: ecCodes does not repack by itself.
                values = eccodes.codes_get_values(h)
                eccodes.codes_set_string(h, "packingType", target)
                eccodes.codes_set_values(h, values)
                out.write(eccodes.codes_get_message(h))
            eccodes.codes_release(h)
    print(f"{r_out}: {os.path.getsize(r_out)} bytes", file=sys.stderr)

    # Derived: GRIB1 bitmap and south-to-north rows.
    b_out = os.path.join(HERE, "era5_t_grib1_bitmap_south_to_north.grib")
    with open(b_out, "wb") as out:
        for _, _, h in messages(e_out):
            key = (g(h, "shortName"), g(h, "number"), g(h, "level"), g(h, "dataTime"))
            if key == ("t", 0, 500, 0):
                nj, ni = g(h, "Nj"), g(h, "Ni")
                v = eccodes.codes_get_values(h).reshape(nj, ni)
                v[20:30, 40:60] = 9999.0
                eccodes.codes_set(h, "missingValue", 9999.0)
                eccodes.codes_set(h, "bitmapPresent", 1)
                eccodes.codes_set_values(h, v.ravel())
                out.write(eccodes.codes_get_message(h))
            elif key == ("z", 0, 500, 0):
                nj, ni = g(h, "Nj"), g(h, "Ni")
                v = eccodes.codes_get_values(h).reshape(nj, ni)[::-1]
                eccodes.codes_set(h, "jScansPositively", 1)
                eccodes.codes_set(h, "latitudeOfFirstGridPointInDegrees", -90.0)
                eccodes.codes_set(h, "latitudeOfLastGridPointInDegrees", 90.0)
                eccodes.codes_set_values(h, np.ascontiguousarray(v).ravel())
                out.write(eccodes.codes_get_message(h))
            eccodes.codes_release(h)
    print(f"{b_out}: {os.path.getsize(b_out)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
