#!/usr/bin/env bash
# sockdrill-nagle's input checks: every bad value is one line on stderr
# naming the flag, nothing on stdout, exit 2; --target outside loopback
# (198.18.0.0/15 too: from the host it follows the default route) is refused
# before any traffic; --expect decides exit 0 or 1.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
EXPECT_CMD=sockdrill-nagle

expect_exit 2 '^sockdrill-nagle: --requests: expected at least 1' --requests 0
expect_exit 2 '^sockdrill-nagle: --requests: expected at most 1000000' --requests 2000000
expect_exit 2 '^sockdrill-nagle: --warmup: expected at most 10000' --warmup 20000
expect_exit 2 '^sockdrill-nagle: --target 198.18.0.2:80: expected a loopback address' --target 198.18.0.2:80
for spec in "--requests many" "--requests -3" "--warmup x" "--duration fast" "--duration 0" "--duration -1s" \
            "--variant fast" "--variant default,default" "--variant one_write" "--split-writes 0" \
            "--split-writes 65" "--split-writes two" "--response-size lots" "--stall-threshold 0" \
            "--stall-threshold soon" "--path index.html" "--target nowhere" "--target 10.0.0.1:80" \
            "--target 198.20.0.1:80" "--target 198.19.0.1:80" "--target 127.0.0.1:0" "--expect p50_ms"; do
  flag=${spec%% *}
  expect_exit 2 "^sockdrill-nagle: .*${flag}" $spec
done
expect_exit 2 '^sockdrill-nagle: --variant cork: against --target' --target 127.0.0.1:9 --variant cork
pass "bad_input_is_one_line_naming_the_flag_and_exit_2"

# A refused target is the target's failure: exit 4, one line.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_exit 4 "^sockdrill-nagle: error: connect 127.0.0.1:$PORT.*ECONNREFUSED" --target "127.0.0.1:$PORT" --requests 2
pass "refused_target_exits_4"

# --expect on dotted paths of the JSON: 0 when it holds, 1 when it fails.
rc=0
out=$(timeout 30 sockdrill-nagle --no-sandbox --variant nodelay --requests 5 --json \
        --expect 'nodelay.p50_ms < 1000' --expect 'results.nodelay.requests == 5') || rc=$?
[ "$rc" = 0 ] || fail "--expect that holds exits 0, got $rc"
assert_jq "$out" '.expectations | length == 2 and all(.ok)' "--expect that holds: both verdicts ok"
rc=0
timeout 30 sockdrill-nagle --no-sandbox --variant nodelay --requests 5 --expect 'nodelay.p50_ms > 1000' \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] || fail "--expect that fails exits 1, got $rc"
grep -q "expectation failed: nodelay.p50_ms > 1000" "$TMP/err" || fail "the failed expectation is named: $(cat "$TMP/err")"
grep -q "^  nodelay " "$TMP/out" || fail "the table is still printed: $(cat "$TMP/out")"
pass "expect_exits_1_when_it_fails_and_0_when_it_holds"
