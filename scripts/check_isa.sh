#!/usr/bin/env bash
# Decoding and encoding are bit-identical across CPU feature levels and
# thread counts (issue 12's "done when"): every shared field at three
# bounds is compressed by a baseline x86-64 build (SSE2, the default) and by
# a build for this CPU (`-C target-cpu=native`: AVX-512, FMA where present),
# the archives compared byte for byte, and each archive decoded by both
# builds, with 2 threads and with 1, the outputs compared byte for byte.
#
# Usage: scripts/check_isa.sh BASELINE_HIHA NATIVE_HIHA [DATA_DIR]
# (build the native one with
#  RUSTFLAGS="-C target-cpu=native" cargo build --release -p hiha-cli --target-dir target-native)
set -euo pipefail
base="$1"; native="$2"; data="${3:-../shared/data}"
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
        if ! cmp -s "$tmp/a.nc" "$tmp/b.nc" || ! cmp -s "$tmp/a.nc" "$tmp/c.nc"; then
            echo "DIFFERENT DECODES: $(basename "$f") $b"; bad=$((bad + 1))
        fi
        n=$((n + 1))
    done
done
echo "check_isa: $n archives, $bad differences"
[ "$bad" -eq 0 ]
