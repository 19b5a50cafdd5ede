#!/usr/bin/env bash
# sockdrill-halfopen --side client in the sandbox: each vanish mode with each
# method that applies, on quick settings. Every method must notice when the
# kernel's formula says (within max(5%, 50 ms)) with the errno it says, or
# stay blocked when the formula says never; the wire and tcp_info must show
# the mechanism (keepalive probes, retransmissions, RST).
. "$(dirname "$0")/common.sh"
require_root halfopen_client
command -v jq >/dev/null || fail "jq is not installed"

run() {  # run NAME ARGS...: NAME_JSON holds the result
  local name=$1; shift
  local out rc=0
  out=$(timeout 60 sockdrill-halfopen --after 200ms --json "$@" 2>"$TMP/$name.err") || rc=$?
  [ "$rc" = 0 ] || fail "sockdrill-halfopen $* exits 0, got $rc: $(cat "$TMP/$name.err")"
  printf -v "${name}_JSON" '%s' "$out"
}
# as_predicted JSON METHOD SAW: detected as the formula says, with SAW.
as_predicted() {
  assert_jq "$1" ".results.$2.as_predicted and .results.$2.saw == \"$3\"" "$4: $2 saw $3 as predicted"
}

# --- cut and blackhole: a silent peer ---------------------------------------
for mode in cut blackhole; do
  run silent --vanish "$mode" --max-wait 4s \
    --detect none rcvtimeo=500ms poll=600ms keepalive=1,1,2 user-timeout=1s retries2=2 heartbeat=500ms
  j=$silent_JSON
  assert_jq "$j" '.environment.mode == "sandbox" and .results.vanish == "'"$mode"'"' "$mode: ran in the sandbox"
  assert_jq "$j" '.results.none.detected == false and .results.none.saw == "blocked" and .results.none.waited_ms >= 4000' \
    "$mode: none is still blocked at --max-wait"
  as_predicted "$j" rcvtimeo EAGAIN "$mode"
  as_predicted "$j" poll "poll 0" "$mode"
  as_predicted "$j" keepalive ETIMEDOUT "$mode"
  as_predicted "$j" user_timeout ETIMEDOUT "$mode"
  as_predicted "$j" retries2 ETIMEDOUT "$mode"
  as_predicted "$j" heartbeat "no pong" "$mode"
  assert_jq "$j" '[.results.rcvtimeo, .results.poll, .results.heartbeat] | all(.connection_gone == false)' \
    "$mode: rcvtimeo, poll and heartbeat only stop waiting; the connection stays"
  assert_jq "$j" '[.results.keepalive, .results.user_timeout, .results.retries2] | all(.connection_gone)' \
    "$mode: keepalive, user-timeout and retries2 close the connection"
  assert_jq "$j" '.results.keepalive.tcp_info.probes == 2 and .results.retries2.tcp_info.retransmits >= 3' \
    "$mode: tcp_info counted the 2 keepalive probes and the retransmissions"
  if [ "$mode" = cut ]; then
    # The client's end lost carrier: its packets are dropped before the wire.
    assert_jq "$j" '[.results[] | objects | .wire.segments_out] | all(. == 0)' "cut: nothing reached the wire"
  else
    assert_jq "$j" '.results.keepalive.wire.keepalive_probes_out == 2 and .results.keepalive.wire.segments_in == 0' \
      "blackhole: the tap saw the 2 keepalive probes leave and nothing come back"
    assert_jq "$j" '.results.retries2.wire.retransmissions_out >= 4 and .results.retries2.wire.segments_in == 0' \
      "blackhole: the tap saw the loss probe and the retransmissions"
  fi
  assert_jq "$j" '.results.keepalive.theory_ms > 2700 and .results.keepalive.theory_ms < 3100' \
    "$mode: keepalive 1,1,2 predicts about 3 s"
  assert_jq "$j" '.counters.TCPKeepAlive >= 2 and .counters.TCPAbortOnTimeout >= 3' \
    "$mode: the client namespaces' counters moved (TCPKeepAlive, TCPAbortOnTimeout)"
done

# --- forget: the peer's host answers our next segment with RST --------------
run forget --vanish forget --max-wait 2s \
  --detect none rcvtimeo=500ms keepalive=1,1,2 user-timeout=1s heartbeat=1s
j=$forget_JSON
assert_jq "$j" '.results.none.detected == false' "forget: none, sending nothing, never learns"
as_predicted "$j" rcvtimeo EAGAIN forget
as_predicted "$j" keepalive ECONNRESET forget
as_predicted "$j" user_timeout ECONNRESET forget
as_predicted "$j" heartbeat ECONNRESET forget
assert_jq "$j" '.results.keepalive.wire.rst_in >= 1 and .results.keepalive.wire.keepalive_probes_out == 1' \
  "forget: the first keepalive probe met a RST"
assert_jq "$j" '.results.heartbeat.detected_ms < 50' "forget: the heartbeat's ping met a RST at once"

run forget_pending --vanish forget --pending-data --max-wait 2s --detect none
as_predicted "$forget_pending_JSON" none ECONNRESET "forget --pending-data"

# --- stall: the peer's kernel is alive, its application is not -----------------
run stall --vanish stall --max-wait 3s \
  --detect none keepalive=1,1,2 poll=500ms user-timeout=1s retries2=2 heartbeat=500ms
j=$stall_JSON
assert_jq "$j" '[.results.none, .results.keepalive, .results.retries2] | all(.detected == false and .as_predicted)' \
  "stall: none, keepalive and retries2 never notice (the peer's kernel answers)"
assert_jq "$j" '.results.keepalive.wire.keepalive_probes_out >= 1 and .results.keepalive.wire.segments_in >= 1' \
  "stall: keepalive probes went out and were answered"
as_predicted "$j" poll "poll 0" stall
as_predicted "$j" heartbeat "no pong" stall
as_predicted "$j" user_timeout ETIMEDOUT stall
assert_jq "$j" '.results.user_timeout.wire.zero_windows_in >= 1 and .results.user_timeout.wire.zero_window_probes_out >= 1' \
  "stall: the window closed and zero-window probes went out"

# --- the table -----------------------------------------------------------------
out=$(timeout 30 sockdrill-halfopen --vanish cut --after 100ms --max-wait 1s --detect none poll=300ms)
grep -q "still blocked after 1.0. s: would block forever" <<<"$out" || fail "the table says none would block forever: $out"
grep -q "poll: the application stopped waiting, but the connection is still ESTAB" <<<"$out" ||
  fail "the table says poll closed nothing: $out"
pass "table_says_what_blocked_and_what_merely_stopped_waiting"

# --- --expect for runbooks ---------------------------------------------------------
rc=0
timeout 30 sockdrill-halfopen --vanish cut --after 100ms --max-wait 4s --detect keepalive=1,1,2 \
  --expect 'keepalive.detected_ms < 4000' >/dev/null 2>"$TMP/e" || rc=$?
[ "$rc" = 0 ] || fail "--expect keepalive.detected_ms < 4000 holds, got $rc: $(cat "$TMP/e")"
rc=0
timeout 30 sockdrill-halfopen --vanish cut --after 100ms --max-wait 4s --detect keepalive=1,1,2 \
  --expect 'keepalive.detected_ms < 1000' >/dev/null 2>"$TMP/e" || rc=$?
[ "$rc" = 1 ] && grep -q "expectation failed: keepalive.detected_ms < 1000" "$TMP/e" ||
  fail "a failed --expect exits 1 naming it, got $rc: $(cat "$TMP/e")"
pass "expect_checks_detection_times"
