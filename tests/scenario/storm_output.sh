#!/usr/bin/env bash
# sockdrill-storm's output: JSON Lines with --json --interval (records, then
# the final result, whose counts the records add up to), the table, the
# idle-connections figure, merge of runs from several hosts, SIGINT (exit
# 130, the partial result, the sandbox released) and kill -9 (released too).
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
start_server srv

timeout 30 sockdrill-storm --target "127.0.0.1:$srv_PORT" -c 8 --duration 2500ms --interval 500ms --json >"$TMP/lines"
records=$(grep -c '"interval":true' "$TMP/lines")
[ "$records" -ge 3 ] || fail "--interval 500ms over 2.5 s: at least 3 records, got $records"
final=$(tail -n 1 "$TMP/lines")
assert_jq "$final" '.schema == "sockdrill.storm/1" and (has("interval") | not) and .results.load.requests.completed > 0' \
  "the last line is the final result"
# The records cover the run up to the last one; the final count adds the tail after it.
sum=$(jq -s '[.[] | select(.interval == true) | .results.interval.requests] | add' "$TMP/lines")
assert_jq "$final" "$sum > 0 and .results.load.requests.completed >= $sum" \
  "the records' requests add up to no more than the final count"

out=$(timeout 30 sockdrill-storm --target "127.0.0.1:$srv_PORT" -c 8 --duration 1s)
grep -q '^storm steady: 8 connections, 1 thread, closed loop' <<<"$out" || fail "the summary table: $out"
grep -q '^request latency' <<<"$out" || fail "the latency chart: $out"
pass "the table and the chart"

# Idle connections from several loopback sources: held, and the memory figure reported.
out=$(timeout 30 sockdrill-storm --target "127.0.0.1:$srv_PORT" --idle -c 2000 --sources 4 --ramp 1200ms --duration 2s --json)
assert_jq "$out" '.results.load.connections.peak_open == 2000 and .results.idle.connections == 2000
  and .results.idle.bytes_per_connection > 0 and .results.idle.includes_server == false
  and .results.load.requests.sent == 0 and .config.sources == 4' "--idle holds 2000 connections from 4 sources"

# merge: two runs as if from two hosts.
timeout 30 sockdrill-storm --target "127.0.0.1:$srv_PORT" -c 4 --duration 1s --json >"$TMP/a.json"
timeout 30 sockdrill-storm --target "127.0.0.1:$srv_PORT" -c 4 --duration 1s --json --interval 500ms >"$TMP/b.json"
merged=$(sockdrill-storm merge "$TMP/a.json" "$TMP/b.json" --json)
a=$(jq .results.load.requests.completed "$TMP/a.json")
b=$(tail -n 1 "$TMP/b.json" | jq .results.load.requests.completed)
assert_jq "$merged" ".schema == \"sockdrill.storm/1\" and .results.files == 2
  and .results.load.requests.completed == $a + $b and .results.load.latency.count == $a + $b
  and (.results.hosts | length) == 2" "merge: counts and histograms of both runs"
sockdrill-storm merge "$TMP/a.json" "$TMP/b.json" | grep -q "storm merge: 2 runs" || fail "merge prints its table"
pass "merge prints its table"

# SIGINT: exit 130 with the partial result; in the sandbox, the namespaces go with it.
sigint_after_1s() {
  sockdrill-storm -c 8 --duration 30s --json "$@" >"$TMP/out" 2>"$TMP/err" &
  local pid=$!
  _pids+=("$pid")
  sleep 1
  HELD=$(netns_held_by "$pid")
  kill -INT "$pid"
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc: $(cat "$TMP/err")"
  assert_jq "$(cat "$TMP/out")" '.results.interrupted == true and .results.load.requests.completed > 0
    and .results.load.elapsed_s < 10' "SIGINT prints the partial result"
}
sigint_after_1s --target "127.0.0.1:$srv_PORT"
if [ "$(id -u)" = 0 ]; then
  sigint_after_1s
  [ -n "$HELD" ] || fail "the sandboxed run held its namespaces by descriptor"
  netns_all_released "$HELD" SIGINT
  pass "sandbox: SIGINT releases the namespaces"
  # kill -9 in the middle of idle-race's first row: nothing to clean up by hand.
  sockdrill-storm --scenario idle-race --duration 30s --json >/dev/null 2>&1 &
  pid=$!
  _pids+=("$pid")
  sleep 1
  HELD=$(netns_held_by "$pid")
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  [ -n "$HELD" ] || fail "the idle-race run held its namespaces by descriptor"
  netns_all_released "$HELD" "kill -9"
  pass "sandbox: kill -9 releases the namespaces"
elif [ "${CI:-}" = true ]; then
  fail "storm_output needs root for the sandboxed run under CI=true"
fi
