#!/usr/bin/env python3
"""Dask scale-out of the hiha Zarr codec (docs/scale.md).

Generates a dataset of >= 1 GB of float32 temperature on a 0.75-degree
global grid (time x 2 levels x 241 x 480) from the real ERA5 fields of
data/samples: the 40 sample frames (10 members x 4 times, 3 degrees) are
upsampled bilinearly, blended in time, rolled in longitude on each pass and
perturbed by a smooth random field, so that every frame is different and
looks like weather. Generation is lazy (Dask), so nothing holds the dataset
in memory.

Then, for 1 and 2 workers of a ``dask.distributed.LocalCluster`` (one
thread each; ``RAYON_NUM_THREADS=1`` so that a worker is one core):

1. writes it to a Zarr v3 store with ``hiha.xarray.zarr_encoding(ds,
   nrmse=...)`` (one global range pass, then the per-chunk RMSE budget);
2. reads every chunk back (decode throughput);
3. checks the bound on every element: regenerates the data, compares it with
   what the store gives back, and reduces to the global RMSE / NRMSE, the
   largest per-chunk RMSE (against the per-chunk budget) and the count of
   NaN mismatches.

Peak memory per worker is the worker process's peak RSS (``ru_maxrss``) in
a fresh cluster. A second, smaller series measures it against the chunk
size. A third series ("real") codes real ERA5 fields of the shared data
(--real-data; 0.25-degree q, u, v and 3-degree t, z) on one worker of one
core, for the ratio and the per-core throughput on real data that the ERA5
cost model of docs/scale.md uses. Results go to stdout as JSON lines and to
--results.

Usage: scale.py [--gb 1.05] [--out DIR] [--nrmse 1e-4] [--workers 1 2]
                [--chunk-frames 24] [--memory-chunks 6 24 96] [--real-data DIR]
                [--series scale memory real]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.distributed import Client, LocalCluster

import hiha
import hiha.xarray as hx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc"
NLAT, NLON, NLEV = 241, 480, 2  # 0.75 degrees, from the 3-degree sample x 4


def upsample(f: np.ndarray) -> np.ndarray:
    """Bilinear 4x upsampling of (..., 61, 120) to (..., 241, 480), periodic
    in longitude."""
    y = np.linspace(0, f.shape[-2] - 1, NLAT)
    y0 = np.minimum(np.floor(y).astype(int), f.shape[-2] - 2)
    wy = (y - y0)[:, None]
    x = np.arange(NLON) * f.shape[-1] / NLON
    x0 = np.floor(x).astype(int)
    wx = x - x0
    x1 = (x0 + 1) % f.shape[-1]
    rows = f[..., y0, :] * (1 - wy) + f[..., y0 + 1, :] * wy
    return (rows[..., x0] * (1 - wx) + rows[..., x1] * wx).astype(np.float32)


def generate(base_path: str, t0: int, nt: int) -> np.ndarray:
    """Frames t0 .. t0+nt of the synthetic series (time x level x lat x lon)."""
    base = np.load(base_path, mmap_mode="r")  # (40, 2, 61, 120)
    nb = base.shape[0]
    out = np.empty((nt, NLEV, NLAT, NLON), np.float32)
    lat = np.linspace(np.pi / 2, -np.pi / 2, NLAT)[:, None]
    lon = np.linspace(0, 2 * np.pi, NLON, endpoint=False)[None, :]
    for i in range(nt):
        t = t0 + i
        k, w = divmod(t, 6)  # 6 steps between two sample frames
        a = upsample(np.asarray(base[k % nb]))
        b = upsample(np.asarray(base[(k + 1) % nb]))
        f = a + (b - a) * (w / 6.0)
        f = np.roll(f, 7 * (k // nb), axis=-1)  # each pass over the sample shifted
        rng = np.random.default_rng(t // 24)  # perturbation: smooth, changes daily
        amp, m, n, ph = rng.uniform(0.2, 0.8, 4), rng.integers(1, 6, 4), rng.integers(1, 8, 4), rng.uniform(0, 6.3, 4)
        pert = sum(
            amp[j] * np.cos(m[j] * lat) * np.sin(n[j] * lon + ph[j] + 0.05 * t) for j in range(4)
        )
        out[i] = f + pert.astype(np.float32)
    return out


def dataset(base_path: str, frames: int, chunk: int) -> xr.Dataset:
    chunks = [chunk] * (frames // chunk) + ([frames % chunk] if frames % chunk else [])
    starts = np.cumsum([0, *chunks[:-1]])
    blocks = [
        da.from_delayed(
            dask.delayed(generate)(base_path, int(s), int(c)),
            shape=(c, NLEV, NLAT, NLON),
            dtype=np.float32,
        )
        for s, c in zip(starts, chunks)
    ]
    arr = da.concatenate(blocks, axis=0)
    time_ = np.datetime64("2000-01-01T00") + np.arange(frames) * np.timedelta64(1, "h")
    return xr.Dataset(
        {"t": (("time", "level", "latitude", "longitude"), arr,
               {"units": "K", "long_name": "Temperature (synthetic, from ERA5 samples)"})},
        coords={
            "time": time_,
            "level": ("level", np.array([850.0, 500.0]), {"units": "hPa"}),
            "latitude": ("latitude", np.linspace(90, -90, NLAT), {"units": "degrees_north"}),
            "longitude": ("longitude", np.arange(NLON) * 0.75, {"units": "degrees_east"}),
        },
    )


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def cluster(workers: int, memory_limit: str) -> tuple[LocalCluster, Client]:
    c = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=None,
        env={"RAYON_NUM_THREADS": "1"},
    )
    return c, Client(c)


def per_chunk_rmse(err: np.ndarray) -> np.ndarray:
    v = err[np.isfinite(err)]
    r = np.sqrt(np.mean(v.astype(np.float64) ** 2)) if v.size else 0.0
    return np.full((1, 1, 1, 1), r)


def run(args: argparse.Namespace, workers: int, frames: int, chunk: int, check: bool) -> dict:
    out = Path(args.out)
    store = out / f"scale_w{workers}_c{chunk}.zarr"
    shutil.rmtree(store, ignore_errors=True)
    base_path = str(out / "base.npy")
    ds = dataset(base_path, frames, chunk)
    raw = ds["t"].nbytes
    c, client = cluster(workers, args.memory_limit)
    try:
        base_rss = client.run(rss_mb)
        cpu = lambda: sum(client.run(cpu_s).values())  # noqa: E731  (all workers)
        t, c0 = time.perf_counter(), cpu()
        enc = hx.zarr_encoding(ds, nrmse=args.nrmse, zarr_format=3)
        t_range, c_range = time.perf_counter() - t, cpu() - c0
        t, c0 = time.perf_counter(), cpu()
        ds.to_zarr(store, encoding=enc, zarr_format=3, consolidated=False, mode="w")
        t_write, c_write = time.perf_counter() - t, cpu() - c0
        peak_write = client.run(peak_rss_mb)
        stored = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
        back = xr.open_zarr(store, consolidated=False)["t"]
        t, c0 = time.perf_counter(), cpu()
        back.data.map_blocks(lambda b: np.zeros((1,) * b.ndim), chunks=(1, 1, 1, 1)).sum().compute()
        t_read, c_read = time.perf_counter() - t, cpu() - c0
        res = {
            "workers": workers,
            "frames": frames,
            "chunk_frames": chunk,
            "chunk_mb": chunk * NLEV * NLAT * NLON * 4 / 1e6,
            "raw_gb": raw / 1e9,
            "stored_mb": stored / 1e6,
            "ratio": raw / stored,
            "range_pass_s": t_range,
            "write_s": t_write,
            "write_mb_s": raw / 1e6 / t_write,
            # The range pass generates every frame once (and reduces it to
            # min/max): the write's time less that is about the coding alone.
            "encode_net_mb_s": raw / 1e6 / max(t_write - t_range, 1e-9),
            "read_s": t_read,
            "read_mb_s": raw / 1e6 / t_read,
            # CPU seconds the workers used (all of them together): MB per
            # worker CPU second does not depend on how much of a core the
            # machine's other load left them, and cpu / (workers x wall) is
            # the share of its core each worker got.
            "range_cpu_s": c_range,
            "write_cpu_s": c_write,
            "read_cpu_s": c_read,
            "write_mb_per_cpu_s": raw / 1e6 / c_write,
            "encode_net_mb_per_cpu_s": raw / 1e6 / max(c_write - c_range, 1e-9),
            "read_mb_per_cpu_s": raw / 1e6 / c_read,
            "write_core_share": c_write / (workers * t_write),
            "rmse_budget": enc["t"]["serializer"].value,
            "worker_rss_start_mb": sorted(base_rss.values()),
            "worker_peak_rss_write_mb": sorted(peak_write.values()),
        }
        if check:
            orig = dataset(base_path, frames, chunk)["t"].data
            err = back.data.astype(np.float64) - orig.astype(np.float64)
            valid = da.isfinite(orig)
            t = time.perf_counter()
            sse, n, mx, lo, hi, nan_moved, chunk_rmse = dask.compute(
                da.nansum(err**2),
                valid.sum(),
                da.nanmax(abs(err)),
                da.nanmin(orig),
                da.nanmax(orig),
                (da.isnan(back.data) != da.isnan(orig)).sum(),
                err.map_blocks(per_chunk_rmse, chunks=(1, 1, 1, 1), dtype=np.float64).max(),
            )
            rmse = float(np.sqrt(sse / n))
            res.update(
                check_s=time.perf_counter() - t,
                elements_checked=int(n),
                rmse=rmse,
                nrmse=rmse / float(hi - lo),
                max_abs=float(mx),
                max_chunk_rmse=float(chunk_rmse),
                nan_moved=int(nan_moved),
                bound_ok=bool(rmse / float(hi - lo) <= args.nrmse
                              and float(chunk_rmse) <= res["rmse_budget"]
                              and int(nan_moved) == 0),
            )
        res["worker_peak_rss_mb"] = sorted(client.run(peak_rss_mb).values())
        return res
    finally:
        client.close()
        c.close()
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)


REAL_FILES = [
    "era5_q_pl100-1000_0p25deg_westeurope_20200101_24h.nc",
    "era5_u_pl100-1000_0p25deg_westeurope_20200101_24h.nc",
    "era5_v_pl100-1000_0p25deg_westeurope_20200101_24h.nc",
    "era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc",
    "era5_enda10_z_pl500-850_3deg_global_20170101-02_4t.nc",
]


def code_real(path: str, nrmse: float, repeats: int) -> dict:
    """Encodes and decodes one real field (on a worker of one core): ratio,
    median seconds, and the bound checked on every element."""
    ds = xr.open_dataset(path)
    name = next(n for n, v in ds.data_vars.items() if v.dtype.kind == "f")
    a = np.ascontiguousarray(ds[name].values.astype(np.float32))
    enc, dec, enc_cpu, dec_cpu = [], [], [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        blob = hiha.encode(a, nrmse=nrmse)
        enc.append(time.perf_counter() - t)
        enc_cpu.append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        back = hiha.decode(blob)
        dec.append(time.perf_counter() - t)
        dec_cpu.append(time.process_time() - c)
    x, y = a.astype(np.float64), back.astype(np.float64)
    ok = np.isfinite(x)
    rmse = float(np.sqrt(np.mean((x[ok] - y[ok]) ** 2)))
    rng = float(x[ok].max() - x[ok].min())
    return {
        "file": Path(path).name,
        "var": name,
        "shape": list(a.shape),
        "mb": a.nbytes / 1e6,
        "ratio": a.nbytes / len(blob),
        "encode_s": float(np.median(enc)),
        "decode_s": float(np.median(dec)),
        "encode_mb_s": a.nbytes / 1e6 / float(np.median(enc)),
        "decode_mb_s": a.nbytes / 1e6 / float(np.median(dec)),
        # Per CPU second of the worker process (one rayon thread): what one
        # core does, whatever share of it the machine's other load left.
        "encode_mb_per_cpu_s": a.nbytes / 1e6 / float(np.median(enc_cpu)),
        "decode_mb_per_cpu_s": a.nbytes / 1e6 / float(np.median(dec_cpu)),
        "nrmse": rmse / rng,
        "bound_ok": bool(rmse <= nrmse * rng and np.array_equal(np.isnan(x), np.isnan(y))),
        "elements_checked": int(ok.sum()),
    }


def run_real(args: argparse.Namespace) -> list[dict]:
    folder = Path(args.real_data)
    c, client = cluster(1, args.memory_limit)
    try:
        return [
            client.submit(code_real, str(folder / f), args.nrmse, args.real_repeats,
                          pure=False).result()
            for f in REAL_FILES
        ]
    finally:
        client.close()
        c.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gb", type=float, default=1.05, help="raw float32 size of the main runs")
    p.add_argument("--out", default=str(ROOT / "out" / "scale"))
    p.add_argument("--nrmse", type=float, default=1e-4)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--chunk-frames", type=int, default=24)
    p.add_argument("--memory-chunks", type=int, nargs="*", default=[6, 24, 96])
    p.add_argument("--memory-gb", type=float, default=0.2)
    p.add_argument("--memory-limit", default="8GiB")
    p.add_argument("--results", default=None, help="JSON lines file (default OUT/results.jsonl)")
    p.add_argument("--keep", action="store_true", help="keep the Zarr stores")
    p.add_argument("--real-data", default=str(ROOT.parent / "shared" / "data"),
                   help="folder of the real ERA5 fields of the 'real' series")
    p.add_argument("--real-repeats", type=int, default=5)
    p.add_argument("--series", nargs="+", default=["scale", "memory", "real"],
                   choices=["scale", "memory", "real"])
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t = xr.open_dataset(SAMPLE)["t"].values.astype(np.float32)
    np.save(out / "base.npy", t.reshape(-1, *t.shape[2:]))  # 40 frames x 2 levels
    results = Path(args.results or out / "results.jsonl")
    frame_bytes = NLEV * NLAT * NLON * 4
    print(f"hiha {hiha.__version__}, {os.cpu_count()} CPUs; load {os.getloadavg()}", file=sys.stderr)

    def emit(r: dict) -> None:
        line = json.dumps(r)
        print(line, flush=True)
        with results.open("a") as f:
            f.write(line + "\n")

    frames = int(np.ceil(args.gb * 1e9 / frame_bytes / args.chunk_frames)) * args.chunk_frames
    if "scale" in args.series:
        for w in args.workers:
            emit({"series": "scale", "load": os.getloadavg(),
                  **run(args, w, frames, args.chunk_frames, check=True)})
    mframes = int(np.ceil(args.memory_gb * 1e9 / frame_bytes / max(args.memory_chunks or [1])))
    if "memory" in args.series:
        for c in args.memory_chunks:
            emit({"series": "memory", "load": os.getloadavg(),
                  **run(args, 1, mframes * max(args.memory_chunks), c, check=False)})
    if "real" in args.series:
        for r in run_real(args):
            emit({"series": "real", "load": os.getloadavg(), "nrmse_bound": args.nrmse, **r})


if __name__ == "__main__":
    main()
