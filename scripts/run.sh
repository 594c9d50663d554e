#!/usr/bin/env bash
# Installs what is missing, builds, and runs a node: conf/default.conf unless
# a config (and overrides) are given. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec build/bin/switchboard run "${@:-conf/default.conf}"
