#!/usr/bin/env bash
# The sandbox is held by descriptors only: kill -9 of sockdrill-halfopen in
# the middle of a run leaves no network namespace, veth or process behind.
. "$(dirname "$0")/common.sh"
require_root halfopen_cleanup

named_before=$(ip netns list 2>/dev/null)
sockdrill-halfopen --vanish cut --after 100ms --max-wait 30s --detect none keepalive=1,1,2 >/dev/null 2>&1 &
pid=$!
_pids+=("$pid")
# Wait until it holds its namespaces (two per method).
held=""
for _ in $(seq 1 150); do
  held=$(netns_held_by "$pid")
  [ "$(wc -l <<<"$held")" -ge 4 ] && break
  sleep 0.1
done
[ "$(wc -l <<<"$held")" -ge 4 ] || fail "sockdrill-halfopen holds 4 network namespaces by descriptor, got: $held"
ip link show sd-client >/dev/null 2>&1 && fail "the sandbox's veth is visible on the host"
[ "$(ip netns list 2>/dev/null)" = "$named_before" ] || fail "the sandbox named a namespace (ip netns list changed)"
pass "the_run_holds_its_namespaces_by_descriptor_only"

sleep 0.5
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
kill -0 "$pid" 2>/dev/null && fail "sockdrill-halfopen survived kill -9"
netns_all_released "$held" "kill -9"
ip link show sd-client >/dev/null 2>&1 && fail "a veth was left on the host"
pass "kill_-9_leaves_no_namespace_veth_or_process"

# The same after SIGINT: a partial result and exit 130.
sockdrill-halfopen --vanish cut --after 100ms --max-wait 30s --detect none poll=10s heartbeat=10s --json >"$TMP/out" 2>/dev/null &
pid=$!
for _ in $(seq 1 150); do [ "$(netns_held_by "$pid" | wc -l)" -ge 2 ] && break; sleep 0.1; done
held=$(netns_held_by "$pid")
sleep 0.5
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc"
jq -e '.results.interrupted and ([.results.none, .results.poll, .results.heartbeat] | all(.detected == false))' \
  "$TMP/out" >/dev/null || fail "SIGINT prints the partial result, nothing detected, interrupted: $(head -c 800 "$TMP/out")"
netns_all_released "$held" SIGINT
pass "sigint_prints_the_partial_result_cleans_up_and_exits_130"
