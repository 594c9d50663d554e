#!/usr/bin/env bash
# switchboard: an embeddable C++ actor runtime. MIT License.
#
# The package as a user gets it: installs BUILD_DIR into a fresh prefix,
# builds examples/embed out of tree with find_package(switchboard) against
# it, runs the service and asks it over HTTP; then packs the .deb and
# checks its dependencies.
#
#   embed.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -x "$work/prefix/bin/switchboard"
"$work/prefix/bin/switchboard" check "$src/conf/default.conf"
test -f "$work/prefix/include/switchboard/node.hpp"

if ! cmake -S "$src/examples/embed" -B "$work/embed" \
     -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
     > "$work/configure.log" 2>&1; then
  cat "$work/configure.log"
  exit 1
fi
if ! cmake --build "$work/embed" -j2 > "$work/build.log" 2>&1; then
  tail -50 "$work/build.log"
  exit 1
fi

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1",
  () => { console.log(s.address().port); s.close(); });')
"$work/embed/embed_service" "$port" > "$work/out" 2>&1 &
pid=$!
# Wait (10 s at most) for the line it prints once it serves.
for _ in $(seq 200); do
  grep -q serving "$work/out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/out"; exit 1; }
  sleep 0.05
done
grep -q serving "$work/out" || { echo "embed_service did not start"; cat "$work/out"; exit 1; }
reply=$(curl -s --max-time 10 -d '{"name":"Ada"}' "127.0.0.1:$port/greet")
if [ "$reply" != '{"greeting":"hello, Ada"}' ]; then
  echo "unexpected reply: $reply"
  exit 1
fi
kill -TERM "$pid"
wait "$pid"
pid=

# The .deb, with what the command and the libraries need.
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -B "$work/deb" > "$work/cpack.log" 2>&1) \
  || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/deb/switchboard_*.deb)
info=$(dpkg-deb -I "$deb")
files=$(dpkg-deb -c "$deb")
grep -q "Depends:.*libcaf-dev" <<< "$info"
grep -q "usr/bin/switchboard" <<< "$files"
grep -q "cmake/switchboard/switchboardConfig.cmake" <<< "$files"
echo "ok: installed, built out of tree, served, packed $(basename "$deb")"
