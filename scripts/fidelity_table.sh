#!/usr/bin/env bash
# The fitness-report table of docs/fidelity.md: every bundled sample at
# --nrmse 1e-3, --nrmse 1e-4 and --max-rel 1e-3 (max abs error 1e-3 of the
# range), through the real CLI (compress, decompress, compare --json).
# Usage: scripts/fidelity_table.sh [HIHA_BINARY [FILE...]]
#   (default target/debug/hiha and every bundled sample data/samples/*.nc;
#   one data variable per file)
set -euo pipefail
cd "$(dirname "$0")/.."
HIHA=${1:-target/debug/hiha}
shift || true
if [ "$#" -eq 0 ]; then
  set -- data/samples/*.nc
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "| sample | bound | ratio | NRMSE | worst level NRMSE | bias | R² | sign flips | autocorr lon / lat | DSSIM | spectra k=1 / top band | error ÷ spread median / p99 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for f in "$@"; do
  for b in "--nrmse 1e-3" "--nrmse 1e-4" "--max-rel 1e-3"; do
    # shellcheck disable=SC2086
    "$HIHA" -q compress "$f" -o "$TMP/a.hiha" -f $b
    "$HIHA" -q decompress "$TMP/a.hiha" -o "$TMP/b.nc" -f
    "$HIHA" compare "$f" "$TMP/b.nc" --json > "$TMP/r.json"
    python3 - "$f" "$b" "$(stat -c %s "$f")" "$(stat -c %s "$TMP/a.hiha")" "$TMP/r.json" <<'PY'
import json, os, sys
f, b, insz, outsz, path = sys.argv[1:]
r = json.load(open(path))
for v in r["variables"]:
    m, x = v["metrics"], v["fidelity"]
    e = lambda q: "n/a" if q is None else f"{q:.2e}"
    worst = max((l["nrmse"] for l in x["levels"] if l["nrmse"] is not None), default=None)
    sp = x["spectra"]["bands"] if x["spectra"] else []
    spec = f'{sp[0]["ratio"]:.4f} / {sp[-1]["ratio"]:.4f} (k {sp[-1]["k_lo"]}–{sp[-1]["k_hi"]})' if sp else "n/a"
    s = x["spread_ratio"]
    spread = f'{s["median"]:.3f} / {s["p99"]:.3f}' if s else "–"
    ac = x["autocorrelation"]
    a = lambda q: "n/a" if q is None else f"{q:.3f}"
    print(f'| {os.path.basename(f)} `{v["name"]}` | `{b}` | {int(insz)/int(outsz):.1f} | {e(m["nrmse"])} | {e(worst)} | {e(x["bias"])} | {x["r2"]:.7f} | {100*x["signs"]["flipped"]:.2g}% | {a(ac["lon"])} / {a(ac["lat"])} | {e(x["dssim"]["dssim"] if x["dssim"] else None)} | {spec} | {spread} |')
PY
  done
done
