#!/usr/bin/env bash
# The test command (README, .ci/run): the Python environment and extension,
# the Rust tests, then the Python package's tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${HIHA_VENV:-$ROOT/.venv}"
scripts/setup_python.sh
cargo test --workspace
"$VENV/bin/python" -m pytest -q python/tests "$@"
