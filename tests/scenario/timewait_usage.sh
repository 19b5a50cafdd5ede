#!/usr/bin/env bash
# sockdrill-timewait: bad input is one line naming the flag, exit 2, before
# anything runs; no privilege is exit 3 with the reason; a failed --expect
# is exit 1; a refused --target is exit 4.
. "$(dirname "$0")/common.sh"
EXPECT_CMD=sockdrill-timewait

expect_exit 2 '^sockdrill-timewait: --port-range: inverted' --port-range 40999-40000
expect_exit 2 '^sockdrill-timewait: --port-range: out of range' --port-range 0-100
expect_exit 2 '^sockdrill-timewait: --port-range: out of range' --port-range 40000-70000
expect_exit 2 '^sockdrill-timewait: --port-range: below 1024' --port-range 100-2000
expect_exit 2 '^sockdrill-timewait: --port-range: no dash' --port-range 40000
expect_exit 2 '^sockdrill-timewait: --concurrency: expected 1 to 10000, got 0' --concurrency 0
expect_exit 2 '^sockdrill-timewait: --rate: expected a rate like 500/s.*(or max)' --rate 500
expect_exit 2 '^sockdrill-timewait: --rate:' --rate fast
expect_exit 2 '^sockdrill-timewait: --fix: unknown fix "faster"' --fix none,faster
expect_exit 2 '^sockdrill-timewait: --exchanges: expected 1 to 10000' --exchanges 0
expect_exit 2 '^sockdrill-timewait: --sources: expected 2 to 200' --sources 1
expect_exit 2 '^sockdrill-timewait: --max-tw-buckets: expected 1' --max-tw-buckets 0
expect_exit 2 '^sockdrill-timewait: --requests-per-conn: expected 2' --requests-per-conn 1
expect_exit 2 '^sockdrill-timewait: --duration: expected more than 0' --duration 0
expect_exit 2 'payload' --payload xml
expect_exit 2 '^sockdrill-timewait: --target 192.0.2.1:80: expected a loopback address' --target 192.0.2.1:80
expect_exit 2 '^sockdrill-timewait: --target 198.18.0.2:80: expected a loopback address' --target 198.18.0.2:80
expect_exit 2 '^sockdrill-timewait: --target 127.0.0.1:0: expected a port other than 0' --target 127.0.0.1:0
expect_exit 2 '^sockdrill-timewait: --fix tw-reuse: needs the sandbox' --target 127.0.0.1:8080 --fix tw-reuse
expect_exit 2 '^sockdrill-timewait: --port-range: with --no-sandbox' --no-sandbox --port-range 40000-40999
expect_exit 2 '^sockdrill-timewait: --fix server-closes: needs --payload http' --fix server-closes --payload echo
pass "bad_input_is_one_line_naming_the_flag_exit_2"

require_root timewait_usage
# Without CAP_SYS_ADMIN/CAP_NET_ADMIN, and neither --no-sandbox nor --target: exit 3.
command -v setpriv >/dev/null || fail "setpriv is not installed"
EXPECT_CMD="setpriv --bounding-set -all --inh-caps -all sockdrill-timewait" \
  expect_exit 3 '^sockdrill-timewait: error: port exhaustion needs the sandbox \(.*CAP_NET_ADMIN.*\); run as root, or use --no-sandbox or --target'
pass "without_privilege_the_sandbox_run_is_exit_3_with_the_reason"

# 50 connections in 0.5 s never exhaust 100 ports: the expectation fails, exit 1.
rc=0
timeout 30 sockdrill-timewait --port-range 40000-40099 --rate 100/s --duration 500ms --json \
  --expect 'fixes.none.eaddrnotavail > 0' >"$TMP/exp.json" 2>"$TMP/exp.err" || rc=$?
[ "$rc" = 1 ] || fail "a failed --expect exits 1, got $rc: $(cat "$TMP/exp.err")"
grep -q "expectation failed: fixes.none.eaddrnotavail > 0" "$TMP/exp.err" || fail "names the expectation: $(cat "$TMP/exp.err")"
assert_jq "$(cat "$TMP/exp.json")" '.ok == false and .expectations[0].ok == false and .results.fixes.none.eaddrnotavail == 0' \
  "a failed --expect: exit 1, ok false in the JSON"

# Nothing listens on 127.0.0.1:1: the target failed, exit 4.
EXPECT_CMD=sockdrill-timewait expect_exit 4 '^sockdrill-timewait: error: --target 127.0.0.1:1: every connection failed \(ECONNREFUSED' \
  --target 127.0.0.1:1 --duration 300ms
pass "a_refused_target_is_exit_4"
