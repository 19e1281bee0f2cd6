#!/usr/bin/env bash
# The main job on the bundled sample: compress at NRMSE 1e-4 (verified on
# every element), show the archive, decompress to NetCDF, compare.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x "$ROOT/target/debug/hiha" ]; then
    echo "building hiha (first run: several minutes on 2 cores; the tests reuse this build) ..." >&2
fi
# The workspace feature set, so that the tests reuse every library crate built here.
cargo build --workspace --bins
HIHA="$ROOT/target/debug/hiha"
OUT="$ROOT/out"
mkdir -p "$OUT"
SAMPLE="data/samples/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc"
NRMSE="${1:-1e-4}"
echo "== hiha compress (NRMSE <= $NRMSE) =="
"$HIHA" compress "$SAMPLE" -o "$OUT/sample.hiha" --nrmse "$NRMSE" --force
echo
echo "== hiha info =="
"$HIHA" info "$OUT/sample.hiha"
echo
echo "== hiha verify =="
"$HIHA" verify "$OUT/sample.hiha"
echo
echo "== hiha decompress =="
"$HIHA" decompress "$OUT/sample.hiha" -o "$OUT/sample.nc" --force
echo
echo "== hiha compare =="
"$HIHA" compare "$SAMPLE" "$OUT/sample.nc"
