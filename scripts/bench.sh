#!/usr/bin/env bash
# Installs what is missing, builds, and runs every benchmark next to its
# peers (bench/README.md). SWITCHBOARD_BENCH_SCALE=0.1 for a quick run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bench
bash scripts/build.sh
node bench/run.js "${BUILD_DIR:-build}"
