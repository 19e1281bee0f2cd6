#!/usr/bin/env bash
# Installs what the tests' Python cross-checks need (numpy, netCDF4, xarray)
# into <repo>/.venv. Part of the README's test command: if it cannot
# install them it fails, because tests must not skip a missing dependency.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HIHA_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if "$VENV/bin/python" -c "import numpy, netCDF4, xarray" 2>/dev/null; then
    exit 0
fi
echo "setup_python: installing numpy, netCDF4, xarray into $VENV" >&2
"$VENV/bin/pip" install -q --disable-pip-version-check "numpy>=1.26,<3" "netCDF4>=1.6" "xarray>=2024.1"
"$VENV/bin/python" -c "import numpy, netCDF4, xarray"
