#!/usr/bin/env bash
# The test command (README, .ci/run): the Python test dependencies, the Rust
# tests, the extension, then the Python package's tests. Prints each phase's
# time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${HIHA_VENV:-$ROOT/.venv}"
t0=$SECONDS
scripts/setup_python.sh --deps-only
t1=$SECONDS
cargo test --workspace
t2=$SECONDS
# After the Rust tests, so that the extension reuses the crates they compiled.
HIHA_EXPECT_REUSE=1 scripts/setup_python.sh
t3=$SECONDS
"$VENV/bin/python" -m pytest -q python/tests "$@"
t4=$SECONDS
echo "test.sh: python deps $((t1 - t0)) s, cargo test $((t2 - t1)) s," \
    "extension build + install $((t3 - t2)) s, pytest $((t4 - t3)) s" >&2
