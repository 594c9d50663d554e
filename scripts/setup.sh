#!/usr/bin/env bash
# Installs every Debian package switchboard needs to build, test and
# benchmark. Idempotent and non-interactive; runs apt only when something is
# missing. Needs root or sudo for that. With --tests it also installs what
# only the tests need: chromium, for the dashboard's browser test, the Node
# clients (npm) and promtool; with --bench the Node clients the benchmarks'
# peers use. Without either, only what building and running a node needs.
set -euo pipefail

for_tests=0
for_bench=0
for a in "$@"; do
  case "$a" in
    --tests) for_tests=1 ;;
    --bench) for_bench=1 ;;
    *) echo "setup: unknown option $a (expected --tests or --bench)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config ccache   # toolchain
  libcaf-dev                                # actors (CAF 0.17)
  libuv1-dev                                # the io loop
  nlohmann-json3-dev                        # JSON at the edges
  libsimdjson-dev                           # fast JSON validation
  libjemalloc-dev                           # the programs' allocator
  catch2                                    # tests
  netcat-openbsd socat                      # plain socket peers (README, tests)
  clang-14 libclang-rt-14-dev               # libFuzzer: the decoders' fuzz targets
  libcpp-httplib-dev libssl-dev             # the http-client kind (HTTPS)
  libwebsockets-dev libwebsockets-evlib-uv  # HTTP and WebSocket servers (lws on the io loop)
  node-ws                                   # the WebSocket client tests and benches use
  libhiredis-dev redis-server redis-tools   # the redis bridges; a real Redis for tests and bench
  openssl curl wrk                          # test certificates, an HTTP client, HTTP load
  node-d3-force libjs-chart.js              # the dashboard's graph and charts (copied at build time)
)
if [ "$for_tests" -eq 1 ]; then
  packages+=(chromium)                      # the dashboard's browser test (playwright-core drives it)
fi
# Node.js runs the benchmarks' peers and the tests' Node clients; npm
# fetches the test-only clients Debian does not package (package.json).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done

# The Node clients of package.json (ioredis, playwright-core), into
# ./node_modules. playwright-core brings no browser: the test drives
# Debian's chromium.
node_clients() {
  [ "$for_tests" -eq 1 ] || [ "$for_bench" -eq 1 ] || return 0
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ ! -d "$root/node_modules/ioredis" ] || [ ! -d "$root/node_modules/playwright-core" ]; then
    echo "setup: npm ci (test clients: ioredis, playwright-core)"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# promtool checks the Prometheus text in a test. It comes from Debian's
# prometheus package, unpacked into the build directory: installing the
# package would also install (and on a systemd machine start) a server.
promtool_tool() {
  [ "$for_tests" -eq 1 ] || return 0
  local root dir deb
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  dir="$root/${BUILD_DIR:-build}/tools"
  command -v promtool >/dev/null 2>&1 && return 0
  [ -x "$dir/promtool" ] && return 0
  echo "setup: unpacking promtool from Debian's prometheus package"
  mkdir -p "$dir/deb"
  if ! (cd "$dir/deb" && apt-get download prometheus >/dev/null 2>&1); then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    (cd "$dir/deb" && apt-get download prometheus >/dev/null 2>&1)
  fi
  deb="$(ls "$dir"/deb/prometheus_*.deb | head -n 1)"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir/deb" ./usr/bin/promtool
  mv "$dir/deb/usr/bin/promtool" "$dir/promtool"
  rm -rf "$dir/deb"
}

sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  node_clients
  promtool_tool
  exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ ${#sudo[@]} -eq 0 ]; then
  echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
node_clients
promtool_tool
