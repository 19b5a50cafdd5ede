#!/usr/bin/env bash
# sockdrill-timewait holds each fix's sandbox by descriptors only: SIGINT
# during the second fix prints the partial result (both fixes, interrupted)
# and exits 130; kill -9 leaves no network namespace behind either; SIGINT
# against a --target that refuses everything is 130 too, not 4.
. "$(dirname "$0")/common.sh"
require_root timewait_cleanup
command -v jq >/dev/null || fail "jq is not installed"

# SIGINT during the second fix: each fix runs 3 s on its own sandbox.
sockdrill-timewait --fix none --fix tw-reuse --port-range 40000-40099 --rate 50/s --duration 3s --json \
  >"$TMP/out" 2>"$TMP/err" &
pid=$!
_pids+=("$pid")
first=""
for _ in $(seq 1 150); do
  first=$(netns_held_by "$pid")
  [ "$(grep -c . <<<"$first")" -ge 2 ] && break
  sleep 0.1
done
[ "$(grep -c . <<<"$first")" -ge 2 ] || fail "sockdrill-timewait holds the first fix's two namespaces by descriptor, got: $first"
# The first fix is over when its namespaces are released; the second's
# sandbox is then being built.
for _ in $(seq 1 100); do
  gone=1
  for ns in $first; do netns_alive "$ns" && gone=0; done
  [ "$gone" = 1 ] && break
  sleep 0.1
done
[ "$gone" = 1 ] || fail "the first fix's namespaces are released when it ends"
sleep 0.5
second=$(netns_held_by "$pid")
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc: $(cat "$TMP/err")"
assert_jq "$(cat "$TMP/out")" '.results.interrupted == true and .results.order == ["none", "tw-reuse"]
                              and .results.fixes.none.completed > 0 and (.results.fixes.tw_reuse | has("completed"))' \
  "SIGINT during the second fix: the partial result holds both fixes, interrupted"
netns_all_released "$first $second" SIGINT
pass "sigint_during_the_second_fix_prints_the_partial_result_cleans_up_and_exits_130"

# kill -9 in the middle of a fix: the kernel drops the namespaces with the process.
sockdrill-timewait --fix none --port-range 40000-40099 --rate 50/s --duration 10s --json >/dev/null 2>&1 &
pid=$!
_pids+=("$pid")
held=""
for _ in $(seq 1 150); do
  held=$(netns_held_by "$pid")
  [ "$(grep -c . <<<"$held")" -ge 2 ] && break
  sleep 0.1
done
[ "$(grep -c . <<<"$held")" -ge 2 ] || fail "sockdrill-timewait holds its two namespaces by descriptor, got: $held"
sleep 0.5
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
kill -0 "$pid" 2>/dev/null && fail "sockdrill-timewait survived kill -9"
netns_all_released "$held" "kill -9"
pass "kill_-9_leaves_no_namespace"

# SIGINT against a --target that refuses every connection: interrupted
# (130, the partial result), not "the target failed" (4).
sockdrill-timewait --target 127.0.0.1:1 --duration 10s --json >"$TMP/target.out" 2>"$TMP/target.err" &
pid=$!
_pids+=("$pid")
sleep 0.5
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "SIGINT of a --target run exits 130, got $rc: $(cat "$TMP/target.err")"
assert_jq "$(cat "$TMP/target.out")" '.results.interrupted == true and .results.fixes.none.completed == 0' \
  "--target: SIGINT before any connection completed is a partial result, exit 130"
