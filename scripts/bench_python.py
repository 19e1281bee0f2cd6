#!/usr/bin/env python3
"""What the Python layer adds to the codec's own time, on a 4 MB chunk.

Compares, on the same float32 chunk (4.02 MiB of real ERA5 temperature from
data/samples, 18 x 4 x 2 x 61 x 120), the core's compress/decompress timed
in Rust with no Python in the timed region (``hiha._hiha.time_core``) with
``hiha.encode``/``hiha.decode`` and the numcodecs codec's encode/decode,
timed from Python. Runs interleave so that load from other processes hits
both alike; medians are reported. Usage: bench_python.py [--repeats N]
[--bound nrmse:1e-4] (the CLI's bound grammar). Build the extension in release mode first
(``pip install ./python``) for figures that mean anything.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import xarray as xr

import hiha
from hiha.numcodecs import HiHa

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc"


def chunk() -> np.ndarray:
    t = xr.open_dataset(SAMPLE)["t"].values.astype(np.float32)  # 10 x 4 x 2 x 61 x 120
    # 8 more members: the first 8 shifted by 45 degrees of longitude (real fields).
    more = np.roll(t[:8], 15, axis=-1)
    return np.ascontiguousarray(np.concatenate([t, more]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--bound", default="nrmse:1e-4")
    args = p.parse_args()
    spec = hiha.parse_bound(args.bound).spec
    a = chunk()
    codec = HiHa(bound=spec)
    rows: dict[str, list[float]] = {k: [] for k in (
        "core encode", "core decode", "hiha.encode", "hiha.decode",
        "HiHa.encode", "HiHa.decode")}
    size = 0
    for _ in range(args.repeats):
        enc, dec, size = hiha._hiha.time_core(a, spec, 1)
        rows["core encode"] += enc
        rows["core decode"] += dec
        t = time.perf_counter()
        blob = hiha.encode(a, bound=spec)
        rows["hiha.encode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        back = hiha.decode(blob)
        rows["hiha.decode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        blob2 = codec.encode(a)
        rows["HiHa.encode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        codec.decode(blob2)
        rows["HiHa.decode"].append(time.perf_counter() - t)
        assert len(blob) == len(blob2) == size and back.shape == a.shape
    med = {k: statistics.median(v) for k, v in rows.items()}
    # Paired: each Python timing against the core timing of the same repeat
    # (run moments apart), so that load from other processes, which drifts
    # over the run, mostly cancels; the median of those ratios.
    paired = {
        k: statistics.median(
            p / c for p, c in zip(v, rows["core encode" if "encode" in k else "core decode"])
        )
        for k, v in rows.items()
    }
    mb = a.nbytes / 1e6
    print(f"chunk {a.shape} float32, {a.nbytes / 2**20:.2f} MiB, {spec}, "
          f"ratio {a.nbytes / size:.2f}, median of {args.repeats}; "
          f"load {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print(f"{'path':<14} {'median s':>9} {'MB/s':>8} {'vs core':>8} {'paired':>8}")
    for k, v in med.items():
        base = med["core encode" if "encode" in k else "core decode"]
        print(f"{k:<14} {v:9.4f} {mb / v:8.1f} {100 * (v - base) / base:+7.2f}% "
              f"{100 * (paired[k] - 1):+7.2f}%")
    print(f"load after: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
