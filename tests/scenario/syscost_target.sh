#!/usr/bin/env bash
# sockdrill-syscost --target --target-pid: a server it did not start,
# counted by pid. The test's server is sockdrill-serve with --check-closed
# (Puma's getsockopt per request), so its own statistics say what the
# tracepoints must have seen.
. "$(dirname "$0")/common.sh"
require_root "syscost_target (perf tracepoints)"
command -v jq >/dev/null || fail "jq is not installed"

start_server srv --check-closed --json
out=$(timeout 60 sockdrill-syscost --target "127.0.0.1:$srv_PORT" --target-pid "$srv_PID" --requests 3000 \
        --load-time 0 --json)
stop_server srv
own=$(final_json srv)
v='.results.target'
assert_jq "$out" ".environment.mode == \"target\" and $v.requests == 3000" "the target served 3000 requests"
assert_jq "$out" "($v.syscalls_per_request.getsockopt - 1 | fabs) < 0.02" \
  "the target's getsockopt per request is 1 (--check-closed)"
# The server served only us: the warm-up (not counted) and the counted
# requests. One getsockopt and one write per request, by its own count too.
warmup=$(jq '.config.warmup_requests' <<<"$out")
for call in getsockopt write; do
  traced=$(jq "$v.syscalls.$call" <<<"$out")
  counted=$(jq ".results.syscalls.$call" <<<"$own")
  [ "$traced" = 3000 ] && [ "$counted" = $((3000 + warmup)) ] ||
    fail "$call: traced $traced of 3000 requests, the server's own $counted of 3000 + $warmup warm-up"
  pass "traced_${call}_matches_the_servers_own_count"
done

# Several pids count together: the same server twice is refused by nobody,
# but a second, idle server adds nothing per request.
start_server a
start_server b
out=$(timeout 60 sockdrill-syscost --target "127.0.0.1:$a_PORT" --target-pid "$a_PID,$b_PID" --requests 1000 \
        --load-time 200ms --json)
assert_jq "$out" "$v.threads_traced >= 2 and $v.requests == 1000" "--target-pid takes a list; both are traced"
assert_jq "$out" "$v.requests_per_s > 0 and $v.server_count == null" "the throughput pass runs; no own count for a target"
