#!/usr/bin/env bash
# make bench: the churn driver (lib/load/churn) against ab and wrk, one
# connection per request, all against the same nginx in the same session.
# nginx on core 0, the clients on core 1, the clients alternating within each
# run; the median of RUNS runs is quoted. Client syscalls per connection come
# from the tracepoint raw_syscalls:sys_enter counted on the client process
# (perf stat around it, as serve.sh counts the server's).
#
#   ab -n N -c C                         HTTP/1.0, no keep-alive: nginx closes
#   wrk -t1 -cC -H 'Connection: close'   HTTP/1.1, nginx closes after each response
#   churn_driver --close server          the same exchange: "Connection: close", nginx closes
#   churn_driver --close client          keep-alive request, the client closes first
#
# Usage: tests/bench/churn.sh [BUILD_DIR]   (RUNS=3 N=20000 C=50 WRK_DURATION=5)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
RUNS=${RUNS:-3}
N=${N:-20000}
C=${C:-50}
WRK_DURATION=${WRK_DURATION:-5}
. "$(dirname "$0")/lib.sh"
bench_setup churn
need ab wrk nginx perf taskset python3 jq curl
cmake --build "$BUILD" --target churn_driver >/dev/null
DRIVER="$BUILD/tests/churn_driver"

# --- nginx: one worker on core 0, a 12-byte body, no access log
PORT=$(free_port)
start_nginx "$PORT" backlog=4096
URL="http://127.0.0.1:$PORT/"

# counted NAME CMD...: runs CMD on core 1 under perf; its stdout goes to
# $TMP/out.NAME, its syscall count to $TMP/perf.NAME.
counted() {
  local name=$1; shift
  taskset -c 1 perf stat -x, -e raw_syscalls:sys_enter,task-clock -o "$TMP/perf.$name" -- "$@" \
    >"$TMP/out.$name" 2>"$TMP/err.$name"
}
syscalls() { awk -F, '/raw_syscalls/ {print $1}' "$TMP/perf.$1"; }
cpu_ms() { awk -F, '/task-clock/ {print $1}' "$TMP/perf.$1"; }
# record NAME CONN_PER_S CONNECTIONS FAILED: appends one result row. CPU
# time per connection (user + system, on the client's core) is the cost
# that bounds conn/s when the client's core is the bottleneck.
record() {
  local name=$1 rate=$2 conns=$3 failed=$4 calls cpu_us
  calls=$(syscalls "$name")
  cpu_us=$(per "$(awk -v m="$(cpu_ms "$name")" 'BEGIN {print m * 1000}')" "$conns")
  echo "$rate $(per "$calls" "$conns") $failed $cpu_us" >>"$TMP/results.$name"
  printf '  %-22s %10.0f conn/s  %6s syscalls/conn  %6s us CPU/conn  %s failed\n' "$name" "$rate" \
    "$(per "$calls" "$conns")" "$cpu_us" "$failed"
}

run_ab() {
  counted ab ab -q -n "$N" -c "$C" "$URL"
  record ab "$(awk '/^Requests per second/ {print $4}' "$TMP/out.ab")" \
    "$(awk '/^Complete requests/ {print $3}' "$TMP/out.ab")" \
    "$(awk '/^Failed requests/ {print $3}' "$TMP/out.ab")"
}
run_wrk() {
  counted wrk wrk -t1 -c"$C" -d"${WRK_DURATION}s" -H 'Connection: close' "$URL"
  record wrk "$(awk '/^Requests\/sec/ {print $2}' "$TMP/out.wrk")" \
    "$(awk '/requests in/ {print $1}' "$TMP/out.wrk")" \
    "$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$TMP/out.wrk" | grep . || echo 0)"
}
run_churn() {
  local close=$1 name="churn-$1"
  counted "$name" "$DRIVER" --target "127.0.0.1:$PORT" --count "$N" --concurrency "$C" --close "$close"
  record "$name" "$(jq '.results.conn_per_s' "$TMP/out.$name")" \
    "$(jq '.results.connections.started' "$TMP/out.$name")" \
    "$(jq '.results.connections.failed + .results.connections.abandoned' "$TMP/out.$name")"
  # The driver counts its own syscalls too; perf's count adds only start-up.
  printf '  %-22s %10s         %6s syscalls/conn by its own count\n' "" "" \
    "$(jq '.results.syscalls_per_conn' "$TMP/out.$name")"
}

echo "== one connection per request, $N connections, $C in flight; nginx on core 0, clients on core 1; $RUNS runs"
# Warm-up: nginx's first connections and the page cache do not count.
"$DRIVER" --target "127.0.0.1:$PORT" --count 2000 --concurrency "$C" >/dev/null
for i in $(seq 1 "$RUNS"); do
  echo " run $i"
  # Alternate the order so no client always runs right after another.
  if (( i % 2 )); then
    run_ab; run_churn server; run_wrk; run_churn client
  else
    run_churn client; run_wrk; run_churn server; run_ab
  fi
done

col() { awk -v c="$2" '{print $c}' "$TMP/results.$1" | median; }
echo "== median of $RUNS"
printf '  %-22s %12s %16s %14s %8s\n' client conn/s syscalls/conn us_cpu/conn failed
for name in ab wrk churn-server churn-client; do
  printf '  %-22s %12.0f %16s %14s %8s\n' "$name" "$(col "$name" 1)" "$(col "$name" 2)" "$(col "$name" 4)" \
    "$(col "$name" 3)"
done
ab_rate=$(col ab 1)
for name in churn-server churn-client; do
  echo "  $name / ab conn/s: $(per "$(col "$name" 1)" "$ab_rate")  (target >= 1.5)   vs wrk: $(per "$(col "$name" 1)" "$(col wrk 1)")" \
    "  ab's CPU per connection / $name's: $(per "$(col ab 4)" "$(col "$name" 4)")"
done
echo "  churn client syscalls per connection: server-close $(col churn-server 2), client-close $(col churn-client 2)  (target <= 6)"
