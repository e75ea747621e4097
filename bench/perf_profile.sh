#!/usr/bin/env bash
# Where a server's CPU goes, by perf sampling: for each server (default: wsfast picows) and
# each load (pipelined 64 KiB with 8 in flight, ping-pong 64 B), the server is pinned to CPU
# 0 and the load generator to CPU 1 (as in bench.run), perf samples the server for 3 s, and
# the share of samples per shared object (kernel, libpython, the library's extensions) and
# the top symbols are printed, with the rate and the server's CPU per message measured in
# the same window. Needs perf (Debian: linux-perf) and root or perf_event_paranoid <= 1.
#   bench/perf_profile.sh [server ...] > out.txt
set -euo pipefail
cd "$(dirname "$0")/.."
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(wsfast picows)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for srv in "${servers[@]}"; do
  for load in "pipelined --size 65536 --inflight 8" "pingpong --size 64"; do
    port=$(.venv/bin/python -c "from bench.run import free_port; print(free_port())")
    taskset -c 0 .venv/bin/python -m "bench.servers.${srv}_server" --port "$port" > "$tmp/srv.out" 2>&1 &
    spid=$!
    for _ in $(seq 100); do grep -q READY "$tmp/srv.out" && break; sleep 0.1; done
    ( sleep 1; perf record -q -F 2999 -g -p "$spid" -o "$tmp/perf.data" -- sleep 3 >/dev/null 2>&1 ) &
    rec=$!
    # shellcheck disable=SC2086  # $load is several arguments
    .venv/bin/python -m bench.loadgen --port "$port" --mode $load --duration 5 --warmup 0.3 \
      --server-pid "$spid" --cpu 1 > "$tmp/lg.json"
    wait "$rec" || true
    kill "$spid"; wait "$spid" 2>/dev/null || true
    echo "=== $srv, $load: $(.venv/bin/python -c "import json; d = json.load(open('$tmp/lg.json')); print(f\"{d['value']:.0f} {d['unit']}, server {d['server_cpu'] / d['count'] * 1e6:.1f} us of CPU per message\")")"
    echo "--- samples per shared object"
    perf report -i "$tmp/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E "^ +[0-9.]+%" | head -8 || true
    echo "--- top symbols"
    perf report -i "$tmp/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -E "^ +[0-9.]+%" | head -10 || true
  done
done
