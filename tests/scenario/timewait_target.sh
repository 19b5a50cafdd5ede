#!/usr/bin/env bash
# sockdrill-timewait on the host: against a sockdrill-serve on 127.0.0.1
# (--target) and against the embedded server (--no-sandbox). Loopback keeps
# the story's shape (the closer holds TIME-WAIT, linger0 sends RSTs) but
# tcp_tw_reuse=2 reuses ports there, which the output says.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"

start_server srv
j=$(timeout 30 sockdrill-timewait --target "127.0.0.1:$srv_PORT" --fix none,linger0,server-closes,keepalive \
      --rate 300/s --duration 1s --json) || fail "--target 127.0.0.1:$srv_PORT"
assert_jq "$j" '.environment.mode == "target" and .config.target != null and .results.fixes.none.completed > 200
                and .results.fixes.none.conn_per_s > 200' "--target: churns against the real server from the host"
assert_jq "$j" '.results.fixes.none | .time_wait_peak.client > 200 and .time_wait_peak.server == 0 and .eaddrnotavail == 0' \
  "--target: the client closes first and holds TIME-WAIT (counted by the target's port)"
assert_jq "$j" '.results.fixes.linger0 | .time_wait_peak.client == 0 and .rsts_sent >= .completed' \
  "--target linger0: no TIME-WAIT, an RST per connection"
assert_jq "$j" '.results.fixes.server_closes | .time_wait_peak.server > 200 and .time_wait_peak.client == 0' \
  "--target server-closes: the real server holds TIME-WAIT"
assert_jq "$j" '.results.fixes.keepalive | .conn_per_s < 10 and .transactions_per_s > 200' \
  "--target keepalive: far fewer connections for the same transactions"
out=$(timeout 30 sockdrill-timewait --target "127.0.0.1:$srv_PORT" --duration 500ms) || fail "the table"
grep -q "tcp_tw_reuse=2" <<<"$out" || fail "says why loopback is not faithful: $out"
pass "target_mode_says_that_tcp_tw_reuse_2_reuses_loopback_ports"
stop_server srv

j=$(timeout 30 sockdrill-timewait --no-sandbox --fix none,server-closes --rate 300/s --duration 1s --json) \
  || fail "--no-sandbox"
assert_jq "$j" '.environment.mode == "host" and .results.fixes.none.time_wait_peak.client > 200
                and .results.fixes.server_closes.time_wait_peak.server > 200' \
  "--no-sandbox: the embedded server on 127.0.0.1, TIME-WAIT on the closer's side"
