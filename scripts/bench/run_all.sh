#!/usr/bin/env bash
# The whole benchmark in one command (GitHub issue 5):
#   venv setup -> release build of hiha-bench -> baselines.py and hiha-bench on every
#   shared data file -> docs/benchmarks/ (tables, JSON, plots, README).
#
# Usage: scripts/bench/run_all.sh [--quick] [--hiha-only] [--baselines-only] [--runs N]
#                                  [--max-abs LIST]
#   --quick           3 files, targets 1e-2,1e-3 (max-abs 1e-2,1e-3), 1 timing run; writes to out/bench-quick/
#                     instead of docs/benchmarks/ (the committed results stay untouched)
#   --hiha-only       rerun only hiha's rows; reuse the baselines JSON already there
#   --baselines-only  rerun only the baselines; reuse the hiha JSON already there
#   --retime          keep the baselines' settings and ratios, re-measure only their speeds
#                     (a few minutes; use on a quiet machine), then rerun hiha and the report
#   --max-abs LIST    max-abs targets, fractions of each field's range (default 1e-2,1e-3,1e-4;
#                     '' to skip): results/baselines_maxabs.json and results/hiha_maxabs.json
# Environment: HIHA_BENCH_DATA (default: <repo>/../shared/data), CARGO_TARGET_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CMDLINE="scripts/bench/run_all.sh $*"

QUICK=0; DO_BASE=1; DO_HIHA=1; RUNS=""; RETIME=0; MAXABS="-"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --hiha-only) DO_BASE=0 ;;
        --baselines-only) DO_HIHA=0 ;;
        --retime) RETIME=1 ;;
        --runs) RUNS="$2"; shift ;;
        --max-abs) MAXABS="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

DATA="${HIHA_BENCH_DATA:-}"
if [ -z "$DATA" ]; then
    for d in "$ROOT/../shared/data"; do
        if [ -d "$d" ]; then DATA="$(cd "$d" && pwd)"; break; fi
    done
fi
[ -d "${DATA:-}" ] || { echo "no data directory (set HIHA_BENCH_DATA)" >&2; exit 1; }

if [ "$QUICK" = 1 ]; then
    DEST="$ROOT/out/bench-quick"
    TARGETS="1e-2,1e-3"
    [ "$MAXABS" = "-" ] && MAXABS="1e-2,1e-3"
    RUNS="${RUNS:-1}"
    BUDGET=30
    INPUTS=("$DATA/era5_enda10_t_pl500-850_3deg_global_20170101-02_4t.nc"
            "$DATA/gfs_t_pl26_2p5deg_global_2011101100_f072.nc"
            "$DATA/native/eraint_uvz.nc:z")
else
    DEST="$ROOT/docs/benchmarks"
    TARGETS="1e-2,1e-3,1e-4,1e-5"
    [ "$MAXABS" = "-" ] && MAXABS="1e-2,1e-3,1e-4"
    RUNS="${RUNS:-3}"
    BUDGET=90   # seconds per hiha variant and field; the rest of its targets there are n/a
    INPUTS=()
    for f in "$DATA"/*.nc; do INPUTS+=("$f"); done
    for v in z u v; do INPUTS+=("$DATA/native/eraint_uvz.nc:$v"); done
fi
RESULTS="$DEST/results"
WORK="$ROOT/out/bench-work"          # raw dumps and frames (git-ignored)
mkdir -p "$RESULTS" "$WORK"
PY="$ROOT/.venv/bin/python"
# the code that is benchmarked, recorded by hiha-bench and the report
export HIHA_BENCH_REVISION="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"

echo "== setup" >&2
bash "$ROOT/scripts/setup_bench.sh"

if [ "$RETIME" = 1 ] && [ "$DO_BASE" = 1 ]; then
    echo "== re-timing the baselines' recorded settings ($RUNS runs)" >&2
    "$PY" "$ROOT/scripts/bench/baselines.py" --retime "$RESULTS/baselines.json" --runs "$RUNS" --quiet
    if [ -n "$MAXABS" ] && [ -f "$RESULTS/baselines_maxabs.json" ]; then
        "$PY" "$ROOT/scripts/bench/baselines.py" --retime "$RESULTS/baselines_maxabs.json" --runs "$RUNS" --quiet
    fi
elif [ "$DO_BASE" = 1 ]; then
    echo "== baselines ($TARGETS, $RUNS runs) on ${#INPUTS[@]} inputs" >&2
    rm -rf "$WORK/raw"
    "$PY" "$ROOT/scripts/bench/baselines.py" --targets "$TARGETS" --runs "$RUNS" \
        --dump-raw "$WORK/raw" --out "$RESULTS/baselines.json" "${INPUTS[@]}"
    if [ -n "$MAXABS" ]; then
        # same fields, pointwise bound e = f x range; a separate file so that the NRMSE
        # records (and a --hiha-only rerun) are untouched by it
        echo "== baselines at max-abs ($MAXABS of the range, $RUNS runs)" >&2
        "$PY" "$ROOT/scripts/bench/baselines.py" --targets "" --max-abs "$MAXABS" --runs "$RUNS" \
            --out "$RESULTS/baselines_maxabs.json" "${INPUTS[@]}"
    fi
fi

if [ "$DO_HIHA" = 1 ]; then
    echo "== build hiha-bench (release)" >&2
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    BENCH="$CARGO_TARGET_DIR/release/hiha-bench"
    RAWARG=()
    if cargo build --quiet --release -p hiha-bench --features io; then
        echo "   reading NetCDF with hiha_io::read_variable" >&2
    elif cargo build --quiet --release -p hiha-bench --no-default-features; then
        echo "   hiha-io's reader is not there yet: reading the raw dumps of baselines.py" >&2
        if [ ! -d "$WORK/raw" ]; then
            "$PY" "$ROOT/scripts/bench/baselines.py" --only zlib-shuffle --runs 1 --targets 1e-2 \
                --dump-raw "$WORK/raw" --out "$WORK/dump-only.json" --quiet "${INPUTS[@]}"
        fi
        RAWARG=(--raw-dir "$WORK/raw")
    else
        echo "   hiha-bench does not build: hiha's rows are left out" >&2
        BENCH=""
    fi
    if [ -n "$BENCH" ]; then
        echo "== hiha-bench ($TARGETS, $RUNS runs)" >&2
        rm -rf "$WORK/frames"
        "$BENCH" --targets "$TARGETS" --runs "$RUNS" "${RAWARG[@]}" --budget-s "$BUDGET" --slow-s 20 --variants residual,fic,hiha \
            --dump-frame "$WORK/frames" --dump-target 1e-3 \
            --out "$RESULTS/hiha.json" "${INPUTS[@]}"
        if [ -n "$MAXABS" ]; then
            # hiha-residual only: FIC and FIC + TRC give the same ratios within 0.1% (see notes.md)
            echo "== hiha-bench at max-abs ($MAXABS of the range, $RUNS runs)" >&2
            "$BENCH" --targets "" --max-abs "$MAXABS" --runs "$RUNS" "${RAWARG[@]}" --budget-s "$BUDGET" \
                --slow-s 20 --variants residual --out "$RESULTS/hiha_maxabs.json" "${INPUTS[@]}"
        fi
    fi
fi

echo "== report" >&2
"$PY" "$ROOT/scripts/bench/report.py" --dest "$DEST" --frames "$WORK/frames" \
    --command "$CMDLINE" --revision "$HIHA_BENCH_REVISION" \
    "$RESULTS"/baselines.json $( [ -f "$RESULTS/hiha.json" ] && echo "$RESULTS/hiha.json" ) \
    $( [ -n "$MAXABS" ] && for f in baselines_maxabs hiha_maxabs; do [ -f "$RESULTS/$f.json" ] && echo "$RESULTS/$f.json"; done )
echo "done: $DEST/README.md" >&2
