#!/usr/bin/env bash
# sockdrill-halfopen's command line: unknown methods, malformed keepalive
# triples, negative or zero durations and impossible combinations are one
# line naming the flag, exit 2; without privilege the sandbox modes are one
# line naming the capability, exit 3.
. "$(dirname "$0")/common.sh"
EXPECT_CMD=sockdrill-halfopen

bad_values=(
  "--detect telepathy"
  "--detect keepalive=1,1"
  "--detect keepalive=1,x,2"
  "--detect keepalive=0,1,2"
  "--detect rcvtimeo=-1s"
  "--detect poll=0s"
  "--detect user-timeout=soon"
  "--detect retries2=0"
  "--detect none=5s"
  "--vanish evaporate"
  "--after -1s"
  "--max-wait -5s"
  "--max-wait 10ms"
  "--side both"
  "--pending-size 1XB"
  "--server-keepalive 1,2"
  "--server-idle-timeout never"
)
for spec in "${bad_values[@]}"; do
  flag=${spec%% *}
  value=${spec#* }
  expect_exit 2 "^sockdrill-halfopen: .*${flag}" "$flag" "$value"
done
pass "each_bad_value_is_one_line_naming_the_flag_and_exit_2"

expect_exit 2 "^sockdrill-halfopen: --detect: poll given twice" --detect poll=1s poll=2s
expect_exit 2 "^sockdrill-halfopen: --vanish cut .*--no-sandbox" --vanish cut --no-sandbox
expect_exit 2 "^sockdrill-halfopen: --detect retries2 .*--no-sandbox" --vanish stall --detect retries2=3 --no-sandbox
expect_exit 2 "^sockdrill-halfopen: --target works with --side server" --target 127.0.0.1:80
expect_exit 2 "^sockdrill-halfopen: --side server: --vanish stall" --side server --vanish stall
expect_exit 2 "^sockdrill-halfopen: --target: only --vanish forget" --side server --vanish cut --target 127.0.0.1:80
expect_exit 2 "^sockdrill-halfopen: --target 198.18.0.2:80: expected a loopback" --side server --vanish forget --target 198.18.0.2:80
pass "impossible_combinations_are_usage_errors"

# Without privilege: drop every capability (setpriv from util-linux).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  unpriv() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }
  rc=0
  unpriv "$BIN/sockdrill-halfopen" --vanish cut --detect none --max-wait 1s >"$TMP/o" 2>"$TMP/e" || rc=$?
  [ "$rc" = 3 ] || fail "unprivileged --vanish cut exits 3, got $rc ($(cat "$TMP/e"))"
  [ "$(wc -l <"$TMP/e")" = 1 ] && grep -q "needs the sandbox: .*CAP_SYS_ADMIN" "$TMP/e" ||
    fail "unprivileged --vanish cut: one line naming the capability, got: $(cat "$TMP/e")"
  rc=0
  unpriv "$BIN/sockdrill-halfopen" --vanish forget --detect none --max-wait 1s >"$TMP/o" 2>"$TMP/e" || rc=$?
  [ "$rc" = 3 ] && grep -q "CAP_NET_ADMIN" "$TMP/e" || fail "unprivileged forget exits 3 naming CAP_NET_ADMIN, got $rc: $(cat "$TMP/e")"
  # A stalled peer needs no privilege: host mode on loopback, said in one note.
  unpriv "$BIN/sockdrill-halfopen" --vanish stall --detect poll=200ms heartbeat=200ms --max-wait 1s --after 100ms \
    --json >"$TMP/o" 2>"$TMP/e" || fail "unprivileged stall runs on loopback: $(cat "$TMP/e")"
  assert_jq "$(cat "$TMP/o")" '.environment.mode == "host"' "unprivileged stall runs in host mode"
  assert_jq "$(cat "$TMP/o")" '.results.poll.as_predicted and .results.heartbeat.as_predicted' "poll and heartbeat notice a stalled peer on loopback"
  pass "without_privilege_the_sandbox_modes_exit_3_and_stall_runs_on_loopback"
elif [ "${CI:-}" = true ]; then
  fail "halfopen_usage needs root and setpriv to test the unprivileged path under CI=true"
fi
