#!/usr/bin/env bash
# sockdrill-backlog's bad input: one line on stderr naming the flag, nothing
# on stdout, exit 2; a failed --expect exits 1 (host mode, no privilege needed).
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
export EXPECT_CMD=sockdrill-backlog

expect_exit 2 '^sockdrill-backlog: .*--concurrency' --concurrency 0
pass "zero_concurrency_is_a_usage_error"
expect_exit 2 '^sockdrill-backlog: .*--burst' --burst 0
pass "zero_burst_is_a_usage_error"
expect_exit 2 '^sockdrill-backlog: --rate: expected a rate like 500/s.*got "50"' --rate 50
pass "rate_without_a_unit_is_a_usage_error"
expect_exit 2 '^sockdrill-backlog: .*--backlog' --backlog -1
expect_exit 2 '^sockdrill-backlog: .*--backlog' --backlog lots
expect_exit 2 '^sockdrill-backlog: .*--backlog' --backlog 2000000
pass "bad_backlog_is_a_usage_error"
expect_exit 2 '^sockdrill-backlog: .*--accept' --accept slow=never
expect_exit 2 '^sockdrill-backlog: .*--compare' --compare backlog=1,bogus
expect_exit 2 '^sockdrill-backlog: .*--burst' --burst 4 --concurrency 2
expect_exit 2 '^sockdrill-backlog: .*--connect-timeout' --connect-timeout soon
expect_exit 2 '^sockdrill-backlog: .*--syn-retries' --syn-retries 0
pass "other_bad_values_name_their_flag"
expect_exit 2 '^sockdrill-backlog: .*--target.*loopback' --target 192.0.2.1:80
# 198.18.0.0/15 is the sandbox's range: from the host's namespace it would
# follow the default route off the machine.
expect_exit 2 '^sockdrill-backlog: .*--target 198.18.0.2:80.*loopback' --target 198.18.0.2:80
expect_exit 2 '^sockdrill-backlog: .*--target.*port' --target 127.0.0.1:0
expect_exit 2 '^sockdrill-backlog: .*--compare' --target 127.0.0.1:80 --compare seed
pass "target_outside_loopback_including_198.18/15_is_refused"

# A refused loopback port: every connection fails, none completes: exit 4,
# one line naming the target and the error.
expect_exit 4 '^sockdrill-backlog: .*--target 127.0.0.1:1: every connection failed \(ECONNREFUSED' \
  --target 127.0.0.1:1 --burst 4 --connect-timeout 2s
pass "a_refused_target_exits_4_with_one_line"

# --count alone ends the run at the count, past --duration's 5 s default:
# 24 connections at 4/s take 6 s. With --duration, whichever comes first.
j=$(timeout 30 sockdrill-backlog --no-sandbox --accept normal --response-delay 0 --exchanges 1 --rate 4/s \
      --count 24 --json) || fail "--count 24 without --duration"
assert_jq "$j" '.results.connections.started == 24 and .results.connections.completed == 24
                and .results.elapsed_s > 5.5 and .config.count == 24 and .config.duration_s == null' \
  "count_without_duration_ends_the_run_at_the_count"
j=$(timeout 30 sockdrill-backlog --no-sandbox --accept normal --response-delay 0 --exchanges 1 --rate 4/s \
      --count 24 --duration 1s --json) || fail "--count 24 --duration 1s"
assert_jq "$j" '.results.connections.started < 24 and .results.elapsed_s < 4 and .config.duration_s == 1' \
  "count_with_duration_ends_at_whichever_comes_first"

# A real (host-mode) run whose expectation fails: exit 1, the JSON still printed.
rc=0
j=$(timeout 30 sockdrill-backlog --no-sandbox --accept normal --burst 2 --exchanges 1 --json \
      --expect 'connections.completed == 99') || rc=$?
[ "$rc" = 1 ] || fail "a failed --expect exits 1, got $rc"
assert_jq "$j" '.schema == "sockdrill.backlog/1" and .environment.mode == "host" and .ok == false
                and .results.connections.completed == 2' "failed_expect_exits_1_with_the_json"
# Host mode refuses what needs the sandbox's sysctls: exit 3.
EXPECT_CMD=sockdrill-backlog expect_exit 3 'sandbox' --no-sandbox --syncookies 0 --burst 1
pass "host_mode_refuses_sysctl_options_with_exit_3"
