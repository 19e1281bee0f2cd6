#!/usr/bin/env bash
# CPU time (user seconds, one thread) of decoders or compressors, side by
# side: the numbers of docs/ALGORITHM.md "Speed of the entropy coder and of
# the step search". CPU time, unlike wall time, stays comparable on a loaded
# machine. Each binary runs 3 times per archive; the minimum is printed.
#
# Usage:
#   scripts/bench/cpu_time.sh decode N ARCHIVE... -- DECODE_LOOP_BIN...
#       (DECODE_LOOP_BIN: builds of `cargo build --release -p hiha-core --example decode_loop`)
#   scripts/bench/cpu_time.sh compress BOUND INPUT.nc... -- HIHA_BIN...
set -euo pipefail
mode="$1"; arg="$2"; shift 2
files=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
[ $# -gt 0 ] || { echo "missing -- and the binaries" >&2; exit 2; }
shift; bins=("$@")
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for f in "${files[@]}"; do
    line="$(basename "$f")"
    for b in "${bins[@]}"; do
        best=""
        for _ in 1 2 3; do
            if [ "$mode" = decode ]; then
                u=$( { RAYON_NUM_THREADS=1 /usr/bin/time -f %U "$b" "$f" "$arg" >/dev/null; } 2>&1 | tail -1)
            else
                u=$( { RAYON_NUM_THREADS=1 /usr/bin/time -f %U "$b" -q compress "$f" -o "$tmp/x.hiha" \
                    --bound "$arg" --force --no-stream; } 2>&1 | tail -1)
            fi
            best=$(python3 -c "print(min(float('$u'), float('${best:-inf}')))")
        done
        line="$line  $b: ${best}s"
        [ "$mode" = compress ] && line="$line ($(stat -c %s "$tmp/x.hiha") B)"
    done
    echo "$line"
done
