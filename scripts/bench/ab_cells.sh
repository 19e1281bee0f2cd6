#!/usr/bin/env bash
# Side-by-side bytes and times of two hiha builds on chosen cells (the lattice cells by default):
#   scripts/bench/ab_cells.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [REPS]
# Each RELEASE_DIR holds `hiha` and `examples/decode_loop`
# (cargo build --release -p hiha-cli && cargo build --release -p hiha-core --example decode_loop).
# Compress: the CLI's median wall time of REPS runs; decode: decode_loop, 20 decodes, per decode.
# CELLS overrides the cells ("FILE_PREFIX:--flag=value ..."); HIHA_DATA the data dir.
set -euo pipefail
OLD=${1:?old release dir}; NEW=${2:?new release dir}; REPS=${3:-3}
D=${HIHA_DATA:-"$(dirname "${BASH_SOURCE[0]}")/../../../shared/data"}
CELLS=${CELLS:-"gfs_r_pl25:--max-rel=1e-3 gfs_r_pl25:--nrmse=1e-5 gfs_t_pl26:--max-rel=1e-4 gfs_t_pl26:--nrmse=1e-5 gfs_u_pl26:--nrmse=1e-5 gfs_v_pl26:--nrmse=1e-5 reanalysis_gh:--nrmse=1e-5 eraint_u_pl200:--nrmse=1e-5 eraint_v_pl200:--nrmse=1e-5 eraint_v_pl200:--max-rel=1e-4"}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for c in $CELLS; do
  f=${c%%:*}; b=${c#*:}; b=${b/=/ }
  file=$(ls "$D"/"$f"*.nc | head -1)
  for which in old new; do
    B=$([ $which = old ] && echo "$OLD" || echo "$NEW")
    ts=()
    for _ in $(seq "$REPS"); do
      s=$(date +%s.%N); "$B/hiha" compress -q -f $b -o "$tmp/$which.hiha" "$file"; e=$(date +%s.%N)
      ts+=("$(echo "$e - $s" | bc)")
    done
    ct=$(printf "%s\n" "${ts[@]}" | sort -n | sed -n "$(( (REPS + 1) / 2 ))p")
    s=$(date +%s.%N); "$B/examples/decode_loop" "$tmp/$which.hiha" 20 >/dev/null; e=$(date +%s.%N)
    dt=$(echo "($e - $s) / 20" | bc -l)
    printf "%-16s %-15s %s bytes %9d  compress %.3f s  decode %.4f s\n" "$f" "$b" $which \
      "$(stat -c %s "$tmp/$which.hiha")" "$ct" "$dt"
  done
done
uptime
