#!/usr/bin/env bash
# make bench: what sockdrill-syscost's counting costs the server it counts,
# and whether its counts agree with perf's, against one nginx worker on
# core 0 with the load on core 1 (taskset), in the same session. RUNS
# rounds, each alternating:
#
#   plain     sockdrill-storm --target, C connections, N requests: the
#             server's requests/s with nothing attached
#   syscost   sockdrill-syscost --target --target-pid, the same load while
#             it counts (only the syscalls its sampled warm-up saw, plus
#             raw_syscalls:sys_enter for the rest)
#   perf      perf stat -e 'syscalls:sys_enter_*' -p PID around the same
#             plain load: the ~360 tracepoints perf opens
#
# and the medians of each: overhead = 1 - counted rps / plain rps (the issue
# quotes about 12 % for tracepoint counting). Then one run of syscost with
# perf stat attached to the same server for the whole of it: the syscalls
# per request by name from each (perf's window also holds syscost's
# 200-request warm-up, so its counts are divided by N + 200).
#
# Usage: tests/bench/syscost.sh [BUILD_DIR]   (RUNS=3 C=16 N=200000)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
RUNS=${RUNS:-3}
C=${C:-16}
N=${N:-200000}
. "$(dirname "$0")/lib.sh"
bench_setup syscost
need nginx perf taskset python3 jq curl
[ "$(id -u)" = 0 ] || { echo "syscost.sh: counting needs root (CAP_PERFMON)" >&2; exit 3; }
cmake --build "$BUILD" --target sockdrill-storm sockdrill-syscost >/dev/null
STORM="$BUILD/sockdrill-storm"
SYSCOST="$BUILD/sockdrill-syscost"

PORT=$(free_port)
start_nginx "$PORT" backlog=4096
TARGET="127.0.0.1:$PORT"

plain() {
  taskset -c 1 "$STORM" --target "$TARGET" --threads 1 --connections "$C" --count "$N" --duration 60s --json |
    jq '.results.load.requests_per_s'
}
counted() {
  taskset -c 1 "$SYSCOST" --target "$TARGET" --target-pid "$NGINX_PID" --connections "$C" --requests "$N" \
    --load-time 0 --json >"$TMP/syscost.json"
  jq '.results.target.counted_requests_per_s' "$TMP/syscost.json"
}
# perf stat needs a moment to open its events; it prints nothing until the end.
with_perf() {
  perf stat -x, -o "$TMP/perf.csv" -e 'syscalls:sys_enter_*' -p "$NGINX_PID" &
  local perf=$!
  sleep 3
  "$@"
  kill -INT "$perf"
  wait "$perf" || true
}

echo "server: nginx, 1 worker (pid $NGINX_PID) on core 0; load on core 1: $C connections, $N requests"
: >"$TMP/plain"; : >"$TMP/counted"; : >"$TMP/perf"
for run in $(seq 1 "$RUNS"); do
  p=$(plain); c=$(counted); f=$(with_perf plain)
  echo "run $run: plain $p req/s, syscost counting $c req/s, perf stat attached $f req/s"
  echo "$p" >>"$TMP/plain"; echo "$c" >>"$TMP/counted"; echo "$f" >>"$TMP/perf"
done
mp=$(median <"$TMP/plain"); mc=$(median <"$TMP/counted"); mf=$(median <"$TMP/perf")
echo "median: plain $mp req/s; syscost counting $mc req/s (overhead $(awk -v a="$mc" -v b="$mp" \
  'BEGIN {printf "%.1f", 100 * (1 - a / b)}') %); perf stat $mf req/s (overhead $(awk -v a="$mf" -v b="$mp" \
  'BEGIN {printf "%.1f", 100 * (1 - a / b)}') %)"

# The same run, counted by both: syscost's per-request counts against perf's.
with_perf counted >/dev/null
warmup=$(jq '.config.warmup_requests' "$TMP/syscost.json")
echo "syscalls per request, syscost against perf stat on the same run (perf / (N + $warmup warm-up));"
echo "per-connection calls (accept4, close, ...) read about 0.5: the warm-up opened connections of its own:"
printf '  %-14s %10s %10s %8s\n' syscall syscost perf ratio
jq -r '.results.target.syscalls | to_entries[] | "\(.key) \(.value)"' "$TMP/syscost.json" |
  while read -r name count; do
    theirs=$(awk -F, -v ev="syscalls:sys_enter_$name" '$3 == ev {print $1}' "$TMP/perf.csv")
    [ -n "$theirs" ] || theirs=0
    awk -v n="$name" -v a="$count" -v b="$theirs" -v req="$N" -v w="$warmup" 'BEGIN {
      ours = a / req; perf = b / (req + w)
      printf "  %-14s %10.3f %10.3f %8.3f\n", n, ours, perf, (perf > 0) ? ours / perf : 0 }'
  done
total_perf=$(awk -F, '$3 ~ /^syscalls:sys_enter_/ && $1 ~ /^[0-9]+$/ {s += $1} END {print s + 0}' "$TMP/perf.csv")
total_ours=$(jq '.results.target.total' "$TMP/syscost.json")
awk -v a="$total_ours" -v b="$total_perf" -v req="$N" -v w="$warmup" 'BEGIN {
  printf "  %-14s %10.3f %10.3f %8.3f\n", "total", a / req, b / (req + w), (a / req) / (b / (req + w)) }'
