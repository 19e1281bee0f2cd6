#!/usr/bin/env bash
set -u
# Section bytes of `hiha compress --nrmse T --no-stream` on every shared file:
# the size comparisons of docs/ALGORITHM.md ("Initial probabilities of the
# wavelet models"). Usage: scripts/bench/sizes.sh HIHA_BIN OUT.tsv ["1e-2 1e-3 ..."]
# Compare two runs with scripts/bench/compare_sizes.py A.tsv B.tsv [-v].
bin=$1; out=$2; targets=${3:-"1e-2 1e-3 1e-4 1e-5"}
: > $out
tmp=$(mktemp -d)
for f in "${HIHA_DATA:-$(dirname "$0")/../../../shared/data}"/*.nc; do b=$(basename $f .nc)
 for t in $targets; do
  $bin compress -q -f --nrmse $t -o $tmp/x.hiha $f --no-stream 2>/dev/null || { echo "$b $t FAIL" >> $out; continue; }
  s=$($bin info $tmp/x.hiha | grep -o 'sections [0-9]*' | grep -o '[0-9]*')
  echo "$b $t $s" >> $out
 done; done
rm -rf $tmp
