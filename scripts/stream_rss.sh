#!/usr/bin/env bash
# Peak memory of streamed compression and decompression on a large input
# (issue 10, item 6; results in docs/memory.md).
#
# Builds a NetCDF-3 file of at least STREAM_BYTES (default 2^31 = 2.15 GB)
# of float32 from real ERA5 fields: the hourly 0.25-degree u and v winds of
# the shared data (24 h x 20 levels x 41 x 41 each), tiled along time in
# 24-frame blocks that alternate u, v, u time-reversed, v time-reversed (so
# neighbouring chunks do not repeat each other exactly; nothing synthetic
# but the repetition). Then runs the release `hiha compress` and
# `hiha decompress --format nc3` under GNU time and reports each one's peak
# resident set size, wall time and MB/s (float32 bytes per second), with
# the load average. The big files live in a temporary directory (TMPDIR,
# default /tmp), deleted at the end.
#
# Environment: HIHA_DATA (default <repo>/../shared/data), HIHA_PYTHON
# (default <repo>/.venv/bin/python, which scripts/setup_python.sh makes; it
# needs numpy and netCDF4), STREAM_BYTES, STREAM_BOUND (default
# "--nrmse 1e-4"), CARGO_TARGET_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${HIHA_DATA:-$ROOT/../shared/data}"
PY="${HIHA_PYTHON:-$ROOT/.venv/bin/python}"
BYTES="${STREAM_BYTES:-2147483648}"
read -r -a BOUND <<< "${STREAM_BOUND:---nrmse 1e-4}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
U="$DATA/era5_u_pl100-1000_0p25deg_westeurope_20200101_24h.nc"
V="$DATA/era5_v_pl100-1000_0p25deg_westeurope_20200101_24h.nc"
for f in "$U" "$V"; do
    [ -f "$f" ] || { echo "missing input $f (set HIHA_DATA)" >&2; exit 1; }
done
[ -x "$PY" ] || { echo "no Python at $PY: run scripts/setup_python.sh --deps-only or set HIHA_PYTHON" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/hiha-stream-rss.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
need=$(( BYTES * 5 / 2 / 1024 ))
free=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if [ "$free" -lt "$need" ]; then
    echo "need about $((need / 1024 / 1024)) GiB free in $WORK, have $((free / 1024 / 1024)) GiB" >&2
    exit 1
fi

(cd "$ROOT" && cargo build --release -q -p hiha-cli)
HIHA="$TARGET/release/hiha"

echo "building the input ($BYTES bytes of float32 at least) ..."
"$PY" - "$U" "$V" "$WORK/big.nc" "$BYTES" <<'EOF'
import sys
import netCDF4
import numpy as np

u_path, v_path, out, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u = netCDF4.Dataset(u_path)
v = netCDF4.Dataset(v_path)
blocks = [
    np.asarray(u["u"][:], dtype=np.float32),
    np.asarray(v["v"][:], dtype=np.float32),
]
blocks += [b[::-1] for b in blocks]
nt = blocks[0].shape[0]
frame = blocks[0][0].size
frames = -(-want // (4 * frame))
frames = -(-frames // nt) * nt
d = netCDF4.Dataset(out, "w", format="NETCDF3_64BIT_OFFSET")
for name in ["time", "level", "latitude", "longitude"]:
    d.createDimension(name, frames if name == "time" else len(u.dimensions[name]))
for name in ["level", "latitude", "longitude"]:
    src = u[name]
    c = d.createVariable(name, src.dtype, (name,))
    c.setncatts({a: src.getncattr(a) for a in src.ncattrs()})
    c[:] = src[:]
t = d.createVariable("time", "f8", ("time",))
t.units = u["time"].units
t.calendar = "gregorian"
t[:] = np.asarray(u["time"][0]) + np.arange(frames, dtype="f8")
w = d.createVariable("wind", "f4", ("time", "level", "latitude", "longitude"))
w.units = "m s**-1"
w.long_name = "ERA5 u and v wind, tiled along time (hiha streaming benchmark)"
d.title = "ERA5 u/v 0.25 deg, 20 levels, tiled to a large file"
for k in range(frames // nt):
    w[k * nt:(k + 1) * nt] = blocks[k % len(blocks)]
d.close()
print(f"{frames} frames x {blocks[0].shape[1:]} = {frames * frame * 4} bytes of float32")
EOF
ls -l "$WORK/big.nc"
RAW=$(stat -c %s "$WORK/big.nc")

# Runs a command under GNU time; prints peak RSS (GNU time's "Maximum
# resident set size", in MiB), wall time and MB/s of float32 (10^6 bytes/s).
measure() {
    local label="$1"
    shift
    /usr/bin/time -v "$@" > "$WORK/$label.out" 2> "$WORK/$label.time"
    local rss_kb wall
    rss_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/$label.time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$WORK/$label.time")
    local secs
    secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    printf '%-11s peak RSS %7.1f MiB   wall %8.1f s   %6.1f MB/s   load average %s\n' \
        "$label" "$(echo "$rss_kb / 1024" | bc -l)" "$secs" \
        "$(echo "$RAW / 1000000 / $secs" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "load average before: $(cat /proc/loadavg)"
measure compress "$HIHA" compress "$WORK/big.nc" -o "$WORK/big.hiha" "${BOUND[@]}"
grep -E "NRMSE|max abs|ratio|time" "$WORK/compress.out" | sed 's/^/    /'
rm -f "$WORK/big.nc"
measure decompress "$HIHA" decompress "$WORK/big.hiha" -o "$WORK/back.nc" --format nc3
sed 's/^/    /' "$WORK/decompress.out"
echo "archive $(stat -c %s "$WORK/big.hiha") bytes, input $RAW bytes (file), output $(stat -c %s "$WORK/back.nc") bytes"
