#!/usr/bin/env bash
# Checks the bound on every shared real file, variable and mode (--nrmse 1e-2..1e-5,
# --max-abs at 1e-2 and 1e-4 of the range, --max-rel 1e-3). HIHA_DATA overrides the data dir.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --release -p hiha-cli --test verify_all -- --ignored --nocapture
