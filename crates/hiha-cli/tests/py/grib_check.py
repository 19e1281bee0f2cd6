"""Checks a NetCDF file that `hiha decompress` wrote from a GRIB input
against ecCodes' values of that input, on every element.

usage: grib_check.py INPUT.grib BACK.nc MODE BOUND
       MODE is nrmse or max-rel (the bound `hiha compress` was given)

Every field ecCodes reads from INPUT is found in BACK.nc (the variable
with the same GRIB parameter numbers, typeOfLevel and stepType, at the
field's member, time, step and level), and nothing is left over.

hiha verifies its bound against its own input, the decoded GRIB values
rounded to float32 (s = float32(e), e = ecCodes' float64 values; the Rust
tests check that hiha's input is exactly that). This script checks:

1. hiha's claim, independently: per variable, RMSE(r - s) <= BOUND * (max s -
   min s) for nrmse, |r - s| <= BOUND * (max s - min s) on every element for
   max-rel (r = the decompressed values);
2. the same against ecCodes' float64 values, where the float32 rounding of
   the input may add its own size: RMSE(r - e) <= BOUND * range(e) +
   RMS(s - e), |r - e| <= BOUND * range(e) + |s - e| (triangle inequality);
3. missing points (bitmaps) are missing in BACK.nc, and only they.
Exit status 0 when all hold; prints per-variable errors.
"""
import sys

import eccodes
import netCDF4
import numpy as np


def fields(path):
    eccodes.codes_grib_multi_support_on()
    out = []
    with open(path, "rb") as f:
        while True:
            h = eccodes.codes_grib_new_from_file(f)
            if h is None:
                break
            k = {}
            for key in ("edition", "discipline", "parameterCategory", "parameterNumber",
                        "table2Version", "indicatorOfParameter", "number", "dataDate",
                        "dataTime", "endStep", "Ni", "Nj"):
                try:
                    k[key] = eccodes.codes_get_long(h, key)
                except eccodes.CodesInternalError:
                    k[key] = None
            for key in ("typeOfLevel", "stepType"):
                k[key] = eccodes.codes_get_string(h, key)
            # The second surface of a layer, as hiha computes it (value
            # divided by 10 scale times), to tell layers with one top apart.
            k["bottom"] = None
            if k["edition"] == 2 and eccodes.codes_get_long(h, "typeOfSecondFixedSurface") != 255:
                scale = eccodes.codes_get_long(h, "scaleFactorOfSecondFixedSurface")
                value = float(eccodes.codes_get_long(h, "scaledValueOfSecondFixedSurface"))
                for _ in range(max(scale, 0)):
                    value /= 10.0
                k["bottom"] = value
            lev = eccodes.codes_get_double(h, "level")
            k["level"] = -(lev - 2**31) if lev >= 2**31 else lev
            eccodes.codes_set_double(h, "missingValue", -1.2345678901234567e300)
            v = np.asarray(eccodes.codes_get_values(h), dtype=np.float64)
            v[v == -1.2345678901234567e300] = np.nan
            k["values"] = v.reshape(k["Nj"], k["Ni"])
            eccodes.codes_release(h)
            out.append(k)
    return out


def epoch(date, time):
    d = np.datetime64(f"{date // 10000:04d}-{date // 100 % 100:02d}-{date % 100:02d}")
    return int((d - np.datetime64("1970-01-01")) / np.timedelta64(1, "s")) + (time // 100) * 3600 + (time % 100) * 60


def main(src, back, mode, bound):
    bound = float(bound)
    ds = netCDF4.Dataset(back)
    ds.set_auto_maskandscale(False)
    variables = [v for v in ds.variables.values() if "GRIB_typeOfLevel" in v.ncattrs()]
    found = {}
    ok = True
    fs = fields(src)
    for n, f in enumerate(fs):
        if f["edition"] == 1:
            pkeys = ("table2Version", "indicatorOfParameter")
        else:
            pkeys = ("discipline", "parameterCategory", "parameterNumber")
        hits = []
        for v in variables:
            a = {k: v.getncattr(k) for k in v.ncattrs()}
            if any(int(a.get("GRIB_" + k, -1)) != f[k] for k in pkeys):
                continue
            if a["GRIB_typeOfLevel"] != f["typeOfLevel"] or a["GRIB_stepType"] != f["stepType"]:
                continue
            if "GRIB_bottomLevel" in a and f["bottom"] is not None and float(a["GRIB_bottomLevel"]) != f["bottom"]:
                continue
            names = list(v.dimensions) + a.get("coordinates", "").split()

            def coord(base):
                for c in names:
                    if c == base or c.startswith(base + "_"):
                        return c
                return None

            want = {
                "number": f["number"],
                "time": epoch(f["dataDate"], f["dataTime"]),
                "step": float(f["endStep"]),
                f["typeOfLevel"]: f["level"],
            }
            index = []
            fits = True
            for base, value in want.items():
                c = coord(base)
                if c is None:
                    if base == "number" and value is None:
                        continue
                    fits = value is None
                    break
                vals = np.atleast_1d(ds.variables[c][:])
                where = np.nonzero(vals == value)[0]
                if len(where) != 1:
                    fits = False
                    break
                if c in v.dimensions:
                    index.append((v.dimensions.index(c), int(where[0])))
            if not fits:
                continue
            sl = [slice(None)] * len(v.dimensions)
            for axis, i in index:
                sl[axis] = i
            hits.append((v.name, tuple(sl)))
        hits = [h for h in hits if h not in found.values()]
        if len(hits) != 1:
            print(f"field {n + 1}: {len(hits)} places in {back} ({hits})")
            ok = False
            continue
        found[n] = hits[0]
    if not ok:
        sys.exit(1)
    # Per variable: gather (e, r) over all its fields.
    per = {}
    for n, f in enumerate(fs):
        name, sl = found[n]
        r = np.asarray(ds.variables[name][sl], dtype=np.float64)
        per.setdefault(name, []).append((f["values"], r))
    for name, parts in per.items():
        e = np.concatenate([p[0].ravel() for p in parts])
        r = np.concatenate([p[1].ravel() for p in parts])
        miss = np.isnan(e)
        if not np.array_equal(miss, np.isnan(r)):
            print(f"{name}: missing points differ ({miss.sum()} in the input, {np.isnan(r).sum()} back)")
            ok = False
            continue
        e, r = e[~miss], r[~miss]
        s = e.astype(np.float32).astype(np.float64)
        range_s, range_e = s.max() - s.min(), e.max() - e.min()
        if mode == "nrmse":
            claim = np.sqrt(np.mean((r - s) ** 2))
            limit = bound * range_s
            against_e = np.sqrt(np.mean((r - e) ** 2))
            limit_e = bound * range_e + np.sqrt(np.mean((s - e) ** 2))
        else:
            claim = np.max(np.abs(r - s) - bound * range_s)
            limit = 0.0
            against_e = np.max(np.abs(r - e) - bound * range_e - np.abs(s - e))
            limit_e = 0.0
        good = claim <= limit + 1e-12 * range_s and against_e <= limit_e + 1e-12 * range_e
        ok &= good
        what = "RMSE" if mode == "nrmse" else "max(|error| - allowed)"
        print(f"{name}: {len(parts)} fields, {what} {claim:.6g} (limit {limit:.6g}), "
              f"against ecCodes' float64 {against_e:.6g} (limit {limit_e:.6g}){'' if good else '  VIOLATED'}")
    print(f"{len(found)} fields checked in {len(per)} variables")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
