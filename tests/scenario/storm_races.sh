#!/usr/bin/env bash
# The keep-alive storms of sockdrill-storm, in the sandbox: the idle-timeout
# race loses requests when a pooled connection is reused as the server's
# keep-alive timeout closes it, and a client idle timeout below the
# server's removes the losses; a server restart makes every client
# reconnect at once, overflowing a listen backlog of 128 (1 s SYN
# retransmissions), and jittered backoff spreads the burst.
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

# 6 s with the restart at 3 s: a SYN dropped twice (1 s, then 2 s more) is back before the end.
out=$(timeout 90 sockdrill-storm --scenario reconnect --backoff none,jitter --backoff-max 1s --json)
assert_jq "$out" '.results.variants.none | .server_counters.ListenOverflows > 0 and .reconnect.count >= 900
  and .reconnect.max_us >= 900000' \
  "reconnect: 1000 clients at once overflow listen(128); some wait for the 1 s SYN retransmission"
# Jitter spreads the reconnects over --backoff-max (the p50 of uniform waits
# over 1 s is about 500 ms), so the new listener sees them one by one; how
# many still overflow depends on how busy the machine is, never more.
assert_jq "$out" '.results.variants.jitter.reconnect.p50_us >= 250000 and .results.variants.jitter.reconnect.count >= 900
  and .results.variants.jitter.server_counters.ListenOverflows <= .results.variants.none.server_counters.ListenOverflows' \
  "reconnect: jittered backoff spreads the burst: no more overflows than without"
