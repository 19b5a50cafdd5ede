#!/usr/bin/env bash
# sockdrill-syscost's input checks: bad values are one line naming the
# flag, exit 2; a pid that does not exist is a usage error; without
# permission to open tracepoints the exit is 3 and the message names the
# sysctl and capability that would allow it. SIGINT prints the partial
# result, exits 130 and leaves no server behind; kill -9 leaves none either.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
EXPECT_CMD=sockdrill-syscost

expect_exit 2 '^sockdrill-syscost: --compare: "fast": unknown "fast"' --compare fast
expect_exit 2 '^sockdrill-syscost: --compare: "io=kqueue": io= takes' --compare io=kqueue
expect_exit 2 '^sockdrill-syscost: --compare: "split-writes=0": ' --compare split-writes=0
expect_exit 2 "^sockdrill-syscost: --compare: \"cork\\+\": nothing after" --compare cork+
expect_exit 2 '^sockdrill-syscost: --target-pid: needs --target' --target-pid 1
expect_exit 2 '^sockdrill-syscost: --target: needs --target-pid' --target 127.0.0.1:80
expect_exit 2 '^sockdrill-syscost: --target-pid 999999999: no such process' --target 127.0.0.1:80 --target-pid 999999999
expect_exit 2 '^sockdrill-syscost: --compare: .*not with --target' --target 127.0.0.1:80 --target-pid 1 --compare cork
for spec in "--requests 0" "--requests many" "--connections 0" "--connections 20000" "--duration 0" \
            "--settle soon" "--target-pid abc" "--target 10.0.0.1:80" "--expect total" "--load-connections 0" \
            "--load-time never"; do
  flag=${spec%% *}
  expect_exit 2 "^sockdrill-syscost: .*${flag}" $spec
done
pass "bad_input_is_one_line_naming_the_flag_and_exit_2"

# Without permission: an unprivileged user may not trace (perf_event_paranoid
# above 1, or another user's process): exit 3, naming what would allow it.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  # A copy nobody can run, wherever the build tree is (under /root it could not).
  chmod 711 "$TMP" && mkdir -m 755 "$TMP/np" && cp "$BIN/sockdrill-syscost" "$TMP/np/"
  rc=0
  (cd / && timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups \
     "$TMP/np/sockdrill-syscost" --target 127.0.0.1:80 --target-pid 1 >"$TMP/np.out" 2>"$TMP/np.err") || rc=$?
  [ "$rc" = 3 ] || fail "unprivileged: exit 3, got $rc ($(cat "$TMP/np.err"))"
  grep -q "perf_event_paranoid" "$TMP/np.err" && grep -q "CAP_PERFMON" "$TMP/np.err" ||
    fail "unprivileged: names the sysctl and the capability: $(cat "$TMP/np.err")"
  [ "$(wc -l <"$TMP/np.err")" = 1 ] || fail "unprivileged: one line: $(cat "$TMP/np.err")"
  pass "unprivileged_exits_3_naming_perf_event_paranoid_and_cap_perfmon"
fi

[ "$(id -u)" = 0 ] || { [ "${CI:-}" = true ] && fail "the rest needs root and CI=true"; exit 0; }

# --expect decides 0 or 1.
rc=0
timeout 60 sockdrill-syscost --compare lean --requests 200 --expect 'lean.total_per_request < 100' >/dev/null || rc=$?
[ "$rc" = 0 ] || fail "--expect that holds exits 0, got $rc"
rc=0
timeout 60 sockdrill-syscost --compare lean --requests 200 --expect 'lean.total_per_request > 100' \
  >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] || fail "--expect that fails exits 1, got $rc"
grep -q "expectation failed: lean.total_per_request > 100" "$TMP/err" || fail "names the failed expectation"
pass "expect_exits_1_when_it_fails_and_0_when_it_holds"

# A target that refuses every connection is the target's failure: exit 4, one line.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sleep 60 &
idle=$!
_pids+=("$idle")
expect_exit 4 "^sockdrill-syscost: error: 127.0.0.1:$PORT: no response" --target "127.0.0.1:$PORT" --target-pid "$idle" \
  --duration 2s

# serve_children PID: the sockdrill-serve processes PID started.
serve_children() { pgrep -P "$1" -x sockdrill-serve || true; }
has_server() { [ -n "$(serve_children "$1")" ]; }

# SIGINT during a long run: exit 130, the partial result, no server left.
sockdrill-syscost --compare lean,cork --requests 50M --duration 20s --json >"$TMP/int.out" 2>"$TMP/int.err" &
pid=$!
wait_until 10 has_server $pid || fail "syscost started its server"
child=$(serve_children $pid)
sleep 2  # past the warm-up, into the counted requests
kill -INT $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc ($(cat "$TMP/int.err"))"
assert_jq "$(cat "$TMP/int.out")" '.results.interrupted == true and (.results.lean.requests > 0)' \
  "SIGINT prints the partial result"
wait_until 5 bash -c "! kill -0 $child 2>/dev/null" || fail "SIGINT: the server $child is gone"
pass "sigint_exits_130_and_stops_its_server"

# kill -9: the server dies with its parent (PR_SET_PDEATHSIG), tracepoints close with the descriptors.
sockdrill-syscost --compare lean --requests 50M --duration 20s >/dev/null 2>&1 &
pid=$!
wait_until 10 has_server $pid || fail "syscost started its server"
child=$(serve_children $pid)
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null || true
wait_until 5 bash -c "! kill -0 $child 2>/dev/null" || fail "kill -9: the server $child died with it"
pass "kill_9_leaves_no_server"
