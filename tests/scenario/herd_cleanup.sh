#!/usr/bin/env bash
# sockdrill-herd's forked workers and accept mutexes do not outlive it:
# SIGINT mid-run prints the partial result, exits 130, reaps every child and
# removes the SysV semaphore; kill -9 takes the children with it
# (PR_SET_PDEATHSIG) and, as root, the semaphore too (it lives in an IPC
# namespace of the run's own).
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"

semaphores() { ipcs -s | grep -c '^0x' || true; }

# children_of PID: the PIDs of PID's child processes.
children_of() { pgrep -P "$1" || true; }

# wait_children PID N: PID has N children (its workers) within 5 s.
wait_children() {
  for _ in $(seq 1 50); do
    [ "$(children_of "$1" | wc -l)" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "sockdrill-herd $1 forked $2 workers (has: $(children_of "$1" | tr '\n' ' '))"
}

# all_gone PIDS: none of them runs any more (gone, or a zombie its new
# parent has yet to reap).
all_gone() {
  local pid state
  for pid in $1; do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ] && return 1
  done
  return 0
}

sems_before=$(semaphores)
sockdrill-herd --processes --workers 3 --model mutex-sysvsem,epoll-shared --duration 4s --json >"$TMP/out" 2>/dev/null &
pid=$!
_pids+=("$pid")
wait_children "$pid" 3
kids=$(children_of "$pid")
sleep 0.5
[ "$(semaphores)" = "$sems_before" ] || [ "$(id -u)" != 0 ] ||
  fail "as root the semaphore is not in the host's IPC namespace (ipcs -s: $(ipcs -s))"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc"
jq -e '.results.interrupted == true and .results.models.mutex_sysvsem.accepts > 0
       and (.results.models | has("epoll_shared") | not)' "$TMP/out" >/dev/null ||
  fail "SIGINT prints the partial result: $(head -c 600 "$TMP/out")"
wait_until 2 all_gone "$kids" || fail "workers left after SIGINT: $kids"
[ "$(semaphores)" = "$sems_before" ] || fail "a semaphore is left after SIGINT: $(ipcs -s)"
pass "sigint_prints_the_partial_result_exits_130_and_leaves_no_worker_or_semaphore"

# kill -9: nothing in the parent runs; the kernel kills the children
# (PR_SET_PDEATHSIG) and, with the last task in it, the IPC namespace.
sockdrill-herd --processes --workers 3 --model mutex-sysvsem --duration 10s >/dev/null 2>&1 &
pid=$!
_pids+=("$pid")
wait_children "$pid" 3
kids=$(children_of "$pid")
sleep 0.3
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
wait_until 3 all_gone "$kids" || fail "workers outlived kill -9 of their parent: $kids"
if [ "$(id -u)" = 0 ]; then
  [ "$(semaphores)" = "$sems_before" ] || fail "a semaphore is left after kill -9 as root: $(ipcs -s)"
fi
pass "kill_-9_takes_the_workers_with_it"
