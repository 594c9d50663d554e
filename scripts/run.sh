#!/usr/bin/env bash
# Installs what is missing, builds the switchboard command (only what a node
# needs: the tests and benchmarks are built by scripts/test.sh and
# scripts/bench.sh), and runs a node: conf/default.conf unless a config (and
# overrides) are given. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "run: checking the packages switchboard needs"
bash scripts/setup.sh
echo "run: building the switchboard command into ${BUILD_DIR:-build}/ (a first build takes a few minutes)"
BUILD_TARGET=switchboard_cli bash scripts/build.sh
echo "run: starting a node: ${BUILD_DIR:-build}/bin/switchboard run ${*:-conf/default.conf}"
exec "${BUILD_DIR:-build}/bin/switchboard" run "${@:-conf/default.conf}"
