#!/usr/bin/env bash
# sockdrill-herd's bad input: one line on stderr naming the flag, nothing on
# stdout, exit 2; --expect on a short real run: 0 when it holds, 1 with the
# JSON when it does not.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
export EXPECT_CMD=sockdrill-herd

expect_exit 2 '^sockdrill-herd: --model: unknown model "accept-all".*epoll-exclusive' --model accept-all
expect_exit 2 '^sockdrill-herd: --model: unknown model "nope"' --model blocking,nope
pass "unknown_model_is_a_one_line_usage_error_naming_--model"
expect_exit 2 '^sockdrill-herd: --weights: expected 2 weights' --listeners 2 --weights 90,5,5
expect_exit 2 '^sockdrill-herd: --weights: expected positive' --weights 90,0
expect_exit 2 '^sockdrill-herd: --weights' --weights lots
pass "bad_weights_are_usage_errors_naming_--weights"
expect_exit 2 '^sockdrill-herd: .*--workers' --workers 0
expect_exit 2 '^sockdrill-herd: .*--workers' --workers 1000
expect_exit 2 '^sockdrill-herd: .*--listeners' --listeners 0
expect_exit 2 '^sockdrill-herd: .*--concurrency' --concurrency 0
expect_exit 2 '^sockdrill-herd: .*--accept-timeout' --accept-timeout soon
expect_exit 2 '^sockdrill-herd: .*--duration' --duration 0
pass "other_bad_values_name_their_flag"

# select-multi alone takes two listeners (its starvation needs them) and says so.
j=$(timeout 30 sockdrill-herd --model select-multi --workers 2 --duration 300ms --json) || fail "select-multi alone"
assert_jq "$j" '.results.models.select_multi.listeners == 2 and .config.listeners == 1' \
  "select_multi_without_--listeners_takes_two"

j=$(timeout 30 sockdrill-herd --model reuseport --workers 2 --duration 300ms --json \
      --expect 'models.reuseport.accepts > 0' --expect 'models.reuseport.starved_listeners == 0') ||
  fail "an --expect that holds exits 0"
assert_jq "$j" '.ok == true and (.expectations | length) == 2' "expect_that_holds_exits_0"
rc=0
j=$(timeout 30 sockdrill-herd --model reuseport --workers 2 --duration 300ms --json \
      --expect 'models.reuseport.accepts == 0') || rc=$?
[ "$rc" = 1 ] || fail "a failed --expect exits 1, got $rc"
assert_jq "$j" '.ok == false and .results.models.reuseport.accepts > 0' "failed_expect_exits_1_with_the_json"

# The human table: one row per model, the columns a reader looks for.
out=$(timeout 30 sockdrill-herd --model epoll-shared,reuseport --workers 2 --duration 300ms) || fail "table run"
grep -q 'wakeups/accept' <<<"$out" || fail "the table has a wakeups/accept column: $out"
grep -qE '^ +epoll-shared ' <<<"$out" && grep -qE '^ +reuseport ' <<<"$out" || fail "one row per model: $out"
pass "table_has_one_row_per_model"
