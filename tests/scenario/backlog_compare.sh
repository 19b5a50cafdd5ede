#!/usr/bin/env bash
# sockdrill-backlog --compare: tcp_abort_on_overflow turns the final-ACK
# overflow of a burst into immediate resets; the somaxconn clamp shows as the
# listener's effective backlog.
. "$(dirname "$0")/common.sh"
require_root backlog_compare
command -v jq >/dev/null || fail "jq is not installed"

# 40 at once against listen(8), an accept every 400 ms, no syncookies: at the
# 1 s retransmission 8 handshakes race for the 3 free slots; the losers'
# final ACKs overflow the queue.
j=$(timeout 60 sockdrill-backlog --backlog 8 --syncookies 0 --burst 40 --accept slow=400ms --exchanges 1 \
      --connect-timeout 3s --io-timeout 2s --compare backlog=8,abort-on-overflow --json) || fail "abort-on-overflow"
assert_jq "$j" '.results.variants.abort_on_overflow | ([.errors[]?.ECONNRESET? | numbers] | add // 0) > 0 and .counters.server.OutRsts > 0
                and .sysctls["net.ipv4.tcp_abort_on_overflow"] == 1' \
  "abort_on_overflow_resets_the_overflowed_connections"
assert_jq "$j" '.results.variants.backlog_8 | ([.errors[]?.ECONNRESET? | numbers] | add // 0) == 0 and .counters.server.ListenOverflows > 0' \
  "without_it_the_same_overflow_waits_silently"

j=$(timeout 30 sockdrill-backlog --compare somaxconn-clamp,somaxconn=16 --accept normal --burst 4 --exchanges 1 --json) \
  || fail "somaxconn"
assert_jq "$j" '.results.variants.somaxconn_clamp | .backlog_requested == 100000
                and .backlog_effective == .sysctls["net.core.somaxconn"]' "somaxconn_clamp_shows_the_effective_backlog"
assert_jq "$j" '.results.variants.somaxconn_16 | .backlog_effective == 16' "somaxconn_16_clamps_listen_100000_to_16"
