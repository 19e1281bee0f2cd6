#!/usr/bin/env bash
# Checks the bound on every shared real file, variable and mode (--nrmse 1e-2..1e-5,
# --max-abs at 1e-2 and 1e-4 of the range, --max-rel 1e-3, per-level, pw-rel, keep-zeros,
# spread:F on ensembles), and that every level stays in its input [min, max], on every
# element (docs/verify_all.md). HIHA_DATA overrides the data dir.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --release -p hiha-cli --test verify_all -- --ignored --nocapture
