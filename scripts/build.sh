#!/usr/bin/env bash
# Configures and builds switchboard into build/ (or $BUILD_DIR): everything,
# or only $BUILD_TARGET (e.g. switchboard_cli). Extra arguments go to CMake,
# e.g. -DSWITCHBOARD_SANITIZERS=thread.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
# ccache hits with precompiled headers only with this sloppiness.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build_dir" -j"${JOBS:-2}" ${BUILD_TARGET:+--target "$BUILD_TARGET"}
