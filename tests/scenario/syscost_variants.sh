#!/usr/bin/env bash
# sockdrill-syscost against the embedded server: each knob adds exactly the
# syscalls its name says per request, seen by the tracepoints on the
# server's pid, and the tracepoints agree with the server's own count
# within 2%. The deltas are exact counts (one connection, one request at a
# time), so they hold on a loaded machine.
. "$(dirname "$0")/common.sh"
require_root "syscost_variants (perf tracepoints)"
command -v jq >/dev/null || fail "jq is not installed"

out=$(timeout 120 sockdrill-syscost --compare lean,check-closed,peername,cork,split-writes=2+nodelay \
        --requests 2000 --json)
v='.results'
assert_jq "$out" "[$v.variants[] as \$n | $v[\$n].requests] == [2000,2000,2000,2000,2000]" "every variant served its 2000 requests"
assert_jq "$out" "[$v.variants[] as \$n | $v[\$n].server_count.agrees] | all" \
  "the tracepoints agree with the server's own count within 2% in every variant"
# delta VARIANT SYSCALL: that syscall's per-request count over lean's.
delta() { echo "($v[\"$1\"].syscalls_per_request.$2 // 0) - ($v.lean.syscalls_per_request.$2 // 0)"; }
near() { echo "(($1) - $2 | fabs) < 0.05"; }
assert_jq "$out" "$(near "$(delta check-closed getsockopt)" 1)" "--check-closed adds one getsockopt per request"
assert_jq "$out" "$(near "$(delta peername getpeername)" 1)" "--peername adds one getpeername per request"
assert_jq "$out" "$(near "$(delta cork setsockopt)" 2)" "--cork adds two setsockopt per request"
assert_jq "$out" "$(near "$(delta split-writes=2+nodelay write)" 1)" "--split-writes 2 adds one write per request"
assert_jq "$out" "$(near "$v[\"check-closed\"].extra_per_request" 1)" "extra_per_request is the difference in totals"
assert_jq "$out" "$v.lean.total_per_request >= 2 and $v.lean.total_per_request < 6" \
  "lean: a few syscalls per request (read, write, the wait)"
assert_jq "$out" ".results.baseline == \"lean\" and $v.lean.change_per_extra_syscall == null and $v[\"check-closed\"].change_per_extra_syscall != null" "lean is the baseline"

# The io models: the wait each one makes, and the blocking model's none.
out=$(timeout 120 sockdrill-syscost --compare io=select,io=poll,io=threads --requests 1000 --json)
assert_jq "$out" "([$v[\"io=select\"].syscalls_per_request | (.select // 0) + (.pselect6 // 0)] | .[0]) > 0.9" \
  "io=select waits in select once per request"
assert_jq "$out" "([$v[\"io=poll\"].syscalls_per_request | (.poll // 0) + (.ppoll // 0)] | .[0]) > 0.9" \
  "io=poll waits in poll once per request"
assert_jq "$out" "$v[\"io=threads\"].syscalls_per_request | ((.epoll_wait // 0) + (.select // 0) + (.poll // 0)) < 0.1" \
  "io=threads blocks in read instead of waiting"
assert_jq "$out" "[$v.variants[] as \$n | $v[\$n].server_count.agrees] | all" "the io models agree with the server's own count"

# Without keep-alive every request pays for its connection: accept and close.
out=$(timeout 120 sockdrill-syscost --compare lean --requests 500 --no-keepalive --json)
# The server accepts until EAGAIN: one accept4 that gets the connection, one that finds none.
assert_jq "$out" "$v.lean.syscalls_per_request.accept4 >= 0.99 and $v.lean.syscalls_per_request.accept4 <= 2.01" \
  "--no-keepalive: one or two accept4 per request"
assert_jq "$out" "$(near "$v.lean.syscalls_per_request.close" 1)" "--no-keepalive: one close per request"

# The table: a row per variant and the by-syscall matrix.
table=$(timeout 60 sockdrill-syscost --compare lean,check-closed --requests 500)
grep -q "^  check-closed " <<<"$table" || fail "the summary has a check-closed row: $table"
grep -Eq "^  getsockopt +- +1\.00" <<<"$table" || fail "the by-syscall table shows getsockopt 1.00: $table"
pass "table_rows"
