#!/usr/bin/env bash
# Installs what the tests' Python cross-check needs (netCDF4 + xarray) into
# <repo>/.venv. Never fatal: without Python packages those checks print
# "skipped" and the Rust tests still run.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HIHA_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || { echo "setup_python: no venv support; Python checks will be skipped"; exit 0; }
fi
if "$VENV/bin/python" -c "import numpy, netCDF4, xarray" 2>/dev/null; then
    exit 0
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "numpy>=1.26,<3" "netCDF4>=1.6" "xarray>=2024.1" \
    || echo "setup_python: pip install failed; Python checks will be skipped"
exit 0
