#!/usr/bin/env bash
# make bench: sockdrill-storm (the keep-alive engine, lib/load/keepalive) against wrk, all
# against the same nginx (one worker) in the same session. nginx on core 0,
# the clients on core 1, ours and wrk alternating within each run; the median
# of RUNS runs is quoted.
#
#   closed loop   wrk -t1 -cC -dD --latency   vs   sockdrill-storm --threads 1 --connections C
#                 requests/s (target: ours >= 1.0x wrk's, while recording every
#                 latency) and p99 of each
#   open loop     sockdrill-storm --rate RATE/s -c C: the achieved rate against
#                 the target (target: within 1 %), and its p99 counted from when
#                 each request was due
#   idle          IDLE keep-alive connections held open with SOURCES 127.0.0.x
#                 source addresses (so the port space is not the limit) against
#                 an nginx with room for them: our RSS growth per connection
#                 (target: <= 1 KiB; kernel socket memory is not in RSS)
#
# Usage: tests/bench/storm.sh [BUILD_DIR]
#   (RUNS=3 DURATION=10 C=100 RATE=20000 IDLE=50000 SOURCES=4)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
C=${C:-100}
RATE=${RATE:-20000}
IDLE=${IDLE:-50000}
SOURCES=${SOURCES:-4}
. "$(dirname "$0")/lib.sh"
bench_setup storm
need wrk nginx taskset python3 jq curl
cmake --build "$BUILD" --target sockdrill-storm >/dev/null
STORM="$BUILD/sockdrill-storm"

# --- nginx: one worker on core 0, a 12-byte body, no access log
PORT=$(free_port)
start_nginx "$PORT" backlog=4096
TARGET="127.0.0.1:$PORT"
URL="http://$TARGET/"

# wrk's "99%  1.23ms" in microseconds.
wrk_p99_us() {
  awk '$1 == "99%" {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : 0
    printf "%.0f", v * m }' "$1"
}

run_wrk() {
  taskset -c 1 wrk -t1 -c"$C" -d"${DURATION}s" --latency "$URL" >"$TMP/out.wrk"
  local rps p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/out.wrk")
  p99=$(wrk_p99_us "$TMP/out.wrk")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10} /Non-2xx/ {print $NF}' \
    "$TMP/out.wrk" | awk '{s += $1} END {print s + 0}')
  echo "$rps $p99 $errors" >>"$TMP/results.wrk"
  printf '  %-12s %10.0f req/s  p99 %8s us  %s errors\n' wrk "$rps" "$p99" "$errors"
}
run_ours() {
  taskset -c 1 "$STORM" --target "$TARGET" --threads 1 --connections "$C" --duration "${DURATION}s" --json \
    >"$TMP/out.ours"
  local rps p99 errors per
  rps=$(jq '.results.load.requests_per_s' "$TMP/out.ours")
  p99=$(jq '.results.load.latency.p99_us' "$TMP/out.ours")
  errors=$(jq '[.results.load.errors[][]] | add // 0' "$TMP/out.ours")
  per=$(jq '.results.load.syscalls_per_request' "$TMP/out.ours")
  echo "$rps $p99 $errors $(jq '.results.load.latency.count' "$TMP/out.ours")" >>"$TMP/results.ours"
  printf '  %-12s %10.0f req/s  p99 %8s us  %s errors  %s syscalls/request\n' ours "$rps" "$p99" \
    "$errors" "$per"
}
run_open() {
  taskset -c 1 "$STORM" --target "$TARGET" --threads 1 --connections "$C" --duration "${DURATION}s" \
    --rate "${RATE}/s" --json >"$TMP/out.open"
  local rps p99 late abandoned off
  rps=$(jq '.results.load.requests_per_s' "$TMP/out.open")
  p99=$(jq '.results.load.latency.p99_us' "$TMP/out.open")
  late=$(jq '.results.load.requests.late' "$TMP/out.open")
  # Due before the end but never sent (the run ends at the duration even
  # above capacity), or unanswered at the drain timeout.
  abandoned=$(jq '.results.load.requests.abandoned' "$TMP/out.open")
  off=$(awk -v a="$rps" -v t="$RATE" 'BEGIN {d = (a - t) / t * 100; printf "%.2f", d < 0 ? -d : d}')
  echo "$rps $p99 $off" >>"$TMP/results.open"
  printf '  %-12s %10.1f req/s  p99 %8s us  %s%% off %s/s  %s late  %s abandoned\n' open-loop \
    "$rps" "$p99" "$off" "$RATE" "$late" "$abandoned"
}

echo "== keep-alive load, $C connections, 1 thread, ${DURATION}s; nginx on core 0, clients on core 1; $RUNS runs"
# Warm-up: nginx's first connections do not count.
"$STORM" --target "$TARGET" -c "$C" --duration 1s >/dev/null
for i in $(seq 1 "$RUNS"); do
  echo " run $i"
  # Alternate the order so neither client always runs right after the other.
  if (( i % 2 )); then
    run_wrk; run_ours; run_open
  else
    run_open; run_ours; run_wrk
  fi
done

col() { awk -v c="$2" '{print $c}' "$TMP/results.$1" | median; }
echo "== median of $RUNS"
printf '  %-12s %12s %10s\n' client req/s p99_us
printf '  %-12s %12.0f %10s\n' wrk "$(col wrk 1)" "$(col wrk 2)"
printf '  %-12s %12.0f %10s   (latencies recorded: every request, %s in the last run)\n' ours \
  "$(col ours 1)" "$(col ours 2)" "$(tail -1 "$TMP/results.ours" | awk '{print $4}')"
echo "  ours / wrk req/s: $(ratio "$(col ours 1)" "$(col wrk 1)")  (target >= 1.0)"
echo "  open loop at ${RATE}/s: achieved $(col open 1)/s, $(col open 3)% off (target <= 1 %), p99 $(col open 2) us"

# --- idle connections against an nginx with room for them
kill "$NGINX_MASTER" 2>/dev/null || true
wait "$NGINX_MASTER" 2>/dev/null || true
# Root may raise its own descriptor limit (CAP_SYS_RESOURCE, up to fs.nr_open):
# 50,000 connections need 50,000 descriptors in the client and as many in nginx.
if [ "$(id -u)" = 0 ]; then ulimit -Hn $((2 * IDLE + 10000)) 2>/dev/null && ulimit -n $((2 * IDLE + 10000)) || true; fi
LIMIT=$(ulimit -n)
if (( IDLE > LIMIT - 500 )); then
  echo "== idle: $IDLE connections need that many descriptors in the client and in nginx;" \
    "the limit here is $LIMIT (hard $(ulimit -Hn)): measuring $((LIMIT - 500))"
  IDLE=$((LIMIT - 500))
fi
IDLE_PORT=$(free_port)
# Twice the connections: nginx closes idle keep-alive connections to make
# room once fewer than 1/16 of its worker_connections are free
# (ngx_drain_connections), which would measure nginx, not the client.
cat >"$TMP/nginx-idle.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $LIMIT;
daemon off;
pid $TMP/nginx-idle.pid;
error_log $TMP/nginx-idle.err;
events { worker_connections $((2 * IDLE + 100)); }
http {
  access_log off;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$IDLE_PORT backlog=4096;
    location / { default_type text/plain; return 200 "Hello world!"; }
  }
}
CONF
taskset -c 0 nginx -c "$TMP/nginx-idle.conf" -e "$TMP/nginx-idle.err" &
pids+=("$!")
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$IDLE_PORT/" >/dev/null && break; sleep 0.1; done
echo "== idle: $IDLE keep-alive connections from $SOURCES source addresses (127.0.0.1..), opened over 2s, held 3s more"
taskset -c 1 "$STORM" --target "127.0.0.1:$IDLE_PORT" --threads 1 --connections "$IDLE" --idle --ramp 2s \
  --duration 5s --sources "$SOURCES" --json >"$TMP/out.idle"
jq -r '.results | "  opened \(.load.connections.opened), peak open \(.load.connections.peak_open), closed by the server \(.load.connections.closed_by_server + .load.connections.reset_by_server), errors \([.load.errors[][]] | add // 0)\n  RSS before \(.idle.rss_before_bytes / 1048576 | . * 10 | round / 10) MiB, held \(.idle.rss_held_bytes / 1048576 | . * 10 | round / 10) MiB: \(.idle.bytes_per_connection | round) bytes per idle connection (target <= 1024)"' \
  "$TMP/out.idle"
