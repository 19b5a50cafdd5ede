#!/usr/bin/env bash
# sockdrill-herd's forked workers and accept mutexes do not outlive it:
# SIGINT mid-run prints the partial result, exits 130, reaps every child and
# removes the SysV semaphore; kill -9 takes the children with it
# (PR_SET_PDEATHSIG) and, as root, the semaphore too: it lives in an IPC
# namespace of the run's own, which dies with the last process in it.
#
# Counting the host's semaphores before and after would prove nothing: as
# root the semaphore is never in the host's namespace, and other processes
# create and remove theirs meanwhile. So as root the test checks that the
# workers run in another IPC namespace and that no task is left in it
# afterwards (nothing else holds it open: the namespace and its semaphore
# are gone); without privilege it looks for the command's own semaphore
# (one semaphore, key IPC_PRIVATE, mode 600, ours, new since the start)
# and checks that exactly that one is removed.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"

root=false
[ "$(id -u)" = 0 ] && root=true
host_ipc=$(readlink /proc/self/ns/ipc)

# our_semaphores: ids of the sets mutex-sysvsem would make in this IPC
# namespace: key 0 (IPC_PRIVATE), mode 600, one semaphore, our uid.
our_semaphores() {
  awk -v uid="$(id -u)" 'NR > 1 && $1 == 0 && $3 == 600 && $4 == 1 && $7 == uid { print $2 }' \
    /proc/sysvipc/sem | sort
}

# ipc_namespaces PID: the IPC namespaces of PID's threads and children.
ipc_namespaces() {
  local p
  for p in "$1" $(children_of "$1"); do readlink /proc/"$p"/task/*/ns/ipc 2>/dev/null || true; done | sort -u
}

# ipc_namespace_gone NS: no task on the machine is in NS any more.
# (Read first, then searched: in a pipeline with pipefail, readlink failing
# on a task that just ended, or grep -q closing the pipe early, would turn
# a match into "gone".)
ipc_namespace_gone() {
  local all
  all=$(readlink /proc/[0-9]*/task/*/ns/ipc 2>/dev/null || true)
  ! grep -qxF "$1" <<<"$all"
}

# run_semaphore PID BEFORE: while PID runs mutex-sysvsem, what will show that
# its semaphore is gone: as root its IPC namespace (checked to be its own),
# else the ids of the semaphores that appeared since BEFORE.
run_semaphore() {
  if $root; then
    local ns
    ns=$(ipc_namespaces "$1")
    [ "$(wc -l <<<"$ns")" = 1 ] && [ "$ns" != "$host_ipc" ] ||
      fail "as root the run and its workers are in an IPC namespace of their own (host: $host_ipc; run: $ns)"
    echo "$ns"
  else
    comm -13 <(echo "$2") <(our_semaphores)
  fi
}

# semaphore_gone WHAT: run_semaphore's answer shows nothing left.
semaphore_gone() {
  if $root; then
    ipc_namespace_gone "$1"
  else
    [ -z "$(comm -12 <(echo "$1") <(our_semaphores))" ]
  fi
}

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

sems_before=$(our_semaphores)
sockdrill-herd --processes --workers 3 --model mutex-sysvsem,epoll-shared --duration 4s --json >"$TMP/out" 2>/dev/null &
pid=$!
_pids+=("$pid")
wait_children "$pid" 3
kids=$(children_of "$pid")
sleep 0.5
sem=$(run_semaphore "$pid" "$sems_before") || exit 1
$root || [ -n "$sem" ] || fail "mutex-sysvsem made a semaphore (ipcs -s: $(ipcs -s))"
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "SIGINT exits 130, got $rc"
jq -e '.results.interrupted == true and .results.models.mutex_sysvsem.accepts > 0
       and (.results.models | has("epoll_shared") | not)' "$TMP/out" >/dev/null ||
  fail "SIGINT prints the partial result: $(head -c 600 "$TMP/out")"
wait_until 2 all_gone "$kids" || fail "workers left after SIGINT: $kids"
wait_until 2 semaphore_gone "$sem" || fail "the semaphore is left after SIGINT ($sem): $(ipcs -s)"
pass "sigint_prints_the_partial_result_exits_130_and_leaves_no_worker_or_semaphore"

# kill -9: nothing in the parent runs; the kernel kills the children
# (PR_SET_PDEATHSIG) and, with the last task in it, the IPC namespace.
sems_before=$(our_semaphores)
sockdrill-herd --processes --workers 3 --model mutex-sysvsem --duration 10s >/dev/null 2>&1 &
pid=$!
_pids+=("$pid")
wait_children "$pid" 3
kids=$(children_of "$pid")
sleep 0.3
sem=$(run_semaphore "$pid" "$sems_before") || exit 1
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
wait_until 3 all_gone "$kids" || fail "workers outlived kill -9 of their parent: $kids"
if $root; then
  wait_until 2 semaphore_gone "$sem" || fail "the run's IPC namespace, and its semaphore, outlived kill -9 as root"
else
  # Without privilege the semaphore is left, as the man page says: remove it.
  for id in $sem; do ipcrm -s "$id" 2>/dev/null || true; done
fi
pass "kill_-9_takes_the_workers_with_it"
