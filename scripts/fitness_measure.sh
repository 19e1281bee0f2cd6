#!/usr/bin/env bash
# Measures the issue-13 modes on the shared data (docs/fidelity.md):
#  1. spread:F on the ERA5 ensemble (t, z; F = 1, 0.5, 0.1): ratio, bytes
#     of fixes, against the simple sound scheme (--max-abs F x the smallest
#     spread of the variable);
#  2. keep-zeros: the share of zeros in every shared field, then on ERA5 q
#     thresholded at its 60th percentile (a real field made 60 % zeros,
#     labelled as such) at NRMSE 1e-3, 1e-4 and max-abs 1e-3 of the range,
#     with --no-keep-zeros and --keep-zeros (the default there, since the
#     field is over half zeros): ratio, zeros that came back non-zero,
#     negative values.
# Ratios do not depend on the build profile; the dev profile (opt-level 2)
# is used so that no release build is needed. Needs the Python venv
# (scripts/setup_python.sh --deps-only; HIHA_VENV overrides its path) for
# numpy + netCDF4. HIHA_DATA overrides the data dir.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="${HIHA_DATA:-$ROOT/../shared/data}"
PY="${HIHA_VENV:-$ROOT/.venv}/bin/python"
"$PY" -c "import numpy, netCDF4" || { echo "needs numpy + netCDF4 in $PY" >&2; exit 1; }
cargo build -q -p hiha-cli
HIHA="$ROOT/target/debug/hiha"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/hiha-fitness-XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty), load $(cut -d' ' -f1-3 /proc/loadavg)"

ratio() { sed -n 's/^  ratio *\([0-9.]*\)x.*/\1/p'; }
section() { "$HIHA" info "$1" | sed -n "s/^  $2 *\([0-9]*\) B/\1/p"; }

echo
echo "## spread:F on the 10-member ERA5 ensemble"
echo "| var | F | ratio spread:F | fixes bytes | max-abs F x min spread | ratio that |"
echo "|---|---|---|---|---|---|"
for v in t z; do
    f="$DATA/era5_enda10_${v}_pl500-850_3deg_global_20170101-02_4t.nc"
    smin=$("$PY" -c "
import netCDF4, numpy as np
x = np.asarray(netCDF4.Dataset('$f')['$v'][:], dtype=np.float64)
print(repr(float(x.std(axis=0, ddof=1).min())))")
    for F in 1 0.5 0.1; do
        r1=$("$HIHA" compress "$f" -o "$OUT/s.hiha" -f --bound "spread:$F" | ratio)
        fx=$(section "$OUT/s.hiha" fixes); fx=${fx:-0}
        e=$("$PY" -c "print(repr($F * $smin))")
        r2=$("$HIHA" compress "$f" -o "$OUT/m.hiha" -f --max-abs "$e" | ratio)
        echo "| $v | $F | $r1 | $fx | $e | $r2 |"
    done
done

echo
echo "## share of exact zeros in the shared fields"
for f in "$DATA"/*.nc; do
    "$PY" - "$f" <<'EOF'
import sys, netCDF4, numpy as np
d = netCDF4.Dataset(sys.argv[1])
for n, v in d.variables.items():
    if v.ndim >= 3:
        x = np.ma.filled(v[:].astype(np.float64), np.nan)
        print(f"{sys.argv[1].rsplit('/', 1)[-1]:<60} {n:>4} zeros {np.mean(x == 0):.4%}")
EOF
done

echo
echo "## keep-zeros on ERA5 q thresholded at its 60th percentile (a real field made 60 % zeros)"
Q="$OUT/q_thresholded.nc"
"$PY" - "$DATA/era5_q_pl100-1000_0p25deg_westeurope_20200101_24h.nc" "$Q" <<'EOF'
import sys, netCDF4, numpy as np
src, dst = netCDF4.Dataset(sys.argv[1]), netCDF4.Dataset(sys.argv[2], "w", format="NETCDF3_64BIT_OFFSET")
for n, d in src.dimensions.items():
    dst.createDimension(n, None if d.isunlimited() else len(d))
for n, v in src.variables.items():
    o = dst.createVariable(n, v.dtype, v.dimensions)
    o.setncatts({a: v.getncattr(a) for a in v.ncattrs() if a != "_FillValue"})
    x = v[:]
    if n == "q":
        x = np.asarray(x, dtype=np.float32)
        x[x < np.percentile(x, 60)] = 0.0
    o[:] = x
dst.close()
EOF
rng=$("$PY" -c "
import netCDF4, numpy as np
x = np.asarray(netCDF4.Dataset('$Q')['q'][:], dtype=np.float64)
print(repr(float(x.max() - x.min())))")
echo "| bound | option | ratio | zeros not kept | negative values |"
echo "|---|---|---|---|---|"
for b in "nrmse:1e-3" "nrmse:1e-4" "max-abs:$("$PY" -c "print(repr(1e-3 * $rng))")" "nrmse:1e-3:per-level"; do
    for kz in "--no-keep-zeros" "--keep-zeros"; do
        r=$("$HIHA" compress "$Q" -o "$OUT/q.hiha" -f --bound "$b" $kz | ratio)
        "$HIHA" -q decompress "$OUT/q.hiha" -o "$OUT/q_back.nc" -f
        counts=$("$PY" -c "
import netCDF4, numpy as np
x = np.asarray(netCDF4.Dataset('$Q')['q'][:], dtype=np.float64)
y = np.asarray(netCDF4.Dataset('$OUT/q_back.nc')['q'][:], dtype=np.float64)
print(f'{int(np.sum((x == 0) & (y != 0)))} of {int(np.sum(x == 0))} | {int(np.sum(y < 0))}')")
        echo "| $b | $kz | $r | $counts |"
    done
done

echo
echo "## keep-zeros on real fields with few zeros (its cost where it is not the default)"
echo "| file | var | bound | ratio --no-keep-zeros | ratio --keep-zeros |"
echo "|---|---|---|---|---|"
for spec in "gfs_r_pl25_2p5deg_global_2011101100_f072.nc r" "era5_u_pl100-1000_0p25deg_westeurope_20200101_24h.nc u" "era5_q_pl100-1000_0p25deg_westeurope_20200101_24h.nc q"; do
    set -- $spec
    for b in "nrmse:1e-3" "nrmse:1e-4"; do
        r0=$("$HIHA" compress "$DATA/$1" -o "$OUT/f.hiha" -f --bound "$b" --no-keep-zeros | ratio)
        r1=$("$HIHA" compress "$DATA/$1" -o "$OUT/f.hiha" -f --bound "$b" --keep-zeros | ratio)
        echo "| $1 | $2 | $b | $r0 | $r1 |"
    done
done

echo
echo "## the ratio cost of --per-level (NRMSE 1e-3), every shared multi-level field"
echo "| file | var | ratio --nrmse 1e-3 | ratio --nrmse 1e-3 --per-level | cost |"
echo "|---|---|---|---|---|"
for f in "$DATA"/*.nc; do
    v=$("$PY" - "$f" <<'PYEOF'
import sys, netCDF4
d = netCDF4.Dataset(sys.argv[1])
names = [n for n, v in d.variables.items() if v.ndim >= 3 and n not in d.dimensions]
lev = [n for n in names if any("lev" in x or "isobaric" in x for x in d.variables[n].dimensions)]
print(lev[0] if len(names) == 1 and lev and d.dimensions[[x for x in d.variables[lev[0]].dimensions if "lev" in x or "isobaric" in x][0]].size > 1 else "")
PYEOF
)
    [ -n "$v" ] || continue
    r0=$("$HIHA" compress "$f" -o "$OUT/p.hiha" -f --nrmse 1e-3 | ratio)
    r1=$("$HIHA" compress "$f" -o "$OUT/p.hiha" -f --nrmse 1e-3 --per-level | ratio)
    echo "| $(basename "$f") | $v | $r0 | $r1 | $("$PY" -c "print(f'{$r0 / $r1:.2f}x the bytes')") |"
done
