#!/usr/bin/env bash
# make bench: sockdrill-serve against nginx in the same session, as the
# issue asks. Server on core 0, wrk on core 1; ours and nginx alternate;
# the median of RUNS runs is quoted. Also: syscalls per request (perf
# tracepoint raw_syscalls:sys_enter on the server's pid) and server RSS per
# idle keep-alive connection with 10,000 of them open.
# Usage: tests/bench/serve.sh [BUILD_DIR]   (RUNS=3 DURATION=10 IDLE=10000)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
IDLE=${IDLE:-10000}
. "$HERE/lib.sh"
bench_setup serve
need wrk nginx perf taskset python3 curl

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# --- the two servers, same body size (12 bytes), one worker, no access log
OUR_PORT=$(free_port)
taskset -c 0 "$BUILD/sockdrill-serve" --listen "127.0.0.1:$OUR_PORT" --workers 1 \
  --keepalive-timeout 120s >"$TMP/ours.out" 2>&1 &
OUR_PID=$!; pids+=("$OUR_PID")

NGINX_PORT=$(free_port)
start_nginx "$NGINX_PORT"
body_ours=$(curl -s "http://127.0.0.1:$OUR_PORT/" | wc -c)
body_nginx=$(curl -s "http://127.0.0.1:$NGINX_PORT/" | wc -c)
echo "bodies: sockdrill-serve $body_ours bytes, nginx $body_nginx bytes"

# run NAME PORT PID: one wrk run under perf; appends "rps p50_ms p99_ms syscalls_per_req".
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f\n", v}'; }
run() {
  local name=$1 port=$2 pid=$3
  perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$TMP/perf.$name" &
  local perf_pid=$!
  sleep 0.2
  taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" --latency "http://127.0.0.1:$port/" >"$TMP/wrk.$name"
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  local requests rps p50 p99 calls
  requests=$(awk '/requests in/ {print $1}' "$TMP/wrk.$name")
  rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk.$name")
  p50=$(awk '$1=="50%" {print $2}' "$TMP/wrk.$name" | to_ms)
  p99=$(awk '$1=="99%" {print $2}' "$TMP/wrk.$name" | to_ms)
  calls=$(awk -F, '/raw_syscalls/ {print $1}' "$TMP/perf.$name")
  echo "$rps $p50 $p99 $(awk -v c="$calls" -v r="$requests" 'BEGIN {printf "%.3f", c/r}')" >>"$TMP/results.$name"
  printf '  %-16s rps %10s  p50 %7s ms  p99 %7s ms  syscalls/request %s\n' "$name" "$rps" "$p50" "$p99" \
    "$(awk -v c="$calls" -v r="$requests" 'BEGIN {printf "%.3f", c/r}')"
}

echo "== wrk -t1 -c100 -d${DURATION}s keep-alive, server on core 0, wrk on core 1, $RUNS runs alternating"
for i in $(seq 1 "$RUNS"); do
  echo " run $i"
  run sockdrill "$OUR_PORT" "$OUR_PID"
  run nginx "$NGINX_PORT" "$NGINX_PID"
done

col() { awk -v c="$2" '{print $c}' "$TMP/results.$1" | median; }
ours_rps=$(col sockdrill 1); nginx_rps=$(col nginx 1)
ours_p50=$(col sockdrill 2); nginx_p50=$(col nginx 2)
ours_p99=$(col sockdrill 3); nginx_p99=$(col nginx 3)
ours_sys=$(col sockdrill 4); nginx_sys=$(col nginx 4)
echo "== median of $RUNS"
printf '  %-16s %12s %10s %10s %18s\n' server rps p50_ms p99_ms syscalls/request
printf '  %-16s %12s %10s %10s %18s\n' sockdrill-serve "$ours_rps" "$ours_p50" "$ours_p99" "$ours_sys"
printf '  %-16s %12s %10s %10s %18s\n' nginx "$nginx_rps" "$nginx_p50" "$nginx_p99" "$nginx_sys"
echo "  rps ratio (sockdrill/nginx): $(ratio "$ours_rps" "$nginx_rps")  (target >= 1.2)"
echo "  p99 ratio (sockdrill/nginx): $(ratio "$ours_p99" "$nginx_p99")  (target <= 1.0)"
echo "  syscalls per request: $ours_sys  (target <= 2.1)"

# --- memory per idle keep-alive connection
idle_rss() {
  local name=$1 port=$2 pid=$3
  local before after
  before=$(rss_kb "$pid")
  taskset -c 1 python3 "$HERE/idle_conns.py" 127.0.0.1 "$port" "$IDLE" 30 >"$TMP/idle.$name" &
  local client=$!
  for _ in $(seq 1 600); do grep -q '^open' "$TMP/idle.$name" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  after=$(rss_kb "$pid")
  kill "$client" 2>/dev/null || true; wait "$client" 2>/dev/null || true
  printf '  %-16s RSS %6d KiB -> %6d KiB with %d idle connections: %.0f bytes per connection\n' \
    "$name" "$before" "$after" "$IDLE" "$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {print (a-b)*1024/n}')"
}
echo "== server RSS per idle keep-alive connection ($IDLE connections; target <= 1024 bytes)"
# A fresh server, so the load runs above do not count.
kill "$OUR_PID"; wait "$OUR_PID" 2>/dev/null || true
OUR_PORT=$(free_port)
taskset -c 0 "$BUILD/sockdrill-serve" --listen "127.0.0.1:$OUR_PORT" --keepalive-timeout 120s >"$TMP/ours2.out" 2>&1 &
OUR_PID=$!; pids+=("$OUR_PID")
sleep 0.3
idle_rss sockdrill "$OUR_PORT" "$OUR_PID"
idle_rss nginx "$NGINX_PORT" "$NGINX_PID"
