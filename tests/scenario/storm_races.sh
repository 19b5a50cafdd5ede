#!/usr/bin/env bash
# The keep-alive storms of sockdrill-storm, in the sandbox: the idle-timeout
# race loses requests when a pooled connection is reused as the server's
# keep-alive timeout closes it, and a client idle timeout below the
# server's removes the losses; a server restart makes every client
# reconnect at once (against a listen backlog of 128), and jittered backoff
# spreads the burst.
. "$(dirname "$0")/common.sh"
command -v jq >/dev/null || fail "jq is not installed"
require_root storm_races

out=$(timeout 60 sockdrill-storm --scenario idle-race --server-keepalive-timeout 500ms --think-jitter 0.2 \
        --duration 2200ms --json)
assert_jq "$out" '.environment.mode == "sandbox" and .results.reuse_interval_ms == 500
  and .results.variants.client_timeout.client_idle_timeout_ms == 400' "idle-race: reuse = the server's timeout, the fix 80% of it"
assert_jq "$out" '.results.variants.naive | .hit_closed > 0
  and .hit_closed == .econnreset + .epipe + .empty_reply and .load.requests.lost == .hit_closed' \
  "idle-race: reusing without looking loses requests, as ECONNRESET, EPIPE or empty replies"
assert_jq "$out" '.results.variants.watching | .closed_by_server > 0 and .hit_closed <= 2' \
  "idle-race: a pool watching its idle connections sees the FINs first"
assert_jq "$out" '.results.variants.client_timeout | .hit_closed == 0 and .client_idle_closes > 0
  and .load.requests.completed == .load.requests.sent' \
  "idle-race: a client idle timeout below the server's loses none"

# 6 s with the restart at 3 s. Every client reconnects in both variants;
# jitter spreads the reconnects over --backoff-max (uniform waits: a median
# near 500 ms), where without it they come at once. How many SYNs overflow
# listen(128) depends on how busy the machine is: reported, not asserted.
out=$(timeout 90 sockdrill-storm --scenario reconnect --backoff none,jitter --backoff-max 1s --json)
assert_jq "$out" '.results.variants.none | .reconnect.count >= 900 and (.server_counters.ListenOverflows | type) == "number"
  and .reconnects >= 900' "reconnect: every client reconnects after the restart"
assert_jq "$out" '.results.variants.jitter.reconnect.count >= 900 and .results.variants.jitter.reconnect.p50_us >= 250000
  and .results.variants.none.reconnect.p50_us < .results.variants.jitter.reconnect.p50_us' \
  "reconnect: jittered backoff spreads the reconnects over --backoff-max"
