#!/usr/bin/env bash
# sockdrill-nagle on the host's loopback (--no-sandbox): loopback has
# delayed ACK too, so the ~40 ms stall appears with two small writes and
# vanishes with TCP_NODELAY; unprivileged, the tap columns stay empty and a
# note says so; against --target, sockdrill-serve --split-writes 2 stalls
# and --split-writes 1 does not.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"

j=$(timeout 60 sockdrill-nagle --no-sandbox --variant default,nodelay --requests 20 --json) || fail "--no-sandbox run"
assert_jq "$j" '.schema == "sockdrill.nagle/1" and .environment.mode == "host"' "host mode with --no-sandbox"
assert_jq "$j" '.results.default | .requests == 20 and .p50_ms > 30 and .p50_ms < 250 and .stalled == 20' \
  "loopback: two small writes stall every request (p50 about 40 ms)"
assert_jq "$j" '.results.nodelay | .requests == 20 and .p50_ms < 5 and .stalled == 0' \
  "loopback: TCP_NODELAY removes the stall"
assert_jq "$j" '.results.default.requests_per_s < 30 and .results.nodelay.requests_per_s > 200' \
  "requests per second follow the stall"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  unpriv() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }
  j=$(unpriv "$BIN/sockdrill-nagle" --variant default --requests 10 --json) || fail "unprivileged run"
  assert_jq "$j" '.environment.mode == "host" and .results.default.tap == null and .results.default.p50_ms > 30' \
    "unprivileged: host mode, the stall without a tap"
  out=$(unpriv "$BIN/sockdrill-nagle" --variant default --requests 5)
  grep -q "^host mode on loopback" <<<"$out" || fail "unprivileged: a note says host mode: $out"
  grep -q "no packet tap" <<<"$out" || fail "unprivileged: a note says the tap columns are empty: $out"
  pass "unprivileged_says_which_columns_it_could_not_fill"
elif [ "${CI:-}" = true ]; then
  fail "nagle_host needs root and setpriv to test the unprivileged path under CI=true"
fi

# --target: a real server process, started and stopped by PID.
start_server split --split-writes 2
j=$(timeout 60 sockdrill-nagle --target "127.0.0.1:$split_PORT" --requests 15 --json) || fail "--target split"
assert_jq "$j" '.environment.mode == "target" and .config.target == "127.0.0.1:'"$split_PORT"'"' "target mode"
assert_jq "$j" '.results | keys - ["interrupted"] == ["default", "quickack"]' "--target runs default and quickack"
assert_jq "$j" '.results.default | .p50_ms > 30 and .stalled == 15' \
  "--target sockdrill-serve --split-writes 2: the responses stall"
assert_jq "$j" '.results.quickack | .requests == 15 and .p50_ms < 5 and .stalled == 0' \
  "--target: TCP_QUICKACK re-armed after every read removes the stall from the client's side"
stop_server split

start_server whole --split-writes 1
j=$(timeout 60 sockdrill-nagle --target "127.0.0.1:$whole_PORT" --variant default --requests 15 --json) || fail "--target whole"
assert_jq "$j" '.results.default | .p50_ms < 5 and .stalled == 0' \
  "--target sockdrill-serve --split-writes 1: no stall"
stop_server whole
