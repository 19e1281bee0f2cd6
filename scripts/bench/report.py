#!/usr/bin/env python3
"""Merges benchmark JSON (baselines.py, hiha-bench) into docs/benchmarks/.

Writes, under --dest:
  README.md            how it was run (command, machine, date, versions), the summary
                       tables, and the notes kept by hand in notes.md
  table2.md            per field: rows = compressors, columns = NRMSE targets,
                       cell = ratio (bits/value) and compress time (paper's Table 2)
  table1.md            per field and target: best baseline with its PSNR / RMSE / max error,
                       next to hiha's (paper's Table 1)
  hiha_vs_best.md      hiha ratio / best baseline ratio per field and target; with max-abs
                       records (target_max_abs_frac), also whole-file and payload-only ratios
                       hiha / best at each max-abs target, cells >= 1.3x / >= 1.0x, speeds
  table_maxabs.md      every compressor at each max-abs target, with max error / bound
  comparison.md        this run's baselines against the figures of --reference (BASELINES.md)
  results/merged.json  every record of every input, plus a summary
  plots/rd_<field>.png rate-distortion curves (bits/value vs PSNR)
  plots/rd_all.png     all fields on one sheet
  plots/errormap.png   original / reconstruction / error of one frame (paper's Fig. 4)

Usage: report.py --dest docs/benchmarks [--frames DIR] [--command CMD]
                 [--reference BASELINES.md] results/*.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HIHA = ("hiha-residual", "hiha-fic", "hiha-full")
SHOWN = list(HIHA[:2])  # hiha variants given columns; main() adds those present in the records
LOSSLESS = ("zlib-shuffle",)
# Row order of the tables: hiha first, then the baselines roughly by family.
ORDER = [
    "hiha-full", "hiha-fic", "hiha-residual",
    "sz3", "sz3-interp", "sz3-lorenzo",
    "sperr-psnr", "sperr-pwe", "sperr-pwe-tight", "sperr-rate",
    "zfp",
    "bitround-zstd", "bitround-shuffle-zstd", "bitround-zlib",
    "grib2-simple", "zlib-shuffle",
]
ERRORMAP_FIELDS = [  # first one present is drawn
    "eraint_z_pl200-500-850_0p75deg_global_janjul/z",
    "era5_enda10_t_pl500-850_3deg_global_20170101-02_4t/t",
]
ERRORMAP_TARGET = 1e-3


def fnum(x):
    return x if isinstance(x, (int, float)) and x is not None and math.isfinite(x) else None


def short(field: str) -> str:
    stem, _, var = field.partition("/")
    return "_".join(stem.split("_")[:3]) + "/" + var


def order_key(name):
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def fmt_ratio(r):
    v = fnum(r.get("ratio"))
    if v is None:
        return "n/a"
    return f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def cell(r, with_time=True):
    if r is None:
        return ""
    st = r.get("status")
    if st == "n/a":
        return "n/a"
    if st == "infeasible":
        return "—"
    s = f"{fmt_ratio(r)} ({r['bits_per_value']:.2f})"
    if st == "bound-violated":
        s += " **violated**"
    if with_time and fnum(r.get("compress_s")) is not None:
        s += f" {fmt_time(r['compress_s'])}"
    return s


def fmt_time(s):
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    return f"{s:.1f} s"


def load(paths):
    records, runs = [], []
    for p in paths:
        if Path(p).name == "merged.json":  # our own output, not an input
            continue
        d = json.loads(Path(p).read_text())
        runs.append({k: v for k, v in d.items() if k != "records"} | {"file": Path(p).name})
        for r in d["records"]:
            records.append(r)
    # later inputs win for the same (field, compressor, target)
    seen = {}
    for r in records:
        seen[(r["field"], r["compressor"]) + target_key(r)] = r
    return list(seen.values()), runs


def target_key(r):
    """("nrmse", t) for the NRMSE records, ("max-abs", fraction of the range) for the max-abs ones."""
    if "target_max_abs_frac" in r:
        return ("max-abs", float(r["target_max_abs_frac"]))
    return ("nrmse", float(r["target_nrmse"]))


def index(records):
    by = defaultdict(dict)  # field -> (compressor, target) -> record
    for r in records:
        by[r["field"]][(r["compressor"], float(r["target_nrmse"]))] = r
    return by


def best_baseline(cells, target):
    ok = [r for (c, t), r in cells.items()
          if t == target and c not in HIHA and r.get("status") == "ok" and fnum(r.get("ratio"))]
    return max(ok, key=lambda r: r["ratio"]) if ok else None


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------- tables


def table2(by, targets):
    parts = ["# Table 2: compression ratio at NRMSE ≤ target\n",
             "Cell: ratio (bits per value) and median compress time. `—`: no setting met the target; "
             "`n/a`: the codec failed (see the JSON for the message). hiha's times include its "
             "built-in verification decode.\n"]
    for field in sorted(by):
        cells = by[field]
        any_r = next(iter(cells.values()))
        parts.append(f"## {field}\n")
        parts.append(f"shape {tuple(any_r.get('shape') or [])}, range {any_r.get('range', float('nan')):.6g}, "
                     f"{any_r.get('original_bytes', 0) / 1e6:.2f} MB as float32\n")
        comps = sorted({c for c, _ in cells}, key=order_key)
        rows = []
        for c in comps:
            row = [c] + [cell(cells.get((c, t))) for t in targets]
            rows.append(row)
        parts.append(md_table(["compressor"] + [f"{t:.0e}" for t in targets], rows) + "\n")
    return "\n".join(parts)


def table1(by, targets):
    parts = ["# Table 1: best baseline per variable and target, with PSNR and RMSE\n",
             "For each field and target: the baseline with the highest ratio at NRMSE ≤ target, its "
             "achieved PSNR (dB), RMSE and max abs error (units of the variable), and hiha's.\n"]
    header = ["field", "target", "best baseline", "ratio", "PSNR", "RMSE", "max err"]
    for h in SHOWN:
        header += [f"{h} ratio", "PSNR", "RMSE"]
    rows = []
    for field in sorted(by):
        cells = by[field]
        for t in targets:
            b = best_baseline(cells, t)
            row = [short(field), f"{t:.0e}"]
            if b:
                row += [b["compressor"], fmt_ratio(b), f"{b['psnr']:.1f}" if fnum(b.get("psnr")) else "∞",
                        f"{b['rmse']:.3g}", f"{b['max_abs_error']:.3g}"]
            else:
                row += ["—"] * 5
            for h in SHOWN:
                r = cells.get((h, t))
                if r and r.get("status") in ("ok", "bound-violated"):
                    row += [fmt_ratio(r), f"{r['psnr']:.1f}" if fnum(r.get("psnr")) else "∞", f"{r['rmse']:.3g}"]
                else:
                    row += ["n/a" if r else "", "", ""]
            rows.append(row)
    parts.append(md_table(header, rows))
    return "\n".join(parts) + "\n"


def vs_best(by, targets):
    header = ["field"] + [f"{t:.0e}" for t in targets]
    parts = ["# hiha vs the best baseline\n",
             "Cell: hiha's ratio / the best baseline's ratio at the same NRMSE target (> 1: hiha wins), "
             "then the best baseline and its ratio. `n/a` until hiha's codec runs.\n"]
    for h in SHOWN:
        rows = []
        for field in sorted(by):
            cells = by[field]
            row = [short(field)]
            for t in targets:
                b = best_baseline(cells, t)
                r = cells.get((h, t))
                bb = f"{b['compressor']} {fmt_ratio(b)}" if b else "—"
                if r and r.get("status") == "ok" and b:
                    row.append(f"**{r['ratio'] / b['ratio']:.2f}** ({bb})")
                else:
                    row.append(f"n/a ({bb})")
            rows.append(row)
        parts.append(f"## {h}\n")
        parts.append(md_table(header, rows) + "\n")
    # The same for the payload alone (the archive less its header and
    # index, as SZ3's and SPERR's bare streams carry no metadata).
    rows = []
    for field in sorted(by):
        cells = by[field]
        row = [short(field)]
        for t in targets:
            b = best_baseline(cells, t)
            r = cells.get(("hiha-residual", t))
            payload = sum((r or {}).get("section_bytes", {}).values())
            if r and r.get("status") == "ok" and b and payload > 0:
                row.append(f"**{r['original_bytes'] / payload / b['ratio']:.2f}**")
            else:
                row.append("n/a")
        rows.append(row)
    parts.append("## hiha-residual, payload only\n")
    parts.append("Cell: hiha's payload ratio (float32 bytes ÷ its sections' bytes, header and "
                 "index left out) / the best baseline's ratio.\n")
    parts.append(md_table(header, rows) + "\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- max-abs


def index_ma(records):
    by = defaultdict(dict)  # field -> (compressor, fraction) -> record
    for r in records:
        by[r["field"]][(r["compressor"], float(r["target_max_abs_frac"]))] = r
    return by


def abs_ok(r):
    return bool(r) and r.get("status") == "ok" and r.get("abs_bound_ok") is True and fnum(r.get("ratio"))


def best_baseline_ma(cells, frac):
    """Best classical codec at this max-abs target; one that broke the bound is never best."""
    ok = [r for (c, t), r in cells.items() if t == frac and c not in HIHA and abs_ok(r)]
    return max(ok, key=lambda r: r["ratio"]) if ok else None


def payload_ratio(r):
    payload = sum((r or {}).get("section_bytes", {}).values())
    return r["original_bytes"] / payload if payload > 0 else None


def fmt_mbps(x):
    x = fnum(x)
    return "n/a" if x is None else (f"{x:.0f}" if x >= 10 else f"{x:.1f}")


def vs_best_maxabs(by, fracs, h="hiha-residual"):
    """hiha ÷ best classical codec at max-abs e = frac × range: whole file and payload only."""
    header = ["field"] + [f"{f:.0e}" for f in fracs]
    whole, pay, names, speed = [], [], [], []
    counts = {"whole": [0, 0, 0], "payload": [0, 0, 0]}  # cells, >= 1.3, >= 1.0
    for field in sorted(by):
        cells = by[field]
        rw, rp, rn, rs = [short(field)], [short(field)], [short(field)], [short(field)]
        for f in fracs:
            b = best_baseline_ma(cells, f)
            r = cells.get((h, f))
            rn.append(f"{b['compressor']} {fmt_ratio(b)} ({b['bits_per_value']:.2f})" if b else "—")
            if r and abs_ok(r) and b:
                q = r["ratio"] / b["ratio"]
                rw.append(f"**{q:.2f}** ({fmt_ratio(r)})")
                counts["whole"][0] += 1
                counts["whole"][1] += q >= 1.3
                counts["whole"][2] += q >= 1.0
                pr = payload_ratio(r)
                if pr:
                    qp = pr / b["ratio"]
                    rp.append(f"**{qp:.2f}** ({pr:.1f})")
                    counts["payload"][0] += 1
                    counts["payload"][1] += qp >= 1.3
                    counts["payload"][2] += qp >= 1.0
                else:
                    rp.append("n/a")
                rs.append(f"{fmt_mbps(r.get('compress_mbps'))} / {fmt_mbps(r.get('decompress_mbps'))} vs "
                          f"{fmt_mbps(b.get('compress_mbps'))} / {fmt_mbps(b.get('decompress_mbps'))}")
            else:
                why = (r.get("status") if r else "no record") or "n/a"
                rw.append(f"n/a ({why})")
                rp.append("n/a")
                rs.append("n/a")
        whole.append(rw)
        pay.append(rp)
        names.append(rn)
        speed.append(rs)
    def count_line(k):
        n, a, b = counts[k]
        return f"{a} of {n} cells ≥ 1.3×, {b} of {n} ≥ 1.0×."
    parts = [
        "# hiha vs the best classical codec at max-abs targets\n",
        "Max-abs target f: every valid element must satisfy |x − x̂| ≤ e with e = f × (max − min) over the "
        "field's valid values. Classical codecs run in their pointwise modes at e (SZ3 ABS, SPERR point-wise "
        "error, ZFP fixed accuracy; `sperr-pwe-tight`: SPERR asked for s × e with the first s of 1, 0.999, 0.99, 0.9, 0.5 "
        "whose output meets e), bit rounding (+ zstd, + shuffle + zstd, + shuffle + zlib) and GRIB2 simple "
        "packing with the fewest bits whose max error ≤ e, and lossless zlib + shuffle; hiha-residual with "
        "`Bound::MaxAbs(e)`. Every reconstruction is checked on every element; a codec that broke e is never "
        "the best (see the list at the end).\n",
        f"## {h} ÷ best, whole file\n",
        "Cell: hiha's ratio (whole archive: header, index, metadata and payload) ÷ the best classical codec's "
        "ratio (> 1: hiha wins), then hiha's ratio. " + count_line("whole") + "\n",
        md_table(header, whole) + "\n",
        f"## {h} ÷ best, payload only\n",
        "Cell: hiha's payload ratio (float32 bytes ÷ its sections' bytes, header and index left out, as SZ3's "
        "and SPERR's bare streams carry no metadata) ÷ the best classical codec's ratio, then hiha's payload "
        "ratio. " + count_line("payload") + "\n",
        md_table(header, pay) + "\n",
        "## Best classical codec at each max-abs target\n",
        "Cell: codec, ratio (bits per value).\n",
        md_table(header, names) + "\n",
        "## Speeds at max-abs (MB/s)\n",
        f"Cell: {h} compress / decompress vs the best classical codec's compress / decompress (median of the "
        "timing runs; the machine was loaded, see README.md: compare within a run only). hiha's compress "
        "includes its verification decode and runs on rayon; the baselines are single-threaded.\n",
        md_table(header, speed) + "\n",
    ]
    broke = []
    for field in sorted(by):
        for (c, f), r in sorted(by[field].items(), key=lambda kv: (order_key(kv[0][0]), -kv[0][1])):
            if r.get("status") == "bound-violated" or r.get("abs_bound_ok") is False:
                broke.append([short(field), c, f"{f:.0e}", f"{r.get('abs_bound', float('nan')):.4g}",
                              f"{r.get('max_abs_error', float('nan')):.4g}",
                              f"{fnum(r.get('max_abs_over_bound')) or float('nan'):.4f}",
                              str(r.get("abs_violations", "?")), f"{r.get('n_valid', r.get('n', 0))}",
                              fmt_ratio(r), would_be_best(by[field], f, r)])
    parts.append("## Bounds broken\n")
    if broke:
        parts.append(f"{len(broke)} record(s) exceeded their max-abs bound on at least one element; they are "
                     "excluded from \"best\" above.\n")
        parts.append(md_table(["field", "codec", "target", "e", "max error", "max error / e", "elements > e",
                               "valid elements", "ratio", "best if allowed?"], broke) + "\n")
    else:
        parts.append("None: every record met its max-abs bound on every element.\n")
    return "\n".join(parts), counts, broke


def would_be_best(cells, frac, r):
    b = best_baseline_ma(cells, frac)
    if r.get("compressor") in HIHA or not fnum(r.get("ratio")) or not b:
        return ""
    return f"yes ({fmt_ratio(r)} vs {b['compressor']} {fmt_ratio(b)})" if r["ratio"] > b["ratio"] else "no"


def table_maxabs(by, fracs):
    parts = ["# Every compressor at max-abs targets\n",
             "Cell: ratio (bits per value), max error ÷ e, median compress time; `—`: no setting met the bound; "
             "**violated**: the codec's pointwise mode exceeded e on some element (see hiha_vs_best.md).\n"]
    for field in sorted(by):
        cells = by[field]
        any_r = next(iter(cells.values()))
        parts.append(f"## {field}\n")
        parts.append(f"shape {tuple(any_r.get('shape') or [])}, range {any_r.get('range', float('nan')):.6g}\n")
        rows = []
        for c in sorted({c for c, _ in cells}, key=order_key):
            row = [c]
            for f in fracs:
                r = cells.get((c, f))
                txt = cell(r)
                if r and fnum(r.get("max_abs_over_bound")) is not None and r.get("status") in ("ok", "bound-violated"):
                    txt += f", max err {r['max_abs_over_bound']:.3f} e"
                row.append(txt)
            rows.append(row)
        parts.append(md_table(["compressor"] + [f"{f:.0e}" for f in fracs], rows) + "\n")
    return "\n".join(parts)


def best_summary(by, targets):
    rows = []
    for field in sorted(by):
        cells = by[field]
        row = [short(field)]
        for t in targets:
            b = best_baseline(cells, t)
            row.append(f"{fmt_ratio(b)} ({b['bits_per_value']:.2f}) {b['compressor']}" if b else "—")
        for h in SHOWN:
            vals = []
            for t in targets:
                r = cells.get((h, t))
                vals.append(fmt_ratio(r) if r and r.get("status") == "ok" else "n/a")
            row.append(" / ".join(vals))
        rows.append(row)
    return md_table(["field"] + [f"best {t:.0e}" for t in targets] + [f"{h} ({', '.join(f'{t:.0e}' for t in targets)})" for h in SHOWN], rows)


def preview_table(by, targets):
    """hiha-residual's coarse previews (`hiha decompress --preview 2`), when recorded."""
    rows = []
    for field in sorted(by):
        for t in targets:
            r = by[field].get(("hiha-residual", t)) or {}
            for key, what in (("preview", "time/levels sharp"), ("preview_all_axes", "all axes coarse")):
                p = r.get(key) or {}
                if p.get("status") != "ok":
                    continue
                rows.append([short(field), f"{t:.0e}", what,
                             f"{100 * p['bytes_read_fraction']:.1f} %",
                             f"{p['mbps']:.0f}",
                             f"{r.get('decompress_mbps', float('nan')):.0f}",
                             f"{p['nrmse']:.2e}", f"{p['nrmse_vs_full_decode']:.2e}",
                             f"{p['partial_chunks']}/{p['partial_chunks'] + p['whole_chunks']}"])
    if not rows:
        return ""
    return "\n".join([
        "# Coarse previews (`hiha decompress --preview 2`)\n",
        "hiha-residual's archives previewed at K = 2 (every 4th point of lat and lon). Bytes read: of the "
        "archive file, header and index included. MB/s: MB of the **full-resolution** float32 field per "
        "second of preview (beside the full decode's). NRMSE: against the original and against the full "
        "decode, both subsampled the same way, over the full field's range. Chunks: read in part / all.\n",
        md_table(["field", "target", "bands", "bytes read", "MB/s", "full MB/s", "NRMSE",
                  "vs full decode", "chunks"], rows),
        "",
    ])


# --------------------------------------------------------------------------- reference


def parse_reference(path):
    """BASELINES.md: '## name' then a line starting with the file name, then a table."""
    ref = {}
    text = Path(path).read_text()
    for sec in re.split(r"^## ", text, flags=re.M)[1:]:
        lines = sec.splitlines()
        m = re.match(r"(\S+\.nc) (\w+):", lines[2] if len(lines) > 2 else "")
        if not m:
            continue
        field = f"{Path(m.group(1)).stem}/{m.group(2)}"
        table = [l for l in lines if l.startswith("|")]
        if len(table) < 3:
            continue
        targets = [float(x) for x in table[0].strip("|").split("|")[1:]]
        for l in table[2:]:
            cols = [c.strip() for c in l.strip("|").split("|")]
            for t, c in zip(targets, cols[1:]):
                mm = re.match(r"([\d.]+) \(([\d.]+)\)", c)
                if mm:
                    ref[(field, cols[0], t)] = (float(mm.group(1)), float(mm.group(2)))
    return ref


REF_MAP = {  # reference row -> our rows (best of)
    "sz3": ["sz3"], "sz3-lorenzo": ["sz3-lorenzo"], "sperr": ["sperr-psnr", "sperr-pwe", "sperr-rate"],
    "zfp": ["zfp"], "bitround-zstd": ["bitround-zstd"], "bitround-zlib": ["bitround-zlib"],
    "zlib-shuffle": ["zlib-shuffle"], "grib2-simple": ["grib2-simple"],
}


def comparison(by, ref, targets):
    rows = []
    flagged = []
    for (field, name, t), (rr, rb) in sorted(ref.items()):
        if name not in REF_MAP or field not in by or t not in targets:
            continue
        ours = [by[field].get((c, t)) for c in REF_MAP[name]]
        ours = [r for r in ours if r and r.get("status") == "ok"]
        if not ours:
            rows.append([short(field), name, f"{t:.0e}", f"{rr:.1f}", "—", ""])
            continue
        o = max(ours, key=lambda r: r["ratio"])
        d = o["ratio"] / rr - 1
        mark = " ⚠" if abs(d) > 0.10 else ""
        if mark:
            flagged.append((short(field), name, t, rr, o["ratio"], o["compressor"]))
        rows.append([short(field), name, f"{t:.0e}", f"{rr:.1f} ({rb:.2f})",
                     f"{o['ratio']:.1f} ({o['bits_per_value']:.2f}) {o['compressor']}", f"{100 * d:+.0f}%{mark}"])
    text = ("# This run against BASELINES.md\n\nRatios (bits/value) at NRMSE ≤ target. `sperr` in the reference "
            "is compared with the best of our three SPERR modes. ⚠: more than 10% apart.\n\n"
            + md_table(["field", "compressor", "target", "BASELINES.md", "this run", "Δ ratio"], rows) + "\n")
    return text, flagged


# --------------------------------------------------------------------------- plots


def color_of(name):
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    order = [n for n in ORDER if n != "sperr-pwe-tight"]  # (max-abs only) keeps the NRMSE plots' colours
    i = order.index(name) if name in order else len(order)
    return cmap((i % 20) / 19.999)


def rd_plots(by, dest):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pdir = dest / "plots"
    pdir.mkdir(parents=True, exist_ok=True)
    fields = sorted(by)
    ncol = 4
    nrow = max(1, math.ceil(len(fields) / ncol))
    fig_all, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    made = []
    for i, field in enumerate(fields):
        cells = by[field]
        comps = sorted({c for c, _ in cells}, key=order_key)
        fig, ax = plt.subplots(figsize=(6, 4.2))
        for target_ax in (ax, axes[i // ncol][i % ncol]):
            for c in comps:
                if c in LOSSLESS:  # PSNR is infinite: a vertical line at its bits/value
                    bpv = [r["bits_per_value"] for (cc, _), r in cells.items() if cc == c and r.get("status") == "ok"]
                    if bpv:
                        target_ax.axvline(bpv[0], ls="--", lw=1, color="gray", label=f"{c} (lossless)")
                    continue
                pts = sorted((r["bits_per_value"], r["psnr"]) for (cc, _), r in cells.items()
                             if cc == c and r.get("status") == "ok" and fnum(r.get("psnr")) is not None)
                if not pts:
                    continue
                xs, ys = zip(*pts)
                style = dict(marker="o", ms=3, lw=1, color=color_of(c))
                if c in HIHA:
                    style.update(lw=2.2, ms=5, color="black" if c == "hiha-fic" else "dimgray")
                target_ax.plot(xs, ys, label=c, **style)
            target_ax.set_xscale("log")
            target_ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel("bits per value")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(field, fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        name = "rd_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", field) + ".png"
        fig.savefig(pdir / name, dpi=90)
        plt.close(fig)
        made.append((field, f"plots/{name}"))
        sub = axes[i // ncol][i % ncol]
        sub.set_title(short(field), fontsize=8)
        sub.tick_params(labelsize=7)
    for j in range(len(fields), nrow * ncol):
        axes[j // ncol][j % ncol].axis("off")
    handles, labels = {}, {}
    for row in axes:
        for a in row:
            for h, l in zip(*a.get_legend_handles_labels()):
                handles.setdefault(l, h)
    fig_all.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=8, fontsize=8)
    fig_all.supylabel("PSNR (dB)")
    fig_all.suptitle("rate-distortion: bits per value (log) vs PSNR", fontsize=10)
    fig_all.tight_layout(rect=(0, 0.05, 1, 0.98))
    fig_all.savefig(pdir / "rd_all.png", dpi=80)
    plt.close(fig_all)
    return made


def errormap(by, dest, frames_dir):
    """Original / reconstruction / error of frame 0, one level, like the paper's Fig. 4.

    Uses hiha's frame dump (hiha-bench --dump-frame) when there is one; otherwise SZ3's
    reconstruction at the recorded absolute bound, recomputed here.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    field = next((f for f in ERRORMAP_FIELDS if f in by), None)
    if field is None:
        return None
    cells = by[field]
    rec0 = next(iter(cells.values()))
    path, var = rec0["path"], rec0["var"]
    # Records keep paths relative to the repository root (no machine paths).
    path = str((Path(__file__).resolve().parents[2] / path).resolve())
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        a = np.asarray(ds.variables[var][:].astype(np.float64).filled(np.nan), dtype=np.float32)
    dims = rec0.get("dims") or []
    lat_lon = a.shape[-2:]
    nlev = a.shape[-3] if a.ndim >= 3 and any(k in dims[-3].lower() for k in ("lev", "plev")) else 1
    frame0 = a.reshape(-1, nlev, *lat_lon)[0]
    lev = nlev // 2
    rows = []  # (record, reconstruction of frame 0)
    for h in HIHA:
        r = cells.get((h, ERRORMAP_TARGET))
        if r and r.get("frame_dump") and frames_dir and (Path(frames_dir) / r["frame_dump"]).exists():
            rows.append((r, np.fromfile(Path(frames_dir) / r["frame_dump"], dtype="<f4").reshape(frame0.shape)))
    r = cells.get(("sz3", ERRORMAP_TARGET))
    if r and r.get("status") == "ok":
        from pysz import sz, szConfig, szErrorBoundMode

        x = np.ascontiguousarray(a.reshape(r["shape_used"]))
        c = szConfig(x.shape)
        c.errorBoundMode = szErrorBoundMode.ABS
        c.absErrorBound = r["param"]["abs_error_bound"]
        comp, _ = sz.compress(x, c)
        y, _ = sz.decompress(comp, np.float32, x.shape)
        rows.append((r, y.reshape(a.shape).reshape(-1, nlev, *lat_lon)[0]))
    if not rows:
        return None
    o = frame0[lev]
    vmin, vmax = np.nanmin(o), np.nanmax(o)
    errs = [rec[lev].astype(np.float64) - o for _, rec in rows]
    elim = max(float(np.nanmax(np.abs(e))) for e in errs) or 1.0
    fig, axs = plt.subplots(len(rows), 3, figsize=(15, 4.0 * len(rows)), squeeze=False)
    for k, ((who, rec), err) in enumerate(zip(rows, errs)):
        for ax, img, title, kw in (
            (axs[k][0], o, "original", dict(cmap="viridis", vmin=vmin, vmax=vmax)),
            (axs[k][1], rec[lev], f"{who['compressor']} reconstruction (ratio {who['ratio']:.1f})",
             dict(cmap="viridis", vmin=vmin, vmax=vmax)),
            (axs[k][2], err, f"{who['compressor']} error (RMSE {who['rmse']:.3g}, max {who['max_abs_error']:.3g})",
             dict(cmap="RdBu_r", vmin=-elim, vmax=elim)),
        ):
            im = ax.imshow(img, aspect="auto", **kw)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"{field}, frame 0, level index {lev}, NRMSE ≤ {ERRORMAP_TARGET:g}", fontsize=10)
    fig.tight_layout()
    pdir = dest / "plots"
    pdir.mkdir(parents=True, exist_ok=True)
    fig.savefig(pdir / "errormap.png", dpi=90)
    plt.close(fig)
    return field, " and ".join(w["compressor"] for w, _ in rows)


# --------------------------------------------------------------------------- main


def machine_text(runs):
    cpu, nproc = "", os.cpu_count()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [f"- machine: {nproc} CPUs (`nproc`), CPU model `{cpu}` (/proc/cpuinfo)"]
    for r in runs:
        m = r.get("machine", {})
        la = m.get("loadavg")
        le = m.get("loadavg_end")
        extra = f", load average at start {la[0]:.1f}" if la else ""
        extra += f", at end {le[0]:.1f}" if le else ""
        el = f", took {r['elapsed_s']:.0f} s" if r.get("elapsed_s") else ""
        lines.append(f"- `{Path(r['file']).name}`: {r.get('tool')} run on {r.get('date')}, "
                     f"{r.get('runs')} timing run(s){el}{extra}; versions {json.dumps(r.get('versions'))}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--dest", required=True)
    ap.add_argument("--frames", default="")
    ap.add_argument("--command", default="scripts/bench/run_all.sh")
    ap.add_argument("--revision", default="", help="git revision of the code that was benchmarked")
    ap.add_argument("--reference", default="", help="BASELINES.md to compare with (default: shared/BASELINES.md if found)")
    args = ap.parse_args(argv)

    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    all_records, runs = load(args.inputs)
    records = [r for r in all_records if "target_max_abs_frac" not in r]  # NRMSE
    ma_records = [r for r in all_records if "target_max_abs_frac" in r]
    by = index(records)
    for h in HIHA:
        if h not in SHOWN and any(r["compressor"] == h for r in records):
            SHOWN.append(h)
    targets = sorted({float(r["target_nrmse"]) for r in records}, reverse=True)

    (dest / "table2.md").write_text(table2(by, targets))
    (dest / "table1.md").write_text(table1(by, targets))
    vs_text = vs_best(by, targets)
    ma_summary = None
    if ma_records:
        by_ma = index_ma(ma_records)
        fracs = sorted({float(r["target_max_abs_frac"]) for r in ma_records}, reverse=True)
        ma_text, ma_counts, ma_broke = vs_best_maxabs(by_ma, fracs)
        vs_text += "\n" + ma_text.replace("# hiha vs the best classical codec at max-abs", "# Max-abs: hiha vs the best classical codec at max-abs", 1)
        (dest / "table_maxabs.md").write_text(table_maxabs(by_ma, fracs))
        ma_summary = (fracs, ma_counts, ma_broke)
    (dest / "hiha_vs_best.md").write_text(vs_text)
    previews = preview_table(by, targets)
    if previews:
        (dest / "previews.md").write_text(previews)

    ref_path = args.reference
    if not ref_path:
        for cand in (Path(__file__).resolve().parents[2] / "../shared/BASELINES.md", Path(__file__).resolve().parents[3] / "shared/BASELINES.md"):
            if cand.exists():
                ref_path = str(cand)
                break
    flagged = []
    if ref_path and Path(ref_path).exists():
        text, flagged = comparison(by, parse_reference(ref_path), targets)
        (dest / "comparison.md").write_text(text)

    plots = rd_plots(by, dest)
    em = errormap(by, dest, args.frames)

    summary = {}
    for field, cells in by.items():
        summary[field] = {}
        for t in targets:
            b = best_baseline(cells, t)
            summary[field][f"{t:g}"] = {
                "best_baseline": b and {"compressor": b["compressor"], "ratio": b["ratio"], "bits_per_value": b["bits_per_value"]},
                **{h: (cells.get((h, t)) or {}).get("ratio") for h in HIHA},
            }
    rdir = dest / "results"
    rdir.mkdir(parents=True, exist_ok=True)
    (rdir / "merged.json").write_text(json.dumps({"runs": runs, "summary": summary, "records": all_records},
                                                 separators=(",", ":")))

    per_codec = {(r["field"], r["compressor"]): r for r in records if "abs_bound_checked" in r}
    sz3_checked = sum(r["abs_bound_checked"] for r in per_codec.values())
    sz3_bad = sum(r.get("abs_bound_violations", 0) for r in per_codec.values())
    notes = dest / "notes.md"
    readme = [
        "# Benchmarks: hiha beside SZ3, SPERR, ZFP, bit rounding, zlib and GRIB2 packing",
        "",
        "Generated by `scripts/bench/report.py`; do not edit by hand (edit `notes.md`, which is included below).",
        "",
        "## How this was run",
        "",
        f"```\n{args.command}\n```",
        "",
        f"- generated: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        + (f", code revision `{args.revision}`" if args.revision else ""),
        machine_text(runs),
        "- every compressor's error or precision parameter is bisected (≤ 12 settings per target) to the best "
        "ratio whose achieved NRMSE = RMSE / (max − min) over valid elements is ≤ the target; the chosen setting "
        "is timed as the median of the timing runs; MB/s = float32 bytes / time.",
        f"- SZ3 sanity check: every SZ3 evaluation's max abs error ≤ its ABS bound (+1 ulp): "
        f"{'all respected' if sz3_bad == 0 else f'{sz3_bad} VIOLATIONS'} ({sz3_checked} SZ3 settings checked).",
    ]
    if ma_summary:
        fracs, cnt, broke = ma_summary
        readme += [
            f"- max-abs targets {', '.join(f'{f:g}' for f in fracs)} of each field's range: pointwise modes at "
            f"e = f × (max − min), every element checked; hiha-residual ÷ best classical codec: whole file "
            f"{cnt['whole'][1]} of {cnt['whole'][0]} cells ≥ 1.3×, {cnt['whole'][2]} ≥ 1.0×; payload only "
            f"{cnt['payload'][1]} of {cnt['payload'][0]} ≥ 1.3×, {cnt['payload'][2]} ≥ 1.0×; "
            f"{len(broke)} record(s) broke their bound (excluded from best; listed in "
            "[hiha_vs_best.md](hiha_vs_best.md)).",
        ]
    readme += [
        "",
        "## Best baseline ratio per field and target (bits per value), and hiha",
        "",
        best_summary(by, targets),
        "",
        "## Files",
        "",
        "- [table2.md](table2.md): every compressor, ratio (bits/value) and compress time (paper's Table 2)",
        "- [table1.md](table1.md): best baseline per variable with PSNR / RMSE, beside hiha (paper's Table 1)",
        "- [hiha_vs_best.md](hiha_vs_best.md): hiha ratio / best baseline ratio (NRMSE, then max-abs: whole file, "
        "payload only, best codec, speeds, broken bounds)",
        "- [table_maxabs.md](table_maxabs.md): every compressor at the max-abs targets" if ma_records else "",
        "- [previews.md](previews.md): coarse previews at K = 2 (bytes read, speed, NRMSE)" if previews else "",
        "- [comparison.md](comparison.md): this run against the earlier figures of BASELINES.md" if ref_path else "",
        "- `results/*.json`: raw records (`baselines.json`, `hiha.json`; max-abs: `baselines_maxabs.json`, "
        "`hiha_maxabs.json`) and `merged.json`",
        "- plots: [rd_all.png](plots/rd_all.png) (rate-distortion, all fields), one `plots/rd_<field>.png` per field"
        + (f", [errormap.png](plots/errormap.png) ({em[0]}, {em[1]})" if em else ""),
        "",
    ]
    if flagged:
        readme += ["## Discrepancies with BASELINES.md (> 10% in ratio)", "",
                   md_table(["field", "compressor", "target", "BASELINES.md", "this run", "our row"],
                            [[f, n, f"{t:.0e}", f"{a:.1f}", f"{b:.1f}", c] for f, n, t, a, b, c in flagged]), ""]
    if notes.exists():
        readme += ["## Notes", "", notes.read_text().strip(), ""]
    readme += ["![rate-distortion](plots/rd_all.png)", ""]
    if em:
        readme += ["![error map](plots/errormap.png)", ""]
    (dest / "README.md").write_text("\n".join(l for l in readme if l is not None) + "\n")
    print(f"report: {len(records)} records, {len(by)} fields, {len(plots)} plots -> {dest}")


if __name__ == "__main__":
    main()
