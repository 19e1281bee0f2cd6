#!/usr/bin/env bash
# Decoding and encoding are bit-identical across CPU feature levels and
# thread counts (issue 12's "done when"): every shared field at three
# bounds is compressed by a baseline x86-64 build (SSE2, the default) and by
# a build for this CPU (`-C target-cpu=native`: AVX-512, FMA where present),
# the archives compared byte for byte, and each archive decoded by both
# builds, with 2 threads and with 1, the decoded values compared bit for
# bit.
#
# Usage: scripts/check_isa.sh BASELINE_HIHA NATIVE_HIHA [DATA_DIR]
# (build the native one with
#  RUSTFLAGS="-C target-cpu=native" cargo build --release -p hiha-cli --target-dir target-native)
set -euo pipefail
base="$1"; native="$2"; data="${3:-../shared/data}"
py="${PYTHON:-.venv/bin/python}"  # with netCDF4 and numpy (scripts/test.sh installs them)
# Same variables, same values bit for bit (the files' history attribute
# carries the time of writing, so the files themselves may differ).
same() {
    "$py" - "$1" "$2" <<'PY'
import sys, netCDF4, numpy as np
a, b = (netCDF4.Dataset(p) for p in sys.argv[1:3])
for d in (a, b):
    d.set_auto_maskandscale(False)
ok = sorted(a.variables) == sorted(b.variables) and all(
    np.array_equal(np.asarray(a[v][:]).view(np.uint8), np.asarray(b[v][:]).view(np.uint8))
    for v in a.variables)
sys.exit(0 if ok else 1)
PY
}
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
n=0; bad=0
for f in "$data"/*.nc; do
    for b in nrmse:1e-2 nrmse:1e-5 max-rel:1e-3; do
        "$base" -q compress "$f" -o "$tmp/a.hiha" --bound "$b" --force
        "$native" -q compress "$f" -o "$tmp/b.hiha" --bound "$b" --force
        if ! cmp -s "$tmp/a.hiha" "$tmp/b.hiha"; then
            echo "DIFFERENT ARCHIVES: $(basename "$f") $b"; bad=$((bad + 1))
        fi
        "$base" -q decompress "$tmp/a.hiha" -o "$tmp/a.nc" --format nc3 --float32 --force
        "$native" -q decompress "$tmp/a.hiha" -o "$tmp/b.nc" --format nc3 --float32 --force
        RAYON_NUM_THREADS=1 "$native" -q decompress "$tmp/a.hiha" -o "$tmp/c.nc" --format nc3 --float32 --force
        if ! same "$tmp/a.nc" "$tmp/b.nc" || ! same "$tmp/a.nc" "$tmp/c.nc"; then
            echo "DIFFERENT DECODES: $(basename "$f") $b"; bad=$((bad + 1))
        fi
        n=$((n + 1))
    done
done
echo "check_isa: $n archives, $bad differences"
[ "$bad" -eq 0 ]
