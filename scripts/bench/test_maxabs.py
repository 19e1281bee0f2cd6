#!/usr/bin/env python3
"""Checks of the max-abs mode of baselines.py and report.py (bench venv, no data files needed).

Run: .venv/bin/python scripts/bench/test_maxabs.py   (or: .venv/bin/python -m pytest scripts/bench)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines as B  # noqa: E402
import report as R  # noqa: E402


def field():
    rng = np.random.default_rng(1)
    y, x = np.meshgrid(np.linspace(0, 3, 40), np.linspace(0, 6, 60), indexing="ij")
    a = np.stack([np.sin(x + k) * np.cos(y) * 30 + 250 + rng.normal(0, 0.3, x.shape) for k in range(6)])
    return a.reshape(2, 3, 40, 60).astype(np.float32)


class Sloppy(B.BitRound):
    """Bit rounding that claims e but keeps 2 bits fewer than needed: must be caught."""

    def encode(self, x, u):
        return super().encode(x, u + 2)


def run(codecs, fracs=(1e-2, 1e-3)):
    a = field()
    vr = float(a.max() - a.min())
    base = {"field": "t/t", "n": a.size, "n_valid": a.size, "original_bytes": a.size * 4, "range": vr}
    out = []
    for c in codecs:
        out += B.bench_max_abs(c, a, a.copy(), None, vr, base, list(fracs), 1, 12, lambda m: None)
    return a, vr, out


def test_every_record_checked_on_every_element():
    codecs = [B.SZ3("sz3", "default"), B.Zfp(), B.BitRound("bitround-zstd", "zstd"), B.Grib2Simple(),
              B.ZlibShuffle()]
    a, vr, recs = run(codecs)
    assert len(recs) == 2 * len(codecs)
    for r in recs:
        assert r["status"] == "ok", r
        assert r["param"]["bound"] == "max-abs"
        assert r["abs_bound"] == r["target_max_abs_frac"] * vr
        assert r["max_abs_error"] <= r["abs_bound"] and r["abs_violations"] == 0 and r["abs_bound_ok"]
        assert "target_nrmse" not in r
    # the search takes the fewest bits: one bit fewer must break e
    br = [r for r in recs if r["compressor"] == "bitround-zstd"]
    for r in br:
        c = B.BitRound("bitround-zstd", "zstd")
        y = c.decode(c.encode(a.reshape(-1), -(r["param"]["keepbits"] - 1)))
        assert np.max(np.abs(y.astype(np.float64) - a.reshape(-1))) > r["abs_bound"]


def test_violation_recorded_and_not_best():
    sloppy = Sloppy("sloppy", "zstd")
    sloppy.integer = False  # no search: trust it at u = log10(e) like a pointwise mode

    def native(c):
        return "native" if c is sloppy else orig(c)

    orig = B.pointwise_mode
    B.pointwise_mode = native
    try:
        # u = log10(e) is not a keepbits value; give it a fixed 6 keepbits instead
        sloppy.encode = lambda x, u: B.BitRound.encode(sloppy, x, -4)
        a, vr, recs = run([sloppy, B.SZ3("sz3", "default")], fracs=(1e-3,))
    finally:
        B.pointwise_mode = orig
    bad = [r for r in recs if r["compressor"] == "sloppy"][0]
    assert bad["status"] == "bound-violated" and not bad["abs_bound_ok"]
    x = a.reshape(-1).astype(np.float64)
    y = sloppy.decode(sloppy.encode(a.reshape(-1), 0)).astype(np.float64)
    assert bad["abs_violations"] == int(np.count_nonzero(np.abs(x - y) > bad["abs_bound"]))
    bad["ratio"] = 1e9  # even with the best ratio it must not be "best"
    by = R.index_ma(recs)
    assert R.best_baseline_ma(by["t/t"], 1e-3)["compressor"] == "sz3"
    text, counts, broke = R.vs_best_maxabs(by, [1e-3])
    assert len(broke) == 1 and "sloppy" in text


def test_nrmse_records_unchanged():
    """An NRMSE record and a max-abs record of the same codec and number do not collide."""
    recs = [{"field": "f", "compressor": "sz3", "target_nrmse": 1e-3},
            {"field": "f", "compressor": "sz3", "target_max_abs_frac": 1e-3}]
    assert R.target_key(recs[0]) != R.target_key(recs[1])


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name)
