#!/usr/bin/env python3
"""Classical compressors side by side at NRMSE targets (GitHub issue 5).

For each NetCDF variable and each NRMSE target, every compressor's error or
precision parameter is bisected to the best compression ratio whose achieved
NRMSE (RMSE / (max - min) of the original, over valid elements) is <= target.
The chosen setting is then timed (median of --runs compress and decompress runs).

Compressors (row names in the JSON and in the report):
  sz3            pysz 1.1.0, ABS mode, SZ3's default algorithm (interpolation + Lorenzo)
  sz3-interp     same, ALGO_INTERP
  sz3-lorenzo    same, ALGO_LORENZO_REG
  sperr-psnr     hdf5plugin 7.1.0 SPERR filter, fixed-PSNR mode (swap=True)
  sperr-pwe      same, point-wise error mode
  sperr-rate     same, fixed bits-per-value mode
  zfp            zfpy 1.0.1, fixed accuracy (tolerance)
  sperr-pwe-tight  (max-abs only) SPERR point-wise error asked for s x e, the first s of
                 1, 0.999, 0.99, 0.9, 0.5 whose reconstruction meets e on every element
  bitround-zstd  numcodecs BitRound(keepbits) + Zstd(level=3) (Kloewer et al. 2021)
  bitround-shuffle-zstd  same with a byte Shuffle(4) before Zstd
  bitround-zlib  numcodecs BitRound(keepbits) + Shuffle(4) + Zlib(level=4), NetCDF-style
  zlib-shuffle   numcodecs Shuffle(4) + Zlib(level=4), lossless (NetCDF-4 default-like)
  grib2-simple   GRIB2 simple packing (template 5.0) to N bits, per 2-D field, in numpy

Output: one JSON record per file x variable x compressor x target (see SCHEMA in
docs/benchmarks/README.md). The Rust bench (crates/hiha-bench) writes the same schema.

Max-abs mode (--max-abs 1e-2,1e-3,1e-4): fractions f of each field's value range;
e = f x (max - min) over valid values. Each codec runs in its pointwise mode at e
(SZ3 ABS, SPERR point-wise error, ZFP fixed accuracy: no search, the codec is trusted
and then checked); bit rounding (keepbits) and GRIB2 simple packing (N bits) are
bisected to the fewest bits whose max abs error <= e; zlib-shuffle is lossless.
SPERR's PSNR and rate modes bound no element and are not run. Every reconstruction
is checked on every valid element: records carry max_abs_error, abs_bound,
abs_bound_ok and abs_violations (elements with |x - x'| > e); a pointwise codec that
breaks e gets status "bound-violated" (never counted as best). Records carry
target_max_abs_frac instead of target_nrmse and param.bound = "max-abs".

Usage:
  baselines.py [--targets 1e-2,1e-3] [--max-abs 1e-2,1e-3,1e-4] [--runs 3] [--only sz3,zfp] [--iters 12]
               [--dump-raw DIR] --out results.json FILE[:VAR] ...
  baselines.py --retime results.json [--runs 3]   (re-measure speeds only, in place)
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=RuntimeWarning)

DEFAULT_TARGETS = [1e-2, 1e-3, 1e-4, 1e-5]


# --------------------------------------------------------------------------- data



def repo_relative(path) -> str:
    """`path` relative to the repository root (records carry no machine paths)."""
    root = Path(__file__).resolve().parents[2]
    return os.path.relpath(Path(path).resolve(), root)

def data_vars(ds) -> list[str]:
    """Variables that are not coordinates and have at least 2 dims."""
    out = []
    for name, v in ds.variables.items():
        if name in ds.dimensions or v.ndim < 2:
            continue
        out.append(name)
    return out


def load(path: str, var: str | None):
    """Returns (var, float32 array with NaN for missing, dims, info dict)."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        names = data_vars(ds)
        if var is None:
            if len(names) != 1:
                raise SystemExit(f"{path}: {len(names)} data variables {names}; name one as FILE:VAR")
            var = names[0]
        v = ds.variables[var]
        v.set_auto_maskandscale(True)
        a = v[:]
        dims = list(v.dimensions)
        disk_dtype = str(v.dtype)
    if np.ma.isMaskedArray(a):
        a = a.astype(np.float64).filled(np.nan)
    a = np.asarray(a, dtype=np.float32)
    return var, np.ascontiguousarray(a), dims, {"disk_dtype": disk_dtype}


def merged(shape: tuple[int, ...], max_dims: int) -> tuple[int, ...]:
    """Drops size-1 axes, then merges leading axes until at most max_dims remain."""
    s = [d for d in shape if d != 1] or [1]
    while len(s) > max_dims:
        s = [s[0] * s[1]] + s[2:]
    return tuple(s)


LEVEL_NAMES = ("lev", "plev", "isobaric", "height", "depth", "pressure")


def level_dim(dims: list[str]) -> str | None:
    """The level dim (third from last), when the variable has one."""
    if len(dims) >= 3 and any(k in dims[-3].lower() for k in LEVEL_NAMES):
        return dims[-3]
    return None


def hiha_shape(shape: tuple[int, ...], dims: list[str]) -> list[int]:
    """The 4-D (frames, levels, lat, lon) shape hiha uses for this variable."""
    lat, lon = shape[-2], shape[-1]
    levels = 1
    lead = list(shape[:-2])
    if level_dim(dims):
        levels = lead.pop()
    frames = int(np.prod(lead)) if lead else 1
    return [frames, levels, lat, lon]


def field_label(path: str, var: str) -> str:
    return f"{Path(path).stem}/{var}"


# --------------------------------------------------------------------------- metrics


def metrics(orig: np.ndarray, recon: np.ndarray, valid: np.ndarray | None, vrange: float) -> dict:
    a = orig.reshape(-1).astype(np.float64)
    b = recon.reshape(-1).astype(np.float64)
    if valid is not None:
        a, b = a[valid], b[valid]
    if not np.all(np.isfinite(b)):
        return {"rmse": math.inf, "nrmse": math.inf, "psnr": -math.inf, "max_abs_error": math.inf}
    d = a - b
    rmse = float(np.sqrt(np.mean(d * d)))
    nrmse = rmse / vrange if vrange > 0 else (0.0 if rmse == 0 else math.inf)
    psnr = math.inf if rmse == 0 else 20 * math.log10(vrange / rmse)
    return {"rmse": rmse, "nrmse": nrmse, "psnr": psnr, "max_abs_error": float(np.max(np.abs(d)))}


# --------------------------------------------------------------------------- codecs
#
# Each codec: encode(x, param) -> payload (bytes or object), nbytes(payload) -> int,
# decode(payload) -> array with x's shape. `knob` maps a search coordinate u (larger
# u = more error) to the codec's parameter.


class Codec:
    name = ""
    max_dims = 4
    integer = False  # search over integer u
    lossless = False

    def layout(self, shape):
        return merged(shape, self.max_dims)

    def knob(self, u):
        return u

    def guess(self, target, vrange):  # (u0, lo, hi)
        raise NotImplementedError

    def describe(self, u):
        return {"u": u}


class SZ3(Codec):
    def __init__(self, name, algo):
        self.name = name
        self.algo = algo

    def guess(self, t, r):
        return math.log10(t * r * 2.0), math.log10(t * r * 1e-3), math.log10(r)

    def knob(self, u):
        return 10.0**u

    def describe(self, u):
        return {"mode": "ABS", "abs_error_bound": 10.0**u, "algo": self.algo}

    def encode(self, x, u):
        from pysz import sz, szConfig, szErrorBoundMode, szAlgorithm

        c = szConfig(x.shape)
        c.errorBoundMode = szErrorBoundMode.ABS
        c.absErrorBound = 10.0**u
        if self.algo != "default":
            c.cmprAlgo = {"interp": szAlgorithm.INTERP, "lorenzo": szAlgorithm.LORENZO_REG}[self.algo]
        comp, _ = sz.compress(x, c)
        return (comp.copy(), x.shape)

    def nbytes(self, p):
        return p[0].nbytes

    def decode(self, p):
        from pysz import sz

        out, _ = sz.decompress(p[0], np.float32, p[1])
        return out


class Sperr(Codec):
    max_dims = 3

    def __init__(self, name, mode):
        self.name = name
        self.mode = mode

    def guess(self, t, r):
        if self.mode == "psnr":  # u = -psnr/20 ; psnr = -20 log10(nrmse)
            return math.log10(t), math.log10(t) - 1.5, math.log10(t) + 1.5
        if self.mode == "pwe":
            return math.log10(t * r * 3.0), math.log10(t * r * 1e-2), math.log10(r)
        # rate: u = -log10(bpp)
        return -math.log10(2.0), -math.log10(32.0), -math.log10(0.005)

    def kwargs(self, u):
        if self.mode == "psnr":
            return {"peak_signal_to_noise_ratio": -20.0 * u}
        if self.mode == "pwe":
            return {"absolute": 10.0**u}
        return {"rate": 10.0 ** (-u)}

    def describe(self, u):
        return {"mode": self.mode, **self.kwargs(u), "swap": True}

    def encode(self, x, u):
        import h5py
        import hdf5plugin

        kw = dict(self.kwargs(u), swap=True)
        if self.has_nan:
            kw["missing_value_mode"] = 1
        f = h5py.File(io.BytesIO(), "w", rdcc_nbytes=0)
        d = f.create_dataset("x", data=x, chunks=x.shape, **hdf5plugin.Sperr(**kw))
        f.flush()
        return (f, d)

    def nbytes(self, p):
        return p[1].id.get_chunk_info(0).size

    def decode(self, p):
        return p[1][...]


class Zfp(Codec):
    name = "zfp"

    def guess(self, t, r):
        return math.log10(t * r * 4.0), math.log10(t * r * 1e-3), math.log10(r * 10)

    def describe(self, u):
        return {"mode": "fixed-accuracy", "tolerance": 10.0**u}

    def encode(self, x, u):
        import zfpy

        return zfpy.compress_numpy(x, tolerance=10.0**u)

    def nbytes(self, p):
        return len(p)

    def decode(self, p):
        import zfpy

        return zfpy.decompress_numpy(p)


class BitRound(Codec):
    integer = True
    max_dims = 1

    def __init__(self, name, back):
        self.name = name
        self.back = back

    def guess(self, t, r):  # u = -keepbits
        return -10, -23, 0

    def describe(self, u):
        return {"keepbits": -u, "entropy": self.back}

    def pipeline(self):
        from numcodecs import Shuffle, Zlib, Zstd

        if self.back == "zstd":
            return [Zstd(level=3)]
        if self.back == "shuffle-zstd":
            return [Shuffle(elementsize=4), Zstd(level=3)]
        return [Shuffle(elementsize=4), Zlib(level=4)]

    def encode(self, x, u):
        from numcodecs import BitRound as BR

        y = BR(keepbits=-u).encode(x)
        for c in self.pipeline():
            y = c.encode(y)
        return (bytes(y), x.shape)

    def nbytes(self, p):
        return len(p[0])

    def decode(self, p):
        y = p[0]
        for c in reversed(self.pipeline()):
            y = c.decode(y)
        return np.frombuffer(y, dtype=np.float32).reshape(p[1])


class ZlibShuffle(Codec):
    name = "zlib-shuffle"
    lossless = True
    integer = True
    max_dims = 1

    def guess(self, t, r):
        return 0, 0, 0

    def describe(self, u):
        return {"shuffle": 4, "zlib_level": 4}

    def encode(self, x, u):
        from numcodecs import Shuffle, Zlib

        return (bytes(Zlib(level=4).encode(Shuffle(elementsize=4).encode(x))), x.shape)

    def nbytes(self, p):
        return len(p[0])

    def decode(self, p):
        from numcodecs import Shuffle, Zlib

        y = Shuffle(elementsize=4).decode(Zlib(level=4).decode(p[0]))
        return np.frombuffer(y, dtype=np.float32).reshape(p[1])


class Grib2Simple(Codec):
    """GRIB2 data representation template 5.0 (simple packing), D = 0.

    Each 2-D (lat x lon) field is one message: reference value R = min (stored as
    f32), binary scale E = ceil(log2(range / (2^N - 1))), packed values
    round((x - R) / 2^E) on N bits, padded to a byte. Counted bytes: the packed
    bits + section 5 (21 bytes) + section 7 header (5 bytes) per field; the grid
    and product sections (3, 4) are metadata and are not counted.
    """

    name = "grib2-simple"
    integer = True
    HEADER = 21 + 5

    def layout(self, shape):
        return (int(np.prod(shape[:-2])), shape[-2] * shape[-1])

    def guess(self, t, r):  # u = -nbits
        return -12, -24, -1

    def describe(self, u):
        return {"nbits": -u, "header_bytes_per_field": self.HEADER, "decimal_scale": 0}

    def encode(self, x, u):
        n = -u
        x = x.astype(np.float64)
        ref = np.min(x, axis=1).astype(np.float32).astype(np.float64)
        rng = np.max(x, axis=1) - ref
        with np.errstate(divide="ignore"):
            e = np.where(rng > 0, np.ceil(np.log2(np.maximum(rng, 1e-300) / (2.0**n - 1))), 0.0)
        scale = 2.0**e
        q = np.rint((x - ref[:, None]) / scale[:, None])
        q = np.clip(q, 0, 2**n - 1).astype(np.uint32)
        bits = ((q[:, :, None] >> np.arange(n - 1, -1, -1, dtype=np.uint32)) & 1).astype(np.uint8)
        packed = np.packbits(bits.reshape(q.shape[0], -1), axis=1)
        return (packed, ref, e, n, x.shape)

    def nbytes(self, p):
        packed = p[0]
        return packed.size + self.HEADER * packed.shape[0]

    def decode(self, p):
        packed, ref, e, n, shape = p
        bits = np.unpackbits(packed, axis=1)[:, : shape[1] * n].reshape(shape[0], shape[1], n)
        q = (bits.astype(np.uint32) << np.arange(n - 1, -1, -1, dtype=np.uint32)).sum(axis=2)
        return (ref[:, None] + q * (2.0 ** e)[:, None]).astype(np.float32)


def all_codecs():
    return [
        SZ3("sz3", "default"),
        SZ3("sz3-interp", "interp"),
        SZ3("sz3-lorenzo", "lorenzo"),
        Sperr("sperr-psnr", "psnr"),
        Sperr("sperr-pwe", "pwe"),
        Sperr("sperr-rate", "rate"),
        Zfp(),
        BitRound("bitround-zstd", "zstd"),
        BitRound("bitround-shuffle-zstd", "shuffle-zstd"),
        BitRound("bitround-zlib", "zlib"),
        ZlibShuffle(),
        Grib2Simple(),
    ]


# --------------------------------------------------------------------------- search


class Evaluator:
    """Evaluates a codec at knob u on one field, caching by u."""

    def __init__(self, codec, x, orig, valid, vrange, abs_bound=None):
        self.codec, self.x, self.orig, self.valid, self.vrange = codec, x, orig, valid, vrange
        self.abs_bound = abs_bound  # max-abs mode: count elements with |x - x'| > abs_bound
        self.cache = {}

    def __call__(self, u):
        key = round(u, 9)
        if key in self.cache:
            return self.cache[key]
        try:
            t0 = time.perf_counter()
            p = self.codec.encode(self.x, u)
            t1 = time.perf_counter()
            nb = self.codec.nbytes(p)
            y = np.asarray(self.codec.decode(p), dtype=np.float32)
            t2 = time.perf_counter()
            m = metrics(self.orig, y.reshape(self.orig.shape), self.valid, self.vrange)
            r = {"u": u, "nbytes": nb, **m, "t_c": t1 - t0, "t_d": t2 - t1}
            if self.abs_bound is not None:
                r["abs_violations"] = abs_violations(self.orig, y.reshape(self.orig.shape), self.valid,
                                                     self.abs_bound)
            if isinstance(self.codec, SZ3):
                eb = 10.0**u
                tol = eb + float(np.spacing(np.float32(np.nanmax(np.abs(self.orig)))))
                r["abs_bound"] = eb
                r["abs_bound_ok"] = bool(m["max_abs_error"] <= tol)
        except Exception as exc:  # a codec failing at one setting is recorded, not fatal
            r = {"u": u, "error": f"{type(exc).__name__}: {exc}"}
        self.cache[key] = r
        return r


def abs_violations(orig, recon, valid, e):
    """Number of valid elements with |x - x'| > e (float64; NaN/inf in x' count as violations)."""
    a = orig.reshape(-1).astype(np.float64)
    b = recon.reshape(-1).astype(np.float64)
    if valid is not None:
        a, b = a[valid], b[valid]
    d = np.abs(a - b)
    return int(np.count_nonzero(~(d <= e)))


def feasible(r, target):
    return "error" not in r and r["nrmse"] <= target


def feasible_abs(r, e):
    return "error" not in r and r["max_abs_error"] <= e and r.get("abs_violations", 0) == 0


def search(ev: Evaluator, target: float, vrange: float, iters: int, feasible=feasible):
    """Largest-u feasible setting (best ratio among all feasible evaluated).

    `feasible(r, target)`: the NRMSE test by default; max-abs mode passes feasible_abs
    with target = the absolute bound e.
    """
    c = ev.codec
    if c.lossless:
        r = ev(0)
        return r if feasible(r, target) else None
    u0, lo, hi = c.guess(target, vrange)
    tried = []

    def run(u):
        r = ev(u)
        tried.append(r)
        return r

    if c.integer:
        a, b = lo - 1, hi + 1  # a: feasible side (virtual), b: infeasible side (virtual)
        u = int(u0)
        while b - a > 1 and len(tried) < iters + 8:
            r = run(u)
            if feasible(r, target):
                a = u
            else:
                b = u
            u = (a + b) // 2
            if u in (a, b):
                break
    else:
        step = 0.5
        u = u0
        r = run(u)
        if feasible(r, target):
            a = u
            b = None
            while b is None and len(tried) < iters:
                u = min(a + step, hi)
                r = run(u)
                if feasible(r, target):
                    a = u
                    if u >= hi:
                        break
                else:
                    b = u
                step *= 2
        else:
            b = u
            a = None
            while a is None and len(tried) < iters:
                u = max(b - step, lo)
                r = run(u)
                if feasible(r, target):
                    a = u
                else:
                    b = u
                    if u <= lo:
                        break
                step *= 2
        if a is not None and b is not None:
            while len(tried) < iters and b - a > 1e-4:
                u = 0.5 * (a + b)
                r = run(u)
                if feasible(r, target):
                    a = u
                else:
                    b = u
    ok = [r for r in tried if feasible(r, target)]
    if not ok:
        return None
    return max(ok, key=lambda r: (-r["nbytes"], r["u"]))


def time_setting(codec, x, u, runs):
    tc, td = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = codec.encode(x, u)
        t1 = time.perf_counter()
        codec.decode(p)
        t2 = time.perf_counter()
        tc.append(t1 - t0)
        td.append(t2 - t1)
    return statistics.median(tc), statistics.median(td)


# --------------------------------------------------------------------------- main


def versions():
    out = {"python": platform.python_version()}
    from importlib.metadata import version

    for pkg in ("numpy", "netCDF4", "pysz", "hdf5plugin", "h5py", "zfpy", "numcodecs"):
        try:
            out[pkg] = version(pkg)
        except Exception:
            out[pkg] = None
    return out


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "uname": platform.platform(),
            "loadavg": list(os.getloadavg())}


def bench_variable(path, var, targets, codecs, runs, iters, dump_raw, log, max_abs=()):
    var, a, dims, info = load(path, var)
    label = field_label(path, var)
    n = a.size
    nan = np.isnan(a)
    valid = None if not nan.any() else ~nan.reshape(-1)
    va = a[~nan]
    vmin, vmax = float(va.min()), float(va.max())
    vrange = vmax - vmin
    x_filled = a.copy()
    if valid is not None:
        x_filled[nan] = np.float32(va.mean())
    if dump_raw:
        Path(dump_raw).mkdir(parents=True, exist_ok=True)
        stem = f"{Path(path).stem}__{var}"
        a.tofile(Path(dump_raw) / f"{stem}.f32")
        side = {"path": repo_relative(path), "var": var, "shape": list(a.shape), "dims": dims,
                "hiha_shape": hiha_shape(a.shape, dims),
                "level_dim": level_dim(dims), "raw": f"{stem}.f32"}
        (Path(dump_raw) / f"{stem}.json").write_text(json.dumps(side, indent=1))
    base = {
        "tool": "baselines.py", "file": Path(path).name, "path": repo_relative(path), "var": var, "field": label,
        "shape": list(a.shape), "dims": dims, "n": int(n), "n_valid": int(va.size), "range": vrange,
        "min": vmin, "max": vmax, "original_bytes": int(n * 4), **info,
    }
    log(f"{label}: shape {a.shape}, range {vrange:.6g}, {va.size} valid")
    records = []
    for c in codecs:
        c.has_nan = valid is not None
        shp = c.layout(a.shape)
        x = np.ascontiguousarray(x_filled.reshape(shp))
        ev = Evaluator(c, x, a, valid, vrange)
        t_codec = time.perf_counter()
        for t in targets:
            rec = dict(base, compressor=c.name, target_nrmse=t, shape_used=list(shp))
            best = search(ev, t, vrange, iters)
            rec["evaluations"] = len(ev.cache)
            if best is None:
                errs = [r["error"] for r in ev.cache.values() if "error" in r]
                rec.update(status="n/a" if errs else "infeasible",
                           error=(errs[0] if errs else "no setting tried met the target"))
                records.append(rec)
                log(f"  {c.name:21s} {t:.0e}: {rec['status']} {rec['error'][:80]}")
                continue
            tc, td = time_setting(c, x, best["u"], runs)
            rec.update(
                status="ok", param=c.describe(best["u"]), search_u=best["u"],
                compressed_bytes=int(best["nbytes"]), ratio=n * 4 / best["nbytes"],
                bits_per_value=8.0 * best["nbytes"] / n,
                nrmse=best["nrmse"], psnr=best["psnr"], rmse=best["rmse"], max_abs_error=best["max_abs_error"],
                compress_s=tc, decompress_s=td, runs=runs,
                compress_mbps=n * 4 / 1e6 / tc, decompress_mbps=n * 4 / 1e6 / td,
            )
            if "abs_bound_ok" in best:
                rec["abs_bound"] = best["abs_bound"]
                rec["abs_bound_ok"] = best["abs_bound_ok"]
            records.append(rec)
            log(f"  {c.name:21s} {t:.0e}: ratio {rec['ratio']:8.2f} ({rec['bits_per_value']:.2f} b/v) "
                f"nrmse {rec['nrmse']:.3e} c {rec['compress_mbps']:.0f} MB/s d {rec['decompress_mbps']:.0f} MB/s")
        # every SZ3 evaluation (not only the chosen ones) must respect its absolute bound
        if isinstance(c, SZ3):
            bad = [r for r in ev.cache.values() if r.get("abs_bound_ok") is False]
            for rec in records:
                if rec["compressor"] == c.name and rec["field"] == label:
                    rec["abs_bound_checked"] = len([r for r in ev.cache.values() if "abs_bound_ok" in r])
                    rec["abs_bound_violations"] = len(bad)
        log(f"  {c.name} done in {time.perf_counter() - t_codec:.1f}s ({len(ev.cache)} settings)")
    extra = [Sperr("sperr-pwe-tight", "pwe")] if any(c.name == "sperr-pwe" for c in codecs) else []
    for c in codecs + extra:
        if max_abs and pointwise_mode(c) is not None:
            t_codec = time.perf_counter()
            records += bench_max_abs(c, a, x_filled, valid, vrange, base, max_abs, runs, iters, log)
            log(f"  {c.name} max-abs done in {time.perf_counter() - t_codec:.1f}s")
    return records


def pointwise_mode(c):
    """How a codec meets a max-abs bound: "native" (its own pointwise mode at e, checked),
    "search" (fewest bits whose max error <= e), "lossless", or None (not run)."""
    if c.name.endswith("-tight"):
        return "ladder"
    if isinstance(c, (SZ3, Zfp)) or (isinstance(c, Sperr) and c.mode == "pwe"):
        return "native"
    if isinstance(c, (BitRound, Grib2Simple)):
        return "search"
    if c.lossless:
        return "lossless"
    return None


TIGHT_LADDER = (1.0, 0.999, 0.99, 0.9, 0.5)


def bench_max_abs(c, a, x_filled, valid, vrange, base, fracs, runs, iters, log):
    """Records of codec c at max-abs e = frac x range for each frac (see the module doc)."""
    records = []
    c.has_nan = valid is not None
    shp = c.layout(a.shape)
    x = np.ascontiguousarray(x_filled.reshape(shp))
    mode = pointwise_mode(c)
    for frac in fracs:
        e = frac * vrange
        ev = Evaluator(c, x, a, valid, vrange, abs_bound=e)
        rec = dict(base, compressor=c.name, target_max_abs_frac=frac, abs_bound=e, shape_used=list(shp),
                   bound_mode=mode)
        if mode == "native":
            # u = log10(e) for SZ3 (ABS), SPERR pwe (absolute) and ZFP (tolerance)
            best = ev(math.log10(e)) if e > 0 else {"error": "zero range"}
        elif mode == "lossless":
            best = ev(0)
        elif mode == "ladder":
            # the pointwise mode asked for s x e, s = 1, 0.999, 0.99, 0.9, 0.5: the first that meets e
            # on every element (what a user does when the codec overshoots e by a rounding)
            for scale in TIGHT_LADDER:
                best = ev(math.log10(e * scale)) if e > 0 else {"error": "zero range"}
                if "error" in best or feasible_abs(best, e):
                    break
            else:
                best = None
        else:
            best = search(ev, e, vrange, iters, feasible=feasible_abs)
        rec["evaluations"] = len(ev.cache)
        if best is None or "error" in best:
            errs = [r["error"] for r in ev.cache.values() if "error" in r]
            rec.update(status="n/a" if errs else "infeasible",
                       error=(errs[0] if errs else "no setting tried met the bound"))
            records.append(rec)
            log(f"  {c.name:21s} max-abs {frac:.0e}: {rec['status']} {rec['error'][:80]}")
            continue
        ok = feasible_abs(best, e)
        tc, td = time_setting(c, x, best["u"], runs)
        rec.update(
            status="ok" if ok else "bound-violated", param={"bound": "max-abs", **c.describe(best["u"])},
            search_u=best["u"], param_over_bound=10.0 ** best["u"] / e if mode in ("native", "ladder") else None,
            compressed_bytes=int(best["nbytes"]), ratio=a.size * 4 / best["nbytes"],
            bits_per_value=8.0 * best["nbytes"] / a.size,
            nrmse=best["nrmse"], psnr=best["psnr"], rmse=best["rmse"], max_abs_error=best["max_abs_error"],
            abs_bound_ok=bool(ok), abs_violations=int(best.get("abs_violations", 0)),
            max_abs_over_bound=best["max_abs_error"] / e if e > 0 else None,
            compress_s=tc, decompress_s=td, runs=runs,
            compress_mbps=a.size * 4 / 1e6 / tc, decompress_mbps=a.size * 4 / 1e6 / td,
        )
        records.append(rec)
        log(f"  {c.name:21s} max-abs {frac:.0e}: ratio {rec['ratio']:8.2f} ({rec['bits_per_value']:.2f} b/v) "
            f"max err / e {rec['max_abs_over_bound']:.3f} violations {rec['abs_violations']}"
            f"{'' if ok else ' BOUND VIOLATED'} c {rec['compress_mbps']:.0f} MB/s")
    return records


def u_from_record(c, rec):
    """The search coordinate of a recorded setting (for --retime)."""
    if "search_u" in rec:
        return rec["search_u"]
    p = rec["param"]
    if isinstance(c, SZ3):
        return math.log10(p["abs_error_bound"])
    if isinstance(c, Sperr):
        if c.mode == "psnr":
            return -p["peak_signal_to_noise_ratio"] / 20.0
        if c.mode == "pwe":
            return math.log10(p["absolute"])
        return -math.log10(p["rate"])
    if isinstance(c, Zfp):
        return math.log10(p["tolerance"])
    if isinstance(c, BitRound):
        return -p["keepbits"]
    if isinstance(c, Grib2Simple):
        return -p["nbits"]
    return 0


def retime(path, runs, log):
    """Re-measures the speeds of the settings recorded in `path`, in place, without searching.

    Ratios and errors are deterministic; only the times change. Use this on a quiet machine.
    """
    d = json.loads(Path(path).read_text())
    codecs = {c.name: c for c in all_codecs() + [Sperr("sperr-pwe-tight", "pwe")]}
    loaded = {}
    for rec in d["records"]:
        if rec.get("status") != "ok" or rec["compressor"] not in codecs:
            continue
        key = (rec["path"], rec["var"])
        if key not in loaded:
            loaded.clear()
            _, a, _, _ = load(*key)
            nan = np.isnan(a)
            if nan.any():
                a = a.copy()
                a[nan] = np.float32(a[~nan].mean())
            loaded[key] = (a, bool(nan.any()))
        a, has_nan = loaded[key]
        c = codecs[rec["compressor"]]
        c.has_nan = has_nan
        x = np.ascontiguousarray(a.reshape(rec["shape_used"]))
        tc, td = time_setting(c, x, u_from_record(c, rec), runs)
        n = rec["n"]
        rec.update(compress_s=tc, decompress_s=td, runs=runs,
                   compress_mbps=n * 4 / 1e6 / tc, decompress_mbps=n * 4 / 1e6 / td)
        tgt = rec.get("target_nrmse", rec.get("target_max_abs_frac"))
        log(f"{rec['field']} {rec['compressor']} {tgt:.0e}: c {rec['compress_mbps']:.0f} MB/s d {rec['decompress_mbps']:.0f} MB/s")
    d["retimed"] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs,
                    "loadavg": list(os.getloadavg())}
    d["runs"] = runs
    Path(path).write_text(json.dumps(d, indent=1, allow_nan=True))
    log(f"retimed {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--retime", default="", help="only re-measure the times of the settings in this JSON (in place)")
    ap.add_argument("inputs", nargs="*", help="FILE or FILE:VAR; a file with several data variables is benched per variable")
    ap.add_argument("--targets", default=",".join(f"{t:g}" for t in DEFAULT_TARGETS))
    ap.add_argument("--max-abs", default="",
                    help="max-abs targets as fractions of each field's range, e.g. 1e-2,1e-3,1e-4 "
                         "(pass --targets '' to run only these)")
    ap.add_argument("--runs", type=int, default=3, help="timing runs (median)")
    ap.add_argument("--iters", type=int, default=12, help="max evaluations per bisection")
    ap.add_argument("--only", default="", help="comma-separated compressor names")
    ap.add_argument("--skip", default="", help="comma-separated compressor names to skip")
    ap.add_argument("--dump-raw", default="", help="write each variable as raw f32 + JSON sidecar here (for hiha-bench)")
    ap.add_argument("--out", default="")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    if args.retime:
        retime(args.retime, args.runs, log)
        return
    if not args.out or not args.inputs:
        ap.error("--out and at least one input are required")
    targets = [float(t) for t in args.targets.split(",") if t]
    max_abs = [float(t) for t in args.max_abs.split(",") if t]
    codecs = all_codecs()
    if args.only:
        keep = set(args.only.split(","))
        codecs = [c for c in codecs if c.name in keep]
    if args.skip:
        drop = set(args.skip.split(","))
        codecs = [c for c in codecs if c.name not in drop]

    jobs = []
    for item in args.inputs:
        path, _, var = item.partition(":") if not os.path.exists(item) else (item, "", "")
        if var:
            jobs.append((path, var))
            continue
        import netCDF4

        with netCDF4.Dataset(path) as ds:
            for v in data_vars(ds):
                jobs.append((path, v))

    t0 = time.perf_counter()
    mach = machine()
    records = []
    for path, var in jobs:
        records += bench_variable(path, var, targets, codecs, args.runs, args.iters, args.dump_raw, log,
                                  max_abs=max_abs)
    out = {
        "tool": "baselines.py", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": dict(mach, loadavg_end=list(os.getloadavg())), "versions": versions(), "targets": targets, "max_abs_targets": max_abs, "runs": args.runs,
        "iters": args.iters, "elapsed_s": time.perf_counter() - t0, "records": records,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, allow_nan=True))
    log(f"wrote {len(records)} records to {args.out} in {out['elapsed_s']:.0f}s")

    broke = [r for r in records if r.get("status") == "bound-violated"]
    if broke:
        log("max-abs bound broken (recorded, excluded from best): "
            + ", ".join(f"{r['field']} {r['compressor']} {r['target_max_abs_frac']:g}" for r in broke))
    viol = [r for r in records if r.get("abs_bound_violations")]
    assert not viol, f"SZ3 exceeded its absolute bound: {[(r['field'], r['compressor']) for r in viol]}"


if __name__ == "__main__":
    main()
