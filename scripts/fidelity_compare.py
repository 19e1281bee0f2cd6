#!/usr/bin/env python3
"""hiha against SZ3 and SPERR at the same ratio, on the fitness report
(issue 13, docs/fidelity.md).

For each FILE[:VAR] and each hiha bound (--nrmse T for each of --targets,
then each of --bounds, e.g. spread:1):
  1. hiha compresses with that bound; its archive size B (metadata
     included) sets the ratio;
  2. SZ3 (pysz 1.1.0, ABS mode, default algorithm) is bisected on its
     absolute error bound to the largest bound whose stream is no larger
     than B bytes (the same or a better ratio than hiha's);
  3. SPERR (hdf5plugin 7.1.0, fixed-rate mode) is run at hiha's bits per
     value, then its rate is bisected to a stream no larger than B bytes;
  4. each reconstruction is written as a copy of the original NetCDF file
     with the variable replaced, and `hiha compare ORIG RECON --json` scores
     it, so every codec is scored by the same code.
Prints one Markdown table row per file, target and codec.

Needs the bench venv (scripts/setup_bench.sh: numpy, netCDF4, pysz,
hdf5plugin, h5py) and a built hiha (default target/debug/hiha; ratios do not
depend on the profile).

Usage: fidelity_compare.py [--hiha PATH] [--targets 1e-3,1e-4] [--bounds spread:1] FILE[:VAR] ...
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
import baselines  # noqa: E402  (the bench's SZ3 and SPERR wrappers)


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def write_recon(orig: Path, var: str, values: np.ndarray, out: Path) -> None:
    """A copy of `orig` with `var` replaced (missing elements stay missing)."""
    import netCDF4

    shutil.copyfile(orig, out)
    os.chmod(out, 0o644)
    with netCDF4.Dataset(out, "r+") as ds:
        v = ds.variables[var]
        v.set_auto_maskandscale(True)
        old = v[:]
        new = np.asarray(values, dtype=np.float64).reshape(old.shape)
        if np.ma.isMaskedArray(old):
            new = np.ma.array(new, mask=np.ma.getmaskarray(old))
        v[:] = new


def bisect_bytes(encode, lo: float, hi: float, budget: int, iters: int = 30):
    """Largest knob u in [lo, hi] (larger u = fewer bytes) whose stream is at
    most `budget` bytes; returns (u, nbytes, payload)."""
    best = None
    p = encode(hi)
    if p[1] > budget:
        raise SystemExit(f"even u = {hi} gives {p[1]} bytes > {budget}")
    best = (hi, p[1], p[0])
    a, b = lo, hi  # invariant: b feasible
    for _ in range(iters):
        m = 0.5 * (a + b)
        q = encode(m)
        if q[1] <= budget:
            b = m
            best = (m, q[1], q[0])
        else:
            a = m
        if b - a < 1e-4:
            break
    return best


def score(orig: Path, recon: Path, var: str, hiha: str) -> dict:
    r = json.loads(run([hiha, "compare", str(orig), str(recon), "--var", var, "--json"]))
    return r["variables"][0]


def row(label: str, t: str, codec: str, ratio: float, v: dict) -> str:
    m, x = v["metrics"], v["fidelity"]

    def e(q):
        return "n/a" if q is None else f"{q:.2e}"

    sp = x["spectra"]["bands"] if x["spectra"] else []
    spec = f'{sp[0]["ratio"]:.4f} / {sp[-1]["ratio"]:.4f}' if sp else "n/a"
    s = x["spread_ratio"]
    spread = f'{s["median"]:.3f} / {s["p99"]:.3f} / {s["max"]:.2f}' if s else "–"
    sg = x["signs"]
    signs = f'{100 * sg["flipped"]:.2g}% / {100 * sg["new_negative"]:.2g}%'
    d = x["dssim"]["dssim"] if x["dssim"] else None
    worst = max((l["nrmse"] for l in x["levels"] if l["nrmse"] is not None), default=None)
    return (
        f"| {label} | {t} | {codec} | {ratio:.2f} | {e(m['nrmse'])} | {e(worst)} | "
        f"{e(m['max_abs'])} | {e(x['bias'])} | {e(d)} | {spec} | {signs} | {spread} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hiha", default="target/debug/hiha")
    ap.add_argument("--targets", default="1e-3,1e-4")
    ap.add_argument("--bounds", default="", help="extra hiha bounds, e.g. spread:1 (comma-separated)")
    ap.add_argument("fields", nargs="+")
    a = ap.parse_args()
    settings = [f"nrmse:{t}" for t in a.targets.split(",") if t]
    settings += [b for b in a.bounds.split(",") if b]
    tmp = Path(tempfile.mkdtemp(prefix="hiha-fidcmp-"))
    print(
        "| field | hiha bound | codec | ratio | NRMSE | worst level NRMSE | max abs | bias | DSSIM "
        "| spectra k=1 / top band | sign flips / new negatives | error ÷ spread median / p99 / max |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    try:
        for spec in a.fields:
            path, _, var = spec.partition(":")
            path = Path(path)
            var, x, dims, _ = baselines.load(str(path), var or None)
            n = x.size
            nan = np.isnan(x)
            filled = np.where(nan, np.nanmean(x), x).astype(np.float32)
            label = f"{path.stem} `{var}`"
            for t in settings:
                arc = tmp / "a.hiha"
                back = tmp / "hiha.nc"
                run([a.hiha, "-q", "compress", str(path), "-o", str(arc), "-f", "--var", var,
                     "--bound", t])
                run([a.hiha, "-q", "decompress", str(arc), "-o", str(back), "-f"])
                budget = arc.stat().st_size
                print(row(label, t, "hiha", n * 4 / budget, score(path, back, var, a.hiha)), flush=True)

                # SZ3, ABS mode, bisected on log10(bound).
                sz = baselines.SZ3("sz3", "default")
                xs = np.ascontiguousarray(filled.reshape(sz.layout(x.shape)))
                vr = float(np.nanmax(x) - np.nanmin(x))

                def sz_enc(u):
                    p = sz.encode(xs, u)
                    return p, sz.nbytes(p)

                u, nb, p = bisect_bytes(sz_enc, np.log10(vr * 1e-8), np.log10(vr), budget)
                y = np.asarray(sz.decode(p), dtype=np.float32).reshape(x.shape)
                out = tmp / "sz3.nc"
                write_recon(path, var, y, out)
                print(row(label, t, f"SZ3 (abs {10**u:.3g})", n * 4 / nb, score(path, out, var, a.hiha)),
                      flush=True)

                # SPERR, fixed rate, bisected on -log10(bits per value).
                sp = baselines.Sperr("sperr-rate", "rate")
                sp.has_nan = bool(nan.any())
                xp = np.ascontiguousarray(np.where(nan, np.nan, filled).reshape(sp.layout(x.shape)))

                def sp_enc(u):
                    p = sp.encode(xp, u)
                    return p, sp.nbytes(p)

                u, nb, p = bisect_bytes(sp_enc, -np.log10(32.0), -np.log10(0.01), budget)
                y = np.asarray(sp.decode(p), dtype=np.float32).reshape(x.shape)
                out = tmp / "sperr.nc"
                write_recon(path, var, y, out)
                print(row(label, t, f"SPERR ({10**-u:.3g} bpv)", n * 4 / nb, score(path, out, var, a.hiha)),
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
