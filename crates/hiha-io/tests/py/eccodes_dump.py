"""Dumps what ecCodes reads from a GRIB file, for the Rust tests to compare
with hiha's GRIB reader.

usage: eccodes_dump.py FILE.grib OUTDIR

Writes OUTDIR/fields.tsv (one line per field, with a header line: the keys
below) and OUTDIR/values.f64 (every field's values as little-endian f64, in
message order, numberOfPoints of them per field). Missing points (bitmap,
complex packing's missing values) are written as NaN: before reading the
values, ecCodes' `missingValue` is set to a sentinel that no real value
takes, and the points that come back as the sentinel are the missing ones.
Fields of GRIB2 messages that hold several are read one by one (multi-field
support on), as hiha reads them.
"""
import math
import os
import sys

import eccodes
import numpy as np

SENTINEL = -1.2345678901234567e300
KEYS = [
    ("edition", "long"),
    ("offset", "long"),
    ("discipline", "long"),
    ("parameterCategory", "long"),
    ("parameterNumber", "long"),
    ("table2Version", "long"),
    ("indicatorOfParameter", "long"),
    ("shortName", "str"),
    ("paramId", "long"),
    ("cfVarName", "str"),
    ("name", "str"),
    ("units", "str"),
    ("typeOfLevel", "str"),
    ("level", "double"),
    ("number", "long"),
    ("dataDate", "long"),
    ("dataTime", "long"),
    ("endStep", "str"),
    ("stepType", "str"),
    ("numberOfPoints", "long"),
    ("Ni", "long"),
    ("Nj", "long"),
    ("packingType", "str"),
    ("gridType", "str"),
    ("bitmapPresent", "long"),
    ("numberOfMissing", "long"),
    ("jScansPositively", "long"),
    ("iScansNegatively", "long"),
    ("jPointsAreConsecutive", "long"),
    ("latitudeOfFirstGridPointInDegrees", "double"),
    ("longitudeOfFirstGridPointInDegrees", "double"),
    ("latitudeOfLastGridPointInDegrees", "double"),
    ("longitudeOfLastGridPointInDegrees", "double"),
]


def get(h, key, kind):
    try:
        if kind == "long":
            return str(eccodes.codes_get_long(h, key))
        if kind == "double":
            return repr(eccodes.codes_get_double(h, key))
        return eccodes.codes_get_string(h, key)
    except eccodes.CodesInternalError:
        return "-"


def main(path, out):
    os.makedirs(out, exist_ok=True)
    eccodes.codes_grib_multi_support_on()
    n = 0
    with open(path, "rb") as f, open(os.path.join(out, "fields.tsv"), "w") as t, open(
        os.path.join(out, "values.f64"), "wb"
    ) as v:
        t.write("\t".join(k for k, _ in KEYS) + "\n")
        while True:
            h = eccodes.codes_grib_new_from_file(f)
            if h is None:
                break
            t.write("\t".join(get(h, k, kind) for k, kind in KEYS) + "\n")
            eccodes.codes_set_double(h, "missingValue", SENTINEL)
            vals = np.asarray(eccodes.codes_get_values(h), dtype="<f8")
            missing = vals == SENTINEL
            if np.isnan(vals).any():
                sys.exit(f"field {n + 1}: ecCodes gives NaN values")
            vals = np.where(missing, np.nan, vals)
            v.write(vals.astype("<f8").tobytes())
            eccodes.codes_release(h)
            n += 1
    print(f"{n} fields", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
