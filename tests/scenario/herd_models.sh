#!/usr/bin/env bash
# sockdrill-herd against the kernel's accept behaviour. With one connection
# in flight every connection finds all four workers asleep, so how many of
# them wake is the kernel's choice alone, whatever else the machine is doing:
# a listener shared by four level-triggered epolls wakes all of them; a
# blocking accept(), EPOLLEXCLUSIVE and SO_REUSEPORT wake one. Starvation is
# asserted where it is deterministic: select() taking the first ready
# listener, with the busy listener always backlogged.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"

herd_json() { timeout 120 sockdrill-herd --json "$@" || fail "sockdrill-herd $* failed"; }

for how in threads processes; do
  extra=()
  [ "$how" = processes ] && extra=(--processes)
  j=$(herd_json --workers 4 --concurrency 1 --client-threads 1 --duration 500ms \
        --model blocking,epoll-shared,epoll-exclusive,reuseport "${extra[@]}")
  procs=false
  [ "$how" = processes ] && procs=true
  assert_jq "$j" ".schema == \"sockdrill.herd/1\" and .config.processes == $procs
                  and ([.results.models[] | .accepts > 50 and .connections.gave_up == 0] | all)" \
    "${how}_every_model_accepts_and_nothing_is_given_up"
  assert_jq "$j" '.results.models.epoll_shared.wakeups_per_accept > 1.5' "${how}_shared_epoll_wakes_several_workers_per_accept"
  assert_jq "$j" '.results.models.epoll_exclusive.wakeups_per_accept <= 1.3' "${how}_epollexclusive_wakes_about_one"
  assert_jq "$j" '.results.models.reuseport.wakeups_per_accept <= 1.3' "${how}_reuseport_wakes_about_one"
  assert_jq "$j" '.results.models.blocking.wakeups_per_accept <= 1.3' "${how}_blocking_accept_is_wake_one"
  # reuseport's balance is the 4-tuple hash's: reported, whatever it is.
  assert_jq "$j" '.results.models.reuseport as $m
                  | ($m.per_worker | length) == 4
                  and ([$m.per_worker[].accepts] | add) == $m.accepts
                  and ($m.fairness.jain_index > 0.25 and $m.fairness.jain_index <= 1)
                  and ($m.fairness.max_share >= $m.fairness.min_share)
                  and ($m.fairness.max_min_ratio == null or $m.fairness.max_min_ratio >= 1)' \
    "${how}_reuseport_reports_per_worker_shares_and_jains_index"
done

# Listener 0 gets 95 % of 512 connections in flight, so it always has a
# connection waiting: select() reports both listeners and the worker takes
# the first, again and again, and listener 1 waits until its own stuck
# connections crowd listener 0 out. epoll takes turns between ready listeners.
# With 512 connections in flight on a busy machine any scheduling stall of
# 200 ms (the default --starve-threshold) would mark an epoll listener
# starved, so the run says 2 s; select-multi's second listener is then
# checked directly: a connection given up, or one that waited 200 ms or
# more (about 600 ms here; a stall only makes it longer).
j=$(herd_json --workers 4 --weights 95,5 --concurrency 512 --duration 1s --model select-multi,epoll-exclusive \
      --starve-threshold 2s)
assert_jq "$j" '.config.listeners == 2 and (.results.models.select_multi.per_listener | length) == 2' \
  "weights_alone_set_two_listeners"
assert_jq "$j" '.results.models.select_multi.per_listener[1]
                | .gave_up > 0 or .accept_latency.max_us >= 200000' \
  "select_multi_starves_the_second_listener_under_uneven_load"
assert_jq "$j" '.config.starve_threshold_s == 2 and .results.models.epoll_exclusive.starved_listeners == 0' \
  "epoll_exclusive_starves_no_listener_under_the_same_load"
