#!/usr/bin/env bash
# Coordinated omission, shown with a server that stalls: sockdrill-serve is
# stopped (SIGSTOP) for 600 ms in the middle of each run. The closed loop's
# connections each wait out the stall with one request, so its p99 hides it
# (only its max shows it); the open loop keeps the schedule and measures
# every request from when it was due, so its p99 carries the stall.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"

start_server srv
# run NAME ARGS...: a 3 s run against the server, stalled from 1.0 s to 1.6 s.
run() {
  local name=$1; shift
  sockdrill-storm --target "127.0.0.1:$srv_PORT" -c 20 --duration 3s --json "$@" >"$TMP/$name.json" 2>"$TMP/$name.err" &
  local pid=$!
  _pids+=("$pid")
  sleep 1
  kill -STOP "$srv_PID"
  sleep 0.6
  kill -CONT "$srv_PID"
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "$name run exits 0, got $rc: $(cat "$TMP/$name.err")"
}
run closed
run open --rate 2000/s

closed=$(cat "$TMP/closed.json")
open=$(cat "$TMP/open.json")
assert_jq "$closed" '.results.load.latency.max_us >= 500000' "closed loop: the stall is there, in the max"
assert_jq "$closed" '.results.load.latency.p99_us < 150000' "closed loop: its p99 hides the stall"
assert_jq "$open" '.results.load.latency.p99_us >= 300000' "open loop: its p99 carries the stall (latency from the intended send)"
assert_jq "$open" '.results.load.requests.completed >= 5000 and .results.load.target_rate_per_s == 2000' \
  "open loop: the schedule kept going through the stall"
