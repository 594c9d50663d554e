#!/bin/sh
# The Redis the redis tests share (a CTest fixture): `start DIR` runs
# redis-server on a Unix socket in DIR (no TCP port, so nothing to race
# for) and returns once it answers PING; `stop DIR` ends it by its pid.
set -eu
dir=$2
case "$1" in
  start)
    rm -rf "$dir" && mkdir -p "$dir"
    redis-server --port 0 --unixsocket "$dir/redis.sock" --dir "$dir" \
      --save '' --appendonly no --daemonize no >"$dir/redis.log" 2>&1 &
    echo $! >"$dir/redis.pid"
    # Up to 10 s for the socket to answer.
    i=0
    while [ $i -lt 200 ]; do
      if redis-cli -s "$dir/redis.sock" ping 2>/dev/null | grep -q PONG; then
        exit 0
      fi
      i=$((i + 1))
      sleep 0.05
    done
    echo "redis-server did not start:" >&2
    cat "$dir/redis.log" >&2
    exit 1
    ;;
  stop)
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
      i=$((i + 1))
      sleep 0.05
    done
    rm -rf "$dir"
    ;;
esac
