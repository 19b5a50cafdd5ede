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
  start_server_args "$name" --listen 127.0.0.1:0 "$@"
}

# start_server_args NAME ARGS...: as start_server, without the default
# --listen (ARGS or a --config file say where to listen).
start_server_args() {
  local name=$1; shift
  local out="$TMP/$name.out"
  sockdrill-serve "$@" >"$out" 2>"$TMP/$name.err" &
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

# stop_server NAME: SIGTERM and wait; the JSON or table it printed stays in NAME_OUT,
# its exit status in NAME_RC.
stop_server() {
  local pid_var="${1}_PID"
  local pid=${!pid_var}
  kill -TERM "$pid" 2>/dev/null || true
  timeout 20 tail --pid="$pid" -f /dev/null || fail "server $1 did not stop on SIGTERM"
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  printf -v "${1}_RC" '%s' "$rc"   # NAME_RC: the server's exit status
}

# --- helpers for the sockdrill-serve scenario tests -------------------------

# client SUBCOMMAND ARGS...: the Python test client (tests/scenario/lib/sdclient.py),
# bounded by `timeout`; prints one JSON object.
client() {
  timeout "${CLIENT_TIMEOUT:-60}" python3 "$SRC/tests/scenario/lib/sdclient.py" "$@"
}

# final_json NAME: the last JSON object the stopped server NAME printed (its
# final statistics; with --stats-interval the lines before it are intervals).
final_json() {
  local out_var="${1}_OUT"
  sed -n '/^{/,$p' "${!out_var}" | jq -s '.[-1]'
}

# jq definitions every assert_jq filter can use: err("ETIMEDOUT") is the count
# of that errno in .results.errors, whichever phase it was counted in.
JQ_DEFS='def err(e): [.results.errors | .. | objects | .[e]? | numbers] | add // 0;'

# assert_jq JSON FILTER DESCRIPTION: FILTER (a jq boolean over JSON) must be true.
assert_jq() {
  local json=$1 filter=$2 what=$3
  if [ "$(jq -r "$JQ_DEFS $filter" <<<"$json" 2>/dev/null)" != "true" ]; then
    echo "--- JSON checked with: $filter" >&2
    jq -c . <<<"$json" | head -c 3000 >&2; echo >&2
    fail "$what"
  fi
  pass "$what"
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_until() {
  local secs=$1; shift
  local tries=$((secs * 10))
  for _ in $(seq 1 "$tries"); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}


# expect_exit STATUS PATTERN ARGS...: $EXPECT_CMD (sockdrill-serve unless
# set) ARGS must exit with STATUS at once, printing exactly one line on
# stderr that matches PATTERN (grep -E) and nothing on stdout. Sets LAST_ERR
# to that line.
expect_exit() {
  local want=$1 pattern=$2; shift 2
  local cmd=${EXPECT_CMD:-sockdrill-serve} rc=0
  timeout 10 $cmd "$@" >"$TMP/usage.out" 2>"$TMP/usage.err" || rc=$?
  LAST_ERR=$(cat "$TMP/usage.err")
  [ "$rc" = "$want" ] || fail "$cmd $* exits $want, got $rc (stderr: $LAST_ERR)"
  [ "$(wc -l <"$TMP/usage.err")" = 1 ] || fail "$cmd $*: one line on stderr, got: $LAST_ERR"
  grep -Eq -- "$pattern" "$TMP/usage.err" || fail "$cmd $*: stderr matches '$pattern', got: $LAST_ERR"
  [ ! -s "$TMP/usage.out" ] || fail "$cmd $*: nothing on stdout, got: $(head -3 "$TMP/usage.out")"
}

# require_root NAME: the test needs CAP_SYS_ADMIN and CAP_NET_ADMIN. Without
# root it is skipped, except under CI=true, where it fails (STYLE.md).
require_root() {
  if [ "$(id -u)" != 0 ]; then
    [ "${CI:-}" = true ] && fail "$1 needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and CI=true"
    echo "skip: $1 needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)"
    exit 0
  fi
}

# netns_held_by PID: the network namespaces ("net:[INODE]") a process holds
# by descriptor, as the sandbox holds its namespaces; not this host's own,
# which a command also holds for a moment, to come back to it.
netns_held_by() {
  local host_ns
  host_ns=$(readlink /proc/self/ns/net)
  find "/proc/$1/fd" -lname 'net:*' -printf '%l\n' 2>/dev/null | sort -u | grep -vxF "$host_ns" || true
}

# netns_alive INODE-LINK: whether any process still holds that namespace, as
# its own (/proc/PID/ns/net, any thread) or by descriptor. A namespace no one
# holds is gone: the kernel has removed it with everything in it.
# (The list is read whole before grep: `find | grep -q` under pipefail
# reports the SIGPIPE of a find that grep stopped reading, i.e. "not alive"
# exactly when a holder was found.)
netns_alive() {
  local all
  all=$({ find /proc/[0-9]*/ns/net /proc/[0-9]*/task/[0-9]*/ns/net -maxdepth 0 -printf '%l\n' 2>/dev/null
          find /proc/[0-9]*/fd -lname 'net:*' -printf '%l\n' 2>/dev/null; } || true)
  grep -qxF "$1" <<<"$all"
}

# netns_all_released NAMESPACES WHAT: each namespace in the space-separated
# list is released within 10 s (the kernel removes a namespace no one
# holds), or fail naming WHAT ("SIGINT", "kill -9").
netns_all_released() {
  local ns
  for ns in $1; do
    for _ in $(seq 1 100); do netns_alive "$ns" || break; sleep 0.1; done
    netns_alive "$ns" && fail "namespace $ns is still held after $2"
  done
  return 0
}
