#!/usr/bin/env bash
# sockdrill-backlog builds fresh namespaces per --compare variant, held by
# descriptors only: SIGINT in the middle of the second variant prints the
# partial result (the first variant, interrupted) and exits 130; neither
# SIGINT nor kill -9 leaves a namespace behind.
. "$(dirname "$0")/common.sh"
require_root backlog_cleanup
command -v jq >/dev/null || fail "jq is not installed"

# SIGINT during the second variant: about 2 s for the first, then a fresh sandbox.
sockdrill-backlog --compare backlog=1,backlog=128 --duration 2s --connect-timeout 2s --exchanges 1 --json \
  >"$TMP/out" 2>/dev/null &
pid=$!
_pids+=("$pid")
first=""
for _ in $(seq 1 100); do
  first=$(netns_held_by "$pid")
  [ -n "$first" ] && break
  sleep 0.1
done
[ -n "$first" ] || fail "sockdrill-backlog holds its first variant's namespaces by descriptor"
second=""
for _ in $(seq 1 150); do
  second=$(netns_held_by "$pid" | grep -vxF "$first" || true)
  [ -n "$second" ] && break
  sleep 0.1
done
[ -n "$second" ] || fail "sockdrill-backlog moved on to the second variant's namespaces (held: $(netns_held_by "$pid"))"
sleep 0.5
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc"
jq -e '.results.interrupted == true and (.results.variants.backlog_1.connections.started > 0)' "$TMP/out" >/dev/null \
  || fail "SIGINT prints the partial result with the first variant: $(head -c 800 "$TMP/out")"
netns_all_released "$first $second" SIGINT
pass "sigint_in_the_second_variant_prints_the_partial_result_cleans_up_and_exits_130"

# kill -9 while the sandbox is up: the kernel drops the namespaces with the
# last descriptor.
sockdrill-backlog --burst 4 --accept paused --connect-timeout 10s --exchanges 1 >/dev/null 2>&1 &
pid=$!
_pids+=("$pid")
held=""
for _ in $(seq 1 100); do
  held=$(netns_held_by "$pid")
  [ -n "$held" ] && break
  sleep 0.1
done
[ -n "$held" ] || fail "sockdrill-backlog holds its namespaces by descriptor"
sleep 0.5
held=$(netns_held_by "$pid")
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
kill -0 "$pid" 2>/dev/null && fail "sockdrill-backlog survived kill -9"
netns_all_released "$held" "kill -9"
pass "kill_-9_leaves_no_namespace"
