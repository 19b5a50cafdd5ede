# Helpers for the sockdrill-census scenario tests; source after common.sh:
#   . "$(dirname "$0")/common.sh"; . "$(dirname "$0")/lib/census.sh"

# start_sockets NAME ARGS...: runs tests/scenario/lib/sockets.py ARGS in the
# background (its PID joins common.sh's cleanup), waits for its JSON line and
# sets NAME_PID and NAME_JSON. Sockets live until the helper is stopped.
# With SOCKETS_PREFIX set (e.g. "ip netns exec NS"), the helper runs under it.
start_sockets() {
  local name=$1; shift
  local out="$TMP/$name.sockets"
  # shellcheck disable=SC2086
  ${SOCKETS_PREFIX:-} python3 "$SRC/tests/scenario/lib/sockets.py" "$@" >"$out" 2>"$TMP/$name.sockets.err" &
  local pid=$!
  _pids+=("$pid")
  local i
  for i in $(seq 1 100); do
    [ -s "$out" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.sockets.err" >&2; fail "socket helper $name exited at start"; }
    sleep 0.05
  done
  [ -s "$out" ] || fail "socket helper $name printed nothing in 5 s"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_JSON" '%s' "$(head -n 1 "$out")"
}

# stop_sockets NAME: SIGTERM the helper and wait for it (bounded).
stop_sockets() {
  local pid_var="${1}_PID"
  local pid=${!pid_var}
  kill -TERM "$pid" 2>/dev/null || true
  timeout 10 tail --pid="$pid" -f /dev/null || true
}

# census ARGS...: sockdrill-census, bounded; stdout is the output.
census() {
  timeout "${CENSUS_TIMEOUT:-20}" sockdrill-census "$@"
}

# census_json ARGS...: sockdrill-census --json ARGS; fails the test when it
# does not exit 0 or does not print one JSON object.
census_json() {
  local out rc=0
  out=$(census --json "$@" 2>"$TMP/census.err") || rc=$?
  [ "$rc" = 0 ] || fail "sockdrill-census --json $* exited $rc: $(cat "$TMP/census.err")"
  jq -e 'type == "object"' <<<"$out" >/dev/null 2>&1 || fail "sockdrill-census --json $*: not one JSON object: $out"
  printf '%s\n' "$out"
}

# tcp_count JSON STATE: .results.tcp.by_state[STATE] of a census result.
tcp_count() { jq -r --arg s "$2" '.results.tcp.by_state[$s]' <<<"$1"; }

# ss_count STATE PORT: sockets ss sees in STATE with PORT at either end.
ss_count() {
  ss -tanH state "$1" "( sport = :$2 or dport = :$2 )" | wc -l
}

# expect_census_exit STATUS PATTERN ARGS...: sockdrill-census ARGS exits
# STATUS with exactly one line on stderr matching PATTERN and nothing on stdout.
expect_census_exit() {
  local want=$1 pattern=$2; shift 2
  local rc=0
  timeout 10 sockdrill-census "$@" >"$TMP/usage.out" 2>"$TMP/usage.err" || rc=$?
  LAST_ERR=$(cat "$TMP/usage.err")
  [ "$rc" = "$want" ] || fail "sockdrill-census $* exits $want, got $rc (stderr: $LAST_ERR)"
  [ "$(wc -l <"$TMP/usage.err")" = 1 ] || fail "sockdrill-census $*: one line on stderr, got: $LAST_ERR"
  grep -Eq -- "$pattern" "$TMP/usage.err" || fail "sockdrill-census $*: stderr matches '$pattern', got: $LAST_ERR"
  [ ! -s "$TMP/usage.out" ] || fail "sockdrill-census $*: nothing on stdout, got: $(head -3 "$TMP/usage.out")"
  pass "sockdrill-census $* -> exit $want: $LAST_ERR"
}
