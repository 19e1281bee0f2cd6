#!/usr/bin/env bash
# Creates or updates the benchmark virtualenv at <repo>/.venv with pinned packages.
# Idempotent and quiet: re-running only installs what is missing or at another version.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HIHA_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi

# Pinned where the exact version matters (see shared DEPENDENCIES notes):
# zfpy 1.0.1.post0 breaks numcodecs 0.16; hdf5plugin 7.1.0 has the SPERR filter.
PKGS=(
    "numpy>=1.26,<3"
    "netCDF4>=1.6"
    "xarray>=2024.1"
    "pysz==1.1.0"
    "hdf5plugin==7.1.0"
    "h5py>=3.10"
    "zfpy==1.0.1"
    "numcodecs==0.16.3"
    "matplotlib>=3.8"
)

# Skip pip entirely when everything is already satisfied (fast re-runs).
if "$VENV/bin/python" - "${PKGS[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    r = Requirement(spec)
    try:
        v = version(r.name)
    except PackageNotFoundError:
        sys.exit(1)
    if not r.specifier.contains(v, prereleases=True):
        sys.exit(1)
PYEOF
then
    exit 0
fi

"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PKGS[@]}"
