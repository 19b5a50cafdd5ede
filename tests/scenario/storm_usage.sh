#!/usr/bin/env bash
# sockdrill-storm's input checks: every bad value is one line on stderr
# naming the flag (or the merge file), nothing on stdout, exit 2; --target
# outside loopback is refused before any traffic; a refused target is exit 4.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
EXPECT_CMD=sockdrill-storm

expect_exit 2 '^sockdrill-storm: --connections: expected 1 to 1000000, got 0' --connections 0
expect_exit 2 '^sockdrill-storm: --rate: expected a rate like 500/s.*got "1000"' --rate 1000
expect_exit 2 '^sockdrill-storm: --scenario' --scenario storm
expect_exit 2 '^sockdrill-storm: --io: one model' --io select,poll
expect_exit 2 '^sockdrill-storm: --io: unknown model "kqueue"' --scenario compare-io --io kqueue
expect_exit 2 '^sockdrill-storm: --target: compare-io starts' --scenario compare-io --target 127.0.0.1:9
expect_exit 2 '^sockdrill-storm: --rate: idle-race runs a closed loop' --scenario idle-race --rate 10/s
expect_exit 2 '^sockdrill-storm: --target 198.18.0.2:80: expected a loopback address' --target 198.18.0.2:80
for spec in "--connections many" "--connections -1" "--threads 0" "--pipeline 0" "--duration fast" \
            "--duration -1s" "--rate fast" "--rate 0/s" "--ramp 20s" "--think-jitter 2" "--backoff exponential" \
            "--nodelay maybe" "--sources 0" "--sources 500" "--server-workers 0" "--server-backlog 0" \
            "--method get" "--header nocolon" "--payload smtp" "--echo-size 0" \
            "--target nowhere" "--target 10.0.0.1:80" "--target 127.0.0.1:0" "--expect requests_per_s"; do
  flag=${spec%% *}
  expect_exit 2 "^sockdrill-storm: .*${flag}" $spec
done
expect_exit 2 '^sockdrill-storm: --path: expected a request target without spaces' --path 'a b'
pass "bad_input_is_one_line_naming_the_flag_and_exit_2"

# merge: the files must be steady storm results.
sockdrill-nagle --no-sandbox --variant nodelay --requests 3 --json >"$TMP/nagle.json"
echo 'not json' >"$TMP/garbage.json"
expect_exit 2 '^sockdrill-storm merge: .*expected at least one FILE' merge
expect_exit 2 "^sockdrill-storm merge: .*$TMP/nagle.json: schema sockdrill.nagle/1, expected sockdrill.storm/1" \
  merge "$TMP/nagle.json"
expect_exit 2 "^sockdrill-storm merge: .*$TMP/garbage.json: not JSON" merge "$TMP/garbage.json"
expect_exit 2 "^sockdrill-storm merge: .*$TMP/missing.json" merge "$TMP/missing.json"
pass "merge_refuses_files_that_are_not_storm_results"

# A refused target: every connection fails, the run says so and exits 4.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rc=0
timeout 30 sockdrill-storm --target "127.0.0.1:$PORT" -c 2 --duration 500ms --json >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 4 ] || fail "a refused target exits 4, got $rc: $(cat "$TMP/err")"
grep -q "ECONNREFUSED" "$TMP/err" || fail "the refusal is named: $(cat "$TMP/err")"
pass "refused_target_exits_4"

# --expect on dotted paths: 0 when it holds, 1 when it fails.
start_server srv
rc=0
out=$(timeout 30 sockdrill-storm --target "127.0.0.1:$srv_PORT" -c 4 --duration 1s --json \
        --expect 'load.requests.completed > 100' --expect 'results.load.connections.failed == 0') || rc=$?
[ "$rc" = 0 ] || fail "--expect that holds exits 0, got $rc"
assert_jq "$out" '.schema == "sockdrill.storm/1" and .environment.mode == "target" and (.expectations | all(.ok))' \
  "--expect that holds: both verdicts ok"
rc=0
timeout 30 sockdrill-storm --target "127.0.0.1:$srv_PORT" -c 4 --duration 1s --expect 'load.requests.lost > 0' \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] || fail "--expect that fails exits 1, got $rc"
grep -q "expectation failed: load.requests.lost > 0" "$TMP/err" || fail "the failed expectation is named: $(cat "$TMP/err")"
pass "expect_exits_1_when_it_fails_and_0_when_it_holds"
