# Shared set-up for scenario tests: where the built commands are, a temp dir,
# servers started in the background and stopped (by PID) on exit, and small
# assertion helpers. Source it: `. "$(dirname "$0")/common.sh"`.
set -euo pipefail
BIN=${SOCKDRILL_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
SRC=${SOCKDRILL_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export PATH="$BIN:$PATH"
TMP=$(mktemp -d /tmp/sockdrill-test.XXXXXX)
_pids=()
cleanup() {
  for pid in "${_pids[@]:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_pids[@]:-}"; do
    [ -n "$pid" ] && timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# start_server NAME ARGS...: starts sockdrill-serve on 127.0.0.1:0 with ARGS,
# waits for its "listening ADDR:PORT" line, and sets NAME_PID, NAME_PORT and
# NAME_OUT (the file its stdout goes to).
start_server() {
  local name=$1; shift
  local out="$TMP/$name.out"
  sockdrill-serve --listen 127.0.0.1:0 "$@" >"$out" 2>"$TMP/$name.err" &
  local pid=$!
  _pids+=("$pid")
  for _ in $(seq 1 100); do
    if grep -q '^listening ' "$out" 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.err" >&2; fail "server $name exited at start"; }
    sleep 0.05
  done
  local port
  port=$(grep -m1 '^listening ' "$out" | sed 's/.*://')
  [ -n "$port" ] || fail "server $name printed no listening line"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_PORT" '%s' "$port"
  printf -v "${name}_OUT" '%s' "$out"
}

# stop_server NAME: SIGTERM and wait; the JSON or table it printed stays in NAME_OUT.
stop_server() {
  local pid_var="${1}_PID"
  local pid=${!pid_var}
  kill -TERM "$pid" 2>/dev/null || true
  timeout 20 tail --pid="$pid" -f /dev/null || fail "server $1 did not stop on SIGTERM"
  wait "$pid" 2>/dev/null || true
}
