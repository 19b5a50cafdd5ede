#!/usr/bin/env bash
# SIGINT in the middle of sockdrill-nagle's request loop: the requests that
# completed are the partial result, printed, and the exit status is 130; the
# variants after the interrupted one do not run; as root, the sandbox's
# namespaces are released with it.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"

# sigint_after_1s ARGS...: runs sockdrill-nagle ARGS --json with 100
# requests of 200 ms each (about 25 s), SIGINT after 1 s; sets HELD to the
# namespaces it held then.
sigint_after_1s() {
  sockdrill-nagle --variant default,nodelay --path /delay/200ms --requests 100 --duration 60s --json "$@" \
    >"$TMP/out" 2>"$TMP/err" &
  local pid=$!
  _pids+=("$pid")
  sleep 1
  HELD=$(netns_held_by "$pid")
  kill -INT "$pid"
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc: $(cat "$TMP/err")"
}

sigint_after_1s --no-sandbox
assert_jq "$(cat "$TMP/out")" '.results.interrupted == true and (.results | has("nodelay") | not)
  and .results.default.ended == "interrupted" and .results.default.requests >= 1 and .results.default.requests < 100' \
  "--no-sandbox: SIGINT prints the requests that completed, interrupted; the next variant does not run"

if [ "$(id -u)" = 0 ]; then
  sigint_after_1s
  assert_jq "$(cat "$TMP/out")" '.environment.mode == "sandbox" and .results.interrupted == true
    and .results.default.ended == "interrupted" and .results.default.requests < 100' \
    "sandbox: SIGINT prints the partial result"
  [ -n "$HELD" ] || fail "the sandboxed run held its namespaces by descriptor"
  netns_all_released "$HELD" SIGINT
  pass "sandbox: SIGINT releases the namespaces"
elif [ "${CI:-}" = true ]; then
  fail "nagle_cleanup needs root for the sandboxed run under CI=true"
fi
