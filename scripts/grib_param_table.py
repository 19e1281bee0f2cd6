#!/usr/bin/env python3
"""Writes crates/hiha-io/src/grib/params.tsv, the GRIB parameter table of
hiha's GRIB reader, by asking ecCodes (the Python `eccodes` wheel, which
bundles the library and its definitions) what it calls each parameter.

ecCodes' own parameter lookup (concepts over many keys, local tables per
centre, pre- and post-MTG2 tables) is too large to copy, so the table lists
ecCodes' answers for the cases that matter: every GRIB2 parameter of
disciplines 0, 2 and 10 (instantaneous, and averaged, accumulated, maximum
and minimum when ecCodes names those differently), the surfaces that change
a name (2, 10, 80 and 100 m, surface, mean sea level, top of atmosphere,
tropopause, cloud base and top, maximum wind, NCEP's cloud layers), NCEP's
local names (centre 7), and the GRIB1 tables of ECMWF (128, 228) and of
NCEP (2, 3). A row is written only where the rows before it would not give
ecCodes' answer, so the table stays small. Rows give: edition, centre (* = any), the parameter numbers,
statistical processing (* = any, i = instantaneous), type and value of the
surface (* = any), then paramId, shortName, cfVarName, name, units, cfName.
hiha picks the matching row with the most constraints.

Generated data: ecCodes' definitions, (C) ECMWF, Apache-2.0.

usage: .venv/bin/python scripts/grib_param_table.py
"""
import os
import sys

import eccodes

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "crates/hiha-io/src/grib/params.tsv")

KEYS = ["paramId", "shortName", "cfVarName", "name", "units", "cfName"]


def names(h):
    out = []
    for k in KEYS:
        try:
            v = eccodes.codes_get_string(h, k)
        except eccodes.CodesInternalError:
            v = ""
        out.append(v.replace("\t", " ").replace("\n", " "))
    return tuple(out)


def known(n):
    return n[0] not in ("0", "") and n[1] not in ("unknown", "")


def grib2_handle(centre, stat, surface):
    h = eccodes.codes_grib_new_from_samples("GRIB2")
    eccodes.codes_set(h, "tablesVersion", 30)  # pre-MTG2 names, as most data in use
    eccodes.codes_set(h, "centre", centre)
    if stat is None:
        eccodes.codes_set(h, "productDefinitionTemplateNumber", 0)
    else:
        eccodes.codes_set(h, "productDefinitionTemplateNumber", 8)
        eccodes.codes_set(h, "typeOfStatisticalProcessing", stat)
    t, v = surface
    eccodes.codes_set(h, "typeOfFirstFixedSurface", t)
    if v is None:
        eccodes.codes_set_missing(h, "scaleFactorOfFirstFixedSurface")
        eccodes.codes_set_missing(h, "scaledValueOfFirstFixedSurface")
    else:
        eccodes.codes_set(h, "scaleFactorOfFirstFixedSurface", 0)
        eccodes.codes_set(h, "scaledValueOfFirstFixedSurface", v)
    eccodes.codes_set(h, "typeOfSecondFixedSurface", 255)
    return h


def query2(h, d, c, n):
    eccodes.codes_set(h, "discipline", d)
    eccodes.codes_set(h, "parameterCategory", c)
    eccodes.codes_set(h, "parameterNumber", n)
    return names(h)


GRIB2_CATEGORIES = {
    0: list(range(0, 8)) + list(range(13, 22)) + [190, 191] + list(range(192, 200)),
    2: list(range(0, 6)) + [192, 193],
    10: list(range(0, 5)) + [191, 192],
}
STATS = [None, 0, 1, 2, 3]  # instantaneous, average, accumulation, maximum, minimum
SURFACES = [None, (1, None), (103, 2), (103, 10), (103, 80), (103, 100), (101, None), (8, None),
            (2, None), (3, None), (4, None), (6, None), (7, None), (10, None), (200, None),
            (204, None), (211, None), (212, None), (213, None), (214, None), (222, None),
            (223, None), (224, None), (232, None), (233, None), (234, None), (242, None),
            (243, None), (244, None)]
GENERIC = (100, 50000)  # what "any surface" is asked as
# Cheap first look: a parameter unknown in all of these is skipped.
PROBES = [(None, None), (1, (1, None)), (None, (1, None)), (None, (103, 2)), (None, (103, 10))]


def lookup(rows, centre, key, stat, surface):
    """hiha's rule (crates/hiha-io/src/grib/params.rs): the matching row
    with the most constraints, the first of equals."""
    best, score = None, -1
    for r in rows:
        rc, rkey, rstat, rsurf, names_ = r
        if rkey != key or (rc is not None and rc != centre):
            continue
        if rstat != "*" and rstat != stat:
            continue
        if rsurf is not None:
            t, v = rsurf
            if surface is None or surface[0] != t or (v is not None and surface[1] != v):
                continue
        sc = (rc is not None) + (rstat != "*") + (rsurf is not None) + (rsurf is not None and rsurf[1] is not None)
        if sc > score:
            best, score = names_, sc
    return best


def emit(rows, centre, key, asked, row_stat, surface, answer):
    """Adds a row when the table does not already give ecCodes' answer to
    the question (centre, key, statistics `asked`, surface)."""
    if lookup(rows, centre, key, asked, surface) == (answer if known(answer) else None):
        return
    if not known(answer):
        # The table would name what ecCodes does not: pin "unknown" (rare).
        answer = ("0", "unknown", "unknown", "unknown", "unknown", "unknown")
    rows.append((None if centre == 98 else centre, key, row_stat, surface, answer))


def grib2_rows():
    rows = []
    handles = {}

    def h(centre, stat, surface):
        k = (centre, stat, surface)
        if k not in handles:
            handles[k] = grib2_handle(centre, stat, surface or GENERIC)
        return handles[k]

    for d, cats in GRIB2_CATEGORIES.items():
        for c in cats:
            for n in range(0, 255):
                key = (d, c, n)
                answers = {}
                for centre in (98, 7):
                    probe = [query2(h(centre, s, sf), d, c, n) for s, sf in PROBES]
                    if not any(known(x) for x in probe):
                        continue
                    for s in STATS:
                        for sf in SURFACES:
                            answers[(centre, s, sf)] = query2(h(centre, s, sf), d, c, n)
                if not answers:
                    continue
                # From general to specific: any stat and surface, a stat, a surface, both.
                order = sorted(
                    answers,
                    key=lambda k: ((k[1] is not None) + (k[2] is not None), k[0] != 98),
                )
                for centre, s, sf in order:
                    asked = "i" if s is None else s
                    row_stat = "*" if (s is None and sf is None) else asked
                    emit(rows, centre, key, asked, row_stat, sf, answers[(centre, s, sf)])
    for x in handles.values():
        eccodes.codes_release(x)
    out = []
    for centre, (d, c, n), stat, sf, names_ in rows:
        t, v = ("*", "*") if sf is None else (sf[0], "*" if sf[1] is None else sf[1])
        out.append(("2", "*" if centre is None else centre, d, c, n, stat, t, v) + names_)
    return out


def grib1_rows():
    rows = []
    for centre, tables in ((98, (128, 228)), (7, (2, 3))):
        h = eccodes.codes_grib_new_from_samples("GRIB1")
        eccodes.codes_set(h, "centre", centre)
        for table in tables:
            eccodes.codes_set(h, "table2Version", table)
            for p in range(1, 255):
                eccodes.codes_set(h, "indicatorOfTypeOfLevel", 100)
                eccodes.codes_set(h, "level", 500)
                eccodes.codes_set(h, "indicatorOfParameter", p)
                base = names(h)
                if known(base):
                    rows.append(("1", centre, table, p, "", "*", "*", "*") + base)
                for t, v in ((105, 2), (105, 10), (1, 0), (102, 0)):
                    eccodes.codes_set(h, "indicatorOfTypeOfLevel", t)
                    eccodes.codes_set(h, "level", v)
                    x = names(h)
                    if known(x) and x != base:
                        rows.append(("1", centre, table, p, "", "*", t, v) + x)
        eccodes.codes_release(h)
    return rows


def main():
    rows = grib1_rows() + grib2_rows()
    with open(OUT, "w") as f:
        f.write("# GRIB parameters as ecCodes %s names them; written by scripts/grib_param_table.py.\n"
                % eccodes.codes_get_api_version())
        f.write("# Generated from ecCodes' definitions, (C) ECMWF, Apache-2.0.\n")
        f.write("# edition centre d/table c/param n stat surface value paramId shortName cfVarName name units cfName\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    print(f"{len(rows)} rows -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
